/* Engine lifecycle, llama/mtmd log capture, errors, tokens, checked decoding, and
 * freeing the memory of the core types. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml.h"
#include "mtmd-helper.h"
#include "sl_cpu.h"
#include "sl_engine.h"

/* ---------------------------------------------------------------- logging */

/* llama.cpp logs from any thread; keep the last error line so exceptions can
 * say *why* (e.g. "unknown projector type"). A spin lock is enough here. */
static atomic_flag g_log_lock = ATOMIC_FLAG_INIT;
static char g_log_last[768];
static char g_log_line[768];
static size_t g_log_line_len;
static int g_log_echo = -1;

static void sl_log_cb(enum ggml_log_level level, const char * text, void * ud) {
    (void) ud;
    if (g_log_echo < 0) {
        const char * env = getenv("STAGELENS_LLAMA_LOG");
        g_log_echo = env && *env && strcmp(env, "0") != 0;
    }
    if (g_log_echo) {
        fputs(text, stderr);
    }
    if (level != GGML_LOG_LEVEL_ERROR && level != GGML_LOG_LEVEL_CONT) {
        return;
    }
    while (atomic_flag_test_and_set_explicit(&g_log_lock, memory_order_acquire)) {
    }
    if (level == GGML_LOG_LEVEL_ERROR) {
        g_log_line_len = 0;
    }
    size_t n = strlen(text);
    if (g_log_line_len + n >= sizeof g_log_line) {
        n = sizeof g_log_line - 1 - g_log_line_len;
    }
    memcpy(g_log_line + g_log_line_len, text, n);
    g_log_line_len += n;
    g_log_line[g_log_line_len] = '\0';
    /* strip the trailing newline for use inside one-line messages */
    memcpy(g_log_last, g_log_line, g_log_line_len + 1);
    for (size_t i = strlen(g_log_last); i > 0 && (g_log_last[i - 1] == '\n' || g_log_last[i - 1] == ' '); i--) {
        g_log_last[i - 1] = '\0';
    }
    atomic_flag_clear_explicit(&g_log_lock, memory_order_release);
}

void sl_log_install(void) {
    llama_log_set(sl_log_cb, NULL);
    mtmd_helper_log_set(sl_log_cb, NULL);
}

const char * sl_log_last_error(void) { return g_log_last; }

void sl_log_clear(void) {
    while (atomic_flag_test_and_set_explicit(&g_log_lock, memory_order_acquire)) {
    }
    g_log_last[0] = '\0';
    g_log_line_len = 0;
    atomic_flag_clear_explicit(&g_log_lock, memory_order_release);
}

int sl_set_error(sl_engine * eng, int status, const char * fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(eng->err, sizeof eng->err, fmt, ap);
    va_end(ap);
    const char * last = sl_log_last_error();
    if (last[0] && n >= 0 && (size_t) n < sizeof eng->err - 8) {
        snprintf(eng->err + n, sizeof eng->err - (size_t) n, " (llama.cpp: %s)", last);
    }
    eng->status = status;
    return status;
}

