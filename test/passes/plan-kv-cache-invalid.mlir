// RUN: gemmac-opt %s -gemma-plan-kv-cache -verify-diagnostics

// Two layers reading one cache with different windows cannot share it.
func.func @conflict(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>, %p: index) attributes {gemma.entry} {
  %o0 = gemma.attention %q, %k, %v, %p {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 32 : i64, window = 8 : i64, kv_cache = 0 : i64, scale = 1.0 : f32} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32> -> tensor<?x64xf32>
  // expected-error @+1 {{reads cache 0 with window 0 and width 32, but another layer reads it with window 8 and width 32}}
  %o1 = gemma.attention %q, %k, %v, %p {layer = 1 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 32 : i64, window = 0 : i64, kv_cache = 0 : i64, scale = 1.0 : f32} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32> -> tensor<?x64xf32>
  return
}
