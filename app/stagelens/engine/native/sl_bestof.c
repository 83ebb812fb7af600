/* Best-of-N over the stage machine: stage s of answer i is candidate i of stage s. Answer i's tokens
 * after the shared lead sit at positions lead_pos + 1 + k in sequence 1 + i. The answers are ranked at
 * the end by their mean log-probability, the judge's knockout of whole answers, or an external scorer. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sl_bestof.h"
#include "sl_run.h"

typedef struct {
    sl_tokens ids;      /* after the shared lead: its kept tokens and the tags written for it */
    int32_t cap;
    int32_t n_dec;      /* of ids, those in its sequence's cells */
    bool forced_close[SL_MAX_STAGES];
} sl_bo_answer;

static int sl_bo_push(sl_engine * eng, sl_bo_answer * a, const llama_token * toks, int32_t n) {
    if (a->ids.n + n > a->cap) {
        int32_t cap = a->cap ? a->cap : 64;
        while (cap < a->ids.n + n) cap *= 2;
        llama_token * grown = realloc(a->ids.toks, sizeof *grown * (size_t) cap);
        if (!grown) return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
        a->ids.toks = grown;
        a->cap = cap;
    }
    memcpy(a->ids.toks + a->ids.n, toks, sizeof *toks * (size_t) n);
    a->ids.n += n;
    return SL_OK;
}

/* After stage s: keep what the candidate keeps, drop cells past it, close the stage for it. */
static int sl_bo_take(sl_engine * eng, sl_bo_answer * a, const sl_candidate * c, const sl_stage_spec * st,
                      llama_pos lead_pos, int32_t s) {
    int32_t n_decoded = c->n_toks - (c->closed_by == SL_CLOSED_EOS ? 0 : 1);
    if (n_decoded > c->n_keep) n_decoded = c->n_keep;
    if (n_decoded < 0) n_decoded = 0;
    if (sl_bo_push(eng, a, c->toks, c->n_keep) != SL_OK) return eng->status;
    a->n_dec += n_decoded;
    llama_memory_seq_rm(llama_get_memory(eng->ctx), c->seq, lead_pos + 1 + a->n_dec, -1);
    a->forced_close[s] = !c->saw_close;
    return c->saw_close ? SL_OK : sl_bo_push(eng, a, st->close.toks, st->close.n);
}

/* Before stage s > 0: decode each answer's pending ids but its last, which becomes its lead. */
static int sl_bo_prepare(sl_run * run, sl_bo_answer * as, sl_candidate * cands, int32_t n, llama_pos lead_pos) {
    sl_engine * eng = run->eng;
    llama_memory_t mem = llama_get_memory(eng->ctx);
    struct llama_batch batch = llama_batch_init(eng->n_batch, 0, 1);
    int status = SL_OK;
    for (int32_t i = 0; i < n && status == SL_OK; i++) {
        sl_bo_answer * a = &as[i];
        if (a->n_dec == a->ids.n && a->n_dec > 0) { /* nothing pending: decode its last id again */
            a->n_dec--;
            llama_memory_seq_rm(mem, cands[i].seq, lead_pos + 1 + a->n_dec, -1);
        }
        if (a->ids.n == 0) {
            status = sl_set_error(eng, SL_ERR_ARG, "answer %d has nothing to continue from", i);
            break;
        }
        while (a->n_dec < a->ids.n - 1 && status == SL_OK) {
            sl_batch_add(&batch, a->ids.toks[a->n_dec], lead_pos + 1 + a->n_dec, cands[i].seq, false);
            a->n_dec++;
            if (batch.n_tokens == eng->n_batch) {
                status = sl_decode_checked(eng, batch, "writing the stage tags");
                run->out->stats.prefill_tokens += batch.n_tokens;
                batch.n_tokens = 0;
            }
        }
        cands[i].lead = a->ids.toks[a->ids.n - 1];
        cands[i].pos = lead_pos + 1 + a->n_dec;
        a->n_dec++; /* sl_generate decodes the lead */
    }
    if (status == SL_OK && batch.n_tokens > 0) {
        status = sl_decode_checked(eng, batch, "writing the stage tags");
        run->out->stats.prefill_tokens += batch.n_tokens;
    }
    llama_batch_free(batch);
    return status;
}

/* The winner's cells into sequence 0 and its ids into the trunk (as sl_commit does for a stage). */
static int sl_bo_commit(sl_engine * eng, const sl_bo_answer * a, int32_t seq, llama_pos lead_pos) {
    sl_trunk * t = &eng->trunk;
    llama_memory_seq_cp(llama_get_memory(eng->ctx), seq, 0, lead_pos, lead_pos + 1 + a->n_dec);
    sl_drop_seqs(eng, 1);
    int32_t first_new = t->n_units;
    if (sl_trunk_push_tokens(eng, a->ids.toks, a->ids.n) != SL_OK) return eng->status;
    t->units[t->n_kv].pos = lead_pos;
    t->n_kv++;
    t->kv_pos = lead_pos + 1;
    t->kv_cells++;
    for (int32_t i = 0; i < a->n_dec; i++) {
        t->units[first_new + i].pos = t->kv_pos++;
        t->kv_cells++;
        t->n_kv++;
    }
    return SL_OK;
}

