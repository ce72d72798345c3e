// RUN: gemmac-opt %s -split-input-file -gemma-reencode-gptq="activations=f32" | FileCheck %s
// RUN: not gemmac-opt %s -split-input-file -gemma-reencode-gptq="activations=q4" 2>&1 | FileCheck %s --check-prefix=BAD

// --gptq-activations f32: the same lossless blocks, stored in their
// float-activation forms (W4A16: the activations stay f32).
// CHECK-LABEL: module @symmetric
// CHECK: gemma.weight_def @w : !gemma.weight<q4_0_f32, [64, 256]>
// CHECK: gemma.linear %{{.*}}, %{{.*}} : tensor<?x256xf32>, <q4_0_f32, [64, 256]>
// BAD: error: gemma-reencode-gptq: activations must be q8_0 or f32, not 'q4'
module @symmetric {
  gemma.weight_def @w : !gemma.weight<f32, [64, 256]> {gptq = #gemma.gptq<qzeros = 10, scales = 20, g_idx = 30, group = 128, zero_offset = 1, symmetric = true, block_uniform = true>, source_offset = 0 : i64}
  func.func @f(%x: tensor<?x256xf32>) -> tensor<?x64xf32> {
    %w = gemma.weight @w : !gemma.weight<f32, [64, 256]>
    %y = gemma.linear %x, %w : tensor<?x256xf32>, !gemma.weight<f32, [64, 256]> -> tensor<?x64xf32>
    return %y : tensor<?x64xf32>
  }
}

// -----

// CHECK-LABEL: module @asymmetric
// CHECK: gemma.weight_def @w : !gemma.weight<q8_0_f32, [64, 256]>
// CHECK: gemma.weight @w : <q8_0_f32, [64, 256]>
module @asymmetric {
  gemma.weight_def @w : !gemma.weight<f32, [64, 256]> {gptq = #gemma.gptq<qzeros = 10, scales = 20, g_idx = -1, group = 64, zero_offset = 1, symmetric = false, block_uniform = true>, source_offset = 0 : i64}
  func.func @f(%x: tensor<?x256xf32>) -> tensor<?x64xf32> {
    %w = gemma.weight @w : !gemma.weight<f32, [64, 256]>
    %y = gemma.linear %x, %w : tensor<?x256xf32>, !gemma.weight<f32, [64, 256]> -> tensor<?x64xf32>
    return %y : tensor<?x64xf32>
  }
}

// -----

// Groups that split 32-blocks stay f32 whatever the activations.
// CHECK-LABEL: module @not_uniform
// CHECK: gemma.weight_def @w : !gemma.weight<f32, [64, 256]>
module @not_uniform {
  gemma.weight_def @w : !gemma.weight<f32, [64, 256]> {gptq = #gemma.gptq<qzeros = 10, scales = 20, g_idx = 30, group = 128, zero_offset = 1, symmetric = true, block_uniform = false>, source_offset = 0 : i64}
  func.func @f(%x: tensor<?x256xf32>) -> tensor<?x64xf32> {
    %w = gemma.weight @w : !gemma.weight<f32, [64, 256]>
    %y = gemma.linear %x, %w : tensor<?x256xf32>, !gemma.weight<f32, [64, 256]> -> tensor<?x64xf32>
    return %y : tensor<?x64xf32>
  }
}
