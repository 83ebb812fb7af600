/* StageLens native core: the data every file shares. Types only; each .c file
 * declares its functions in its own header, and headers include only the
 * layers below them:
 *
 *   sl_engine   lifecycle, errors, llama.cpp logs, tokens, checked decode
 *   sl_trunk    the units sequence 0 holds (the KV mirror): push, cut, evaluate
 *   sl_conv     the conversation as keyed segments over the trunk
 *   sl_tags     a candidate's text and its stage-tag detection
 *   sl_logits   the per-token work on logits: top-k once, sampling on it, log-sum-exp
 *   sl_tokvec   a growable token list (prompts assembled piece by piece)
 *   sl_judge    the pairwise judge knockout
 *   sl_params   what a search call needs first: valid sequences, enums, room in the context
 *   sl_search   stage-level beam search (stage specs are set once, at load)
 *   sl_fork     decode branches off the trunk (parity checks)
 *   sl_ceiling  raw decode rates on the same context (the bench's bound)
 *
 * Pure C11, no Python: py_*.c and module.c are the binding.
 *
 * KV-cache layout: sequence 0 is the "trunk" (the conversation, then the winning
 * stages so far). Each stage forks the trunk into candidate sequences 1..N,
 * decodes them together, copies the winner's cells back into the trunk and
 * drops the rest. The last token(s) of the trunk are kept *pending* (not yet
 * decoded) so that every candidate gets its first logits from decoding them in
 * its own sequence.
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
    SL_ERR_NONFINITE,  /* the model computed NaN or infinity: damaged weights */
};

enum sl_scorer { SL_SCORER_LOGPROB = 0, SL_SCORER_JUDGE = 1, SL_SCORER_EXTERNAL = 2 };
enum sl_mode { SL_MODE_BATCHED = 0, SL_MODE_REFERENCE = 1 };

#define SL_MAX_STAGES 4
#define SL_MAX_PENDING 64   /* trunk tokens still undecoded when a stage starts */

typedef struct {
    llama_token * toks;
    int32_t n;
} sl_tokens;                /* an owned token array */

typedef struct {
    char * text;
    size_t len;
} sl_text;                  /* owned bytes (a NUL is text like any other) */

#define SL_MAX_MARKS 64     /* aliases or stops of one stage */

/* One unit of the trunk: a text token, or a whole image chunk. */
typedef struct {
    llama_token token;          /* valid when chunk == NULL */
    mtmd_input_chunk * chunk;   /* owned copy for image units, else NULL */
    char * image_id;            /* owned; identifies the image pixels */
    int32_t n_tokens;           /* KV cells it takes */
    int32_t n_pos;              /* positions it advances (differs for M-RoPE) */
    bool image_start;           /* the first chunk (slice) of an image */
    llama_pos pos;              /* first position, valid once in the KV */
} sl_unit;

/* One turn of the conversation: units[first .. first + n_units) of the trunk. */
typedef struct {
    uint8_t * key;              /* owned; an empty key never matches */
    size_t key_len;
    int32_t first, n_units;
} sl_segment;

typedef struct {
    sl_unit * units;
    int32_t n_units, cap;
    int32_t n_kv;               /* units[0..n_kv) are in the KV cache, the rest pending */
    llama_pos kv_pos;           /* next position after the cached units */
    int32_t kv_cells;           /* cells used by the cached units */
    sl_segment * segs;          /* tile units[0..n_units) outside a search */
    int32_t n_segs, cap_segs;
} sl_trunk;

typedef struct {
    char * name;
    char * open_text;  size_t open_len;    /* detected in the model's own text */
    char * close_text; size_t close_len;
    sl_tokens open;                         /* written by us when forcing */
    sl_tokens close;                        /* written by us when the model did not */
    sl_tokens judge_head;                   /* judge prompt before candidate A */
    sl_text * aliases;  int32_t n_aliases;  /* other spellings of the opening (e.g. "**Summary:**"): swallowed
                                             * at the start when forced, taken as the opening when not */
    sl_text * stops;    int32_t n_stops;    /* text that ends the stage early: another stage's tag or heading,
                                             * this stage's opening written again */
} sl_stage_spec;

/* judge prompt: prefix + stage head + A + mid + B + tail, then compare A vs B */
typedef struct {
    sl_tokens mid, tail;
    llama_token choice_a, choice_b;         /* -1: the vocabulary cannot tell them apart */
    sl_tokens answer_head;                  /* best-of-N: the prompt before whole answer A */
} sl_judge_spec;

typedef struct {
    int32_t beam;
    int32_t max_stage_tokens;
    float temperature, top_p;
    int32_t top_k;
    uint32_t seed;
    int scorer;                 /* enum sl_scorer */
    int mode;                   /* enum sl_mode */
    bool force_stages;
    int32_t flush_ms;           /* coalescing interval for streamed text */
    int32_t retrace;            /* at most this many retraces per answer (sl_retrace.h); 0: none */
    float retrace_margin;       /* a stage is poor when its best falls more than this below the stage before */
    int32_t best_of;            /* > 1: best-of-N, `best_of` whole answers in parallel (sl_bestof.h); beam unused */
} sl_search_params;

#define SL_MAX_STEP_WIDTH 64 /* candidate steps wider than this are counted at this width */

typedef struct {
    int64_t image_encodes;      /* images encoded (a tiled image counts once) */
    int64_t image_chunks;       /* image chunks (slices, tiles, overviews) encoded */
    int64_t prefill_tokens, prompt_tokens, decode_tokens, judge_calls, judge_tokens;
    double prefill_s;           /* wall time evaluating the trunk (prompt, images, tags), images included */
    double encode_s;            /* of it, evaluating image chunks */
    double judge_s;             /* wall time in the judge's knockouts */
    double first_prefill_s;     /* of prefill_s, what came before the first stage's first decode */
    int64_t steps_by_width[SL_MAX_STEP_WIDTH + 1];  /* candidate decodes by sequences in the batch */
    double cells_by_width[SL_MAX_STEP_WIDTH + 1];   /* the KV cells those decodes attended to, summed */
    int64_t peak_cells;         /* the most KV cells held at once by candidate steps and a stage's judging */
} sl_stats;

typedef struct {
    struct llama_model * model;
    struct llama_context * ctx;
    mtmd_context * mctx;
    const struct llama_vocab * vocab;
    int32_t n_ctx, n_batch, n_seq_max, n_vocab, n_swa;
    sl_trunk trunk;
    sl_stage_spec stages[SL_MAX_STAGES];    /* set once, at load (sl_search_configure) */
    int32_t n_stages;
    sl_judge_spec judge;
    atomic_int * cancel;        /* set during a call; read by every step and by decode's abort hook */
    int32_t fault_decode_in;    /* tests only (Engine._inject_fault): the n-th next llama_decode, */
    int32_t fault_image_in;     /* image encode or partial KV removal reports failure (after its */
    int32_t fault_seq_rm_in;    /* work: the worst case for the cache); 0 = off */
    int status;
    char err[1024];
} sl_engine;

typedef struct {
    const char * model_path;
    const char * mmproj_path;   /* may be NULL: text only (tests, parity checks) */
    int32_t n_gpu_layers, n_ctx, n_batch, n_threads, n_seq_max;
    int32_t flash_attn;         /* enum llama_flash_attn_type: -1 auto, 0 off, 1 on */
} sl_engine_params;

#endif
