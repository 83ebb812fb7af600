/* Stage-level beam search: per stage, N candidates decoded together in one
 * batch, one token each per llama_decode, then one winner is kept. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sl_logits.h"
#include "sl_params.h"
#include "sl_retrace.h"
#include "sl_run.h"
#include "sl_search.h"

struct llama_sampler * sl_make_sampler(const sl_search_params * sp, uint32_t seed) {
    struct llama_sampler_chain_params cp = llama_sampler_chain_default_params();
    cp.no_perf = true;
    struct llama_sampler * chain = llama_sampler_chain_init(cp);
    if (!chain) return NULL;
    if (sp->temperature <= 0.0f) {
        llama_sampler_chain_add(chain, llama_sampler_init_greedy());
        return chain;
    }
    if (sp->top_k > 0) llama_sampler_chain_add(chain, llama_sampler_init_top_k(sp->top_k));
    if (sp->top_p > 0.0f && sp->top_p < 1.0f) llama_sampler_chain_add(chain, llama_sampler_init_top_p(sp->top_p, 1));
    llama_sampler_chain_add(chain, llama_sampler_init_temp(sp->temperature));
    llama_sampler_chain_add(chain, llama_sampler_init_dist(seed));
    return chain;
}

uint32_t sl_candidate_seed(uint32_t seed, int32_t stage, int32_t cand, int32_t run) {
    uint64_t x = (uint64_t) seed * 0x9E3779B97F4A7C15ull + (uint64_t) (stage + 1) * 0xBF58476D1CE4E5B9ull +
                 (uint64_t) (cand + 1) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    if (run > 0) { /* run 0 keeps the streams answers had before retracing existed */
        x += (uint64_t) run * 0xD6E8FEB86659FD93ull;
        x ^= x >> 29;
        x *= 0x9E3779B97F4A7C15ull;
        x ^= x >> 32;
    }
    return (uint32_t) (x ^ (x >> 32));
}

void sl_stage_result_free(sl_stage_result * sr) {
    for (int32_t i = 0; i < sr->n_cands; i++) sl_candidate_free(&sr->cands[i]);
    free(sr->cands);
    sr->cands = NULL;
    sr->n_cands = 0;
    free(sr->pairs);
    sr->pairs = NULL;
    sr->n_pairs = 0;
}

void sl_result_free(sl_result * res) {
    sl_tokens_free(&res->answer);
    free(res->answer_text);
    res->answer_text = NULL;
    for (int32_t s = 0; s < SL_MAX_STAGES; s++) sl_stage_result_free(&res->stages[s]);
    for (int32_t r = 0; r < res->n_retraces; r++) {
        sl_stage_result_free(&res->retraces[r].discarded[0]);
        sl_stage_result_free(&res->retraces[r].discarded[1]);
    }
    free(res->retraces);
    res->retraces = NULL;
    res->n_retraces = 0;
    free(res->answers);
    res->answers = NULL;
    res->n_answers = 0;
    free(res->answer_pairs);
    res->answer_pairs = NULL;
    res->n_answer_pairs = 0;
}

int sl_emit(sl_run * run, int kind, int32_t cand, const char * bytes, size_t len) {
    if (!run->hooks || !run->hooks->on_event) return SL_OK;
    if (run->hooks->on_event(run->hooks->ud, kind, run->stage, cand, bytes, len) != 0) {
        return sl_set_error(run->eng, SL_ERR_CALLBACK, "an event handler raised");
    }
    return SL_OK;
}

static int sl_flush_text(sl_run * run, sl_candidate * cands, int32_t n, const size_t * safe, int32_t base) {
    for (int32_t i = 0; i < n; i++) {
        sl_candidate * c = &cands[i];
        size_t begin = c->flushed > c->content_begin ? c->flushed : c->content_begin;
        size_t end = c->closed_by != SL_RUNNING ? c->content_end : safe[i];
        if (end > c->content_end) end = c->content_end;
        if (end > begin) {
            int st = sl_emit(run, SL_EV_TEXT, base + i, c->text + begin, end - begin);
            if (st != SL_OK) return st;
            c->flushed = end;
        }
    }
    run->last_flush = sl_now();
    return SL_OK;
}

