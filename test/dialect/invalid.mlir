// RUN: gemmac-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{weight row of 100 elements is not a whole number of q4_0 blocks of 32}}
gemma.weight_def @w : !gemma.weight<q4_0, [10, 100]> {source_offset = 0 : i64}

// -----

// expected-error @+1 {{weight must be 1-D, 2-D or 3-D (experts), got rank 4}}
gemma.weight_def @w : !gemma.weight<f32, [2, 2, 2, 2]> {source_offset = 0 : i64}

// -----

// expected-error @+1 {{value has 2 elements, the weight 1}}
gemma.weight_def @w : !gemma.weight<f32, [1]> {source_offset = 0 : i64, value = dense<[1.0, 2.0]> : tensor<2xf32>}

// -----

func.func @f() {
  // expected-error @+1 {{references unknown weight @missing}}
  %w = gemma.weight @missing : !gemma.weight<f32, [4]>
  return
}

// -----

gemma.weight_def @w : !gemma.weight<f32, [4]> {source_offset = 0 : i64}
func.func @f() {
  // expected-error @+1 {{does not match the definition's}}
  %w = gemma.weight @w : !gemma.weight<f32, [8]>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %w: !gemma.weight<q8_0, [512, 128]>) {
  // expected-error @+1 {{input has 256 features, expected 128}}
  %y = gemma.linear %x, %w : tensor<?x256xf32>, !gemma.weight<q8_0, [512, 128]> -> tensor<?x512xf32>
  return
}

// -----

