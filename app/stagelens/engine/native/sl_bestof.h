/* Best-of-N: N whole answers decoded together through every stage, each in its own sequence off the
 * shared prompt (no selection between stages), then the one with the best mean log-probability is
 * kept. Includes the run. */
#ifndef SL_BESTOF_H
#define SL_BESTOF_H

#include "sl_run.h"

/* Every stage of run->out, its answers' scores, and the winner moved into the trunk. */
int sl_best_of(sl_run * run);

#endif
