// RUN: gemmac-opt %s -split-input-file -gemma-fuse-rms-norm-add | FileCheck %s

// The post-attention norm, the residual add and the layer scale: one op.
// CHECK-LABEL: func.func @fuses_with_scale
// CHECK-SAME: (%[[X:.*]]: tensor<?x32xf32>, %[[RES:.*]]: tensor<?x32xf32>, %[[W:.*]]: !gemma.weight<f32, [32]>)
// CHECK-NEXT: %[[Y:.*]] = gemma.rms_norm_add %[[X]], %[[RES]], %[[W]] : !gemma.weight<f32, [32]> {eps = {{.*}}, scale = 5.000000e-01 : f32} : tensor<?x32xf32> -> tensor<?x32xf32>
// CHECK-NEXT: return %[[Y]]
func.func @fuses_with_scale(%x: tensor<?x32xf32>, %res: tensor<?x32xf32>, %w: !gemma.weight<f32, [32]>) -> tensor<?x32xf32> {
  %n = gemma.rms_norm %x, %w : !gemma.weight<f32, [32]> {eps = 1.0e-6 : f32, group = 32 : i64} : tensor<?x32xf32> -> tensor<?x32xf32>
  %a = gemma.add %res, %n : tensor<?x32xf32>
  %s = gemma.scale %a {factor = 0.5 : f32} : tensor<?x32xf32>
  return %s : tensor<?x32xf32>
}

// -----

// Without a scale, or when the sum has other readers, the scale stays.
// CHECK-LABEL: func.func @sum_read_twice
// CHECK-NEXT: %[[Y:.*]] = gemma.rms_norm_add %arg0, %arg1 {eps = {{[^,]*}}} : tensor<?x32xf32> -> tensor<?x32xf32>
// CHECK-NEXT: %[[S:.*]] = gemma.scale %[[Y]]
// CHECK-NEXT: return %[[S]], %[[Y]]
func.func @sum_read_twice(%x: tensor<?x32xf32>, %res: tensor<?x32xf32>) -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %n = gemma.rms_norm %x {eps = 1.0e-6 : f32, group = 32 : i64} : tensor<?x32xf32> -> tensor<?x32xf32>
  %a = gemma.add %n, %res : tensor<?x32xf32>
  %s = gemma.scale %a {factor = 0.5 : f32} : tensor<?x32xf32>
  return %s, %a : tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// Not when the norm has another reader.
// CHECK-LABEL: func.func @norm_read_twice
// CHECK: gemma.rms_norm
// CHECK: gemma.add
// CHECK-NOT: gemma.rms_norm_add
func.func @norm_read_twice(%x: tensor<?x32xf32>, %res: tensor<?x32xf32>) -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %n = gemma.rms_norm %x {eps = 1.0e-6 : f32, group = 32 : i64} : tensor<?x32xf32> -> tensor<?x32xf32>
  %a = gemma.add %n, %res : tensor<?x32xf32>
  return %a, %n : tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// Not when both operands are norms (a kernel computes one), nor for a
// per-head norm (the kernel takes whole rows).
// CHECK-LABEL: func.func @two_norms
// CHECK-NOT: gemma.rms_norm_add
// CHECK: gemma.add
// CHECK-LABEL: func.func @per_head
// CHECK-NOT: gemma.rms_norm_add
// CHECK: gemma.add
func.func @two_norms(%x: tensor<?x32xf32>, %y: tensor<?x32xf32>) -> tensor<?x32xf32> {
  %n = gemma.rms_norm %x {eps = 1.0e-6 : f32, group = 32 : i64} : tensor<?x32xf32> -> tensor<?x32xf32>
  %m = gemma.rms_norm %y {eps = 1.0e-6 : f32, group = 32 : i64} : tensor<?x32xf32> -> tensor<?x32xf32>
  %a = gemma.add %n, %m : tensor<?x32xf32>
  return %a : tensor<?x32xf32>
}
func.func @per_head(%x: tensor<?x32xf32>, %res: tensor<?x32xf32>) -> tensor<?x32xf32> {
  %n = gemma.rms_norm %x {eps = 1.0e-6 : f32, group = 16 : i64} : tensor<?x32xf32> -> tensor<?x32xf32>
  %a = gemma.add %n, %res : tensor<?x32xf32>
  return %a : tensor<?x32xf32>
}
