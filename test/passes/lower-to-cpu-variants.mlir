// RUN: gemmac-opt %s -split-input-file -verify-diagnostics -gemma-lower-to-cpu -canonicalize -cse | FileCheck %s

// Without a KV plan every cache gets one row per context token (always
// correct, larger): the KV bytes grow with n_ctx and the capacity is n_ctx.
// CHECK-LABEL: func.func @gemmac_forward
// CHECK-SAME: %{{[^:]*}}: index, %[[CTX:[^:]*]]: index, %{{[^:]*}}: index, %{{[^:]*}}: index)
// CHECK: call @gmk_attention_f16(%{{.*}}, %[[CTX]], %{{[^,]*}}, %{{[^,]*}})
// CHECK: func.func @gemmac_kv_bytes(%[[N:.*]]: index) -> index
// CHECK: arith.muli %[[N]], %c128
module attributes {gemma.weights_bytes = 2176 : i64, gemma.weights_fingerprint = 1 : i64} {
  gemma.weight_def @e : !gemma.weight<q8_0, [64, 32]> {source_offset = 0 : i64, blob_offset = 0 : i64}
  func.func @forward(%t: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x32xf32> attributes {gemma.entry} {
    %e = gemma.weight @e : !gemma.weight<q8_0, [64, 32]>
    %x = gemma.embed %t, %e {scale = 1.0 : f32} : tensor<?xi32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x32xf32>
    %o = gemma.attention %x, %x, %x, %pos0 {layer = 0 : i64, num_heads = 1 : i64, num_kv_heads = 1 : i64, head_dim = 32 : i64, window = 8 : i64, kv_cache = 0 : i64, scale = 1.0 : f32} : tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32> -> tensor<?x32xf32>
    gemma.kv_store %x, %x, %pos0 {kv_cache = 0 : i64} : tensor<?x32xf32>, tensor<?x32xf32>
    return %o : tensor<?x32xf32>
  }
}

// -----

// A fused GeGLU calls its kernel with both weights; f32 caches use the f32
// attention.
// CHECK-LABEL: func.func @gemmac_forward
// CHECK: call @gmk_geglu_q8_0(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %c64, %c32)
// CHECK: call @gmk_attention_f32(
// CHECK: call @gmk_kv_store_f32(
module attributes {gemma.kv_cache_type = f32, gemma.kv_plan = [#gemma.kv_cache<owner = 0, readers = [0], width = 64, rows = 4, offset = 0, per_token = 0>], gemma.weights_bytes = 6528 : i64, gemma.weights_fingerprint = 1 : i64} {
  gemma.weight_def @e : !gemma.weight<q8_0, [64, 32]> {source_offset = 0 : i64, blob_offset = 0 : i64}
  gemma.weight_def @g : !gemma.weight<q8_0, [64, 32]> {source_offset = 0 : i64, blob_offset = 2176 : i64}
  gemma.weight_def @u : !gemma.weight<q8_0, [64, 32]> {source_offset = 0 : i64, blob_offset = 4352 : i64}
  func.func @forward(%t: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x64xf32> attributes {gemma.entry} {
    %e = gemma.weight @e : !gemma.weight<q8_0, [64, 32]>
    %g = gemma.weight @g : !gemma.weight<q8_0, [64, 32]>
    %u = gemma.weight @u : !gemma.weight<q8_0, [64, 32]>
    %x = gemma.embed %t, %e {scale = 1.0 : f32} : tensor<?xi32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x32xf32>
    %m = gemma.geglu %x, %g, %u {approximation = #gemma<gelu tanh>} : tensor<?x32xf32>, !gemma.weight<q8_0, [64, 32]>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x64xf32>
    %o = gemma.attention %m, %m, %m, %pos0 {layer = 0 : i64, num_heads = 1 : i64, num_kv_heads = 1 : i64, head_dim = 64 : i64, window = 4 : i64, kv_cache = 0 : i64, scale = 1.0 : f32} : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32> -> tensor<?x64xf32>
    gemma.kv_store %m, %m, %pos0 {kv_cache = 0 : i64} : tensor<?x64xf32>, tensor<?x64xf32>
    return %o : tensor<?x64xf32>
  }
}

// -----

// An E4M3 cache's kernels take the K and V scales of the layer that owns the
// cache (gemma.kv_scales: layer 1's are 0.25 and 0.5) over i8 views.
// CHECK-LABEL: func.func @gemmac_forward
// CHECK-DAG: %[[KS:.*]] = arith.constant 2.500000e-01 : f32
// CHECK-DAG: %[[VS:.*]] = arith.constant 5.000000e-01 : f32
// CHECK: call @gmk_attention_f8(%{{.*}}, %[[KS]], %[[VS]]) : ({{.*}}, memref<?xi8>, memref<?xi8>, index, index, f32, f32, f32) -> ()
// CHECK: call @gmk_kv_store_f8(%{{.*}}, %[[KS]], %[[VS]]) : (!llvm.ptr, memref<?xi8>, memref<?xi8>,
module attributes {gemma.kv_cache_type = f8E4M3FN, gemma.kv_scales = array<f32: 1.0, 1.0, 0.25, 0.5>, gemma.num_layers = 2 : i64, gemma.kv_plan = [#gemma.kv_cache<owner = 1, readers = [1], width = 32, rows = 4, offset = 0, per_token = 0>], gemma.weights_bytes = 2176 : i64, gemma.weights_fingerprint = 1 : i64} {
  gemma.weight_def @e : !gemma.weight<q8_0, [64, 32]> {source_offset = 0 : i64, blob_offset = 0 : i64}
  func.func @forward(%t: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x32xf32> attributes {gemma.entry} {
    %e = gemma.weight @e : !gemma.weight<q8_0, [64, 32]>
    %x = gemma.embed %t, %e {scale = 1.0 : f32} : tensor<?xi32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x32xf32>
    %o = gemma.attention %x, %x, %x, %pos0 {layer = 1 : i64, num_heads = 1 : i64, num_kv_heads = 1 : i64, head_dim = 32 : i64, window = 4 : i64, kv_cache = 1 : i64, scale = 1.0 : f32} : tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32> -> tensor<?x32xf32>
    gemma.kv_store %x, %x, %pos0 {kv_cache = 1 : i64} : tensor<?x32xf32>, tensor<?x32xf32>
    return %o : tensor<?x32xf32>
  }
}

// -----

// The entry must have the C ABI's signature.
module attributes {gemma.weights_bytes = 0 : i64, gemma.weights_fingerprint = 1 : i64} {
  // expected-error @+1 {{entry must take (tensor<?xi32> tokens, index pos0, index num_outputs) and return the logits}}
  func.func @forward(%x: tensor<?x32xf32>, %pos0: index, %n: index) -> tensor<?x32xf32> attributes {gemma.entry} {
    return %x : tensor<?x32xf32>
  }
}

// -----

// Weights whose blob has not been laid out cannot be lowered.
// expected-error @+1 {{weights have no blob layout; run gemma-layout-weights first}}
module {
  func.func @forward(%t: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x32xf32> attributes {gemma.entry} {
    %c = arith.constant dense<0.0> : tensor<1x32xf32>
    %d = tensor.cast %c : tensor<1x32xf32> to tensor<?x32xf32>
    return %d : tensor<?x32xf32>
  }
}

// -----

// A kernel must read the layout its weights are written in.
module attributes {gemma.weights_bytes = 4096 : i64, gemma.weights_fingerprint = 1 : i64} {
  gemma.weight_def @e : !gemma.weight<q4_0, [64, 32]> {source_offset = 0 : i64, blob_offset = 0 : i64, layout = #gemma<layout x8>}
  func.func private @gmk_logits_q4_0(!llvm.ptr, memref<?xf32>, memref<?xf32>, index, memref<?xi8>, index, index)
  func.func @forward(%t: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x64xf32> attributes {gemma.entry} {
    %e = gemma.weight @e : !gemma.weight<q4_0, [64, 32]>
    %x = gemma.embed %t, %e {scale = 1.0 : f32} : tensor<?xi32>, !gemma.weight<q4_0, [64, 32]> -> tensor<?x32xf32>
    // expected-error @+1 {{kernel 'gmk_logits_q4_0' does not read the x8 layout of its weights}}
    %l = gemma.linear %x, %e {gemma.kernel = @gmk_logits_q4_0} : tensor<?x32xf32>, !gemma.weight<q4_0, [64, 32]> -> tensor<?x64xf32>
    return %l : tensor<?x64xf32>
  }
}

// -----

// An op without a CPU lowering pattern is an error naming it.
module attributes {gemma.weights_bytes = 2176 : i64, gemma.weights_fingerprint = 1 : i64} {
  gemma.weight_def @e : !gemma.weight<q8_0, [64, 32]> {source_offset = 0 : i64, blob_offset = 0 : i64}
  func.func @forward(%t: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x32xf32> attributes {gemma.entry} {
    %e = gemma.weight @e : !gemma.weight<q8_0, [64, 32]>
    %x = gemma.embed %t, %e {scale = 1.0 : f32} : tensor<?xi32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x32xf32>
    // expected-error @+1 {{'tensor.cast' op has no CPU lowering}}
    %c = tensor.cast %x : tensor<?x32xf32> to tensor<2x32xf32>
    return %x : tensor<?x32xf32>
  }
}

// -----

// A column slice copies its columns row by row; the wanted rows (out_rows)
// are gathered straight into the caller's logits buffer.
// CHECK-LABEL: func.func @gemmac_forward
// CHECK: call @gmk_embed_q8_0(
// CHECK: scf.for
// CHECK: scf.for
// CHECK: memref.load
// CHECK: memref.store
// CHECK: call @gmk_gather_rows(
// CHECK: return
module attributes {gemma.weights_bytes = 2176 : i64, gemma.weights_fingerprint = 1 : i64} {
  gemma.weight_def @e : !gemma.weight<q8_0, [64, 32]> {source_offset = 0 : i64, blob_offset = 0 : i64}
  func.func @forward(%t: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x16xf32> attributes {gemma.entry} {
    %e = gemma.weight @e : !gemma.weight<q8_0, [64, 32]>
    %x = gemma.embed %t, %e {scale = 1.0 : f32} : tensor<?xi32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x32xf32>
    %s = gemma.column_slice %x {offset = 16 : i64, size = 16 : i64} : tensor<?x32xf32> -> tensor<?x16xf32>
    %l = gemma.last_rows %s, %n : tensor<?x16xf32>
    return %l : tensor<?x16xf32>
  }
}
