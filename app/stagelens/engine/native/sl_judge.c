/* Judge scorer: the same model compares two candidates in a knockout, as in
 * LLaVA-CoT, but decided by one forward pass: the margin is
 * log p(choice A) - log p(choice B) at the end of the judge prompt. All
 * comparisons of a round run together, each in its own sequence (after the
 * candidates' sequences) forked from
 * the cached image + question prefix, so the image is never encoded again. */
#include <stdlib.h>
#include <string.h>

#include "sl_judge.h"

typedef struct {
    llama_token * toks;
    int32_t n, cap;
} sl_tokvec;

static int sl_tokvec_add(sl_tokvec * v, const llama_token * toks, int32_t n) {
    if (v->n + n > v->cap) {
        int32_t cap = v->cap ? v->cap : 128;
        while (cap < v->n + n) cap *= 2;
        llama_token * t = realloc(v->toks, sizeof *t * (size_t) cap);
        if (!t) return SL_ERR_NOMEM;
        v->toks = t;
        v->cap = cap;
    }
    memcpy(v->toks + v->n, toks, sizeof *toks * (size_t) n);
    v->n += n;
    return SL_OK;
}

static int sl_judge_prompt(sl_engine * eng, const sl_stage_spec * st, const sl_candidate * a, const sl_candidate * b,
                           const llama_token * pending, int32_t n_pending, sl_tokvec * out) {
    const sl_candidate * pair[2] = {a, b};
    const sl_tokens * sep[2] = {&eng->judge.mid, &eng->judge.tail};
    out->n = 0;
    if (sl_tokvec_add(out, pending, n_pending) || sl_tokvec_add(out, st->judge_head.toks, st->judge_head.n)) {
        return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k < 2; k++) {
        /* the stage content as text, tokenized again: no tags, no stray bytes */
        const sl_candidate * c = pair[k];
        llama_token * toks = NULL;
        int32_t n = 0;
        size_t len = c->content_end > c->content_begin ? c->content_end - c->content_begin : 0;
        int st_tok = sl_tokenize(eng, c->text ? c->text + c->content_begin : "", len, false, false, &toks, &n);
        if (st_tok != SL_OK) return st_tok;
        int st_add = sl_tokvec_add(out, toks, n) || sl_tokvec_add(out, sep[k]->toks, sep[k]->n);
        free(toks);
        if (st_add) return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    }
    return SL_OK;
}

/* Decode each prompt in its own sequence (1 + i), all together in batches of
 * at most n_batch tokens, and read each margin right after the batch that
 * holds its last token. */
static int sl_judge_round(sl_engine * eng, const sl_search_params * sp, sl_tokvec * prompts, int32_t n_pairs,
                          llama_pos pre_pos, double * margins) {
    /* judge sequences come after the candidates', which still hold their cells */
    const int32_t seq0 = 1 + sp->beam;
    llama_memory_t mem = llama_get_memory(eng->ctx);
    for (int32_t p = 0; p < n_pairs; p++) {
        if (pre_pos + prompts[p].n >= eng->n_ctx) {
            return sl_set_error(eng, SL_ERR_CONTEXT, "a judge prompt of %d tokens does not fit the context of %d",
                                prompts[p].n, eng->n_ctx);
        }
        llama_memory_seq_cp(mem, 0, seq0 + p, -1, pre_pos);
    }
    struct llama_batch batch = llama_batch_init(eng->n_batch, 0, 1);
    int32_t * done = calloc((size_t) n_pairs, sizeof *done);
    int32_t * row = calloc((size_t) n_pairs, sizeof *row);
    int status = done && row ? SL_OK : sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    int32_t remaining = n_pairs;
    for (int32_t p = 0; row && p < n_pairs; p++) row[p] = -1;
    while (status == SL_OK && remaining > 0) {
        batch.n_tokens = 0;
        for (int32_t p = 0; p < n_pairs && batch.n_tokens < eng->n_batch; p++) {
            while (done[p] < prompts[p].n && batch.n_tokens < eng->n_batch) {
                bool last = done[p] == prompts[p].n - 1;
                int32_t i = sl_batch_add(&batch, prompts[p].toks[done[p]], pre_pos + done[p], seq0 + p, last);
                if (last) row[p] = i;
                done[p]++;
            }
        }
        status = sl_decode_checked(eng, batch, "judging candidates");
        for (int32_t p = 0; p < n_pairs && status == SL_OK; p++) {
            if (row[p] >= 0) {
                const float * logits = llama_get_logits_ith(eng->ctx, row[p]);
                if (!logits) {
                    status = sl_set_error(eng, SL_ERR_DECODE, "llama.cpp gave no logits for a judge prompt");
                    break;
                }
                margins[p] = (double) logits[eng->judge.choice_a] - (double) logits[eng->judge.choice_b];
                row[p] = -1;
                remaining--;
            }
        }
        /* rows of pairs not finished in this batch are not read; reset them */
        for (int32_t p = 0; p < n_pairs; p++) row[p] = -1;
    }
    free(done);
    free(row);
    llama_batch_free(batch);
    sl_drop_seqs(eng, seq0);
    return status;
}

