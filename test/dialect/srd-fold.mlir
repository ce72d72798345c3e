// RUN: gemmac-opt %s -split-input-file -verify-diagnostics | FileCheck %s

// The SRD fold gemma-fold-srd records on a weight_def (#gemma.srd) prints
// and parses back; its verifier checks it alone (tensor index, alpha) and
// against the weight it is on (a matrix, W' in the weight's format, rows of
// whole base blocks).

// CHECK: gemma.weight_def @w : !gemma.weight<q8_0, [16, 64]> {source_offset = 0 : i64, srd = #gemma.srd<tensor = 3, format = q8_0, base = q4_0, alpha = 5.000000e-01>}
gemma.weight_def @w : !gemma.weight<q8_0, [16, 64]> {source_offset = 0 : i64, srd = #gemma.srd<tensor = 3, format = q8_0, base = q4_0, alpha = 5.000000e-01>}

// -----

// With the x8 layout of the stored format, and a base in another format.
// CHECK: gemma.weight_def @w : !gemma.weight<q4_0, [16, 256]> {layout = #gemma<layout x8>, source_offset = 8 : i64, srd = #gemma.srd<tensor = 0, format = q4_0, base = q4_k, alpha = 2.500000e-01>}
gemma.weight_def @w : !gemma.weight<q4_0, [16, 256]> {layout = #gemma<layout x8>, source_offset = 8 : i64, srd = #gemma.srd<tensor = 0, format = q4_0, base = q4_k, alpha = 0.25>}

// -----

// expected-error @+1 {{SRD fold stores W' as q8_0, the weight's type as q4_0}}
gemma.weight_def @w : !gemma.weight<q4_0, [16, 64]> {source_offset = 0 : i64, srd = #gemma.srd<tensor = 0, format = q8_0, base = q4_0, alpha = 1.0>}

// -----

// expected-error @+1 {{SRD fold on a weight of rank 1: the corrections replace the rows of a matrix}}
gemma.weight_def @w : !gemma.weight<f32, [64]> {source_offset = 0 : i64, srd = #gemma.srd<tensor = 0, format = f32, base = f32, alpha = 1.0>}

// -----

// expected-error @+1 {{SRD fold: the checkpoint's rows of 64 elements are not whole q4_k blocks of 256}}
gemma.weight_def @w : !gemma.weight<f32, [4, 64]> {source_offset = 0 : i64, srd = #gemma.srd<tensor = 0, format = f32, base = q4_k, alpha = 1.0>}

// -----

// expected-error @+1 {{SRD fold: tensor index -1 is negative}}
gemma.weight_def @w : !gemma.weight<f32, [4, 64]> {source_offset = 0 : i64, srd = #gemma.srd<tensor = -1, format = f32, base = f32, alpha = 1.0>}

// -----

// expected-error @+1 {{SRD fold: alpha must be finite}}
gemma.weight_def @w : !gemma.weight<f32, [4, 64]> {source_offset = 0 : i64, srd = #gemma.srd<tensor = 0, format = f32, base = f32, alpha = 0x7F800000>}

// -----

// expected-error @+1 {{SRD fold: alpha must be finite}}
gemma.weight_def @w : !gemma.weight<f32, [4, 64]> {source_offset = 0 : i64, srd = #gemma.srd<tensor = 0, format = f32, base = f32, alpha = 0x7FC00000>}

// -----

// expected-error @+2 {{expected ::gemmac::gemma::WeightFormat to be one of}}
// expected-error @+1 {{failed to parse Gemma_SRDFoldAttr parameter 'format'}}
gemma.weight_def @w : !gemma.weight<f32, [4, 64]> {source_offset = 0 : i64, srd = #gemma.srd<tensor = 0, format = q3_k, base = f32, alpha = 1.0>}

// -----

// expected-error @+1 {{'gemma.weight_def' op attribute 'srd' failed to satisfy constraint}}
gemma.weight_def @w : !gemma.weight<f32, [4, 64]> {source_offset = 0 : i64, srd = {tensor = 0 : i64}}
