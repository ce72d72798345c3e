// RUN: gemmac-opt %s -gemma-specialize-layers -verify-diagnostics

// Queries rotated as other heads than the attention reads them.
func.func @mismatch(%x: tensor<?x128xf32>, %k: tensor<?x64xf32>, %p: index) attributes {gemma.entry} {
  %q = gemma.rope %x, %p {num_heads = 4 : i64, head_dim = 32 : i64, rope = #gemma.rope<theta = 1.0e4, rotated_pairs = 16, freq_dim = 32>} : tensor<?x128xf32> -> tensor<?x128xf32>
  // expected-error @+1 {{has 2 heads of 64 but its queries were rotated as 4 heads of 32}}
  %o = gemma.attention %q, %k, %k, %p {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 64 : i64, window = 8 : i64, kv_cache = 0 : i64, scale = 1.0 : f32} : tensor<?x128xf32>, tensor<?x64xf32>, tensor<?x64xf32> -> tensor<?x128xf32>
  return
}
