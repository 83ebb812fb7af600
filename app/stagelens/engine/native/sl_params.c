/* What a search's parameters need before any work is done: sequences, batch rows and enums that
 * would corrupt memory or abort llama.cpp, and room in the context. */
#include "sl_params.h"
#include "sl_trunk.h"

/* Refuse a search that cannot fit before doing any work. */
static int sl_check_fits(sl_engine * eng, const sl_search_params * sp) {
    int64_t prompt_cells = sl_trunk_cells(&eng->trunk);
    int32_t n_stages = eng->n_stages;
    const sl_judge_spec * judge_spec = &eng->judge;
    int64_t tags = 0;
    int64_t judge = 0;
    for (int32_t s = 0; s < n_stages; s++) {
        const sl_stage_spec * st = &eng->stages[s];
        int64_t st_tags = st->open.n + st->close.n;
        tags = st_tags > tags ? st_tags : tags;
        int64_t j = st->judge_head.n + judge_spec->mid.n + judge_spec->tail.n + 2 * (sp->max_stage_tokens + 8) + 8;
        judge = j > judge ? j : judge;
    }
    int64_t per_stage = 2 + sp->max_stage_tokens + tags;
    int64_t live = sp->beam > 1 ? sp->beam * per_stage : per_stage;
    if (sp->scorer == SL_SCORER_JUDGE && sp->beam > 1) {
        if (sp->mode == SL_MODE_BATCHED) {
            /* the candidates keep their cells while the judge sequences run */
            live += (sp->beam / 2) * (judge + 1 + tags);
        } else {
            /* each comparison re-prefills on a cleared cache: one at a time */
            live = live > judge ? live : judge;
        }
    }
    int64_t need = prompt_cells + n_stages * per_stage + live;
    if (sp->best_of > 1) {
        int64_t answer = n_stages * per_stage;
        need = prompt_cells + sp->best_of * answer; /* each answer in its own cells */
        if (sp->scorer == SL_SCORER_JUDGE) { /* they keep them while pairs of whole answers are judged */
            int64_t pair = judge_spec->mid.n + judge_spec->tail.n + 2 * answer + 8;
            need += judge_spec->answer_head.n + (sp->best_of / 2) * (pair + 1);
        }
    }
    if (need > eng->n_ctx) {
        bool bo = sp->best_of > 1;
        return sl_set_error(eng, SL_ERR_CONTEXT,
                            "this search needs up to %lld tokens of context (prompt %lld, %d stages of up to "
                            "%d tokens, %s %d%s) but the context holds %d; lower the %s or the stage "
                            "token budget, or raise the context size",
                            (long long) need, (long long) prompt_cells, n_stages, sp->max_stage_tokens,
                            bo ? "best-of" : "beam", bo ? sp->best_of : sp->beam,
                            sp->scorer == SL_SCORER_JUDGE && (bo || sp->beam > 1) ? ", judged" : "",
                            eng->n_ctx, bo ? "number of answers" : "beam width");
    }
    return SL_OK;
}

/* Only what would corrupt memory or abort llama.cpp: sequence ids, batch rows, logits rows, enums.
 * Ranges users can choose are validated once, in Python (stagelens.engine.settings). */
static int sl_check_params(sl_engine * eng, const sl_search_params * sp) {
    if (eng->n_stages < 1) return sl_set_error(eng, SL_ERR_ARG, "the stages were not configured");
    if (sp->beam < 1) return sl_set_error(eng, SL_ERR_ARG, "beam must be at least 1, got %d", sp->beam);
    if (sp->beam > eng->n_seq_max - 1) {
        return sl_set_error(eng, SL_ERR_ARG, "beam %d needs %d sequences but this context was made with %d",
                            sp->beam, sp->beam + 1, eng->n_seq_max);
    }
    if (sp->scorer == SL_SCORER_JUDGE && sp->beam > 1 && 2 + sp->beam + sp->beam / 2 > eng->n_seq_max) {
        return sl_set_error(eng, SL_ERR_ARG, "beam %d with the judge needs %d sequences but this context has %d",
                            sp->beam, 2 + sp->beam + sp->beam / 2, eng->n_seq_max);
    }
    if (sp->beam > eng->n_batch) return sl_set_error(eng, SL_ERR_ARG, "beam %d exceeds the batch size", sp->beam);
    if (sp->retrace < 0) return sl_set_error(eng, SL_ERR_ARG, "retrace must not be negative, got %d", sp->retrace);
    if (sp->best_of < 1) return sl_set_error(eng, SL_ERR_ARG, "best-of must be at least 1, got %d", sp->best_of);
    if (sp->best_of > 1 && (sp->best_of > eng->n_seq_max - 1 || sp->best_of > eng->n_batch)) {
        return sl_set_error(eng, SL_ERR_ARG, "best-of %d needs %d sequences but this context was made with %d",
                            sp->best_of, sp->best_of + 1, eng->n_seq_max);
    }
    if (sp->best_of > 1 && sp->mode != SL_MODE_BATCHED) {
        return sl_set_error(eng, SL_ERR_ARG, "best-of-N runs in batched mode only");
    }
    if (sp->best_of > 1 && sp->scorer == SL_SCORER_JUDGE && 2 + sp->best_of + sp->best_of / 2 > eng->n_seq_max) {
        return sl_set_error(eng, SL_ERR_ARG, "best-of %d with the judge needs %d sequences but this context has %d",
                            sp->best_of, 2 + sp->best_of + sp->best_of / 2, eng->n_seq_max);
    }
    if (sp->max_stage_tokens < 1) return sl_set_error(eng, SL_ERR_ARG, "the stage token budget must be positive");
    if (sp->scorer < SL_SCORER_LOGPROB || sp->scorer > SL_SCORER_EXTERNAL) {
        return sl_set_error(eng, SL_ERR_ARG, "unknown scorer %d", sp->scorer);
    }
    if (sp->mode != SL_MODE_BATCHED && sp->mode != SL_MODE_REFERENCE) {
        return sl_set_error(eng, SL_ERR_ARG, "unknown mode %d", sp->mode);
    }
    if (sp->scorer == SL_SCORER_JUDGE && (sp->beam > 1 || sp->best_of > 1) &&
        (eng->judge.choice_a < 0 || eng->judge.choice_b < 0)) {
        return sl_set_error(eng, SL_ERR_ARG, "the judge scorer needs its choice tokens");
    }
    return SL_OK;
}

int sl_check_search(sl_engine * eng, const sl_search_params * sp) {
    int status = sl_check_params(eng, sp);
    return status == SL_OK ? sl_check_fits(eng, sp) : status;
}
