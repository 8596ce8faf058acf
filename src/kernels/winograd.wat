;; Winograd convolutions F(2x2, 3x3) and F(4x4, 3x3) (Lavin and Gray, "Fast Algorithms for
;; Convolutional Neural Networks", 2016): 3x3 stride-1 convolutions, NHWC, f32, every pointer a
;; byte address in the imported memory. Driven by src/kernels/winograd-conv.ts; docs/kernels.md
;; has the numerical error of each tile size.
;;
;; With m the output tile side (2 or 4) and t = m + 2 the input tile side, a convolution of x with
;; g computes each m x m output tile from the t x t input window under it:
;;   Y = A^T [ U (.) V ] A,  U = G g G^T (per input and output channel), V = B^T d B (per input channel)
;; where (.) is the elementwise product over the t^2 points xi, summed over input channels: for each
;; xi one matrix product [tiles, ci] x [ci, co]. Per output pixel that is t^2 / m^2 multiply-adds per
;; channel pair against direct convolution's 9: 2.25x fewer for m = 2, 4x for m = 4. The filter
;; gradient is the adjoint: dU = (A dY A^T) (.) V summed over tiles (for each xi a product
;; V^T [ci, tiles] x dM [tiles, co]), then dg = G^T dU G. The transforms (points 0, 1, -1, 2, -2, inf):
;;   F(2x2,3x3): B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2;
;;               0 0 1], A^T = [1 1 1 0; 0 1 -1 -1]
;;   F(4x4,3x3): B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
;;               0 4 0 -5 0 1], G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6;
;;               1/24 -1/12 1/6; 0 0 1], A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
;; Each 2-D transform is its 1-D transform on every column, then on every row, four channels to a
;; vector (NHWC keeps a pixel's channels together). Channel counts must be multiples of 4 (the
;; callers pad).
;;
;; Tiles are numbered image by image, row-major over the output's tile grid; a driver call takes a
;; range of tiles (two threads take halves), in blocks of nb tiles whose transformed inputs and
;; products stay in cache: V [t^2][nb][ci], M [t^2][nb][co] (point-major, so that each point's
;; product reads contiguous rows; each point's matrix 64 bytes past the last one's end, because a
;; transform reads one vector of each of the t^2 points, and at strides of a power of two those
;; fall into a few of the L1 cache's sets: 1.5-2x slower where nb ci was 512 or 1024). A tile is
;; computed the same way whatever block or thread takes it, so results do not depend on the
;; split. Windows that reach past the input's edges are copied into a zero-padded buffer first.
;;
;; A call's parameters are a block of i32 fields at $p (byte offsets):
;;   0 m, 4 batch, 8 inH, 12 inW, 16 ci, 20 outH, 24 outW, 28 co, 32 top, 36 left (the window of
;;   output (y, x) starts at input (y - top, x - left)), 40 x, 44 u (forward: the transformed filter
;;   [t^2][ci][co]; filter gradient: dy), 48 bias [co] (filter gradient: the partial sums),
;;   52 out, 56 tileStart, 60 tileEnd, 64 nb (a multiple of 4), 68 scratch (16-byte aligned:
;;   t^2 (nb (ci + co) + 32) + t^2 max(ci, co) floats), 72 chunkTiles (filter gradient).
;; Loops are (block $x_done (loop $each_x (br_if $x_done <end reached>) ... (br $each_x))).
(module
  (import "env" "memory" (memory 1))
  ;; inputTile4(src, rs, ps, cib, dst, plane): V = B^T d B of one 6x6 window for each group of four
  ;; channels. The window's pixel (r, k) is at src + r rs + k ps; cib = 4 ci. Point xi of channel
  ;; group c goes to dst + xi plane + c. Columns first (into the points' slots), then each row of
  ;; slots in place.
  (func $inputTile4
    (param $src i32) (param $rs i32) (param $ps i32) (param $cib i32) (param $dst i32) (param $plane i32)
    (local $c i32) (local $k i32) (local $a i32) (local $w i32) (local $step i32)
    (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128) (local $d4 v128) (local $d5 v128)
    (local $t1 v128) (local $t2 v128) (local $c2 v128) (local $cm2 v128) (local $c4 v128) (local $cm4 v128)
    (local $cm5 v128)
    (local.set $c2 (v128.const f32x4 2 2 2 2))
    (local.set $cm2 (v128.const f32x4 -2 -2 -2 -2))
    (local.set $c4 (v128.const f32x4 4 4 4 4))
    (local.set $cm4 (v128.const f32x4 -4 -4 -4 -4))
    (local.set $cm5 (v128.const f32x4 -5 -5 -5 -5))
    (local.set $step (i32.mul (local.get $plane) (i32.const 6)))
    (local.set $c (i32.const 0))
    (block $c_done
      (loop $each_c
        (br_if $c_done (i32.ge_u (local.get $c) (local.get $cib)))
        (local.set $k (i32.const 0))
        (block $cols_done
          (loop $each_col
            (br_if $cols_done (i32.ge_u (local.get $k) (i32.const 6)))
            (local.set $a
              (i32.add (i32.add (local.get $src) (local.get $c)) (i32.mul (local.get $k) (local.get $ps))))
            (local.set $d0 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $rs)))
            (local.set $d1 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $rs)))
            (local.set $d2 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $rs)))
            (local.set $d3 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $rs)))
            (local.set $d4 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $rs)))
            (local.set $d5 (v128.load (local.get $a)))
            (local.set $w
              (i32.add (i32.add (local.get $dst) (local.get $c)) (i32.mul (local.get $k) (local.get $plane))))
            (v128.store (local.get $w)
              (f32x4.relaxed_madd (local.get $d0) (local.get $c4)
                (f32x4.relaxed_madd (local.get $d2) (local.get $cm5) (local.get $d4))))
            (local.set $w (i32.add (local.get $w) (local.get $step)))
            (v128.store (local.get $w)
              (f32x4.relaxed_madd (f32x4.add (local.get $d1) (local.get $d2)) (local.get $cm4)
                (f32x4.add (local.get $d3) (local.get $d4))))
            (local.set $w (i32.add (local.get $w) (local.get $step)))
            (v128.store (local.get $w)
              (f32x4.relaxed_madd (f32x4.sub (local.get $d1) (local.get $d2)) (local.get $c4)
                (f32x4.sub (local.get $d4) (local.get $d3))))
            (local.set $t1 (f32x4.sub (local.get $d3) (local.get $d1)))
            (local.set $t2 (f32x4.sub (local.get $d4) (local.get $d2)))
            (local.set $w (i32.add (local.get $w) (local.get $step)))
            (v128.store (local.get $w) (f32x4.relaxed_madd (local.get $t1) (local.get $c2) (local.get $t2)))
            (local.set $w (i32.add (local.get $w) (local.get $step)))
            (v128.store (local.get $w) (f32x4.relaxed_madd (local.get $t1) (local.get $cm2) (local.get $t2)))
            (local.set $w (i32.add (local.get $w) (local.get $step)))
            (v128.store (local.get $w)
              (f32x4.relaxed_madd (local.get $d1) (local.get $c4)
                (f32x4.relaxed_madd (local.get $d3) (local.get $cm5) (local.get $d5))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $each_col)))
        (local.set $k (i32.const 0))
        (block $rows_done
          (loop $each_row
            (br_if $rows_done (i32.ge_u (local.get $k) (i32.const 6)))
            (local.set $w
              (i32.add (i32.add (local.get $dst) (local.get $c)) (i32.mul (local.get $k) (local.get $step))))
            (local.set $a (local.get $w))
            (local.set $d0 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $plane)))
            (local.set $d1 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $plane)))
            (local.set $d2 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $plane)))
            (local.set $d3 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $plane)))
            (local.set $d4 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $plane)))
            (local.set $d5 (v128.load (local.get $a)))
            (v128.store (local.get $w)
              (f32x4.relaxed_madd (local.get $d0) (local.get $c4)
                (f32x4.relaxed_madd (local.get $d2) (local.get $cm5) (local.get $d4))))
            (local.set $w (i32.add (local.get $w) (local.get $plane)))
            (v128.store (local.get $w)
              (f32x4.relaxed_madd (f32x4.add (local.get $d1) (local.get $d2)) (local.get $cm4)
                (f32x4.add (local.get $d3) (local.get $d4))))
            (local.set $w (i32.add (local.get $w) (local.get $plane)))
            (v128.store (local.get $w)
              (f32x4.relaxed_madd (f32x4.sub (local.get $d1) (local.get $d2)) (local.get $c4)
                (f32x4.sub (local.get $d4) (local.get $d3))))
            (local.set $t1 (f32x4.sub (local.get $d3) (local.get $d1)))
            (local.set $t2 (f32x4.sub (local.get $d4) (local.get $d2)))
            (local.set $w (i32.add (local.get $w) (local.get $plane)))
            (v128.store (local.get $w) (f32x4.relaxed_madd (local.get $t1) (local.get $c2) (local.get $t2)))
            (local.set $w (i32.add (local.get $w) (local.get $plane)))
            (v128.store (local.get $w) (f32x4.relaxed_madd (local.get $t1) (local.get $cm2) (local.get $t2)))
            (local.set $w (i32.add (local.get $w) (local.get $plane)))
            (v128.store (local.get $w)
              (f32x4.relaxed_madd (local.get $d1) (local.get $c4)
                (f32x4.relaxed_madd (local.get $d3) (local.get $cm5) (local.get $d5))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $each_row)))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (br $each_c))))
  ;; inputTile2(src, rs, ps, cib, dst, plane): inputTile4 for F(2x2, 3x3), 4x4 windows.
  (func $inputTile2
    (param $src i32) (param $rs i32) (param $ps i32) (param $cib i32) (param $dst i32) (param $plane i32)
    (local $c i32) (local $k i32) (local $a i32) (local $w i32) (local $step i32)
    (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128)
    (local.set $step (i32.mul (local.get $plane) (i32.const 4)))
    (local.set $c (i32.const 0))
    (block $c_done
      (loop $each_c
        (br_if $c_done (i32.ge_u (local.get $c) (local.get $cib)))
        (local.set $k (i32.const 0))
        (block $cols_done
          (loop $each_col
            (br_if $cols_done (i32.ge_u (local.get $k) (i32.const 4)))
            (local.set $a
              (i32.add (i32.add (local.get $src) (local.get $c)) (i32.mul (local.get $k) (local.get $ps))))
            (local.set $d0 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $rs)))
            (local.set $d1 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $rs)))
            (local.set $d2 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $rs)))
            (local.set $d3 (v128.load (local.get $a)))
            (local.set $w
              (i32.add (i32.add (local.get $dst) (local.get $c)) (i32.mul (local.get $k) (local.get $plane))))
            (v128.store (local.get $w) (f32x4.sub (local.get $d0) (local.get $d2)))
            (local.set $w (i32.add (local.get $w) (local.get $step)))
            (v128.store (local.get $w) (f32x4.add (local.get $d1) (local.get $d2)))
            (local.set $w (i32.add (local.get $w) (local.get $step)))
            (v128.store (local.get $w) (f32x4.sub (local.get $d2) (local.get $d1)))
            (local.set $w (i32.add (local.get $w) (local.get $step)))
            (v128.store (local.get $w) (f32x4.sub (local.get $d1) (local.get $d3)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $each_col)))
        (local.set $k (i32.const 0))
        (block $rows_done
          (loop $each_row
            (br_if $rows_done (i32.ge_u (local.get $k) (i32.const 4)))
            (local.set $w
              (i32.add (i32.add (local.get $dst) (local.get $c)) (i32.mul (local.get $k) (local.get $step))))
            (local.set $a (local.get $w))
            (local.set $d0 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $plane)))
            (local.set $d1 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $plane)))
            (local.set $d2 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $plane)))
            (local.set $d3 (v128.load (local.get $a)))
            (v128.store (local.get $w) (f32x4.sub (local.get $d0) (local.get $d2)))
            (local.set $w (i32.add (local.get $w) (local.get $plane)))
            (v128.store (local.get $w) (f32x4.add (local.get $d1) (local.get $d2)))
            (local.set $w (i32.add (local.get $w) (local.get $plane)))
            (v128.store (local.get $w) (f32x4.sub (local.get $d2) (local.get $d1)))
            (local.set $w (i32.add (local.get $w) (local.get $plane)))
            (v128.store (local.get $w) (f32x4.sub (local.get $d1) (local.get $d3)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $each_row)))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (br $each_c))))
  ;; outputTile4(src, plane, cob, bias, dst, rs, ps, rows, cols): Y = A^T M A + bias of one tile
  ;; for each group of four output channels: point xi of group o at src + xi plane + o (cob = 4 co);
  ;; output pixel (r, k) at dst + r rs + k ps, written for r < rows and k < cols (a tile past the
  ;; output's edge). Columns first (into the first four slots of each column), then rows.
  (func $outputTile4
    (param $src i32) (param $plane i32) (param $cob i32) (param $bias i32) (param $dst i32) (param $rs i32)
    (param $ps i32) (param $rows i32) (param $cols i32)
    (local $o i32) (local $k i32) (local $a i32) (local $w i32) (local $step i32)
    (local $m0 v128) (local $m1 v128) (local $m2 v128) (local $m3 v128) (local $m4 v128) (local $m5 v128)
    (local $s12 v128) (local $d12 v128) (local $s34 v128) (local $d34 v128) (local $b v128)
    (local $c2 v128) (local $c4 v128) (local $c8 v128)
    (local.set $c2 (v128.const f32x4 2 2 2 2))
    (local.set $c4 (v128.const f32x4 4 4 4 4))
    (local.set $c8 (v128.const f32x4 8 8 8 8))
    (local.set $step (i32.mul (local.get $plane) (i32.const 6)))
    (local.set $o (i32.const 0))
    (block $o_done
      (loop $each_o
        (br_if $o_done (i32.ge_u (local.get $o) (local.get $cob)))
        (local.set $k (i32.const 0))
        (block $cols_done
          (loop $each_col
            (br_if $cols_done (i32.ge_u (local.get $k) (i32.const 6)))
            (local.set $w
              (i32.add (i32.add (local.get $src) (local.get $o)) (i32.mul (local.get $k) (local.get $plane))))
            (local.set $a (local.get $w))
            (local.set $m0 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $step)))
            (local.set $m1 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $step)))
            (local.set $m2 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $step)))
            (local.set $m3 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $step)))
            (local.set $m4 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $step)))
            (local.set $m5 (v128.load (local.get $a)))
            (local.set $s12 (f32x4.add (local.get $m1) (local.get $m2)))
            (local.set $d12 (f32x4.sub (local.get $m1) (local.get $m2)))
            (local.set $s34 (f32x4.add (local.get $m3) (local.get $m4)))
            (local.set $d34 (f32x4.sub (local.get $m3) (local.get $m4)))
            (v128.store (local.get $w)
              (f32x4.add (f32x4.add (local.get $m0) (local.get $s12)) (local.get $s34)))
            (local.set $w (i32.add (local.get $w) (local.get $step)))
            (v128.store (local.get $w) (f32x4.relaxed_madd (local.get $d34) (local.get $c2) (local.get $d12)))
            (local.set $w (i32.add (local.get $w) (local.get $step)))
            (v128.store (local.get $w) (f32x4.relaxed_madd (local.get $s34) (local.get $c4) (local.get $s12)))
            (local.set $w (i32.add (local.get $w) (local.get $step)))
            (v128.store (local.get $w)
              (f32x4.relaxed_madd (local.get $d34) (local.get $c8) (f32x4.add (local.get $d12) (local.get $m5))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $each_col)))
        (local.set $b (v128.load (i32.add (local.get $bias) (local.get $o))))
        (local.set $k (i32.const 0))
        (block $rows_done
          (loop $each_row
            (br_if $rows_done (i32.ge_u (local.get $k) (local.get $rows)))
            (local.set $a
              (i32.add (i32.add (local.get $src) (local.get $o)) (i32.mul (local.get $k) (local.get $step))))
            (local.set $m0 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $plane)))
            (local.set $m1 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $plane)))
            (local.set $m2 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $plane)))
            (local.set $m3 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $plane)))
            (local.set $m4 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $plane)))
            (local.set $m5 (v128.load (local.get $a)))
            (local.set $s12 (f32x4.add (local.get $m1) (local.get $m2)))
            (local.set $d12 (f32x4.sub (local.get $m1) (local.get $m2)))
            (local.set $s34 (f32x4.add (local.get $m3) (local.get $m4)))
            (local.set $d34 (f32x4.sub (local.get $m3) (local.get $m4)))
            (local.set $w
              (i32.add (i32.add (local.get $dst) (local.get $o)) (i32.mul (local.get $k) (local.get $rs))))
            (v128.store (local.get $w)
              (f32x4.add (f32x4.add (f32x4.add (local.get $m0) (local.get $s12)) (local.get $s34)) (local.get $b)))
            (if (i32.gt_u (local.get $cols) (i32.const 1))
              (then
                (v128.store (i32.add (local.get $w) (local.get $ps))
                  (f32x4.add (f32x4.relaxed_madd (local.get $d34) (local.get $c2) (local.get $d12)) (local.get $b)))))
            (if (i32.gt_u (local.get $cols) (i32.const 2))
              (then
                (v128.store (i32.add (local.get $w) (i32.mul (local.get $ps) (i32.const 2)))
                  (f32x4.add (f32x4.relaxed_madd (local.get $s34) (local.get $c4) (local.get $s12)) (local.get $b)))))
            (if (i32.gt_u (local.get $cols) (i32.const 3))
              (then
                (v128.store (i32.add (local.get $w) (i32.mul (local.get $ps) (i32.const 3)))
                  (f32x4.add
                    (f32x4.relaxed_madd (local.get $d34) (local.get $c8) (f32x4.add (local.get $d12) (local.get $m5)))
                    (local.get $b)))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $each_row)))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $each_o))))
  ;; outputTile2(...): outputTile4 for F(2x2, 3x3).
  (func $outputTile2
    (param $src i32) (param $plane i32) (param $cob i32) (param $bias i32) (param $dst i32) (param $rs i32)
    (param $ps i32) (param $rows i32) (param $cols i32)
    (local $o i32) (local $k i32) (local $a i32) (local $w i32) (local $step i32)
    (local $m0 v128) (local $m1 v128) (local $m2 v128) (local $m3 v128) (local $b v128)
    (local.set $step (i32.mul (local.get $plane) (i32.const 4)))
    (local.set $o (i32.const 0))
    (block $o_done
      (loop $each_o
        (br_if $o_done (i32.ge_u (local.get $o) (local.get $cob)))
        (local.set $k (i32.const 0))
        (block $cols_done
          (loop $each_col
            (br_if $cols_done (i32.ge_u (local.get $k) (i32.const 4)))
            (local.set $w
              (i32.add (i32.add (local.get $src) (local.get $o)) (i32.mul (local.get $k) (local.get $plane))))
            (local.set $a (local.get $w))
            (local.set $m0 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $step)))
            (local.set $m1 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $step)))
            (local.set $m2 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $step)))
            (local.set $m3 (v128.load (local.get $a)))
            (v128.store (local.get $w) (f32x4.add (f32x4.add (local.get $m0) (local.get $m1)) (local.get $m2)))
            (v128.store (i32.add (local.get $w) (local.get $step))
              (f32x4.sub (f32x4.sub (local.get $m1) (local.get $m2)) (local.get $m3)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $each_col)))
        (local.set $b (v128.load (i32.add (local.get $bias) (local.get $o))))
        (local.set $k (i32.const 0))
        (block $rows_done
          (loop $each_row
            (br_if $rows_done (i32.ge_u (local.get $k) (local.get $rows)))
            (local.set $a
              (i32.add (i32.add (local.get $src) (local.get $o)) (i32.mul (local.get $k) (local.get $step))))
            (local.set $m0 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $plane)))
            (local.set $m1 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $plane)))
            (local.set $m2 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $plane)))
            (local.set $m3 (v128.load (local.get $a)))
            (local.set $w
              (i32.add (i32.add (local.get $dst) (local.get $o)) (i32.mul (local.get $k) (local.get $rs))))
            (v128.store (local.get $w)
              (f32x4.add (f32x4.add (f32x4.add (local.get $m0) (local.get $m1)) (local.get $m2)) (local.get $b)))
            (if (i32.gt_u (local.get $cols) (i32.const 1))
              (then
                (v128.store (i32.add (local.get $w) (local.get $ps))
                  (f32x4.add (f32x4.sub (f32x4.sub (local.get $m1) (local.get $m2)) (local.get $m3)) (local.get $b)))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $each_row)))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $each_o))))
  ;; gradTile4(src, rs, ps, cob, dst, plane): dM = A dY A^T of one 4x4 tile of dy for each group of
  ;; four channels (the filter gradient's transform of dy): dy pixel (r, k) at src + r rs + k ps;
  ;; point xi of group o to dst + xi plane + o. Columns first (into slots of rows 0-5, columns
  ;; 0-3), then each row of slots in place.
  (func $gradTile4
    (param $src i32) (param $rs i32) (param $ps i32) (param $cob i32) (param $dst i32) (param $plane i32)
    (local $o i32) (local $k i32) (local $a i32) (local $w i32) (local $step i32)
    (local $y0 v128) (local $y1 v128) (local $y2 v128) (local $y3 v128)
    (local $e02 v128) (local $e13 v128) (local $p v128) (local $q v128)
    (local $c2 v128) (local $c4 v128) (local $c8 v128)
    (local.set $c2 (v128.const f32x4 2 2 2 2))
    (local.set $c4 (v128.const f32x4 4 4 4 4))
    (local.set $c8 (v128.const f32x4 8 8 8 8))
    (local.set $step (i32.mul (local.get $plane) (i32.const 6)))
    (local.set $o (i32.const 0))
    (block $o_done
      (loop $each_o
        (br_if $o_done (i32.ge_u (local.get $o) (local.get $cob)))
        (local.set $k (i32.const 0))
        (block $cols_done
          (loop $each_col
            (br_if $cols_done (i32.ge_u (local.get $k) (i32.const 4)))
            (local.set $a
              (i32.add (i32.add (local.get $src) (local.get $o)) (i32.mul (local.get $k) (local.get $ps))))
            (local.set $y0 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $rs)))
            (local.set $y1 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $rs)))
            (local.set $y2 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $rs)))
            (local.set $y3 (v128.load (local.get $a)))
            (local.set $e02 (f32x4.add (local.get $y0) (local.get $y2)))
            (local.set $e13 (f32x4.add (local.get $y1) (local.get $y3)))
            (local.set $p (f32x4.relaxed_madd (local.get $y2) (local.get $c4) (local.get $y0)))
            (local.set $q (f32x4.relaxed_madd (local.get $y3) (local.get $c8) (f32x4.mul (local.get $y1) (local.get $c2))))
            (local.set $w
              (i32.add (i32.add (local.get $dst) (local.get $o)) (i32.mul (local.get $k) (local.get $plane))))
            (v128.store (local.get $w) (local.get $y0))
            (local.set $w (i32.add (local.get $w) (local.get $step)))
            (v128.store (local.get $w) (f32x4.add (local.get $e02) (local.get $e13)))
            (local.set $w (i32.add (local.get $w) (local.get $step)))
            (v128.store (local.get $w) (f32x4.sub (local.get $e02) (local.get $e13)))
            (local.set $w (i32.add (local.get $w) (local.get $step)))
            (v128.store (local.get $w) (f32x4.add (local.get $p) (local.get $q)))
            (local.set $w (i32.add (local.get $w) (local.get $step)))
            (v128.store (local.get $w) (f32x4.sub (local.get $p) (local.get $q)))
            (local.set $w (i32.add (local.get $w) (local.get $step)))
            (v128.store (local.get $w) (local.get $y3))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $each_col)))
        (local.set $k (i32.const 0))
        (block $rows_done
          (loop $each_row
            (br_if $rows_done (i32.ge_u (local.get $k) (i32.const 6)))
            (local.set $w
              (i32.add (i32.add (local.get $dst) (local.get $o)) (i32.mul (local.get $k) (local.get $step))))
            (local.set $a (local.get $w))
            (local.set $y0 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $plane)))
            (local.set $y1 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $plane)))
            (local.set $y2 (v128.load (local.get $a)))
            (local.set $a (i32.add (local.get $a) (local.get $plane)))
            (local.set $y3 (v128.load (local.get $a)))
            (local.set $e02 (f32x4.add (local.get $y0) (local.get $y2)))
            (local.set $e13 (f32x4.add (local.get $y1) (local.get $y3)))
            (local.set $p (f32x4.relaxed_madd (local.get $y2) (local.get $c4) (local.get $y0)))
            (local.set $q (f32x4.relaxed_madd (local.get $y3) (local.get $c8) (f32x4.mul (local.get $y1) (local.get $c2))))
            (v128.store (local.get $w) (local.get $y0))
            (local.set $w (i32.add (local.get $w) (local.get $plane)))
            (v128.store (local.get $w) (f32x4.add (local.get $e02) (local.get $e13)))
            (local.set $w (i32.add (local.get $w) (local.get $plane)))
            (v128.store (local.get $w) (f32x4.sub (local.get $e02) (local.get $e13)))
            (local.set $w (i32.add (local.get $w) (local.get $plane)))
            (v128.store (local.get $w) (f32x4.add (local.get $p) (local.get $q)))
            (local.set $w (i32.add (local.get $w) (local.get $plane)))
            (v128.store (local.get $w) (f32x4.sub (local.get $p) (local.get $q)))
            (local.set $w (i32.add (local.get $w) (local.get $plane)))
            (v128.store (local.get $w) (local.get $y3))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $each_row)))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $each_o))))
  ;; gradTile2(...): gradTile4 for F(2x2, 3x3): 2x2 tiles of dy to 4x4 points.
  (func $gradTile2
    (param $src i32) (param $rs i32) (param $ps i32) (param $cob i32) (param $dst i32) (param $plane i32)
    (local $o i32) (local $k i32) (local $a i32) (local $w i32) (local $step i32)
    (local $y0 v128) (local $y1 v128)
    (local.set $step (i32.mul (local.get $plane) (i32.const 4)))
    (local.set $o (i32.const 0))
    (block $o_done
      (loop $each_o
        (br_if $o_done (i32.ge_u (local.get $o) (local.get $cob)))
        (local.set $k (i32.const 0))
        (block $cols_done
          (loop $each_col
            (br_if $cols_done (i32.ge_u (local.get $k) (i32.const 2)))
            (local.set $a
              (i32.add (i32.add (local.get $src) (local.get $o)) (i32.mul (local.get $k) (local.get $ps))))
            (local.set $y0 (v128.load (local.get $a)))
            (local.set $y1 (v128.load (i32.add (local.get $a) (local.get $rs))))
            (local.set $w
              (i32.add (i32.add (local.get $dst) (local.get $o)) (i32.mul (local.get $k) (local.get $plane))))
            (v128.store (local.get $w) (local.get $y0))
            (local.set $w (i32.add (local.get $w) (local.get $step)))
            (v128.store (local.get $w) (f32x4.add (local.get $y0) (local.get $y1)))
            (local.set $w (i32.add (local.get $w) (local.get $step)))
            (v128.store (local.get $w) (f32x4.sub (local.get $y0) (local.get $y1)))
            (local.set $w (i32.add (local.get $w) (local.get $step)))
            (v128.store (local.get $w) (f32x4.neg (local.get $y1)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $each_col)))
        (local.set $k (i32.const 0))
        (block $rows_done
          (loop $each_row
            (br_if $rows_done (i32.ge_u (local.get $k) (i32.const 4)))
            (local.set $w
              (i32.add (i32.add (local.get $dst) (local.get $o)) (i32.mul (local.get $k) (local.get $step))))
            (local.set $y0 (v128.load (local.get $w)))
            (local.set $y1 (v128.load (i32.add (local.get $w) (local.get $plane))))
            (v128.store (local.get $w) (local.get $y0))
            (local.set $w (i32.add (local.get $w) (local.get $plane)))
            (v128.store (local.get $w) (f32x4.add (local.get $y0) (local.get $y1)))
            (local.set $w (i32.add (local.get $w) (local.get $plane)))
            (v128.store (local.get $w) (f32x4.sub (local.get $y0) (local.get $y1)))
            (local.set $w (i32.add (local.get $w) (local.get $plane)))
            (v128.store (local.get $w) (f32x4.neg (local.get $y1)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $each_row)))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (br $each_o))))
  ;; window(src, rs, y0, x0, h, w, side, cib, buf): the side x side window of pixels
  ;; (y0 + r, x0 + k) of an h x w image (pixel (y, x) at src + y rs + x cib, cib bytes each),
  ;; zeros outside it, copied to buf (side x side pixels of cib bytes, row-major). Per row: zeros
  ;; up to the first column inside, the columns inside (adjacent in NHWC) copied as one run, zeros
  ;; after.
  (func $window
    (param $src i32) (param $rs i32) (param $y0 i32) (param $x0 i32) (param $h i32) (param $w i32) (param $side i32)
    (param $cib i32) (param $buf i32)
    (local $r i32) (local $y i32) (local $first i32) (local $end i32) (local $at i32) (local $to i32)
    (local $from i32) (local $rowEnd i32)
    ;; Columns k inside: max(0, -x0) <= k < min(side, w - x0), as byte offsets into a row of buf.
    (local.set $first (i32.sub (i32.const 0) (local.get $x0)))
    (if (i32.lt_s (local.get $first) (i32.const 0)) (then (local.set $first (i32.const 0))))
    (local.set $end (i32.sub (local.get $w) (local.get $x0)))
    (if (i32.gt_s (local.get $end) (local.get $side)) (then (local.set $end (local.get $side))))
    (if (i32.lt_s (local.get $end) (local.get $first)) (then (local.set $end (local.get $first))))
    (local.set $first (i32.mul (local.get $first) (local.get $cib)))
    (local.set $end (i32.mul (local.get $end) (local.get $cib)))
    (local.set $r (i32.const 0))
    (block $rows_done
      (loop $each_row
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $side)))
        (local.set $y (i32.add (local.get $y0) (local.get $r)))
        (local.set $rowEnd (i32.add (local.get $buf) (i32.mul (local.get $side) (local.get $cib))))
        (local.set $to (local.get $buf))
        ;; unsigned compare: a negative row is a large one
        (if (i32.lt_u (local.get $y) (local.get $h))
          (then
            (block $left_done
              (loop $each_left
                (br_if $left_done (i32.ge_u (local.get $to) (i32.add (local.get $buf) (local.get $first))))
                (v128.store (local.get $to) (v128.const i32x4 0 0 0 0))
                (local.set $to (i32.add (local.get $to) (i32.const 16)))
                (br $each_left)))
            (local.set $from
              (i32.add
                (local.get $src)
                (i32.add (i32.mul (local.get $y) (local.get $rs)) (i32.mul (local.get $x0) (local.get $cib)))))
            (local.set $from (i32.add (local.get $from) (local.get $first)))
            (local.set $at (i32.add (local.get $buf) (local.get $end)))
            (block $inside_done
              (loop $each_inside
                (br_if $inside_done (i32.ge_u (local.get $to) (local.get $at)))
                (v128.store (local.get $to) (v128.load (local.get $from)))
                (local.set $to (i32.add (local.get $to) (i32.const 16)))
                (local.set $from (i32.add (local.get $from) (i32.const 16)))
                (br $each_inside)))))
        (block $zeros_done
          (loop $each_zero
            (br_if $zeros_done (i32.ge_u (local.get $to) (local.get $rowEnd)))
            (v128.store (local.get $to) (v128.const i32x4 0 0 0 0))
            (local.set $to (i32.add (local.get $to) (i32.const 16)))
            (br $each_zero)))
        (local.set $buf (local.get $rowEnd))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $each_row))))
  ;; blockGemm(M, N, K, a, lda, b, c): C[i, j] = sum_p A[i, p] B[p, j], row i of A at a + i lda,
  ;; B [K, N] and C [M, N] contiguous; M and N multiples of 4. gemm.wat's register tiles (4 rows by
  ;; 8 columns, then one of 4) on rows at a fixed stride.
  (func $blockGemm
    (param $m i32) (param $n i32) (param $k i32) (param $a i32) (param $lda i32) (param $b i32) (param $c i32)
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
        (local.set $r0 (i32.add (local.get $a) (i32.mul (local.get $i0) (local.get $lda))))
        (local.set $r1 (i32.add (local.get $r0) (local.get $lda)))
        (local.set $r2 (i32.add (local.get $r1) (local.get $lda)))
        (local.set $r3 (i32.add (local.get $r2) (local.get $lda)))
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
          (v128.store (local.get $cp) (local.get $acc30)))
        (local.set $i0 (i32.add (local.get $i0) (i32.const 4)))
        (br $each_row_tile))))
  ;; blockGemmT(M, N, K, a, b, c): C[i, j] += sum_p A[p, i] B[p, j] over K rows, A [K, M],
  ;; B [K, N] and C [M, N] contiguous; M and N multiples of 4 (gemm.wat's gemmT, accumulating).
  (func $blockGemmT
    (param $m i32) (param $n i32) (param $k i32) (param $a i32) (param $b i32) (param $c i32)
    (local $i0 i32) (local $j0 i32) (local $p i32) (local $ap i32) (local $bp i32) (local $lda i32)
    (local $ldb i32) (local $cp i32)
    (local $acc00 v128) (local $acc01 v128) (local $acc10 v128) (local $acc11 v128) (local $acc20 v128)
    (local $acc21 v128) (local $acc30 v128) (local $acc31 v128) (local $bvec0 v128) (local $bvec1 v128)
    (local $asplat v128)
    (local.set $lda (i32.mul (local.get $m) (i32.const 4)))
    (local.set $ldb (i32.mul (local.get $n) (i32.const 4)))
    (local.set $i0 (i32.const 0))
    (block $rows_done
      (loop $each_row_tile
        (br_if $rows_done (i32.ge_u (local.get $i0) (local.get $m)))
        (local.set $j0 (i32.const 0))
        (block $tiles8_done
          (loop $each_tile8
            (br_if $tiles8_done (i32.gt_u (i32.add (local.get $j0) (i32.const 8)) (local.get $n)))
            (local.set $cp
              (i32.add
                (local.get $c)
                (i32.mul (i32.add (i32.mul (local.get $i0) (local.get $n)) (local.get $j0)) (i32.const 4))))
            (local.set $acc00 (v128.load (local.get $cp)))
            (local.set $acc01 (v128.load offset=16 (local.get $cp)))
            (local.set $acc10 (v128.load (i32.add (local.get $cp) (local.get $ldb))))
            (local.set $acc11 (v128.load offset=16 (i32.add (local.get $cp) (local.get $ldb))))
            (local.set $acc20 (v128.load (i32.add (local.get $cp) (i32.mul (local.get $ldb) (i32.const 2)))))
            (local.set $acc21 (v128.load offset=16 (i32.add (local.get $cp) (i32.mul (local.get $ldb) (i32.const 2)))))
            (local.set $acc30 (v128.load (i32.add (local.get $cp) (i32.mul (local.get $ldb) (i32.const 3)))))
            (local.set $acc31 (v128.load offset=16 (i32.add (local.get $cp) (i32.mul (local.get $ldb) (i32.const 3)))))
            (local.set $ap (i32.add (local.get $a) (i32.mul (local.get $i0) (i32.const 4))))
            (local.set $bp (i32.add (local.get $b) (i32.mul (local.get $j0) (i32.const 4))))
            (local.set $p (i32.const 0))
            (block $p_done
              (loop $each_p
                (br_if $p_done (i32.ge_u (local.get $p) (local.get $k)))
                (local.set $bvec0 (v128.load (local.get $bp)))
                (local.set $bvec1 (v128.load offset=16 (local.get $bp)))
                (local.set $asplat (v128.load32_splat (local.get $ap)))
                (local.set $acc00
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc00)))
                (local.set $acc01
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec1) (local.get $acc01)))
                (local.set $asplat (v128.load32_splat offset=4 (local.get $ap)))
                (local.set $acc10
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc10)))
                (local.set $acc11
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec1) (local.get $acc11)))
                (local.set $asplat (v128.load32_splat offset=8 (local.get $ap)))
                (local.set $acc20
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc20)))
                (local.set $acc21
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec1) (local.get $acc21)))
                (local.set $asplat (v128.load32_splat offset=12 (local.get $ap)))
                (local.set $acc30
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc30)))
                (local.set $acc31
                  (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec1) (local.get $acc31)))
                (local.set $ap (i32.add (local.get $ap) (local.get $lda)))
                (local.set $bp (i32.add (local.get $bp) (local.get $ldb)))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $each_p)))
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
            (local.set $j0 (i32.add (local.get $j0) (i32.const 8)))
            (br $each_tile8)))
        (block $no_tile4
          (br_if $no_tile4 (i32.gt_u (i32.add (local.get $j0) (i32.const 4)) (local.get $n)))
          (local.set $cp
            (i32.add
              (local.get $c)
              (i32.mul (i32.add (i32.mul (local.get $i0) (local.get $n)) (local.get $j0)) (i32.const 4))))
          (local.set $acc00 (v128.load (local.get $cp)))
          (local.set $acc10 (v128.load (i32.add (local.get $cp) (local.get $ldb))))
          (local.set $acc20 (v128.load (i32.add (local.get $cp) (i32.mul (local.get $ldb) (i32.const 2)))))
          (local.set $acc30 (v128.load (i32.add (local.get $cp) (i32.mul (local.get $ldb) (i32.const 3)))))
          (local.set $ap (i32.add (local.get $a) (i32.mul (local.get $i0) (i32.const 4))))
          (local.set $bp (i32.add (local.get $b) (i32.mul (local.get $j0) (i32.const 4))))
          (local.set $p (i32.const 0))
          (block $p4_done
            (loop $each_p4
              (br_if $p4_done (i32.ge_u (local.get $p) (local.get $k)))
              (local.set $bvec0 (v128.load (local.get $bp)))
              (local.set $asplat (v128.load32_splat (local.get $ap)))
              (local.set $acc00
                (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc00)))
              (local.set $asplat (v128.load32_splat offset=4 (local.get $ap)))
              (local.set $acc10
                (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc10)))
              (local.set $asplat (v128.load32_splat offset=8 (local.get $ap)))
              (local.set $acc20
                (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc20)))
              (local.set $asplat (v128.load32_splat offset=12 (local.get $ap)))
              (local.set $acc30
                (f32x4.relaxed_madd (local.get $asplat) (local.get $bvec0) (local.get $acc30)))
              (local.set $ap (i32.add (local.get $ap) (local.get $lda)))
              (local.set $bp (i32.add (local.get $bp) (local.get $ldb)))
              (local.set $p (i32.add (local.get $p) (i32.const 1)))
              (br $each_p4)))
          (v128.store (local.get $cp) (local.get $acc00))
          (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
          (v128.store (local.get $cp) (local.get $acc10))
          (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
          (v128.store (local.get $cp) (local.get $acc20))
          (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
          (v128.store (local.get $cp) (local.get $acc30)))
        (local.set $i0 (i32.add (local.get $i0) (i32.const 4)))
        (br $each_row_tile))))
  ;; inputTiles(p, first, count, v): V of tiles first .. first + count - 1 of the call at $p (its
  ;; x, geometry and tile grid over the output) into v [t^2][nb][ci], tile j of the block in row j.
  ;; A window inside the image is read in place, others through the zero-padded buffer at wbuf.
  (func $inputTiles (param $p i32) (param $first i32) (param $count i32) (param $v i32) (param $wbuf i32)
    (local $m i32) (local $side i32) (local $inH i32) (local $inW i32) (local $cib i32) (local $tilesX i32)
    (local $perImage i32) (local $j i32) (local $tile i32) (local $img i32) (local $ty i32) (local $tx i32)
    (local $y0 i32) (local $x0 i32) (local $image i32) (local $rs i32) (local $src i32) (local $srs i32)
    (local $plane i32)
    (local.set $m (i32.load (local.get $p)))
    (local.set $side (i32.add (local.get $m) (i32.const 2)))
    (local.set $inH (i32.load offset=8 (local.get $p)))
    (local.set $inW (i32.load offset=12 (local.get $p)))
    (local.set $cib (i32.mul (i32.load offset=16 (local.get $p)) (i32.const 4)))
    (local.set $tilesX
      (i32.div_u (i32.add (i32.load offset=24 (local.get $p)) (i32.sub (local.get $m) (i32.const 1))) (local.get $m)))
    (local.set $perImage
      (i32.mul
        (local.get $tilesX)
        (i32.div_u (i32.add (i32.load offset=20 (local.get $p)) (i32.sub (local.get $m) (i32.const 1))) (local.get $m))))
    (local.set $rs (i32.mul (local.get $inW) (local.get $cib)))
    (local.set $plane (i32.add (i32.mul (i32.load offset=64 (local.get $p)) (local.get $cib)) (i32.const 64)))
    (local.set $j (i32.const 0))
    (block $tiles_done
      (loop $each_tile
        (br_if $tiles_done (i32.ge_u (local.get $j) (local.get $count)))
        (local.set $tile (i32.add (local.get $first) (local.get $j)))
        (local.set $img (i32.div_u (local.get $tile) (local.get $perImage)))
        (local.set $tile (i32.rem_u (local.get $tile) (local.get $perImage)))
        (local.set $ty (i32.div_u (local.get $tile) (local.get $tilesX)))
        (local.set $tx (i32.rem_u (local.get $tile) (local.get $tilesX)))
        (local.set $y0 (i32.sub (i32.mul (local.get $ty) (local.get $m)) (i32.load offset=32 (local.get $p))))
        (local.set $x0 (i32.sub (i32.mul (local.get $tx) (local.get $m)) (i32.load offset=36 (local.get $p))))
        (local.set $image
          (i32.add (i32.load offset=40 (local.get $p)) (i32.mul (i32.mul (local.get $img) (local.get $inH)) (local.get $rs))))
        (if
          (i32.and
            (i32.and (i32.ge_s (local.get $y0) (i32.const 0)) (i32.ge_s (local.get $x0) (i32.const 0)))
            (i32.and
              (i32.le_s (i32.add (local.get $y0) (local.get $side)) (local.get $inH))
              (i32.le_s (i32.add (local.get $x0) (local.get $side)) (local.get $inW))))
          (then
            (local.set $src
              (i32.add
                (local.get $image)
                (i32.add (i32.mul (local.get $y0) (local.get $rs)) (i32.mul (local.get $x0) (local.get $cib)))))
            (local.set $srs (local.get $rs)))
          (else
            (call $window (local.get $image) (local.get $rs) (local.get $y0) (local.get $x0)
              (local.get $inH) (local.get $inW) (local.get $side) (local.get $cib) (local.get $wbuf))
            (local.set $src (local.get $wbuf))
            (local.set $srs (i32.mul (local.get $side) (local.get $cib)))))
        (if (i32.eq (local.get $m) (i32.const 4))
          (then
            (call $inputTile4 (local.get $src) (local.get $srs) (local.get $cib) (local.get $cib)
              (i32.add (local.get $v) (i32.mul (local.get $j) (local.get $cib))) (local.get $plane)))
          (else
            (call $inputTile2 (local.get $src) (local.get $srs) (local.get $cib) (local.get $cib)
              (i32.add (local.get $v) (i32.mul (local.get $j) (local.get $cib))) (local.get $plane))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $each_tile))))
  ;; forward(p): out = conv(x, g) + bias for the tiles tileStart .. tileEnd - 1 of the call at $p
  ;; (fields above; u = the filter transformed by transformFilter). Per block of nb tiles: the
  ;; inputs' transform, one product per point, the outputs' transform.
  (func $forward (param $p i32)
    (local $m i32) (local $points i32) (local $ci i32) (local $co i32) (local $nb i32) (local $v i32)
    (local $mm i32) (local $wbuf i32) (local $start i32) (local $end i32) (local $count i32) (local $rows i32)
    (local $xi i32) (local $j i32) (local $tile i32) (local $img i32) (local $ty i32) (local $tx i32)
    (local $tilesX i32) (local $perImage i32) (local $outH i32) (local $outW i32) (local $ors i32)
    (local $oy i32) (local $ox i32) (local $planeV i32) (local $planeM i32)
    (local.set $m (i32.load (local.get $p)))
    (local.set $points (i32.mul (i32.add (local.get $m) (i32.const 2)) (i32.add (local.get $m) (i32.const 2))))
    (local.set $ci (i32.load offset=16 (local.get $p)))
    (local.set $outH (i32.load offset=20 (local.get $p)))
    (local.set $outW (i32.load offset=24 (local.get $p)))
    (local.set $co (i32.load offset=28 (local.get $p)))
    (local.set $nb (i32.load offset=64 (local.get $p)))
    (local.set $v (i32.load offset=68 (local.get $p)))
    (local.set $planeV (i32.add (i32.mul (i32.mul (local.get $nb) (local.get $ci)) (i32.const 4)) (i32.const 64)))
    (local.set $planeM (i32.add (i32.mul (i32.mul (local.get $nb) (local.get $co)) (i32.const 4)) (i32.const 64)))
    (local.set $mm (i32.add (local.get $v) (i32.mul (local.get $points) (local.get $planeV))))
    (local.set $wbuf (i32.add (local.get $mm) (i32.mul (local.get $points) (local.get $planeM))))
    (local.set $tilesX (i32.div_u (i32.add (local.get $outW) (i32.sub (local.get $m) (i32.const 1))) (local.get $m)))
    (local.set $perImage
      (i32.mul
        (local.get $tilesX)
        (i32.div_u (i32.add (local.get $outH) (i32.sub (local.get $m) (i32.const 1))) (local.get $m))))
    (local.set $ors (i32.mul (i32.mul (local.get $outW) (local.get $co)) (i32.const 4)))
    (local.set $start (i32.load offset=56 (local.get $p)))
    (local.set $end (i32.load offset=60 (local.get $p)))
    (block $blocks_done
      (loop $each_block
        (br_if $blocks_done (i32.ge_u (local.get $start) (local.get $end)))
        (local.set $count (i32.sub (local.get $end) (local.get $start)))
        (if (i32.gt_u (local.get $count) (local.get $nb)) (then (local.set $count (local.get $nb))))
        (call $inputTiles (local.get $p) (local.get $start) (local.get $count) (local.get $v) (local.get $wbuf))
        ;; Rows up to a multiple of 4 are zeros (a short last block), so the products read no stale values.
        (local.set $rows (i32.and (i32.add (local.get $count) (i32.const 3)) (i32.const -4)))
        (local.set $xi (i32.const 0))
        (block $pad_done
          (loop $each_pad
            (br_if $pad_done (i32.ge_u (local.get $xi) (local.get $points)))
            (local.set $j (local.get $count))
            (block $zero_done
              (loop $each_zero
                (br_if $zero_done (i32.ge_u (local.get $j) (local.get $rows)))
                (memory.fill
                  (i32.add
                    (i32.add (local.get $v) (i32.mul (local.get $xi) (local.get $planeV)))
                    (i32.mul (i32.mul (local.get $j) (local.get $ci)) (i32.const 4)))
                  (i32.const 0)
                  (i32.mul (local.get $ci) (i32.const 4)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $each_zero)))
            (local.set $xi (i32.add (local.get $xi) (i32.const 1)))
            (br $each_pad)))
        (local.set $xi (i32.const 0))
        (block $points_done
          (loop $each_point
            (br_if $points_done (i32.ge_u (local.get $xi) (local.get $points)))
            (call $blockGemm (local.get $rows) (local.get $co) (local.get $ci)
              (i32.add (local.get $v) (i32.mul (local.get $xi) (local.get $planeV)))
              (i32.mul (local.get $ci) (i32.const 4))
              (i32.add (i32.load offset=44 (local.get $p)) (i32.mul (i32.mul (i32.mul (local.get $xi) (local.get $ci)) (local.get $co)) (i32.const 4)))
              (i32.add (local.get $mm) (i32.mul (local.get $xi) (local.get $planeM))))
            (local.set $xi (i32.add (local.get $xi) (i32.const 1)))
            (br $each_point)))
        (local.set $j (i32.const 0))
        (block $outs_done
          (loop $each_out
            (br_if $outs_done (i32.ge_u (local.get $j) (local.get $count)))
            (local.set $tile (i32.add (local.get $start) (local.get $j)))
            (local.set $img (i32.div_u (local.get $tile) (local.get $perImage)))
            (local.set $tile (i32.rem_u (local.get $tile) (local.get $perImage)))
            (local.set $ty (i32.div_u (local.get $tile) (local.get $tilesX)))
            (local.set $tx (i32.rem_u (local.get $tile) (local.get $tilesX)))
            (local.set $oy (i32.mul (local.get $ty) (local.get $m)))
            (local.set $ox (i32.mul (local.get $tx) (local.get $m)))
            (local.set $rows (i32.sub (local.get $outH) (local.get $oy)))
            (if (i32.gt_u (local.get $rows) (local.get $m)) (then (local.set $rows (local.get $m))))
            (local.set $tile (i32.sub (local.get $outW) (local.get $ox)))
            (if (i32.gt_u (local.get $tile) (local.get $m)) (then (local.set $tile (local.get $m))))
            (if (i32.eq (local.get $m) (i32.const 4))
              (then
                (call $outputTile4
                  (i32.add (local.get $mm) (i32.mul (i32.mul (local.get $j) (local.get $co)) (i32.const 4)))
                  (local.get $planeM) (i32.mul (local.get $co) (i32.const 4)) (i32.load offset=48 (local.get $p))
                  (i32.add
                    (i32.load offset=52 (local.get $p))
                    (i32.add
                      (i32.mul (i32.add (i32.mul (local.get $img) (local.get $outH)) (local.get $oy)) (local.get $ors))
                      (i32.mul (i32.mul (local.get $ox) (local.get $co)) (i32.const 4))))
                  (local.get $ors) (i32.mul (local.get $co) (i32.const 4)) (local.get $rows) (local.get $tile)))
              (else
                (call $outputTile2
                  (i32.add (local.get $mm) (i32.mul (i32.mul (local.get $j) (local.get $co)) (i32.const 4)))
                  (local.get $planeM) (i32.mul (local.get $co) (i32.const 4)) (i32.load offset=48 (local.get $p))
                  (i32.add
                    (i32.load offset=52 (local.get $p))
                    (i32.add
                      (i32.mul (i32.add (i32.mul (local.get $img) (local.get $outH)) (local.get $oy)) (local.get $ors))
                      (i32.mul (i32.mul (local.get $ox) (local.get $co)) (i32.const 4))))
                  (local.get $ors) (i32.mul (local.get $co) (i32.const 4)) (local.get $rows) (local.get $tile))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $each_out)))
        (local.set $start (i32.add (local.get $start) (local.get $count)))
        (br $each_block))))
  ;; filterGradient(p): the filter gradient's sums in the transformed domain, dU[xi][ci][co] =
  ;; sum over tiles of V[xi][tile][ci] dM[xi][tile][co], for tiles tileStart .. tileEnd - 1 of the
  ;; call at $p (x its input, u its dy [batch, outH, outW, co], tiles over dy). Tiles go in chunks
  ;; of chunkTiles (tileStart a multiple of it): chunk c's sums, float32, go to bias + c t^2 ci co 4
  ;; (zeroed here first), and the caller adds the chunks in float64 (sumChunks): the sums over tiles
  ;; are long, and the gradients that come through batch norm nearly cancel in them.
  (func $filterGradient (param $p i32)
    (local $m i32) (local $side i32) (local $points i32) (local $ci i32) (local $co i32) (local $nb i32)
    (local $v i32) (local $dm i32) (local $wbuf i32) (local $start i32) (local $end i32) (local $chunkEnd i32)
    (local $count i32) (local $xi i32) (local $j i32) (local $tile i32) (local $img i32) (local $ty i32)
    (local $tx i32) (local $tilesX i32) (local $perImage i32) (local $outH i32) (local $outW i32)
    (local $cob i32) (local $drs i32) (local $oy i32) (local $ox i32) (local $src i32) (local $srs i32)
    (local $planeV i32) (local $planeM i32) (local $sums i32) (local $chunk i32) (local $image i32)
    (local.set $m (i32.load (local.get $p)))
    (local.set $side (i32.add (local.get $m) (i32.const 2)))
    (local.set $points (i32.mul (local.get $side) (local.get $side)))
    (local.set $ci (i32.load offset=16 (local.get $p)))
    (local.set $outH (i32.load offset=20 (local.get $p)))
    (local.set $outW (i32.load offset=24 (local.get $p)))
    (local.set $co (i32.load offset=28 (local.get $p)))
    (local.set $cob (i32.mul (local.get $co) (i32.const 4)))
    (local.set $nb (i32.load offset=64 (local.get $p)))
    (local.set $v (i32.load offset=68 (local.get $p)))
    (local.set $chunk (i32.load offset=72 (local.get $p)))
    (local.set $planeV (i32.add (i32.mul (i32.mul (local.get $nb) (local.get $ci)) (i32.const 4)) (i32.const 64)))
    (local.set $planeM (i32.add (i32.mul (local.get $nb) (local.get $cob)) (i32.const 64)))
    (local.set $dm (i32.add (local.get $v) (i32.mul (local.get $points) (local.get $planeV))))
    (local.set $wbuf (i32.add (local.get $dm) (i32.mul (local.get $points) (local.get $planeM))))
    (local.set $tilesX (i32.div_u (i32.add (local.get $outW) (i32.sub (local.get $m) (i32.const 1))) (local.get $m)))
    (local.set $perImage
      (i32.mul
        (local.get $tilesX)
        (i32.div_u (i32.add (local.get $outH) (i32.sub (local.get $m) (i32.const 1))) (local.get $m))))
    (local.set $drs (i32.mul (local.get $outW) (local.get $cob)))
    (local.set $start (i32.load offset=56 (local.get $p)))
    (local.set $end (i32.load offset=60 (local.get $p)))
    (block $chunks_done
      (loop $each_chunk
        (br_if $chunks_done (i32.ge_u (local.get $start) (local.get $end)))
        (local.set $chunkEnd (i32.add (local.get $start) (local.get $chunk)))
        (if (i32.gt_u (local.get $chunkEnd) (local.get $end)) (then (local.set $chunkEnd (local.get $end))))
        (local.set $sums
          (i32.add
            (i32.load offset=48 (local.get $p))
            (i32.mul
              (i32.div_u (local.get $start) (local.get $chunk))
              (i32.mul (i32.mul (i32.mul (local.get $points) (local.get $ci)) (local.get $co)) (i32.const 4)))))
        (memory.fill (local.get $sums) (i32.const 0)
          (i32.mul (i32.mul (i32.mul (local.get $points) (local.get $ci)) (local.get $co)) (i32.const 4)))
        (block $blocks_done
          (loop $each_block
            (br_if $blocks_done (i32.ge_u (local.get $start) (local.get $chunkEnd)))
            (local.set $count (i32.sub (local.get $chunkEnd) (local.get $start)))
            (if (i32.gt_u (local.get $count) (local.get $nb)) (then (local.set $count (local.get $nb))))
            (call $inputTiles (local.get $p) (local.get $start) (local.get $count) (local.get $v) (local.get $wbuf))
            (local.set $j (i32.const 0))
            (block $dys_done
              (loop $each_dy
                (br_if $dys_done (i32.ge_u (local.get $j) (local.get $count)))
                (local.set $tile (i32.add (local.get $start) (local.get $j)))
                (local.set $img (i32.div_u (local.get $tile) (local.get $perImage)))
                (local.set $tile (i32.rem_u (local.get $tile) (local.get $perImage)))
                (local.set $ty (i32.div_u (local.get $tile) (local.get $tilesX)))
                (local.set $tx (i32.rem_u (local.get $tile) (local.get $tilesX)))
                (local.set $oy (i32.mul (local.get $ty) (local.get $m)))
                (local.set $ox (i32.mul (local.get $tx) (local.get $m)))
                (local.set $image
                  (i32.add
                    (i32.load offset=44 (local.get $p))
                    (i32.mul (i32.mul (local.get $img) (local.get $outH)) (local.get $drs))))
                (if
                  (i32.and
                    (i32.le_u (i32.add (local.get $oy) (local.get $m)) (local.get $outH))
                    (i32.le_u (i32.add (local.get $ox) (local.get $m)) (local.get $outW)))
                  (then
                    (local.set $src
                      (i32.add
                        (local.get $image)
                        (i32.add (i32.mul (local.get $oy) (local.get $drs)) (i32.mul (local.get $ox) (local.get $cob)))))
                    (local.set $srs (local.get $drs)))
                  (else
                    (call $window (local.get $image) (local.get $drs) (local.get $oy) (local.get $ox)
                      (local.get $outH) (local.get $outW) (local.get $m) (local.get $cob) (local.get $wbuf))
                    (local.set $src (local.get $wbuf))
                    (local.set $srs (i32.mul (local.get $m) (local.get $cob)))))
                (if (i32.eq (local.get $m) (i32.const 4))
                  (then
                    (call $gradTile4 (local.get $src) (local.get $srs) (local.get $cob) (local.get $cob)
                      (i32.add (local.get $dm) (i32.mul (local.get $j) (local.get $cob))) (local.get $planeM)))
                  (else
                    (call $gradTile2 (local.get $src) (local.get $srs) (local.get $cob) (local.get $cob)
                      (i32.add (local.get $dm) (i32.mul (local.get $j) (local.get $cob))) (local.get $planeM))))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $each_dy)))
            (local.set $xi (i32.const 0))
            (block $points_done
              (loop $each_point
                (br_if $points_done (i32.ge_u (local.get $xi) (local.get $points)))
                (call $blockGemmT (local.get $ci) (local.get $co) (local.get $count)
                  (i32.add (local.get $v) (i32.mul (local.get $xi) (local.get $planeV)))
                  (i32.add (local.get $dm) (i32.mul (local.get $xi) (local.get $planeM)))
                  (i32.add (local.get $sums) (i32.mul (i32.mul (i32.mul (local.get $xi) (local.get $ci)) (local.get $co)) (i32.const 4))))
                (local.set $xi (i32.add (local.get $xi) (i32.const 1)))
                (br $each_point)))
            (local.set $start (i32.add (local.get $start) (local.get $count)))
            (br $each_block)))
        (br $each_chunk))))
  ;; transformFilter(m, ci, co, g, u, plane, ldu, flipped, work): U = G g G^T of every (input,
  ;; output) channel pair of g [3][3][ci][co] (co a multiple of 4); plane floats from one point's
  ;; matrix to the next. Not flipped (the forward): U[xi][c][o] at u + (xi plane + c ldu + o) 4,
  ;; four output channels to a vector. Flipped (the input gradient, a convolution of dy with g
  ;; rotated by 180 degrees and its channel axes swapped): U[xi][o][c] at u + (xi plane + o ldu + c) 4,
  ;; four input channels to a vector, gathered from g (zeros past ci; ldu >= ci rounded up to 4),
  ;; so that U's rows are written whole (scattered stores of single lanes ran 2-3x slower at 320
  ;; channels). work: t^2 vectors of scratch.
  (func $transformFilter
    (param $m i32) (param $ci i32) (param $co i32) (param $g i32) (param $u i32) (param $plane i32) (param $ldu i32)
    (param $flipped i32) (param $work i32)
    (local $c i32) (local $o i32) (local $k i32) (local $a i32) (local $tapBytes i32)
    (local.set $tapBytes (i32.mul (i32.mul (local.get $ci) (local.get $co)) (i32.const 4)))
    (if (local.get $flipped)
      (then
        (local.set $o (i32.const 0))
        (block $o_done
          (loop $each_o
            (br_if $o_done (i32.ge_u (local.get $o) (local.get $co)))
            (local.set $c (i32.const 0))
            (block $c_done
              (loop $each_c
                (br_if $c_done (i32.ge_u (local.get $c) (local.get $ci)))
                ;; Column kx of the rotated filter: g's taps (2 - ky) 3 + (2 - kx) for ky = 0, 1, 2.
                (local.set $k (i32.const 0))
                (block $cols_done
                  (loop $each_col
                    (br_if $cols_done (i32.ge_u (local.get $k) (i32.const 3)))
                    (call $filter1d (local.get $m)
                      (call $gatherInputs (local.get $g) (i32.sub (i32.const 8) (local.get $k)) (local.get $c) (local.get $o) (local.get $ci) (local.get $co))
                      (call $gatherInputs (local.get $g) (i32.sub (i32.const 5) (local.get $k)) (local.get $c) (local.get $o) (local.get $ci) (local.get $co))
                      (call $gatherInputs (local.get $g) (i32.sub (i32.const 2) (local.get $k)) (local.get $c) (local.get $o) (local.get $ci) (local.get $co))
                      (i32.add (local.get $work) (i32.mul (local.get $k) (i32.const 16)))
                      (i32.mul (i32.add (local.get $m) (i32.const 2)) (i32.const 16)))
                    (local.set $k (i32.add (local.get $k) (i32.const 1)))
                    (br $each_col)))
                (call $filterRows (local.get $m) (local.get $work))
                (call $storePoints (local.get $m) (local.get $work)
                  (i32.add (local.get $u) (i32.mul (i32.add (i32.mul (local.get $o) (local.get $ldu)) (local.get $c)) (i32.const 4)))
                  (i32.mul (local.get $plane) (i32.const 4)))
                (local.set $c (i32.add (local.get $c) (i32.const 4)))
                (br $each_c)))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))
            (br $each_o))))
      (else
        (local.set $c (i32.const 0))
        (block $c_done
          (loop $each_c
            (br_if $c_done (i32.ge_u (local.get $c) (local.get $ci)))
            (local.set $o (i32.const 0))
            (block $o_done
              (loop $each_o
                (br_if $o_done (i32.ge_u (local.get $o) (local.get $co)))
                ;; Column kx: g's taps kx, 3 + kx, 6 + kx.
                (local.set $k (i32.const 0))
                (block $cols_done
                  (loop $each_col
                    (br_if $cols_done (i32.ge_u (local.get $k) (i32.const 3)))
                    (local.set $a
                      (i32.add
                        (local.get $g)
                        (i32.add
                          (i32.mul (local.get $k) (local.get $tapBytes))
                          (i32.mul (i32.add (i32.mul (local.get $c) (local.get $co)) (local.get $o)) (i32.const 4)))))
                    (call $filter1d (local.get $m)
                      (v128.load (local.get $a))
                      (v128.load (i32.add (local.get $a) (i32.mul (local.get $tapBytes) (i32.const 3))))
                      (v128.load (i32.add (local.get $a) (i32.mul (local.get $tapBytes) (i32.const 6))))
                      (i32.add (local.get $work) (i32.mul (local.get $k) (i32.const 16)))
                      (i32.mul (i32.add (local.get $m) (i32.const 2)) (i32.const 16)))
                    (local.set $k (i32.add (local.get $k) (i32.const 1)))
                    (br $each_col)))
                (call $filterRows (local.get $m) (local.get $work))
                (call $storePoints (local.get $m) (local.get $work)
                  (i32.add (local.get $u) (i32.mul (i32.add (i32.mul (local.get $c) (local.get $ldu)) (local.get $o)) (i32.const 4)))
                  (i32.mul (local.get $plane) (i32.const 4)))
                (local.set $o (i32.add (local.get $o) (i32.const 4)))
                (br $each_o)))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $each_c))))))
  ;; gatherInputs(g, tap, c, o, ci, co): [g[tap][c + l][o] for l = 0..3] of g [3][3][ci][co], zeros for c + l >= ci.
  (func $gatherInputs (param $g i32) (param $tap i32) (param $c i32) (param $o i32) (param $ci i32) (param $co i32) (result v128)
    (local $a i32) (local $stride i32) (local $v v128)
    (local.set $stride (i32.mul (local.get $co) (i32.const 4)))
    (local.set $a
      (i32.add
        (local.get $g)
        (i32.mul
          (i32.add (i32.mul (i32.add (i32.mul (local.get $tap) (local.get $ci)) (local.get $c)) (local.get $co)) (local.get $o))
          (i32.const 4))))
    (local.set $v (v128.load32_zero (local.get $a)))
    (if (i32.lt_u (i32.add (local.get $c) (i32.const 1)) (local.get $ci))
      (then (local.set $v (v128.load32_lane 1 (i32.add (local.get $a) (local.get $stride)) (local.get $v)))))
    (if (i32.lt_u (i32.add (local.get $c) (i32.const 2)) (local.get $ci))
      (then
        (local.set $v (v128.load32_lane 2 (i32.add (local.get $a) (i32.mul (local.get $stride) (i32.const 2))) (local.get $v)))))
    (if (i32.lt_u (i32.add (local.get $c) (i32.const 3)) (local.get $ci))
      (then
        (local.set $v (v128.load32_lane 3 (i32.add (local.get $a) (i32.mul (local.get $stride) (i32.const 3))) (local.get $v)))))
    (local.get $v))
  ;; filterRows(m, work): each row of the t x 3 values at work (slot (i, k) at work + (i t + k) 16,
  ;; the columns' transforms) to its t values G [row], in place.
  (func $filterRows (param $m i32) (param $work i32)
    (local $side i32) (local $k i32) (local $w i32)
    (local.set $side (i32.add (local.get $m) (i32.const 2)))
    (local.set $k (i32.const 0))
    (block $rows_done
      (loop $each_row
        (br_if $rows_done (i32.ge_u (local.get $k) (local.get $side)))
        (local.set $w (i32.add (local.get $work) (i32.mul (i32.mul (local.get $k) (local.get $side)) (i32.const 16))))
        (call $filter1d (local.get $m) (v128.load (local.get $w)) (v128.load offset=16 (local.get $w))
          (v128.load offset=32 (local.get $w)) (local.get $w) (i32.const 16))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $each_row))))
  ;; storePoints(m, work, to, stride): the t^2 vectors at work to to + xi stride.
  (func $storePoints (param $m i32) (param $work i32) (param $to i32) (param $stride i32)
    (local $xi i32) (local $points i32)
    (local.set $points (i32.mul (i32.add (local.get $m) (i32.const 2)) (i32.add (local.get $m) (i32.const 2))))
    (local.set $xi (i32.const 0))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $xi) (local.get $points)))
        (v128.store (i32.add (local.get $to) (i32.mul (local.get $xi) (local.get $stride)))
          (v128.load (i32.add (local.get $work) (i32.mul (local.get $xi) (i32.const 16)))))
        (local.set $xi (i32.add (local.get $xi) (i32.const 1)))
        (br $each))))
  ;; filter1d(m, g0, g1, g2, w, stride): the t values G [g0 g1 g2] to w + i stride.
  (func $filter1d (param $m i32) (param $g0 v128) (param $g1 v128) (param $g2 v128) (param $w i32) (param $stride i32)
    (local $s v128) (local $q v128)
    (local.set $s (f32x4.add (local.get $g0) (local.get $g2)))
    (if (i32.eq (local.get $m) (i32.const 4))
      (then
        (v128.store (local.get $w) (f32x4.mul (local.get $g0) (v128.const f32x4 0.25 0.25 0.25 0.25)))
        (local.set $w (i32.add (local.get $w) (local.get $stride)))
        (v128.store (local.get $w)
          (f32x4.mul (f32x4.add (local.get $s) (local.get $g1)) (v128.const f32x4 -0x1.555556p-3 -0x1.555556p-3 -0x1.555556p-3 -0x1.555556p-3)))
        (local.set $w (i32.add (local.get $w) (local.get $stride)))
        (v128.store (local.get $w)
          (f32x4.mul (f32x4.sub (local.get $s) (local.get $g1)) (v128.const f32x4 -0x1.555556p-3 -0x1.555556p-3 -0x1.555556p-3 -0x1.555556p-3)))
        (local.set $q
          (f32x4.relaxed_madd (local.get $g0) (v128.const f32x4 0x1.555556p-5 0x1.555556p-5 0x1.555556p-5 0x1.555556p-5)
            (f32x4.mul (local.get $g2) (v128.const f32x4 0x1.555556p-3 0x1.555556p-3 0x1.555556p-3 0x1.555556p-3))))
        (local.set $w (i32.add (local.get $w) (local.get $stride)))
        (v128.store (local.get $w)
          (f32x4.relaxed_madd (local.get $g1) (v128.const f32x4 0x1.555556p-4 0x1.555556p-4 0x1.555556p-4 0x1.555556p-4)
            (local.get $q)))
        (local.set $w (i32.add (local.get $w) (local.get $stride)))
        (v128.store (local.get $w)
          (f32x4.relaxed_madd (local.get $g1) (v128.const f32x4 -0x1.555556p-4 -0x1.555556p-4 -0x1.555556p-4 -0x1.555556p-4)
            (local.get $q)))
        (local.set $w (i32.add (local.get $w) (local.get $stride)))
        (v128.store (local.get $w) (local.get $g2)))
      (else
        (v128.store (local.get $w) (local.get $g0))
        (local.set $w (i32.add (local.get $w) (local.get $stride)))
        (v128.store (local.get $w)
          (f32x4.mul (f32x4.add (local.get $s) (local.get $g1)) (v128.const f32x4 0.5 0.5 0.5 0.5)))
        (local.set $w (i32.add (local.get $w) (local.get $stride)))
        (v128.store (local.get $w)
          (f32x4.mul (f32x4.sub (local.get $s) (local.get $g1)) (v128.const f32x4 0.5 0.5 0.5 0.5)))
        (local.set $w (i32.add (local.get $w) (local.get $stride)))
        (v128.store (local.get $w) (local.get $g2)))))
  ;; filterGradientOut(m, ci, ciOut, co, s, dw): dg = G^T dU G from the summed dU [t^2][ci][co] at s
  ;; (overwritten) to dw [3][3][ciOut][co], for input channels c < ciOut <= ci.
  (func $filterGradientOut (param $m i32) (param $ci i32) (param $ciOut i32) (param $co i32) (param $s i32) (param $dw i32)
    (local $side i32) (local $plane i32) (local $c i32) (local $o i32) (local $k i32) (local $a i32) (local $w i32)
    (local.set $side (i32.add (local.get $m) (i32.const 2)))
    (local.set $plane (i32.mul (i32.mul (local.get $ci) (local.get $co)) (i32.const 4)))
    (local.set $c (i32.const 0))
    (block $c_done
      (loop $each_c
        (br_if $c_done (i32.ge_u (local.get $c) (local.get $ciOut)))
        (local.set $o (i32.const 0))
        (block $o_done
          (loop $each_o
            (br_if $o_done (i32.ge_u (local.get $o) (local.get $co)))
            (local.set $a
              (i32.add (local.get $s) (i32.mul (i32.add (i32.mul (local.get $c) (local.get $co)) (local.get $o)) (i32.const 4))))
            ;; Columns: slots (0..t-1, k) -> slots (0..2, k); then rows 0..2 -> dw's taps.
            (local.set $k (i32.const 0))
            (block $cols_done
              (loop $each_col
                (br_if $cols_done (i32.ge_u (local.get $k) (local.get $side)))
                (local.set $w (i32.add (local.get $a) (i32.mul (local.get $k) (local.get $plane))))
                (call $gradOut1d (local.get $m) (local.get $w) (i32.mul (local.get $side) (local.get $plane))
                  (local.get $w) (i32.mul (local.get $side) (local.get $plane)))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br $each_col)))
            (local.set $k (i32.const 0))
            (block $rows_done
              (loop $each_row
                (br_if $rows_done (i32.ge_u (local.get $k) (i32.const 3)))
                (call $gradOut1d (local.get $m)
                  (i32.add (local.get $a) (i32.mul (i32.mul (local.get $k) (local.get $side)) (local.get $plane)))
                  (local.get $plane)
                  (i32.add
                    (local.get $dw)
                    (i32.mul
                      (i32.add
                        (i32.mul (i32.mul (i32.mul (local.get $k) (i32.const 3)) (local.get $ciOut)) (local.get $co))
                        (i32.add (i32.mul (local.get $c) (local.get $co)) (local.get $o)))
                      (i32.const 4)))
                  (i32.mul (i32.mul (local.get $ciOut) (local.get $co)) (i32.const 4)))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br $each_row)))
            (local.set $o (i32.add (local.get $o) (i32.const 4)))
            (br $each_o)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $each_c))))
  ;; gradOut1d(m, from, fromStride, to, toStride): the 3 values G^T [s_0 .. s_{t-1}] (s_i at
  ;; from + i fromStride) to to + j toStride; all read before any is written.
  (func $gradOut1d (param $m i32) (param $from i32) (param $fs i32) (param $to i32) (param $ts i32)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $s4 v128) (local $s5 v128)
    (local $a v128) (local $c v128)
    (local.set $s0 (v128.load (local.get $from)))
    (local.set $s1 (v128.load (i32.add (local.get $from) (local.get $fs))))
    (local.set $s2 (v128.load (i32.add (local.get $from) (i32.mul (local.get $fs) (i32.const 2)))))
    (local.set $s3 (v128.load (i32.add (local.get $from) (i32.mul (local.get $fs) (i32.const 3)))))
    (if (i32.eq (local.get $m) (i32.const 4))
      (then
        (local.set $s4 (v128.load (i32.add (local.get $from) (i32.mul (local.get $fs) (i32.const 4)))))
        (local.set $s5 (v128.load (i32.add (local.get $from) (i32.mul (local.get $fs) (i32.const 5)))))
        (local.set $a (f32x4.add (local.get $s1) (local.get $s2)))
        (local.set $c (f32x4.add (local.get $s3) (local.get $s4)))
        (v128.store (local.get $to)
          (f32x4.relaxed_madd (local.get $s0) (v128.const f32x4 0.25 0.25 0.25 0.25)
            (f32x4.relaxed_madd (local.get $a) (v128.const f32x4 -0x1.555556p-3 -0x1.555556p-3 -0x1.555556p-3 -0x1.555556p-3)
              (f32x4.mul (local.get $c) (v128.const f32x4 0x1.555556p-5 0x1.555556p-5 0x1.555556p-5 0x1.555556p-5)))))
        (v128.store (i32.add (local.get $to) (local.get $ts))
          (f32x4.relaxed_madd (f32x4.sub (local.get $s1) (local.get $s2))
            (v128.const f32x4 -0x1.555556p-3 -0x1.555556p-3 -0x1.555556p-3 -0x1.555556p-3)
            (f32x4.mul (f32x4.sub (local.get $s3) (local.get $s4))
              (v128.const f32x4 0x1.555556p-4 0x1.555556p-4 0x1.555556p-4 0x1.555556p-4))))
        (v128.store (i32.add (local.get $to) (i32.mul (local.get $ts) (i32.const 2)))
          (f32x4.relaxed_madd (f32x4.sub (local.get $c) (local.get $a))
            (v128.const f32x4 0x1.555556p-3 0x1.555556p-3 0x1.555556p-3 0x1.555556p-3) (local.get $s5))))
      (else
        (local.set $a (f32x4.mul (f32x4.add (local.get $s1) (local.get $s2)) (v128.const f32x4 0.5 0.5 0.5 0.5)))
        (v128.store (local.get $to) (f32x4.add (local.get $s0) (local.get $a)))
        (v128.store (i32.add (local.get $to) (local.get $ts))
          (f32x4.mul (f32x4.sub (local.get $s1) (local.get $s2)) (v128.const f32x4 0.5 0.5 0.5 0.5)))
        (v128.store (i32.add (local.get $to) (i32.mul (local.get $ts) (i32.const 2)))
          (f32x4.add (local.get $a) (local.get $s3))))))
  ;; sumChunks(count, chunks, partials, stride, out): out[i] = the float64 sum over c of
  ;; partials[c stride / 4 + i], rounded to float32 once, chunk 0 first; count a multiple of 4.
  (func $sumChunks (param $count i32) (param $chunks i32) (param $partials i32) (param $stride i32) (param $out i32)
    (local $i i32) (local $c i32) (local $at i32) (local $x v128) (local $lo v128) (local $hi v128)
    (local.set $i (i32.const 0))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (i32.mul (local.get $count) (i32.const 4))))
        (local.set $lo (v128.const i32x4 0 0 0 0))
        (local.set $hi (v128.const i32x4 0 0 0 0))
        (local.set $at (i32.add (local.get $partials) (local.get $i)))
        (local.set $c (i32.const 0))
        (block $chunks_done
          (loop $each_chunk
            (br_if $chunks_done (i32.ge_u (local.get $c) (local.get $chunks)))
            (local.set $x (v128.load (local.get $at)))
            (local.set $lo (f64x2.add (local.get $lo) (f64x2.promote_low_f32x4 (local.get $x))))
            (local.set $hi
              (f64x2.add (local.get $hi)
                (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x)))))
            (local.set $at (i32.add (local.get $at) (local.get $stride)))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $each_chunk)))
        (v128.store (i32.add (local.get $out) (local.get $i))
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (local.get $lo)) (f32x4.demote_f64x2_zero (local.get $hi))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $each))))
  ;; Exported under names no other kernel module uses: gemm-threads.ts's worker binds the modules' exports as one set.
  (export "winogradForward" (func $forward))
  (export "winogradFilterGradient" (func $filterGradient))
  (export "winogradTransformFilter" (func $transformFilter))
  (export "winogradFilterGradientOut" (func $filterGradientOut))
  (export "winogradSumChunks" (func $sumChunks)))
