/* gemmac.h - the C API of gemmac's runtime, for compiled Gemma 4 models.
 *
 * compile-model turns a checkpoint into code: a program (its CLI runs this
 * API on the model compiled into it) or, with --emit lib -o DIR/NAME, a
 * model library (libNAME.a / libNAME.so and NAME.h) an application links
 * with this runtime (libgemmac_runtime). This API opens a model, creates
 * sessions (each with its own KV cache), feeds tokens, reads logits,
 * samples and generates, and renders and parses chats. Functions that can
 * fail return NULL or a negative value; gemmac_last_error() says why (per
 * thread). Link: pkg-config gemmac (or gemmac-static), or CMake
 * find_package(gemmac) and gemmac::runtime (docs/library.md).
 *
 * Example (a model library compiled as `compile-model m.gguf --emit lib
 * -o lib/m`):
 *
 *   #include "m.h"
 *   gemmac_model *model = gemmac_model_open_program(m_program(), NULL, NULL);
 *   gemmac_session *s = gemmac_session_new(model, 0);
 *   gemmac_sampler_params p = gemmac_sampler_defaults();
 *   gemmac_generate(s, "The quick brown fox", 32, &p, print_piece, NULL);
 *   gemmac_session_free(s);
 *   gemmac_model_close(model);
 */
#ifndef GEMMAC_H
#define GEMMAC_H

#include <stddef.h>
#include <stdint.h>

/* Symbols of the runtime, exported from libgemmac_runtime.so. */
#ifndef GEMMAC_API
#define GEMMAC_API __attribute__((visibility("default")))
#endif

/* The version of this header; gemmac_version() is the runtime's. A model
 * compiled by another version's compile-model is refused when opened (its
 * program ABI differs), with a message naming both versions. */
