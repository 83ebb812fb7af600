/* Retracing: the poor-stage rule and going back one stage. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sl_retrace.h"

double sl_stage_quality(const sl_search_params * sp, const sl_stage_result * sr) {
    if (!sr->cands || sr->winner < 0 || sr->winner >= sr->n_cands) return -INFINITY;
    const sl_candidate * w = &sr->cands[sr->winner];
    if (sp->scorer == SL_SCORER_EXTERNAL) return w->score;
    return w->n_toks > 0 ? w->sum_logprob / w->n_toks : -INFINITY;
}

bool sl_retrace_wanted(const sl_search_params * sp, const sl_result * out, int32_t s, double * best,
                       double * threshold) {
    if (s < 1) return false;
    double before = sl_stage_quality(sp, &out->stages[s - 1]);
    *best = sl_stage_quality(sp, &out->stages[s]);
    *threshold = before - (double) sp->retrace_margin;
    return isfinite(*threshold) && !(*best >= *threshold);
}

int sl_retrace_back(sl_engine * eng, sl_result * out, int32_t s, double best, double threshold) {
    sl_retrace * grown = realloc(out->retraces, sizeof *grown * (size_t) (out->n_retraces + 1));
    if (!grown) return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    out->retraces = grown;
    sl_retrace * r = &out->retraces[out->n_retraces++];
    r->at = s;
    r->best = best;
    r->threshold = threshold;
    r->discarded[0] = out->stages[s - 1];
    r->discarded[1] = out->stages[s];
    memset(&out->stages[s - 1], 0, sizeof out->stages[s - 1]);
    memset(&out->stages[s], 0, sizeof out->stages[s]);
    sl_drop_seqs(eng, 1);
    sl_trunk_rewind(eng, r->discarded[0].units_before);
    return SL_OK;
}