/* The KV cells held: the trunk's and every candidate's own (those that closed too: they hold their
 * cells until the stage is scored). */
static int64_t sl_cells_held(const sl_engine * eng, const sl_candidate * cands, int32_t n) {
    int64_t cells = eng->trunk.kv_cells;
    for (int32_t i = 0; i < n; i++) cells += cands[i].pos - eng->trunk.kv_pos;
    return cells;
}

/* A candidate step: its width, and the KV cells it attends to, for the bench's ceiling. */
static void sl_count_step(const sl_engine * eng, sl_stats * stats, const sl_candidate * cands, int32_t n,
                          int32_t width) {
    int64_t cells = sl_cells_held(eng, cands, n);
    int32_t w = width < SL_MAX_STEP_WIDTH ? width : SL_MAX_STEP_WIDTH;
    stats->steps_by_width[w]++;
    stats->cells_by_width[w] += (double) cells;
    if (cells > stats->peak_cells) stats->peak_cells = cells; /* cells counts the step's own tokens already */
}

/* Candidates already hold their forked sequence and sampler (sl_run.h). */
int sl_generate(sl_run * run, sl_candidate * cands, int32_t n, int32_t base, llama_token lead,
                       llama_pos lead_pos, const sl_stage_spec * st) {
    sl_engine * eng = run->eng;
    const sl_search_params * sp = run->sp;
    struct llama_batch batch = llama_batch_init(n, 0, 1);
    size_t * safe = calloc((size_t) n, sizeof *safe);
    int32_t piece_cap = 256;
    char * piece = malloc((size_t) piece_cap);
    llama_token_data * top = malloc(sizeof *top * SL_TOPK_MAX);
    int status = safe && piece && top ? SL_OK : sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    if (run->stage == 0 && base == 0) run->out->stats.first_prefill_s = run->out->stats.prefill_s;
    for (int32_t i = 0; i < n && status == SL_OK; i++) {
        llama_token first = lead >= 0 ? lead : cands[i].lead;
        llama_pos first_pos = lead >= 0 ? lead_pos : cands[i].pos;
        cands[i].logits_idx = sl_batch_add(&batch, first, first_pos, cands[i].seq, true);
        cands[i].pos = first_pos + 1;
        cands[i].t0 = sl_now();
    }
    sl_count_step(eng, &run->out->stats, cands, n, batch.n_tokens);
    if (status == SL_OK) status = sl_decode_checked(eng, batch, "starting a stage");
    run->out->stats.prefill_tokens += n;

    while (status == SL_OK) {
        if (eng->cancel && atomic_load(eng->cancel)) {
            status = SL_CANCELLED;
            break;
        }
        batch.n_tokens = 0;
        for (int32_t i = 0; i < n; i++) {
            sl_candidate * c = &cands[i];
            if (c->closed_by != SL_RUNNING) continue;
            sl_pick pick;
            if (sl_sample(eng->ctx, c->logits_idx, eng->n_vocab, c->sampler, sp, top, &pick) != SL_OK) {
                status = sl_set_error(eng, SL_ERR_DECODE, "llama.cpp gave no logits for candidate %d", base + i);
                break;
            }
            llama_token tok = pick.token;
            if (!pick.finite || !isfinite(pick.logit)) {
                status = sl_set_error(eng, SL_ERR_NONFINITE, "the model computed an invalid number (NaN or infinity)");
                break;
            }
            if (llama_vocab_is_eog(eng->vocab, tok)) {
                c->closed_by = SL_CLOSED_EOS;
                c->wall_s = sl_now() - c->t0;
                continue;
            }
            double logprob = sl_logprob(llama_get_logits_ith(eng->ctx, c->logits_idx), eng->n_vocab, pick.max, tok);
            if (!isfinite(logprob)) {
                status = sl_set_error(eng, SL_ERR_NONFINITE, "the model computed an invalid number (NaN or infinity)");
                break;
            }
            c->sum_logprob += logprob;
            int32_t np = sl_token_piece(eng, tok, &piece, &piece_cap, false);
            if (np < 0) {
                status = eng->status;
                break;
            }
            size_t old_len = c->text_len;
            if (sl_candidate_append(c, tok, piece, np) != SL_OK) {
                status = sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
                break;
            }
            safe[i] = sl_candidate_scan(c, st, sp->force_stages, old_len);
            if (c->saw_close) {
                c->closed_by = SL_CLOSED_TAG;
            } else if (c->closed_by == SL_RUNNING && !sl_candidate_check_loop(c) &&
                       c->n_toks >= sp->max_stage_tokens) {
                c->closed_by = SL_CLOSED_BUDGET;
            }
            if (c->closed_by == SL_RUNNING) {
                c->logits_idx = sl_batch_add(&batch, tok, c->pos++, c->seq, true);
                continue;
            }
            c->wall_s = sl_now() - c->t0;
        }
        if (status != SL_OK) break;
        if ((sl_now() - run->last_flush) * 1000.0 >= sp->flush_ms || batch.n_tokens == 0) {
            status = sl_flush_text(run, cands, n, safe, base);
            if (status != SL_OK) break;
        }
        if (batch.n_tokens == 0) break;
        sl_count_step(eng, &run->out->stats, cands, n, batch.n_tokens);
        status = sl_decode_checked(eng, batch, "generating");
        run->out->stats.decode_tokens += batch.n_tokens;
    }
    if (status == SL_CANCELLED) {
        for (int32_t i = 0; i < n; i++) {
            if (cands[i].closed_by == SL_RUNNING) {
                cands[i].closed_by = SL_CLOSED_CANCEL;
                cands[i].wall_s = sl_now() - cands[i].t0;
            }
        }
        int flushed = sl_flush_text(run, cands, n, safe, base);
        if (flushed != SL_OK) status = flushed; /* the handler raised: that wins over the cancel */
    }
    free(top);
    free(piece);
    free(safe);
    llama_batch_free(batch);
    return status;
}

