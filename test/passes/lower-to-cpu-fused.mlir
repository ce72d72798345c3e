// RUN: gemmac-opt %s -split-input-file -gemma-fuse-rms-norm-rope -gemma-fuse-rms-norm-add | FileCheck %s --check-prefix=FUSED
// RUN: gemmac-opt %s -split-input-file -gemma-fuse-rms-norm-rope -gemma-fuse-rms-norm-add -gemma-lower-to-cpu -canonicalize -cse | FileCheck %s

// The norm fusions of the kernel phase (CPU and GPU) lowered for the CPU: one
// fused kernel call each (a per-head norm then RoPE, a token at a time; a
// whole-row norm, the residual added and the layer scale), no loops left.
// The unweighted forms and a norm-add without a layer scale (scale 1) are in
// the second module.

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
// CHECK-SAME: (%[[RT:[^:]*]]: !llvm.ptr,
// CHECK-SAME: %[[T:[^:]*]]: index, %{{[^:]*}}: !llvm.ptr,
// CHECK: %[[POS:.*]] = memref.view %{{.*}}[%c0][%[[T]]] : memref<?xi8> to memref<?xi64>
// CHECK: call @gmk_embed_q8_0(%[[RT]], %[[X:[^,]*]],
// CHECK: call @gmk_gelu_tanh(%[[RT]], %[[Y:[^,]*]], %[[X]],
// CHECK: call @gmk_rms_norm_rope(%[[RT]], %[[Q:[^,]*]], %[[Y]], %[[T]], %c2, %c16, %[[POS]], %{{[^,]*}}, %c16, %c8, %{{[^,]*}}, %c0_i32, %[[EPS:[^)]*]])
// CHECK-NOT: linalg.generic
// CHECK: call @gmk_rms_norm_add(%[[RT]], %[[P:[^,]*]], %[[Q]], %[[X]], %[[T]], %c32, %{{[^,]*}}, %c0_i32, %[[EPS]], %cst{{.*}})
// CHECK-NOT: arith.addf
// CHECK: return

// -----

module attributes {gemma.weights_bytes = 2176 : i64, gemma.weights_fingerprint = 7 : i64} {
  gemma.weight_def @emb : !gemma.weight<q8_0, [64, 32]> {source_offset = 0 : i64, blob_offset = 0 : i64}
  func.func @forward(%tokens: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x32xf32> attributes {gemma.entry} {
    %emb = gemma.weight @emb : !gemma.weight<q8_0, [64, 32]>
    %x = gemma.embed %tokens, %emb {scale = 2.0 : f32} : tensor<?xi32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x32xf32>
    %kh = gemma.rms_norm %x {eps = 1.0e-6 : f32, group = 16 : i64} : tensor<?x32xf32> -> tensor<?x32xf32>
    %kr = gemma.rope %kh, %pos0 {num_heads = 2 : i64, head_dim = 16 : i64, rope = #gemma.rope<theta = 1.0e4, rotated_pairs = 8, freq_dim = 16>} : tensor<?x32xf32> -> tensor<?x32xf32>
    %p = gemma.rms_norm %kr {eps = 1.0e-6 : f32, group = 32 : i64} : tensor<?x32xf32> -> tensor<?x32xf32>
    %h = gemma.add %p, %x : tensor<?x32xf32>
    %last = gemma.last_rows %h, %n : tensor<?x32xf32>
    return %last : tensor<?x32xf32>
  }
}

// CHECK-LABEL: func.func @gemmac_forward
// CHECK: %[[ONE:[^ ]*]] = arith.constant 1.000000e+00 : f32
// CHECK: call @gmk_rms_norm_rope_unweighted(
// CHECK: call @gmk_rms_norm_add_unweighted({{.*}}, %[[ONE]])
