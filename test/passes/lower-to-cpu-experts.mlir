// RUN: gemmac-opt %s -gemma-lower-to-cpu -canonicalize -cse | FileCheck %s

// A mixture-of-experts block: the router's scale, the routing kernel, the
// expert products with their slices (first row, rows per expert, per-slot
// input), the per-expert scale and the weighted sum call their kernels with
// the shapes of the ops.
// CHECK-LABEL: func.func @gemmac_forward
// CHECK-DAG: %[[C16:.*]] = arith.constant 16 : index
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[C32:.*]] = arith.constant 32 : index
// CHECK-DAG: %[[C64:.*]] = arith.constant 64 : index
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK: call @gmk_scale_columns(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[C32]], %{{.*}}, %c0_i32)
// CHECK: call @gmk_linear_f32(
// CHECK: call @gmk_moe_route(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[C16]], %[[C4]])
// CHECK: call @gmk_expert_geglu_q8_0(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[W:[^,]*]], %[[W]], %[[C32]], %[[C32]], %{{.*}}, %[[C4]], %[[C64]], %[[C0]], %[[C64]], %[[C32]])
// CHECK: call @gmk_expert_linear_q8_0(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[C32]], %[[C32]], %{{.*}}, %[[C4]], %[[C32]], %[[C0]], %[[C1]])
// CHECK: call @gmk_expert_scale(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[C32]], %{{.*}}, %[[C4]], %{{.*}}, %c0_i32, %[[C16]])
// CHECK: call @gmk_moe_combine(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[C32]], %{{.*}}, %[[C4]])
module attributes {gemma.weights_bytes = 1000000 : i64, gemma.weights_fingerprint = 1 : i64} {
  gemma.weight_def @e : !gemma.weight<q8_0, [64, 32]> {source_offset = 0 : i64, blob_offset = 0 : i64}
  gemma.weight_def @rs : !gemma.weight<f32, [32]> {source_offset = 0 : i64, blob_offset = 4096 : i64}
  gemma.weight_def @router : !gemma.weight<f32, [16, 32]> {source_offset = 0 : i64, blob_offset = 8192 : i64}
  gemma.weight_def @gu : !gemma.weight<q8_0, [16, 64, 32]> {source_offset = 0 : i64, blob_offset = 16384 : i64}
  gemma.weight_def @down : !gemma.weight<q8_0, [16, 32, 32]> {source_offset = 0 : i64, blob_offset = 65536 : i64}
  gemma.weight_def @pes : !gemma.weight<f32, [16]> {source_offset = 0 : i64, blob_offset = 131072 : i64}
  func.func @forward(%t: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x64xf32> attributes {gemma.entry} {
    %e = gemma.weight @e : !gemma.weight<q8_0, [64, 32]>
    %rs = gemma.weight @rs : !gemma.weight<f32, [32]>
    %router = gemma.weight @router : !gemma.weight<f32, [16, 32]>
    %gu = gemma.weight @gu : !gemma.weight<q8_0, [16, 64, 32]>
    %down = gemma.weight @down : !gemma.weight<q8_0, [16, 32, 32]>
    %pes = gemma.weight @pes : !gemma.weight<f32, [16]>
    %x = gemma.embed %t, %e {scale = 1.0 : f32} : tensor<?xi32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x32xf32>
    %s = gemma.scale_columns %x, %rs : tensor<?x32xf32>, !gemma.weight<f32, [32]>
    %logits = gemma.linear %s, %router : tensor<?x32xf32>, !gemma.weight<f32, [16, 32]> -> tensor<?x16xf32>
    %r = gemma.moe_route %logits {num_used = 4 : i64} : tensor<?x16xf32> -> tensor<?x8xf32>
    %m = gemma.expert_geglu %x, %gu, %gu, %r {approximation = #gemma<gelu tanh>, gate_first_row = 0 : i64, num_rows = 32 : i64, up_first_row = 32 : i64} : tensor<?x32xf32>, !gemma.weight<q8_0, [16, 64, 32]>, !gemma.weight<q8_0, [16, 64, 32]>, tensor<?x8xf32> -> tensor<?x128xf32>
    %d = gemma.expert_linear %m, %down, %r {first_row = 0 : i64, num_rows = 32 : i64} : tensor<?x128xf32>, !gemma.weight<q8_0, [16, 32, 32]>, tensor<?x8xf32> -> tensor<?x128xf32>
    %ds = gemma.expert_scale %d, %r, %pes : tensor<?x128xf32>, tensor<?x8xf32>, !gemma.weight<f32, [16]>
    %y = gemma.moe_combine %ds, %r : tensor<?x128xf32>, tensor<?x8xf32> -> tensor<?x32xf32>
    %l = gemma.linear %y, %e : tensor<?x32xf32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x64xf32>
    return %l : tensor<?x64xf32>
  }
}
