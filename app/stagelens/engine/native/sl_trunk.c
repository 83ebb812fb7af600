/* The trunk (sequence 0): its units, which of them the KV holds, evaluating the rest. */
#include <stdlib.h>
#include <string.h>

#include "mtmd-helper.h"
#include "sl_cpu.h"
#include "sl_trunk.h"

int sl_trunk_push(sl_engine * eng, const sl_unit * u) {
    sl_trunk * t = &eng->trunk;
    if (t->n_units == t->cap) {
        int32_t cap = t->cap ? t->cap * 2 : 256;
        sl_unit * units = realloc(t->units, sizeof *units * (size_t) cap);
        if (!units) return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
        t->units = units;
        t->cap = cap;
    }
    t->units[t->n_units++] = *u;
    return SL_OK;
}

int sl_trunk_push_tokens(sl_engine * eng, const llama_token * toks, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        sl_unit u = {.token = toks[i], .n_tokens = 1, .n_pos = 1};
        if (sl_trunk_push(eng, &u) != SL_OK) return eng->status;
    }
    return SL_OK;
}

int64_t sl_trunk_cells(const sl_trunk * t) {
    int64_t cells = 0;
    for (int32_t i = 0; i < t->n_units; i++) cells += t->units[i].n_tokens;
    return cells;
}

void sl_trunk_drop_kv(sl_engine * eng) {
    llama_memory_clear(llama_get_memory(eng->ctx), true);
    eng->trunk.n_kv = 0;
    eng->trunk.kv_pos = 0;
    eng->trunk.kv_cells = 0;
}

void sl_trunk_reset(sl_engine * eng) {
    sl_trunk_release(&eng->trunk);
    llama_memory_clear(llama_get_memory(eng->ctx), true);
}

/* A sliding-window cache reuses the cells of positions the newest token no longer attends to:
 * going back to `pos` is only sound if it still holds the window a token at `pos` attends to,
 * positions pos - n_swa + 1 .. pos - 1 (the cells a sequence holds are one contiguous range). */
static bool sl_window_intact(sl_engine * eng, llama_pos pos) {
    if (eng->n_swa <= 0 || pos == 0) return true;
    llama_pos pos_min = llama_memory_seq_pos_min(llama_get_memory(eng->ctx), 0);
    llama_pos needed = pos - eng->n_swa + 1 > 0 ? pos - eng->n_swa + 1 : 0;
    return pos_min >= 0 && pos_min <= needed;
}

void sl_trunk_uncache_from(sl_engine * eng, int32_t first) {
    sl_trunk * t = &eng->trunk;
    if (first > t->n_kv) first = t->n_kv;
    llama_pos pos = first < t->n_kv ? t->units[first].pos : t->kv_pos;
    bool partial = first < t->n_kv;
    bool removed = llama_memory_seq_rm(llama_get_memory(eng->ctx), 0, pos, -1);
    if (partial && sl_fault_fires(&eng->fault_seq_rm_in)) removed = false;
    if (!removed || !sl_window_intact(eng, pos)) {
        sl_trunk_drop_kv(eng);
        return;
    }
    for (int32_t i = first; i < t->n_kv; i++) t->kv_cells -= t->units[i].n_tokens;
    t->n_kv = first;
    t->kv_pos = pos;
}

void sl_trunk_cut(sl_engine * eng, int32_t n) {
    sl_trunk * t = &eng->trunk;
    if (n >= t->n_units) return;
    if (n < t->n_kv) sl_trunk_uncache_from(eng, n);
    for (int32_t i = n; i < t->n_units; i++) sl_unit_free(&t->units[i]);
    t->n_units = n;
}

void sl_trunk_rewind(sl_engine * eng, int32_t n) {
    sl_trunk * t = &eng->trunk;
    sl_trunk_cut(eng, n);
    if (t->n_units > 0 && t->n_kv == t->n_units) sl_trunk_uncache_from(eng, t->n_units - 1);
}

/* Undo a failed evaluation: remove whatever it wrote after the cached units. */
static void sl_trunk_rollback(sl_engine * eng) {
    sl_trunk_uncache_from(eng, eng->trunk.n_kv);
}

