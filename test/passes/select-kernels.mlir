// RUN: gemmac-opt %s -split-input-file -gemma-select-kernels | FileCheck %s
// RUN: gemmac-opt %s -split-input-file -gemma-select-kernels="features=+avx2,+fma,+f16c" | FileCheck %s --check-prefix=AVX2

// The format picks the arithmetic, the shape the variant: the
// vocabulary-sized output projection gets its own kernel. A kernel chosen
// before stays; the instruction set only selects variants the runtime has.

gemma.weight_def @emb : !gemma.weight<q6_k, [262144, 256]> {source_offset = 0 : i64}
gemma.weight_def @wq : !gemma.weight<q4_0, [256, 256]> {source_offset = 0 : i64}
gemma.weight_def @wg : !gemma.weight<q4_k, [512, 256]> {source_offset = 0 : i64}
gemma.weight_def @wk : !gemma.weight<bf16, [64, 256]> {source_offset = 0 : i64}
// CHECK-LABEL: func.func @f
// AVX2-LABEL: func.func @f
func.func @f(%t: tensor<?xi32>) -> tensor<?x262144xf32> {
  %emb = gemma.weight @emb : !gemma.weight<q6_k, [262144, 256]>
  %wq = gemma.weight @wq : !gemma.weight<q4_0, [256, 256]>
  %wg = gemma.weight @wg : !gemma.weight<q4_k, [512, 256]>
  %wk = gemma.weight @wk : !gemma.weight<bf16, [64, 256]>
  // CHECK: gemma.embed {{.*}}kernel = "gmk_embed_q6_k"
  %x = gemma.embed %t, %emb {scale = 16.0 : f32} : tensor<?xi32>, !gemma.weight<q6_k, [262144, 256]> -> tensor<?x256xf32>
  // CHECK: gemma.linear {{.*}}{kernel = "gmk_linear_q4_0"}
  %q = gemma.linear %x, %wq : tensor<?x256xf32>, !gemma.weight<q4_0, [256, 256]> -> tensor<?x256xf32>
  // CHECK: gemma.linear {{.*}}{kernel = "gmk_linear_bf16"}
  %k = gemma.linear %q, %wk : tensor<?x256xf32>, !gemma.weight<bf16, [64, 256]> -> tensor<?x64xf32>
  // CHECK: gemma.linear {{.*}}{kernel = "chosen"}
  %k2 = gemma.linear %q, %wk {kernel = "chosen"} : tensor<?x256xf32>, !gemma.weight<bf16, [64, 256]> -> tensor<?x64xf32>
  // CHECK: gemma.geglu {{.*}}kernel = "gmk_geglu_q4_k"
  %m = gemma.geglu %q, %wg, %wg {approximation = #gemma<gelu tanh>} : tensor<?x256xf32>, !gemma.weight<q4_k, [512, 256]>, !gemma.weight<q4_k, [512, 256]> -> tensor<?x512xf32>
  // CHECK: gemma.linear {{.*}}{kernel = "gmk_logits_q6_k"}
  // AVX2: gemma.linear {{.*}}{kernel = "gmk_logits_q6_k{{(_avx2)?}}"}
  %l = gemma.linear %q, %emb : tensor<?x256xf32>, !gemma.weight<q6_k, [262144, 256]> -> tensor<?x262144xf32>
  return %l : tensor<?x262144xf32>
}

// -----

// Must not fire: a kernel chosen before (by hand or an earlier run) is kept,
// and ops without weights get nothing.
gemma.weight_def @w : !gemma.weight<q8_0, [64, 64]> {source_offset = 0 : i64}
// CHECK-LABEL: func.func @kept
// CHECK: gemma.linear {{.*}}{kernel = "my_kernel"}
// CHECK-NOT: kernel =
// CHECK: return
func.func @kept(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %w = gemma.weight @w : !gemma.weight<q8_0, [64, 64]>
  %y = gemma.linear %x, %w {kernel = "my_kernel"} : tensor<?x64xf32>, !gemma.weight<q8_0, [64, 64]> -> tensor<?x64xf32>
  %z = gemma.rms_norm %y {eps = 1.0e-6 : f32, group = 64 : i64} : tensor<?x64xf32> -> tensor<?x64xf32>
  return %z : tensor<?x64xf32>
}

// -----

// The shape picks the variant: just under the vocabulary threshold is an
// ordinary projection, at it the logits kernel (one pass over the rows per
// token, many rows per thread).
gemma.weight_def @small : !gemma.weight<q4_0, [32736, 64]> {source_offset = 0 : i64}
gemma.weight_def @vocab : !gemma.weight<q4_0, [32768, 64]> {source_offset = 0 : i64}
// CHECK-LABEL: func.func @threshold
// CHECK: gemma.linear {{.*}}{kernel = "gmk_linear_q4_0"}
// CHECK: gemma.linear {{.*}}{kernel = "gmk_logits_q4_0"}
func.func @threshold(%x: tensor<?x64xf32>) -> (tensor<?x32736xf32>, tensor<?x32768xf32>) {
  %s = gemma.weight @small : !gemma.weight<q4_0, [32736, 64]>
  %v = gemma.weight @vocab : !gemma.weight<q4_0, [32768, 64]>
  %a = gemma.linear %x, %s : tensor<?x64xf32>, !gemma.weight<q4_0, [32736, 64]> -> tensor<?x32736xf32>
  %b = gemma.linear %x, %v : tensor<?x64xf32>, !gemma.weight<q4_0, [32768, 64]> -> tensor<?x32768xf32>
  return %a, %b : tensor<?x32736xf32>, tensor<?x32768xf32>
}
