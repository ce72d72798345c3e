// The program table: everything the runtime needs from one compiled model,
// reached through one exported function, so that several models live in one
// process. compile-model generates the table (compiler/artifact/
// ProgramTable.cpp) and makes every other symbol of the model's object
// local; a library exports `const gemmac_program *NAME_program(void)`, a
// program also `gemmac_builtin_program()`, which the runtime's
// gemmac_model_open finds (weakly: the runtime links without one).
//
// The first four fields are frozen across versions: a runtime reads them
// from a table of any version to say which compiler wrote it. Every other
// field's meaning is fixed by abi_version (GEMMAC_PROGRAM_ABI), which
// changes whenever the table, the generated functions' signatures or the
// model meta change.
#ifndef GEMMAC_ABI_PROGRAM_TABLE_H
#define GEMMAC_ABI_PROGRAM_TABLE_H

#include <stdint.h>

#include "abi/step.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GEMMAC_PROGRAM_MAGIC 0x3142415443414d47ull /* "GMACTAB1" */
#define GEMMAC_PROGRAM_ABI 6

typedef struct gemmac_rt gemmac_rt;

typedef struct gemmac_program {
  /* Frozen. */
  uint64_t magic;               /* GEMMAC_PROGRAM_MAGIC */
  uint32_t abi_version;         /* GEMMAC_PROGRAM_ABI of the compiler */
  uint32_t table_bytes;         /* sizeof(gemmac_program) of the compiler */
  const char *compiler_version; /* "0.3.0" */
  const char *name;             /* NAME of NAME_program, or "" (a program) */

  /* Model facts, indexed by gemmac::abi::MetaIndex (abi/model_meta.h). */
  const int64_t *meta;
  /* CPU models: one forward step over n_tokens rows of one or more
   * sequences (abi/step.h: the segment table seqs, n_seqs x
   * GEMMAC_SEQ_FIELDS); positions[r] is row r's position. Writes the logits
   * of rows out_rows[0 .. n_out) in that order and, when hidden is not NULL
   * (and meta[kMetaHiddenOutput] is 1), their final hidden states (after
   * the final norm: n_out x meta[kMetaHidden] floats). Sequence s's caches
   * lie at kv + slot * kv_stride (a multiple of 64, at least
   * kv_bytes(n_ctx)), for kv_slots slots. A row's outputs depend only on
   * its sequence's rows and cache, never on the rest of the step.
   * GPU models: NULL. */
  void (*forward)(gemmac_rt *rt, const uint8_t *weights, uint8_t *kv,
                  uint8_t *arena, const int32_t *tokens, float *logits,
                  float *hidden, int64_t n_tokens, const int64_t *positions,
                  const int64_t *seqs, int64_t n_seqs, const int64_t *out_rows,
                  int64_t n_out, int64_t n_ctx, int64_t kv_slots,
                  int64_t kv_stride);
  /* Bytes of KV cache for n_ctx tokens; of scratch arena for n_tokens. */
  int64_t (*kv_bytes)(int64_t n_ctx);
  int64_t (*arena_bytes)(int64_t n_tokens);
  /* GPU models: the device image (abi/gpu_program.h); CPU models: NULL. */
  const uint8_t *gpu_program;
  int64_t gpu_program_bytes;

  /* The weight file (abi/artifact_format.h) compiled with this code: its
   * checksum and size, which the runtime checks the file it opens against;
   * the file itself when compiled with --embed-weights, else NULL. */
  uint64_t weights_checksum;
  uint64_t weights_file_bytes;
  const uint8_t *embedded_weights;
  /* Where a library's weight file is looked for when the caller names
   * none: weights_name beside the shared object or executable holding
   * the table, then weights_path (where compile-model wrote it). NULL in a
   * program, which looks for its own path + ".weights". */
  const char *weights_name;
  const char *weights_path;

  /* CPU models compiled with an MTP drafter (compile-model --draft): one
   * draft step for n_tokens sequences, a row each (segments of one row),
   * every row at the position its sequence's next token takes (llama.cpp's
   * convention: all draft steps of a sequence at that position). Row r
   * embeds tokens[r] with the target's table and reads h_in[r]
   * (meta[kMetaHidden] floats): the target's final hidden state of the row
   * that produced tokens[r] at the first step, the previous step's h_out
   * after. Writes the drafter's logits of the rows out_rows[0 .. n_out) and,
   * when hidden is not NULL, their next hidden states (as h_in). Attends to
   * the target's KV caches (positions below the row's), writes none; uses
   * the same arena (arena_bytes covers both). NULL without a drafter. */
  void (*draft)(gemmac_rt *rt, const uint8_t *weights, uint8_t *kv,
                uint8_t *arena, const int32_t *tokens, float *logits,
                float *hidden, int64_t n_tokens, const int64_t *positions,
                const int64_t *seqs, int64_t n_seqs, const int64_t *out_rows,
                int64_t n_out, int64_t n_ctx, int64_t kv_slots,
                int64_t kv_stride, const float *h_in);
} gemmac_program;

#ifdef __cplusplus
}
#endif

#endif /* GEMMAC_ABI_PROGRAM_TABLE_H */
