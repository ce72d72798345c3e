// RUN: gemmac-opt %s -split-input-file -verify-diagnostics -gemma-lower-to-cpu -canonicalize -cse | FileCheck %s

// Every kernel call is built from the kernel's row of abi/kernels.def: a
// selected kernel is called by the name given when the catalogue has it and
// it reads the weights' format and layout, and its declaration is the row's
// signature ("ROAiWii": rt, out, in, n_tokens, weight, n_out, n_in).
// CHECK-DAG: func.func private @gmk_logits_q8_0(!llvm.ptr, memref<?xf32>, memref<?xf32>, index, memref<?xi8>, index, index)
// CHECK-DAG: func.func private @gmk_embed_q8_0(!llvm.ptr, memref<?xf32>, memref<?xi32>, index, memref<?xi8>, index, index, f32)
// CHECK-LABEL: func.func @gemmac_forward
// CHECK: call @gmk_embed_q8_0(
// CHECK: call @gmk_logits_q8_0(
module attributes {gemma.weights_bytes = 2176 : i64, gemma.weights_fingerprint = 1 : i64} {
  gemma.weight_def @e : !gemma.weight<q8_0, [64, 32]> {source_offset = 0 : i64, blob_offset = 0 : i64}
  func.func private @gmk_logits_q8_0(!llvm.ptr, memref<?xf32>, memref<?xf32>, index, memref<?xi8>, index, index)
  func.func @forward(%t: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x64xf32> attributes {gemma.entry} {
    %e = gemma.weight @e : !gemma.weight<q8_0, [64, 32]>
    %x = gemma.embed %t, %e {scale = 1.0 : f32} : tensor<?xi32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x32xf32>
    %l = gemma.linear %x, %e {gemma.kernel = @gmk_logits_q8_0} : tensor<?x32xf32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x64xf32>
    return %l : tensor<?x64xf32>
  }
}

// -----

// A kernel the runtime does not provide is an error, not an undefined symbol
// at link time.
module attributes {gemma.weights_bytes = 2176 : i64, gemma.weights_fingerprint = 1 : i64} {
  gemma.weight_def @e : !gemma.weight<q8_0, [64, 32]> {source_offset = 0 : i64, blob_offset = 0 : i64}
  func.func private @gmk_linear_q8_0_custom()
  func.func @forward(%t: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x64xf32> attributes {gemma.entry} {
    %e = gemma.weight @e : !gemma.weight<q8_0, [64, 32]>
    %x = gemma.embed %t, %e {scale = 1.0 : f32} : tensor<?xi32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x32xf32>
    // expected-error @+1 {{'gemma.linear' op kernel @gmk_linear_q8_0_custom is not in the runtime's catalogue (abi/kernels.def)}}
    %l = gemma.linear %x, %e {gemma.kernel = @gmk_linear_q8_0_custom} : tensor<?x32xf32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x64xf32>
    return %l : tensor<?x64xf32>
  }
}

// -----

// A weight kernel must read the weights' format.
module attributes {gemma.weights_bytes = 2176 : i64, gemma.weights_fingerprint = 1 : i64} {
  gemma.weight_def @e : !gemma.weight<q8_0, [64, 32]> {source_offset = 0 : i64, blob_offset = 0 : i64}
  func.func private @gmk_linear_q4_0(!llvm.ptr, memref<?xf32>, memref<?xf32>, index, memref<?xi8>, index, index)
  func.func @forward(%t: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x64xf32> attributes {gemma.entry} {
    %e = gemma.weight @e : !gemma.weight<q8_0, [64, 32]>
    %x = gemma.embed %t, %e {scale = 1.0 : f32} : tensor<?xi32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x32xf32>
    // expected-error @+1 {{'gemma.linear' op kernel 'gmk_linear_q4_0' reads q4_0 weights, not q8_0}}
    %l = gemma.linear %x, %e {gemma.kernel = @gmk_linear_q4_0} : tensor<?x32xf32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x64xf32>
    return %l : tensor<?x64xf32>
  }
}

// -----

// A kernel whose signature does not fit the op's call: a GeGLU passes two
// weights, a projection kernel takes one.
module attributes {gemma.weights_bytes = 2176 : i64, gemma.weights_fingerprint = 1 : i64} {
  gemma.weight_def @e : !gemma.weight<q8_0, [64, 32]> {source_offset = 0 : i64, blob_offset = 0 : i64}
  func.func private @gmk_linear_q8_0(!llvm.ptr, memref<?xf32>, memref<?xf32>, index, memref<?xi8>, index, index)
  func.func @forward(%t: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x64xf32> attributes {gemma.entry} {
    %e = gemma.weight @e : !gemma.weight<q8_0, [64, 32]>
    %x = gemma.embed %t, %e {scale = 1.0 : f32} : tensor<?xi32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x32xf32>
    // expected-error @+1 {{'gemma.geglu' op calls kernel 'gmk_linear_q8_0' with 8 arguments, its signature "ROAiWii" takes 7}}
    %m = gemma.geglu %x, %e, %e {approximation = #gemma<gelu tanh>, gemma.kernel = @gmk_linear_q8_0} : tensor<?x32xf32>, !gemma.weight<q8_0, [64, 32]>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x64xf32>
    return %m : tensor<?x64xf32>
  }
}

// -----

// An attention kernel over f16 caches cannot read f32 ones: the argument's
// type is checked against the signature's character.
module attributes {gemma.kv_cache_type = f32, gemma.kv_plan = [#gemma.kv_cache<owner = 0, readers = [0], width = 64, rows = 4, offset = 0, per_token = 0>], gemma.weights_bytes = 4352 : i64, gemma.weights_fingerprint = 1 : i64} {
  gemma.weight_def @e : !gemma.weight<q8_0, [64, 64]> {source_offset = 0 : i64, blob_offset = 0 : i64}
  func.func private @gmk_attention_f16_d64(!llvm.ptr, memref<?xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>, index, index, index, index, index, index, memref<?xf16>, memref<?xf16>, index, f32)
  func.func @forward(%t: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x64xf32> attributes {gemma.entry} {
    %e = gemma.weight @e : !gemma.weight<q8_0, [64, 64]>
    %x = gemma.embed %t, %e {scale = 1.0 : f32} : tensor<?xi32>, !gemma.weight<q8_0, [64, 64]> -> tensor<?x64xf32>
    // expected-error @+1 {{'gemma.attention' op calls kernel 'gmk_attention_f16_d64' with 'memref<?xf32>' as argument 12, its signature "ROAAAiIiiiiiHHiif" takes 'memref<?xf16>' ('H')}}
    %o = gemma.attention %x, %x, %x, %pos0 {layer = 0 : i64, num_heads = 1 : i64, num_kv_heads = 1 : i64, head_dim = 64 : i64, window = 4 : i64, kv_cache = 0 : i64, scale = 1.0 : f32, gemma.kernel = @gmk_attention_f16_d64} : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x64xf32> -> tensor<?x64xf32>
    return %o : tensor<?x64xf32>
  }
}

// -----

// An attention instantiated for one head dim cannot read heads of another.
module attributes {gemma.kv_plan = [#gemma.kv_cache<owner = 0, readers = [0], width = 32, rows = 4, offset = 0, per_token = 0>], gemma.weights_bytes = 2176 : i64, gemma.weights_fingerprint = 1 : i64} {
  gemma.weight_def @e : !gemma.weight<q8_0, [64, 32]> {source_offset = 0 : i64, blob_offset = 0 : i64}
  func.func private @gmk_attention_f16_d64(!llvm.ptr, memref<?xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>, index, index, index, index, index, index, memref<?xf16>, memref<?xf16>, index, f32)
  func.func @forward(%t: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x32xf32> attributes {gemma.entry} {
    %e = gemma.weight @e : !gemma.weight<q8_0, [64, 32]>
    %x = gemma.embed %t, %e {scale = 1.0 : f32} : tensor<?xi32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x32xf32>
    // expected-error @+1 {{'gemma.attention' op kernel 'gmk_attention_f16_d64' is instantiated for head dim 64, not 32}}
    %o = gemma.attention %x, %x, %x, %pos0 {layer = 0 : i64, num_heads = 1 : i64, num_kv_heads = 1 : i64, head_dim = 32 : i64, window = 4 : i64, kv_cache = 0 : i64, scale = 1.0 : f32, gemma.kernel = @gmk_attention_f16_d64} : tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32> -> tensor<?x32xf32>
    return %o : tensor<?x32xf32>
  }
}