func.func @f(%x: tensor<?x128xf32>, %w: !gemma.weight<q8_0, [512, 128]>) {
  // expected-error @+1 {{result has 256 features, expected 512}}
  %y = gemma.linear %x, %w : tensor<?x128xf32>, !gemma.weight<q8_0, [512, 128]> -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>) {
  // expected-error @+1 {{group 96 does not divide the 256 features}}
  %y = gemma.rms_norm %x {eps = 1.0e-6 : f32, group = 96 : i64} : tensor<?x256xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %w: !gemma.weight<q8_0, [2, 128]>) {
  // expected-error @+1 {{norm weight must be 1-D of 256 elements}}
  %y = gemma.rms_norm %x, %w : !gemma.weight<q8_0, [2, 128]> {eps = 1.0e-6 : f32, group = 256 : i64} : tensor<?x256xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %w: !gemma.weight<q8_0, [256]>) {
  // expected-error @+1 {{norm weight must be f32, f16 or bf16}}
  %y = gemma.rms_norm %x, %w : !gemma.weight<q8_0, [256]> {eps = 1.0e-6 : f32, group = 256 : i64} : tensor<?x256xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%q: tensor<?x256xf32>, %k: tensor<?x128xf32>, %p: index) {
  // expected-error @+1 {{num_heads 4 is not a multiple of num_kv_heads 3}}
  %o = gemma.attention %q, %k, %k, %p {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 3 : i64, head_dim = 64 : i64, window = 0 : i64, kv_cache = 0 : i64, scale = 1.0 : f32} : tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%q: tensor<?x256xf32>, %k: tensor<?x128xf32>, %p: index) {
  // expected-error @+1 {{k has 128 features, expected 64}}
  %o = gemma.attention %q, %k, %k, %p {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 1 : i64, head_dim = 64 : i64, window = 0 : i64, kv_cache = 0 : i64, scale = 1.0 : f32} : tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%q: tensor<?x256xf32>, %k: tensor<?x128xf32>, %p: index) {
  // expected-error @+1 {{window, kv_cache and layer must be non-negative}}
  %o = gemma.attention %q, %k, %k, %p {layer = 0 : i64, num_heads = 4 : i64, num_kv_heads = 2 : i64, head_dim = 64 : i64, window = -1 : i64, kv_cache = 0 : i64, scale = 1.0 : f32} : tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %p: index) {
  // expected-error @+1 {{rope freq_dim 128 exceeds the head dim 64}}
  %y = gemma.rope %x, %p {num_heads = 4 : i64, head_dim = 64 : i64, rope = #gemma.rope<theta = 1.0e4, rotated_pairs = 32, freq_dim = 128>} : tensor<?x256xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %p: index) {
  // expected-error @+1 {{input has 256 features, expected 192}}
  %y = gemma.rope %x, %p {num_heads = 3 : i64, head_dim = 64 : i64, rope = #gemma.rope<theta = 1.0e4, rotated_pairs = 32, freq_dim = 64>} : tensor<?x256xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %p: index) {
  // expected-error @+1 {{rope needs theta > 0, an even freq_dim > 0 and 0 <= rotated_pairs <= freq_dim / 2}}
  %y = gemma.rope %x, %p {num_heads = 4 : i64, head_dim = 64 : i64, rope = #gemma.rope<theta = 1.0e4, rotated_pairs = 40, freq_dim = 64>} : tensor<?x256xf32> -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %w: !gemma.weight<f32, [2]>) {
  // expected-error @+1 {{factor must be a one-element f32, f16 or bf16 weight}}
  %y = gemma.scale_by_weight %x, %w : tensor<?x256xf32>, !gemma.weight<f32, [2]> -> tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>) {
  // expected-error @+1 {{cap must be positive}}
  %y = gemma.softcap %x {cap = 0.0 : f32} : tensor<?x256xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>) {
  // expected-error @+1 {{slice [200, 300) is outside the 256 features}}
  %y = gemma.column_slice %x {offset = 200 : i64, size = 100 : i64} : tensor<?x256xf32> -> tensor<?x100xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %g: !gemma.weight<q8_0, [512, 256]>, %u: !gemma.weight<q8_0, [256, 256]>) {
  // expected-error @+1 {{gate and up weights must be 2-D of the same shape}}
  %y = gemma.geglu %x, %g, %u {approximation = #gemma<gelu tanh>} : tensor<?x256xf32>, !gemma.weight<q8_0, [512, 256]>, !gemma.weight<q8_0, [256, 256]> -> tensor<?x512xf32>
  return
}

// -----

func.func @f(%x: tensor<?x256xf32>, %tok: tensor<?xi32>, %t: !gemma.weight<q8_0, [100, 128]>) {
  // expected-error @+1 {{result has 256 features, expected 128}}
  %y = gemma.embed %tok, %t {scale = 1.0 : f32} : tensor<?xi32>, !gemma.weight<q8_0, [100, 128]> -> tensor<?x256xf32>
  return
}

// -----

// expected-error @+1 {{layout x8 exists only for q4_0 and q4_k weights, not q8_0}}
gemma.weight_def @w : !gemma.weight<q8_0, [16, 64]> {layout = #gemma<layout x8>, source_offset = 0 : i64}

// -----

// expected-error @+1 {{layout x8 needs a matrix with a multiple of 8 rows}}
gemma.weight_def @w : !gemma.weight<q4_0, [12, 64]> {layout = #gemma<layout x8>, source_offset = 0 : i64}

// -----

// A GPTQ source stored as q4_0 needs zero points of 8.
// expected-error @+1 {{GPTQ source stored as q4_0 needs symmetric zero points (all 8)}}
gemma.weight_def @w : !gemma.weight<q4_0, [64, 256]> {gptq = #gemma.gptq<qzeros = 10, scales = 20, g_idx = -1, group = 128, zero_offset = 1, symmetric = false, block_uniform = true>, source_offset = 0 : i64}

// -----

// expected-error @+1 {{GPTQ source stored as q4_0_f32 needs symmetric zero points (all 8)}}
gemma.weight_def @w : !gemma.weight<q4_0_f32, [64, 256]> {gptq = #gemma.gptq<qzeros = 10, scales = 20, g_idx = -1, group = 128, zero_offset = 1, symmetric = false, block_uniform = true>, source_offset = 0 : i64}

// -----

// expected-error @+1 {{GPTQ source stored as q8_0 needs every 32 columns in one group}}
gemma.weight_def @w : !gemma.weight<q8_0, [64, 256]> {gptq = #gemma.gptq<qzeros = 10, scales = 20, g_idx = 5, group = 128, zero_offset = 1, symmetric = false, block_uniform = false>, source_offset = 0 : i64}

// -----

// expected-error @+1 {{GPTQ source cannot be stored as bf16 (f32, q8_0, q4_0, q8_0_f32 or q4_0_f32)}}
gemma.weight_def @w : !gemma.weight<bf16, [64, 256]> {gptq = #gemma.gptq<qzeros = 10, scales = 20, g_idx = -1, group = 128, zero_offset = 1, symmetric = true, block_uniform = true>, source_offset = 0 : i64}

// -----

// expected-error @+1 {{GPTQ source: zero_offset must be 0 (v2) or 1 (v1)}}
gemma.weight_def @w : !gemma.weight<f32, [64, 256]> {gptq = #gemma.gptq<qzeros = 10, scales = 20, g_idx = -1, group = 128, zero_offset = 3, symmetric = true, block_uniform = true>, source_offset = 0 : i64}

// -----

// expected-error @+1 {{an SRD fold cannot correct a GPTQ weight}}
gemma.weight_def @w : !gemma.weight<f32, [64, 256]> {gptq = #gemma.gptq<qzeros = 10, scales = 20, g_idx = -1, group = 128, zero_offset = 1, symmetric = true, block_uniform = true>, source_offset = 0 : i64, srd = #gemma.srd<tensor = 0, format = f32, base = f32, alpha = 1.000000e+00>}

// -----

// expected-error @+1 {{FP8 blocks are stored as an f8_b64 matrix, not '!gemma.weight<f32, [64, 256]>'}}
gemma.weight_def @w : !gemma.weight<f32, [64, 256]> {fp8_blocks = #gemma.fp8_blocks<scales = 10, block = 128>, source_offset = 0 : i64}

// -----

// expected-error @+1 {{FP8 blocks: block 96 must be a positive multiple of 64}}
gemma.weight_def @w : !gemma.weight<f8_b64, [64, 256]> {fp8_blocks = #gemma.fp8_blocks<scales = 10, block = 96>, source_offset = 0 : i64}

// -----

func.func @fp4_width(%x: tensor<?x24xf32>) -> tensor<?x24xf32> {
  // expected-error @+1 {{quantizes 16 features at a time; the input has 24}}
  %y = gemma.quantize_fp4 %x {global_scale = 1.000000e+00 : f32} : tensor<?x24xf32>
  return %y : tensor<?x24xf32>
}

// -----

func.func @fp4_scale(%x: tensor<?x32xf32>) -> tensor<?x32xf32> {
  // expected-error @+1 {{global_scale must be finite and positive}}
  %y = gemma.quantize_fp4 %x {global_scale = 0.000000e+00 : f32} : tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

func.func @route_k(%l: tensor<?x16xf32>) -> tensor<?x40xf32> {
  // expected-error @+1 {{num_used 20 must be in 1..16 (the experts)}}
  %r = gemma.moe_route %l {num_used = 20 : i64} : tensor<?x16xf32> -> tensor<?x40xf32>
  return %r : tensor<?x40xf32>
}

// -----

func.func @route_width(%l: tensor<?x16xf32>) -> tensor<?x6xf32> {
  // expected-error @+1 {{routing has 6 features, expected 8}}
  %r = gemma.moe_route %l {num_used = 4 : i64} : tensor<?x16xf32> -> tensor<?x6xf32>
  return %r : tensor<?x6xf32>
}

// -----

func.func @expert_2d(%x: tensor<?x256xf32>, %w: !gemma.weight<q8_0, [96, 256]>, %r: tensor<?x8xf32>) -> tensor<?x384xf32> {
  // expected-error @+1 {{weight must be 3-D [experts, rows, cols]}}
  %y = gemma.expert_linear %x, %w, %r {first_row = 0 : i64, num_rows = 96 : i64} : tensor<?x256xf32>, !gemma.weight<q8_0, [96, 256]>, tensor<?x8xf32> -> tensor<?x384xf32>
  return %y : tensor<?x384xf32>
}

// -----

func.func @expert_slice(%x: tensor<?x256xf32>, %w: !gemma.weight<q8_0, [16, 192, 256]>, %r: tensor<?x8xf32>) -> tensor<?x384xf32> {
  // expected-error @+1 {{weight rows [128, 224) exceed its 192 rows per expert}}
  %y = gemma.expert_linear %x, %w, %r {first_row = 128 : i64, num_rows = 96 : i64} : tensor<?x256xf32>, !gemma.weight<q8_0, [16, 192, 256]>, tensor<?x8xf32> -> tensor<?x384xf32>
  return %y : tensor<?x384xf32>
}

// -----

func.func @expert_input(%x: tensor<?x100xf32>, %w: !gemma.weight<f32, [16, 192, 256]>, %r: tensor<?x8xf32>) -> tensor<?x384xf32> {
  // expected-error @+1 {{input has 100 features, expected 256 (per token) or 1024 (per slot)}}
  %y = gemma.expert_linear %x, %w, %r {first_row = 0 : i64, num_rows = 96 : i64} : tensor<?x100xf32>, !gemma.weight<f32, [16, 192, 256]>, tensor<?x8xf32> -> tensor<?x384xf32>
  return %y : tensor<?x384xf32>
}

// -----

func.func @expert_blocks(%x: !gemma.act_blocks<q8_k, 256>, %w: !gemma.weight<q8_0, [16, 192, 256]>, %r: tensor<?x8xf32>) -> tensor<?x384xf32> {
  // expected-error @+1 {{input '!gemma.act_blocks<q8_k, 256>' is not what a q8_0 weight multiplies}}
  %y = gemma.expert_linear %x, %w, %r {first_row = 0 : i64, num_rows = 96 : i64} : !gemma.act_blocks<q8_k, 256>, !gemma.weight<q8_0, [16, 192, 256]>, tensor<?x8xf32> -> tensor<?x384xf32>
  return %y : tensor<?x384xf32>
}

// -----

func.func @expert_geglu_blocks(%x: !gemma.act_blocks<q8_0, 128>, %w: !gemma.weight<q8_0, [16, 192, 256]>, %r: tensor<?x8xf32>) -> tensor<?x384xf32> {
  // expected-error @+1 {{input has 128 features, expected 256}}
  %y = gemma.expert_geglu %x, %w, %w, %r {approximation = #gemma<gelu tanh>, gate_first_row = 0 : i64, up_first_row = 96 : i64, num_rows = 96 : i64} : !gemma.act_blocks<q8_0, 128>, !gemma.weight<q8_0, [16, 192, 256]>, !gemma.weight<q8_0, [16, 192, 256]>, tensor<?x8xf32> -> tensor<?x384xf32>
  return %y : tensor<?x384xf32>
}

// -----

func.func @routing_odd(%x: tensor<?x256xf32>, %w: !gemma.weight<f32, [16, 192, 256]>, %r: tensor<?x7xf32>) -> tensor<?x384xf32> {
  // expected-error @+1 {{routing must have 2 * k features (weights, then expert indices), got 7}}
  %y = gemma.expert_linear %x, %w, %r {first_row = 0 : i64, num_rows = 96 : i64} : tensor<?x256xf32>, !gemma.weight<f32, [16, 192, 256]>, tensor<?x7xf32> -> tensor<?x384xf32>
  return %y : tensor<?x384xf32>
}

// -----

func.func @combine_width(%d: tensor<?x1000xf32>, %r: tensor<?x8xf32>) -> tensor<?x256xf32> {
  // expected-error @+1 {{input has 1000 features, expected 1024}}
  %y = gemma.moe_combine %d, %r : tensor<?x1000xf32>, tensor<?x8xf32> -> tensor<?x256xf32>
  return %y : tensor<?x256xf32>
}

// -----

func.func @scale_columns(%x: tensor<?x256xf32>, %s: !gemma.weight<q8_0, [256]>) -> tensor<?x256xf32> {
  // expected-error @+1 {{factors must be a 1-D f32, f16 or bf16 weight}}
  %y = gemma.scale_columns %x, %s : tensor<?x256xf32>, !gemma.weight<q8_0, [256]>
  return %y : tensor<?x256xf32>
}

// -----

// expected-error @+1 {{layout x8 needs a matrix with a multiple of 8 rows (per expert)}}
gemma.weight_def @w : !gemma.weight<q4_0, [16, 12, 256]> {layout = #gemma<layout x8>, source_offset = 0 : i64}

// -----

// expected-error @+1 {{parts hold 160 rows, the weight 192}}
gemma.weight_def @parts_rows : !gemma.weight<bf16, [2, 96, 256]> {parts = [#gemma.part<source_offset = 0, rows = 96>, #gemma.part<source_offset = 49152, rows = 64>], source_offset = 0 : i64}

// -----

// expected-error @+1 {{part 0 is not GPTQ, NVFP4 or FP8, so the weight must be f32, f16 or bf16}}
gemma.weight_def @parts_format : !gemma.weight<q8_0, [1, 96, 256]> {parts = [#gemma.part<source_offset = 0, rows = 96>], source_offset = 0 : i64}

// -----

// expected-error @+1 {{parts must all be float, all GPTQ, all NVFP4 or all FP8 tensors}}
gemma.weight_def @parts_mixed : !gemma.weight<nvfp4, [2, 64, 256]> {parts = [#gemma.part<source_offset = 0, rows = 64, nvfp4_source = <scales = 8192>>, #gemma.part<source_offset = 16384, rows = 64>], source_offset = 0 : i64}

// -----

// expected-error @+1 {{part 0: an NVFP4 source is stored as an nvfp4 matrix, not}}
gemma.weight_def @parts_nvfp4_bf16 : !gemma.weight<bf16, [1, 64, 256]> {parts = [#gemma.part<source_offset = 0, rows = 64, nvfp4_source = <scales = 8192>>], source_offset = 0 : i64}

// -----

// expected-error @+1 {{a weight made of parts has no other source transform}}
gemma.weight_def @parts_widen : !gemma.weight<f32, [1, 96, 256]> {parts = [#gemma.part<source_offset = 0, rows = 96>], source_offset = 0 : i64, widen_from = #gemma<weight_format bf16>}
