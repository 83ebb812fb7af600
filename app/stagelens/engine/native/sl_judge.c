/* Judge scorer: the same model compares two candidates in a knockout, as in
 * LLaVA-CoT, but decided by one forward pass: the margin is
 * log p(choice A) - log p(choice B) at the end of the judge prompt
 *
 *     trunk before the stage + pending + judge_head + A + mid + B + tail.
 *
 * No token of a stage's judging is read twice where its cells can be shared
 * exactly (same tokens after the same prefix):
 *   - pending + judge_head are read once per stage into a root sequence; every
 *     comparison forks it (the image and the question are never read again);
 *   - a candidate that held slot A keeps its sequence's prefix (root + A + mid):
 *     when it meets its next opponent it is put in slot A again, the cells
 *     after that prefix are removed and only the opponent and the tail are read.
 * All comparisons of a round are decoded together, each in its own sequence
 * (after the candidates' sequences, which still hold their cells). Models with
 * a sliding window do not reuse a prefix after removing its tail (the window's
 * cells may be gone): their comparisons fork the root. */
#include <stdlib.h>
#include <string.h>

#include "sl_judge.h"
#include "sl_tokvec.h"

/* What one sequence reads in a round: toks at positions pos.. in sequence seq. */
typedef struct {
    sl_tokvec toks;
    llama_seq_id seq;
    llama_pos pos;
    bool want_margin;
    double margin;
} sl_judge_job;

/* Everything one knockout shares: the stage's judge pieces, each candidate's content
 * tokenized once, and which sequence holds whose slot-A prefix. */
typedef struct {
    sl_engine * eng;
    const sl_stage_spec * st;
    sl_tokvec * content;        /* by candidate index: the stage content as text, tokenized again */
    llama_seq_id root;          /* holds pending + judge_head */
    llama_pos head_end;         /* position after them */
    int32_t n_seqs;             /* comparison sequences root + 1 .. root + n_seqs */
    int32_t * owner;            /* by comparison sequence: the candidate whose prefix it holds, or -1 */
    llama_pos * prefix_end;     /* by comparison sequence: position after owner's A + mid */
    llama_pos * seq_end;        /* by comparison sequence: position after its last cell (head_end: none) */
    bool reuse;                 /* prefixes survive removing the cells after them */
} sl_knockout;

static int sl_content_tokens(sl_engine * eng, const sl_candidate * c, sl_tokvec * out) {
    /* no tags, no stray bytes: what the judge reads is the stage content as text */
    llama_token * toks = NULL;
    int32_t n = 0;
    size_t len = c->content_end > c->content_begin ? c->content_end - c->content_begin : 0;
    int st = sl_tokenize(eng, c->text ? c->text + c->content_begin : "", len, false, false, &toks, &n);
    if (st != SL_OK) return st;
    out->n = 0;
    st = sl_tokvec_add(out, toks, n);
    free(toks);
    return st == SL_OK ? SL_OK : sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
}

/* Decode every job, all together in batches of at most n_batch tokens, and read each margin
 * right after the batch that holds its job's last token. */
