// RUN: gemmac-opt %s -gemma-fuse-rms-norm-quantize -gemma-quantize-activations -gemma-lower-to-gpu | FileCheck %s --check-prefixes=CHECK,NVVM
// RUN: gemmac-opt %s -gemma-fuse-rms-norm-quantize -gemma-quantize-activations '-gemma-lower-to-gpu=target=spirv' | FileCheck %s --check-prefixes=CHECK,SPIRV
// RUN: not gemmac-opt %s '-gemma-lower-to-gpu=target=metal' 2>&1 | FileCheck %s --check-prefix=BADTARGET
// RUN: not gemmac-opt %s -gemma-lower-to-gpu 2>&1 | FileCheck %s --check-prefix=UNQUANTIZED

// The device half of a GPU target: one kernel per distinct specialization
// in gpu.module @gemmac_kernels, named after its constants, and after each
// op the launch of its kernel. NVVM buffers are static (bare pointers),
// SPIR-V ones runtime-sized. The fusions are ops by now (the fusion passes
// have their own tests): one op, one kernel.

module attributes {gemma.kv_plan = [#gemma.kv_cache<owner = 0, readers = [0], width = 16, rows = 8, offset = 0, per_token = 0>], gemma.weights_bytes = 4096 : i64, gemma.weights_fingerprint = 7 : i64, gemma.vocab_size = 64 : i64, gemma.hidden_size = 32 : i64, gemma.num_layers = 1 : i64, gemma.context_length = 128 : i64} {
  gemma.weight_def @emb : !gemma.weight<q8_0, [64, 32]> {source_offset = 0 : i64, blob_offset = 0 : i64}
  gemma.weight_def @norm : !gemma.weight<f32, [32]> {source_offset = 0 : i64, blob_offset = 2176 : i64}
  gemma.weight_def @wq : !gemma.weight<q8_0, [32, 32]> {source_offset = 0 : i64, blob_offset = 2304 : i64}
  gemma.weight_def @wk : !gemma.weight<q8_0, [16, 32]> {source_offset = 0 : i64, blob_offset = 3456 : i64}
  gemma.weight_def @s : !gemma.weight<f32, [1]> {source_offset = 0 : i64, blob_offset = 4032 : i64, value = dense<0.5> : tensor<1xf32>}
  func.func @forward(%tokens: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x64xf32> attributes {gemma.entry} {
    %emb = gemma.weight @emb : !gemma.weight<q8_0, [64, 32]>
    %norm = gemma.weight @norm : !gemma.weight<f32, [32]>
    %wq = gemma.weight @wq : !gemma.weight<q8_0, [32, 32]>
    %wk = gemma.weight @wk : !gemma.weight<q8_0, [16, 32]>
    %s = gemma.weight @s : !gemma.weight<f32, [1]>
    %x = gemma.embed %tokens, %emb {scale = 2.0 : f32} : tensor<?xi32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x32xf32>
    %a = gemma.rms_norm %x, %norm : !gemma.weight<f32, [32]> {eps = 1.0e-6 : f32, group = 32 : i64} : tensor<?x32xf32> -> tensor<?x32xf32>
    %q = gemma.linear %a, %wq : tensor<?x32xf32>, !gemma.weight<q8_0, [32, 32]> -> tensor<?x32xf32>
    %qr = gemma.rope %q, %pos0 {num_heads = 2 : i64, head_dim = 16 : i64, rope = #gemma.rope<theta = 1.0e4, rotated_pairs = 8, freq_dim = 16>} : tensor<?x32xf32> -> tensor<?x32xf32>
    %q2 = gemma.linear %a, %wq : tensor<?x32xf32>, !gemma.weight<q8_0, [32, 32]> -> tensor<?x32xf32>
    %k = gemma.linear %a, %wk : tensor<?x32xf32>, !gemma.weight<q8_0, [16, 32]> -> tensor<?x16xf32>
    %v = gemma.rms_norm %k {eps = 1.0e-6 : f32, group = 16 : i64} : tensor<?x16xf32> -> tensor<?x16xf32>
    %o = gemma.attention %qr, %k, %v, %pos0 {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 16 : i64, window = 8 : i64, kv_cache = 0 : i64, scale = 1.0 : f32} : tensor<?x32xf32>, tensor<?x16xf32>, tensor<?x16xf32> -> tensor<?x32xf32>
    gemma.kv_store %k, %v, %pos0 {kv_cache = 0 : i64} : tensor<?x16xf32>, tensor<?x16xf32>
    %h = gemma.add %x, %o : tensor<?x32xf32>
    %g = gemma.gelu %h {approximation = #gemma<gelu tanh>} : tensor<?x32xf32>
    %hs = gemma.scale_by_weight %g, %s : tensor<?x32xf32>, !gemma.weight<f32, [1]> -> tensor<?x32xf32>
    %last = gemma.last_rows %hs, %n : tensor<?x32xf32>
    %logits = gemma.linear %last, %emb : tensor<?x32xf32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x64xf32>
    %c = gemma.softcap %logits {cap = 30.0 : f32} : tensor<?x64xf32>
    return %c : tensor<?x64xf32>
  }
}

// CHECK: module attributes {gemma.context_length = 128 : i64{{.*}}gpu.container_module
// Each op is followed by the launch of its kernel, its arguments in the
// kernel's parameter order: activations as arena slots (placed later by
// gemma-plan-gpu-arena), the rest as ranges of the program's buffers.
// CHECK: gemma.embed
// CHECK-NEXT: %[[EMB:.*]] = gemma.gpu_view weights {bytes = 2176 : i64, offset = 0 : i64}
// CHECK-NEXT: %[[TOK:.*]] = gemma.gpu_view tokens {bytes = 2048 : i64, offset = 0 : i64}
// CHECK-NEXT: %[[X:.*]] = gemma.gpu_slot rows %[[XV:[0-9]+]]
// CHECK-NEXT: %[[ROWS:.*]] = gemma.gpu_rows tokens
// CHECK-NEXT: %[[GX:.*]] = arith.constant 1 : index
// CHECK-NEXT: %[[ONE:.*]] = arith.constant 1 : index
// CHECK-NEXT: %[[C64:.*]] = arith.constant 64 : index
// CHECK-NEXT: gpu.launch_func @gemmac_kernels::@embed_q8_0_64x32_s40000000 blocks in (%[[GX]], %[[ROWS]], %[[ONE]]) threads in (%[[C64]], %[[ONE]], %[[ONE]]) args(%[[EMB]] : {{.*}}, %[[TOK]] : {{.*}}, %[[X]] : {{.*}})
// A whole-row norm read by Q8_0 matvecs also writes their int8 blocks,
// which the matvecs read: (x, y, w, quants, aux).
// CHECK: %{{.*}}, %[[BLOCKS:.*]] = gemma.rms_norm_quantize
// CHECK-NEXT: gemma.gpu_slot rows %[[XV]]
// CHECK-NEXT: gemma.gpu_slot rows
// CHECK-NEXT: gemma.gpu_view weights {bytes = 128 : i64, offset = 2176 : i64}
// CHECK-NEXT: gemma.gpu_slot quants %[[BLOCKS]]
// CHECK-NEXT: gemma.gpu_slot aux %[[BLOCKS]]
// CHECK: gpu.launch_func @gemmac_kernels::@rms_norm_32_g32_f32_e358637bd_q8_0 blocks in
// Quantized matvecs: (W, quants, aux, y, params), grid (rows / 2, tokens / 4).
// CHECK: gemma.linear %[[BLOCKS]], %{{.*}} : !gemma.act_blocks<q8_0, 32>
// CHECK-NEXT: gemma.gpu_view weights {bytes = 1088 : i64, offset = 2304 : i64}
// CHECK-NEXT: gemma.gpu_slot quants %[[BLOCKS]]
// CHECK-NEXT: gemma.gpu_slot aux %[[BLOCKS]]
// CHECK-NEXT: gemma.gpu_slot rows
// CHECK-NEXT: gemma.gpu_view params {bytes = 10272 : i64, offset = 0 : i64} : memref<2568xi32>
// CHECK-NEXT: %[[QROWS:.*]] = gemma.gpu_rows tokens {per_group = 4 : i64}
// CHECK-NEXT: %[[GX16:.*]] = arith.constant 16 : index
// CHECK: gpu.launch_func @gemmac_kernels::@linear_q8_0_32x32 blocks in (%[[GX16]], %[[QROWS]],
// CHECK: gemma.rope
// CHECK: gemma.gpu_rope_table <theta = 1.000000e+04, rotated_pairs = 8, freq_dim = 16>
// CHECK: gpu.launch_func @gemmac_kernels::@rope_h2_d16_f16_p8
// The second 32x32 projection shares the first one's kernel.
// CHECK: gpu.launch_func @gemmac_kernels::@linear_q8_0_32x32
// CHECK: gpu.launch_func @gemmac_kernels::@linear_q8_0_16x32
// CHECK: gpu.launch_func @gemmac_kernels::@rms_norm_16_g16_unweighted_e358637bd
// The window-8 cache is a ring of 8 rows: K and V 8 x 16 f16 each.
// CHECK: gemma.attention
// CHECK: gemma.gpu_view kv {bytes = 256 : i64, offset = 0 : i64} : memref<{{.*}}xi16>
// CHECK-NEXT: gemma.gpu_view kv {bytes = 256 : i64, offset = 256 : i64} : memref<{{.*}}xi16>
// CHECK: gpu.launch_func @gemmac_kernels::@attention_h2_kv1_d16_w8_r8_s3f800000_f16
// CHECK: gpu.launch_func @gemmac_kernels::@kv_store_16_r8_f16
// CHECK: gpu.launch_func @gemmac_kernels::@add_32
// CHECK: gemma.gpu_view tables {bytes = 131072 : i64, offset = 0 : i64}
// CHECK: gpu.launch_func @gemmac_kernels::@gelu_tanh_32
// A scale the checkpoint stores as a value is a program constant.
// CHECK: gemma.gpu_constant 5.000000e-01
// CHECK: gpu.launch_func @gemmac_kernels::@scale_by_weight_32
// CHECK: gemma.gpu_rows n_out
// CHECK: gpu.launch_func @gemmac_kernels::@last_rows_32
// Other quantized matvec inputs are quantized by a kernel of their own.
// CHECK: gpu.launch_func @gemmac_kernels::@quantize_q8_0_32
// The logits rows are n_out, not one per token: a kernel of their own.
// CHECK: gemma.gpu_rows n_out {per_group = 4 : i64}
// CHECK: gpu.launch_func @gemmac_kernels::@linear_q8_0_64x32_out
// CHECK: gpu.launch_func @gemmac_kernels::@softcap_64_c41f00000
// CHECK-NOT: gpu_kernel
// CHECK: gpu.module @gemmac_kernels
// 64 x 32 Q8_0 = 64 x 34 bytes; activations sized for 512 tokens.
// NVVM: gpu.func @embed_q8_0_64x32_s40000000(%{{.*}}: memref<2176xi8>, %{{.*}}: memref<512xi32>, %{{.*}}: memref<16384xf32>) kernel attributes {known_block_size = array<i32: 64, 1, 1>}
// SPIRV: gpu.func @embed_q8_0_64x32_s40000000(%{{.*}}: memref<?xi8>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xf32>) kernel
// Reductions go through workgroup memory (RMSNorm: 64 doubles, as llama.cpp
// sums the squares in double): attributions for NVVM, allocations in
// Vulkan's workgroup space 3 for SPIR-V.
// NVVM: gpu.func @rms_norm_32_g32_f32_e358637bd_q8_0(%{{.*}}: memref<16384xf32>, %{{.*}}: memref<16384xf32>, %{{.*}}: memref<32xf32>, %{{.*}}: memref<4096xi32>, %{{.*}}: memref<512xf32>) workgroup(%{{.*}} : memref<64xf64, #gpu.address_space<workgroup>>) kernel
// SPIRV: gpu.func @rms_norm_32_g32_f32_e358637bd_q8_0({{.*}}) kernel
// SPIRV: memref.alloc() : memref<64xf64, 3>
// CHECK: gpu.barrier
// Quantized matvecs: weights as 16-bit words, activation quants as words of
// four, the params buffer last; the integer terms in workgroup memory (64
// threads x 4 tokens x 8 lane sums) and int8 dot products in words.
// NVVM: gpu.func @linear_q8_0_32x32(%{{.*}}: memref<544xi16>, %{{.*}}: memref<4096xi32>, %{{.*}}: memref<512xf32>, %{{.*}}: memref<16384xf32>, %{{.*}}: memref<2568xi32>) workgroup(%{{.*}} : memref<2048xi32, #gpu.address_space<workgroup>>) kernel
// The token count comes from params (%arg4), not from the workgroup buffer
// that follows it among the entry block's arguments.
// NVVM: memref.load %arg4[%{{.*}}] : memref<2568xi32>
// NVVM: nvvm.dot.accumulate.4way {{.*}} <signed>, {{.*}} <signed>
// SPIRV: gpu.func @linear_q8_0_32x32(%{{.*}}: memref<?xi16>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<2568xi32>) kernel
// SPIRV: memref.alloc() : memref<2048xi32, 3>
// SPIRV: spirv.SDot {{.*}} <PackedVectorFormat4x8Bit>
// CHECK-NOT: gpu.func @linear_q8_0_32x32(
// NVVM: gpu.func @attention_h2_kv1_d16_w8_r8_s3f800000_f16({{.*}}) workgroup({{.*}}memref<64xf32, #gpu.address_space<workgroup>>, {{.*}}memref<64xf32, #gpu.address_space<workgroup>>, {{.*}}memref<16xf32, #gpu.address_space<workgroup>>)
// SPIRV: gpu.func @attention_h2_kv1_d16_w8_r8_s3f800000_f16(
// SPIRV-COUNT-2: memref.alloc() : memref<64xf32, 3>
// SPIRV: memref.alloc() : memref<16xf32, 3>
// The quantizer of the logits' input (the norm wrote the others).
// CHECK: gpu.func @quantize_q8_0_32(

// BADTARGET: unknown target 'metal' (nvvm or spirv)
// UNQUANTIZED: error: 'gemma.linear' op a quantized weight needs its input's int8 blocks (run gemma-quantize-activations first)
