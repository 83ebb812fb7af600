/* The judge scorer: a knockout of pairwise comparisons by the same model.
 * Includes the trunk (reference mode re-evaluates it) and the candidates. */
#ifndef SL_JUDGE_H
#define SL_JUDGE_H

#include "sl_candidate.h"
#include "sl_trunk.h"

/* One comparison of the knockout: candidates a and b in round `round`; margin = log p(A) - log p(B)
 * of the judge's answer (a won when it is >= 0). */
typedef struct {
    int32_t round, a, b;
    double margin;
} sl_judge_pair;

/* Knockout over cands[pool[0..n)]; sets their scores and returns the winner's index, or -1 on error.
 * `pairs` (room for n - 1) receives every comparison made, `*n_made` their count.
 * Batched mode (ref_keep < 0): comparisons fork the trunk's cells before pre_pos and start with
 * the `pending` tokens. Reference mode (ref_keep >= 0): every comparison re-evaluates the trunk
 * except its last ref_keep units. `held`: the KV cells held before judging (the trunk, the candidates):
 * stats->peak_cells then counts the judge's cells on top of them (-1: not counted). */
int32_t sl_judge_knockout(sl_engine * eng, const sl_search_params * sp, const sl_stage_spec * st,
                          sl_candidate * cands, const int32_t * pool, int32_t n, const llama_token * pending,
                          int32_t n_pending, llama_pos pre_pos, int32_t ref_keep, int64_t held, sl_stats * stats,
                          sl_judge_pair * pairs, int32_t * n_made);

#endif