static void sl_bo_score(sl_result * out, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        double sum = 0.0;
        int32_t toks = 0;
        for (int32_t s = 0; s < out->n_stages; s++) {
            sl_candidate * c = &out->stages[s].cands[i];
            c->score = c->n_toks > 0 ? c->sum_logprob / c->n_toks : -INFINITY;
            sum += c->sum_logprob;
            toks += c->n_toks;
        }
        out->answers[i].score = toks > 0 ? sum / toks : -INFINITY;
        out->answers[i].n_tokens = toks;
    }
}

/* Answer i as the judge reads it: every stage's content between its tags, blank lines between. */
static int sl_bo_answer_text(sl_engine * eng, const sl_result * out, int32_t i, sl_candidate * c) {
    size_t len = 0;
    for (int32_t s = 0; s < out->n_stages; s++) {
        const sl_candidate * sc = &out->stages[s].cands[i];
        size_t content = sc->content_end > sc->content_begin ? sc->content_end - sc->content_begin : 0;
        len += eng->stages[s].open_len + content + eng->stages[s].close_len + 2;
    }
    c->text = malloc(len + 1);
    if (!c->text) return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    size_t at = 0;
    for (int32_t s = 0; s < out->n_stages; s++) {
        const sl_stage_spec * st = &eng->stages[s];
        const sl_candidate * sc = &out->stages[s].cands[i];
        size_t content = sc->content_end > sc->content_begin ? sc->content_end - sc->content_begin : 0;
        if (s > 0) {
            memcpy(c->text + at, "\n\n", 2);
            at += 2;
        }
        memcpy(c->text + at, st->open_text, st->open_len);
        at += st->open_len;
        if (content) memcpy(c->text + at, sc->text + sc->content_begin, content);
        at += content;
        memcpy(c->text + at, st->close_text, st->close_len);
        at += st->close_len;
    }
    c->text_len = c->content_end = at;
    c->content_begin = 0;
    c->seq = 1 + i;
    c->same_as = -1;
    return SL_OK;
}

/* The judge's knockout over whole answers, read after the prompt (before the first stage's tag). */
static int32_t sl_bo_judge(sl_run * run, int32_t n, const llama_token * pending, int32_t n_pending, llama_pos pre_pos) {
    sl_engine * eng = run->eng;
    sl_result * out = run->out;
    sl_candidate * cands = calloc((size_t) n, sizeof *cands);
    int32_t * reps = malloc(sizeof *reps * (size_t) n);
    out->answer_pairs = malloc(sizeof *out->answer_pairs * (size_t) n);
    int32_t w = -1;
    int status = cands && reps && out->answer_pairs ? SL_OK : sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    for (int32_t i = 0; i < n && status == SL_OK; i++) status = sl_bo_answer_text(eng, out, i, &cands[i]);
    if (status == SL_OK) {
        int32_t n_reps = sl_candidates_merge(cands, n, reps);
        w = reps[0];
        if (n_reps > 1) {
            sl_search_params sp = *run->sp;
            sp.beam = n; /* the knockout's sequences come after the answers' */
            sl_stage_spec answers = {.judge_head = eng->judge.answer_head};
            double t0 = sl_now();
            w = sl_judge_knockout(eng, &sp, &answers, cands, reps, n_reps, pending, n_pending, pre_pos, -1, -1,
                                  &out->stats, out->answer_pairs, &out->n_answer_pairs);
            out->stats.judge_s += sl_now() - t0;
        }
        for (int32_t i = 0; i < n && w >= 0; i++) { /* a duplicate gets the score of the answer it copies */
            out->answers[i].score = cands[cands[i].same_as >= 0 ? cands[i].same_as : i].score;
        }
    }
    for (int32_t i = 0; cands && i < n; i++) free(cands[i].text);
    free(cands);
    free(reps);
    return status == SL_OK ? w : -1;
}

/* The answer kept: the likeliest, the judge's knockout winner, or the external scorer's best (the first
 * of equals). Returns -1 on an error. */
static int32_t sl_bo_rank(sl_run * run, int32_t n, const llama_token * pending, int32_t n_pending, llama_pos pre_pos) {
    sl_result * out = run->out;
    if (run->sp->scorer == SL_SCORER_JUDGE) return sl_bo_judge(run, n, pending, n_pending, pre_pos);
    if (run->sp->scorer == SL_SCORER_EXTERNAL) {
        double * scores = calloc((size_t) n, sizeof *scores);
        if (!scores) {
            sl_set_error(run->eng, SL_ERR_NOMEM, "out of memory");
            return -1;
        }
        const sl_hooks * h = run->hooks;
        int r = h && h->score_answers ? h->score_answers(h->ud, out, n, scores) : -1;
        for (int32_t i = 0; i < n && r == 0; i++) out->answers[i].score = scores[i];
        free(scores);
        if (r != 0) {
            sl_set_error(run->eng, SL_ERR_CALLBACK, "the external scorer failed");
            return -1;
        }
    }
    int32_t w = 0;
    for (int32_t i = 1; i < n; i++) {
        if (out->answers[i].score > out->answers[w].score) w = i;
    }
    return w;
}

