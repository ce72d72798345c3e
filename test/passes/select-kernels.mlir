// RUN: gemmac-opt %s -split-input-file -gemma-select-kernels | FileCheck %s
// RUN: gemmac-opt %s -split-input-file -gemma-select-kernels="features=+avx2,+fma,+f16c" | FileCheck %s --check-prefix=AVX2

// The format picks the arithmetic, the shape the variant: the
// vocabulary-sized output projection gets its own kernel, and Q4_0/Q4_K
// weights with a multiple of 8 rows are interleaved (x8 layout) for kernels
// that stream eight rows at once. A kernel chosen before stays; the
// instruction set only selects variants the runtime has. Each chosen kernel
// is declared with its abi/kernels.def signature.
// CHECK-DAG: func.func private @gmk_embed_q6_k(!llvm.ptr, memref<?xf32>, memref<?xi32>, index, memref<?xi8>, index, index, f32)
// CHECK-DAG: func.func private @gmk_linear_q4_0_x8(!llvm.ptr, memref<?xf32>, memref<?xf32>, index, memref<?xi8>, index, index)
// CHECK-DAG: func.func private @gmk_geglu_q4_k_x8(!llvm.ptr, memref<?xf32>, memref<?xf32>, index, memref<?xi8>, memref<?xi8>, index, index)
// CHECK: gemma.weight_def @emb : {{.*}} {source_offset
// CHECK: gemma.weight_def @wq : {{.*}} {layout = #gemma<layout x8>
// CHECK: gemma.weight_def @wg : {{.*}} {layout = #gemma<layout x8>
// CHECK: gemma.weight_def @wk : {{.*}} {source_offset