static int sl_judge_decode(sl_engine * eng, sl_judge_job * jobs, int32_t n_jobs) {
    for (int32_t j = 0; j < n_jobs; j++) {
        if (jobs[j].pos + jobs[j].toks.n >= eng->n_ctx) {
            return sl_set_error(eng, SL_ERR_CONTEXT, "a judge prompt reaching position %d does not fit the context of %d",
                                jobs[j].pos + jobs[j].toks.n, eng->n_ctx);
        }
    }
    struct llama_batch batch = llama_batch_init(eng->n_batch, 0, 1);
    int32_t * done = calloc((size_t) n_jobs, sizeof *done);
    int32_t * row = malloc(sizeof *row * (size_t) n_jobs);
    int status = done && row ? SL_OK : sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    int32_t remaining = 0;
    for (int32_t j = 0; j < n_jobs; j++) remaining += jobs[j].toks.n > done[j] ? 1 : 0;
    while (status == SL_OK && remaining > 0) {
        batch.n_tokens = 0;
        for (int32_t j = 0; j < n_jobs; j++) row[j] = -1;
        for (int32_t j = 0; j < n_jobs && batch.n_tokens < eng->n_batch; j++) {
            sl_judge_job * job = &jobs[j];
            while (done[j] < job->toks.n && batch.n_tokens < eng->n_batch) {
                bool last = done[j] == job->toks.n - 1;
                int32_t i = sl_batch_add(&batch, job->toks.toks[done[j]], job->pos + done[j], job->seq,
                                         last && job->want_margin);
                if (last) {
                    row[j] = job->want_margin ? i : -1;
                    remaining--;
                }
                done[j]++;
            }
        }
        status = sl_decode_checked(eng, batch, "judging candidates");
        for (int32_t j = 0; j < n_jobs && status == SL_OK; j++) {
            if (row[j] < 0) continue;
            const float * logits = llama_get_logits_ith(eng->ctx, row[j]);
            if (!logits) {
                status = sl_set_error(eng, SL_ERR_DECODE, "llama.cpp gave no logits for a judge prompt");
                break;
            }
            jobs[j].margin = (double) logits[eng->judge.choice_a] - (double) logits[eng->judge.choice_b];
        }
    }
    free(done);
    free(row);
    llama_batch_free(batch);
    return status;
}

static bool sl_alive(const int32_t * alive, int32_t n_alive, int32_t cand) {
    for (int32_t i = 0; i < n_alive; i++) {
        if (alive[i] == cand) return true;
    }
    return false;
}

static int32_t sl_prefix_seq(const sl_knockout * ko, int32_t cand) {
    if (!ko->reuse) return -1;
    for (int32_t k = 0; k < ko->n_seqs; k++) {
        if (ko->owner[k] == cand) return k;
    }
    return -1;
}

/* A comparison sequence nobody in this round uses: first one whose owner is out, else any. */
static int32_t sl_free_seq(const sl_knockout * ko, const bool * used, const int32_t * alive, int32_t n_alive) {
    for (int32_t k = 0; k < ko->n_seqs; k++) {
        if (!used[k] && (ko->owner[k] < 0 || !sl_alive(alive, n_alive, ko->owner[k]))) return k;
    }
    for (int32_t k = 0; k < ko->n_seqs; k++) {
        if (!used[k]) return k;
    }
    return -1;
}

/* The job comparing a (slot A) with b: from a's prefix when its sequence holds it, else forked from the root. */
static int sl_pair_job(sl_knockout * ko, int32_t a, int32_t b, bool * used, const int32_t * alive, int32_t n_alive,
                       sl_judge_job * job) {
    sl_engine * eng = ko->eng;
    llama_memory_t mem = llama_get_memory(eng->ctx);
    const sl_judge_spec * js = &eng->judge;
    job->toks.n = 0;
    job->want_margin = true;
    int32_t k = sl_prefix_seq(ko, a);
    if (k >= 0 && llama_memory_seq_rm(mem, ko->root + 1 + k, ko->prefix_end[k], -1)) {
        job->seq = ko->root + 1 + k;
        job->pos = ko->prefix_end[k];
    } else {
        if (k < 0) k = sl_free_seq(ko, used, alive, n_alive);
        if (k < 0) return sl_set_error(eng, SL_ERR_ARG, "no sequence left for a judge comparison");
        llama_seq_id seq = ko->root + 1 + k;
        llama_memory_seq_rm(mem, seq, -1, -1);
        llama_memory_seq_cp(mem, ko->root, seq, -1, ko->head_end);
        job->seq = seq;
        job->pos = ko->head_end;
        ko->owner[k] = a;
        ko->prefix_end[k] = ko->head_end + ko->content[a].n + js->mid.n;
        if (sl_tokvec_add(&job->toks, ko->content[a].toks, ko->content[a].n) ||
            sl_tokvec_add(&job->toks, js->mid.toks, js->mid.n)) {
            return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
        }
    }
    used[k] = true;
    if (sl_tokvec_add(&job->toks, ko->content[b].toks, ko->content[b].n) ||
        sl_tokvec_add(&job->toks, js->tail.toks, js->tail.n)) {
        return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    }
    ko->seq_end[k] = job->pos + job->toks.n;
    return SL_OK;
}

