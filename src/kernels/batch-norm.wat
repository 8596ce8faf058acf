;; The passes batch normalisation needs, and the ReLU gradient that follows it in a Wide-ResNet,
;; as WebAssembly SIMD over row-major [P, C] float32 matrices (C a multiple of 4; pointers are
;; byte addresses in the imported memory). Assembled by scripts/assemble-kernels.mjs.
;;
;; Sums run in float32 within a block of rows (register accumulators, channels outer, rows
;; inner) and the caller adds the blocks' sums in float64: batch norm's gradient sums tens of
;; thousands of nearly cancelling terms, which one float32 running sum gets wrong.
;; Loops are (block $x_done (loop $each_x (br_if $x_done <end reached>) ... (br $each_x))).
(module
  (type $params7 (func (param i32 i32 i32 i32 i32 i32 i32)))
  (type $params9 (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  (type $params4 (func (param i32 i32 i32 i32)))
  (import "env" "memory" (memory 1))
  ;; blockSums(P, C, block, u, shift, v, out): for each block of `block` rows, per channel,
  ;; d = u - shift: out[b, 0] = sum d, out[b, 1] = sum v, out[b, 2] = sum d v  (out: [blocks, 3, C]).
  ;; $b0 / $end: the block's rows; $j = 4 c; $pu, $pv walk the rows; $op: the block's output.
  (func $blockSums
    (type $params7) (param $rows i32) (param $channels i32) (param $block i32) (param $u i32) (param $shift i32)
    (param $v i32) (param $out i32)
    (local $b0 i32) (local $end i32) (local $j i32) (local $pu i32) (local $pv i32) (local $ld i32)
    (local $op i32) (local $sh v128) (local $au v128) (local $av v128) (local $auv v128) (local $d v128)
    (local $vv v128)
    (local.set $ld (i32.mul (local.get $channels) (i32.const 4)))
    (local.set $op (local.get $out))
    (local.set $b0 (i32.const 0))
    (block $blocks_done
      (loop $each_block
        (br_if $blocks_done (i32.ge_u (local.get $b0) (local.get $rows)))
        (local.set $end (i32.add (local.get $b0) (local.get $block)))
        (local.set $end
          (select (local.get $rows) (local.get $end) (i32.gt_u (local.get $end) (local.get $rows))))
        (local.set $j (i32.const 0))
        (block $channels_done
          (loop $each_channel
            (br_if $channels_done (i32.ge_u (local.get $j) (local.get $ld)))
            (local.set $sh (v128.load (i32.add (local.get $shift) (local.get $j))))
            (local.set $au (v128.const i32x4 0 0 0 0))
            (local.set $av (v128.const i32x4 0 0 0 0))
            (local.set $auv (v128.const i32x4 0 0 0 0))
            (local.set $pu
              (i32.add (i32.add (local.get $u) (i32.mul (local.get $b0) (local.get $ld))) (local.get $j)))
            (local.set $pv
              (i32.add (i32.add (local.get $v) (i32.mul (local.get $b0) (local.get $ld))) (local.get $j)))
            (local.get $b0)
            (block $rows_done
              (loop $each_row
                (br_if $rows_done (i32.ge_u (local.get $b0) (local.get $end)))
                (local.set $d (f32x4.sub (v128.load (local.get $pu)) (local.get $sh)))
                (local.set $vv (v128.load (local.get $pv)))
                (local.set $au (f32x4.add (local.get $au) (local.get $d)))
                (local.set $av (f32x4.add (local.get $av) (local.get $vv)))
                (local.set $auv (f32x4.add (local.get $auv) (f32x4.mul (local.get $d) (local.get $vv))))
                (local.set $pu (i32.add (local.get $pu) (local.get $ld)))
                (local.set $pv (i32.add (local.get $pv) (local.get $ld)))
                (local.set $b0 (i32.add (local.get $b0) (i32.const 1)))
                (br $each_row)))
            (local.set $b0)
            (v128.store (i32.add (local.get $op) (local.get $j)) (local.get $au))
            (local.set $op (i32.add (local.get $op) (local.get $ld)))
            (v128.store (i32.add (local.get $op) (local.get $j)) (local.get $av))
            (local.set $op (i32.add (local.get $op) (local.get $ld)))
            (v128.store (i32.add (local.get $op) (local.get $j)) (local.get $auv))
            (local.set $op
              (i32.add (local.get $op) (i32.mul (i32.mul (local.get $ld) (i32.const 2)) (i32.const -1))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $each_channel)))
        (local.set $op (i32.add (local.get $op) (i32.mul (local.get $ld) (i32.const 3))))
        (local.set $b0 (local.get $end))
        (br $each_block))))
  ;; blockSquares: blockSums with v = d (so out[b, 2] = sum d^2; v is not read).
  (func $blockSquares
    (type $params7) (param $rows i32) (param $channels i32) (param $block i32) (param $u i32) (param $shift i32)
    (param $v i32) (param $out i32)
    (local $b0 i32) (local $end i32) (local $j i32) (local $pu i32) (local $pv i32) (local $ld i32)
    (local $op i32) (local $sh v128) (local $au v128) (local $av v128) (local $auv v128) (local $d v128)
    (local $vv v128)
    (local.set $ld (i32.mul (local.get $channels) (i32.const 4)))
    (local.set $op (local.get $out))
    (local.set $b0 (i32.const 0))
    (block $blocks_done
      (loop $each_block
        (br_if $blocks_done (i32.ge_u (local.get $b0) (local.get $rows)))
        (local.set $end (i32.add (local.get $b0) (local.get $block)))
        (local.set $end
          (select (local.get $rows) (local.get $end) (i32.gt_u (local.get $end) (local.get $rows))))
        (local.set $j (i32.const 0))
        (block $channels_done
          (loop $each_channel
            (br_if $channels_done (i32.ge_u (local.get $j) (local.get $ld)))
            (local.set $sh (v128.load (i32.add (local.get $shift) (local.get $j))))
            (local.set $au (v128.const i32x4 0 0 0 0))
            (local.set $av (v128.const i32x4 0 0 0 0))
            (local.set $auv (v128.const i32x4 0 0 0 0))
            (local.set $pu
              (i32.add (i32.add (local.get $u) (i32.mul (local.get $b0) (local.get $ld))) (local.get $j)))
            (local.set $pv
              (i32.add (i32.add (local.get $v) (i32.mul (local.get $b0) (local.get $ld))) (local.get $j)))
            (local.get $b0)
            (block $rows_done
              (loop $each_row
                (br_if $rows_done (i32.ge_u (local.get $b0) (local.get $end)))
                (local.set $d (f32x4.sub (v128.load (local.get $pu)) (local.get $sh)))
                (local.set $vv (local.get $d))
                (local.set $au (f32x4.add (local.get $au) (local.get $d)))
                (local.set $av (f32x4.add (local.get $av) (local.get $vv)))
                (local.set $auv (f32x4.add (local.get $auv) (f32x4.mul (local.get $d) (local.get $vv))))
                (local.set $pu (i32.add (local.get $pu) (local.get $ld)))
                (local.set $pv (i32.add (local.get $pv) (local.get $ld)))
                (local.set $b0 (i32.add (local.get $b0) (i32.const 1)))
                (br $each_row)))
            (local.set $b0)
            (v128.store (i32.add (local.get $op) (local.get $j)) (local.get $au))
            (local.set $op (i32.add (local.get $op) (local.get $ld)))
            (v128.store (i32.add (local.get $op) (local.get $j)) (local.get $av))
            (local.set $op (i32.add (local.get $op) (local.get $ld)))
            (v128.store (i32.add (local.get $op) (local.get $j)) (local.get $auv))
            (local.set $op
              (i32.add (local.get $op) (i32.mul (i32.mul (local.get $ld) (i32.const 2)) (i32.const -1))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $each_channel)))
        (local.set $op (i32.add (local.get $op) (i32.mul (local.get $ld) (i32.const 3))))
        (local.set $b0 (local.get $end))
        (br $each_block))))
  ;; affine(P, C, u, a, v, s, b, c, out): out = u a + (v - s) b + c, with a, s, b, c per channel
  ;; (v centred before scaling: x ~ 1000 + N(0, 1) would lose digits in x b - mean b).
  (func $affine
    (type $params9) (param $rows i32) (param $channels i32) (param $u i32) (param $a i32) (param $v i32)
    (param $s i32) (param $b i32) (param $c i32) (param $out i32)
    (local $i i32) (local $total i32) (local $j i32) (local $ld i32)
    (local.set $ld (i32.mul (local.get $channels) (i32.const 4)))
    (local.set $total (i32.mul (local.get $rows) (local.get $ld)))
    (local.set $i (i32.const 0))
    (block $rows_done
      (loop $each_row
        (br_if $rows_done (i32.ge_u (local.get $i) (local.get $total)))
        (local.set $j (i32.const 0))
        (block $vectors_done
          (loop $each_vector
            (br_if $vectors_done (i32.ge_u (local.get $j) (local.get $ld)))
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
            (br $each_vector)))
        (br $each_row))))
;; reluBlockSums(P, C, block, u, shift, dy, y, dz, out): blockSums with v = dz = dy where y > 0,
  ;; else 0 (reluGrad's mask), which it also writes: batch norm's backward sums after a ReLU in
  ;; one pass (the fused image trainer, src/training/fused-wrn-norm.ts). The same floats as
  ;; reluGrad, then blockSums.
  (func $reluBlockSums
    (type $params9) (param $rows i32) (param $channels i32) (param $block i32) (param $u i32) (param $shift i32)
    (param $dy i32) (param $y i32) (param $dz i32) (param $out i32)
    (local $b0 i32) (local $end i32) (local $j i32) (local $pu i32) (local $at i32) (local $ld i32)
    (local $op i32) (local $sh v128) (local $au v128) (local $av v128) (local $auv v128) (local $d v128)
    (local $vv v128)
    (local.set $ld (i32.mul (local.get $channels) (i32.const 4)))
    (local.set $op (local.get $out))
    (local.set $b0 (i32.const 0))
    (block $blocks_done
      (loop $each_block
        (br_if $blocks_done (i32.ge_u (local.get $b0) (local.get $rows)))
        (local.set $end (i32.add (local.get $b0) (local.get $block)))
        (local.set $end
          (select (local.get $rows) (local.get $end) (i32.gt_u (local.get $end) (local.get $rows))))
        (local.set $j (i32.const 0))
        (block $channels_done
          (loop $each_channel
            (br_if $channels_done (i32.ge_u (local.get $j) (local.get $ld)))
            (local.set $sh (v128.load (i32.add (local.get $shift) (local.get $j))))
            (local.set $au (v128.const i32x4 0 0 0 0))
            (local.set $av (v128.const i32x4 0 0 0 0))
            (local.set $auv (v128.const i32x4 0 0 0 0))
            ;; $at: the byte offset of (row, channel j) in every [P, C] operand.
            (local.set $at (i32.add (i32.mul (local.get $b0) (local.get $ld)) (local.get $j)))
            (local.get $b0)
            (block $rows_done
              (loop $each_row
                (br_if $rows_done (i32.ge_u (local.get $b0) (local.get $end)))
                (local.set $d (f32x4.sub (v128.load (i32.add (local.get $u) (local.get $at))) (local.get $sh)))
                (local.set $vv
                  (v128.and
                    (v128.load (i32.add (local.get $dy) (local.get $at)))
                    (f32x4.gt (v128.load (i32.add (local.get $y) (local.get $at))) (v128.const i32x4 0 0 0 0))))
                (v128.store (i32.add (local.get $dz) (local.get $at)) (local.get $vv))
                (local.set $au (f32x4.add (local.get $au) (local.get $d)))
                (local.set $av (f32x4.add (local.get $av) (local.get $vv)))
                (local.set $auv (f32x4.add (local.get $auv) (f32x4.mul (local.get $d) (local.get $vv))))
                (local.set $at (i32.add (local.get $at) (local.get $ld)))
                (local.set $b0 (i32.add (local.get $b0) (i32.const 1)))
                (br $each_row)))
            (local.set $b0)
            (v128.store (i32.add (local.get $op) (local.get $j)) (local.get $au))
            (local.set $op (i32.add (local.get $op) (local.get $ld)))
            (v128.store (i32.add (local.get $op) (local.get $j)) (local.get $av))
            (local.set $op (i32.add (local.get $op) (local.get $ld)))
            (v128.store (i32.add (local.get $op) (local.get $j)) (local.get $auv))
            (local.set $op
              (i32.add (local.get $op) (i32.mul (i32.mul (local.get $ld) (i32.const 2)) (i32.const -1))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $each_channel)))
        (local.set $op (i32.add (local.get $op) (i32.mul (local.get $ld) (i32.const 3))))
        (local.set $b0 (local.get $end))
        (br $each_block))))
  ;; affineRelu(P, C, u, a, v, s, b, c, out): affine, then out = the result where it is > 0, else 0
  ;; (reluGrad's mask): batch norm and the ReLU after it in one pass. The same floats as affine,
  ;; then reluGrad.
  (func $affineRelu
    (type $params9) (param $rows i32) (param $channels i32) (param $u i32) (param $a i32) (param $v i32)
    (param $s i32) (param $b i32) (param $c i32) (param $out i32)
    (local $i i32) (local $total i32) (local $j i32) (local $ld i32) (local $r v128)
    (local.set $ld (i32.mul (local.get $channels) (i32.const 4)))
    (local.set $total (i32.mul (local.get $rows) (local.get $ld)))
    (local.set $i (i32.const 0))
    (block $rows_done
      (loop $each_row
        (br_if $rows_done (i32.ge_u (local.get $i) (local.get $total)))
        (local.set $j (i32.const 0))
        (block $vectors_done
          (loop $each_vector
            (br_if $vectors_done (i32.ge_u (local.get $j) (local.get $ld)))
            (local.set $r
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
            (v128.store
              (i32.add (local.get $out) (local.get $i))
              (v128.and (local.get $r) (f32x4.gt (local.get $r) (v128.const i32x4 0 0 0 0))))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $each_vector)))
        (br $each_row))))
    ;; reluGrad(bytes, x, dy, out): out = dy where x > 0, else 0 (bytes a multiple of 16).
  (func $reluGrad
    (type $params4) (param $bytes i32) (param $x i32) (param $dy i32) (param $out i32)
    (local $i i32)
    (local.set $i (i32.const 0))
    (block $vectors_done
      (loop $each_vector
        (br_if $vectors_done (i32.ge_u (local.get $i) (local.get $bytes)))
        (v128.store
          (i32.add (local.get $out) (local.get $i))
          (v128.and
            (v128.load (i32.add (local.get $dy) (local.get $i)))
            (f32x4.gt
              (v128.load (i32.add (local.get $x) (local.get $i)))
              (v128.const i32x4 0 0 0 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $each_vector))))
  ;; columnSums(P, C, x, out): out[c] += sum over rows of x[p, c], in float64 (out: C doubles,
  ;; 8-byte aligned): Sum and Mean over leading axes (src/ops/wasm-kernels.ts). Floats j..j+3
  ;; of a row are promoted to two f64x2 halves; the shuffle brings the high two floats low.
  (func $columnSums
    (type $params4) (param $rows i32) (param $channels i32) (param $x i32) (param $out i32)
    (local $i i32) (local $end i32) (local $j i32) (local $ld i32) (local $v v128)
    (local.set $ld (i32.mul (local.get $channels) (i32.const 4)))
    (local.set $end (i32.mul (local.get $rows) (local.get $ld)))
    (local.set $i (i32.const 0))
    (block $rows_done
      (loop $each_row
        (br_if $rows_done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $j (i32.const 0))
        (block $vectors_done
          (loop $each_vector
            (br_if $vectors_done (i32.ge_u (local.get $j) (local.get $ld)))
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
            (br $each_vector)))
        (local.set $i (i32.add (local.get $i) (local.get $ld)))
        (br $each_row))))
  (export "blockSums" (func $blockSums))
  (export "blockSquares" (func $blockSquares))
  (export "affine" (func $affine))
  (export "reluGrad" (func $reluGrad))
  (export "columnSums" (func $columnSums))
  (export "reluBlockSums" (func $reluBlockSums))
  (export "affineRelu" (func $affineRelu)))