static int32_t sl_pick_max(const sl_candidate * cands, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++) {
        if (cands[i].score > cands[best].score) best = i;
    }
    return best;
}

/* Identical candidates are merged first: the judge compares only distinct texts (a duplicate gets
 * the score of the first candidate with its text), and when every candidate wrote the same text no
 * comparison is made at all. The logprob and external scores stay each candidate's own. */
static int sl_score(sl_run * run, const sl_stage_spec * st, sl_stage_result * res, const llama_token * pending,
                    int32_t n_pending, llama_pos pre_pos, int32_t ref_keep) {
    sl_engine * eng = run->eng;
    int32_t n = res->n_cands;
    for (int32_t i = 0; i < n; i++) {
        sl_candidate * c = &res->cands[i];
        c->score = c->n_toks > 0 ? c->sum_logprob / c->n_toks : -INFINITY;
    }
    if (n == 1) {
        res->winner = 0;
        return SL_OK;
    }
    int32_t * reps = malloc(sizeof *reps * (size_t) n);
    if (!reps) return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    int32_t n_reps = sl_candidates_merge(res->cands, n, reps);
    if (run->sp->scorer == SL_SCORER_JUDGE) {
        int32_t w = reps[0];
        for (int32_t i = 0; i < n; i++) res->cands[i].score = 0.0;
        free(res->pairs);
        res->n_pairs = 0;
        res->pairs = malloc(sizeof *res->pairs * (size_t) (n - 1));
        if (!res->pairs) {
            free(reps);
            return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
        }
        if (n_reps > 1) {
            double t0 = sl_now();
            /* batched: the candidates keep their cells while judged */
            int64_t held = sl_cells_held(eng, res->cands, ref_keep < 0 ? n : 0);
            w = sl_judge_knockout(eng, run->sp, st, res->cands, reps, n_reps, pending, n_pending, pre_pos, ref_keep,
                                  held, &run->out->stats, res->pairs, &res->n_pairs);
            run->out->stats.judge_s += sl_now() - t0;
        }
        for (int32_t i = 0; i < n; i++) {
            if (res->cands[i].same_as >= 0) res->cands[i].score = res->cands[res->cands[i].same_as].score;
        }
        free(reps);
        if (w < 0) return eng->status;
        res->winner = w;
        return SL_OK;
    }
    free(reps);
    if (run->sp->scorer == SL_SCORER_EXTERNAL) {
        double * scores = calloc((size_t) n, sizeof *scores);
        if (!scores) return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
        int r = run->hooks && run->hooks->score ? run->hooks->score(run->hooks->ud, run->stage, res->cands, n, scores) : -1;
        if (r != 0) {
            free(scores);
            return sl_set_error(eng, SL_ERR_CALLBACK, "the external scorer failed");
        }
        for (int32_t i = 0; i < n; i++) res->cands[i].score = scores[i];
        free(scores);
    }
    res->winner = sl_pick_max(res->cands, n);
    return SL_OK;
}

