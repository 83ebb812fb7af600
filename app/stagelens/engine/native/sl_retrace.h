/* Retracing (after SWIRES, LLaVA-CoT v4): when the best candidate of a stage is poor, the stage
 * before is sampled again with new seeds and the search continues from there. Includes the result
 * types. */
#ifndef SL_RETRACE_H
#define SL_RETRACE_H

#include "sl_result.h"

/* What a stage's best is worth: the winner's mean log-probability (logprob and judge scorers: the
 * judge only ranks candidates against each other), or its score (external scorer). */
double sl_stage_quality(const sl_search_params * sp, const sl_stage_result * sr);
/* Stage s (> 0, scored, not committed) is poor: its quality is below the stage before's minus the
 * margin. Sets *best and *threshold. */
bool sl_retrace_wanted(const sl_search_params * sp, const sl_result * out, int32_t s, double * best,
                       double * threshold);
/* Record stages s - 1 and s as discarded, drop the candidates' sequences and cut the trunk back to
 * before stage s - 1's opening: its cells stay, nothing is read again. */
int sl_retrace_back(sl_engine * eng, sl_result * out, int32_t s, double best, double threshold);

#endif
