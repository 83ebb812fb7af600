/* Raw llama_decode rates on the engine's own context, the bound `stagelens bench` reports beside
 * every row. */
#include "sl_ceiling.h"

#include "sl_engine.h"
#include "sl_trunk.h"

/* Valid ids that are not all the same token (a constant prompt could take a special path). */
static llama_token sl_ceiling_token(const sl_engine * eng, int32_t i) {
    return (llama_token) ((100 + (int64_t) i * 7919) % eng->n_vocab);
}

static int sl_ceiling_check(sl_engine * eng, int32_t prefix, int32_t steps, const int32_t * widths, int32_t n) {
    if (prefix < 1 || steps < 1) return sl_set_error(eng, SL_ERR_ARG, "prefix and steps must be positive");
    for (int32_t i = 0; i < n; i++) {
        int32_t w = widths[i];
        if (w < 1 || w > eng->n_seq_max || w > eng->n_batch) {
            return sl_set_error(eng, SL_ERR_ARG, "width %d: this context holds 1 to %d sequences per batch", w,
                                eng->n_seq_max < eng->n_batch ? eng->n_seq_max : eng->n_batch);
        }
        if ((int64_t) prefix + (int64_t) w * steps > eng->n_ctx) {
            return sl_set_error(eng, SL_ERR_CONTEXT, "a prefix of %d tokens and %d steps of %d sequences need %lld "
                                "cells but the context holds %d", prefix, steps, w,
                                (long long) prefix + (long long) w * steps, eng->n_ctx);
        }
    }
    return SL_OK;
}

static int sl_ceiling_prefill(sl_engine * eng, struct llama_batch * batch, int32_t prefix) {
    int st = SL_OK;
    for (int32_t done = 0; done < prefix && st == SL_OK;) {
        batch->n_tokens = 0;
        while (done < prefix && batch->n_tokens < eng->n_batch) {
            sl_batch_add(batch, sl_ceiling_token(eng, done), done, 0, done == prefix - 1);
            done++;
        }
        st = sl_decode_checked(eng, *batch, "measuring the prefill rate");
    }
    return st;
}

static int sl_ceiling_steps(sl_engine * eng, struct llama_batch * batch, int32_t prefix, int32_t steps, int32_t w,
                            double * step_s) {
    llama_memory_t mem = llama_get_memory(eng->ctx);
    for (int32_t s = 1; s < w; s++) llama_memory_seq_cp(mem, 0, s, -1, -1);
    int st = SL_OK;
    for (int32_t k = 0; k < steps && st == SL_OK; k++) {
        batch->n_tokens = 0;
        for (int32_t s = 0; s < w; s++) sl_batch_add(batch, sl_ceiling_token(eng, prefix + k), prefix + k, s, true);
        double t0 = sl_now();
        st = sl_decode_checked(eng, *batch, "measuring the decode rate");
        step_s[k] = sl_now() - t0;
    }
    sl_drop_seqs(eng, 1);
    llama_memory_seq_rm(mem, 0, prefix, -1);
    return st;
}

int sl_decode_ceiling(sl_engine * eng, int32_t prefix, int32_t steps, const int32_t * widths, int32_t n_widths,
                      double * prefill_s, double * step_s) {
    eng->status = SL_OK;
    eng->err[0] = '\0';
    sl_log_clear();
    int st = sl_ceiling_check(eng, prefix, steps, widths, n_widths);
    if (st != SL_OK) return st;
    sl_trunk_reset(eng);
    int32_t rows = eng->n_batch > eng->n_seq_max ? eng->n_batch : eng->n_seq_max;
    struct llama_batch batch = llama_batch_init(rows, 0, 1);
    double t0 = sl_now();
    st = sl_ceiling_prefill(eng, &batch, prefix);
    *prefill_s = sl_now() - t0;
    for (int32_t i = 0; i < n_widths && st == SL_OK; i++) {
        st = sl_ceiling_steps(eng, &batch, prefix, steps, widths[i], &step_s[(size_t) i * (size_t) steps]);
    }
    llama_batch_free(batch);
    sl_trunk_reset(eng);
    return st;
}
