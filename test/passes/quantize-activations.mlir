// RUN: gemmac-opt %s -split-input-file -gemma-quantize-activations | FileCheck %s

// q, k and v read one quantization of their input, made before the first.
// CHECK-LABEL: func.func @shared
// CHECK-NEXT: %[[B:.*]] = gemma.quantize_activation %arg0 : tensor<?x32xf32> -> <q8_0, 32>
// CHECK-NEXT: gemma.linear %[[B]], %arg1
// CHECK-NEXT: gemma.linear %[[B]], %arg2
// CHECK-NEXT: gemma.geglu %[[B]], %arg2, %arg2
// CHECK-NOT: quantize_activation
func.func @shared(%x: tensor<?x32xf32>, %wq: !gemma.weight<q4_0, [32, 32]>, %wk: !gemma.weight<q5_0, [32, 32]>) -> (tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>) {
  %q = gemma.linear %x, %wq : tensor<?x32xf32>, !gemma.weight<q4_0, [32, 32]> -> tensor<?x32xf32>
  %k = gemma.linear %x, %wk : tensor<?x32xf32>, !gemma.weight<q5_0, [32, 32]> -> tensor<?x32xf32>
  %g = gemma.geglu %x, %wk, %wk {approximation = #gemma<gelu tanh>} : tensor<?x32xf32>, !gemma.weight<q5_0, [32, 32]>, !gemma.weight<q5_0, [32, 32]> -> tensor<?x32xf32>
  return %q, %k, %g : tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// One quantization per kind of blocks; the first reader of each decides
// where it goes.
// CHECK-LABEL: func.func @kinds
// CHECK-NEXT: %[[K:.*]] = gemma.quantize_activation %arg0 : tensor<?x256xf32> -> <q8_k, 256>
// CHECK-NEXT: gemma.linear %[[K]], %arg1
// CHECK-NEXT: %[[O:.*]] = gemma.quantize_activation %arg0 : tensor<?x256xf32> -> <q8_1, 256>
// CHECK-NEXT: gemma.linear %[[O]], %arg2
// CHECK-NEXT: gemma.linear %[[K]], %arg1
func.func @kinds(%x: tensor<?x256xf32>, %wa: !gemma.weight<q4_k, [32, 256]>, %wb: !gemma.weight<q4_1, [32, 256]>) -> (tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>) {
  %a = gemma.linear %x, %wa : tensor<?x256xf32>, !gemma.weight<q4_k, [32, 256]> -> tensor<?x32xf32>
  %b = gemma.linear %x, %wb : tensor<?x256xf32>, !gemma.weight<q4_1, [32, 256]> -> tensor<?x32xf32>
  %c = gemma.linear %x, %wa : tensor<?x256xf32>, !gemma.weight<q4_k, [32, 256]> -> tensor<?x32xf32>
  return %a, %b, %c : tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// Not for float weights, nor for blocks a norm already wrote.
// CHECK-LABEL: func.func @nothing_to_do
// CHECK-NOT: quantize_activation
func.func @nothing_to_do(%x: tensor<?x32xf32>, %w: !gemma.weight<bf16, [32, 32]>, %wq: !gemma.weight<q8_0, [32, 32]>) -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %f = gemma.linear %x, %w : tensor<?x32xf32>, !gemma.weight<bf16, [32, 32]> -> tensor<?x32xf32>
  %y, %b = gemma.rms_norm_quantize %x {eps = 1.0e-6 : f32} : tensor<?x32xf32> -> tensor<?x32xf32>, !gemma.act_blocks<q8_0, 32>
  %q = gemma.linear %b, %wq : !gemma.act_blocks<q8_0, 32>, !gemma.weight<q8_0, [32, 32]> -> tensor<?x32xf32>
  return %f, %q : tensor<?x32xf32>, tensor<?x32xf32>
}
