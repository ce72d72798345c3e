// RUN: gemmac-opt %s | gemmac-opt | FileCheck %s

// Every gemma op survives a print/parse round trip with its attributes.

// CHECK: gemma.weight_def @emb : !gemma.weight<q4_0, [1024, 256]> {source_offset = 64 : i64}
gemma.weight_def @emb : !gemma.weight<q4_0, [1024, 256]> {source_offset = 64 : i64}
// CHECK: gemma.weight_def @norm : !gemma.weight<f32, [256]> {blob_offset = 128 : i64, source_offset = 0 : i64}
gemma.weight_def @norm : !gemma.weight<f32, [256]> {blob_offset = 128 : i64, source_offset = 0 : i64}
gemma.weight_def @qn : !gemma.weight<f32, [64]> {source_offset = 0 : i64}
gemma.weight_def @wq : !gemma.weight<q8_0, [256, 256]> {source_offset = 0 : i64}
gemma.weight_def @wk : !gemma.weight<q6_k, [128, 256]> {source_offset = 0 : i64}
gemma.weight_def @wg : !gemma.weight<q4_k, [512, 256]> {source_offset = 0 : i64}
gemma.weight_def @wu : !gemma.weight<q4_k, [512, 256]> {source_offset = 0 : i64}
// CHECK: gemma.weight_def @scale : !gemma.weight<f32, [1]> {source_offset = 0 : i64, value = dense<5.000000e-01> : tensor<1xf32>}
gemma.weight_def @scale : !gemma.weight<f32, [1]> {source_offset = 0 : i64, value = dense<0.5> : tensor<1xf32>}

// CHECK: func.func private @gmk_linear_q8_0(!llvm.ptr, memref<?xf32>, memref<?xf32>, index, memref<?xi8>, index, index)
func.func private @gmk_linear_q8_0(!llvm.ptr, memref<?xf32>, memref<?xf32>, index, memref<?xi8>, index, index)

// CHECK-LABEL: func.func @layer
func.func @layer(%tokens: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x1024xf32> attributes {gemma.entry} {
  %emb = gemma.weight @emb : !gemma.weight<q4_0, [1024, 256]>
  %norm = gemma.weight @norm : !gemma.weight<f32, [256]>
  %qn = gemma.weight @qn : !gemma.weight<f32, [64]>
  %wq = gemma.weight @wq : !gemma.weight<q8_0, [256, 256]>
  %wk = gemma.weight @wk : !gemma.weight<q6_k, [128, 256]>
  %wg = gemma.weight @wg : !gemma.weight<q4_k, [512, 256]>
  %wu = gemma.weight @wu : !gemma.weight<q4_k, [512, 256]>
  %s = gemma.weight @scale : !gemma.weight<f32, [1]>
  // CHECK: gemma.embed %{{.*}} {scale = 1.600000e+01 : f32}
  %x = gemma.embed %tokens, %emb {scale = 16.0 : f32} : tensor<?xi32>, !gemma.weight<q4_0, [1024, 256]> -> tensor<?x256xf32>
  // CHECK: gemma.rms_norm %{{.*}}, %{{.*}} : !gemma.weight<f32, [256]> {eps = 9.99999997E-7 : f32, group = 256 : i64}
  %a = gemma.rms_norm %x, %norm : !gemma.weight<f32, [256]> {eps = 1.0e-6 : f32, group = 256 : i64} : tensor<?x256xf32> -> tensor<?x256xf32>
  // CHECK: gemma.linear %{{.*}} {gemma.kernel = @gmk_linear_q8_0, gemma.layer = 5 : i64}
  %q = gemma.linear %a, %wq {gemma.kernel = @gmk_linear_q8_0, gemma.layer = 5 : i64} : tensor<?x256xf32>, !gemma.weight<q8_0, [256, 256]> -> tensor<?x256xf32>
  %qq = gemma.rms_norm %q, %qn : !gemma.weight<f32, [64]> {eps = 1.0e-6 : f32, group = 64 : i64} : tensor<?x256xf32> -> tensor<?x256xf32>
  // CHECK: gemma.rope {{.*}}rope = #gemma.rope<theta = 1.000000e+06, rotated_pairs = 8, freq_dim = 64>
  %qr = gemma.rope %qq, %pos0 {num_heads = 4 : i64, head_dim = 64 : i64, rope = #gemma.rope<theta = 1.0e6, rotated_pairs = 8, freq_dim = 64>} : tensor<?x256xf32> -> tensor<?x256xf32>
  %k = gemma.linear %a, %wk : tensor<?x256xf32>, !gemma.weight<q6_k, [128, 256]> -> tensor<?x128xf32>
  // CHECK: gemma.rms_norm %{{.*}} {eps
  %v = gemma.rms_norm %k {eps = 1.0e-6 : f32, group = 64 : i64} : tensor<?x128xf32> -> tensor<?x128xf32>
  // CHECK: gemma.attention {{.*}}kv_cache = 3 : i64, layer = 5 : i64{{.*}}window = 16 : i64
  %o = gemma.attention %qr, %k, %v, %pos0 {layer = 5 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 64 : i64, window = 16 : i64, kv_cache = 3 : i64, scale = 1.0 : f32} : tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32> -> tensor<?x256xf32>
  // CHECK: gemma.kv_store %{{.*}} {kv_cache = 3 : i64}
  gemma.kv_store %k, %v, %pos0 {kv_cache = 3 : i64} : tensor<?x128xf32>, tensor<?x128xf32>
  %h = gemma.add %x, %o : tensor<?x256xf32>
  // CHECK: gemma.geglu {{.*}}approximation = #gemma<gelu tanh>
  %m = gemma.geglu %h, %wg, %wu {approximation = #gemma<gelu tanh>} : tensor<?x256xf32>, !gemma.weight<q4_k, [512, 256]>, !gemma.weight<q4_k, [512, 256]> -> tensor<?x512xf32>
  // CHECK: gemma.gelu %{{.*}} {approximation = #gemma<gelu erf>}
  %g = gemma.gelu %m {approximation = #gemma<gelu erf>} : tensor<?x512xf32>
  %p = gemma.mul %g, %m : tensor<?x512xf32>
  // CHECK: gemma.column_slice %{{.*}} {offset = 256 : i64, size = 256 : i64}
  %c = gemma.column_slice %p {offset = 256 : i64, size = 256 : i64} : tensor<?x512xf32> -> tensor<?x256xf32>
  %sc = gemma.scale %c {factor = 0.5 : f32} : tensor<?x256xf32>
  // CHECK: gemma.scale_by_weight
  %sw = gemma.scale_by_weight %sc, %s : tensor<?x256xf32>, !gemma.weight<f32, [1]> -> tensor<?x256xf32>
  // CHECK: gemma.last_rows
  %last = gemma.last_rows %sw, %n : tensor<?x256xf32>
  %logits = gemma.linear %last, %emb : tensor<?x256xf32>, !gemma.weight<q4_0, [1024, 256]> -> tensor<?x1024xf32>
  // CHECK: gemma.softcap %{{.*}} {cap = 3.000000e+01 : f32}
  %capped = gemma.softcap %logits {cap = 30.0 : f32} : tensor<?x1024xf32>
  return %capped : tensor<?x1024xf32>
}

// CHECK-LABEL: func.func @buffer
func.func @buffer(%p: !llvm.ptr, %n: index) -> memref<?xi8> {
  // CHECK: gemma.buffer %{{.*}}, %{{.*}} : !llvm.ptr -> memref<?xi8>
  %b = gemma.buffer %p, %n : !llvm.ptr -> memref<?xi8>
  return %b : memref<?xi8>
}
