// RUN: gemmac-opt %s -split-input-file -gemma-nvfp4-activations="activations=f32" | FileCheck %s --check-prefix=F32
// RUN: gemmac-opt %s -split-input-file -gemma-nvfp4-activations="activations=fp4" -verify-diagnostics | FileCheck %s --check-prefix=FP4
// RUN: gemmac-opt %s -split-input-file -gemma-nvfp4-activations | FileCheck %s --check-prefix=Q8
// RUN: not gemmac-opt %s -split-input-file -gemma-nvfp4-activations="activations=fp8" 2>&1 | FileCheck %s --check-prefix=BAD

// f32: the same blocks as nvfp4_f32, the input untouched. fp4: the input of
// each NVFP4 linear quantized with G = 1 / input_scale (0.25 -> 4). q8_0
// (the default): nothing changes. Other weights are left alone.
// F32-LABEL: module @mlp
// F32: gemma.weight_def @up : !gemma.weight<nvfp4_f32, [64, 128]>
// F32: gemma.weight_def @plain : !gemma.weight<bf16, [64, 128]>
// F32-NOT: gemma.quantize_fp4
// F32: gemma.linear %arg0, %{{.*}} : tensor<?x128xf32>, <nvfp4_f32, [64, 128]>
// FP4-LABEL: module @mlp
// FP4: gemma.weight_def @up : !gemma.weight<nvfp4_f32, [64, 128]>
// FP4: %[[Q:.*]] = gemma.quantize_fp4 %arg0 {global_scale = 4.000000e+00 : f32} : tensor<?x128xf32>
// FP4: gemma.linear %[[Q]], %{{.*}} : tensor<?x128xf32>, <nvfp4_f32, [64, 128]>
// FP4: gemma.linear %arg0, %{{.*}} : tensor<?x128xf32>, <bf16, [64, 128]>
// Q8: gemma.weight_def @up : !gemma.weight<nvfp4, [64, 128]>
// Q8-NOT: gemma.quantize_fp4
// BAD: error: gemma-nvfp4-activations: activations must be q8_0, f32 or fp4, not 'fp8'
module @mlp {
  gemma.weight_def @up : !gemma.weight<nvfp4, [64, 128]> {input_scale = 2.500000e-01 : f32, source_offset = 0 : i64}
  gemma.weight_def @plain : !gemma.weight<bf16, [64, 128]> {source_offset = 4096 : i64}
  func.func @f(%x: tensor<?x128xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
    %w = gemma.weight @up : !gemma.weight<nvfp4, [64, 128]>
    %y = gemma.linear %x, %w : tensor<?x128xf32>, !gemma.weight<nvfp4, [64, 128]> -> tensor<?x64xf32>
    %p = gemma.weight @plain : !gemma.weight<bf16, [64, 128]>
    %z = gemma.linear %x, %p : tensor<?x128xf32>, !gemma.weight<bf16, [64, 128]> -> tensor<?x64xf32>
    return %y, %z : tensor<?x64xf32>, tensor<?x64xf32>
  }
}

// -----

// fp4 needs the calibrated scale; f32 does not.
// F32-LABEL: module @no_scale
// F32: gemma.weight_def @up : !gemma.weight<nvfp4_f32, [64, 128]>
module @no_scale {
  gemma.weight_def @up : !gemma.weight<nvfp4, [64, 128]> {source_offset = 0 : i64}
  func.func @f(%x: tensor<?x128xf32>) -> tensor<?x64xf32> {
    %w = gemma.weight @up : !gemma.weight<nvfp4, [64, 128]>
    // expected-error @+1 {{weight @up has no input_scale: --nvfp4-activations fp4 quantizes activations with the checkpoint's calibrated scales}}
    %y = gemma.linear %x, %w : tensor<?x128xf32>, !gemma.weight<nvfp4, [64, 128]> -> tensor<?x64xf32>
    return %y : tensor<?x64xf32>
  }
}

// -----

// Expert weights keep llama.cpp's numerics (nvfp4, Q8_0 activations) in
// every mode; the dense linear beside them follows the option.
// F32-LABEL: module @experts
// F32: gemma.weight_def @dense : !gemma.weight<nvfp4_f32, [64, 128]>
// F32: gemma.weight_def @gate : !gemma.weight<nvfp4, [4, 64, 128]>
// FP4-LABEL: module @experts
// FP4: gemma.weight_def @gate : !gemma.weight<nvfp4, [4, 64, 128]>
// FP4: gemma.expert_linear %arg0, %{{.*}}, %arg1 {{.*}} <nvfp4, [4, 64, 128]>
module @experts {
  gemma.weight_def @dense : !gemma.weight<nvfp4, [64, 128]> {input_scale = 2.500000e-01 : f32, source_offset = 0 : i64}
  gemma.weight_def @gate : !gemma.weight<nvfp4, [4, 64, 128]> {source_offset = 4096 : i64}
  func.func @f(%x: tensor<?x128xf32>, %r: tensor<?x4xf32>) -> (tensor<?x64xf32>, tensor<?x128xf32>) {
    %d = gemma.weight @dense : !gemma.weight<nvfp4, [64, 128]>
    %y = gemma.linear %x, %d : tensor<?x128xf32>, !gemma.weight<nvfp4, [64, 128]> -> tensor<?x64xf32>
    %g = gemma.weight @gate : !gemma.weight<nvfp4, [4, 64, 128]>
    %z = gemma.expert_linear %x, %g, %r {first_row = 0 : i64, num_rows = 64 : i64} : tensor<?x128xf32>, !gemma.weight<nvfp4, [4, 64, 128]>, tensor<?x4xf32> -> tensor<?x128xf32>
    return %y, %z : tensor<?x64xf32>, tensor<?x128xf32>
  }
}
