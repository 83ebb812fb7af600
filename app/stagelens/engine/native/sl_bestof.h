/* Best-of-N: N whole answers decoded together through every stage, each in its own sequence off the
 * shared prompt (no selection between stages), then the best one is kept: by mean log-probability,
 * by the judge's knockout of whole answers, or by the external scorer. Includes the result types. */
#ifndef SL_BESTOF_H
#define SL_BESTOF_H

#include "sl_result.h"

/* Answer the conversation held as sl_search does, with sp->best_of whole answers. */
int sl_best_of_search(sl_engine * eng, const sl_search_params * sp, const sl_hooks * hooks, sl_result * out);

#endif
