// RUN: gemmac-opt %s -split-input-file -gemma-fuse-geglu | FileCheck %s

// The GeGLU pattern becomes one op whose kernel reads both weights.
// CHECK-LABEL: func.func @fuses
// CHECK-SAME: (%[[X:.*]]: tensor<?x256xf32>, %[[G:.*]]: !gemma.weight<q4_0, [512, 256]>, %[[U:.*]]: !gemma.weight<q4_0, [512, 256]>
// CHECK-NEXT: %[[M:.*]] = gemma.geglu %[[X]], %[[G]], %[[U]] {approximation = #gemma<gelu tanh>}
// CHECK-NEXT: %[[D:.*]] = gemma.linear %[[M]]
// CHECK-NEXT: return %[[D]]
func.func @fuses(%x: tensor<?x256xf32>, %wg: !gemma.weight<q4_0, [512, 256]>, %wu: !gemma.weight<q4_0, [512, 256]>, %wd: !gemma.weight<q4_0, [256, 512]>) -> tensor<?x256xf32> {
  %g = gemma.linear %x, %wg : tensor<?x256xf32>, !gemma.weight<q4_0, [512, 256]> -> tensor<?x512xf32>
  %a = gemma.gelu %g {approximation = #gemma<gelu tanh>} : tensor<?x512xf32>
  %u = gemma.linear %x, %wu : tensor<?x256xf32>, !gemma.weight<q4_0, [512, 256]> -> tensor<?x512xf32>
  %m = gemma.mul %a, %u : tensor<?x512xf32>
  %d = gemma.linear %m, %wd : tensor<?x512xf32>, !gemma.weight<q4_0, [256, 512]> -> tensor<?x256xf32>
  return %d : tensor<?x256xf32>
}

// -----

// The product's operands in the other order fuse too.
// CHECK-LABEL: func.func @commuted
// CHECK: gemma.geglu
// CHECK-NOT: gemma.gelu
func.func @commuted(%x: tensor<?x256xf32>, %wg: !gemma.weight<q8_0, [512, 256]>, %wu: !gemma.weight<q8_0, [512, 256]>) -> tensor<?x512xf32> {
  %g = gemma.linear %x, %wg : tensor<?x256xf32>, !gemma.weight<q8_0, [512, 256]> -> tensor<?x512xf32>
  %a = gemma.gelu %g {approximation = #gemma<gelu tanh>} : tensor<?x512xf32>
  %u = gemma.linear %x, %wu : tensor<?x256xf32>, !gemma.weight<q8_0, [512, 256]> -> tensor<?x512xf32>
  %m = gemma.mul %u, %a : tensor<?x512xf32>
  return %m : tensor<?x512xf32>
}

// -----

// An erf GELU stays unfused.
// CHECK-LABEL: func.func @erf
// CHECK-NOT: gemma.geglu
// CHECK: gemma.gelu %{{.*}} {approximation = #gemma<gelu erf>}
// CHECK: gemma.mul
func.func @erf(%x: tensor<?x256xf32>, %wg: !gemma.weight<q4_0, [512, 256]>, %wu: !gemma.weight<q4_0, [512, 256]>) -> tensor<?x512xf32> {
  %g = gemma.linear %x, %wg : tensor<?x256xf32>, !gemma.weight<q4_0, [512, 256]> -> tensor<?x512xf32>
  %a = gemma.gelu %g {approximation = #gemma<gelu erf>} : tensor<?x512xf32>
  %u = gemma.linear %x, %wu : tensor<?x256xf32>, !gemma.weight<q4_0, [512, 256]> -> tensor<?x512xf32>
  %m = gemma.mul %a, %u : tensor<?x512xf32>
  return %m : tensor<?x512xf32>
}

// -----

// Another activation (here none: a plain product of two projections) stays.
// CHECK-LABEL: func.func @no_activation
// CHECK-NOT: gemma.geglu
func.func @no_activation(%x: tensor<?x256xf32>, %wg: !gemma.weight<q4_0, [512, 256]>, %wu: !gemma.weight<q4_0, [512, 256]>) -> tensor<?x512xf32> {
  %g = gemma.linear %x, %wg : tensor<?x256xf32>, !gemma.weight<q4_0, [512, 256]> -> tensor<?x512xf32>
  %u = gemma.linear %x, %wu : tensor<?x256xf32>, !gemma.weight<q4_0, [512, 256]> -> tensor<?x512xf32>
  %m = gemma.mul %g, %u : tensor<?x512xf32>
  return %m : tensor<?x512xf32>
}

// -----

// Gate and up in different formats (or shapes) have no single kernel.
// CHECK-LABEL: func.func @mismatched_formats
// CHECK-NOT: gemma.geglu
func.func @mismatched_formats(%x: tensor<?x256xf32>, %wg: !gemma.weight<q4_0, [512, 256]>, %wu: !gemma.weight<q6_k, [512, 256]>) -> tensor<?x512xf32> {
  %g = gemma.linear %x, %wg : tensor<?x256xf32>, !gemma.weight<q4_0, [512, 256]> -> tensor<?x512xf32>
  %a = gemma.gelu %g {approximation = #gemma<gelu tanh>} : tensor<?x512xf32>
  %u = gemma.linear %x, %wu : tensor<?x256xf32>, !gemma.weight<q6_k, [512, 256]> -> tensor<?x512xf32>
  %m = gemma.mul %a, %u : tensor<?x512xf32>
  return %m : tensor<?x512xf32>
}

// -----

// Gate and up reading different inputs do not fuse.
// CHECK-LABEL: func.func @different_inputs
// CHECK-NOT: gemma.geglu
func.func @different_inputs(%x: tensor<?x256xf32>, %y: tensor<?x256xf32>, %wg: !gemma.weight<q4_0, [512, 256]>, %wu: !gemma.weight<q4_0, [512, 256]>) -> tensor<?x512xf32> {
  %g = gemma.linear %x, %wg : tensor<?x256xf32>, !gemma.weight<q4_0, [512, 256]> -> tensor<?x512xf32>
  %a = gemma.gelu %g {approximation = #gemma<gelu tanh>} : tensor<?x512xf32>
  %u = gemma.linear %y, %wu : tensor<?x256xf32>, !gemma.weight<q4_0, [512, 256]> -> tensor<?x512xf32>
  %m = gemma.mul %a, %u : tensor<?x512xf32>
  return %m : tensor<?x512xf32>
}

// -----

// The gated value is used elsewhere: fusing would compute it twice.
// CHECK-LABEL: func.func @extra_use
// CHECK-NOT: gemma.geglu
func.func @extra_use(%x: tensor<?x256xf32>, %wg: !gemma.weight<q4_0, [512, 256]>, %wu: !gemma.weight<q4_0, [512, 256]>) -> (tensor<?x512xf32>, tensor<?x512xf32>) {
  %g = gemma.linear %x, %wg : tensor<?x256xf32>, !gemma.weight<q4_0, [512, 256]> -> tensor<?x512xf32>
  %a = gemma.gelu %g {approximation = #gemma<gelu tanh>} : tensor<?x512xf32>
  %u = gemma.linear %x, %wu : tensor<?x256xf32>, !gemma.weight<q4_0, [512, 256]> -> tensor<?x512xf32>
  %m = gemma.mul %a, %u : tensor<?x512xf32>
  return %m, %a : tensor<?x512xf32>, tensor<?x512xf32>
}

// -----

// The experts' GeGLU over the two halves of one fused gate_up weight becomes
// one gemma.expert_geglu reading both slices.
// CHECK-LABEL: func.func @experts_fused_gate_up
// CHECK-SAME: (%[[X:.*]]: tensor<?x256xf32>, %[[W:.*]]: !gemma.weight<q4_0, [16, 192, 256]>, %[[R:.*]]: tensor<?x8xf32>
// CHECK-NEXT: %[[M:.*]] = gemma.expert_geglu %[[X]], %[[W]], %[[W]], %[[R]] {approximation = #gemma<gelu tanh>, gate_first_row = 0 : i64, num_rows = 96 : i64, up_first_row = 96 : i64}
// CHECK-SAME: -> tensor<?x384xf32>
// CHECK-NEXT: return %[[M]]
func.func @experts_fused_gate_up(%x: tensor<?x256xf32>, %w: !gemma.weight<q4_0, [16, 192, 256]>, %r: tensor<?x8xf32>) -> tensor<?x384xf32> {
  %g = gemma.expert_linear %x, %w, %r {first_row = 0 : i64, num_rows = 96 : i64} : tensor<?x256xf32>, !gemma.weight<q4_0, [16, 192, 256]>, tensor<?x8xf32> -> tensor<?x384xf32>
  %a = gemma.gelu %g {approximation = #gemma<gelu tanh>} : tensor<?x384xf32>
  %u = gemma.expert_linear %x, %w, %r {first_row = 96 : i64, num_rows = 96 : i64} : tensor<?x256xf32>, !gemma.weight<q4_0, [16, 192, 256]>, tensor<?x8xf32> -> tensor<?x384xf32>
  %m = gemma.mul %u, %a : tensor<?x384xf32>
  return %m : tensor<?x384xf32>
}

// -----

// Different routings, or products whose intermediates are read elsewhere,
// stay unfused.
// CHECK-LABEL: func.func @experts_other_routing
// CHECK-NOT: gemma.expert_geglu
// CHECK: gemma.mul
func.func @experts_other_routing(%x: tensor<?x256xf32>, %w: !gemma.weight<q8_0, [16, 192, 256]>, %r: tensor<?x8xf32>, %r2: tensor<?x8xf32>) -> tensor<?x384xf32> {
  %g = gemma.expert_linear %x, %w, %r {first_row = 0 : i64, num_rows = 96 : i64} : tensor<?x256xf32>, !gemma.weight<q8_0, [16, 192, 256]>, tensor<?x8xf32> -> tensor<?x384xf32>
  %a = gemma.gelu %g {approximation = #gemma<gelu tanh>} : tensor<?x384xf32>
  %u = gemma.expert_linear %x, %w, %r2 {first_row = 96 : i64, num_rows = 96 : i64} : tensor<?x256xf32>, !gemma.weight<q8_0, [16, 192, 256]>, tensor<?x8xf32> -> tensor<?x384xf32>
  %m = gemma.mul %a, %u : tensor<?x384xf32>
  return %m : tensor<?x384xf32>
}

// CHECK-LABEL: func.func @experts_gate_reused
// CHECK-NOT: gemma.expert_geglu
func.func @experts_gate_reused(%x: tensor<?x256xf32>, %w: !gemma.weight<q8_0, [16, 192, 256]>, %r: tensor<?x8xf32>) -> (tensor<?x384xf32>, tensor<?x384xf32>) {
  %g = gemma.expert_linear %x, %w, %r {first_row = 0 : i64, num_rows = 96 : i64} : tensor<?x256xf32>, !gemma.weight<q8_0, [16, 192, 256]>, tensor<?x8xf32> -> tensor<?x384xf32>
  %a = gemma.gelu %g {approximation = #gemma<gelu tanh>} : tensor<?x384xf32>
  %u = gemma.expert_linear %x, %w, %r {first_row = 96 : i64, num_rows = 96 : i64} : tensor<?x256xf32>, !gemma.weight<q8_0, [16, 192, 256]>, tensor<?x8xf32> -> tensor<?x384xf32>
  %m = gemma.mul %a, %u : tensor<?x384xf32>
  return %m, %g : tensor<?x384xf32>, tensor<?x384xf32>
}
