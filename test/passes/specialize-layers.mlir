// RUN: gemmac-opt %s -split-input-file -gemma-specialize-layers | FileCheck %s

// Each layer's shape is recorded, and attention gets the kernel instantiated
// for its head dim (shared by all layers of that shape).

// CHECK: module attributes {gemma.layers = [
// CHECK-SAME: #gemma.layer<0, sliding, head_dim = 64, heads = 2, kv_heads = 1, window = 16, kv_source = 0, k_eq_v = false, ffn = 256, rope = <theta = 1.000000e+04, rotated_pairs = 32, freq_dim = 64>>,
// CHECK-SAME: #gemma.layer<1, global, head_dim = 128, heads = 2, kv_heads = 1, window = 0, kv_source = 1, k_eq_v = true, ffn = 0, rope = <theta = 1.000000e+06, rotated_pairs = 16, freq_dim = 128>>]
// CHECK: gemma.attention {{.*}}kernel = "gmk_attention_f16_d64"{{.*}}layer = 0
// CHECK: gemma.attention {{.*}}kernel = "gmk_attention_f16_d128"{{.*}}layer = 1
module {
  gemma.weight_def @g : !gemma.weight<q8_0, [256, 128]> {source_offset = 0 : i64}
  gemma.weight_def @kn : !gemma.weight<f32, [128]> {source_offset = 0 : i64}
  func.func @f(%x: tensor<?x128xf32>, %k0: tensor<?x64xf32>, %p: index) -> tensor<?x256xf32> attributes {gemma.entry} {
    %q0 = gemma.rope %x, %p {num_heads = 2 : i64, head_dim = 64 : i64, rope = #gemma.rope<theta = 1.0e4, rotated_pairs = 32, freq_dim = 64>} : tensor<?x128xf32> -> tensor<?x128xf32> loc("blk.0")
    %o0 = gemma.attention %q0, %k0, %k0, %p {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 64 : i64, window = 16 : i64, kv_cache = 0 : i64, scale = 1.0 : f32} : tensor<?x128xf32>, tensor<?x64xf32>, tensor<?x64xf32> -> tensor<?x128xf32> loc("blk.0")
    %wg = gemma.weight @g : !gemma.weight<q8_0, [256, 128]> loc("blk.0")
    %gate = gemma.linear %o0, %wg : tensor<?x128xf32>, !gemma.weight<q8_0, [256, 128]> -> tensor<?x256xf32> loc("blk.0")
    %act = gemma.gelu %gate {approximation = #gemma<gelu tanh>} : tensor<?x256xf32> loc("blk.0")
    // Layer 1: global, K=V (V normalized from the K projection).
    %x1 = gemma.column_slice %act {offset = 0 : i64, size = 256 : i64} : tensor<?x256xf32> -> tensor<?x256xf32> loc("blk.1")
    %kn = gemma.weight @kn : !gemma.weight<f32, [128]> loc("blk.1")
    %kraw = gemma.column_slice %x1 {offset = 0 : i64, size = 128 : i64} : tensor<?x256xf32> -> tensor<?x128xf32> loc("blk.1")
    %kk = gemma.rms_norm %kraw, %kn : !gemma.weight<f32, [128]> {eps = 1.0e-6 : f32, group = 128 : i64} : tensor<?x128xf32> -> tensor<?x128xf32> loc("blk.1")
    %kr = gemma.rope %kk, %p {num_heads = 1 : i64, head_dim = 128 : i64, rope = #gemma.rope<theta = 1.0e6, rotated_pairs = 16, freq_dim = 128>} : tensor<?x128xf32> -> tensor<?x128xf32> loc("blk.1")
    %vv = gemma.rms_norm %kraw {eps = 1.0e-6 : f32, group = 128 : i64} : tensor<?x128xf32> -> tensor<?x128xf32> loc("blk.1")
    %q1 = gemma.rope %x1, %p {num_heads = 2 : i64, head_dim = 128 : i64, rope = #gemma.rope<theta = 1.0e6, rotated_pairs = 16, freq_dim = 128>} : tensor<?x256xf32> -> tensor<?x256xf32> loc("blk.1")
    %o1 = gemma.attention %q1, %kr, %vv, %p {layer = 1 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 128 : i64, window = 0 : i64, kv_cache = 1 : i64, scale = 1.0 : f32} : tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32> -> tensor<?x256xf32> loc("blk.1")
    return %o1 : tensor<?x256xf32>
  }
}

// -----

// A head dim without an instantiated kernel keeps the generic one, and a
// kernel chosen before is kept.
// CHECK-LABEL: func.func @generic
// CHECK: gemma.attention
// CHECK-NOT: kernel = "gmk_attention_f16_d
// CHECK-SAME: layer = 0
// CHECK: gemma.attention {{.*}}kernel = "mine"
module {
  func.func @generic(%x: tensor<?x96xf32>, %k: tensor<?x48xf32>, %p: index) attributes {gemma.entry} {
    %q = gemma.rope %x, %p {num_heads = 2 : i64, head_dim = 48 : i64, rope = #gemma.rope<theta = 1.0e4, rotated_pairs = 24, freq_dim = 48>} : tensor<?x96xf32> -> tensor<?x96xf32>
    %o = gemma.attention %q, %k, %k, %p {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 48 : i64, window = 8 : i64, kv_cache = 0 : i64, scale = 1.0 : f32} : tensor<?x96xf32>, tensor<?x48xf32>, tensor<?x48xf32> -> tensor<?x96xf32>
    %o2 = gemma.attention %q, %k, %k, %p {layer = 1 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 48 : i64, window = 8 : i64, kv_cache = 0 : i64, scale = 1.0 : f32, kernel = "mine"} : tensor<?x96xf32>, tensor<?x48xf32>, tensor<?x48xf32> -> tensor<?x96xf32>
    return
  }
}

// -----

// f32 KV caches get the f32 instantiation.
// CHECK: gemma.attention {{.*}}kernel = "gmk_attention_f32_d64"
module attributes {gemma.kv_cache_type = f32} {
  func.func @f32(%x: tensor<?x128xf32>, %k: tensor<?x64xf32>, %p: index) attributes {gemma.entry} {
    %q = gemma.rope %x, %p {num_heads = 2 : i64, head_dim = 64 : i64, rope = #gemma.rope<theta = 1.0e4, rotated_pairs = 32, freq_dim = 64>} : tensor<?x128xf32> -> tensor<?x128xf32>
    %o = gemma.attention %q, %k, %k, %p {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 64 : i64, window = 8 : i64, kv_cache = 0 : i64, scale = 1.0 : f32} : tensor<?x128xf32>, tensor<?x64xf32>, tensor<?x64xf32> -> tensor<?x128xf32>
    return
  }
}