gemma.weight_def @emb : !gemma.weight<q6_k, [262144, 256]> {source_offset = 0 : i64}
gemma.weight_def @wq : !gemma.weight<q4_0, [256, 256]> {source_offset = 0 : i64}
gemma.weight_def @wg : !gemma.weight<q4_k, [512, 256]> {source_offset = 0 : i64}
gemma.weight_def @wk : !gemma.weight<bf16, [64, 256]> {source_offset = 0 : i64}
func.func private @chosen()
// CHECK-LABEL: func.func @f
// AVX2-LABEL: func.func @f
func.func @f(%t: tensor<?xi32>) -> tensor<?x262144xf32> {
  %emb = gemma.weight @emb : !gemma.weight<q6_k, [262144, 256]>
  %wq = gemma.weight @wq : !gemma.weight<q4_0, [256, 256]>
  %wg = gemma.weight @wg : !gemma.weight<q4_k, [512, 256]>
  %wk = gemma.weight @wk : !gemma.weight<bf16, [64, 256]>
  // CHECK: gemma.embed {{.*}}gemma.kernel = @gmk_embed_q6_k
  %x = gemma.embed %t, %emb {scale = 16.0 : f32} : tensor<?xi32>, !gemma.weight<q6_k, [262144, 256]> -> tensor<?x256xf32>
  // CHECK: gemma.linear {{.*}}{gemma.kernel = @gmk_linear_q4_0_x8}
  %q = gemma.linear %x, %wq : tensor<?x256xf32>, !gemma.weight<q4_0, [256, 256]> -> tensor<?x256xf32>
  // CHECK: gemma.linear {{.*}}{gemma.kernel = @gmk_linear_bf16}
  %k = gemma.linear %q, %wk : tensor<?x256xf32>, !gemma.weight<bf16, [64, 256]> -> tensor<?x64xf32>
  // CHECK: gemma.linear {{.*}}{gemma.kernel = @chosen}
  %k2 = gemma.linear %q, %wk {gemma.kernel = @chosen} : tensor<?x256xf32>, !gemma.weight<bf16, [64, 256]> -> tensor<?x64xf32>
  // CHECK: gemma.geglu {{.*}}gemma.kernel = @gmk_geglu_q4_k_x8
  %m = gemma.geglu %q, %wg, %wg {approximation = #gemma<gelu tanh>} : tensor<?x256xf32>, !gemma.weight<q4_k, [512, 256]>, !gemma.weight<q4_k, [512, 256]> -> tensor<?x512xf32>
  // CHECK: gemma.linear {{.*}}{gemma.kernel = @gmk_logits_q6_k}
  // AVX2: gemma.linear {{.*}}{gemma.kernel = @gmk_logits_q6_k{{(_avx2)?}}}
  %l = gemma.linear %q, %emb : tensor<?x256xf32>, !gemma.weight<q6_k, [262144, 256]> -> tensor<?x262144xf32>
  return %l : tensor<?x262144xf32>
}

// -----

// Must not fire: a kernel chosen before (by hand or an earlier run) is kept,
// and ops without weights get nothing.
gemma.weight_def @w : !gemma.weight<q8_0, [64, 64]> {source_offset = 0 : i64}
func.func private @my_kernel()
// CHECK-LABEL: func.func @kept
// CHECK: gemma.linear {{.*}}{gemma.kernel = @my_kernel}
// CHECK-NOT: gemma.kernel =
// CHECK: return
func.func @kept(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %w = gemma.weight @w : !gemma.weight<q8_0, [64, 64]>
  %y = gemma.linear %x, %w {gemma.kernel = @my_kernel} : tensor<?x64xf32>, !gemma.weight<q8_0, [64, 64]> -> tensor<?x64xf32>
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
// CHECK: gemma.linear {{.*}}{gemma.kernel = @gmk_linear_q4_0_x8}
// CHECK: gemma.linear {{.*}}{gemma.kernel = @gmk_logits_q4_0_x8}
func.func @threshold(%x: tensor<?x64xf32>) -> (tensor<?x32736xf32>, tensor<?x32768xf32>) {
  %s = gemma.weight @small : !gemma.weight<q4_0, [32736, 64]>
  %v = gemma.weight @vocab : !gemma.weight<q4_0, [32768, 64]>
  %a = gemma.linear %x, %s : tensor<?x64xf32>, !gemma.weight<q4_0, [32736, 64]> -> tensor<?x32736xf32>
  %b = gemma.linear %x, %v : tensor<?x64xf32>, !gemma.weight<q4_0, [32768, 64]> -> tensor<?x32768xf32>
  return %a, %b : tensor<?x32736xf32>, tensor<?x32768xf32>
}

// -----

// A tied table (embedding and output projection) is interleaved when both
// readers have x8 kernels. Must not interleave: rows not a multiple of 8, a
// format without the layout, or a reader whose kernel was chosen before.
// CHECK: gemma.weight_def @tied : {{.*}} {layout = #gemma<layout x8>
// CHECK: gemma.weight_def @odd : {{.*}} {source_offset
// CHECK: gemma.weight_def @q8 : {{.*}} {source_offset
// CHECK: gemma.weight_def @pinned : {{.*}} {source_offset
// CHECK-LABEL: func.func @layouts
// CHECK: gemma.embed {{.*}}gemma.kernel = @gmk_embed_q4_0_x8
// CHECK: gemma.linear {{.*}}{gemma.kernel = @gmk_linear_q4_0}
// CHECK: gemma.linear {{.*}}{gemma.kernel = @gmk_linear_q8_0}
// CHECK: gemma.linear {{.*}}{gemma.kernel = @gmk_linear_q4_k}
// CHECK: gemma.linear {{.*}}{gemma.kernel = @gmk_linear_q4_k}
// CHECK: gemma.linear {{.*}}{gemma.kernel = @gmk_logits_q4_0_x8}
gemma.weight_def @tied : !gemma.weight<q4_0, [32768, 64]> {source_offset = 0 : i64}
gemma.weight_def @odd : !gemma.weight<q4_0, [60, 64]> {source_offset = 0 : i64}
gemma.weight_def @q8 : !gemma.weight<q8_0, [64, 64]> {source_offset = 0 : i64}
gemma.weight_def @pinned : !gemma.weight<q4_k, [64, 256]> {source_offset = 0 : i64}
func.func private @gmk_linear_q4_k(!llvm.ptr, memref<?xf32>, memref<?xf32>, index, memref<?xi8>, index, index)
func.func @layouts(%t: tensor<?xi32>, %y: tensor<?x256xf32>) -> tensor<?x32768xf32> {
  %tied = gemma.weight @tied : !gemma.weight<q4_0, [32768, 64]>
  %odd = gemma.weight @odd : !gemma.weight<q4_0, [60, 64]>
  %q8 = gemma.weight @q8 : !gemma.weight<q8_0, [64, 64]>
  %p = gemma.weight @pinned : !gemma.weight<q4_k, [64, 256]>
  %x = gemma.embed %t, %tied {scale = 8.0 : f32} : tensor<?xi32>, !gemma.weight<q4_0, [32768, 64]> -> tensor<?x64xf32>
  %a = gemma.linear %x, %odd : tensor<?x64xf32>, !gemma.weight<q4_0, [60, 64]> -> tensor<?x60xf32>
  %b = gemma.linear %x, %q8 : tensor<?x64xf32>, !gemma.weight<q8_0, [64, 64]> -> tensor<?x64xf32>
  %c = gemma.linear %y, %p : tensor<?x256xf32>, !gemma.weight<q4_k, [64, 256]> -> tensor<?x64xf32>
  %d = gemma.linear %y, %p {gemma.kernel = @gmk_linear_q4_k} : tensor<?x256xf32>, !gemma.weight<q4_k, [64, 256]> -> tensor<?x64xf32>
  %l = gemma.linear %x, %tied : tensor<?x64xf32>, !gemma.weight<q4_0, [32768, 64]> -> tensor<?x32768xf32>
  return %l : tensor<?x32768xf32>
}

// -----

// Attention gets the runtime's instantiation for its head dim, shared by the
// layers of that shape; a head dim without one keeps the generic kernel (no
// attribute), and a kernel chosen before is kept.
// CHECK-LABEL: func.func @attention
// CHECK: gemma.attention {{.*}}{gemma.kernel = @gmk_attention_f16_d64
// CHECK: gemma.attention {{.*}}{gemma.kernel = @gmk_attention_f16_d64
// CHECK: gemma.attention {{.*}}{gemma.kernel = @gmk_attention_f16_d128
// CHECK: gemma.attention
// CHECK-NOT: gemma.kernel
// CHECK-SAME: -> tensor<?x96xf32>
// CHECK: gemma.attention {{.*}}{gemma.kernel = @mine
module {
  func.func private @mine()
  func.func @attention(%x: tensor<?x128xf32>, %k: tensor<?x64xf32>, %x2: tensor<?x256xf32>, %k2: tensor<?x128xf32>, %x3: tensor<?x96xf32>, %k3: tensor<?x48xf32>, %p: index) attributes {gemma.entry} {
    %a = gemma.attention %x, %k, %k, %p {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 64 : i64, window = 8 : i64, kv_cache = 0 : i64, scale = 1.0 : f32} : tensor<?x128xf32>, tensor<?x64xf32>, tensor<?x64xf32> -> tensor<?x128xf32>
    %b = gemma.attention %x, %k, %k, %p {layer = 1 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 64 : i64, window = 8 : i64, kv_cache = 1 : i64, scale = 1.0 : f32} : tensor<?x128xf32>, tensor<?x64xf32>, tensor<?x64xf32> -> tensor<?x128xf32>
    %c = gemma.attention %x2, %k2, %k2, %p {layer = 2 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 128 : i64, window = 0 : i64, kv_cache = 2 : i64, scale = 1.0 : f32} : tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32> -> tensor<?x256xf32>
    %d = gemma.attention %x3, %k3, %k3, %p {layer = 3 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 48 : i64, window = 8 : i64, kv_cache = 3 : i64, scale = 1.0 : f32} : tensor<?x96xf32>, tensor<?x48xf32>, tensor<?x48xf32> -> tensor<?x96xf32>
    %e = gemma.attention %x3, %k3, %k3, %p {layer = 4 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 48 : i64, window = 8 : i64, kv_cache = 4 : i64, scale = 1.0 : f32, gemma.kernel = @mine} : tensor<?x96xf32>, tensor<?x48xf32>, tensor<?x48xf32> -> tensor<?x96xf32>
    return
  }
}

// -----

// f32 KV caches get the f32 instantiation.
// CHECK-LABEL: func.func @f32
// CHECK: gemma.attention {{.*}}{gemma.kernel = @gmk_attention_f32_d64
module attributes {gemma.kv_cache_type = f32} {
  func.func @f32(%x: tensor<?x128xf32>, %k: tensor<?x64xf32>, %p: index) attributes {gemma.entry} {
    %o = gemma.attention %x, %k, %k, %p {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 64 : i64, window = 8 : i64, kv_cache = 0 : i64, scale = 1.0 : f32} : tensor<?x128xf32>, tensor<?x64xf32>, tensor<?x64xf32> -> tensor<?x128xf32>
    return
  }
}
