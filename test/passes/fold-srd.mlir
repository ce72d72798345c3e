// RUN: rm -rf %t && gemmac-srd-gen -o %t --tensor model.language_model.layers.0.mlp.down_proj:128:256 --tensor model.layers.0.self_attn.q_proj:64:128 --alpha 0.5 > /dev/null
// RUN: gemmac-opt %s -gemma-fold-srd="path=%t/model.srd4" | FileCheck %s --check-prefix=BASE
// RUN: gemmac-opt %s -gemma-fold-srd="path=%t/model.srd4 format=f32 alpha=0.25" | FileCheck %s --check-prefix=F32
// RUN: gemmac-opt %s -gemma-fold-srd="path=%t/model.srd4 format=q8_0" -gemma-select-kernels | FileCheck %s --check-prefix=Q8
// RUN: not gemmac-opt %s -gemma-fold-srd="path=%t/model.srd4 format=q4_k" 2>&1 | FileCheck %s --check-prefix=BLOCKS
// RUN: not gemmac-opt %s -gemma-fold-srd="path=%t/model.srd4 format=q3_k" 2>&1 | FileCheck %s --check-prefix=UNKNOWN

// Each residual tensor (HF name) lands on its GGUF weight: the weight's
// type takes the storage format of W' (default: the base weight's) and the
// definition records the tensor index, the formats and alpha. Weights
// without a correction, and the ops reading them, keep their type.

// BASE: gemma.weight_def @blk.0.ffn_down.weight : !gemma.weight<q4_0, [128, 256]> {source_offset = 0 : i64, srd = #gemma.srd<tensor = 0, format = q4_0, base = q4_0, alpha = 5.000000e-01>}
// BASE: gemma.weight_def @blk.0.attn_q.weight : !gemma.weight<q8_0, [64, 128]> {{.*}}srd = #gemma.srd<tensor = 1, format = q8_0, base = q8_0, alpha = 5.000000e-01>
// BASE: gemma.weight_def @blk.0.attn_k.weight : !gemma.weight<q4_0, [64, 128]> {source_offset

// F32: gemma.weight_def @blk.0.ffn_down.weight : !gemma.weight<f32, [128, 256]> {{.*}}srd = #gemma.srd<tensor = 0, format = f32, base = q4_0, alpha = 2.500000e-01>
// F32: gemma.weight_def @blk.0.attn_q.weight : !gemma.weight<f32, [64, 128]> {{.*}}srd = #gemma.srd<tensor = 1, format = f32, base = q8_0, alpha = 2.500000e-01>
// F32: gemma.weight_def @blk.0.attn_k.weight : !gemma.weight<q4_0, [64, 128]> {source_offset
// F32: gemma.weight @blk.0.ffn_down.weight : <f32, [128, 256]>
// F32: gemma.weight @blk.0.attn_q.weight : <f32, [64, 128]>
// F32: gemma.weight @blk.0.attn_k.weight : <q4_0, [64, 128]>
// F32: gemma.linear {{.*}}, <f32, [64, 128]> -> tensor<?x64xf32>
// F32: gemma.linear {{.*}}, <q4_0, [64, 128]> -> tensor<?x64xf32>
// F32: gemma.linear {{.*}}, <f32, [128, 256]> -> tensor<?x128xf32>

// Kernel selection sees the new format: no x8 layout for q8_0, q8_0 kernels.
// Q8: gemma.weight_def @blk.0.ffn_down.weight : !gemma.weight<q8_0, [128, 256]> {{.*}}srd = #gemma.srd
// Q8-NOT: layout
// Q8: gemma.weight_def @blk.0.attn_k.weight : !gemma.weight<q4_0, [64, 128]> {layout = #gemma<layout x8>
// Q8: gemma.kernel = @gmk_linear_q8_0
// Q8: gemma.kernel = @gmk_linear_q4_0_x8
// Q8: gemma.kernel = @gmk_linear_q8_0

// BLOCKS: error: {{.*}}model.srd4: residual tensor 'model.layers.0.self_attn.q_proj' (#1): q4_k stores rows in blocks of 256 elements; weight 'blk.0.attn_q.weight' has rows of 128
// UNKNOWN: error: unknown SRD storage format 'q3_k'

gemma.weight_def @blk.0.ffn_down.weight : !gemma.weight<q4_0, [128, 256]> {source_offset = 0 : i64}
gemma.weight_def @blk.0.attn_q.weight : !gemma.weight<q8_0, [64, 128]> {source_offset = 20000 : i64}
gemma.weight_def @blk.0.attn_k.weight : !gemma.weight<q4_0, [64, 128]> {source_offset = 40000 : i64}
func.func @f(%x: tensor<?x128xf32>, %y: tensor<?x256xf32>) -> (tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x128xf32>) {
  %d = gemma.weight @blk.0.ffn_down.weight : !gemma.weight<q4_0, [128, 256]>
  %q = gemma.weight @blk.0.attn_q.weight : !gemma.weight<q8_0, [64, 128]>
  %k = gemma.weight @blk.0.attn_k.weight : !gemma.weight<q4_0, [64, 128]>
  %a = gemma.linear %x, %q : tensor<?x128xf32>, !gemma.weight<q8_0, [64, 128]> -> tensor<?x64xf32>
  %b = gemma.linear %x, %k : tensor<?x128xf32>, !gemma.weight<q4_0, [64, 128]> -> tensor<?x64xf32>
  %c = gemma.linear %y, %d : tensor<?x256xf32>, !gemma.weight<q4_0, [128, 256]> -> tensor<?x128xf32>
  return %a, %b, %c : tensor<?x64xf32>, tensor<?x64xf32>, tensor<?x128xf32>
}
