/* StageLens native core: stage-level beam search over libllama + libmtmd.
 *
 * Pure C11, no Python. module.c is the only file that knows about Python; it
 * fills the hooks below and runs sl_search() with the GIL released.
 *
 * KV-cache layout: sequence 0 is the "trunk" (prompt + winning stages so far).
 * Each stage forks the trunk into candidate sequences 1..N, decodes them
 * together, copies the winner's cells back into the trunk and drops the rest.
 * The last token(s) of the trunk are kept *pending* (not yet decoded) so that
 * every candidate gets its first logits from decoding them in its own sequence.
 */
#ifndef SL_CORE_H
#define SL_CORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "llama.h"
#include "mtmd.h"

enum sl_status {
    SL_OK = 0,
    SL_ERR_ARG,        /* bad argument from the caller */
    SL_ERR_LOAD,       /* model or projector failed to load */
    SL_ERR_NO_VISION,  /* projector has no vision encoder */
    SL_ERR_IMAGE,      /* projector rejected an image */
    SL_ERR_CONTEXT,    /* does not fit the context window */
    SL_ERR_KV,         /* no KV slot for a batch */
    SL_ERR_DECODE,     /* llama_decode / mtmd encode failure */
    SL_ERR_NOMEM,
    SL_ERR_CALLBACK,   /* a hook (Python) raised; the hook holds the exception */
    SL_CANCELLED,      /* not an error: the cancel flag was set */
};

/* One unit of the trunk: a text token, or a whole image chunk. */
typedef struct {
    llama_token token;          /* valid when chunk == NULL */
    mtmd_input_chunk * chunk;   /* owned copy for image units, else NULL */
    char * image_id;            /* owned; identifies the image pixels */
    int32_t n_tokens;           /* KV cells it takes */
    int32_t n_pos;              /* positions it advances (differs for M-RoPE) */
    llama_pos pos;              /* first position, valid once in the KV */
} sl_unit;

typedef struct {
    sl_unit * units;
    int32_t n_units, cap;
    int32_t n_kv;               /* units[0..n_kv) are in the KV cache, the rest pending */
    llama_pos kv_pos;           /* next position after the cached units */
    int32_t kv_cells;           /* cells used by the cached units */
} sl_trunk;

typedef struct {
    struct llama_model * model;
    struct llama_context * ctx;
    mtmd_context * mctx;
    const struct llama_vocab * vocab;
    int32_t n_ctx, n_batch, n_seq_max, n_vocab;
    sl_trunk trunk;
    atomic_int * cancel;        /* set during a call; read by every step and by decode's abort hook */
    int32_t fault_decode_in;    /* tests only (Engine._inject_fault): the n-th next llama_decode or */
    int32_t fault_image_in;     /* image encode reports failure after writing its cells; 0 = off */
    int status;
    char err[1024];
} sl_engine;

typedef struct {
    const char * model_path;
    const char * mmproj_path;   /* may be NULL: text only (tests, parity checks) */
    int32_t n_gpu_layers, n_ctx, n_batch, n_threads, n_seq_max;
} sl_engine_params;

/* ---- engine lifecycle, tokens, trunk (sl_engine.c) ---- */
int  sl_engine_init(sl_engine * eng, const sl_engine_params * params);
void sl_engine_free(sl_engine * eng);
int  sl_set_error(sl_engine * eng, int status, const char * fmt, ...);
void sl_log_install(void);
char * sl_strdup(const char * s);   /* strdup is POSIX, not C11 */
const char * sl_log_last_error(void);
void sl_log_clear(void);

int  sl_tokenize(sl_engine * eng, const char * text, size_t len, bool add_special,
                 bool parse_special, llama_token ** out, int32_t * n_out);
/* Bytes of a token's text into *buf, growing it (*cap) when needed; -1 (with the error set) on failure. */
int  sl_token_piece(sl_engine * eng, llama_token tok, char ** buf, int32_t * cap, bool special);

void sl_unit_free(sl_unit * unit);
int  sl_trunk_push(sl_trunk * trunk, const sl_unit * unit);   /* takes ownership of unit's buffers */
void sl_trunk_reset(sl_engine * eng);                          /* forget everything, clear the KV */
void sl_trunk_drop_kv(sl_engine * eng);                        /* clear the KV, keep the units as pending */
/* Make the trunk equal to `units` (copied): keep the longest cached common
 * prefix, drop the rest from the KV, evaluate all but the last unit. */
int  sl_trunk_sync(sl_engine * eng, const sl_unit * units, int32_t n_units,
                   int64_t * image_encodes, int64_t * prefill_tokens);
/* Evaluate pending units except the last `keep_pending` ones. */
int  sl_trunk_flush(sl_engine * eng, int32_t keep_pending, int64_t * image_encodes,
                    int64_t * prefill_tokens);
int  sl_decode_checked(sl_engine * eng, struct llama_batch batch, const char * what);
void sl_drop_seqs(sl_engine * eng, int32_t first_seq);