/* Move the winner into the trunk: its cells into sequence 0, the tokens it keeps into
 * the record, plus the pending tail (its last sampled token, a closing tag we
 * write ourselves). A candidate cut at a stop or a loop keeps only its first n_keep tokens. */
static int sl_commit(sl_run * run, sl_stage_result * res, const sl_stage_spec * st, llama_pos lead_pos) {
    sl_engine * eng = run->eng;
    sl_trunk * t = &eng->trunk;
    const sl_candidate * w = &res->cands[res->winner];
    bool batched = run->sp->mode == SL_MODE_BATCHED;
    /* the last sampled token is decoded only when the candidate went on after it (closed by EOS) */
    int32_t n_decoded = w->n_toks - (w->closed_by == SL_CLOSED_EOS ? 0 : 1);
    if (n_decoded > w->n_keep) n_decoded = w->n_keep;
    if (n_decoded < 0) n_decoded = 0;
    if (batched) {
        llama_memory_t mem = llama_get_memory(eng->ctx);
        llama_memory_seq_cp(mem, w->seq, 0, lead_pos, lead_pos + 1 + n_decoded);
    }
    sl_drop_seqs(eng, 1);
    /* the lead unit (last pending one) is now decoded */
    int32_t first_new = t->n_units;
    if (sl_trunk_push_tokens(eng, w->toks, w->n_keep) != SL_OK) return eng->status;
    if (batched) {
        t->units[t->n_kv].pos = lead_pos;
        t->n_kv++;
        t->kv_pos = lead_pos + 1;
        t->kv_cells++;
        for (int32_t i = 0; i < n_decoded; i++) {
            t->units[first_new + i].pos = t->kv_pos++;
            t->kv_cells++;
            t->n_kv++;
        }
    }
    if (!w->saw_close) {
        res->forced_close = true;
        if (sl_trunk_push_tokens(eng, st->close.toks, st->close.n) != SL_OK) return eng->status;
    }
    return SL_OK;
}

int sl_search_configure(sl_engine * eng, sl_stage_spec * stages, int32_t n_stages, sl_judge_spec * judge) {
    if (n_stages < 1 || n_stages > SL_MAX_STAGES) {
        return sl_set_error(eng, SL_ERR_ARG, "between 1 and %d stages, got %d", SL_MAX_STAGES, n_stages);
    }
    for (int32_t s = 0; s < n_stages; s++) {
        const sl_stage_spec * st = &stages[s];
        if (st->open_len == 0 || st->close_len == 0) {
            return sl_set_error(eng, SL_ERR_ARG, "the tags of the %s stage must not be empty", st->name);
        }
        /* a forced closing tag plus the last sampled token wait for the next stage */
        if (s + 1 < n_stages && st->close.n + 1 > SL_MAX_PENDING) {
            return sl_set_error(eng, SL_ERR_ARG, "the closing tag of the %s stage is %d tokens; at most %d fit",
                                st->name, st->close.n, SL_MAX_PENDING - 1);
        }
    }
    for (int32_t s = 0; s < SL_MAX_STAGES; s++) sl_stage_spec_free(&eng->stages[s]);
    sl_judge_spec_free(&eng->judge);
    for (int32_t s = 0; s < n_stages; s++) {
        eng->stages[s] = stages[s];
        memset(&stages[s], 0, sizeof stages[s]);
    }
    eng->n_stages = n_stages;
    eng->judge = *judge;
    memset(judge, 0, sizeof *judge);
    judge->choice_a = judge->choice_b = -1;
    return SL_OK;
}

