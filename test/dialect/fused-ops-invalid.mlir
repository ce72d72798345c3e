// RUN: gemmac-opt %s -split-input-file -verify-diagnostics

// The fused ops of a GPU target's kernel phase and their int8 blocks.

func.func @blocks_of_part_of_a_block(%x: tensor<?x48xf32>) {
  // expected-error @+1 {{q8_0 blocks need a positive multiple of 32 columns, got 48}}
  %b = gemma.quantize_activation %x : tensor<?x48xf32> -> !gemma.act_blocks<q8_0, 48>
  return
}

// -----

func.func @blocks_of_other_width(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{input has 64 features, expected 32}}
  %b = gemma.quantize_activation %x : tensor<?x64xf32> -> !gemma.act_blocks<q8_0, 32>
  return
}

// -----

func.func @wrong_blocks(%b: !gemma.act_blocks<q8_0, 256>, %w: !gemma.weight<q4_k, [32, 256]>) {
  // expected-error @+1 {{is not what a q4_k weight multiplies}}
  %y = gemma.linear %b, %w : !gemma.act_blocks<q8_0, 256>, !gemma.weight<q4_k, [32, 256]> -> tensor<?x32xf32>
  return
}

// -----

func.func @blocks_for_float_weight(%b: !gemma.act_blocks<q8_0, 32>, %w: !gemma.weight<f16, [32, 32]>) {
  // expected-error @+1 {{is not what a f16 weight multiplies}}
  %y = gemma.linear %b, %w : !gemma.act_blocks<q8_0, 32>, !gemma.weight<f16, [32, 32]> -> tensor<?x32xf32>
  return
}

// -----

func.func @norm_quantize_weight(%x: tensor<?x32xf32>, %w: !gemma.weight<f32, [16]>) {
  // expected-error @+1 {{norm weight must be 1-D of 32 elements}}
  %y, %b = gemma.rms_norm_quantize %x, %w : !gemma.weight<f32, [16]> {eps = 1.0e-6 : f32} : tensor<?x32xf32> -> tensor<?x32xf32>, !gemma.act_blocks<q8_0, 32>
  return
}

// -----

func.func @norm_add_eps(%x: tensor<?x32xf32>, %r: tensor<?x32xf32>) {
  // expected-error @+1 {{eps must be non-negative}}
  %y = gemma.rms_norm_add %x, %r {eps = -1.0 : f32} : tensor<?x32xf32> -> tensor<?x32xf32>
  return
}

// -----

func.func @norm_rope_weight(%x: tensor<?x32xf32>, %p: index, %w: !gemma.weight<q8_0, [32]>) {
  // expected-error @+1 {{norm weight must be 1-D of 16 elements}}
  %y = gemma.rms_norm_rope %x, %p, %w : !gemma.weight<q8_0, [32]> {eps = 1.0e-6 : f32, num_heads = 2 : i64, head_dim = 16 : i64, rope = #gemma.rope<theta = 1.0e4, rotated_pairs = 8, freq_dim = 16>} : tensor<?x32xf32> -> tensor<?x32xf32>
  return
}
