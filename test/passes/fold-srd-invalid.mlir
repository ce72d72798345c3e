// RUN: rm -rf %t && mkdir -p %t
// RUN: gemmac-srd-gen -o %t/a --tensor model.layers.1.mlp.down_proj:128:256 --tensor model.layers.0.self_attn.q_proj:128:64 --tensor model.vision_tower.encoder.fc1:64:64 --tensor model.language_model.layers.0.mlp.down_proj:128:256 --tensor model.layers.0.mlp.down_proj:128:256 --tensor lm_head:64:64 --tensor model.language_model.per_layer_model_projection.weight:64:64 --tensor model.layers.x.mlp.up_proj:64:64 > /dev/null
// RUN: not gemmac-opt %s -gemma-fold-srd="path=%t/a/model.srd4" 2>&1 | FileCheck %s
// RUN: gemmac-srd-gen -o %t/b --tensor model.layers.0.mlp.gate_proj:512:256 > /dev/null
// RUN: not gemmac-opt %s -gemma-fold-srd="path=%t/b/model.srd4 format=f32" 2>&1 | FileCheck %s --check-prefix=GEGLU
// RUN: gemmac-opt %s -gemma-fold-srd="path=%t/b/model.srd4" | FileCheck %s --check-prefix=SAME
// RUN: not gemmac-opt %s -gemma-fold-srd 2>&1 | FileCheck %s --check-prefix=NOPATH
// RUN: not gemmac-opt %s -gemma-fold-srd="path=%t/b/model.srd4 alpha=abc" 2>&1 | FileCheck %s --check-prefix=ALPHA
// RUN: not gemmac-opt %s -gemma-fold-srd="path=%t/missing.srd4" 2>&1 | FileCheck %s --check-prefix=MISSING

// Every residual tensor must name a weight the model has, with its shape;
// each problem is reported with both names.
// CHECK-DAG: error: {{.*}}model.srd4: residual tensor 'model.layers.1.mlp.down_proj' (#0) corrects weight 'blk.1.ffn_down.weight', which the model does not have
// CHECK-DAG: error: {{.*}}model.srd4: residual tensor 'model.layers.0.self_attn.q_proj' (#1) is [128, 64] (out, in), weight 'blk.0.attn_q.weight' is [64, 128]
// CHECK-DAG: error: {{.*}}model.srd4: residual tensor 'model.vision_tower.encoder.fc1' (#2) is not a linear weight of Gemma 4
// CHECK-DAG: error: {{.*}}model.srd4: residual tensor 'model.layers.0.mlp.down_proj' (#4): weight 'blk.0.ffn_down.weight' already has a correction (two tensors map to it)
// CHECK-DAG: error: {{.*}}model.srd4: residual tensor 'lm_head' (#5) corrects weight 'output.weight', which the model does not have
// CHECK-DAG: error: {{.*}}model.srd4: residual tensor 'model.language_model.per_layer_model_projection.weight' (#6) corrects weight 'per_layer_model_proj.weight', which the model does not have
// CHECK-DAG: error: {{.*}}model.srd4: residual tensor 'model.layers.x.mlp.up_proj' (#7) is not a linear weight of Gemma 4

// A fused GeGLU needs its gate and up in one format.
// GEGLU: error: after SRD folding the fused GeGLU's gate is f32 and its up q4_0: correct both or neither, or pick one --srd-format
// SAME: gemma.weight_def @blk.0.ffn_gate.weight : !gemma.weight<q4_0, [512, 256]> {{.*}}srd = #gemma.srd<tensor = 0, format = q4_0, base = q4_0, alpha = 1.000000e+00>
// SAME: gemma.geglu {{.*}}, <q4_0, [512, 256]>, <q4_0, [512, 256]>

// NOPATH: error: gemma-fold-srd: no residuals (path=FILE)
// ALPHA: error: SRD alpha 'abc' is not a number
// MISSING: error: {{.*}}missing.srd4{{.*}}cannot open

gemma.weight_def @blk.0.ffn_down.weight : !gemma.weight<q4_0, [128, 256]> {source_offset = 0 : i64}
gemma.weight_def @blk.0.attn_q.weight : !gemma.weight<q8_0, [64, 128]> {source_offset = 0 : i64}
gemma.weight_def @blk.0.ffn_gate.weight : !gemma.weight<q4_0, [512, 256]> {source_offset = 0 : i64}
gemma.weight_def @blk.0.ffn_up.weight : !gemma.weight<q4_0, [512, 256]> {source_offset = 0 : i64}
func.func @f(%x: tensor<?x256xf32>) -> tensor<?x512xf32> {
  %g = gemma.weight @blk.0.ffn_gate.weight : !gemma.weight<q4_0, [512, 256]>
  %u = gemma.weight @blk.0.ffn_up.weight : !gemma.weight<q4_0, [512, 256]>
  %m = gemma.geglu %x, %g, %u {approximation = #gemma<gelu tanh>} : tensor<?x256xf32>, !gemma.weight<q4_0, [512, 256]>, !gemma.weight<q4_0, [512, 256]> -> tensor<?x512xf32>
  return %m : tensor<?x512xf32>
}
