/* Verifier scorer: the verifier model reads its prefix once (sequence 0, cached across stages), the
 * steps every candidate shares once (sequence 1), then every candidate with the tail in its own
 * sequence, all in the same batches; the score of a candidate is read from the logits after its
 * last token: log p(good) - log p(bad), which is the logit difference (the softmax's normaliser
 * cancels). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sl_verifier.h"
#include "sl_tokvec.h"

static int sl_tokvec_add_text(sl_engine * eng, sl_tokvec * v, const sl_text * text) {
    llama_token * toks = NULL;
    int32_t n = 0;
    int st = sl_tokenize(eng, text->text ? text->text : "", text->len, false, false, &toks, &n);
    if (st != SL_OK) return st;
    st = sl_tokvec_add(v, toks, n);
    free(toks);
    return st == SL_OK ? SL_OK : sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
}

/* Decode prompts[p] in sequence seqs[p] from position pos, all together in batches of at most n_batch
 * tokens; when `scores` is not NULL, read each prompt's score right after the batch holding its last token. */
static int sl_verifier_decode(sl_engine * eng, const sl_verifier_format * fmt, sl_tokvec * prompts, int32_t n,
                              int32_t seq0, llama_pos pos, double * scores, int64_t * tokens) {
    struct llama_batch batch = llama_batch_init(eng->n_batch, 0, 1);
    int32_t * done = calloc((size_t) n, sizeof *done);
    int32_t * row = calloc((size_t) n, sizeof *row);
    int status = done && row ? SL_OK : sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    int32_t remaining = 0;
    for (int32_t p = 0; status == SL_OK && p < n; p++) {
        row[p] = -1;
        if (prompts[p].n > 0) remaining++;
    }
    while (status == SL_OK && remaining > 0) {
        batch.n_tokens = 0;
        for (int32_t p = 0; p < n && batch.n_tokens < eng->n_batch; p++) {
            while (done[p] < prompts[p].n && batch.n_tokens < eng->n_batch) {
                bool last = done[p] == prompts[p].n - 1;
                int32_t i = sl_batch_add(&batch, prompts[p].toks[done[p]], pos + done[p], seq0 + p, last && scores);
                if (last) row[p] = i;
                done[p]++;
            }
        }
        status = sl_decode_checked(eng, batch, "scoring candidates with the verifier");
        if (status == SL_OK) *tokens += batch.n_tokens;
        for (int32_t p = 0; p < n && status == SL_OK; p++) {
            if (row[p] < 0) continue;
            if (scores) {
                const float * logits = llama_get_logits_ith(eng->ctx, row[p]);
                if (!logits) {
                    status = sl_set_error(eng, SL_ERR_DECODE, "llama.cpp gave no logits for a verifier prompt");
                    break;
                }
                double good = (double) logits[fmt->good], bad = (double) logits[fmt->bad];
                if (!isfinite(good) || !isfinite(bad)) {
                    status = sl_set_error(eng, SL_ERR_NONFINITE,
                                          "the verifier computed an invalid number (NaN or infinity)");
                    break;
                }
                scores[p] = good - bad;
            }
            row[p] = -1;
            remaining--;
        }
    }
    free(done);
    free(row);
    llama_batch_free(batch);
    return status;
}

int sl_verifier_score(sl_engine * veng, const sl_verifier_format * fmt, const sl_text * steps, int32_t n_steps,
                      const sl_text * cands, int32_t n, double * scores, sl_verifier_stats * stats) {
    veng->status = SL_OK;
    veng->err[0] = '\0';
    sl_log_clear();
    if (n < 1) return SL_OK;
    if (n + 2 > veng->n_seq_max) {
        return sl_set_error(veng, SL_ERR_ARG, "%d candidates need %d verifier sequences but its context has %d", n,
                            n + 2, veng->n_seq_max);
    }
    if (fmt->tail.n < 1) return sl_set_error(veng, SL_ERR_ARG, "the verifier's prompt tail is empty");
    if (fmt->good < 0 || fmt->good >= veng->n_vocab || fmt->bad < 0 || fmt->bad >= veng->n_vocab ||
        fmt->good == fmt->bad) {
        return sl_set_error(veng, SL_ERR_ARG, "the verifier's score tokens %d and %d are not two tokens of its "
                            "vocabulary of %d", fmt->good, fmt->bad, veng->n_vocab);
    }
    if (veng->trunk.n_units < 1) return sl_set_error(veng, SL_ERR_ARG, "the verifier has no prompt to read");
    int status = sl_trunk_flush(veng, 0, &stats->prefix);
    if (status != SL_OK) return status;

    double t0 = sl_now();
    sl_tokvec shared = {0};
    sl_tokvec * prompts = calloc((size_t) n, sizeof *prompts);
    if (!prompts) return sl_set_error(veng, SL_ERR_NOMEM, "out of memory");
    for (int32_t s = 0; s < n_steps && status == SL_OK; s++) {
        status = sl_tokvec_add_text(veng, &shared, &steps[s]);
        if (status == SL_OK && sl_tokvec_add(&shared, fmt->between.toks, fmt->between.n) != SL_OK) {
            status = sl_set_error(veng, SL_ERR_NOMEM, "out of memory");
        }
    }
    int32_t longest = 0;
    for (int32_t i = 0; i < n && status == SL_OK; i++) {
        status = sl_tokvec_add_text(veng, &prompts[i], &cands[i]);
        if (status == SL_OK && sl_tokvec_add(&prompts[i], fmt->tail.toks, fmt->tail.n) != SL_OK) {
            status = sl_set_error(veng, SL_ERR_NOMEM, "out of memory");
        }
        if (prompts[i].n > longest) longest = prompts[i].n;
    }
    llama_pos pos = veng->trunk.kv_pos;
    int64_t cells = veng->trunk.kv_cells + shared.n + (int64_t) n * longest;
    if (status == SL_OK && cells > veng->n_ctx) {
        status = sl_set_error(veng, SL_ERR_CONTEXT,
                              "the verifier needs %lld tokens of context (prompt %d, shared steps %d, %d candidates "
                              "of up to %d) but its context holds %d",
                              (long long) cells, veng->trunk.kv_cells, shared.n, n, longest, veng->n_ctx);
    }
    llama_memory_t mem = llama_get_memory(veng->ctx);
    if (status == SL_OK) {
        llama_memory_seq_cp(mem, 0, 1, -1, -1);
        status = sl_verifier_decode(veng, fmt, &shared, 1, 1, pos, NULL, &stats->tokens);
    }
    if (status == SL_OK) {
        for (int32_t i = 0; i < n; i++) llama_memory_seq_cp(mem, 1, 2 + i, -1, -1);
        status = sl_verifier_decode(veng, fmt, prompts, n, 2, pos + shared.n, scores, &stats->tokens);
    }
    sl_drop_seqs(veng, 1);
    for (int32_t i = 0; i < n; i++) free(prompts[i].toks);
    free(prompts);
    free(shared.toks);
    if (status == SL_OK) {
        stats->calls++;
        stats->prompts += n;
    }
    stats->score_s += sl_now() - t0;
    return status;
}
