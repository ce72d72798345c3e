// RUN: gemmac-opt %s -split-input-file -gemma-fuse-rms-norm-quantize | FileCheck %s

// A whole-row norm read by Q8_0 matvecs writes the int8 blocks they share.
// CHECK-LABEL: func.func @fuses
// CHECK-NEXT: %[[Y:.*]], %[[B:.*]] = gemma.rms_norm_quantize %arg0, %arg1 : !gemma.weight<f32, [32]> {eps = {{.*}}} : tensor<?x32xf32> -> tensor<?x32xf32>, <q8_0, 32>
// CHECK-NEXT: gemma.linear %[[B]], %arg2 : !gemma.act_blocks<q8_0, 32>, <q4_0, [32, 32]>
// CHECK-NEXT: gemma.linear %[[B]], %arg3 : !gemma.act_blocks<q8_0, 32>, <q8_0, [16, 32]>
// The f32 rows stay for the other readers.
// CHECK-NEXT: gemma.add %[[Y]], %arg0
func.func @fuses(%x: tensor<?x32xf32>, %w: !gemma.weight<f32, [32]>, %wq: !gemma.weight<q4_0, [32, 32]>, %wk: !gemma.weight<q8_0, [16, 32]>) -> (tensor<?x32xf32>, tensor<?x16xf32>, tensor<?x32xf32>) {
  %n = gemma.rms_norm %x, %w : !gemma.weight<f32, [32]> {eps = 1.0e-6 : f32, group = 32 : i64} : tensor<?x32xf32> -> tensor<?x32xf32>
  %q = gemma.linear %n, %wq : tensor<?x32xf32>, !gemma.weight<q4_0, [32, 32]> -> tensor<?x32xf32>
  %k = gemma.linear %n, %wk : tensor<?x32xf32>, !gemma.weight<q8_0, [16, 32]> -> tensor<?x16xf32>
  %s = gemma.add %n, %x : tensor<?x32xf32>
  return %q, %k, %s : tensor<?x32xf32>, tensor<?x16xf32>, tensor<?x32xf32>
}

// -----

// The kernel writes one kind of blocks: a reader of another kind keeps the
// f32 rows (gemma-quantize-activations quantizes them for it).
// CHECK-LABEL: func.func @two_kinds
// CHECK-NEXT: %[[Y:.*]], %[[B:.*]] = gemma.rms_norm_quantize {{.*}} -> tensor<?x256xf32>, <[[KIND:q8_[0k]]], 256>
// CHECK-DAG: gemma.linear %[[B]], {{.*}} : !gemma.act_blocks<[[KIND]], 256>
// CHECK-DAG: gemma.linear %[[Y]], {{.*}} : tensor<?x256xf32>
func.func @two_kinds(%x: tensor<?x256xf32>, %wa: !gemma.weight<q4_0, [32, 256]>, %wb: !gemma.weight<q6_k, [32, 256]>) -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %n = gemma.rms_norm %x {eps = 1.0e-6 : f32, group = 256 : i64} : tensor<?x256xf32> -> tensor<?x256xf32>
  %a = gemma.linear %n, %wa : tensor<?x256xf32>, !gemma.weight<q4_0, [32, 256]> -> tensor<?x32xf32>
  %b = gemma.linear %n, %wb : tensor<?x256xf32>, !gemma.weight<q6_k, [32, 256]> -> tensor<?x32xf32>
  return %a, %b : tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// Not for float weights (they read f32 rows), nor for a per-head norm
// (blocks span whole rows), nor for a norm no matvec reads.
// CHECK-LABEL: func.func @float_weights
// CHECK-NOT: rms_norm_quantize
// CHECK-LABEL: func.func @per_head
// CHECK-NOT: rms_norm_quantize
// CHECK-LABEL: func.func @no_matvec
// CHECK-NOT: rms_norm_quantize
func.func @float_weights(%x: tensor<?x32xf32>, %wq: !gemma.weight<f16, [32, 32]>) -> tensor<?x32xf32> {
  %n = gemma.rms_norm %x {eps = 1.0e-6 : f32, group = 32 : i64} : tensor<?x32xf32> -> tensor<?x32xf32>
  %q = gemma.linear %n, %wq : tensor<?x32xf32>, !gemma.weight<f16, [32, 32]> -> tensor<?x32xf32>
  return %q : tensor<?x32xf32>
}
func.func @per_head(%x: tensor<?x64xf32>, %wq: !gemma.weight<q8_0, [32, 64]>) -> tensor<?x32xf32> {
  %n = gemma.rms_norm %x {eps = 1.0e-6 : f32, group = 32 : i64} : tensor<?x64xf32> -> tensor<?x64xf32>
  %q = gemma.linear %n, %wq : tensor<?x64xf32>, !gemma.weight<q8_0, [32, 64]> -> tensor<?x32xf32>
  return %q : tensor<?x32xf32>
}
func.func @no_matvec(%x: tensor<?x32xf32>) -> tensor<?x32xf32> {
  %n = gemma.rms_norm %x {eps = 1.0e-6 : f32, group = 32 : i64} : tensor<?x32xf32> -> tensor<?x32xf32>
  %g = gemma.gelu %n {approximation = #gemma<gelu tanh>} : tensor<?x32xf32>
  return %g : tensor<?x32xf32>
}
