// RUN: gemmac-opt %s -split-input-file -canonicalize | FileCheck %s

// A layer's output scale with a known value becomes a constant factor.
gemma.weight_def @s : !gemma.weight<f32, [1]> {source_offset = 0 : i64, value = dense<0.625> : tensor<1xf32>}
// CHECK-LABEL: func.func @layer_scalar
// CHECK: gemma.scale %{{.*}} {factor = 6.250000e-01 : f32}
// CHECK-NOT: scale_by_weight
func.func @layer_scalar(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %w = gemma.weight @s : !gemma.weight<f32, [1]>
  %y = gemma.scale_by_weight %x, %w : tensor<?x8xf32>, !gemma.weight<f32, [1]> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Without a known value the weight is read at run time.
gemma.weight_def @s : !gemma.weight<f32, [1]> {source_offset = 0 : i64}
// CHECK-LABEL: func.func @unknown_scalar
// CHECK: gemma.scale_by_weight
func.func @unknown_scalar(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %w = gemma.weight @s : !gemma.weight<f32, [1]>
  %y = gemma.scale_by_weight %x, %w : tensor<?x8xf32>, !gemma.weight<f32, [1]> -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Scaling by 1 disappears; two scales merge when one factor is a power of
// two (exact: the same bits as two roundings).
// CHECK-LABEL: func.func @scales
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>)
// CHECK-NEXT: %[[Y:.*]] = gemma.scale %[[X]] {factor = 1.500000e+00 : f32}
// CHECK-NEXT: return %[[Y]]
func.func @scales(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %a = gemma.scale %x {factor = 1.0 : f32} : tensor<?x8xf32>
  %b = gemma.scale %a {factor = 3.0 : f32} : tensor<?x8xf32>
  %c = gemma.scale %b {factor = 0.5 : f32} : tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}

// -----

// Neither factor a power of two: merging would round once instead of twice
// and change results, so the scales stay.
// CHECK-LABEL: func.func @inexact
// CHECK: gemma.scale %{{.*}} {factor = 3.000000e+00 : f32}
// CHECK: gemma.scale %{{.*}} {factor = 0.707106769 : f32}
func.func @inexact(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %b = gemma.scale %x {factor = 3.0 : f32} : tensor<?x8xf32>
  %c = gemma.scale %b {factor = 0.70710678 : f32} : tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}

// -----

// A power-of-two scale folds into the embedding's scale.
// CHECK-LABEL: func.func @embed_scale
// CHECK: gemma.embed %{{.*}} {scale = 3.200000e+01 : f32}
// CHECK-NOT: gemma.scale
func.func @embed_scale(%t: tensor<?xi32>, %e: !gemma.weight<q8_0, [16, 32]>) -> tensor<?x32xf32> {
  %x = gemma.embed %t, %e {scale = 16.0 : f32} : tensor<?xi32>, !gemma.weight<q8_0, [16, 32]> -> tensor<?x32xf32>
  %y = gemma.scale %x {factor = 2.0 : f32} : tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}
