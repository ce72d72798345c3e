// RUN: gemmac-opt %s -split-input-file -gemma-reencode-gptq | FileCheck %s

// Symmetric zero points and groups of whole 32-blocks: q4_0, and every
// reference to the weight takes the new type; a weight without a GPTQ
// source is left as it is.
// CHECK-LABEL: module @symmetric
// CHECK: gemma.weight_def @w : !gemma.weight<q4_0, [64, 256]> {gptq = #gemma.gptq<qzeros = 10, scales = 20, g_idx = 30, group = 128, zero_offset = 1, symmetric = true, block_uniform = true>, source_offset = 0 : i64}
// CHECK: gemma.weight_def @plain : !gemma.weight<f32, [64, 256]>
// CHECK: %[[W:.*]] = gemma.weight @w : <q4_0, [64, 256]>
// CHECK: gemma.linear %{{.*}}, %[[W]] : tensor<?x256xf32>, <q4_0, [64, 256]>
// CHECK: gemma.weight @plain : <f32, [64, 256]>
module @symmetric {
  gemma.weight_def @w : !gemma.weight<f32, [64, 256]> {gptq = #gemma.gptq<qzeros = 10, scales = 20, g_idx = 30, group = 128, zero_offset = 1, symmetric = true, block_uniform = true>, source_offset = 0 : i64}
  gemma.weight_def @plain : !gemma.weight<f32, [64, 256]> {source_offset = 100 : i64}
  func.func @f(%x: tensor<?x256xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
    %w = gemma.weight @w : !gemma.weight<f32, [64, 256]>
    %y = gemma.linear %x, %w : tensor<?x256xf32>, !gemma.weight<f32, [64, 256]> -> tensor<?x64xf32>
    %p = gemma.weight @plain : !gemma.weight<f32, [64, 256]>
    %z = gemma.linear %x, %p : tensor<?x256xf32>, !gemma.weight<f32, [64, 256]> -> tensor<?x64xf32>
    return %y, %z : tensor<?x64xf32>, tensor<?x64xf32>
  }
}

// -----

// Asymmetric zero points: q8_0 (q - z fits an int8; the scale is d).
// CHECK-LABEL: module @asymmetric
// CHECK: gemma.weight_def @w : !gemma.weight<q8_0, [64, 256]>
// CHECK: gemma.weight @w : <q8_0, [64, 256]>
module @asymmetric {
  gemma.weight_def @w : !gemma.weight<f32, [64, 256]> {gptq = #gemma.gptq<qzeros = 10, scales = 20, g_idx = -1, group = 64, zero_offset = 1, symmetric = false, block_uniform = true>, source_offset = 0 : i64}
  func.func @f(%x: tensor<?x256xf32>) -> tensor<?x64xf32> {
    %w = gemma.weight @w : !gemma.weight<f32, [64, 256]>
    %y = gemma.linear %x, %w : tensor<?x256xf32>, !gemma.weight<f32, [64, 256]> -> tensor<?x64xf32>
    return %y : tensor<?x64xf32>
  }
}

// -----

// Where no block format can hold the values (groups that split 32-blocks,
// as desc_act or a group of 48 make them; columns not a multiple of 32),
// the weight stays f32: exact, only larger.
// CHECK-LABEL: module @not_uniform
// CHECK: gemma.weight_def @w : !gemma.weight<f32, [64, 256]>
// CHECK: gemma.weight_def @narrow : !gemma.weight<f32, [64, 200]>
// CHECK: gemma.weight @w : <f32, [64, 256]>
module @not_uniform {
  gemma.weight_def @w : !gemma.weight<f32, [64, 256]> {gptq = #gemma.gptq<qzeros = 10, scales = 20, g_idx = 30, group = 128, zero_offset = 1, symmetric = true, block_uniform = false>, source_offset = 0 : i64}
  gemma.weight_def @narrow : !gemma.weight<f32, [64, 200]> {gptq = #gemma.gptq<qzeros = 10, scales = 20, g_idx = -1, group = 40, zero_offset = 1, symmetric = true, block_uniform = false>, source_offset = 0 : i64}
  func.func @f(%x: tensor<?x256xf32>, %x2: tensor<?x200xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
    %w = gemma.weight @w : !gemma.weight<f32, [64, 256]>
    %y = gemma.linear %x, %w : tensor<?x256xf32>, !gemma.weight<f32, [64, 256]> -> tensor<?x64xf32>
    %n = gemma.weight @narrow : !gemma.weight<f32, [64, 200]>
    %z = gemma.linear %x2, %n : tensor<?x200xf32>, !gemma.weight<f32, [64, 200]> -> tensor<?x64xf32>
    return %y, %z : tensor<?x64xf32>, tensor<?x64xf32>
  }
}
