// RUN: gemmac-opt %s -split-input-file -gemma-fuse-rms-norm-rope | FileCheck %s

// A per-head norm read only by the RoPE over its heads: one op (one kernel).
// CHECK-LABEL: func.func @fuses
// CHECK-SAME: (%[[X:.*]]: tensor<?x32xf32>, %[[P:.*]]: index, %[[W:.*]]: !gemma.weight<f32, [16]>)
// CHECK-NEXT: %[[R:.*]] = gemma.rms_norm_rope %[[X]], %[[P]], %[[W]] : !gemma.weight<f32, [16]> {eps = {{.*}}, head_dim = 16 : i64, num_heads = 2 : i64, rope = #gemma.rope<{{.*}}>} : tensor<?x32xf32> -> tensor<?x32xf32>
// CHECK-NEXT: return %[[R]]
func.func @fuses(%x: tensor<?x32xf32>, %pos0: index, %w: !gemma.weight<f32, [16]>) -> tensor<?x32xf32> {
  %n = gemma.rms_norm %x, %w : !gemma.weight<f32, [16]> {eps = 1.0e-6 : f32, group = 16 : i64} : tensor<?x32xf32> -> tensor<?x32xf32>
  %r = gemma.rope %n, %pos0 {num_heads = 2 : i64, head_dim = 16 : i64, rope = #gemma.rope<theta = 1.0e4, rotated_pairs = 8, freq_dim = 16>} : tensor<?x32xf32> -> tensor<?x32xf32>
  return %r : tensor<?x32xf32>
}

// -----

// An unweighted norm fuses too (the op has no weight operand).
// CHECK-LABEL: func.func @unweighted
// CHECK-NEXT: gemma.rms_norm_rope %{{.*}}, %{{.*}} {eps
// CHECK-NOT: gemma.rms_norm {
func.func @unweighted(%x: tensor<?x32xf32>, %pos0: index) -> tensor<?x32xf32> {
  %n = gemma.rms_norm %x {eps = 1.0e-6 : f32, group = 16 : i64} : tensor<?x32xf32> -> tensor<?x32xf32>
  %r = gemma.rope %n, %pos0 {num_heads = 2 : i64, head_dim = 16 : i64, rope = #gemma.rope<theta = 1.0e4, rotated_pairs = 8, freq_dim = 16>} : tensor<?x32xf32> -> tensor<?x32xf32>
  return %r : tensor<?x32xf32>
}

// -----

// Not when something else reads the normalized heads (they must exist).
// CHECK-LABEL: func.func @other_reader
// CHECK: gemma.rms_norm
// CHECK: gemma.rope
// CHECK-NOT: gemma.rms_norm_rope
func.func @other_reader(%x: tensor<?x32xf32>, %pos0: index) -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %n = gemma.rms_norm %x {eps = 1.0e-6 : f32, group = 16 : i64} : tensor<?x32xf32> -> tensor<?x32xf32>
  %r = gemma.rope %n, %pos0 {num_heads = 2 : i64, head_dim = 16 : i64, rope = #gemma.rope<theta = 1.0e4, rotated_pairs = 8, freq_dim = 16>} : tensor<?x32xf32> -> tensor<?x32xf32>
  return %r, %n : tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// Not a whole-row norm: the RoPE's workgroup holds one head only.
// CHECK-LABEL: func.func @whole_row
// CHECK: gemma.rms_norm
// CHECK: gemma.rope
// CHECK-NOT: gemma.rms_norm_rope
func.func @whole_row(%x: tensor<?x32xf32>, %pos0: index) -> tensor<?x32xf32> {
  %n = gemma.rms_norm %x {eps = 1.0e-6 : f32, group = 32 : i64} : tensor<?x32xf32> -> tensor<?x32xf32>
  %r = gemma.rope %n, %pos0 {num_heads = 2 : i64, head_dim = 16 : i64, rope = #gemma.rope<theta = 1.0e4, rotated_pairs = 8, freq_dim = 16>} : tensor<?x32xf32> -> tensor<?x32xf32>
  return %r : tensor<?x32xf32>
}
