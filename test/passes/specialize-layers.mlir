// RUN: gemmac-opt %s -split-input-file -gemma-specialize-layers | FileCheck %s

// Each layer's shape is recorded; an op's layer is its gemma.layer (the
// MLP width of layer 0 comes from its gate projection; a wider projection
// whose location only says "blk.0" is in no layer).

// CHECK: module attributes {gemma.layers = [
// CHECK-SAME: #gemma.layer<0, sliding, head_dim = 64, heads = 2, kv_heads = 1, window = 16, kv_source = 0, k_eq_v = false, ffn = 256, rope = <theta = 1.000000e+04, rotated_pairs = 32, freq_dim = 64>>,
// CHECK-SAME: #gemma.layer<1, global, head_dim = 128, heads = 2, kv_heads = 1, window = 0, kv_source = 1, k_eq_v = true, ffn = 0, rope = <theta = 1.000000e+06, rotated_pairs = 16, freq_dim = 128>>]
module {
  gemma.weight_def @g : !gemma.weight<q8_0, [256, 128]> {source_offset = 0 : i64}
  gemma.weight_def @kn : !gemma.weight<f32, [128]> {source_offset = 0 : i64}
  gemma.weight_def @b : !gemma.weight<q8_0, [512, 128]> {source_offset = 0 : i64}
  func.func @f(%x: tensor<?x128xf32>, %k0: tensor<?x64xf32>, %p: index) -> tensor<?x256xf32> attributes {gemma.entry} {
    %q0 = gemma.rope %x, %p {gemma.layer = 0 : i64, num_heads = 2 : i64, head_dim = 64 : i64, rope = #gemma.rope<theta = 1.0e4, rotated_pairs = 32, freq_dim = 64>} : tensor<?x128xf32> -> tensor<?x128xf32>
    %o0 = gemma.attention %q0, %k0, %k0, %p {gemma.layer = 0 : i64, layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 64 : i64, window = 16 : i64, kv_cache = 0 : i64, scale = 1.0 : f32} : tensor<?x128xf32>, tensor<?x64xf32>, tensor<?x64xf32> -> tensor<?x128xf32>
    %wg = gemma.weight @g : !gemma.weight<q8_0, [256, 128]>
    %gate = gemma.linear %o0, %wg {gemma.layer = 0 : i64} : tensor<?x128xf32>, !gemma.weight<q8_0, [256, 128]> -> tensor<?x256xf32>
    %act = gemma.gelu %gate {gemma.layer = 0 : i64, approximation = #gemma<gelu tanh>} : tensor<?x256xf32>
    %wb = gemma.weight @b : !gemma.weight<q8_0, [512, 128]>
    %wide = gemma.linear %o0, %wb : tensor<?x128xf32>, !gemma.weight<q8_0, [512, 128]> -> tensor<?x512xf32> loc("blk.0")
    %wact = gemma.gelu %wide {approximation = #gemma<gelu tanh>} : tensor<?x512xf32> loc("blk.0")
    // Layer 1: global, K=V (V normalized from the K projection).
    %x1 = gemma.column_slice %act {gemma.layer = 1 : i64, offset = 0 : i64, size = 256 : i64} : tensor<?x256xf32> -> tensor<?x256xf32>
    %kn = gemma.weight @kn : !gemma.weight<f32, [128]>
    %kraw = gemma.column_slice %x1 {gemma.layer = 1 : i64, offset = 0 : i64, size = 128 : i64} : tensor<?x256xf32> -> tensor<?x128xf32>
    %kk = gemma.rms_norm %kraw, %kn : !gemma.weight<f32, [128]> {gemma.layer = 1 : i64, eps = 1.0e-6 : f32, group = 128 : i64} : tensor<?x128xf32> -> tensor<?x128xf32>
    %kr = gemma.rope %kk, %p {gemma.layer = 1 : i64, num_heads = 1 : i64, head_dim = 128 : i64, rope = #gemma.rope<theta = 1.0e6, rotated_pairs = 16, freq_dim = 128>} : tensor<?x128xf32> -> tensor<?x128xf32>
    %vv = gemma.rms_norm %kraw {gemma.layer = 1 : i64, eps = 1.0e-6 : f32, group = 128 : i64} : tensor<?x128xf32> -> tensor<?x128xf32>
    %q1 = gemma.rope %x1, %p {gemma.layer = 1 : i64, num_heads = 2 : i64, head_dim = 128 : i64, rope = #gemma.rope<theta = 1.0e6, rotated_pairs = 16, freq_dim = 128>} : tensor<?x256xf32> -> tensor<?x256xf32>
    %o1 = gemma.attention %q1, %kr, %vv, %p {gemma.layer = 1 : i64, layer = 1 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 128 : i64, window = 0 : i64, kv_cache = 1 : i64, scale = 1.0 : f32} : tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32> -> tensor<?x256xf32>
    return %o1 : tensor<?x256xf32>
  }
}
