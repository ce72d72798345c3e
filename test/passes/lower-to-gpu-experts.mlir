// RUN: gemmac-opt %s -gemma-fuse-rms-norm-quantize -gemma-quantize-activations -gemma-lower-to-gpu | FileCheck %s --check-prefixes=CHECK,NVVM
// RUN: gemmac-opt %s -gemma-fuse-rms-norm-quantize -gemma-quantize-activations '-gemma-lower-to-gpu=target=spirv' | FileCheck %s --check-prefixes=CHECK,SPIRV
// RUN: not gemmac-opt %s -gemma-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=UNQUANTIZED

// A mixture-of-experts FFN on a GPU target: the router's scale, the routing
// kernel, the expert products (a batch with at least 4 (token, slot) pairs
// per expert expert by expert, a smaller one token by token), the
// per-expert scale and the weighted sum of the slots, one kernel each.

module attributes {gemma.kv_plan = [], gemma.weights_bytes = 65536 : i64, gemma.weights_fingerprint = 7 : i64, gemma.vocab_size = 64 : i64, gemma.hidden_size = 32 : i64, gemma.num_layers = 1 : i64, gemma.context_length = 128 : i64} {
  gemma.weight_def @norm : !gemma.weight<f32, [32]> {source_offset = 0 : i64, blob_offset = 0 : i64}
  gemma.weight_def @rscale : !gemma.weight<f32, [32]> {source_offset = 0 : i64, blob_offset = 256 : i64}
  gemma.weight_def @router : !gemma.weight<f32, [8, 32]> {source_offset = 0 : i64, blob_offset = 512 : i64}
  gemma.weight_def @gate_up : !gemma.weight<q8_0, [8, 64, 32]> {source_offset = 0 : i64, blob_offset = 1536 : i64}
  gemma.weight_def @down : !gemma.weight<q8_0, [8, 32, 32]> {source_offset = 0 : i64, blob_offset = 19200 : i64}
  gemma.weight_def @pes : !gemma.weight<f32, [8]> {source_offset = 0 : i64, blob_offset = 28160 : i64}
  func.func @forward(%tokens: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x32xf32> attributes {gemma.entry} {
    %norm = gemma.weight @norm : !gemma.weight<f32, [32]>
    %rscale = gemma.weight @rscale : !gemma.weight<f32, [32]>
    %router = gemma.weight @router : !gemma.weight<f32, [8, 32]>
    %gu = gemma.weight @gate_up : !gemma.weight<q8_0, [8, 64, 32]>
    %down = gemma.weight @down : !gemma.weight<q8_0, [8, 32, 32]>
    %pes = gemma.weight @pes : !gemma.weight<f32, [8]>
    %x = gemma.embed %tokens, %router {scale = 1.0 : f32} : tensor<?xi32>, !gemma.weight<f32, [8, 32]> -> tensor<?x32xf32>
    %s = gemma.scale_columns %x, %rscale : tensor<?x32xf32>, !gemma.weight<f32, [32]>
    %logits = gemma.linear %s, %router : tensor<?x32xf32>, !gemma.weight<f32, [8, 32]> -> tensor<?x8xf32>
    %r = gemma.moe_route %logits {num_used = 2 : i64} : tensor<?x8xf32> -> tensor<?x4xf32>
    %xe = gemma.rms_norm %x, %norm : !gemma.weight<f32, [32]> {eps = 1.0e-6 : f32, group = 32 : i64} : tensor<?x32xf32> -> tensor<?x32xf32>
    %h = gemma.expert_geglu %xe, %gu, %gu, %r {approximation = #gemma<gelu tanh>, gate_first_row = 0 : i64, up_first_row = 32 : i64, num_rows = 32 : i64} : tensor<?x32xf32>, !gemma.weight<q8_0, [8, 64, 32]>, !gemma.weight<q8_0, [8, 64, 32]>, tensor<?x4xf32> -> tensor<?x64xf32>
    %d = gemma.expert_linear %h, %down, %r {first_row = 0 : i64, num_rows = 32 : i64} : tensor<?x64xf32>, !gemma.weight<q8_0, [8, 32, 32]>, tensor<?x4xf32> -> tensor<?x64xf32>
    %e = gemma.expert_scale %d, %r, %pes : tensor<?x64xf32>, tensor<?x4xf32>, !gemma.weight<f32, [8]>
    %y = gemma.moe_combine %e, %r : tensor<?x64xf32>, tensor<?x4xf32> -> tensor<?x32xf32>
    %last = gemma.last_rows %y, %n : tensor<?x32xf32>
    return %last : tensor<?x32xf32>
  }
}

// CHECK: gemma.scale_columns
// CHECK: gpu.launch_func @gemmac_kernels::@scale_columns_f32_32 blocks in
// CHECK: gpu.launch_func @gemmac_kernels::@linear_f32_8x32 blocks in
// The routing: one workgroup per token.
// CHECK: gemma.moe_route
// CHECK-NEXT: %[[LOGITS:.*]] = gemma.gpu_slot rows
// CHECK-NEXT: %[[ROUTING:.*]] = gemma.gpu_slot rows %[[R:[0-9]+]]
// CHECK-NEXT: %[[RROWS:.*]] = gemma.gpu_rows tokens
// CHECK-NEXT: %[[ONE:.*]] = arith.constant 1 : index
// CHECK: gpu.launch_func @gemmac_kernels::@moe_route_e8_k2 blocks in (%[[ONE]], %[[RROWS]],
// The expert input's norm writes its int8 blocks; the expert GeGLU reads the
// fused gate_up weight twice (gate rows 0.., up rows 32..): (Wg, Wu,
// quants, aux, y, GELU table, params, routing), grid (32 / 2, tokens).
// CHECK: %{{.*}}, %[[XB:.*]] = gemma.rms_norm_quantize
// CHECK: gemma.expert_geglu %[[XB]]
// CHECK-NEXT: gemma.gpu_view weights {bytes = 17408 : i64, offset = 1536 : i64}
// CHECK-NEXT: gemma.gpu_view weights {bytes = 17408 : i64, offset = 1536 : i64}
// CHECK-NEXT: gemma.gpu_slot quants %[[XB]]
// CHECK-NEXT: gemma.gpu_slot aux %[[XB]]
// CHECK-NEXT: gemma.gpu_slot rows
// CHECK-NEXT: gemma.gpu_view tables
// CHECK-NEXT: gemma.gpu_view params
// CHECK-NEXT: gemma.gpu_slot rows %[[R]]
// CHECK-NEXT: %[[TOKENS:.*]] = gemma.gpu_rows tokens
// CHECK-NOT: per_group
// CHECK-NEXT: %[[GX16:.*]] = arith.constant 16 : index
// CHECK: gpu.launch_func @gemmac_kernels::@expert_geglu_q8_0_32x32_e8_k2_r64f0_r64f32 blocks in (%[[GX16]], %[[TOKENS]],
// The down projection reads one row per (token, slot): its input's blocks
// span the k slots' rows (2 x 32 features).
// CHECK: %[[HB:.*]] = gemma.quantize_activation %{{.*}} : tensor<?x64xf32> -> <q8_0, 64>
// CHECK: gemma.expert_linear %[[HB]]
// CHECK: gpu.launch_func @gemmac_kernels::@expert_linear_q8_0_32x32_e8_k2_slot_r32f0 blocks in
// CHECK: gpu.launch_func @gemmac_kernels::@expert_scale_f32_e8_k2_32 blocks in
// CHECK: gpu.launch_func @gemmac_kernels::@moe_combine_k2_32 blocks in
// CHECK: gpu.module @gemmac_kernels
// The routing kernel's workgroup memory: maxima and picks (64 floats), the
// group sums (one group of eight experts) and the picks' indices.
// NVVM: gpu.func @moe_route_e8_k2(%{{.*}}: memref<4096xf32>, %{{.*}}: memref<2048xf32>) workgroup(%{{.*}} : memref<64xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<1xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<64xi32, #gpu.address_space<workgroup>>) kernel
// SPIRV: gpu.func @moe_route_e8_k2(%{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>) kernel
// The expert products take every expert's weights and the routing last.
// Their workgroup memory is the int8 terms' (64 threads x 4 rows x 2
// weights x 8 words = 16 KiB, Vulkan's guaranteed minimum): grouping by
// expert passes its counts and each round's pairs through it between
// rounds.
// NVVM: gpu.func @expert_geglu_q8_0_32x32_e8_k2_r64f0_r64f32(%{{.*}}: memref<8704xi16>, %{{.*}}: memref<8704xi16>, %{{.*}}: memref<4096xi32>, %{{.*}}: memref<512xf32>, %{{.*}}: memref<32768xf32>, %{{.*}}: memref<65536xi16>, %{{.*}}: memref<2568xi32>, %{{.*}}: memref<2048xf32>) workgroup(%{{.*}} : memref<4096xi32, #gpu.address_space<workgroup>>)
// SPIRV: gpu.func @expert_geglu_q8_0_32x32_e8_k2_r64f0_r64f32(
// The down projection's input rows are per slot: 2 x 32 features.
// NVVM: gpu.func @expert_linear_q8_0_32x32_e8_k2_slot_r32f0(%{{.*}}: memref<4352xi16>, %{{.*}}: memref<8192xi32>, %{{.*}}: memref<1024xf32>, %{{.*}}: memref<32768xf32>, %{{.*}}: memref<2568xi32>, %{{.*}}: memref<2048xf32>) workgroup(%{{.*}} : memref<2048xi32, #gpu.address_space<workgroup>>)

// UNQUANTIZED: error: 'gemma.expert_geglu' op a quantized weight needs its input's int8 blocks (run gemma-quantize-activations first)