char * sl_strdup(const char * s) {
    size_t n = strlen(s) + 1;
    char * d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

double sl_now(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/* -------------------------------------------------------------- lifecycle */

static bool sl_abort_cb(void * data) {
    sl_engine * eng = data;
    return eng->cancel != NULL && atomic_load(eng->cancel) != 0;
}

int sl_engine_init(sl_engine * eng, const sl_engine_params * p) {
    memset(eng, 0, sizeof *eng);
    eng->judge.choice_a = eng->judge.choice_b = -1;
    sl_log_clear();
    /* only what would corrupt memory or crash llama.cpp; ranges are the settings' job */
    if (p->n_seq_max < 2 || p->n_seq_max > 256) {
        return sl_set_error(eng, SL_ERR_ARG, "n_seq_max must be in 2..256, got %d", p->n_seq_max);
    }
    if (p->n_ctx < 64 || p->n_batch < 16) { /* smaller ones make llama.cpp abort the process */
        return sl_set_error(eng, SL_ERR_ARG, "n_ctx must be >= 64 and n_batch >= 16, got %d and %d", p->n_ctx,
                            p->n_batch);
    }
    if (p->n_threads < 1) return sl_set_error(eng, SL_ERR_ARG, "n_threads must be positive, got %d", p->n_threads);
    if (p->flash_attn < LLAMA_FLASH_ATTN_TYPE_AUTO || p->flash_attn > LLAMA_FLASH_ATTN_TYPE_ENABLED) {
        return sl_set_error(eng, SL_ERR_ARG, "flash_attn must be -1 (auto), 0 (off) or 1 (on), got %d", p->flash_attn);
    }
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = p->n_gpu_layers;
    eng->model = llama_model_load_from_file(p->model_path, mp);
    if (!eng->model) {
        return sl_set_error(eng, SL_ERR_LOAD, "could not load the text model %s", p->model_path);
    }
    eng->vocab = llama_model_get_vocab(eng->model);
    eng->n_vocab = llama_vocab_n_tokens(eng->vocab);
    eng->n_swa = llama_model_n_swa(eng->model);

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t) p->n_ctx;
    cp.n_batch = (uint32_t) p->n_batch;
    cp.n_ubatch = (uint32_t) p->n_batch; /* non-causal projectors need a whole image per ubatch */
    cp.n_seq_max = (uint32_t) p->n_seq_max;
    cp.kv_unified = true;                 /* forked prefixes share cells instead of copying */
    cp.flash_attn_type = (enum llama_flash_attn_type) p->flash_attn;
    cp.n_threads = p->n_threads;
    cp.n_threads_batch = p->n_threads;
    cp.abort_callback = sl_abort_cb;
    cp.abort_callback_data = eng;
    eng->ctx = llama_init_from_model(eng->model, cp);
    if (!eng->ctx) {
        int st = sl_set_error(eng, SL_ERR_LOAD, "could not create a context of %d tokens for %s",
                              p->n_ctx, p->model_path);
        sl_engine_free(eng);
        eng->status = st;
        return st;
    }
    eng->n_ctx = (int32_t) llama_n_ctx(eng->ctx);
    eng->n_batch = (int32_t) llama_n_batch(eng->ctx);
    eng->n_seq_max = (int32_t) llama_n_seq_max(eng->ctx);

    if (p->mmproj_path) {
        struct mtmd_context_params mcp = mtmd_context_params_default();
        mcp.use_gpu = p->n_gpu_layers != 0;
        mcp.print_timings = false;
        mcp.warmup = false;
        mcp.n_threads = p->n_threads;
        mcp.flash_attn_type = (enum llama_flash_attn_type) p->flash_attn;
        eng->mctx = mtmd_init_from_file(p->mmproj_path, eng->model, mcp);
        if (!eng->mctx) {
            char msg[sizeof eng->err];
            sl_set_error(eng, SL_ERR_LOAD,
                         "could not load the vision projector %s for this text model", p->mmproj_path);
            memcpy(msg, eng->err, sizeof msg);
            sl_engine_free(eng);
            memcpy(eng->err, msg, sizeof msg);
            eng->status = SL_ERR_LOAD;
            return SL_ERR_LOAD;
        }
        if (!mtmd_support_vision(eng->mctx)) {
            sl_engine_free(eng);
            return sl_set_error(eng, SL_ERR_NO_VISION,
                                "%s has no vision encoder (audio-only projector?)", p->mmproj_path);
        }
    }
    return SL_OK;
}

void sl_unit_free(sl_unit * u) {
    if (u->chunk) mtmd_input_chunk_free(u->chunk);
    free(u->image_id);
    u->chunk = NULL;
    u->image_id = NULL;
}

void sl_tokens_free(sl_tokens * t) {
    free(t->toks);
    t->toks = NULL;
    t->n = 0;
}

void sl_texts_free(sl_text * texts, int32_t n) {
    for (int32_t i = 0; texts && i < n; i++) free(texts[i].text);
    free(texts);
}

void sl_stage_spec_free(sl_stage_spec * st) {
    sl_texts_free(st->aliases, st->n_aliases);
    sl_texts_free(st->stops, st->n_stops);
    free(st->name);
    free(st->open_text);
    free(st->close_text);
    sl_tokens_free(&st->open);
    sl_tokens_free(&st->close);
    sl_tokens_free(&st->judge_head);
    memset(st, 0, sizeof *st);
}

void sl_judge_spec_free(sl_judge_spec * j) {
    sl_tokens_free(&j->mid);
    sl_tokens_free(&j->tail);
    sl_tokens_free(&j->answer_head);
    j->choice_a = j->choice_b = -1;
}

void sl_trunk_release(sl_trunk * t) {
    for (int32_t i = 0; i < t->n_units; i++) sl_unit_free(&t->units[i]);
    for (int32_t i = 0; i < t->n_segs; i++) free(t->segs[i].key);
    free(t->units);
    free(t->segs);
    memset(t, 0, sizeof *t);
}

void sl_engine_free(sl_engine * eng) {
    sl_trunk_release(&eng->trunk);
    for (int32_t s = 0; s < SL_MAX_STAGES; s++) sl_stage_spec_free(&eng->stages[s]);
    eng->n_stages = 0;
    sl_judge_spec_free(&eng->judge);
    if (eng->mctx) mtmd_free(eng->mctx);
    if (eng->ctx) llama_free(eng->ctx);
    if (eng->model) llama_model_free(eng->model);
    eng->mctx = NULL;
    eng->ctx = NULL;
    eng->model = NULL;
}

/* ------------------------------------------------------------------ tokens */

int sl_tokenize(sl_engine * eng, const char * text, size_t len, bool add_special, bool parse_special,
                llama_token ** out, int32_t * n_out) {
    if (len > INT32_MAX / 2) {
        return sl_set_error(eng, SL_ERR_ARG, "text too long to tokenize");
    }
    int32_t cap = (int32_t) len + 8;
    llama_token * buf = malloc(sizeof *buf * (size_t) cap);
    if (!buf) return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    int32_t n = llama_tokenize(eng->vocab, text, (int32_t) len, buf, cap, add_special, parse_special);
    if (n < 0) {
        cap = -n;
        llama_token * bigger = realloc(buf, sizeof *buf * (size_t) cap);
        if (!bigger) {
            free(buf);
            return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
        }
        buf = bigger;
        n = llama_tokenize(eng->vocab, text, (int32_t) len, buf, cap, add_special, parse_special);
    }
    if (n < 0) {
        free(buf);
        return sl_set_error(eng, SL_ERR_ARG, "tokenization failed");
    }
    *out = buf;
    *n_out = n;
    return SL_OK;
}

int sl_token_piece(sl_engine * eng, llama_token tok, char ** buf, int32_t * cap, bool special) {
    int32_t n = llama_token_to_piece(eng->vocab, tok, *buf, *cap, 0, special);
    if (n < 0) {
        /* the piece is longer than the buffer: -n is its size */
        char * bigger = realloc(*buf, (size_t) -n);
        if (!bigger) {
            sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
            return -1;
        }
        *buf = bigger;
        *cap = -n;
        n = llama_token_to_piece(eng->vocab, tok, *buf, *cap, 0, special);
    }
    if (n < 0) {
        sl_set_error(eng, SL_ERR_DECODE, "token %d has no text", tok);
        return -1;
    }
    return n;
}

int sl_batch_add(struct llama_batch * b, llama_token tok, llama_pos pos, llama_seq_id seq, bool logits) {
    int32_t i = b->n_tokens++;
    b->token[i] = tok;
    b->pos[i] = pos;
    b->n_seq_id[i] = 1;
    b->seq_id[i][0] = seq;
    b->logits[i] = logits;
    return i;
}

bool sl_fault_fires(int32_t * countdown) {
    return *countdown > 0 && --*countdown == 0;
}

int sl_decode_checked(sl_engine * eng, struct llama_batch batch, const char * what) {
    int32_t r = llama_decode(eng->ctx, batch);
    sl_clear_upper_vector_state(); /* for the per-token work that follows (sl_cpu.h) */
    if (r == 0 && sl_fault_fires(&eng->fault_decode_in)) r = -1; /* after the work: the worst case for the cache */
    if (r == 0) return SL_OK;
    if (r == 2 || (eng->cancel && atomic_load(eng->cancel))) {
        eng->status = SL_CANCELLED;
        return SL_CANCELLED;
    }
    if (r == 1) {
        return sl_set_error(eng, SL_ERR_KV,
                            "no KV-cache slot for %d tokens while %s (context of %d tokens is full)",
                            batch.n_tokens, what, eng->n_ctx);
    }
    return sl_set_error(eng, SL_ERR_DECODE, "llama_decode failed with code %d while %s", r, what);
}

void sl_drop_seqs(sl_engine * eng, int32_t first_seq) {
    llama_memory_t mem = llama_get_memory(eng->ctx);
    for (int32_t s = first_seq; s < eng->n_seq_max; s++) {
        llama_memory_seq_rm(mem, s, -1, -1);
    }
}