static int sl_eval_image(sl_engine * eng, sl_unit * u, sl_stats * stats) {
    sl_trunk * t = &eng->trunk;
    if (!eng->mctx) {
        return sl_set_error(eng, SL_ERR_NO_VISION, "this model was loaded without a vision projector");
    }
    if (mtmd_decode_use_non_causal(eng->mctx, u->chunk) && u->n_tokens > eng->n_batch) {
        return sl_set_error(eng, SL_ERR_IMAGE,
                            "an image needs %d tokens in one batch but the batch size is %d; "
                            "lower the image size or raise the batch size", u->n_tokens, eng->n_batch);
    }
    llama_pos new_pos = t->kv_pos;
    double t0 = sl_now();
    sl_log_clear();
    int32_t r = mtmd_helper_eval_chunk_single(eng->mctx, eng->ctx, u->chunk, t->kv_pos, 0, eng->n_batch, false,
                                              &new_pos);
    sl_clear_upper_vector_state(); /* sl_cpu.h */
    if (r == 0 && sl_fault_fires(&eng->fault_image_in)) r = -1;
    if (r != 0) {
        sl_trunk_rollback(eng);
        if (eng->cancel && atomic_load(eng->cancel)) {
            eng->status = SL_CANCELLED;
            return SL_CANCELLED;
        }
        return sl_set_error(eng, SL_ERR_IMAGE, "the vision projector could not encode the image (code %d)", r);
    }
    stats->encode_s += sl_now() - t0;
    u->pos = t->kv_pos;
    t->kv_pos = new_pos;
    t->kv_cells += u->n_tokens;
    if (u->image_start) stats->image_encodes += 1;
    stats->image_chunks += 1;
    stats->prefill_tokens += u->n_tokens;
    return SL_OK;
}

int sl_trunk_flush(sl_engine * eng, int32_t keep_pending, sl_stats * stats) {
    sl_trunk * t = &eng->trunk;
    int32_t end = t->n_units - keep_pending;
    if (end <= t->n_kv) return SL_OK;
    int64_t needed = t->kv_cells;
    for (int32_t i = t->n_kv; i < t->n_units; i++) needed += t->units[i].n_tokens;
    if (needed > eng->n_ctx) {
        return sl_set_error(eng, SL_ERR_CONTEXT, "the conversation needs %lld tokens but the context holds %d",
                            (long long) needed, eng->n_ctx);
    }
    struct llama_batch batch = llama_batch_init(eng->n_batch, 0, 1);
    int st = SL_OK;
    double t0 = sl_now();
    while (t->n_kv < end && st == SL_OK) {
        sl_unit * u = &t->units[t->n_kv];
        if (u->chunk) {
            st = sl_eval_image(eng, u, stats);
            if (st == SL_OK) t->n_kv++;
            continue;
        }
        batch.n_tokens = 0;
        int32_t first = t->n_kv;
        while (t->n_kv + batch.n_tokens < end && batch.n_tokens < eng->n_batch &&
               !t->units[t->n_kv + batch.n_tokens].chunk) {
            sl_batch_add(&batch, t->units[t->n_kv + batch.n_tokens].token, t->kv_pos + batch.n_tokens, 0, false);
        }
        st = sl_decode_checked(eng, batch, "reading the prompt");
        if (st != SL_OK) {
            sl_trunk_rollback(eng);
            break;
        }
        for (int32_t i = 0; i < batch.n_tokens; i++) t->units[first + i].pos = t->kv_pos + i;
        t->kv_pos += batch.n_tokens;
        t->kv_cells += batch.n_tokens;
        t->n_kv += batch.n_tokens;
        stats->prefill_tokens += batch.n_tokens;
    }
    stats->prefill_s += sl_now() - t0;
    llama_batch_free(batch);
    return st;
}

int sl_trunk_reprefill(sl_engine * eng, int32_t keep, sl_stats * stats) {
    sl_trunk_drop_kv(eng);
    return sl_trunk_flush(eng, keep, stats);
}