/* Every stage of run->out, its answers' scores, and the winner moved into the trunk. */
static int sl_best_of(sl_run * run) {
    sl_engine * eng = run->eng;
    const sl_search_params * sp = run->sp;
    sl_result * out = run->out;
    sl_trunk * t = &eng->trunk;
    int32_t n = sp->best_of;
    sl_bo_answer * as = calloc((size_t) n, sizeof *as);
    out->answers = calloc((size_t) n, sizeof *out->answers);
    if (!as || !out->answers) {
        free(as);
        return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    }
    out->n_answers = n;
    int status = SL_OK;
    if (sp->force_stages) status = sl_trunk_push_tokens(eng, eng->stages[0].open.toks, eng->stages[0].open.n);
    if (status == SL_OK) status = sl_trunk_flush(eng, 1, &out->stats);
    llama_token lead = t->units[t->n_units - 1].token;
    llama_pos lead_pos = t->kv_pos;
    /* the judge reads the prompt without the first stage's tag: the lead when nothing was forced, else
     * the cells before the tag's tokens (all decoded but the lead) */
    int32_t judge_pending = sp->force_stages ? 0 : 1;
    llama_pos judge_pos = sp->force_stages ? lead_pos - (eng->stages[0].open.n - 1) : lead_pos;
    llama_memory_t mem = llama_get_memory(eng->ctx);
    for (int32_t s = 0; s < eng->n_stages && status == SL_OK; s++) {
        const sl_stage_spec * st = &eng->stages[s];
        sl_stage_result * res = &out->stages[s];
        run->stage = s;
        out->n_stages = s + 1;
        res->forced_open = sp->force_stages;
        res->winner = -1;
        res->cands = calloc((size_t) n, sizeof *res->cands);
        if (!res->cands) {
            status = sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
            break;
        }
        res->n_cands = n;
        for (int32_t i = 0; i < n && status == SL_OK; i++) {
            sl_candidate * c = &res->cands[i];
            c->seq = 1 + i;
            c->stop_index = -1;
            c->same_as = -1;
            c->sampler = sl_make_sampler(sp, sl_candidate_seed(sp->seed, s, i, 0));
            if (!c->sampler) status = sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
            if (s > 0 && sp->force_stages && status == SL_OK) status = sl_bo_push(eng, &as[i], st->open.toks, st->open.n);
        }
        if (status == SL_OK) status = sl_emit(run, SL_EV_STAGE_BEGIN, n, NULL, 0);
        if (status != SL_OK) break;
        if (s == 0) {
            for (int32_t i = 0; i < n; i++) llama_memory_seq_cp(mem, 0, 1 + i, -1, -1);
            status = sl_generate(run, res->cands, n, 0, lead, lead_pos, st);
        } else {
            status = sl_bo_prepare(run, as, res->cands, n, lead_pos);
            if (status == SL_OK) status = sl_generate(run, res->cands, n, 0, -1, 0, st);
        }
        for (int32_t i = 0; i < n && status == SL_OK; i++) {
            status = sl_bo_take(eng, &as[i], &res->cands[i], st, lead_pos, s);
        }
        if (status == SL_OK) status = sl_emit(run, SL_EV_STAGE_END, -1, NULL, 0);
    }
    if (status == SL_OK) {
        sl_bo_score(out, n);
        int32_t w = sl_bo_rank(run, n, &lead, judge_pending, judge_pos);
        if (w < 0) status = eng->status;
        for (int32_t s = 0; s < out->n_stages && status == SL_OK; s++) {
            out->stages[s].winner = w;
            out->stages[s].forced_close = as[w].forced_close[s];
        }
        if (status == SL_OK) status = sl_bo_commit(eng, &as[w], 1 + w, lead_pos);
    } else if (status == SL_CANCELLED) {
        sl_bo_score(out, n);
    }
    for (int32_t i = 0; i < n; i++) sl_tokens_free(&as[i].ids);
    free(as);
    return status;
}

int sl_best_of_search(sl_engine * eng, const sl_search_params * sp, const sl_hooks * hooks, sl_result * out) {
    int32_t answer_first = -1;
    int status = sl_search_begin(eng, sp, out, &answer_first);
    if (answer_first < 0) return status;
    if (status == SL_OK && sp->best_of < 2) status = sl_set_error(eng, SL_ERR_ARG, "best-of-N needs N >= 2");
    sl_run run = {.eng = eng, .hooks = hooks, .sp = sp, .out = out, .last_flush = 0.0};
    if (status == SL_OK) status = sl_best_of(&run);
    return sl_search_finish(eng, sp, out, answer_first, status);
}
