/* One forward step over rows of several sequences (abi/program_table.h's
 * forward): the step's segment table. Segment i is the int64 quadruple
 * seqs[i * GEMMAC_SEQ_FIELDS + field]:
 *   SLOT: the sequence's KV slot: its caches lie at kv + slot * kv_stride,
 *         each at the single-sequence layout of kv_bytes(n_ctx);
 *   POS0: the position of the segment's first row;
 *   ROW0: the segment's first row in the step (tokens[row0 ..]);
 *   ROWS: its row count, at positions pos0 .. pos0 + rows - 1.
 * The runtime guarantees: segments ascend by row0 and cover rows
 * [0, n_tokens) exactly, n_rows >= 1, slots are distinct and < kv_slots,
 * pos0 + n_rows <= n_ctx; out_rows ascend strictly and are < n_tokens.
 * Dependency-free C: included by the runtime and the compiler alike. */
#ifndef GEMMAC_ABI_STEP_H
#define GEMMAC_ABI_STEP_H

enum {
  GEMMAC_SEQ_SLOT = 0,
  GEMMAC_SEQ_POS0 = 1,
  GEMMAC_SEQ_ROW0 = 2,
  GEMMAC_SEQ_ROWS = 3,
  GEMMAC_SEQ_FIELDS = 4
};

#endif /* GEMMAC_ABI_STEP_H */