int32_t sl_judge_knockout(sl_engine * eng, const sl_search_params * sp, const sl_stage_spec * st,
                          sl_candidate * cands, const int32_t * pool, int32_t n, const llama_token * pending,
                          int32_t n_pending, llama_pos pre_pos, int32_t ref_keep, sl_stats * stats,
                          sl_judge_pair * pairs, int32_t * n_made) {
    int32_t round = 0;
    *n_made = 0;
    int32_t * alive = malloc(sizeof *alive * (size_t) n);
    sl_tokvec * prompts = calloc((size_t) n, sizeof *prompts);
    double * margins = calloc((size_t) n, sizeof *margins);
    int status = alive && prompts && margins ? SL_OK : sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    int32_t n_alive = n;
    for (int32_t i = 0; i < n && status == SL_OK; i++) {
        alive[i] = pool[i];
        cands[pool[i]].score = 0.0;
    }
    while (status == SL_OK && n_alive > 1) {
        int32_t n_pairs = n_alive / 2;
        for (int32_t p = 0; p < n_pairs && status == SL_OK; p++) {
            status = sl_judge_prompt(eng, st, &cands[alive[2 * p]], &cands[alive[2 * p + 1]], pending, n_pending,
                                     &prompts[p]);
        }
        if (status != SL_OK) break;
        if (ref_keep < 0) {
            status = sl_judge_round(eng, sp, prompts, n_pairs, pre_pos, margins);
        } else {
            /* reference cost model: one comparison at a time, each on a fresh prefill */
            for (int32_t p = 0; p < n_pairs && status == SL_OK; p++) {
                status = sl_trunk_reprefill(eng, ref_keep, stats);
                if (status == SL_OK) status = sl_judge_round(eng, sp, &prompts[p], 1, eng->trunk.kv_pos, &margins[p]);
            }
        }
        if (status != SL_OK) break;
        int32_t next = 0;
        for (int32_t p = 0; p < n_pairs; p++) {
            int32_t a = alive[2 * p], b = alive[2 * p + 1];
            cands[a].score = margins[p];
            cands[b].score = -margins[p];
            pairs[(*n_made)++] = (sl_judge_pair){.round = round, .a = a, .b = b, .margin = margins[p]};
            alive[next++] = margins[p] >= 0.0 ? a : b;
            stats->judge_calls++;
            stats->judge_tokens += prompts[p].n;
        }
        if (n_alive % 2) alive[next++] = alive[n_alive - 1]; /* a bye */
        n_alive = next;
        round++;
    }
    int32_t winner = status == SL_OK ? alive[0] : -1;
    for (int32_t i = 0; prompts && i < n; i++) free(prompts[i].toks);
    free(prompts);
    free(alive);
    free(margins);
    return winner;
}
