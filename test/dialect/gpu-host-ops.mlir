// RUN: gemmac-opt %s -split-input-file -verify-diagnostics

// The GPU host ops check what they describe; gpu.launch_func checks its
// operands against the kernel's signature, so a launch cannot disagree with
// the kernel it launches.

func.func @negative() {
  // expected-error @+1 {{offsets and sizes must not be negative}}
  %0 = gemma.gpu_view weights {offset = -4 : i64, bytes = 4 : i64} : memref<?xf32>
  return
}

// -----

func.func @weights_grow() {
  // expected-error @+1 {{only kv and rope ranges grow with the context}}
  %0 = gemma.gpu_view weights {offset = 0 : i64, bytes = 4 : i64, bytes_per_ctx = 4 : i64} : memref<?xf32>
  return
}

// -----

func.func @part(%x: tensor<?x32xf32>) {
  // expected-error @+1 {{of f32 rows is their rows}}
  %0 = gemma.gpu_slot quants %x : tensor<?x32xf32> -> memref<?xi32>
  return
}

// -----

func.func @blocks_part(%b: !gemma.act_blocks<q8_0, 32>) {
  // expected-error @+1 {{of int8 blocks is their quants or aux}}
  %0 = gemma.gpu_slot rows %b : !gemma.act_blocks<q8_0, 32> -> memref<?xf32>
  return
}

// -----

func.func @group() {
  // expected-error @+1 {{per_group must be positive}}
  %0 = gemma.gpu_rows tokens {per_group = 0 : i64}
  return
}

// -----

module attributes {gpu.container_module} {
  gpu.module @gemmac_kernels {
    gpu.func @copy_32(%x: memref<?xf32>, %y: memref<?xf32>) kernel {
      gpu.return
    }
  }
  func.func @forward() {
    %x = gemma.gpu_view arena {offset = 0 : i64, bytes = 65536 : i64} : memref<?xf32>
    %rows = gemma.gpu_rows tokens
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    // expected-error @+1 {{got 1 kernel operands but expected 2}}
    gpu.launch_func @gemmac_kernels::@copy_32 blocks in (%c1, %rows, %c1) threads in (%c64, %c1, %c1) args(%x : memref<?xf32>)
    return
  }
}
