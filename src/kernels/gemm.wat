(module
  (type $t0 (func (param i32 i32 i32 i32 i32 i32)))
  (type $t1 (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  (type $t2 (func (param i32 i32 i32 i32 i32)))
  (import "env" "memory" (memory 1))
  (func $gemm
    (type $t0) (param $m i32) (param $n i32) (param $k i32) (param $rows i32) (param $b i32) (param $c i32)
    (local $i0 i32) (local $j0 i32) (local $pa i32) (local $r0 i32) (local $r1 i32) (local $r2 i32)
    (local $r3 i32) (local $bp i32) (local $ldb i32) (local $kb i32) (local $cp i32) (local $rp i32)
    (local $acc00 v128) (local $acc01 v128) (local $acc10 v128) (local $acc11 v128) (local $acc20 v128)
    (local $acc21 v128) (local $acc30 v128) (local $acc31 v128) (local $bvec0 v128) (local $bvec1 v128)
    (local $asplat v128)
    (local.set $ldb (i32.mul (local.get $n) (i32.const 4)))
    (local.set $kb (i32.mul (local.get $k) (i32.const 4)))
    (local.set $i0 (i32.const 0))
    (block $B0
      (loop $L1
        (br_if $B0 (i32.ge_u (local.get $i0) (local.get $m)))
        (local.set $r0 (i32.load (i32.add (local.get $rows) (i32.mul (local.get $i0) (i32.const 4)))))
        (local.set $r1
          (i32.load offset=4 (i32.add (local.get $rows) (i32.mul (local.get $i0) (i32.const 4)))))
        (local.set $r2
          (i32.load offset=8 (i32.add (local.get $rows) (i32.mul (local.get $i0) (i32.const 4)))))
        (local.set $r3
          (i32.load offset=12 (i32.add (local.get $rows) (i32.mul (local.get $i0) (i32.const 4)))))
        (local.set $j0 (i32.const 0))
        (block $B2
          (loop $L3
            (br_if $B2 (i32.gt_u (i32.add (local.get $j0) (i32.const 8)) (local.get $n)))
            (local.set $acc00 (v128.const i32x4 0 0 0 0))
            (local.set $acc01 (v128.const i32x4 0 0 0 0))
            (local.set $acc10 (v128.const i32x4 0 0 0 0))
            (local.set $acc11 (v128.const i32x4 0 0 0 0))
            (local.set $acc20 (v128.const i32x4 0 0 0 0))
            (local.set $acc21 (v128.const i32x4 0 0 0 0))
            (local.set $acc30 (v128.const i32x4 0 0 0 0))
            (local.set $acc31 (v128.const i32x4 0 0 0 0))
            (local.set $bp (i32.add (local.get $b) (i32.mul (local.get $j0) (i32.const 4))))
            (local.set $pa (i32.const 0))
            (block $B4
              (loop $L5
                (br_if $B4 (i32.ge_u (local.get $pa) (local.get $kb)))
                (local.set $bvec0 (v128.load (local.get $bp)))
                (local.set $bvec1 (v128.load offset=16 (local.get $bp)))
                (local.set $asplat (v128.load32_splat (i32.add (local.get $r0) (local.get $pa))))
                (local.set $acc00
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc00)))
                (local.set $acc01
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec1) (local.get $acc01)))
                (local.set $asplat (v128.load32_splat (i32.add (local.get $r1) (local.get $pa))))
                (local.set $acc10
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc10)))
                (local.set $acc11
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec1) (local.get $acc11)))
                (local.set $asplat (v128.load32_splat (i32.add (local.get $r2) (local.get $pa))))
                (local.set $acc20
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc20)))
                (local.set $acc21
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec1) (local.get $acc21)))
                (local.set $asplat (v128.load32_splat (i32.add (local.get $r3) (local.get $pa))))
                (local.set $acc30
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc30)))
                (local.set $acc31
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec1) (local.get $acc31)))
                (local.set $bp (i32.add (local.get $bp) (local.get $ldb)))
                (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
                (br $L5)))
            (local.set $cp
              (i32.add
                (local.get $c)
                (i32.mul (i32.add (i32.mul (local.get $i0) (local.get $n)) (local.get $j0)) (i32.const 4))))
            (v128.store (local.get $cp) (local.get $acc00))
            (v128.store offset=16 (local.get $cp) (local.get $acc01))
            (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
            (v128.store (local.get $cp) (local.get $acc10))
            (v128.store offset=16 (local.get $cp) (local.get $acc11))
            (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
            (v128.store (local.get $cp) (local.get $acc20))
            (v128.store offset=16 (local.get $cp) (local.get $acc21))
            (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
            (v128.store (local.get $cp) (local.get $acc30))
            (v128.store offset=16 (local.get $cp) (local.get $acc31))
            (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
            (local.set $j0 (i32.add (local.get $j0) (i32.const 8)))
            (br $L3)))
        (block $B6
          (br_if $B6 (i32.gt_u (i32.add (local.get $j0) (i32.const 4)) (local.get $n)))
          (local.set $acc00 (v128.const i32x4 0 0 0 0))
          (local.set $acc10 (v128.const i32x4 0 0 0 0))
          (local.set $acc20 (v128.const i32x4 0 0 0 0))
          (local.set $acc30 (v128.const i32x4 0 0 0 0))
          (local.set $bp (i32.add (local.get $b) (i32.mul (local.get $j0) (i32.const 4))))
          (local.set $pa (i32.const 0))
          (block $B7
            (loop $L8
              (br_if $B7 (i32.ge_u (local.get $pa) (local.get $kb)))
              (local.set $bvec0 (v128.load (local.get $bp)))
              (local.set $asplat (v128.load32_splat (i32.add (local.get $r0) (local.get $pa))))
              (local.set $acc00
                (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc00)))
              (local.set $asplat (v128.load32_splat (i32.add (local.get $r1) (local.get $pa))))
              (local.set $acc10
                (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc10)))
              (local.set $asplat (v128.load32_splat (i32.add (local.get $r2) (local.get $pa))))
              (local.set $acc20
                (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc20)))
              (local.set $asplat (v128.load32_splat (i32.add (local.get $r3) (local.get $pa))))
              (local.set $acc30
                (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc30)))
              (local.set $bp (i32.add (local.get $bp) (local.get $ldb)))
              (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
              (br $L8)))
          (local.set $cp
            (i32.add
              (local.get $c)
              (i32.mul (i32.add (i32.mul (local.get $i0) (local.get $n)) (local.get $j0)) (i32.const 4))))
          (v128.store (local.get $cp) (local.get $acc00))
          (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
          (v128.store (local.get $cp) (local.get $acc10))
          (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
          (v128.store (local.get $cp) (local.get $acc20))
          (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
          (v128.store (local.get $cp) (local.get $acc30))
          (local.set $cp (i32.add (local.get $cp) (local.get $ldb))))
        (local.set $i0 (i32.add (local.get $i0) (i32.const 4)))
        (br $L1))))
  (func $gemmT
    (type $t0) (param $m i32) (param $n i32) (param $k i32) (param $rows i32) (param $b i32) (param $c i32)
    (local $i0 i32) (local $j0 i32) (local $pa i32) (local $r0 i32) (local $r1 i32) (local $r2 i32)
    (local $r3 i32) (local $bp i32) (local $ldb i32) (local $kb i32) (local $cp i32) (local $rp i32)
    (local $acc00 v128) (local $acc01 v128) (local $acc10 v128) (local $acc11 v128) (local $acc20 v128)
    (local $acc21 v128) (local $acc30 v128) (local $acc31 v128) (local $bvec0 v128) (local $bvec1 v128)
    (local $asplat v128)
    (local.set $ldb (i32.mul (local.get $n) (i32.const 4)))
    (local.set $kb (i32.mul (local.get $k) (i32.const 4)))
    (local.set $i0 (i32.const 0))
    (block $B0
      (loop $L1
        (br_if $B0 (i32.ge_u (local.get $i0) (local.get $m)))
        (local.set $j0 (i32.const 0))
        (block $B2
          (loop $L3
            (br_if $B2 (i32.gt_u (i32.add (local.get $j0) (i32.const 8)) (local.get $n)))
            (local.set $acc00 (v128.const i32x4 0 0 0 0))
            (local.set $acc01 (v128.const i32x4 0 0 0 0))
            (local.set $acc10 (v128.const i32x4 0 0 0 0))
            (local.set $acc11 (v128.const i32x4 0 0 0 0))
            (local.set $acc20 (v128.const i32x4 0 0 0 0))
            (local.set $acc21 (v128.const i32x4 0 0 0 0))
            (local.set $acc30 (v128.const i32x4 0 0 0 0))
            (local.set $acc31 (v128.const i32x4 0 0 0 0))
            (local.set $bp (i32.add (local.get $b) (i32.mul (local.get $j0) (i32.const 4))))
            (local.set $pa (i32.const 0))
            (block $B4
              (loop $L5
                (br_if $B4 (i32.ge_u (local.get $pa) (local.get $kb)))
                (local.set $rp
                  (i32.add
                    (i32.load (i32.add (local.get $rows) (local.get $pa)))
                    (i32.mul (local.get $i0) (i32.const 4))))
                (local.set $bvec0 (v128.load (local.get $bp)))
                (local.set $bvec1 (v128.load offset=16 (local.get $bp)))
                (local.set $asplat (v128.load32_splat (local.get $rp)))
                (local.set $acc00
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc00)))
                (local.set $acc01
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec1) (local.get $acc01)))
                (local.set $asplat (v128.load32_splat offset=4 (local.get $rp)))
                (local.set $acc10
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc10)))
                (local.set $acc11
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec1) (local.get $acc11)))
                (local.set $asplat (v128.load32_splat offset=8 (local.get $rp)))
                (local.set $acc20
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc20)))
                (local.set $acc21
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec1) (local.get $acc21)))
                (local.set $asplat (v128.load32_splat offset=12 (local.get $rp)))
                (local.set $acc30
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc30)))
                (local.set $acc31
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec1) (local.get $acc31)))
                (local.set $bp (i32.add (local.get $bp) (local.get $ldb)))
                (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
                (br $L5)))
            (local.set $cp
              (i32.add
                (local.get $c)
                (i32.mul (i32.add (i32.mul (local.get $i0) (local.get $n)) (local.get $j0)) (i32.const 4))))
            (v128.store (local.get $cp) (local.get $acc00))
            (v128.store offset=16 (local.get $cp) (local.get $acc01))
            (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
            (v128.store (local.get $cp) (local.get $acc10))
            (v128.store offset=16 (local.get $cp) (local.get $acc11))
            (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
            (v128.store (local.get $cp) (local.get $acc20))
            (v128.store offset=16 (local.get $cp) (local.get $acc21))
            (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
            (v128.store (local.get $cp) (local.get $acc30))
            (v128.store offset=16 (local.get $cp) (local.get $acc31))
            (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
            (local.set $j0 (i32.add (local.get $j0) (i32.const 8)))
            (br $L3)))
        (block $B6
          (br_if $B6 (i32.gt_u (i32.add (local.get $j0) (i32.const 4)) (local.get $n)))
          (local.set $acc00 (v128.const i32x4 0 0 0 0))
          (local.set $acc10 (v128.const i32x4 0 0 0 0))
          (local.set $acc20 (v128.const i32x4 0 0 0 0))
          (local.set $acc30 (v128.const i32x4 0 0 0 0))
          (local.set $bp (i32.add (local.get $b) (i32.mul (local.get $j0) (i32.const 4))))
          (local.set $pa (i32.const 0))
          (block $B7
            (loop $L8
              (br_if $B7 (i32.ge_u (local.get $pa) (local.get $kb)))
              (local.set $rp
                (i32.add
                  (i32.load (i32.add (local.get $rows) (local.get $pa)))
                  (i32.mul (local.get $i0) (i32.const 4))))
              (local.set $bvec0 (v128.load (local.get $bp)))
              (local.set $asplat (v128.load32_splat (local.get $rp)))
              (local.set $acc00
                (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc00)))
              (local.set $asplat (v128.load32_splat offset=4 (local.get $rp)))
              (local.set $acc10
                (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc10)))
              (local.set $asplat (v128.load32_splat offset=8 (local.get $rp)))
              (local.set $acc20
                (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc20)))
              (local.set $asplat (v128.load32_splat offset=12 (local.get $rp)))
              (local.set $acc30
                (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc30)))
              (local.set $bp (i32.add (local.get $bp) (local.get $ldb)))
              (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
              (br $L8)))
          (local.set $cp
            (i32.add
              (local.get $c)
              (i32.mul (i32.add (i32.mul (local.get $i0) (local.get $n)) (local.get $j0)) (i32.const 4))))
          (v128.store (local.get $cp) (local.get $acc00))
          (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
          (v128.store (local.get $cp) (local.get $acc10))
          (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
          (v128.store (local.get $cp) (local.get $acc20))
          (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
          (v128.store (local.get $cp) (local.get $acc30))
          (local.set $cp (i32.add (local.get $cp) (local.get $ldb))))
        (local.set $i0 (i32.add (local.get $i0) (i32.const 4)))
        (br $L1))))
  (func $spmm
    (type $t0) (param $count i32) (param $n i32) (param $ids i32) (param $starts i32) (param $b i32)
    (param $c i32)
    (local $row i32) (local $rowb i32) (local $cj i32) (local $q i32) (local $qstart i32) (local $qend i32)
    (local $base i32) (local $ldb i32) (local $addr i32) (local $x15 i32) (local $x16 i32) (local $x17 i32)
    (local $va v128) (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128) (local $v4 v128)
    (local $v5 v128) (local $v6 v128) (local $v7 v128) (local $v8 v128) (local $v9 v128)
    (local.set $ldb (i32.mul (local.get $n) (i32.const 4)))
    (local.set $row (i32.const 0))
    (local.set $rowb (i32.const 0))
    (block $B0
      (loop $L1
        (br_if $B0 (i32.ge_u (local.get $row) (i32.mul (local.get $count) (i32.const 4))))
        (local.set $addr
          (i32.add
            (i32.mul (i32.load (i32.add (local.get $ids) (local.get $row))) (i32.const 4))
            (local.get $starts)))
        (local.set $qstart (i32.load (local.get $addr)))
        (local.set $qend (i32.load offset=4 (local.get $addr)))
        (local.set $cj (i32.const 0))
        (block $B2
          (loop $L3
            (br_if $B2 (i32.gt_u (i32.add (local.get $cj) (i32.const 64)) (local.get $ldb)))
            (local.set $v0 (v128.const i32x4 0 0 0 0))
            (local.set $v1 (v128.const i32x4 0 0 0 0))
            (local.set $v2 (v128.const i32x4 0 0 0 0))
            (local.set $v3 (v128.const i32x4 0 0 0 0))
            (local.set $base (i32.add (local.get $b) (local.get $cj)))
            (local.set $q (local.get $qstart))
            (block $B4
              (loop $L5
                (br_if $B4 (i32.ge_u (local.get $q) (local.get $qend)))
                (local.set $addr
                  (i32.add (local.get $base) (i32.mul (i32.load (local.get $q)) (local.get $ldb))))
                (local.set $va (v128.load32_splat offset=4 (local.get $q)))
                (local.set $v0
                  (f32x4.relaxed_madd (local.get $va) (v128.load (local.get $addr)) (local.get $v0)))
                (local.set $v1
                  (f32x4.relaxed_madd (local.get $va) (v128.load offset=16 (local.get $addr)) (local.get $v1)))
                (local.set $v2
                  (f32x4.relaxed_madd (local.get $va) (v128.load offset=32 (local.get $addr)) (local.get $v2)))
                (local.set $v3
                  (f32x4.relaxed_madd (local.get $va) (v128.load offset=48 (local.get $addr)) (local.get $v3)))
                (local.set $q (i32.add (local.get $q) (i32.const 8)))
                (br $L5)))
            (v128.store (i32.add (i32.add (local.get $c) (local.get $rowb)) (local.get $cj)) (local.get $v0))
            (v128.store offset=16
              (i32.add (i32.add (local.get $c) (local.get $rowb)) (local.get $cj))
              (local.get $v1))
            (v128.store offset=32
              (i32.add (i32.add (local.get $c) (local.get $rowb)) (local.get $cj))
              (local.get $v2))
            (v128.store offset=48
              (i32.add (i32.add (local.get $c) (local.get $rowb)) (local.get $cj))
              (local.get $v3))
            (local.set $cj (i32.add (local.get $cj) (i32.const 64)))
            (br $L3)))
        (block $B6
          (br_if $B6 (i32.gt_u (i32.add (local.get $cj) (i32.const 32)) (local.get $ldb)))
          (local.set $v0 (v128.const i32x4 0 0 0 0))
          (local.set $v1 (v128.const i32x4 0 0 0 0))
          (local.set $base (i32.add (local.get $b) (local.get $cj)))
          (local.set $q (local.get $qstart))
          (block $B7
            (loop $L8
              (br_if $B7 (i32.ge_u (local.get $q) (local.get $qend)))
              (local.set $addr
                (i32.add (local.get $base) (i32.mul (i32.load (local.get $q)) (local.get $ldb))))
              (local.set $va (v128.load32_splat offset=4 (local.get $q)))
              (local.set $v0
                (f32x4.relaxed_madd (local.get $va) (v128.load (local.get $addr)) (local.get $v0)))
              (local.set $v1
                (f32x4.relaxed_madd (local.get $va) (v128.load offset=16 (local.get $addr)) (local.get $v1)))
              (local.set $q (i32.add (local.get $q) (i32.const 8)))
              (br $L8)))
          (v128.store (i32.add (i32.add (local.get $c) (local.get $rowb)) (local.get $cj)) (local.get $v0))
          (v128.store offset=16
            (i32.add (i32.add (local.get $c) (local.get $rowb)) (local.get $cj))
            (local.get $v1))
          (local.set $cj (i32.add (local.get $cj) (i32.const 32))))
        (block $B9
          (br_if $B9 (i32.gt_u (i32.add (local.get $cj) (i32.const 16)) (local.get $ldb)))
          (local.set $v0 (v128.const i32x4 0 0 0 0))
          (local.set $base (i32.add (local.get $b) (local.get $cj)))
          (local.set $q (local.get $qstart))
          (block $B10
            (loop $L11
              (br_if $B10 (i32.ge_u (local.get $q) (local.get $qend)))
              (local.set $addr
                (i32.add (local.get $base) (i32.mul (i32.load (local.get $q)) (local.get $ldb))))
              (local.set $va (v128.load32_splat offset=4 (local.get $q)))
              (local.set $v0
                (f32x4.relaxed_madd (local.get $va) (v128.load (local.get $addr)) (local.get $v0)))
              (local.set $q (i32.add (local.get $q) (i32.const 8)))
              (br $L11)))
          (v128.store (i32.add (i32.add (local.get $c) (local.get $rowb)) (local.get $cj)) (local.get $v0))
          (local.set $cj (i32.add (local.get $cj) (i32.const 16))))
        (local.set $row (i32.add (local.get $row) (i32.const 4)))
        (local.set $rowb (i32.add (local.get $rowb) (local.get $ldb)))
        (br $L1))))
  (func $spmmT
    (type $t0) (param $count i32) (param $n i32) (param $ids i32) (param $starts i32) (param $b i32)
    (param $c i32)
    (local $row i32) (local $rowb i32) (local $cj i32) (local $q i32) (local $qstart i32) (local $qend i32)
    (local $base i32) (local $ldb i32) (local $addr i32) (local $x15 i32) (local $x16 i32) (local $x17 i32)
    (local $va v128) (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128) (local $v4 v128)
    (local $v5 v128) (local $v6 v128) (local $v7 v128) (local $v8 v128) (local $v9 v128)
    (local.set $ldb (i32.mul (local.get $n) (i32.const 4)))
    (local.set $row (i32.const 0))
    (local.set $rowb (i32.const 0))
    (block $B0
      (loop $L1
        (br_if $B0 (i32.ge_u (local.get $row) (i32.mul (local.get $count) (i32.const 4))))
        (local.set $addr
          (i32.add
            (i32.mul (i32.load (i32.add (local.get $ids) (local.get $row))) (i32.const 4))
            (local.get $starts)))
        (local.set $qstart (i32.load (local.get $addr)))
        (local.set $qend (i32.load offset=4 (local.get $addr)))
        (local.set $cj (i32.const 0))
        (block $B2
          (loop $L3
            (br_if $B2 (i32.gt_u (i32.add (local.get $cj) (i32.const 64)) (local.get $ldb)))
            (local.set $v0 (v128.load (i32.add (i32.add (local.get $b) (local.get $rowb)) (local.get $cj))))
            (local.set $v1
              (v128.load offset=16 (i32.add (i32.add (local.get $b) (local.get $rowb)) (local.get $cj))))
            (local.set $v2
              (v128.load offset=32 (i32.add (i32.add (local.get $b) (local.get $rowb)) (local.get $cj))))
            (local.set $v3
              (v128.load offset=48 (i32.add (i32.add (local.get $b) (local.get $rowb)) (local.get $cj))))
            (local.set $base (i32.add (local.get $c) (local.get $cj)))
            (local.set $q (local.get $qstart))
            (block $B4
              (loop $L5
                (br_if $B4 (i32.ge_u (local.get $q) (local.get $qend)))
                (local.set $addr
                  (i32.add (local.get $base) (i32.mul (i32.load (local.get $q)) (local.get $ldb))))
                (local.set $va (v128.load32_splat offset=4 (local.get $q)))
                (v128.store
                  (local.get $addr)
                  (f32x4.relaxed_madd (local.get $va) (local.get $v0) (v128.load (local.get $addr))))
                (v128.store offset=16
                  (local.get $addr)
                  (f32x4.relaxed_madd (local.get $va) (local.get $v1) (v128.load offset=16 (local.get $addr))))
                (v128.store offset=32
                  (local.get $addr)
                  (f32x4.relaxed_madd (local.get $va) (local.get $v2) (v128.load offset=32 (local.get $addr))))
                (v128.store offset=48
                  (local.get $addr)
                  (f32x4.relaxed_madd (local.get $va) (local.get $v3) (v128.load offset=48 (local.get $addr))))
                (local.set $q (i32.add (local.get $q) (i32.const 8)))
                (br $L5)))
            (local.set $cj (i32.add (local.get $cj) (i32.const 64)))
            (br $L3)))
        (block $B6
          (br_if $B6 (i32.gt_u (i32.add (local.get $cj) (i32.const 32)) (local.get $ldb)))
          (local.set $v0 (v128.load (i32.add (i32.add (local.get $b) (local.get $rowb)) (local.get $cj))))
          (local.set $v1
            (v128.load offset=16 (i32.add (i32.add (local.get $b) (local.get $rowb)) (local.get $cj))))
          (local.set $base (i32.add (local.get $c) (local.get $cj)))
          (local.set $q (local.get $qstart))
          (block $B7
            (loop $L8
              (br_if $B7 (i32.ge_u (local.get $q) (local.get $qend)))
              (local.set $addr
                (i32.add (local.get $base) (i32.mul (i32.load (local.get $q)) (local.get $ldb))))
              (local.set $va (v128.load32_splat offset=4 (local.get $q)))
              (v128.store
                (local.get $addr)
                (f32x4.relaxed_madd (local.get $va) (local.get $v0) (v128.load (local.get $addr))))
              (v128.store offset=16
                (local.get $addr)
                (f32x4.relaxed_madd (local.get $va) (local.get $v1) (v128.load offset=16 (local.get $addr))))
              (local.set $q (i32.add (local.get $q) (i32.const 8)))
              (br $L8)))
          (local.set $cj (i32.add (local.get $cj) (i32.const 32))))
        (block $B9
          (br_if $B9 (i32.gt_u (i32.add (local.get $cj) (i32.const 16)) (local.get $ldb)))
          (local.set $v0 (v128.load (i32.add (i32.add (local.get $b) (local.get $rowb)) (local.get $cj))))
          (local.set $base (i32.add (local.get $c) (local.get $cj)))
          (local.set $q (local.get $qstart))
          (block $B10
            (loop $L11
              (br_if $B10 (i32.ge_u (local.get $q) (local.get $qend)))
              (local.set $addr
                (i32.add (local.get $base) (i32.mul (i32.load (local.get $q)) (local.get $ldb))))
              (local.set $va (v128.load32_splat offset=4 (local.get $q)))
              (v128.store
                (local.get $addr)
                (f32x4.relaxed_madd (local.get $va) (local.get $v0) (v128.load (local.get $addr))))
              (local.set $q (i32.add (local.get $q) (i32.const 8)))
              (br $L11)))
          (local.set $cj (i32.add (local.get $cj) (i32.const 16))))
        (local.set $row (i32.add (local.get $row) (i32.const 4)))
        (local.set $rowb (i32.add (local.get $rowb) (local.get $ldb)))
        (br $L1))))
  (func $gemmSeg
    (type $t1) (param $m i32) (param $n i32) (param $segk i32) (param $segs i32) (param $rows i32)
    (param $stride i32) (param $b i32) (param $crows i32) (param $bias i32)
    (local $i0 i32) (local $j0 i32) (local $pa i32) (local $r0 i32) (local $r1 i32) (local $r2 i32)
    (local $r3 i32) (local $bp i32) (local $ldb i32) (local $kb i32) (local $seg i32) (local $t i32)
    (local $acc00 v128) (local $acc01 v128) (local $acc10 v128) (local $acc11 v128) (local $acc20 v128)
    (local $acc21 v128) (local $acc30 v128) (local $acc31 v128) (local $bvec0 v128) (local $bvec1 v128)
    (local $asplat v128)
    (local.set $ldb (i32.mul (local.get $n) (i32.const 4)))
    (local.set $kb (i32.mul (local.get $segk) (i32.const 4)))
    (local.set $i0 (i32.const 0))
    (block $B0
      (loop $L1
        (br_if $B0 (i32.ge_u (local.get $i0) (local.get $m)))
        (local.set $j0 (i32.const 0))
        (block $B2
          (loop $L3
            (br_if $B2 (i32.gt_u (i32.add (local.get $j0) (i32.const 8)) (local.get $n)))
            (local.set $acc00 (v128.load (i32.add (local.get $bias) (i32.mul (local.get $j0) (i32.const 4)))))
            (local.set $acc01
              (v128.load offset=16 (i32.add (local.get $bias) (i32.mul (local.get $j0) (i32.const 4)))))
            (local.set $acc10 (v128.load (i32.add (local.get $bias) (i32.mul (local.get $j0) (i32.const 4)))))
            (local.set $acc11
              (v128.load offset=16 (i32.add (local.get $bias) (i32.mul (local.get $j0) (i32.const 4)))))
            (local.set $acc20 (v128.load (i32.add (local.get $bias) (i32.mul (local.get $j0) (i32.const 4)))))
            (local.set $acc21
              (v128.load offset=16 (i32.add (local.get $bias) (i32.mul (local.get $j0) (i32.const 4)))))
            (local.set $acc30 (v128.load (i32.add (local.get $bias) (i32.mul (local.get $j0) (i32.const 4)))))
            (local.set $acc31
              (v128.load offset=16 (i32.add (local.get $bias) (i32.mul (local.get $j0) (i32.const 4)))))
            (local.set $bp (i32.add (local.get $b) (i32.mul (local.get $j0) (i32.const 4))))
            (local.set $seg (i32.const 0))
            (block $B4
              (loop $L5
                (br_if $B4 (i32.ge_u (local.get $seg) (local.get $segs)))
                (local.set $t
                  (i32.add
                    (local.get $rows)
                    (i32.mul
                      (i32.add (i32.mul (local.get $seg) (local.get $stride)) (local.get $i0))
                      (i32.const 4))))
                (local.set $r0 (i32.load (local.get $t)))
                (local.set $r1 (i32.load offset=4 (local.get $t)))
                (local.set $r2 (i32.load offset=8 (local.get $t)))
                (local.set $r3 (i32.load offset=12 (local.get $t)))
                (local.set $pa (i32.const 0))
                (block $B6
                  (loop $L7
                    (br_if $B6 (i32.ge_u (local.get $pa) (local.get $kb)))
                    (local.set $bvec0 (v128.load (local.get $bp)))
                    (local.set $bvec1 (v128.load offset=16 (local.get $bp)))
                    (local.set $asplat (v128.load32_splat (i32.add (local.get $r0) (local.get $pa))))
                    (local.set $acc00
                      (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc00)))
                    (local.set $acc01
                      (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec1) (local.get $acc01)))
                    (local.set $asplat (v128.load32_splat (i32.add (local.get $r1) (local.get $pa))))
                    (local.set $acc10
                      (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc10)))
                    (local.set $acc11
                      (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec1) (local.get $acc11)))
                    (local.set $asplat (v128.load32_splat (i32.add (local.get $r2) (local.get $pa))))
                    (local.set $acc20
                      (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc20)))
                    (local.set $acc21
                      (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec1) (local.get $acc21)))
                    (local.set $asplat (v128.load32_splat (i32.add (local.get $r3) (local.get $pa))))
                    (local.set $acc30
                      (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc30)))
                    (local.set $acc31
                      (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec1) (local.get $acc31)))
                    (local.set $bp (i32.add (local.get $bp) (local.get $ldb)))
                    (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
                    (br $L7)))
                (local.set $seg (i32.add (local.get $seg) (i32.const 1)))
                (br $L5)))
            (local.set $t (i32.add (local.get $crows) (i32.mul (local.get $i0) (i32.const 4))))
            (local.set $r0 (i32.add (i32.load (local.get $t)) (i32.mul (local.get $j0) (i32.const 4))))
            (v128.store (local.get $r0) (local.get $acc00))
            (v128.store offset=16 (local.get $r0) (local.get $acc01))
            (local.set $r1
              (i32.add (i32.load offset=4 (local.get $t)) (i32.mul (local.get $j0) (i32.const 4))))
            (v128.store (local.get $r1) (local.get $acc10))
            (v128.store offset=16 (local.get $r1) (local.get $acc11))
            (local.set $r2
              (i32.add (i32.load offset=8 (local.get $t)) (i32.mul (local.get $j0) (i32.const 4))))
            (v128.store (local.get $r2) (local.get $acc20))
            (v128.store offset=16 (local.get $r2) (local.get $acc21))
            (local.set $r3
              (i32.add (i32.load offset=12 (local.get $t)) (i32.mul (local.get $j0) (i32.const 4))))
            (v128.store (local.get $r3) (local.get $acc30))
            (v128.store offset=16 (local.get $r3) (local.get $acc31))
            (local.set $j0 (i32.add (local.get $j0) (i32.const 8)))
            (br $L3)))
        (block $B8
          (br_if $B8 (i32.gt_u (i32.add (local.get $j0) (i32.const 4)) (local.get $n)))
          (local.set $acc00 (v128.load (i32.add (local.get $bias) (i32.mul (local.get $j0) (i32.const 4)))))
          (local.set $acc10 (v128.load (i32.add (local.get $bias) (i32.mul (local.get $j0) (i32.const 4)))))
          (local.set $acc20 (v128.load (i32.add (local.get $bias) (i32.mul (local.get $j0) (i32.const 4)))))
          (local.set $acc30 (v128.load (i32.add (local.get $bias) (i32.mul (local.get $j0) (i32.const 4)))))
          (local.set $bp (i32.add (local.get $b) (i32.mul (local.get $j0) (i32.const 4))))
          (local.set $seg (i32.const 0))
          (block $B9
            (loop $L10
              (br_if $B9 (i32.ge_u (local.get $seg) (local.get $segs)))
              (local.set $t
                (i32.add
                  (local.get $rows)
                  (i32.mul
                    (i32.add (i32.mul (local.get $seg) (local.get $stride)) (local.get $i0))
                    (i32.const 4))))
              (local.set $r0 (i32.load (local.get $t)))
              (local.set $r1 (i32.load offset=4 (local.get $t)))
              (local.set $r2 (i32.load offset=8 (local.get $t)))
              (local.set $r3 (i32.load offset=12 (local.get $t)))
              (local.set $pa (i32.const 0))
              (block $B11
                (loop $L12
                  (br_if $B11 (i32.ge_u (local.get $pa) (local.get $kb)))
                  (local.set $bvec0 (v128.load (local.get $bp)))
                  (local.set $asplat (v128.load32_splat (i32.add (local.get $r0) (local.get $pa))))
                  (local.set $acc00
                    (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc00)))
                  (local.set $asplat (v128.load32_splat (i32.add (local.get $r1) (local.get $pa))))
                  (local.set $acc10
                    (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc10)))
                  (local.set $asplat (v128.load32_splat (i32.add (local.get $r2) (local.get $pa))))
                  (local.set $acc20
                    (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc20)))
                  (local.set $asplat (v128.load32_splat (i32.add (local.get $r3) (local.get $pa))))
                  (local.set $acc30
                    (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc30)))
                  (local.set $bp (i32.add (local.get $bp) (local.get $ldb)))
                  (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
                  (br $L12)))
              (local.set $seg (i32.add (local.get $seg) (i32.const 1)))
              (br $L10)))
          (local.set $t (i32.add (local.get $crows) (i32.mul (local.get $i0) (i32.const 4))))
          (local.set $r0 (i32.add (i32.load (local.get $t)) (i32.mul (local.get $j0) (i32.const 4))))
          (v128.store (local.get $r0) (local.get $acc00))
          (local.set $r1 (i32.add (i32.load offset=4 (local.get $t)) (i32.mul (local.get $j0) (i32.const 4))))
          (v128.store (local.get $r1) (local.get $acc10))
          (local.set $r2 (i32.add (i32.load offset=8 (local.get $t)) (i32.mul (local.get $j0) (i32.const 4))))
          (v128.store (local.get $r2) (local.get $acc20))
          (local.set $r3
            (i32.add (i32.load offset=12 (local.get $t)) (i32.mul (local.get $j0) (i32.const 4))))
          (v128.store (local.get $r3) (local.get $acc30)))
        (local.set $i0 (i32.add (local.get $i0) (i32.const 4)))
        (br $L1))))
  (func $scaleRows
    (type $t2) (param $m i32) (param $n i32) (param $arows i32) (param $crows i32) (param $scales i32)
    (local $i i32) (local $j i32) (local $d i32) (local $rowb i32) (local $a i32) (local $g v128)
    (local.set $rowb (i32.mul (local.get $n) (i32.const 4)))
    (local.set $i (i32.const 0))
    (block $B0
      (loop $L1
        (br_if $B0 (i32.ge_u (local.get $i) (i32.mul (local.get $m) (i32.const 4))))
        (local.set $d (i32.load (i32.add (local.get $crows) (local.get $i))))
        (local.set $a (i32.load (i32.add (local.get $arows) (local.get $i))))
        (local.set $g (v128.load32_splat (i32.add (local.get $scales) (local.get $i))))
        (local.set $j (i32.const 0))
        (block $B2
          (loop $L3
            (br_if $B2 (i32.ge_u (local.get $j) (local.get $rowb)))
            (v128.store
              (i32.add (local.get $d) (local.get $j))
              (f32x4.mul (local.get $g) (v128.load (i32.add (local.get $a) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $L3)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $L1))))
  (export "gemm" (func $gemm))
  (export "gemmT" (func $gemmT))
  (export "spmm" (func $spmm))
  (export "spmmT" (func $spmmT))
  (export "gemmSeg" (func $gemmSeg))
  (export "scaleRows" (func $scaleRows)))
