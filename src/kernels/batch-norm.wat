(module
  (type $t0 (func (param i32 i32 i32 i32 i32 i32 i32)))
  (type $t1 (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  (type $t2 (func (param i32 i32 i32 i32)))
  (import "env" "memory" (memory 1))
  (func $blockSums
    (type $t0) (param $rows i32) (param $channels i32) (param $block i32) (param $u i32) (param $shift i32)
    (param $v i32) (param $out i32)
    (local $b0 i32) (local $end i32) (local $j i32) (local $pu i32) (local $pv i32) (local $ld i32)
    (local $op i32) (local $sh v128) (local $au v128) (local $av v128) (local $auv v128) (local $d v128)
    (local $vv v128)
    (local.set $ld (i32.mul (local.get $channels) (i32.const 4)))
    (local.set $op (local.get $out))
    (local.set $b0 (i32.const 0))
    (block $B0
      (loop $L1
        (br_if $B0 (i32.ge_u (local.get $b0) (local.get $rows)))
        (local.set $end (i32.add (local.get $b0) (local.get $block)))
        (local.set $end
          (select (local.get $rows) (local.get $end) (i32.gt_u (local.get $end) (local.get $rows))))
        (local.set $j (i32.const 0))
        (block $B2
          (loop $L3
            (br_if $B2 (i32.ge_u (local.get $j) (local.get $ld)))
            (local.set $sh (v128.load (i32.add (local.get $shift) (local.get $j))))
            (local.set $au (v128.const i32x4 0 0 0 0))
            (local.set $av (v128.const i32x4 0 0 0 0))
            (local.set $auv (v128.const i32x4 0 0 0 0))
            (local.set $pu
              (i32.add (i32.add (local.get $u) (i32.mul (local.get $b0) (local.get $ld))) (local.get $j)))
            (local.set $pv
              (i32.add (i32.add (local.get $v) (i32.mul (local.get $b0) (local.get $ld))) (local.get $j)))
            (local.get $b0)
            (block $B4
              (loop $L5
                (br_if $B4 (i32.ge_u (local.get $b0) (local.get $end)))
                (local.set $d (f32x4.sub (v128.load (local.get $pu)) (local.get $sh)))
                (local.set $vv (v128.load (local.get $pv)))
                (local.set $au (f32x4.add (local.get $au) (local.get $d)))
                (local.set $av (f32x4.add (local.get $av) (local.get $vv)))
                (local.set $auv (f32x4.add (local.get $auv) (f32x4.mul (local.get $d) (local.get $vv))))
                (local.set $pu (i32.add (local.get $pu) (local.get $ld)))
                (local.set $pv (i32.add (local.get $pv) (local.get $ld)))
                (local.set $b0 (i32.add (local.get $b0) (i32.const 1)))
                (br $L5)))
            (local.set $b0)
            (v128.store (i32.add (local.get $op) (local.get $j)) (local.get $au))
            (local.set $op (i32.add (local.get $op) (local.get $ld)))
            (v128.store (i32.add (local.get $op) (local.get $j)) (local.get $av))
            (local.set $op (i32.add (local.get $op) (local.get $ld)))
            (v128.store (i32.add (local.get $op) (local.get $j)) (local.get $auv))
            (local.set $op
              (i32.add (local.get $op) (i32.mul (i32.mul (local.get $ld) (i32.const 2)) (i32.const -1))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $L3)))
        (local.set $op (i32.add (local.get $op) (i32.mul (local.get $ld) (i32.const 3))))
        (local.set $b0 (local.get $end))
        (br $L1))))
  (func $blockSquares
    (type $t0) (param $rows i32) (param $channels i32) (param $block i32) (param $u i32) (param $shift i32)
    (param $v i32) (param $out i32)
    (local $b0 i32) (local $end i32) (local $j i32) (local $pu i32) (local $pv i32) (local $ld i32)
    (local $op i32) (local $sh v128) (local $au v128) (local $av v128) (local $auv v128) (local $d v128)
    (local $vv v128)
    (local.set $ld (i32.mul (local.get $channels) (i32.const 4)))
    (local.set $op (local.get $out))
    (local.set $b0 (i32.const 0))
    (block $B0
      (loop $L1
        (br_if $B0 (i32.ge_u (local.get $b0) (local.get $rows)))
        (local.set $end (i32.add (local.get $b0) (local.get $block)))
        (local.set $end
          (select (local.get $rows) (local.get $end) (i32.gt_u (local.get $end) (local.get $rows))))
        (local.set $j (i32.const 0))
        (block $B2
          (loop $L3
            (br_if $B2 (i32.ge_u (local.get $j) (local.get $ld)))
            (local.set $sh (v128.load (i32.add (local.get $shift) (local.get $j))))
            (local.set $au (v128.const i32x4 0 0 0 0))
            (local.set $av (v128.const i32x4 0 0 0 0))
            (local.set $auv (v128.const i32x4 0 0 0 0))
            (local.set $pu
              (i32.add (i32.add (local.get $u) (i32.mul (local.get $b0) (local.get $ld))) (local.get $j)))
            (local.set $pv
              (i32.add (i32.add (local.get $v) (i32.mul (local.get $b0) (local.get $ld))) (local.get $j)))
            (local.get $b0)
            (block $B4
              (loop $L5
                (br_if $B4 (i32.ge_u (local.get $b0) (local.get $end)))
                (local.set $d (f32x4.sub (v128.load (local.get $pu)) (local.get $sh)))
                (local.set $vv (local.get $d))
                (local.set $au (f32x4.add (local.get $au) (local.get $d)))
                (local.set $av (f32x4.add (local.get $av) (local.get $vv)))
                (local.set $auv (f32x4.add (local.get $auv) (f32x4.mul (local.get $d) (local.get $vv))))
                (local.set $pu (i32.add (local.get $pu) (local.get $ld)))
                (local.set $pv (i32.add (local.get $pv) (local.get $ld)))
                (local.set $b0 (i32.add (local.get $b0) (i32.const 1)))
                (br $L5)))
            (local.set $b0)
            (v128.store (i32.add (local.get $op) (local.get $j)) (local.get $au))
            (local.set $op (i32.add (local.get $op) (local.get $ld)))
            (v128.store (i32.add (local.get $op) (local.get $j)) (local.get $av))
            (local.set $op (i32.add (local.get $op) (local.get $ld)))
            (v128.store (i32.add (local.get $op) (local.get $j)) (local.get $auv))
            (local.set $op
              (i32.add (local.get $op) (i32.mul (i32.mul (local.get $ld) (i32.const 2)) (i32.const -1))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $L3)))
        (local.set $op (i32.add (local.get $op) (i32.mul (local.get $ld) (i32.const 3))))
        (local.set $b0 (local.get $end))
        (br $L1))))
  (func $affine
    (type $t1) (param $rows i32) (param $channels i32) (param $u i32) (param $a i32) (param $v i32)
    (param $s i32) (param $b i32) (param $c i32) (param $out i32)
    (local $i i32) (local $total i32) (local $j i32) (local $ld i32)
    (local.set $ld (i32.mul (local.get $channels) (i32.const 4)))
    (local.set $total (i32.mul (local.get $rows) (local.get $ld)))
    (local.set $i (i32.const 0))
    (block $B0
      (loop $L1
        (br_if $B0 (i32.ge_u (local.get $i) (local.get $total)))
        (local.set $j (i32.const 0))
        (block $B2
          (loop $L3
            (br_if $B2 (i32.ge_u (local.get $j) (local.get $ld)))
            (v128.store
              (i32.add (local.get $out) (local.get $i))
              (f32x4.add
                (f32x4.add
                  (f32x4.mul
                    (v128.load (i32.add (local.get $u) (local.get $i)))
                    (v128.load (i32.add (local.get $a) (local.get $j))))
                  (f32x4.mul
                    (f32x4.sub
                      (v128.load (i32.add (local.get $v) (local.get $i)))
                      (v128.load (i32.add (local.get $s) (local.get $j))))
                    (v128.load (i32.add (local.get $b) (local.get $j)))))
                (v128.load (i32.add (local.get $c) (local.get $j)))))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $L3)))
        (br $L1))))
  (func $reluGrad
    (type $t2) (param $bytes i32) (param $x i32) (param $dy i32) (param $out i32)
    (local $i i32)
    (local.set $i (i32.const 0))
    (block $B0
      (loop $L1
        (br_if $B0 (i32.ge_u (local.get $i) (local.get $bytes)))
        (v128.store
          (i32.add (local.get $out) (local.get $i))
          (v128.and
            (v128.load (i32.add (local.get $dy) (local.get $i)))
            (f32x4.gt
              (v128.load (i32.add (local.get $x) (local.get $i)))
              (v128.const i32x4 0 0 0 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $L1))))
  (func $columnSums
    (type $t2) (param $rows i32) (param $channels i32) (param $x i32) (param $out i32)
    (local $i i32) (local $end i32) (local $j i32) (local $ld i32) (local $v v128)
    (local.set $ld (i32.mul (local.get $channels) (i32.const 4)))
    (local.set $end (i32.mul (local.get $rows) (local.get $ld)))
    (local.set $i (i32.const 0))
    (block $B0
      (loop $L1
        (br_if $B0 (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $j (i32.const 0))
        (block $B2
          (loop $L3
            (br_if $B2 (i32.ge_u (local.get $j) (local.get $ld)))
            (local.set $v (v128.load (i32.add (i32.add (local.get $x) (local.get $i)) (local.get $j))))
            (v128.store
              (i32.add (local.get $out) (i32.mul (local.get $j) (i32.const 2)))
              (f64x2.add
                (v128.load (i32.add (local.get $out) (i32.mul (local.get $j) (i32.const 2))))
                (f64x2.promote_low_f32x4 (local.get $v))))
            (v128.store offset=16
              (i32.add (local.get $out) (i32.mul (local.get $j) (i32.const 2)))
              (f64x2.add
                (v128.load offset=16 (i32.add (local.get $out) (i32.mul (local.get $j) (i32.const 2))))
                (f64x2.promote_low_f32x4
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $L3)))
        (local.set $i (i32.add (local.get $i) (local.get $ld)))
        (br $L1))))
  (export "blockSums" (func $blockSums))
  (export "blockSquares" (func $blockSquares))
  (export "affine" (func $affine))
  (export "reluGrad" (func $reluGrad))
  (export "columnSums" (func $columnSums)))
