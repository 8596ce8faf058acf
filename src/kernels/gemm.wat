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
  ;; Columns run in chunks of 16, then at most one of 8 and one of 4, so that several accumulators
  ;; hide the add latency. Both sum in the dense kernels' order, and a zero term adds nothing: the
  ;; same floats as gemm / gemmT on the dense matrix.
  ;;
  ;; spmm(M, N, ids, starts, b, c): C[i, j] = sum over row ids[i]'s pairs (col, v) of v B[col, j]
  ;; (C: M x N). $row = 4 i, $rowb = 4 N i (C's row i), $cj = 4 j0, $q walks the pairs,
  ;; $v0.. the chunk's accumulators.
  (func $spmm
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
            (local.set $v0 (v128.const i32x4 0 0 0 0))
            (local.set $v1 (v128.const i32x4 0 0 0 0))
            (local.set $v2 (v128.const i32x4 0 0 0 0))
            (local.set $v3 (v128.const i32x4 0 0 0 0))
            (local.set $base (i32.add (local.get $b) (local.get $cj)))
            (local.set $q (local.get $qstart))
            (block $pairs_done
              (loop $each_pair
                (br_if $pairs_done (i32.ge_u (local.get $q) (local.get $qend)))
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
                (br $each_pair)))
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
            (br $each_chunk16)))
        (block $no_chunk8
          (br_if $no_chunk8 (i32.gt_u (i32.add (local.get $cj) (i32.const 32)) (local.get $ldb)))
          (local.set $v0 (v128.const i32x4 0 0 0 0))
          (local.set $v1 (v128.const i32x4 0 0 0 0))
          (local.set $base (i32.add (local.get $b) (local.get $cj)))
          (local.set $q (local.get $qstart))
          (block $pairs8_done
            (loop $each_pair8
              (br_if $pairs8_done (i32.ge_u (local.get $q) (local.get $qend)))
              (local.set $addr
                (i32.add (local.get $base) (i32.mul (i32.load (local.get $q)) (local.get $ldb))))
              (local.set $va (v128.load32_splat offset=4 (local.get $q)))
              (local.set $v0
                (f32x4.relaxed_madd (local.get $va) (v128.load (local.get $addr)) (local.get $v0)))
              (local.set $v1
                (f32x4.relaxed_madd (local.get $va) (v128.load offset=16 (local.get $addr)) (local.get $v1)))
              (local.set $q (i32.add (local.get $q) (i32.const 8)))
              (br $each_pair8)))
          (v128.store (i32.add (i32.add (local.get $c) (local.get $rowb)) (local.get $cj)) (local.get $v0))
          (v128.store offset=16
            (i32.add (i32.add (local.get $c) (local.get $rowb)) (local.get $cj))
            (local.get $v1))
          (local.set $cj (i32.add (local.get $cj) (i32.const 32))))
        (block $no_chunk4
          (br_if $no_chunk4 (i32.gt_u (i32.add (local.get $cj) (i32.const 16)) (local.get $ldb)))
          (local.set $v0 (v128.const i32x4 0 0 0 0))
          (local.set $base (i32.add (local.get $b) (local.get $cj)))
          (local.set $q (local.get $qstart))
          (block $pairs4_done
            (loop $each_pair4
              (br_if $pairs4_done (i32.ge_u (local.get $q) (local.get $qend)))
              (local.set $addr
                (i32.add (local.get $base) (i32.mul (i32.load (local.get $q)) (local.get $ldb))))
              (local.set $va (v128.load32_splat offset=4 (local.get $q)))
              (local.set $v0
                (f32x4.relaxed_madd (local.get $va) (v128.load (local.get $addr)) (local.get $v0)))
              (local.set $q (i32.add (local.get $q) (i32.const 8)))
              (br $each_pair4)))
          (v128.store (i32.add (i32.add (local.get $c) (local.get $rowb)) (local.get $cj)) (local.get $v0))
          (local.set $cj (i32.add (local.get $cj) (i32.const 16))))
        (local.set $row (i32.add (local.get $row) (i32.const 4)))
        (local.set $rowb (i32.add (local.get $rowb) (local.get $ldb)))
        (br $each_row))))
  ;; spmmT(K, N, ids, starts, b, c): C[col, j] += v B[p, j] for every pair (col, v) of row
  ;; ids[p], p < K (C zeroed by the caller). $rowb = 4 N p (B's row p), $v0.. B's vectors.
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
  (export "gemm" (func $gemm))
  (export "gemmT" (func $gemmT))
  (export "spmm" (func $spmm))
  (export "spmmT" (func $spmmT))
  (export "gemmSeg" (func $gemmSeg))
  (export "scaleRows" (func $scaleRows)))