/* ---- search (sl_search.c) ---- */
enum sl_scorer { SL_SCORER_LOGPROB = 0, SL_SCORER_JUDGE = 1, SL_SCORER_EXTERNAL = 2 };
enum sl_mode { SL_MODE_BATCHED = 0, SL_MODE_REFERENCE = 1 };
#define SL_MAX_PENDING 64   /* trunk tokens still undecoded when a stage starts */

enum sl_close { SL_RUNNING = 0, SL_CLOSED_TAG, SL_CLOSED_BUDGET, SL_CLOSED_EOS, SL_CLOSED_CANCEL };

typedef struct {
    const char * name;
    llama_token * open_tokens; int32_t n_open;    /* written by us when forcing */
    llama_token * close_tokens; int32_t n_close;  /* written by us when the model did not */
    const char * open_text;                        /* detected in the model's own text */
    const char * close_text;
    llama_token * judge_head; int32_t n_judge_head; /* judge prompt before candidate A */
} sl_stage_spec;

typedef struct {
    int32_t beam;
    int32_t max_stage_tokens;
    float temperature, top_p;
    int32_t top_k;
    uint32_t seed;
    int scorer;
    int mode;
    bool force_stages;
    /* judge prompt: prefix + stage head + A + mid + B + tail, then compare A vs B */
    llama_token * judge_mid;  int32_t n_judge_mid;
    llama_token * judge_tail; int32_t n_judge_tail;
    llama_token judge_choice_a, judge_choice_b;
    int32_t flush_ms;           /* coalescing interval for streamed text */
} sl_search_params;

typedef struct {
    int32_t seq;
    llama_token * toks; int32_t n_toks, cap_toks;    /* sampled tokens (the model's own) */
    char * text; size_t text_len, text_cap;          /* their bytes */
    size_t content_begin, content_end;               /* stage content inside text */
    size_t flushed;                                  /* bytes already streamed */
    double sum_logprob;
    double score;
    int closed_by;
    bool saw_open, saw_close;
    double t0, wall_s;
    llama_pos pos;                                   /* next position in its sequence */
    int32_t logits_idx;                              /* row of its logits in the last batch */
    struct llama_sampler * sampler;
} sl_candidate;

typedef struct {
    sl_candidate * cands; int32_t n_cands;
    int32_t winner;
    bool forced_open, forced_close;
} sl_stage_result;

typedef struct {
    sl_stage_result stages[4];
    int32_t n_stages;          /* stages started (a cancelled call stops early) */
    bool cancelled;
    int64_t image_encodes, prefill_tokens, prompt_tokens, decode_tokens, judge_calls, judge_tokens;
    double wall_s;
} sl_result;

enum sl_event { SL_EV_STAGE_BEGIN = 0, SL_EV_TEXT = 1, SL_EV_STAGE_END = 2 };

typedef struct {
    /* Streamed, coalesced events; return non-zero to abort (the hook keeps the error). */
    int (*on_event)(void * ud, int kind, int stage, int cand, const char * bytes, size_t len);
    /* External scorer: fill scores[n]; return non-zero to abort. */
    int (*score)(void * ud, int stage, const sl_candidate * cands, int32_t n, double * scores);
    void * ud;
} sl_hooks;

int  sl_search(sl_engine * eng, const sl_unit * prompt, int32_t n_prompt,
               const sl_stage_spec * stages, int32_t n_stages, const sl_search_params * sp,
               const sl_hooks * hooks, sl_result * out);
void sl_result_free(sl_result * res);
double sl_now(void);
int  sl_reprefill(sl_engine * eng, int32_t keep, sl_result * out); /* reference mode: drop the KV, evaluate the trunk again */

/* Decode `branches` continuing the trunk in parallel sequences (same path as
 * the search) and return each branch's final logits row (n_vocab floats). */
int  sl_fork_logits(sl_engine * eng, const sl_unit * prompt, int32_t n_prompt,
                    llama_token * const * branches, const int32_t * n_branch, int32_t n,
                    float * out_logits);

/* Candidate text bookkeeping (exposed for tests of tag detection). */
int    sl_candidate_append(sl_candidate * c, llama_token tok, const char * piece, int32_t n);
size_t sl_candidate_scan(sl_candidate * c, const sl_stage_spec * st, bool forced, size_t old_len);
void   sl_candidate_free(sl_candidate * c);

/* ---- judge (sl_judge.c) ---- */
/* Knockout over cands; sets score and returns the winner's index, or -1 on error. */
/* Batched mode (ref_keep < 0): comparisons fork the trunk's cells before
 * pre_pos and start with the `pending` tokens. Reference mode (ref_keep >= 0):
 * every comparison re-evaluates the trunk except its last ref_keep units. */
int32_t sl_judge_knockout(sl_engine * eng, const sl_search_params * sp, const sl_stage_spec * st,
                          sl_candidate * cands, int32_t n, const llama_token * pending,
                          int32_t n_pending, llama_pos pre_pos, int32_t ref_keep, sl_result * res);

/* ---- shared helpers ---- */
int sl_batch_add(struct llama_batch * b, llama_token tok, llama_pos pos, llama_seq_id seq, bool logits);
double sl_log_softmax_at(const float * logits, int32_t n_vocab, llama_token tok);

#endif
