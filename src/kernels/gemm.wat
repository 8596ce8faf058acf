;; Matrix products behind pmoe's fused training steps, convolutions and expert layers: f32,
;; row-major, every pointer a byte address in the imported memory. Each kernel reads its left
;; operand through a table of row addresses, so a mini-batch, the patches an expert chose, or
;; their transpose are used in place: no gather, no transpose, no packing.
;;
;; Assembled by scripts/assemble-kernels.mjs (npm run build). This text uses relaxed SIMD's
;; fused multiply-add, (f32x4.relaxed_madd a b c) = a b + c with one rounding where the CPU has
;; FMA; the script also writes each (f32x4.relaxed_madd a b c) as (f32x4.add c (f32x4.mul a b))
;; for runtimes without relaxed SIMD (or PMOE_FMA=0), and makes a variant of each that imports a
;; shared memory (the two-thread arena of src/kernels/gemm-threads.ts).
;;
;; Register tiles: 4 rows of C by 8 columns (two vectors; $acc<r><v> is row r, vector v), then
;; one tile of 4 columns where N mod 8 = 4. M and N must be multiples of 4 (the callers pad).
;; Loops are (block $x_done (loop $each_x (br_if $x_done <end reached>) ... (br $each_x))).
(module
  (type $params6 (func (param i32 i32 i32 i32 i32 i32)))
  (type $params9 (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  (type $params5 (func (param i32 i32 i32 i32 i32)))
  (import "env" "memory" (memory 1))
  ;; gemm(M, N, K, rows, b, c): C[i, j] = sum_p A_i[p] B[p, j], A_i the K floats at rows[i]
  ;; (C: M x N, B: K x N). X W, a forward product. $pa = 4 p; $r0..$r3 the tile's four row
  ;; addresses, loaded once per row tile; $bp walks B's row p.
  (func $gemm
    (type $params6) (param $m i32) (param $n i32) (param $k i32) (param $rows i32) (param $b i32) (param $c i32)
    (local $i0 i32) (local $j0 i32) (local $pa i32) (local $r0 i32) (local $r1 i32) (local $r2 i32)
    (local $r3 i32) (local $bp i32) (local $ldb i32) (local $kb i32) (local $cp i32)
    (local $acc00 v128) (local $acc01 v128) (local $acc10 v128) (local $acc11 v128) (local $acc20 v128)
    (local $acc21 v128) (local $acc30 v128) (local $acc31 v128) (local $bvec0 v128) (local $bvec1 v128)
    (local $asplat v128)
    (local.set $ldb (i32.mul (local.get $n) (i32.const 4)))
    (local.set $kb (i32.mul (local.get $k) (i32.const 4)))
    (local.set $i0 (i32.const 0))
    (block $rows_done
      (loop $each_row_tile
        (br_if $rows_done (i32.ge_u (local.get $i0) (local.get $m)))
        (local.set $r0 (i32.load (i32.add (local.get $rows) (i32.mul (local.get $i0) (i32.const 4)))))
        (local.set $r1
          (i32.load offset=4 (i32.add (local.get $rows) (i32.mul (local.get $i0) (i32.const 4)))))
        (local.set $r2
          (i32.load offset=8 (i32.add (local.get $rows) (i32.mul (local.get $i0) (i32.const 4)))))
        (local.set $r3
          (i32.load offset=12 (i32.add (local.get $rows) (i32.mul (local.get $i0) (i32.const 4)))))
        (local.set $j0 (i32.const 0))
        (block $tiles8_done
          (loop $each_tile8
            (br_if $tiles8_done (i32.gt_u (i32.add (local.get $j0) (i32.const 8)) (local.get $n)))
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
            (block $p_done
              (loop $each_p
                (br_if $p_done (i32.ge_u (local.get $pa) (local.get $kb)))
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
                (br $each_p)))
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
            (br $each_tile8)))
        (block $no_tile4
          (br_if $no_tile4 (i32.gt_u (i32.add (local.get $j0) (i32.const 4)) (local.get $n)))
          (local.set $acc00 (v128.const i32x4 0 0 0 0))
          (local.set $acc10 (v128.const i32x4 0 0 0 0))
          (local.set $acc20 (v128.const i32x4 0 0 0 0))
          (local.set $acc30 (v128.const i32x4 0 0 0 0))
          (local.set $bp (i32.add (local.get $b) (i32.mul (local.get $j0) (i32.const 4))))
          (local.set $pa (i32.const 0))
          (block $p4_done
            (loop $each_p4
              (br_if $p4_done (i32.ge_u (local.get $pa) (local.get $kb)))
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
              (br $each_p4)))
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
        (br $each_row_tile))))
  ;; gemmT(M, N, K, rows, b, c): C[i, j] = sum_p A_p[i] B[p, j], A_p the M floats at rows[p]
  ;; (C: M x N, B: K x N). X^T dY, a weight gradient. $rp: A_p's floats i0.. (loaded once per p);
  ;; reads up to 3 floats past a row's end when M is padded.
  (func $gemmT
    (type $params6) (param $m i32) (param $n i32) (param $k i32) (param $rows i32) (param $b i32) (param $c i32)
    (local $i0 i32) (local $j0 i32) (local $pa i32) (local $bp i32) (local $ldb i32) (local $kb i32)
    (local $cp i32) (local $rp i32)
    (local $acc00 v128) (local $acc01 v128) (local $acc10 v128) (local $acc11 v128) (local $acc20 v128)
    (local $acc21 v128) (local $acc30 v128) (local $acc31 v128) (local $bvec0 v128) (local $bvec1 v128)
    (local $asplat v128)
    (local.set $ldb (i32.mul (local.get $n) (i32.const 4)))
    (local.set $kb (i32.mul (local.get $k) (i32.const 4)))
    (local.set $i0 (i32.const 0))
    (block $rows_done
      (loop $each_row_tile
        (br_if $rows_done (i32.ge_u (local.get $i0) (local.get $m)))
        (local.set $j0 (i32.const 0))
        (block $tiles8_done
          (loop $each_tile8
            (br_if $tiles8_done (i32.gt_u (i32.add (local.get $j0) (i32.const 8)) (local.get $n)))
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
            (block $p_done
              (loop $each_p
                (br_if $p_done (i32.ge_u (local.get $pa) (local.get $kb)))
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
                (br $each_p)))
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
            (br $each_tile8)))
        (block $no_tile4
          (br_if $no_tile4 (i32.gt_u (i32.add (local.get $j0) (i32.const 4)) (local.get $n)))
          (local.set $acc00 (v128.const i32x4 0 0 0 0))
          (local.set $acc10 (v128.const i32x4 0 0 0 0))
          (local.set $acc20 (v128.const i32x4 0 0 0 0))
          (local.set $acc30 (v128.const i32x4 0 0 0 0))
          (local.set $bp (i32.add (local.get $b) (i32.mul (local.get $j0) (i32.const 4))))
          (local.set $pa (i32.const 0))
          (block $p4_done
            (loop $each_p4
              (br_if $p4_done (i32.ge_u (local.get $pa) (local.get $kb)))
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
              (br $each_p4)))
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
        (br $each_row_tile))))
  ;; The sparse kernels. A sparse matrix is a table of row starts (byte addresses; row r spans
  ;; starts[r] .. starts[r + 1]) into (i32 column, f32 value) pairs, 8 bytes each; ids picks rows.
  ;; Both sum in the dense kernels' order, and a zero term adds nothing: the same floats as gemm /
  ;; gemmT on the dense matrix.
  ;;
  ;; spmm(M, N, ids, starts, b, c): C[i, j] = sum over row ids[i]'s pairs (col, v) of v B[col, j]
  ;; (C: M x N; M a multiple of 4). Each pair costs the same few instructions (its column's
  ;; address, its value's splat) however many columns it feeds, and an accumulator is a chain of
  ;; multiply-adds whose latency (4 cycles) bounds a loop with few of them. So rows go in groups of
  ;; four: chunks of 40 columns one row at a time ($row40, 10 accumulators), then what is left
  ;; (under 40) as at most one chunk of 32 ($row32) or of 16 two rows at a time ($rows2x16), and at
  ;; most one of 8 and one of 4 four rows at a time ($rows4x8, $rows4x4); rows taken together
  ;; run over as many pairs as the shortest of them has, then each row's remaining pairs on its own
  ;; ($tail16, $tail8, $tail4). Every element is still summed over its row's pairs in order. Per
  ;; pair and column the wide chunks cost about the same (40 and 48 columns measured alike; 12
  ;; accumulators are near what V8 keeps in registers); the narrow ones cost more, which is why 40
  ;; comes before 32 (the CNN's m = 40 in one pass).
  ;; $g = 16 x the group, $crow its C rows' address, $s<r> / $e<r> row r's first and end pair
  ;; addresses, $cj = 4 j0.
  (func $spmm
    (type $params6) (param $count i32) (param $n i32) (param $ids i32) (param $starts i32) (param $b i32)
    (param $c i32)
    (local $ldb i32) (local $g i32) (local $crow i32) (local $cj i32) (local $addr i32)
    (local $s0 i32) (local $s1 i32) (local $s2 i32) (local $s3 i32)
    (local $e0 i32) (local $e1 i32) (local $e2 i32) (local $e3 i32)
    (local $c0 i32) (local $c1 i32) (local $c2 i32) (local $c3 i32)
    (local.set $ldb (i32.mul (local.get $n) (i32.const 4)))
    (local.set $g (i32.const 0))
    (local.set $crow (local.get $c))
    (block $groups_done
      (loop $each_group
        (br_if $groups_done (i32.ge_u (local.get $g) (i32.mul (local.get $count) (i32.const 4))))
        (local.set $addr (i32.add (i32.mul (i32.load (i32.add (local.get $ids) (local.get $g))) (i32.const 4)) (local.get $starts)))
        (local.set $s0 (i32.load (local.get $addr)))
        (local.set $e0 (i32.load offset=4 (local.get $addr)))
        (local.set $addr (i32.add (i32.mul (i32.load offset=4 (i32.add (local.get $ids) (local.get $g))) (i32.const 4)) (local.get $starts)))
        (local.set $s1 (i32.load (local.get $addr)))
        (local.set $e1 (i32.load offset=4 (local.get $addr)))
        (local.set $addr (i32.add (i32.mul (i32.load offset=8 (i32.add (local.get $ids) (local.get $g))) (i32.const 4)) (local.get $starts)))
        (local.set $s2 (i32.load (local.get $addr)))
        (local.set $e2 (i32.load offset=4 (local.get $addr)))
        (local.set $addr (i32.add (i32.mul (i32.load offset=12 (i32.add (local.get $ids) (local.get $g))) (i32.const 4)) (local.get $starts)))
        (local.set $s3 (i32.load (local.get $addr)))
        (local.set $e3 (i32.load offset=4 (local.get $addr)))
        (local.set $cj (i32.const 0))
        (block $chunks40_done
          (loop $each_chunk40
            (br_if $chunks40_done (i32.gt_u (i32.add (local.get $cj) (i32.const 160)) (local.get $ldb)))
            (local.set $c0 (i32.add (local.get $crow) (local.get $cj)))
            (call $row40 (local.get $s0) (local.get $e0) (i32.add (local.get $b) (local.get $cj)) (local.get $ldb) (local.get $c0))
            (call $row40 (local.get $s1) (local.get $e1) (i32.add (local.get $b) (local.get $cj)) (local.get $ldb) (i32.add (local.get $c0) (local.get $ldb)))
            (call $row40 (local.get $s2) (local.get $e2) (i32.add (local.get $b) (local.get $cj)) (local.get $ldb) (i32.add (local.get $c0) (i32.mul (local.get $ldb) (i32.const 2))))
            (call $row40 (local.get $s3) (local.get $e3) (i32.add (local.get $b) (local.get $cj)) (local.get $ldb) (i32.add (local.get $c0) (i32.mul (local.get $ldb) (i32.const 3))))
            (local.set $cj (i32.add (local.get $cj) (i32.const 160)))
            (br $each_chunk40)))
        (if (i32.le_u (i32.add (local.get $cj) (i32.const 128)) (local.get $ldb))
          (then
            (local.set $c0 (i32.add (local.get $crow) (local.get $cj)))
            (call $row32 (local.get $s0) (local.get $e0) (i32.add (local.get $b) (local.get $cj)) (local.get $ldb) (local.get $c0))
            (call $row32 (local.get $s1) (local.get $e1) (i32.add (local.get $b) (local.get $cj)) (local.get $ldb) (i32.add (local.get $c0) (local.get $ldb)))
            (call $row32 (local.get $s2) (local.get $e2) (i32.add (local.get $b) (local.get $cj)) (local.get $ldb) (i32.add (local.get $c0) (i32.mul (local.get $ldb) (i32.const 2))))
            (call $row32 (local.get $s3) (local.get $e3) (i32.add (local.get $b) (local.get $cj)) (local.get $ldb) (i32.add (local.get $c0) (i32.mul (local.get $ldb) (i32.const 3))))
            (local.set $cj (i32.add (local.get $cj) (i32.const 128)))))
        (if (i32.le_u (i32.add (local.get $cj) (i32.const 64)) (local.get $ldb))
          (then
            (local.set $c0 (i32.add (local.get $crow) (local.get $cj)))
            (local.set $c1 (i32.add (local.get $c0) (local.get $ldb)))
            (local.set $c2 (i32.add (local.get $c1) (local.get $ldb)))
            (local.set $c3 (i32.add (local.get $c2) (local.get $ldb)))
            (call $rows2x16
              (local.get $s0) (local.get $e0) (local.get $s1) (local.get $e1)
              (i32.add (local.get $b) (local.get $cj)) (local.get $ldb) (local.get $c0) (local.get $c1))
            (call $rows2x16
              (local.get $s2) (local.get $e2) (local.get $s3) (local.get $e3)
              (i32.add (local.get $b) (local.get $cj)) (local.get $ldb) (local.get $c2) (local.get $c3))
            (local.set $cj (i32.add (local.get $cj) (i32.const 64)))))
        (local.set $c0 (i32.add (local.get $crow) (local.get $cj)))
        (local.set $c1 (i32.add (local.get $c0) (local.get $ldb)))
        (local.set $c2 (i32.add (local.get $c1) (local.get $ldb)))
        (local.set $c3 (i32.add (local.get $c2) (local.get $ldb)))
        (if (i32.le_u (i32.add (local.get $cj) (i32.const 32)) (local.get $ldb))
          (then
            (call $rows4x8
              (local.get $s0) (local.get $e0) (local.get $s1) (local.get $e1)
              (local.get $s2) (local.get $e2) (local.get $s3) (local.get $e3)
              (i32.add (local.get $b) (local.get $cj)) (local.get $ldb)
              (local.get $c0) (local.get $c1) (local.get $c2) (local.get $c3))
            (local.set $cj (i32.add (local.get $cj) (i32.const 32)))
            (local.set $c0 (i32.add (local.get $c0) (i32.const 32)))
            (local.set $c1 (i32.add (local.get $c1) (i32.const 32)))
            (local.set $c2 (i32.add (local.get $c2) (i32.const 32)))
            (local.set $c3 (i32.add (local.get $c3) (i32.const 32)))))
        (if (i32.le_u (i32.add (local.get $cj) (i32.const 16)) (local.get $ldb))
          (then
            (call $rows4x4
              (local.get $s0) (local.get $e0) (local.get $s1) (local.get $e1)
              (local.get $s2) (local.get $e2) (local.get $s3) (local.get $e3)
              (i32.add (local.get $b) (local.get $cj)) (local.get $ldb)
              (local.get $c0) (local.get $c1) (local.get $c2) (local.get $c3))))
        (local.set $g (i32.add (local.get $g) (i32.const 16)))
        (local.set $crow (i32.add (local.get $crow) (i32.mul (local.get $ldb) (i32.const 4))))
        (br $each_group))))
  ;; row40(q, e, base, ldb, c): 40 columns of one row of spmm, written at c (10 accumulators).
  (func $row40 (param $q i32) (param $e i32) (param $base i32) (param $ldb i32) (param $c i32)
    (local $p i32) (local $va v128)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local $v4 v128) (local $v5 v128) (local $v6 v128) (local $v7 v128) (local $v8 v128) (local $v9 v128)
    (block $pairs_done
      (loop $each_pair
        (br_if $pairs_done (i32.ge_u (local.get $q) (local.get $e)))
        (local.set $p (i32.add (local.get $base) (i32.mul (i32.load (local.get $q)) (local.get $ldb))))
        (local.set $va (v128.load32_splat offset=4 (local.get $q)))
        (local.set $v0 (f32x4.relaxed_madd (local.get $va) (v128.load (local.get $p)) (local.get $v0)))
        (local.set $v1 (f32x4.relaxed_madd (local.get $va) (v128.load offset=16 (local.get $p)) (local.get $v1)))
        (local.set $v2 (f32x4.relaxed_madd (local.get $va) (v128.load offset=32 (local.get $p)) (local.get $v2)))
        (local.set $v3 (f32x4.relaxed_madd (local.get $va) (v128.load offset=48 (local.get $p)) (local.get $v3)))
        (local.set $v4 (f32x4.relaxed_madd (local.get $va) (v128.load offset=64 (local.get $p)) (local.get $v4)))
        (local.set $v5 (f32x4.relaxed_madd (local.get $va) (v128.load offset=80 (local.get $p)) (local.get $v5)))
        (local.set $v6 (f32x4.relaxed_madd (local.get $va) (v128.load offset=96 (local.get $p)) (local.get $v6)))
        (local.set $v7 (f32x4.relaxed_madd (local.get $va) (v128.load offset=112 (local.get $p)) (local.get $v7)))
        (local.set $v8 (f32x4.relaxed_madd (local.get $va) (v128.load offset=128 (local.get $p)) (local.get $v8)))
        (local.set $v9 (f32x4.relaxed_madd (local.get $va) (v128.load offset=144 (local.get $p)) (local.get $v9)))
        (local.set $q (i32.add (local.get $q) (i32.const 8)))
        (br $each_pair)))
    (v128.store (local.get $c) (local.get $v0))
    (v128.store offset=16 (local.get $c) (local.get $v1))
    (v128.store offset=32 (local.get $c) (local.get $v2))
    (v128.store offset=48 (local.get $c) (local.get $v3))
    (v128.store offset=64 (local.get $c) (local.get $v4))
    (v128.store offset=80 (local.get $c) (local.get $v5))
    (v128.store offset=96 (local.get $c) (local.get $v6))
    (v128.store offset=112 (local.get $c) (local.get $v7))
    (v128.store offset=128 (local.get $c) (local.get $v8))
    (v128.store offset=144 (local.get $c) (local.get $v9)))
  ;; row32(q, e, base, ldb, c): 32 columns of one row of spmm (8 accumulators).
  (func $row32 (param $q i32) (param $e i32) (param $base i32) (param $ldb i32) (param $c i32)
    (local $p i32) (local $va v128)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local $v4 v128) (local $v5 v128) (local $v6 v128) (local $v7 v128)
    (block $pairs_done
      (loop $each_pair
        (br_if $pairs_done (i32.ge_u (local.get $q) (local.get $e)))
        (local.set $p (i32.add (local.get $base) (i32.mul (i32.load (local.get $q)) (local.get $ldb))))
        (local.set $va (v128.load32_splat offset=4 (local.get $q)))
        (local.set $v0 (f32x4.relaxed_madd (local.get $va) (v128.load (local.get $p)) (local.get $v0)))
        (local.set $v1 (f32x4.relaxed_madd (local.get $va) (v128.load offset=16 (local.get $p)) (local.get $v1)))
        (local.set $v2 (f32x4.relaxed_madd (local.get $va) (v128.load offset=32 (local.get $p)) (local.get $v2)))
        (local.set $v3 (f32x4.relaxed_madd (local.get $va) (v128.load offset=48 (local.get $p)) (local.get $v3)))
        (local.set $v4 (f32x4.relaxed_madd (local.get $va) (v128.load offset=64 (local.get $p)) (local.get $v4)))
        (local.set $v5 (f32x4.relaxed_madd (local.get $va) (v128.load offset=80 (local.get $p)) (local.get $v5)))
        (local.set $v6 (f32x4.relaxed_madd (local.get $va) (v128.load offset=96 (local.get $p)) (local.get $v6)))
        (local.set $v7 (f32x4.relaxed_madd (local.get $va) (v128.load offset=112 (local.get $p)) (local.get $v7)))
        (local.set $q (i32.add (local.get $q) (i32.const 8)))
        (br $each_pair)))
    (v128.store (local.get $c) (local.get $v0))
    (v128.store offset=16 (local.get $c) (local.get $v1))
    (v128.store offset=32 (local.get $c) (local.get $v2))
    (v128.store offset=48 (local.get $c) (local.get $v3))
    (v128.store offset=64 (local.get $c) (local.get $v4))
    (v128.store offset=80 (local.get $c) (local.get $v5))
    (v128.store offset=96 (local.get $c) (local.get $v6))
    (v128.store offset=112 (local.get $c) (local.get $v7)))
  ;; rows2x16(sa, ea, sb, eb, base, ldb, ca, cb): 16 columns (B's at `base`) of two rows of spmm,
  ;; whose pairs span sa..ea and sb..eb, written at ca and cb; $end: where row a's common steps end.
  ;; One row's pair at a time in the loop body: with both rows' splats live V8 runs it slower.
  (func $rows2x16
    (param $sa i32) (param $ea i32) (param $sb i32) (param $eb i32) (param $base i32) (param $ldb i32)
    (param $ca i32) (param $cb i32)
    (local $steps i32) (local $end i32) (local $pa i32) (local $pb i32) (local $va v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local.set $steps
      (select
        (i32.sub (local.get $ea) (local.get $sa))
        (i32.sub (local.get $eb) (local.get $sb))
        (i32.lt_u (i32.sub (local.get $ea) (local.get $sa)) (i32.sub (local.get $eb) (local.get $sb)))))
    (local.set $end (i32.add (local.get $sa) (local.get $steps)))
    (block $steps_done
      (loop $each_step
        (br_if $steps_done (i32.ge_u (local.get $sa) (local.get $end)))
        (local.set $pa (i32.add (local.get $base) (i32.mul (i32.load (local.get $sa)) (local.get $ldb))))
        (local.set $va (v128.load32_splat offset=4 (local.get $sa)))
        (local.set $a0 (f32x4.relaxed_madd (local.get $va) (v128.load (local.get $pa)) (local.get $a0)))
        (local.set $a1 (f32x4.relaxed_madd (local.get $va) (v128.load offset=16 (local.get $pa)) (local.get $a1)))
        (local.set $a2 (f32x4.relaxed_madd (local.get $va) (v128.load offset=32 (local.get $pa)) (local.get $a2)))
        (local.set $a3 (f32x4.relaxed_madd (local.get $va) (v128.load offset=48 (local.get $pa)) (local.get $a3)))
        (local.set $pb (i32.add (local.get $base) (i32.mul (i32.load (local.get $sb)) (local.get $ldb))))
        (local.set $va (v128.load32_splat offset=4 (local.get $sb)))
        (local.set $b0 (f32x4.relaxed_madd (local.get $va) (v128.load (local.get $pb)) (local.get $b0)))
        (local.set $b1 (f32x4.relaxed_madd (local.get $va) (v128.load offset=16 (local.get $pb)) (local.get $b1)))
        (local.set $b2 (f32x4.relaxed_madd (local.get $va) (v128.load offset=32 (local.get $pb)) (local.get $b2)))
        (local.set $b3 (f32x4.relaxed_madd (local.get $va) (v128.load offset=48 (local.get $pb)) (local.get $b3)))
        (local.set $sa (i32.add (local.get $sa) (i32.const 8)))
        (local.set $sb (i32.add (local.get $sb) (i32.const 8)))
        (br $each_step)))
    (call $tail16 (local.get $sa) (local.get $ea) (local.get $base) (local.get $ldb)
      (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3))
    (local.set $a3) (local.set $a2) (local.set $a1) (local.set $a0)
    (call $tail16 (local.get $sb) (local.get $eb) (local.get $base) (local.get $ldb)
      (local.get $b0) (local.get $b1) (local.get $b2) (local.get $b3))
    (local.set $b3) (local.set $b2) (local.set $b1) (local.set $b0)
    (v128.store (local.get $ca) (local.get $a0))
    (v128.store offset=16 (local.get $ca) (local.get $a1))
    (v128.store offset=32 (local.get $ca) (local.get $a2))
    (v128.store offset=48 (local.get $ca) (local.get $a3))
    (v128.store (local.get $cb) (local.get $b0))
    (v128.store offset=16 (local.get $cb) (local.get $b1))
    (v128.store offset=32 (local.get $cb) (local.get $b2))
    (v128.store offset=48 (local.get $cb) (local.get $b3)))
  ;; rows4x8(s0, e0, .., s3, e3, base, ldb, c0, .., c3): 8 columns of four rows, as rows2x16.
  (func $rows4x8
    (param $s0 i32) (param $e0 i32) (param $s1 i32) (param $e1 i32)
    (param $s2 i32) (param $e2 i32) (param $s3 i32) (param $e3 i32)
    (param $base i32) (param $ldb i32) (param $c0 i32) (param $c1 i32) (param $c2 i32) (param $c3 i32)
    (local $steps i32) (local $t i32) (local $p i32) (local $va v128)
    (local $a0 v128) (local $a1 v128) (local $b0 v128) (local $b1 v128)
    (local $d0 v128) (local $d1 v128) (local $f0 v128) (local $f1 v128)
    (local.set $steps
      (call $shortest (local.get $s0) (local.get $e0) (local.get $s1) (local.get $e1)
        (local.get $s2) (local.get $e2) (local.get $s3) (local.get $e3)))
    (local.set $t (i32.const 0))
    (block $steps_done
      (loop $each_step
        (br_if $steps_done (i32.ge_u (local.get $t) (local.get $steps)))
        (local.set $p
          (i32.add (local.get $base) (i32.mul (i32.load (i32.add (local.get $s0) (local.get $t))) (local.get $ldb))))
        (local.set $va (v128.load32_splat offset=4 (i32.add (local.get $s0) (local.get $t))))
        (local.set $a0 (f32x4.relaxed_madd (local.get $va) (v128.load (local.get $p)) (local.get $a0)))
        (local.set $a1 (f32x4.relaxed_madd (local.get $va) (v128.load offset=16 (local.get $p)) (local.get $a1)))
        (local.set $p
          (i32.add (local.get $base) (i32.mul (i32.load (i32.add (local.get $s1) (local.get $t))) (local.get $ldb))))
        (local.set $va (v128.load32_splat offset=4 (i32.add (local.get $s1) (local.get $t))))
        (local.set $b0 (f32x4.relaxed_madd (local.get $va) (v128.load (local.get $p)) (local.get $b0)))
        (local.set $b1 (f32x4.relaxed_madd (local.get $va) (v128.load offset=16 (local.get $p)) (local.get $b1)))
        (local.set $p
          (i32.add (local.get $base) (i32.mul (i32.load (i32.add (local.get $s2) (local.get $t))) (local.get $ldb))))
        (local.set $va (v128.load32_splat offset=4 (i32.add (local.get $s2) (local.get $t))))
        (local.set $d0 (f32x4.relaxed_madd (local.get $va) (v128.load (local.get $p)) (local.get $d0)))
        (local.set $d1 (f32x4.relaxed_madd (local.get $va) (v128.load offset=16 (local.get $p)) (local.get $d1)))
        (local.set $p
          (i32.add (local.get $base) (i32.mul (i32.load (i32.add (local.get $s3) (local.get $t))) (local.get $ldb))))
        (local.set $va (v128.load32_splat offset=4 (i32.add (local.get $s3) (local.get $t))))
        (local.set $f0 (f32x4.relaxed_madd (local.get $va) (v128.load (local.get $p)) (local.get $f0)))
        (local.set $f1 (f32x4.relaxed_madd (local.get $va) (v128.load offset=16 (local.get $p)) (local.get $f1)))
        (local.set $t (i32.add (local.get $t) (i32.const 8)))
        (br $each_step)))
    (call $tail8 (i32.add (local.get $s0) (local.get $steps)) (local.get $e0) (local.get $base) (local.get $ldb) (local.get $a0) (local.get $a1))
    (local.set $a1) (local.set $a0)
    (call $tail8 (i32.add (local.get $s1) (local.get $steps)) (local.get $e1) (local.get $base) (local.get $ldb) (local.get $b0) (local.get $b1))
    (local.set $b1) (local.set $b0)
    (call $tail8 (i32.add (local.get $s2) (local.get $steps)) (local.get $e2) (local.get $base) (local.get $ldb) (local.get $d0) (local.get $d1))
    (local.set $d1) (local.set $d0)
    (call $tail8 (i32.add (local.get $s3) (local.get $steps)) (local.get $e3) (local.get $base) (local.get $ldb) (local.get $f0) (local.get $f1))
    (local.set $f1) (local.set $f0)
    (v128.store (local.get $c0) (local.get $a0))
    (v128.store offset=16 (local.get $c0) (local.get $a1))
    (v128.store (local.get $c1) (local.get $b0))
    (v128.store offset=16 (local.get $c1) (local.get $b1))
    (v128.store (local.get $c2) (local.get $d0))
    (v128.store offset=16 (local.get $c2) (local.get $d1))
    (v128.store (local.get $c3) (local.get $f0))
    (v128.store offset=16 (local.get $c3) (local.get $f1)))
  ;; rows4x4: 4 columns of four rows, as rows4x8.
  (func $rows4x4
    (param $s0 i32) (param $e0 i32) (param $s1 i32) (param $e1 i32)
    (param $s2 i32) (param $e2 i32) (param $s3 i32) (param $e3 i32)
    (param $base i32) (param $ldb i32) (param $c0 i32) (param $c1 i32) (param $c2 i32) (param $c3 i32)
    (local $steps i32) (local $t i32) (local $a v128) (local $b v128) (local $d v128) (local $f v128)
    (local.set $steps
      (call $shortest (local.get $s0) (local.get $e0) (local.get $s1) (local.get $e1)
        (local.get $s2) (local.get $e2) (local.get $s3) (local.get $e3)))
    (local.set $t (i32.const 0))
    (block $steps_done
      (loop $each_step
        (br_if $steps_done (i32.ge_u (local.get $t) (local.get $steps)))
        (local.set $a
          (f32x4.relaxed_madd
            (v128.load32_splat offset=4 (i32.add (local.get $s0) (local.get $t)))
            (v128.load (i32.add (local.get $base) (i32.mul (i32.load (i32.add (local.get $s0) (local.get $t))) (local.get $ldb))))
            (local.get $a)))
        (local.set $b
          (f32x4.relaxed_madd
            (v128.load32_splat offset=4 (i32.add (local.get $s1) (local.get $t)))
            (v128.load (i32.add (local.get $base) (i32.mul (i32.load (i32.add (local.get $s1) (local.get $t))) (local.get $ldb))))
            (local.get $b)))
        (local.set $d
          (f32x4.relaxed_madd
            (v128.load32_splat offset=4 (i32.add (local.get $s2) (local.get $t)))
            (v128.load (i32.add (local.get $base) (i32.mul (i32.load (i32.add (local.get $s2) (local.get $t))) (local.get $ldb))))
            (local.get $d)))
        (local.set $f
          (f32x4.relaxed_madd
            (v128.load32_splat offset=4 (i32.add (local.get $s3) (local.get $t)))
            (v128.load (i32.add (local.get $base) (i32.mul (i32.load (i32.add (local.get $s3) (local.get $t))) (local.get $ldb))))
            (local.get $f)))
        (local.set $t (i32.add (local.get $t) (i32.const 8)))
        (br $each_step)))
    (v128.store (local.get $c0)
      (call $tail4 (i32.add (local.get $s0) (local.get $steps)) (local.get $e0) (local.get $base) (local.get $ldb) (local.get $a)))
    (v128.store (local.get $c1)
      (call $tail4 (i32.add (local.get $s1) (local.get $steps)) (local.get $e1) (local.get $base) (local.get $ldb) (local.get $b)))
    (v128.store (local.get $c2)
      (call $tail4 (i32.add (local.get $s2) (local.get $steps)) (local.get $e2) (local.get $base) (local.get $ldb) (local.get $d)))
    (v128.store (local.get $c3)
      (call $tail4 (i32.add (local.get $s3) (local.get $steps)) (local.get $e3) (local.get $base) (local.get $ldb) (local.get $f))))
  ;; shortest(s0, e0, .., s3, e3): the fewest pair bytes of four rows.
  (func $shortest
    (param $s0 i32) (param $e0 i32) (param $s1 i32) (param $e1 i32)
    (param $s2 i32) (param $e2 i32) (param $s3 i32) (param $e3 i32) (result i32)
    (local $x i32) (local $y i32)
    (local.set $x (i32.sub (local.get $e0) (local.get $s0)))
    (local.set $y (i32.sub (local.get $e1) (local.get $s1)))
    (local.set $x (select (local.get $x) (local.get $y) (i32.lt_u (local.get $x) (local.get $y))))
    (local.set $y (i32.sub (local.get $e2) (local.get $s2)))
    (local.set $x (select (local.get $x) (local.get $y) (i32.lt_u (local.get $x) (local.get $y))))
    (local.set $y (i32.sub (local.get $e3) (local.get $s3)))
    (select (local.get $x) (local.get $y) (i32.lt_u (local.get $x) (local.get $y))))
  ;; tail16(q, e, base, ldb, v0..v3): adds the pairs q..e of one row to its 16 columns' accumulators.
  (func $tail16
    (param $q i32) (param $e i32) (param $base i32) (param $ldb i32)
    (param $v0 v128) (param $v1 v128) (param $v2 v128) (param $v3 v128) (result v128 v128 v128 v128)
    (local $p i32) (local $va v128)
    (block $pairs_done
      (loop $each_pair
        (br_if $pairs_done (i32.ge_u (local.get $q) (local.get $e)))
        (local.set $p (i32.add (local.get $base) (i32.mul (i32.load (local.get $q)) (local.get $ldb))))
        (local.set $va (v128.load32_splat offset=4 (local.get $q)))
        (local.set $v0 (f32x4.relaxed_madd (local.get $va) (v128.load (local.get $p)) (local.get $v0)))
        (local.set $v1 (f32x4.relaxed_madd (local.get $va) (v128.load offset=16 (local.get $p)) (local.get $v1)))
        (local.set $v2 (f32x4.relaxed_madd (local.get $va) (v128.load offset=32 (local.get $p)) (local.get $v2)))
        (local.set $v3 (f32x4.relaxed_madd (local.get $va) (v128.load offset=48 (local.get $p)) (local.get $v3)))
        (local.set $q (i32.add (local.get $q) (i32.const 8)))
        (br $each_pair)))
    (local.get $v0) (local.get $v1) (local.get $v2) (local.get $v3))
  ;; tail8: as tail16 for 8 columns.
  (func $tail8
    (param $q i32) (param $e i32) (param $base i32) (param $ldb i32) (param $v0 v128) (param $v1 v128)
    (result v128 v128)
    (local $p i32) (local $va v128)
    (block $pairs_done
      (loop $each_pair
        (br_if $pairs_done (i32.ge_u (local.get $q) (local.get $e)))
        (local.set $p (i32.add (local.get $base) (i32.mul (i32.load (local.get $q)) (local.get $ldb))))
        (local.set $va (v128.load32_splat offset=4 (local.get $q)))
        (local.set $v0 (f32x4.relaxed_madd (local.get $va) (v128.load (local.get $p)) (local.get $v0)))
        (local.set $v1 (f32x4.relaxed_madd (local.get $va) (v128.load offset=16 (local.get $p)) (local.get $v1)))
        (local.set $q (i32.add (local.get $q) (i32.const 8)))
        (br $each_pair)))
    (local.get $v0) (local.get $v1))
  ;; tail4: as tail16 for 4 columns.
  (func $tail4
    (param $q i32) (param $e i32) (param $base i32) (param $ldb i32) (param $v0 v128) (result v128)
    (block $pairs_done
      (loop $each_pair
        (br_if $pairs_done (i32.ge_u (local.get $q) (local.get $e)))
        (local.set $v0
          (f32x4.relaxed_madd
            (v128.load32_splat offset=4 (local.get $q))
            (v128.load (i32.add (local.get $base) (i32.mul (i32.load (local.get $q)) (local.get $ldb))))
            (local.get $v0)))
        (local.set $q (i32.add (local.get $q) (i32.const 8)))
        (br $each_pair)))
    (local.get $v0))
  ;; spmmT(K, N, ids, starts, b, c): C[col, j] += v B[p, j] for every pair (col, v) of row
  ;; ids[p], p < K (C zeroed by the caller), in chunks of 16 columns, then at most one of 8 and one
  ;; of 4 (no chain of additions here: each pair updates other elements of C). $rowb = 4 N p
  ;; (B's row p), $v0.. B's vectors.
  (func $spmmT
    (type $params6) (param $count i32) (param $n i32) (param $ids i32) (param $starts i32) (param $b i32)
    (param $c i32)
    (local $row i32) (local $rowb i32) (local $cj i32) (local $q i32) (local $qstart i32) (local $qend i32)
    (local $base i32) (local $ldb i32) (local $addr i32)
    (local $va v128) (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local.set $ldb (i32.mul (local.get $n) (i32.const 4)))
    (local.set $row (i32.const 0))
    (local.set $rowb (i32.const 0))
    (block $rows_done
      (loop $each_row
        (br_if $rows_done (i32.ge_u (local.get $row) (i32.mul (local.get $count) (i32.const 4))))
        (local.set $addr
          (i32.add
            (i32.mul (i32.load (i32.add (local.get $ids) (local.get $row))) (i32.const 4))
            (local.get $starts)))
        (local.set $qstart (i32.load (local.get $addr)))
        (local.set $qend (i32.load offset=4 (local.get $addr)))
        (local.set $cj (i32.const 0))
        (block $chunks16_done
          (loop $each_chunk16
            (br_if $chunks16_done (i32.gt_u (i32.add (local.get $cj) (i32.const 64)) (local.get $ldb)))
            (local.set $v0 (v128.load (i32.add (i32.add (local.get $b) (local.get $rowb)) (local.get $cj))))
            (local.set $v1
              (v128.load offset=16 (i32.add (i32.add (local.get $b) (local.get $rowb)) (local.get $cj))))
            (local.set $v2
              (v128.load offset=32 (i32.add (i32.add (local.get $b) (local.get $rowb)) (local.get $cj))))
            (local.set $v3
              (v128.load offset=48 (i32.add (i32.add (local.get $b) (local.get $rowb)) (local.get $cj))))
            (local.set $base (i32.add (local.get $c) (local.get $cj)))
            (local.set $q (local.get $qstart))
            (block $pairs_done
              (loop $each_pair
                (br_if $pairs_done (i32.ge_u (local.get $q) (local.get $qend)))
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
                (br $each_pair)))
            (local.set $cj (i32.add (local.get $cj) (i32.const 64)))
            (br $each_chunk16)))
        (block $no_chunk8
          (br_if $no_chunk8 (i32.gt_u (i32.add (local.get $cj) (i32.const 32)) (local.get $ldb)))
          (local.set $v0 (v128.load (i32.add (i32.add (local.get $b) (local.get $rowb)) (local.get $cj))))
          (local.set $v1
            (v128.load offset=16 (i32.add (i32.add (local.get $b) (local.get $rowb)) (local.get $cj))))
          (local.set $base (i32.add (local.get $c) (local.get $cj)))
          (local.set $q (local.get $qstart))
          (block $pairs8_done
            (loop $each_pair8
              (br_if $pairs8_done (i32.ge_u (local.get $q) (local.get $qend)))
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
              (br $each_pair8)))
          (local.set $cj (i32.add (local.get $cj) (i32.const 32))))
        (block $no_chunk4
          (br_if $no_chunk4 (i32.gt_u (i32.add (local.get $cj) (i32.const 16)) (local.get $ldb)))
          (local.set $v0 (v128.load (i32.add (i32.add (local.get $b) (local.get $rowb)) (local.get $cj))))
          (local.set $base (i32.add (local.get $c) (local.get $cj)))
          (local.set $q (local.get $qstart))
          (block $pairs4_done
            (loop $each_pair4
              (br_if $pairs4_done (i32.ge_u (local.get $q) (local.get $qend)))
              (local.set $addr
                (i32.add (local.get $base) (i32.mul (i32.load (local.get $q)) (local.get $ldb))))
              (local.set $va (v128.load32_splat offset=4 (local.get $q)))
              (v128.store
                (local.get $addr)
                (f32x4.relaxed_madd (local.get $va) (local.get $v0) (v128.load (local.get $addr))))
              (local.set $q (i32.add (local.get $q) (i32.const 8)))
              (br $each_pair4)))
          (local.set $cj (i32.add (local.get $cj) (i32.const 16))))
        (local.set $row (i32.add (local.get $row) (i32.const 4)))
        (local.set $rowb (i32.add (local.get $rowb) (local.get $ldb)))
        (br $each_row))))
  ;; gemmSeg(M, N, segK, segs, rows, stride, b, crows, bias), the product behind the
  ;; convolutions (src/kernels/conv-gemm.ts): row i of A is `segs` segments of segK floats, segment
  ;; s at rows[s stride + i] (segment-major, so a tile's four addresses are adjacent; stride >= M
  ;; lets a call take a range of a longer table); row i of C is written at crows[i]:
  ;;   C_i[j] = sum_s sum_p A_{i,s}[p] B[s segK + p, j] + bias[j]          (B: segs segK x N)
  ;; With one segment per kernel tap and the taps' input pixels as addresses (a zero row where a
  ;; tap falls in the padding), this is a convolution without an im2col copy. segs = 0 writes the
  ;; bias. $t: the segment's (then C's) four row addresses.
  (func $gemmSeg
    (type $params9) (param $m i32) (param $n i32) (param $segk i32) (param $segs i32) (param $rows i32)
    (param $stride i32) (param $b i32) (param $crows i32) (param $bias i32)
    (local $i0 i32) (local $j0 i32) (local $pa i32) (local $r0 i32) (local $r1 i32) (local $r2 i32)
    (local $r3 i32) (local $bp i32) (local $ldb i32) (local $kb i32) (local $seg i32) (local $t i32)
    (local $acc00 v128) (local $acc01 v128) (local $acc10 v128) (local $acc11 v128) (local $acc20 v128)
    (local $acc21 v128) (local $acc30 v128) (local $acc31 v128) (local $bvec0 v128) (local $bvec1 v128)
    (local $asplat v128)
    (local.set $ldb (i32.mul (local.get $n) (i32.const 4)))
    (local.set $kb (i32.mul (local.get $segk) (i32.const 4)))
    (local.set $i0 (i32.const 0))
    (block $rows_done
      (loop $each_row_tile
        (br_if $rows_done (i32.ge_u (local.get $i0) (local.get $m)))
        (local.set $j0 (i32.const 0))
        (block $tiles8_done
          (loop $each_tile8
            (br_if $tiles8_done (i32.gt_u (i32.add (local.get $j0) (i32.const 8)) (local.get $n)))
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
            (block $segs_done
              (loop $each_seg
                (br_if $segs_done (i32.ge_u (local.get $seg) (local.get $segs)))
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
                (block $p_done
                  (loop $each_p
                    (br_if $p_done (i32.ge_u (local.get $pa) (local.get $kb)))
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
                    (br $each_p)))
                (local.set $seg (i32.add (local.get $seg) (i32.const 1)))
                (br $each_seg)))
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
            (br $each_tile8)))
        (block $no_tile4
          (br_if $no_tile4 (i32.gt_u (i32.add (local.get $j0) (i32.const 4)) (local.get $n)))
          (local.set $acc00 (v128.load (i32.add (local.get $bias) (i32.mul (local.get $j0) (i32.const 4)))))
          (local.set $acc10 (v128.load (i32.add (local.get $bias) (i32.mul (local.get $j0) (i32.const 4)))))
          (local.set $acc20 (v128.load (i32.add (local.get $bias) (i32.mul (local.get $j0) (i32.const 4)))))
          (local.set $acc30 (v128.load (i32.add (local.get $bias) (i32.mul (local.get $j0) (i32.const 4)))))
          (local.set $bp (i32.add (local.get $b) (i32.mul (local.get $j0) (i32.const 4))))
          (local.set $seg (i32.const 0))
          (block $segs4_done
            (loop $each_seg4
              (br_if $segs4_done (i32.ge_u (local.get $seg) (local.get $segs)))
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
              (block $p4_done
                (loop $each_p4
                  (br_if $p4_done (i32.ge_u (local.get $pa) (local.get $kb)))
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
                  (br $each_p4)))
              (local.set $seg (i32.add (local.get $seg) (i32.const 1)))
              (br $each_seg4)))
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
        (br $each_row_tile))))
  ;; scaleRows(M, N, arows, crows, scales): row i of C, at crows[i], = scales[i] times the N
  ;; floats at arows[i] (N a multiple of 4): gated expert outputs written to their places, zeros
  ;; elsewhere (src/ops/expert-outputs.ts). $i = 4 i, $j = 4 j.
  (func $scaleRows
    (type $params5) (param $m i32) (param $n i32) (param $arows i32) (param $crows i32) (param $scales i32)
    (local $i i32) (local $j i32) (local $d i32) (local $rowb i32) (local $a i32) (local $g v128)
    (local.set $rowb (i32.mul (local.get $n) (i32.const 4)))
    (local.set $i (i32.const 0))
    (block $rows_done
      (loop $each_row
        (br_if $rows_done (i32.ge_u (local.get $i) (i32.mul (local.get $m) (i32.const 4))))
        (local.set $d (i32.load (i32.add (local.get $crows) (local.get $i))))
        (local.set $a (i32.load (i32.add (local.get $arows) (local.get $i))))
        (local.set $g (v128.load32_splat (i32.add (local.get $scales) (local.get $i))))
        (local.set $j (i32.const 0))
        (block $columns_done
          (loop $each_column
            (br_if $columns_done (i32.ge_u (local.get $j) (local.get $rowb)))
            (v128.store
              (i32.add (local.get $d) (local.get $j))
              (f32x4.mul (local.get $g) (v128.load (i32.add (local.get $a) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $each_column)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $each_row))))
  ;; reluSums(G, n, N, h, out): out[g, j] = sum over t < n, in order, of max(h[g n + t, j], 0),
  ;; summed in float64 (h: G n x N floats, out: G x N doubles; N a multiple of 4): the two-layer
  ;; CNN's pooling (src/training/fused-cnn.ts). A NaN counts as 0, as in `h > 0 ? h : 0`. Each
  ;; patch row is added into out's row in memory (the row is in L1; no chain of additions).
  (func $reluSums
    (param $groups i32) (param $n i32) (param $cols i32) (param $h i32) (param $out i32)
    (local $g i32) (local $t i32) (local $j i32) (local $rowb i32) (local $o i32) (local $v v128)
    (local.set $rowb (i32.mul (local.get $cols) (i32.const 4)))
    (local.set $g (i32.const 0))
    (block $groups_done
      (loop $each_group
        (br_if $groups_done (i32.ge_u (local.get $g) (local.get $groups)))
        (local.set $j (i32.const 0))
        (block $zeroed
          (loop $each_zero
            (br_if $zeroed (i32.ge_u (local.get $j) (i32.mul (local.get $rowb) (i32.const 2))))
            (v128.store (i32.add (local.get $out) (local.get $j)) (v128.const i64x2 0 0))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $each_zero)))
        (local.set $t (i32.const 0))
        (block $patches_done
          (loop $each_patch
            (br_if $patches_done (i32.ge_u (local.get $t) (local.get $n)))
            (local.set $j (i32.const 0))
            (local.set $o (local.get $out))
            (block $columns_done
              (loop $each_column
                (br_if $columns_done (i32.ge_u (local.get $j) (local.get $rowb)))
                ;; pmax(0, h) = 0 < h ? h : 0
                (local.set $v (f32x4.pmax (v128.const f32x4 0 0 0 0) (v128.load (i32.add (local.get $h) (local.get $j)))))
                (v128.store (local.get $o) (f64x2.add (v128.load (local.get $o)) (f64x2.promote_low_f32x4 (local.get $v))))
                (v128.store offset=16
                  (local.get $o)
                  (f64x2.add
                    (v128.load offset=16 (local.get $o))
                    (f64x2.promote_low_f32x4
                      (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
                (local.set $j (i32.add (local.get $j) (i32.const 16)))
                (local.set $o (i32.add (local.get $o) (i32.const 32)))
                (br $each_column)))
            (local.set $h (i32.add (local.get $h) (local.get $rowb)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $each_patch)))
        (local.set $out (i32.add (local.get $out) (i32.mul (local.get $rowb) (i32.const 2))))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $each_group))))
  ;; reluMask(G, n, N, h, dp, dh): dh[g n + t, j] = h[g n + t, j] > 0 ? dp[g, j] : 0 (all floats,
  ;; N a multiple of 4): the CNN's gradient back through its pooling and ReLU.
  (func $reluMask
    (param $groups i32) (param $n i32) (param $cols i32) (param $h i32) (param $dp i32) (param $dh i32)
    (local $g i32) (local $t i32) (local $j i32) (local $rowb i32)
    (local.set $rowb (i32.mul (local.get $cols) (i32.const 4)))
    (local.set $g (i32.const 0))
    (block $groups_done
      (loop $each_group
        (br_if $groups_done (i32.ge_u (local.get $g) (local.get $groups)))
        (local.set $t (i32.const 0))
        (block $patches_done
          (loop $each_patch
            (br_if $patches_done (i32.ge_u (local.get $t) (local.get $n)))
            (local.set $j (i32.const 0))
            (block $columns_done
              (loop $each_column
                (br_if $columns_done (i32.ge_u (local.get $j) (local.get $rowb)))
                (v128.store
                  (i32.add (local.get $dh) (local.get $j))
                  (v128.and
                    (v128.load (i32.add (local.get $dp) (local.get $j)))
                    (f32x4.gt (v128.load (i32.add (local.get $h) (local.get $j))) (v128.const f32x4 0 0 0 0))))
                (local.set $j (i32.add (local.get $j) (i32.const 16)))
                (br $each_column)))
            (local.set $h (i32.add (local.get $h) (local.get $rowb)))
            (local.set $dh (i32.add (local.get $dh) (local.get $rowb)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $each_patch)))
        (local.set $dp (i32.add (local.get $dp) (local.get $rowb)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $each_group))))
  ;; relocate(count, from, to, base, marker): to[i] = from[i] < 0 ? marker : from[i] + base for the
  ;; count int32s at `from`: a row table kept as offsets, placed at this call's addresses
  ;; (src/kernels/workspace.ts; -1 marks the zero or scratch row). Four at a time, then the rest.
  (func $relocate
    (param $count i32) (param $from i32) (param $to i32) (param $base i32) (param $marker i32)
    (local $i i32) (local $end i32) (local $v v128) (local $bases v128) (local $markers v128) (local $e i32)
    (local.set $bases (i32x4.splat (local.get $base)))
    (local.set $markers (i32x4.splat (local.get $marker)))
    (local.set $end (i32.mul (i32.and (local.get $count) (i32.const -4)) (i32.const 4)))
    (local.set $i (i32.const 0))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $v (v128.load (i32.add (local.get $from) (local.get $i))))
        (v128.store
          (i32.add (local.get $to) (local.get $i))
          (v128.bitselect
            (local.get $markers)
            (i32x4.add (local.get $v) (local.get $bases))
            (i32x4.lt_s (local.get $v) (v128.const i32x4 0 0 0 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $each)))
    (local.set $end (i32.mul (local.get $count) (i32.const 4)))
    (block $rest_done
      (loop $each_rest
        (br_if $rest_done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $e (i32.load (i32.add (local.get $from) (local.get $i))))
        (i32.store
          (i32.add (local.get $to) (local.get $i))
          (select
            (local.get $marker)
            (i32.add (local.get $e) (local.get $base))
            (i32.lt_s (local.get $e) (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $each_rest))))
  ;; sgdStep(count, w, g, rate): w[i] += rate g[i] for the count floats at w and g (count a multiple
  ;; of 4), rounded after the multiply and again after the add, as tf.train.sgd's float32 update
  ;; (so no fused multiply-add here).
  (func $sgdStep
    (param $count i32) (param $w i32) (param $g i32) (param $rate f32)
    (local $i i32) (local $end i32) (local $r v128)
    (local.set $r (f32x4.splat (local.get $rate)))
    (local.set $end (i32.mul (local.get $count) (i32.const 4)))
    (local.set $i (i32.const 0))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (v128.store
          (i32.add (local.get $w) (local.get $i))
          (f32x4.add
            (v128.load (i32.add (local.get $w) (local.get $i)))
            (f32x4.mul (local.get $r) (v128.load (i32.add (local.get $g) (local.get $i))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $each))))
  (export "gemm" (func $gemm))
  (export "gemmT" (func $gemmT))
  (export "spmm" (func $spmm))
  (export "spmmT" (func $spmmT))
  (export "gemmSeg" (func $gemmSeg))
  (export "scaleRows" (func $scaleRows))
  (export "reluSums" (func $reluSums))
  (export "reluMask" (func $reluMask))
  (export "relocate" (func $relocate))
  (export "sgdStep" (func $sgdStep)))
