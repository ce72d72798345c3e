// RUN: gemmac-opt %s -split-input-file -verify-diagnostics | FileCheck %s

// The module attributes declared in the dialect (discardableAttrs) are
// verified: the KV cache element type is a type, f16 or f32.

// CHECK: module attributes {gemma.kv_cache_type = f32, gemma.target = "cuda:sm_90"}
module attributes {gemma.kv_cache_type = f32, gemma.target = "cuda:sm_90"} {
}

// -----

// expected-error @+1 {{'gemma.kv_cache_type' must be f16 or f32, got "f32"}}
module attributes {gemma.kv_cache_type = "f32"} {
}

// -----

// expected-error @+1 {{'gemma.kv_cache_type' must be f16 or f32, got bf16}}
module attributes {gemma.kv_cache_type = bf16} {
}

// -----

// expected-error @+1 {{'gemma.target' must be a string, got 3 : i64}}
module attributes {gemma.target = 3 : i64} {
}

// -----

// expected-error @+1 {{'gemma.weights_bytes' must be an integer, got "many"}}
module attributes {gemma.weights_bytes = "many"} {
}
