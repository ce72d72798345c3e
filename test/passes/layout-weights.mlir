// RUN: gemmac-opt %s -gemma-layout-weights -split-input-file | FileCheck %s

// Used weights get 64-byte aligned blob offsets in module order; the blob's
// size and a layout fingerprint are recorded on the module.

// CHECK: module attributes {gemma.weights_bytes = 1128 : i64, gemma.weights_fingerprint = {{-?[0-9]+}} : i64}
// CHECK: gemma.weight_def @a : !gemma.weight<q8_0, [1, 32]> {blob_offset = 0 : i64, source_offset = 100 : i64}
// CHECK: gemma.weight_def @b : !gemma.weight<f32, [256]> {blob_offset = 64 : i64, source_offset = 0 : i64}
// CHECK: gemma.weight_def @c : !gemma.weight<f32, [10]> {blob_offset = 1088 : i64, source_offset = 7 : i64}
gemma.weight_def @a : !gemma.weight<q8_0, [1, 32]> {source_offset = 100 : i64}
gemma.weight_def @b : !gemma.weight<f32, [256]> {source_offset = 0 : i64}
gemma.weight_def @c : !gemma.weight<f32, [10]> {source_offset = 7 : i64}
func.func @f() {
  %a = gemma.weight @a : !gemma.weight<q8_0, [1, 32]>
  %b = gemma.weight @b : !gemma.weight<f32, [256]>
  %c = gemma.weight @c : !gemma.weight<f32, [10]>
  return
}

// -----

// Weights nothing references are dropped from the blob.
// CHECK-LABEL: module attributes {gemma.weights_bytes = 40 : i64
// CHECK-NOT: @unused
// CHECK: gemma.weight_def @used
gemma.weight_def @unused : !gemma.weight<f32, [64]> {source_offset = 0 : i64}
gemma.weight_def @used : !gemma.weight<f32, [10]> {source_offset = 256 : i64}
func.func @f() {
  %u = gemma.weight @used : !gemma.weight<f32, [10]>
  return
}

// -----

// The same weights at other source offsets give another fingerprint.
// CHECK-LABEL: module attributes {gemma.weights_bytes = 40 : i64, gemma.weights_fingerprint =
// CHECK-NOT: gemma.weights_fingerprint = 0
gemma.weight_def @used : !gemma.weight<f32, [10]> {source_offset = 512 : i64}
func.func @f() {
  %u = gemma.weight @used : !gemma.weight<f32, [10]>
  return
}
