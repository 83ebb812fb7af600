/* Stage-level beam search over the conversation the engine holds. Stage specs
 * and the judge prompt are set once (sl_search_configure); each search takes
 * only its parameters. Includes the conversation and the result types. */
#ifndef SL_SEARCH_H
#define SL_SEARCH_H

#include "sl_conv.h"
#include "sl_result.h"

/* Take the stage specs and the judge prompt (ownership moves; the arguments are zeroed). On an
 * error nothing is taken and the engine keeps what it had. */
int  sl_search_configure(sl_engine * eng, sl_stage_spec * stages, int32_t n_stages, sl_judge_spec * judge);
/* Answer the conversation held (which must end with a user turn): evaluate what is pending, run the
 * stages, and append the answer as a segment. On an error the answer's units are removed again. */
int  sl_search(sl_engine * eng, const sl_search_params * sp, const sl_hooks * hooks, sl_result * out);
void sl_result_free(sl_result * res);
void sl_stage_result_free(sl_stage_result * sr);

#endif