#define GEMMAC_VERSION_MAJOR 0
#define GEMMAC_VERSION_MINOR 3
#define GEMMAC_VERSION_PATCH 0
#define GEMMAC_VERSION_STRING "0.3.0"
#define GEMMAC_VERSION_NUMBER                                                  \
  (GEMMAC_VERSION_MAJOR * 10000 + GEMMAC_VERSION_MINOR * 100 + GEMMAC_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t gemmac_token;
/* A compiled model's code, from a model library: NAME_program(). */
typedef struct gemmac_program gemmac_program;
typedef struct gemmac_model gemmac_model;
typedef struct gemmac_session gemmac_session;
typedef struct gemmac_pool gemmac_pool;

/* The runtime's version, e.g. "0.3.0". */
GEMMAC_API const char *gemmac_version(void);

/* The message of the last failure on this thread ("" if none). */
GEMMAC_API const char *gemmac_last_error(void);

/* The most worker threads a model may have; more is an error. */
#define GEMMAC_MAX_THREADS 1024

/* Opens the weight file compiled for this program (NULL: the program's own
 * path + ".weights"). n_threads <= 0 uses one thread per CPU this process
 * may run on (its affinity mask); more than 4 per such CPU are cut to 4 per
 * CPU (gemmac_model_threads says how many it has); more than
 * GEMMAC_MAX_THREADS, or threads the system cannot create, fail. */
GEMMAC_API gemmac_model *gemmac_model_open(const char *weights_path, int n_threads);

typedef struct {
  int n_threads;         /* <= 0: one per usable CPU (see gemmac_model_open) */
  int weights_in_memory; /* -1 (default): copy the weights into huge pages
                            when the system has them and the memory to spare,
                            else read them through the file mapping; 0: always
                            the mapping; 1: the copy or fail */
  int device;            /* GPU programs (CUDA, Vulkan): the device index
                            (default 0); ignored by CPU programs */
} gemmac_model_options;
GEMMAC_API gemmac_model_options gemmac_model_default_options(void);
GEMMAC_API gemmac_model *gemmac_model_open_with(const char *weights_path,
                                     const gemmac_model_options *options);
/* Opens a model library's model: program is NAME_program() (NAME.h);
 * weights_path NULL looks for NAME.weights beside the shared library (or
 * the executable a static library is linked into), then where compile-model
 * wrote it; a library compiled with --embed-weights holds its weights.
 * options may be NULL (the defaults). Several models, of one library or
 * of several, may be open at once. gemmac_model_open/_open_with open the
 * model compiled into a program (and fail in a process that has none). */
GEMMAC_API gemmac_model *gemmac_model_open_program(const gemmac_program *program,
                                                   const char *weights_path,
                                                   const gemmac_model_options *options);
GEMMAC_API void gemmac_model_close(gemmac_model *model);
/* What runs the model: "cpu", or "cuda: <name>" / "vulkan: <name>". */
GEMMAC_API const char *gemmac_model_device(const gemmac_model *model);

GEMMAC_API int32_t gemmac_model_vocab_size(const gemmac_model *model);
GEMMAC_API int32_t gemmac_model_context_length(const gemmac_model *model);
GEMMAC_API int32_t gemmac_model_threads(const gemmac_model *model);
/* Bytes of the weight blob. */
GEMMAC_API uint64_t gemmac_model_weight_bytes(const gemmac_model *model);
/* Weight bytes one decoded token reads: every matrix of a product, one row
 * of each table that is only looked up (embeddings), the norms. */
GEMMAC_API uint64_t gemmac_model_decode_bytes(const gemmac_model *model);

/* Facts about the compiled model by name; NULL (strings) or -1 (numbers) for
 * an unknown key. Strings: "source" (checkpoint file name), "target",
 * "compiler", "residuals" (SRD corrections folded in, or ""), "formats"
 * ("q4_0 x183 f32 x62"), "device", "kernels" (a CPU program's kernel set:
 * "avx2", "avx512" or "arm"; "" on a GPU), "chat_template", "weights_path".
 * Numbers: "vocab", "hidden", "layers", "context", "max_batch", "threads",
 * "weight_bytes", "decode_bytes", "arena_bytes" (CPU scratch per session),
 * "weights_in_memory" (1: held in huge pages), "window" (the sliding
 * layers'), "draft_max" (compile-model --draft-max). */
GEMMAC_API const char *gemmac_model_string(const gemmac_model *model, const char *key);
GEMMAC_API int64_t gemmac_model_number(const gemmac_model *model, const char *key);
/* KV cache bytes of a session of n_ctx tokens (-1 on GPU programs). */
GEMMAC_API int64_t gemmac_model_kv_bytes(const gemmac_model *model, int32_t n_ctx);

/* Tokenizer. Returns the number of tokens written, or -(needed) if cap is too
 * small. add_bos prepends <bos>; parse_special recognizes control tokens
 * written in the text. */
GEMMAC_API int32_t gemmac_tokenize(const gemmac_model *model, const char *text,
                        size_t len, int add_bos, int parse_special,
                        gemmac_token *out, int32_t cap);
/* Writes the bytes of a token (control tokens only if special); returns the
 * length, or -(needed) if cap is too small. */
GEMMAC_API int32_t gemmac_token_to_piece(const gemmac_model *model, gemmac_token token,
                              char *buf, int32_t cap, int special);
GEMMAC_API int gemmac_token_is_eog(const gemmac_model *model, gemmac_token token);
GEMMAC_API gemmac_token gemmac_token_bos(const gemmac_model *model);

/* A session holds a KV cache for n_ctx tokens (<= 0: the model's context,
 * capped at 4096). Sliding-window layers keep only their window. */
GEMMAC_API gemmac_session *gemmac_session_new(gemmac_model *model, int32_t n_ctx);
GEMMAC_API void gemmac_session_free(gemmac_session *session);
/* The model a session belongs to. */
GEMMAC_API gemmac_model *gemmac_session_model(const gemmac_session *session);
GEMMAC_API void gemmac_session_reset(gemmac_session *session);
GEMMAC_API int32_t gemmac_session_position(const gemmac_session *session);
GEMMAC_API int32_t gemmac_session_context(const gemmac_session *session);
/* Bytes of KV cache the session allocated. */
GEMMAC_API uint64_t gemmac_session_kv_bytes(const gemmac_session *session);

/* Feeds n tokens after the ones already seen. logits (may be NULL) receives
 * the logits of the last token, or of every token when all_logits is set
 * (n * vocab floats). Returns 0, or -1 on error. */
GEMMAC_API int gemmac_session_eval(gemmac_session *session, const gemmac_token *tokens,
                        int32_t n, float *logits, int all_logits);

typedef struct {
  float temperature; /* <= 0: greedy */
  int32_t top_k;     /* <= 0: off */
  float top_p;       /* >= 1: off */
  float min_p;       /* <= 0: off */
  uint64_t seed;
  /* Penalties over the last penalty_last_n tokens the session has seen
   * (prompt and generated; -1: all of them), as llama.cpp applies them:
   * a positive logit is divided by repeat_penalty and a negative one
   * multiplied; then presence_penalty and frequency_penalty x count are
   * subtracted. Defaults: 1, 64, 0, 0 (off). */
  float repeat_penalty;
  int32_t penalty_last_n;
  float presence_penalty;
  float frequency_penalty;
} gemmac_sampler_params;

GEMMAC_API gemmac_sampler_params gemmac_sampler_defaults(void);
/* gemmac_sampler_defaults() with the sampling defaults the model's
 * checkpoint states (generation_config.json's temperature, top_k, top_p,
 * min_p, repetition_penalty, penalty_last_n, or a GGUF's general.sampling.*),
 * as llama.cpp applies them: the values a user does not set. */
GEMMAC_API gemmac_sampler_params gemmac_model_sampler_defaults(const gemmac_model *model);
/* Restarts the session's random sequence from seed (gemmac_sample otherwise
 * seeds it once, from the first params.seed it sees). */
GEMMAC_API void gemmac_session_set_seed(gemmac_session *session, uint64_t seed);
GEMMAC_API gemmac_token gemmac_sample(gemmac_session *session, const float *logits,
                           const gemmac_sampler_params *params);

/* Receives each generated piece; returns nonzero to stop. */
typedef int (*gemmac_piece_fn)(const char *piece, size_t len, void *user);

/* Tokenizes prompt (with <bos>, special tokens parsed), evaluates it and
 * generates up to max_tokens tokens, stopping at end-of-generation tokens.
 * Returns the number of tokens generated, or -1 on error. */
GEMMAC_API int32_t gemmac_generate(gemmac_session *session, const char *prompt,
                        int32_t max_tokens,
                        const gemmac_sampler_params *params,
                        gemmac_piece_fn on_piece, void *user);

/* Speculative decoding. A program compiled with --draft-max K keeps K rows
 * beyond the window in its sliding-window caches, so a session can be rolled
 * back: gemmac_session_truncate keeps its first n_past tokens (KV cache,
 * history for the penalties), and the next eval continues at n_past. Full
 * caches roll back any distance, rings K + 1 positions (any distance
 * while the context fits a ring): gemmac_session_max_rollback says how far
 * back the session can go now. Returns 0, or -1 with nothing changed
 * (n_past outside [position - max_rollback, position]). */
GEMMAC_API int32_t gemmac_session_max_rollback(const gemmac_session *session);
GEMMAC_API int gemmac_session_truncate(gemmac_session *session, int32_t n_past);

/* A drafter proposes up to max_draft tokens to follow tokens[0 .. n_tokens)
 * (everything the session has evaluated, then the token just sampled) into
 * draft; returns how many (0 .. max_draft), or -1 to stop with an error
 * (gemmac_last_error should say why). */
typedef int32_t (*gemmac_draft_fn)(const gemmac_token *tokens, int32_t n_tokens,
                                   gemmac_token *draft, int32_t max_draft, void *user);

/* Prompt lookup (n-gram) drafting: the tokens that followed the latest
 * earlier occurrence of the last 3 (else 2, else 1) tokens, repeated as a
 * loop where they reach the end; none without an occurrence. user: NULL. */
GEMMAC_API int32_t gemmac_draft_ngram(const gemmac_token *tokens, int32_t n_tokens,
                                      gemmac_token *draft, int32_t max_draft, void *user);

/* The MTP drafter of a program compiled with compile-model --draft
 * ASSISTANT.gguf (gemmac_model_number(model, "drafter") is 1): n_draft
 * greedy draft tokens to follow `token`, the token just sampled from the
 * session's last evaluated token's logits (not yet evaluated). Every step
 * runs at the position `token` will take, over the session's KV caches,
 * from the target's final hidden state of that last token, then from the
 * drafter's own; step i's logits go to logits + i * vocab when logits is
 * not NULL. Changes nothing in the session. Returns n_draft, or -1 (no
 * drafter, or no hidden state: the session was reset, truncated or loaded
 * since its last eval). */
GEMMAC_API int32_t gemmac_session_draft(gemmac_session *session, gemmac_token token,
                                        int32_t n_draft, gemmac_token *draft,
                                        float *logits);
/* The MTP drafter for n sequences of a pool at once (serving): sequence j,
 * sessions[j] (distinct sessions of `pool`), gets up to n_draft[j]
 * (0 .. max_draft) greedy draft tokens to follow tokens[j] in
 * drafts + j * max_draft (step i's logits at logits + (j * max_draft + i) *
 * vocab when logits is not NULL): exactly what gemmac_session_draft gives
 * it alone, but each draft step is one drafter call for every sequence
 * still drafting, so the drafter's weights are read once per step for all
 * of them. A sequence without the hidden state of its last evaluated token
 * (reset, truncated or loaded since its last eval) drafts nothing: n_draft[j]
 * is set to what each got. Returns 0, or -1 (no drafter, a GPU pool, or a
 * bad argument: nothing drafted). */
GEMMAC_API int gemmac_pool_draft(gemmac_pool *pool, int32_t n,
                                 gemmac_session *const *sessions,
                                 const gemmac_token *tokens, int32_t *n_draft,
                                 int32_t max_draft, gemmac_token *drafts,
                                 float *logits);
/* gemmac_session_draft as a gemmac_draft_fn; user: the session. */
GEMMAC_API int32_t gemmac_draft_mtp(const gemmac_token *tokens, int32_t n_tokens,
                                    gemmac_token *draft, int32_t max_draft, void *user);

typedef struct {
  int32_t draft_max; /* tokens drafted per step (a step drafts at most the
                      * program's --draft-max + 1, the rings' rollback) */
  int32_t draft_min; /* a shorter draft is not verified (0: any) */
  int adaptive;      /* nonzero: draft 2 more after a fully accepted step,
                      * 1 fewer after a rejection (within min .. max) */
  gemmac_draft_fn draft;
  void *draft_user;
  /* Set by gemmac_generate_speculative: */
  int32_t n_steps;        /* forward steps of the model after the prompt */
  int32_t n_drafted;      /* drafted tokens verified */
  int32_t n_accepted;     /* of them, accepted */
  gemmac_token end_token; /* the end-of-generation token sampled, or -1 */
} gemmac_speculative;

/* draft_max 3, gemmac_draft_ngram, not adaptive. */
GEMMAC_API gemmac_speculative gemmac_speculative_defaults(void);

/* Receives each generated token; returns nonzero to stop. */
typedef int (*gemmac_token_fn)(gemmac_token token, void *user);

/* Evaluates n_prompt tokens (none: continue from the session's last
 * token's logits) and generates up to max_tokens tokens (< 0: until an
 * end-of-generation token or a full context) with drafting: each step
 * evaluates the token just sampled and a draft of what follows it in one
 * batch, samples each position in order with params (the same random draws
 * as without drafting) and keeps the draft while it equals the samples.
 * The tokens passed to on_token and the session's final state are those of
 * plain decoding (sample, evaluate, repeat; an end token and a token after
 * which on_token stops are not evaluated): speculation changes only how
 * many steps it takes. Returns the number of tokens generated, or -1. */
GEMMAC_API int32_t gemmac_generate_speculative(gemmac_session *session,
                                               const gemmac_token *prompt, int32_t n_prompt,
                                               int32_t max_tokens,
                                               const gemmac_sampler_params *params,
                                               gemmac_speculative *spec,
                                               gemmac_token_fn on_token, void *user);

/* The verify half of a speculative step, for callers that evaluate steps
 * themselves (a server batching several sessions with gemmac_decode): the
 * session's last n_rows evaluated tokens were [t, d_1 .. d_k] (k = n_rows - 1:
 * the token just sampled and a draft) and rows holds their logits, row after
 * row. Samples row j with params and the history cut after d_j (one random
 * draw per row, as plain decoding), passes each sample to on_sample (which
 * may stop: that sample is then not kept), and keeps the draft while it
 * equals the samples. The session is then truncated after the kept tokens
 * and *next is the first sample not drafted (to evaluate next), or -1 when
 * on_sample stopped. Returns the number of draft tokens accepted (0 .. k),
 * or -1 on error. */
GEMMAC_API int32_t gemmac_speculative_accept(gemmac_session *session, int32_t n_rows,
                                             const float *rows,
                                             const gemmac_sampler_params *params,
                                             gemmac_token_fn on_sample, void *user,
                                             gemmac_token *next);

/* Chat. Strings these functions return are malloc'd: free them with
 * gemmac_free. NULL on error (gemmac_last_error says why). */
GEMMAC_API void gemmac_free(void *p);

/* Renders the model's chat template (tokenizer.chat_template) over OpenAI
 * messages, as Hugging Face's apply_chat_template does. messages_json: a
 * JSON array of {"role", "content", ...} (tool_calls, reasoning_content and
 * tool turns as OpenAI writes them). options_json (may be NULL): a JSON
 * object; "add_generation_prompt" (default true), "tools" (OpenAI tool
 * definitions), "chat_template_kwargs" (an object) and any other key become
 * template variables, e.g. {"enable_thinking": true}. The result starts with
 * the template's <bos>: tokenize it with add_bos = 0. */
GEMMAC_API char *gemmac_chat_apply_template(const gemmac_model *model, const char *messages_json,
                                 const char *options_json);

/* Parses a Gemma 4 answer (the generated text, control tokens included) into
 * an OpenAI assistant message: {"role":"assistant","content":...,
 * "reasoning_content":... (if it thought),"tool_calls":[...] (if it called
 * tools)}. Malformed markup stays plain content; never fails on any text. */
GEMMAC_API char *gemmac_chat_parse_output(const char *text, size_t len);

/* The same, streamed: feed each generated piece; each call returns a JSON
 * array of OpenAI deltas now certain ({"content":...},
 * {"reasoning_content":...}, {"tool_calls":[{"index",...}]}); a marker split
 * across pieces is held back until it is whole. finish flushes the rest.
 * Tool-call ids are id_prefix (NULL: "call_") + their index. */
typedef struct gemmac_chat_parser gemmac_chat_parser;
GEMMAC_API gemmac_chat_parser *gemmac_chat_parser_new(const char *id_prefix);
GEMMAC_API char *gemmac_chat_parser_feed(gemmac_chat_parser *parser, const char *piece, size_t len);
GEMMAC_API char *gemmac_chat_parser_finish(gemmac_chat_parser *parser);
GEMMAC_API void gemmac_chat_parser_free(gemmac_chat_parser *parser);

/* ---- Session state, cancellation, outputs ------------------------------ */

/* Saving and restoring a session, as llama.cpp's state API does. A state
 * holds everything the next step depends on: the position, the tokens seen
 * (the penalties read them), the sampler's random state and whether it was
 * seeded (and with what), the last token's logits (gemmac_session_logits)
 * and the session's whole KV cache buffer (gemmac_session_kv_bytes bytes,
 * whatever the position: its layout is the compiled model's). Loaded into a
 * fresh session of the same compiled model (same weight file) and the same
 * n_ctx, the next eval gives bit-identical logits and sampling continues as
 * it would have in the saved session. Any other model, n_ctx, version or a
 * damaged, truncated or foreign state is refused with "state file PATH:
 * ... at offset N" (or "state buffer: ..."), and the session is left as it
 * was. GPU programs download and upload their KV cache (a failed upload
 * resets the session, and the error says so).
 *
 *   size_t n = gemmac_session_state_size(s);
 *   void *buf = malloc(n);
 *   if (gemmac_session_state_save(s, buf, n) == 0) fail(gemmac_last_error());
 *   gemmac_session *t = gemmac_session_new(model, gemmac_session_context(s));
 *   if (gemmac_session_state_load(t, buf, n) != 0) fail(gemmac_last_error());
 */
/* Bytes gemmac_session_state_save writes now (it grows with the position). */
GEMMAC_API size_t gemmac_session_state_size(const gemmac_session *session);
/* Writes the state into dst; the bytes written, or 0 on error (cap too
 * small: see gemmac_session_state_size). */
GEMMAC_API size_t gemmac_session_state_save(const gemmac_session *session,
                                            void *dst, size_t cap);
/* Restores a state of len bytes; 0, or -1 (session unchanged) on error. */
GEMMAC_API int gemmac_session_state_load(gemmac_session *session,
                                         const void *src, size_t len);
/* The same through a file. Saving writes a new file beside path and renames
 * it over path once complete (a failed save leaves path as it was); it holds
 * a copy of the state in memory while it writes, as loading does while it
 * validates. 0, or -1 on error.
 *
 *   if (gemmac_session_state_save_file(s, "chat.state") != 0) ...
 *   ... later, in another process with the same program:
 *   gemmac_session *s = gemmac_session_new(model, n_ctx);
 *   if (gemmac_session_state_load_file(s, "chat.state") != 0)
 *     fprintf(stderr, "%s\n", gemmac_last_error());
 *   gemmac_token t = gemmac_sample(s, gemmac_session_logits(s), &params);
 */
GEMMAC_API int gemmac_session_state_save_file(const gemmac_session *session,
                                              const char *path);
GEMMAC_API int gemmac_session_state_load_file(gemmac_session *session,
                                              const char *path);

/* Asks the session's eval (and so gemmac_generate, gemmac_session_eval_
 * outputs) to stop; safe from any thread while the session runs on another.
 * The session checks before each chunk of the model's batch (so between
 * generated tokens too): the call that sees the request returns -1 with
 * gemmac_last_error() "cancelled" and clears it. Tokens of the chunks before
 * the check stay evaluated (gemmac_session_position says how far it got);
 * the session stays usable. A request made while no call runs cancels the
 * next call that evaluates tokens, before it evaluates any (so a cancel is
 * never lost to a race with the call's start); gemmac_session_reset drops a
 * pending request. After a call was cancelled part-way,
 * gemmac_session_logits is NULL until the next eval completes.
 *
 *   // another thread, e.g. on a user's "stop":
 *   gemmac_session_cancel(s);
 *   // the generating thread:
 *   if (gemmac_generate(s, prompt, 512, &params, on_piece, NULL) < 0 &&
 *       strcmp(gemmac_last_error(), "cancelled") == 0) ...
 */
GEMMAC_API void gemmac_session_cancel(gemmac_session *session);

/* Feeds n tokens like gemmac_session_eval and returns the outputs of the
 * last n_out of them (0 <= n_out <= n): logits (may be NULL) gets n_out x
 * vocab floats, the rows of those tokens in order; hidden (may be NULL) gets
 * n_out x hidden (gemmac_model_number(model, "hidden")) floats, the model's
 * final hidden state of each (after the final norm, the input of the output
 * projection: embeddings). hidden is refused (-1) by GPU programs and by
 * programs whose code writes none (gemmac_last_error says which). 0, or -1
 * on error.
 *
 *   float *emb = malloc(sizeof(float) * n_out * hidden);
 *   if (gemmac_session_eval_outputs(s, toks, n, n_out, NULL, emb) != 0) ...
 */
GEMMAC_API int gemmac_session_eval_outputs(gemmac_session *session,
                                           const gemmac_token *tokens, int32_t n,
                                           int32_t n_out, float *logits,
                                           float *hidden);

/* The logits of the last token the session evaluated (vocab floats, owned by
 * the session, valid until its next eval, load or reset), or NULL before
 * any eval, after a reset or a cancelled eval. Every eval computes them, even
 * when its logits argument is NULL; a loaded state brings them along, so a
 * caller can sample after a load without evaluating again.
 *
 *   gemmac_session_eval(s, prompt, n, NULL, 0);
 *   gemmac_token t = gemmac_sample(s, gemmac_session_logits(s), &params);
 */
GEMMAC_API const float *gemmac_session_logits(const gemmac_session *session);

/* Continuous batching, after llama.h's llama_batch and llama_decode: a pool
 * holds the KV caches of n_seq sequences (sessions) of n_ctx tokens each, and
 * gemmac_decode evaluates rows of any of them in shared forward steps, so
 * that one pass over the weights serves every sequence. A row's logits are
 * the same bits as if its sequence were evaluated alone.
 *
 *   gemmac_pool *pool = gemmac_pool_new(model, 8, 4096);
 *   gemmac_batch b = gemmac_batch_init(512);
 *   for (int i = 0; i < 8; ++i)   // one token of each generating sequence
 *     gemmac_batch_add(&b, gemmac_pool_session(pool, i), next[i], -1, 1);
 *   if (gemmac_decode(pool, &b) != 0) ...   // gemmac_last_error()
 *   for (int i = 0; i < 8; ++i)
 *     next[i] = gemmac_sample(gemmac_pool_session(pool, i),
 *                             gemmac_get_logits_ith(pool, i), &params);
 *   gemmac_batch_clear(&b);
 *
 * A pool's sessions are owned by the pool (gemmac_session_free ignores them)
 * and accept every session call (eval, sample, state, reset, cancel). A pool
 * is used by one thread at a time. GPU programs take the same shared steps
 * (one device session with a KV slot per sequence). */
GEMMAC_API gemmac_pool *gemmac_pool_new(gemmac_model *model, int32_t n_seq, int32_t n_ctx);
GEMMAC_API void gemmac_pool_free(gemmac_pool *pool);
/* Sequence seq (0 <= seq < n_seq) of the pool. */
GEMMAC_API gemmac_session *gemmac_pool_session(gemmac_pool *pool, int32_t seq);
GEMMAC_API int32_t gemmac_pool_size(const gemmac_pool *pool);
/* Bytes of KV cache the pool allocated for all its sequences. */
GEMMAC_API uint64_t gemmac_pool_kv_bytes(const gemmac_pool *pool);

typedef struct {
  int32_t n_tokens; /* rows in use */
  int32_t capacity; /* rows allocated */
  gemmac_token *token;
  gemmac_session **session; /* each row's sequence (llama_batch.seq_id) */
  int32_t *pos;   /* each row's position, or -1: the next of its sequence */
  int8_t *logits; /* nonzero: this row's logits are wanted */
} gemmac_batch;

GEMMAC_API gemmac_batch gemmac_batch_init(int32_t capacity);
GEMMAC_API void gemmac_batch_free(gemmac_batch batch);
GEMMAC_API void gemmac_batch_clear(gemmac_batch *batch);
/* Appends a row; -1 when the batch is full. */
GEMMAC_API int gemmac_batch_add(gemmac_batch *batch, gemmac_session *session,
                                gemmac_token token, int32_t pos, int logits);
/* Evaluates the batch. A sequence's rows must be in batch order at its next
 * positions (pos -1, or the session's position onwards), within its
 * context; rows of different sequences may interleave. The whole batch is
 * checked before anything is evaluated: on an error (-1, gemmac_last_error)
 * no sequence has moved. Each sequence's position and history advance by
 * its rows; gemmac_session_logits gives its last row's logits when that row
 * wanted them. A pending gemmac_session_cancel is not consumed. 0 or -1. */
GEMMAC_API int gemmac_decode(gemmac_pool *pool, const gemmac_batch *batch);
/* The logits (vocab floats) of row i of the last decoded batch (i < 0:
 * counted from the end), valid until the next gemmac_decode; NULL (and an
 * error) when that row wanted none. */
GEMMAC_API const float *gemmac_get_logits_ith(gemmac_pool *pool, int32_t i);

#ifdef __cplusplus
}
#endif

#endif /* GEMMAC_H */