static int sl_run_stage(sl_run * run, const sl_stage_spec * st, sl_stage_result * res) {
    sl_engine * eng = run->eng;
    const sl_search_params * sp = run->sp;
    sl_trunk * t = &eng->trunk;
    bool batched = sp->mode == SL_MODE_BATCHED;

    /* what the judge sees: the trunk before this stage's opening tag */
    llama_pos pre_pos = t->kv_pos;
    int32_t units_before_open = t->n_units;
    res->units_before = units_before_open;
    int32_t n_pending = batched ? t->n_units - t->n_kv : 0;
    llama_token pending[SL_MAX_PENDING];
    if (n_pending > SL_MAX_PENDING) {
        return sl_set_error(eng, SL_ERR_ARG, "%d tokens wait before the %s stage; at most %d fit", n_pending,
                            st->name, SL_MAX_PENDING);
    }
    for (int32_t i = 0; i < n_pending; i++) pending[i] = t->units[t->n_kv + i].token;

    if (sp->force_stages) {
        res->forced_open = true;
        if (sl_trunk_push_tokens(eng, st->open.toks, st->open.n) != SL_OK) return eng->status;
    }
    int status = batched ? sl_trunk_flush(eng, 1, &run->out->stats) : SL_OK;
    if (status != SL_OK) return status;

    int32_t n = sp->beam;
    res->cands = calloc((size_t) n, sizeof *res->cands);
    if (!res->cands) return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    res->n_cands = n;
    for (int32_t i = 0; i < n; i++) {
        res->cands[i].seq = batched ? 1 + i : 1;
        res->cands[i].stop_index = -1;
        res->cands[i].same_as = -1;
        res->cands[i].sampler = sl_make_sampler(sp, sl_candidate_seed(sp->seed, run->stage, i, res->run));
        if (!res->cands[i].sampler) return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    }
    status = sl_emit(run, SL_EV_STAGE_BEGIN, n, NULL, 0);
    if (status != SL_OK) return status;

    llama_memory_t mem = llama_get_memory(eng->ctx);
    llama_token lead = t->units[t->n_units - 1].token;
    llama_pos lead_pos;
    if (batched) {
        lead_pos = t->kv_pos;
        for (int32_t i = 0; i < n; i++) llama_memory_seq_cp(mem, 0, res->cands[i].seq, -1, -1);
        status = sl_generate(run, res->cands, n, 0, lead, lead_pos, st);
    } else {
        for (int32_t i = 0; i < n && status == SL_OK; i++) {
            status = sl_trunk_reprefill(eng, 1, &run->out->stats);
            if (status != SL_OK) break;
            lead_pos = t->kv_pos;
            llama_memory_seq_cp(mem, 0, 1, -1, -1);
            status = sl_generate(run, &res->cands[i], 1, i, lead, lead_pos, st);
            sl_drop_seqs(eng, 1);
        }
        lead_pos = t->kv_pos;
    }
    if (status != SL_OK) {
        sl_drop_seqs(eng, 1);
        return status;
    }
    /* batched: candidates keep their cells until the winner is committed */
    int32_t ref_keep = batched ? -1 : t->n_units - units_before_open;
    res->lead_pos = lead_pos;
    return sl_score(run, st, res, pending, n_pending, pre_pos, ref_keep);
}

/* The answer's ids and their bytes, for the caller. */
static int sl_copy_answer(sl_engine * eng, int32_t first, sl_result * out) {
    const sl_trunk * t = &eng->trunk;
    int32_t n = t->n_units - first;
    out->answer.toks = malloc(sizeof *out->answer.toks * (size_t) (n ? n : 1));
    int32_t piece_cap = 256;
    char * piece = malloc((size_t) piece_cap);
    size_t cap = 256;
    out->answer_text = malloc(cap);
    if (!out->answer.toks || !piece || !out->answer_text) {
        free(piece);
        return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    }
    for (int32_t i = 0; i < n; i++) {
        llama_token tok = t->units[first + i].token;
        out->answer.toks[out->answer.n++] = tok;
        int32_t np = sl_token_piece(eng, tok, &piece, &piece_cap, false);
        if (np < 0) {
            free(piece);
            return eng->status;
        }
        if (out->answer_len + (size_t) np > cap) {
            while (out->answer_len + (size_t) np > cap) cap *= 2;
            char * bigger = realloc(out->answer_text, cap);
            if (!bigger) {
                free(piece);
                return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
            }
            out->answer_text = bigger;
        }
        memcpy(out->answer_text + out->answer_len, piece, (size_t) np);
        out->answer_len += (size_t) np;
    }
    free(piece);
    return SL_OK;
}

