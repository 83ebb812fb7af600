/* Decoding branches off the trunk in parallel sequences, by the search's own
 * path: for parity checks against from-scratch decoding. Includes the conversation. */
#ifndef SL_FORK_H
#define SL_FORK_H

#include "sl_conv.h"

/* Make the conversation one unkeyed segment of `prompt`, evaluate all of it but the last unit,
 * then decode each branch (after that unit) in its own sequence and return each branch's final
 * logits row (n_vocab floats each). */
int sl_fork_logits(sl_engine * eng, const sl_unit * prompt, int32_t n_prompt, llama_token * const * branches,
                   const int32_t * n_branch, int32_t n, float * out_logits);

#endif