/* The whole prompt from the trunk: the reference cost model, one comparison at a time. */
static int sl_reference_job(sl_knockout * ko, const llama_token * pending, int32_t n_pending, int32_t a, int32_t b,
                            sl_judge_job * job) {
    sl_engine * eng = ko->eng;
    const sl_judge_spec * js = &eng->judge;
    llama_memory_t mem = llama_get_memory(eng->ctx);
    job->toks.n = 0;
    job->want_margin = true;
    job->seq = ko->root;
    job->pos = eng->trunk.kv_pos;
    llama_memory_seq_rm(mem, ko->root, -1, -1);
    llama_memory_seq_cp(mem, 0, ko->root, -1, job->pos);
    if (sl_tokvec_add(&job->toks, pending, n_pending) ||
        sl_tokvec_add(&job->toks, ko->st->judge_head.toks, ko->st->judge_head.n) ||
        sl_tokvec_add(&job->toks, ko->content[a].toks, ko->content[a].n) ||
        sl_tokvec_add(&job->toks, js->mid.toks, js->mid.n) ||
        sl_tokvec_add(&job->toks, ko->content[b].toks, ko->content[b].n) ||
        sl_tokvec_add(&job->toks, js->tail.toks, js->tail.n)) {
        return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    }
    return SL_OK;
}

/* Read pending + judge_head once into the root sequence, forked from the trunk before pre_pos. */
static int sl_root(sl_knockout * ko, const llama_token * pending, int32_t n_pending, llama_pos pre_pos,
                   sl_stats * stats) {
    sl_engine * eng = ko->eng;
    sl_judge_job root = {.seq = ko->root, .pos = pre_pos, .want_margin = false};
    llama_memory_seq_cp(llama_get_memory(eng->ctx), 0, ko->root, -1, pre_pos);
    int status = sl_tokvec_add(&root.toks, pending, n_pending) ||
                         sl_tokvec_add(&root.toks, ko->st->judge_head.toks, ko->st->judge_head.n)
                     ? sl_set_error(eng, SL_ERR_NOMEM, "out of memory")
                     : SL_OK;
    if (status == SL_OK && root.toks.n > 0) status = sl_judge_decode(eng, &root, 1);
    ko->head_end = pre_pos + root.toks.n;
    stats->judge_tokens += root.toks.n;
    free(root.toks.toks);
    return status;
}