int sl_search_begin(sl_engine * eng, const sl_search_params * sp, sl_result * out, int32_t * answer_first) {
    memset(out, 0, sizeof *out);
    out->wall_s = sl_now(); /* the start, until sl_search_finish */
    eng->status = SL_OK;
    eng->err[0] = '\0';
    sl_log_clear();
    *answer_first = -1;
    int status = sl_check_search(eng, sp);
    if (status == SL_OK) status = sl_conv_begin_answer(eng, answer_first);
    if (status != SL_OK) return status;
    status = sl_trunk_flush(eng, 1, &out->stats);
    out->stats.prompt_tokens = out->stats.prefill_tokens;
    return status;
}

int sl_search_finish(sl_engine * eng, const sl_search_params * sp, sl_result * out, int32_t answer_first, int status) {
    if (status == SL_OK && sp->mode == SL_MODE_BATCHED) {
        /* decode the answer's tail now, so a follow-up question reads only its own turn; every stage
         * is done, so a cancel arriving now must not turn the finished answer into a partial one */
        atomic_int * cancel = eng->cancel;
        eng->cancel = NULL;
        status = sl_trunk_flush(eng, 0, &out->stats);
        eng->cancel = cancel;
    }
    if (status == SL_CANCELLED) {
        out->cancelled = true;
        sl_drop_seqs(eng, 1);
        status = SL_OK;
    }
    if (status == SL_OK) status = sl_copy_answer(eng, answer_first, out);
    if (status == SL_OK) {
        status = sl_conv_seal_answer(eng, answer_first);
    } else {
        /* keep the conversation as it was asked: the question stays cached, the failed answer goes */
        char err[sizeof eng->err];
        memcpy(err, eng->err, sizeof err);
        int failed = status;
        sl_conv_abandon_answer(eng, answer_first);
        memcpy(eng->err, err, sizeof err);
        eng->status = failed;
    }
    out->wall_s = sl_now() - out->wall_s;
    return status;
}

int sl_search(sl_engine * eng, const sl_search_params * sp, const sl_hooks * hooks, sl_result * out) {
    if (sp->best_of > 1) {
        memset(out, 0, sizeof *out);
        return sl_set_error(eng, SL_ERR_ARG, "best-of-N is its own search (sl_best_of_search)");
    }
    int32_t answer_first = -1;
    int status = sl_search_begin(eng, sp, out, &answer_first);
    if (answer_first < 0) return status;
    /* last_flush 0: the first text is streamed as soon as it is safe, later text every flush_ms */
    sl_run run = {.eng = eng, .hooks = hooks, .sp = sp, .out = out, .last_flush = 0.0};
    int32_t runs[SL_MAX_STAGES] = {0};
    for (int32_t s = 0; s < eng->n_stages && status == SL_OK;) {
        run.stage = s;
        out->n_stages = s + 1;
        sl_stage_result * res = &out->stages[s];
        res->run = runs[s]++;
        status = sl_run_stage(&run, &eng->stages[s], res);
        if (status != SL_OK) break;
        double best = 0.0, threshold = 0.0;
        if (out->n_retraces < sp->retrace && sl_retrace_wanted(sp, out, s, &best, &threshold)) {
            status = sl_retrace_back(eng, out, s, best, threshold);
            run.stage = --s;
            if (status == SL_OK) status = sl_emit(&run, SL_EV_RETRACE, s + 1, NULL, 0);
            continue;
        }
        status = sl_commit(&run, res, &eng->stages[s], res->lead_pos);
        if (status == SL_OK) status = sl_emit(&run, SL_EV_STAGE_END, res->winner, NULL, 0);
        s++;
    }
    return sl_search_finish(eng, sp, out, answer_first, status);
}
