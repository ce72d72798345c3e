// RUN: gemmac-opt %s -split-input-file -verify-diagnostics | FileCheck %s

// The module attributes declared in the dialect (discardableAttrs) are
// verified: the KV cache element type is a type, f16, f32 or f8E4M3FN, and
// its scales positive pairs, one per layer; a layer is an
// index; a kernel is a declared symbol.

// CHECK: module attributes {gemma.kv_cache_type = f32, gemma.target = "cuda:sm_90"}
module attributes {gemma.kv_cache_type = f32, gemma.target = "cuda:sm_90"} {
}

// -----

// expected-error @+1 {{'gemma.kv_cache_type' must be f16, f32 or f8E4M3FN, got "f32"}}
module attributes {gemma.kv_cache_type = "f32"} {
}

// -----

// expected-error @+1 {{'gemma.kv_cache_type' must be f16, f32 or f8E4M3FN, got bf16}}
module attributes {gemma.kv_cache_type = bf16} {
}

// -----

// An E4M3 cache and its scales, a (k, v) pair per layer.
// CHECK: module attributes {gemma.kv_cache_type = f8E4M3FN, gemma.kv_scales = array<f32: 1.000000e+00, 5.000000e-01, 2.500000e-01, 1.000000e+00>, gemma.num_layers = 2 : i64}
module attributes {gemma.kv_cache_type = f8E4M3FN, gemma.kv_scales = array<f32: 1.0, 0.5, 0.25, 1.0>, gemma.num_layers = 2 : i64} {
}

// -----

// expected-error @+1 {{'gemma.kv_scales' has 2 values, the module's 2 layers need 4}}
module attributes {gemma.kv_scales = array<f32: 1.0, 0.5>, gemma.num_layers = 2 : i64} {
}

// -----

// expected-error @+1 {{'gemma.kv_scales'[1] = -5.000000e-01 is not a finite positive scale}}
module attributes {gemma.kv_scales = array<f32: 1.0, -0.5>} {
}

// -----

// expected-error @+1 {{'gemma.kv_scales' must be an array of f32 pairs (k, v per layer), got array<f32: 1.000000e+00>}}
module attributes {gemma.kv_scales = array<f32: 1.0>} {
}

// -----

// expected-error @+1 {{'gemma.target' must be a string, got 3 : i64}}
module attributes {gemma.target = 3 : i64} {
}

// -----

// expected-error @+1 {{'gemma.weights_bytes' must be an integer, got "many"}}
module attributes {gemma.weights_bytes = "many"} {
}

// -----

// An op's decoder layer is an index.
func.func @f(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'gemma.layer' must be a layer index (i64 >= 0), got -1 : i64}}
  %y = gemma.add %x, %x {gemma.layer = -1 : i64} : tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

// The kernel an op calls is a symbol whose declaration carries its signature.
gemma.weight_def @w : !gemma.weight<q8_0, [4, 32]> {source_offset = 0 : i64}
func.func @g(%x: tensor<?x32xf32>) -> tensor<?x4xf32> {
  %w = gemma.weight @w : !gemma.weight<q8_0, [4, 32]>
  // expected-error @+1 {{'gemma.kernel' names @gmk_linear_q8_0, which is not a kernel declaration (func.func) in the module}}
  %y = gemma.linear %x, %w {gemma.kernel = @gmk_linear_q8_0} : tensor<?x32xf32>, !gemma.weight<q8_0, [4, 32]> -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

func.func @h(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{'gemma.kernel' must be a kernel symbol, got "gmk_gelu_tanh"}}
  %y = gemma.add %x, %x {gemma.kernel = "gmk_gelu_tanh"} : tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}