int32_t sl_judge_knockout(sl_engine * eng, const sl_search_params * sp, const sl_stage_spec * st,
                          sl_candidate * cands, const int32_t * pool, int32_t n, const llama_token * pending,
                          int32_t n_pending, llama_pos pre_pos, int32_t ref_keep, int64_t held, sl_stats * stats,
                          sl_judge_pair * pairs, int32_t * n_made) {
    *n_made = 0;
    int32_t n_cands = sp->beam;
    int32_t n_seqs = sp->beam / 2 > 0 ? sp->beam / 2 : 1;
    sl_knockout ko = {
        .eng = eng,
        .st = st,
        .content = calloc((size_t) n_cands, sizeof *ko.content),
        .root = 1 + sp->beam, /* after the candidates' sequences, which still hold their cells */
        .n_seqs = n_seqs,
        .owner = malloc(sizeof *ko.owner * (size_t) n_seqs),
        .prefix_end = calloc((size_t) n_seqs, sizeof *ko.prefix_end),
        .seq_end = calloc((size_t) n_seqs, sizeof *ko.seq_end),
        .reuse = eng->n_swa <= 0,
    };
    int32_t * alive = malloc(sizeof *alive * (size_t) n);
    sl_judge_job * jobs = calloc((size_t) n, sizeof *jobs);
    bool * used = calloc((size_t) n_seqs, sizeof *used);
    int status = ko.content && ko.owner && ko.prefix_end && ko.seq_end && alive && jobs && used
                     ? SL_OK
                     : sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    for (int32_t k = 0; ko.owner && k < n_seqs; k++) ko.owner[k] = -1;
    int32_t n_alive = n;
    for (int32_t i = 0; i < n && status == SL_OK; i++) {
        alive[i] = pool[i];
        cands[pool[i]].score = 0.0;
        status = sl_content_tokens(eng, &cands[pool[i]], &ko.content[pool[i]]);
    }
    if (status == SL_OK && ref_keep < 0) status = sl_root(&ko, pending, n_pending, pre_pos, stats);
    for (int32_t k = 0; ko.seq_end && k < n_seqs; k++) ko.seq_end[k] = ko.head_end;
    for (int32_t round = 0; status == SL_OK && n_alive > 1; round++) {
        int32_t n_pairs = n_alive / 2;
        memset(used, 0, sizeof *used * (size_t) n_seqs);
        for (int32_t p = 0; p < n_pairs; p++) {
            int32_t *a = &alive[2 * p], *b = &alive[2 * p + 1];
            if (sl_prefix_seq(&ko, *a) < 0 && sl_prefix_seq(&ko, *b) >= 0) {
                int32_t keep = *a; /* the one whose slot-A prefix is cached takes slot A again */
                *a = *b;
                *b = keep;
            }
        }
        /* comparisons that continue a cached prefix first, so that no other one takes its sequence */
        for (int pass = 0; pass < 2 && ref_keep < 0; pass++) {
            for (int32_t p = 0; p < n_pairs && status == SL_OK; p++) {
                if ((sl_prefix_seq(&ko, alive[2 * p]) >= 0) == (pass == 0)) {
                    status = sl_pair_job(&ko, alive[2 * p], alive[2 * p + 1], used, alive, n_alive, &jobs[p]);
                }
            }
        }
        if (status == SL_OK && ref_keep < 0) status = sl_judge_decode(eng, jobs, n_pairs);
        if (status == SL_OK && ref_keep < 0 && held >= 0) { /* the root and what each comparison sequence holds */
            int64_t cells = held + (ko.head_end - pre_pos);
            for (int32_t k = 0; k < n_seqs; k++) cells += ko.seq_end[k] - ko.head_end;
            if (cells > stats->peak_cells) stats->peak_cells = cells;
        }
        /* reference cost model: one comparison at a time, each on a fresh prefill */
        for (int32_t p = 0; ref_keep >= 0 && p < n_pairs && status == SL_OK; p++) {
            status = sl_trunk_reprefill(eng, ref_keep, stats);
            if (status == SL_OK) status = sl_reference_job(&ko, pending, n_pending, alive[2 * p], alive[2 * p + 1], &jobs[p]);
            if (status == SL_OK) status = sl_judge_decode(eng, &jobs[p], 1);
            int64_t cells = eng->trunk.kv_cells + jobs[p].toks.n; /* the trunk read again, then one comparison */
            if (status == SL_OK && held >= 0 && cells > stats->peak_cells) stats->peak_cells = cells;
        }
        if (status != SL_OK) break;
        int32_t next = 0;
        for (int32_t p = 0; p < n_pairs; p++) {
            int32_t a = alive[2 * p], b = alive[2 * p + 1];
            double margin = jobs[p].margin;
            cands[a].score = margin;
            cands[b].score = -margin;
            pairs[(*n_made)++] = (sl_judge_pair){.round = round, .a = a, .b = b, .margin = margin};
            alive[next++] = margin >= 0.0 ? a : b;
            stats->judge_calls++;
            stats->judge_tokens += jobs[p].toks.n;
        }
        if (n_alive % 2) alive[next++] = alive[n_alive - 1]; /* a bye */
        n_alive = next;
    }
    int32_t winner = status == SL_OK ? alive[0] : -1;
    sl_drop_seqs(eng, ko.root);
    for (int32_t i = 0; jobs && i < n; i++) free(jobs[i].toks.toks);
    for (int32_t i = 0; ko.content && i < n_cands; i++) free(ko.content[i].toks);
    free(jobs);
    free(used);
    free(alive);
    free(ko.content);
    free(ko.owner);
    free(ko.prefix_end);
    free(ko.seq_end);
    return winner;
}
