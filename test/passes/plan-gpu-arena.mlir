// RUN: gemmac-opt %s -split-input-file -verify-diagnostics -gemma-plan-gpu-arena | FileCheck %s
// RUN: gemmac-opt %s -split-input-file -verify-diagnostics -gemma-plan-gpu-arena -gemma-plan-gpu-arena | FileCheck %s

// Every activation gets a slot of max_batch (512) rows, each row 256-byte
// aligned: x 32 floats -> 256 bytes per row. The norm's result is placed
// before x, which dies at the norm, is released: a kernel never writes what
// it reads. The int8 blocks (32 quants, then one f32 per block of 32) have a
// slot of their own and die with the activation they quantize, after the
// linear that reads them; the linear's result then takes x's old slot.
// Launch plumbing (gemma.gpu_slot) reads nothing: %a dies at the linear,
// not at the slot after it.

module {
  gemma.weight_def @emb : !gemma.weight<q8_0, [64, 32]> {source_offset = 0 : i64, blob_offset = 0 : i64}
  gemma.weight_def @w : !gemma.weight<q8_0, [32, 32]> {source_offset = 0 : i64, blob_offset = 2176 : i64}
  func.func @forward(%tokens: tensor<?xi32>, %pos0: index, %n: index) -> tensor<?x32xf32> attributes {gemma.entry} {
    %emb = gemma.weight @emb : !gemma.weight<q8_0, [64, 32]>
    %w = gemma.weight @w : !gemma.weight<q8_0, [32, 32]>
    %x = gemma.embed %tokens, %emb {scale = 1.0 : f32} : tensor<?xi32>, !gemma.weight<q8_0, [64, 32]> -> tensor<?x32xf32>
    %sx = gemma.gpu_slot rows %x : tensor<?x32xf32> -> memref<?xf32>
    %a, %blocks = gemma.rms_norm_quantize %x {eps = 1.0e-6 : f32} : tensor<?x32xf32> -> tensor<?x32xf32>, !gemma.act_blocks<q8_0, 32>
    %sa = gemma.gpu_slot rows %a : tensor<?x32xf32> -> memref<?xf32>
    %qs = gemma.gpu_slot quants %blocks : !gemma.act_blocks<q8_0, 32> -> memref<?xi32>
    %aux = gemma.gpu_slot aux %blocks : !gemma.act_blocks<q8_0, 32> -> memref<?xf32>
    %y = gemma.linear %blocks, %w : !gemma.act_blocks<q8_0, 32>, !gemma.weight<q8_0, [32, 32]> -> tensor<?x32xf32>
    %sa2 = gemma.gpu_slot rows %a : tensor<?x32xf32> -> memref<?xf32>
    %sy = gemma.gpu_slot rows %y : tensor<?x32xf32> -> memref<?xf32>
    %r = gemma.last_rows %y, %n : tensor<?x32xf32>
    %sr = gemma.gpu_slot rows %r : tensor<?x32xf32> -> memref<?xf32>
    return %r : tensor<?x32xf32>
  }
}

// CHECK-LABEL: func.func @forward
// The arena peaks at x, a and the blocks: (256 + 256 + 512) x 512 bytes;
// the logits (%r) sit at row offset 256.
// CHECK-NEXT: gemma.gpu_arena {bytes = 524288 : i64, logits_offset = 131072 : i64}
// CHECK: gemma.embed
// CHECK-NEXT: gemma.gpu_view arena {bytes = 131072 : i64, offset = 0 : i64} : memref<?xf32>
// CHECK: gemma.rms_norm_quantize
// CHECK-NEXT: gemma.gpu_view arena {bytes = 131072 : i64, offset = 131072 : i64} : memref<?xf32>
// CHECK-NEXT: gemma.gpu_view arena {bytes = 16384 : i64, offset = 262144 : i64} : memref<?xi32>
// CHECK-NEXT: gemma.gpu_view arena {bytes = 2048 : i64, offset = 393216 : i64} : memref<?xf32>
// CHECK: gemma.linear
// CHECK-NEXT: gemma.gpu_view arena {bytes = 131072 : i64, offset = 131072 : i64} : memref<?xf32>
// CHECK-NEXT: gemma.gpu_view arena {bytes = 131072 : i64, offset = 0 : i64} : memref<?xf32>
// CHECK: gemma.last_rows
// CHECK-NEXT: gemma.gpu_view arena {bytes = 131072 : i64, offset = 131072 : i64} : memref<?xf32>
// CHECK-NOT: gemma.gpu_slot

// -----

// A slot of a value no op computes (the tokens are no activation).
module {
  func.func @forward(%tokens: tensor<?x8xf32>, %pos0: index, %n: index) -> tensor<?x8xf32> attributes {gemma.entry} {
    // expected-error @+1 {{names a value no earlier op computes}}
    %s = gemma.gpu_slot rows %tokens : tensor<?x8xf32> -> memref<?xf32>
    %r = gemma.last_rows %tokens, %n : tensor<?x8xf32>
    return %r : tensor<?x8xf32>
  }
}
