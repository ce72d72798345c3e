// RUN: gemmac-opt %s -gemma-lower-to-cpu -canonicalize -cse | FileCheck %s

// A one-layer model lowered to the C entry point: kernel calls with constant
// shapes, generated loops for elementwise ops, a sliding cache as a ring of
// `window` rows, the logits written to the caller's buffer, the hidden
// states copied to the caller's when asked.

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

// CHECK-DAG: func.func private @gmk_embed_q8_0(!llvm.ptr, memref<?xf32>, memref<?xi32>, index, memref<?xi8>, index, index, f32)
// CHECK-DAG: func.func private @gmk_linear_q8_0(!llvm.ptr, memref<?xf32>, memref<?xf32>, index, memref<?xi8>, index, index)
// CHECK-DAG: func.func private @gmk_attention_f16(
// CHECK-DAG: func.func private @gmk_kv_store_f16(
// CHECK-NOT: gemma.weight_def
// The C entry point of abi/program_table.h: the step's rows (positions, the
// segment table of abi/step.h, the wanted rows) and the KV slots' stride.
// CHECK: func.func @gemmac_forward(%[[RT:[^:]*]]: !llvm.ptr, %[[W:[^:]*]]: !llvm.ptr, %[[KV:[^:]*]]: !llvm.ptr, %{{[^:]*}}: !llvm.ptr, %{{[^:]*}}: !llvm.ptr, %{{[^:]*}}: !llvm.ptr, %[[HID:[^:]*]]: !llvm.ptr, %[[T:[^:]*]]: index, %[[POSP:[^:]*]]: !llvm.ptr, %[[SEQP:[^:]*]]: !llvm.ptr, %[[NSEQ:[^:]*]]: index, %[[OUTP:[^:]*]]: !llvm.ptr, %[[NOUT:[^:]*]]: index, %[[CTX:[^:]*]]: index, %[[SLOTS:[^:]*]]: index, %[[STRIDE:[^:]*]]: index)
// CHECK-DAG: %[[CAP:.*]] = arith.constant 3.000000e+01 : f32
// CHECK-DAG: %[[INV:.*]] = arith.constant 0.0333333351 : f32
// CHECK-DAG: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
// Weights: a 4096-byte blob. The KV cache: one ring of 8 rows (512 bytes),
// or of n_ctx rounded up to 64 rows (64 bytes each) when that is fewer (the
// size function at the end computes its bytes).
// CHECK: gemma.buffer %[[W]], %c4096
// CHECK: %[[UP:.*]] = arith.addi %[[CTX]], %c63
// CHECK: %[[N64:.*]] = arith.divui %[[UP]], %c64
// CHECK: %[[ROWS64:.*]] = arith.muli %[[N64]], %c64
// CHECK: %[[SHORT:.*]] = arith.cmpi ult, %[[ROWS64]], %c8
// CHECK: %[[RING:.*]] = arith.select %[[SHORT]], %[[ROWS64]], %c8
// The KV buffer holds kv_slots slots of kv_stride bytes; a slot's caches are
// kv_stride / 2 f16 elements after the previous one's.
// CHECK: %[[KVALL:.*]] = arith.muli %[[SLOTS]], %[[STRIDE]]
// CHECK: gemma.buffer %[[KV]], %[[KVALL]]
// CHECK: %[[SEQSTRIDE:.*]] = arith.divui %[[STRIDE]], %c2
// CHECK: %[[POSB:.*]] = gemma.buffer %[[POSP]]
// CHECK: %[[POS:.*]] = memref.view %[[POSB]][%c0][%[[T]]] : memref<?xi8> to memref<?xi64>
// CHECK: %[[SEQB:.*]] = gemma.buffer %[[SEQP]]
// CHECK: %[[SEQS:.*]] = memref.view %[[SEQB]]
// CHECK: %[[OUTB:.*]] = gemma.buffer %[[OUTP]]
// CHECK: %[[OUTROWS:.*]] = memref.view %[[OUTB]][%c0][%[[NOUT]]] : memref<?xi8> to memref<?xi64>
// The embedding table is the first 2176 bytes of the blob (64 x 34).
// CHECK: memref.view %{{.*}}[%c0][] : memref<?xi8> to memref<2176xi8>
// CHECK: call @gmk_embed_q8_0(%[[RT]], %{{.*}}, %{{.*}}, %[[T]], %{{.*}}, %c64, %c32, %{{.*}})
// CHECK: call @gmk_rms_norm(%[[RT]], %{{.*}}, %{{.*}}, %[[T]], %c32, %c32, %{{.*}}, %c0_i32, %{{.*}})
// CHECK: call @gmk_linear_q8_0(%[[RT]], %[[Q:.*]], %{{.*}}, %[[T]], %{{.*}}, %c32, %c32)
// RoPE in place: two heads of 16, 8 rotated pairs.
// CHECK: call @gmk_rope(%[[RT]], %[[Q]], %[[Q]], %[[T]], %c2, %c16, %[[POS]], %{{.*}}, %c16, %c8)
// CHECK: call @gmk_linear_q8_0(%[[RT]], %{{.*}}, %{{.*}}, %[[T]], %{{.*}}, %c16, %c32)
// CHECK: call @gmk_rms_norm_unweighted
// Window 8: the cache's capacity is the ring's rows above, not n_ctx.
// CHECK: call @gmk_attention_f16(%[[RT]], %{{.*}}, %[[Q]], %{{.*}}, %{{.*}}, %[[T]], %[[SEQS]], %[[NSEQ]], %c2, %c1, %c16, %c8, %{{.*}}, %{{.*}}, %[[RING]], %[[SEQSTRIDE]], %{{.*}})
// CHECK: call @gmk_kv_store_f16(%[[RT]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[T]], %[[SEQS]], %[[NSEQ]], %c16, %c8, %[[RING]], %[[SEQSTRIDE]])
// The residual add is a generated loop, in place.
// CHECK: linalg.generic
// CHECK: arith.addf
// CHECK: call @gmk_gelu_tanh
// The layer scale is the weight's known value, a constant.
// CHECK: linalg.generic
// CHECK: arith.mulf %{{.*}}, %cst{{.*}} : f32
// The wanted rows (out_rows) are gathered.
// CHECK: call @gmk_gather_rows(%[[RT]], %{{.*}}, %{{.*}}, %[[OUTROWS]], %[[NOUT]], %c32)
// Those rows, the output projection's input, are the hidden states: copied
// to the caller's hidden buffer when it passes one (n_out x 32 floats).
// CHECK: %[[GIVEN:.*]] = llvm.icmp "ne" %[[HID]], %[[NULL]] : !llvm.ptr
// CHECK: scf.if %[[GIVEN]] {
// CHECK: gemma.buffer %[[HID]]
// CHECK: linalg.generic
// CHECK: }
// CHECK: call @gmk_linear_q8_0(%[[RT]], %{{.*}}, %{{.*}}, %[[NOUT]], %{{.*}}, %c64, %c32)
// The softcap writes the caller's logits; 1/cap was folded at compile time
// (x * (1/cap), as llama.cpp's ggml_scale computes it).
// CHECK: arith.mulf %{{.*}}, %[[INV]] : f32
// CHECK-NEXT: math.tanh
// CHECK-NEXT: arith.mulf %{{.*}}, %[[CAP]] : f32
// CHECK: return
// The KV size function computes the same ring size for its n_ctx.
// CHECK: func.func @gemmac_kv_bytes(%{{.*}}: index) -> index
// CHECK: %[[KVN:.*]] = arith.select %{{.*}}, %{{.*}}, %c512
// CHECK-NEXT: return %[[KVN]]
// CHECK: func.func @gemmac_arena_bytes(%[[N:.*]]: index) -> index
// CHECK: arith.muli %[[N]], %c576
// Meta[8]: bytes a decoded token reads: the tied table whole (the logits read
// it), wq, wk, the norm and the scalar. Meta[9]: the forward writes hidden
// states.
// CHECK: llvm.mlir.global external constant @gemmac_model_meta(dense<[5, 64, 32, 1, 128, 4096, 7, 512, 3940, 1, 8, 0, 0, 0, 0, 0]> : tensor<16xi64>)
