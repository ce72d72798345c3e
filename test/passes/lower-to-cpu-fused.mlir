// RUN: gemmac-opt %s -gemma-fuse-rms-norm-rope -gemma-fuse-rms-norm-add | FileCheck %s --check-prefix=FUSED
// RUN: gemmac-opt %s -gemma-fuse-rms-norm-rope -gemma-fuse-rms-norm-add -gemma-lower-to-cpu -canonicalize -cse | FileCheck %s

// The GPU kernel phase's norm fusions lowered for the CPU: the same kernel
// calls and loops as the ops they replace (a per-head norm then RoPE, in
// place; a whole-row norm, then the residual added and the layer scale).

module attributes {gemma.weights_bytes = 2432 : i64, gemma.weights_fingerprint = 7 : i64} {
  gemma.weight_def @emb : !gemma.weight<q8_0, [64, 32]> {source_offset = 0 : i64, blob_offset = 0 : i64}
  gemma.weight_def @qn : !gemma.weight<f32, [16]> {source_offset = 0 : i64, blob_offset = 2176 : i64}
  gemma.weight_def @pn : !gemma.weight<f32, [32]> {source_offset = 0 : i64, blob_offset = 2304 : i64}
  func.func @forward(%tokens: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x32xf32> attributes {gemma.entry} {
    %emb = gemma.weight @emb : !gemma.weight<q8_0, [64, 32]>
    %qn = gemma.weight @qn : !gemma.weight<f32, [16]>
    %pn = gemma.weight @pn : !gemma.weight<f32, [32]>
    %x = gemma.embed %tokens, %emb {scale = 2.0 : f32} : tensor<?xi32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x32xf32>
    %y = gemma.gelu %x {approximation = #gemma<gelu tanh>} : tensor<?x32xf32>
    %qh = gemma.rms_norm %y, %qn : !gemma.weight<f32, [16]> {eps = 1.0e-6 : f32, group = 16 : i64} : tensor<?x32xf32> -> tensor<?x32xf32>
    %qr = gemma.rope %qh, %pos0 {num_heads = 2 : i64, head_dim = 16 : i64, rope = #gemma.rope<theta = 1.0e4, rotated_pairs = 8, freq_dim = 16>} : tensor<?x32xf32> -> tensor<?x32xf32>
    %p = gemma.rms_norm %qr, %pn : !gemma.weight<f32, [32]> {eps = 1.0e-6 : f32, group = 32 : i64} : tensor<?x32xf32> -> tensor<?x32xf32>
    %h = gemma.add %x, %p : tensor<?x32xf32>
    %s = gemma.scale %h {factor = 0.5 : f32} : tensor<?x32xf32>
    %last = gemma.last_rows %s, %n : tensor<?x32xf32>
    return %last : tensor<?x32xf32>
  }
}

// FUSED: gemma.rms_norm_rope
// FUSED: gemma.rms_norm_add
// FUSED-NOT: gemma.rms_norm {{.*}}group
// FUSED-NOT: gemma.add
// FUSED-NOT: gemma.scale

// CHECK-LABEL: func.func @gemmac_forward
// CHECK-SAME: %[[RT:[^:]*]]: !llvm.ptr {gemma.name = "rt"}
// CHECK-SAME: %[[T:[^:]*]]: index {gemma.name = "n_tokens"}, %[[POS:[^:]*]]: index {gemma.name = "pos0"}
// CHECK: call @gmk_embed_q8_0(%[[RT]], %[[X:[^,]*]],
// CHECK: call @gmk_gelu_tanh(%[[RT]], %[[Y:[^,]*]], %[[X]],
// Per-head norm (groups of 16) then RoPE over the norm's result, in place.
// CHECK: call @gmk_rms_norm(%[[RT]], %[[Q:[^,]*]], %[[Y]], %[[T]], %c32, %c16,
// CHECK-NEXT: call @gmk_rope(%[[RT]], %[[Q]], %[[Q]], %[[T]], %c2, %c16, %[[POS]],
// Whole-row norm, then the residual and the scale as loops over its result.
// CHECK: call @gmk_rms_norm(%[[RT]], %[[P:[^,]*]], %[[Q]], %[[T]], %c32, %c32,
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[P]], %[[X]] : memref<?xf32>, memref<?xf32>) outs(%[[P]] : memref<?xf32>)
// CHECK: arith.addf
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[P]] : memref<?xf32>) outs(%[[P]] : memref<?xf32>)
// CHECK: arith.mulf
