/* The hardware's ceiling for the search: raw llama_decode steps of one token in each of w sequences
 * after a shared prefix, on the engine's own context (same model, threads, batch size, flash
 * attention, KV settings). No sampling, no text, no search code. Includes only sl_core.h. */
#ifndef SL_CEILING_H
#define SL_CEILING_H

#include "sl_core.h"

/* Forgets the conversation held (the KV cache is cleared before and after). Decodes `prefix` token
 * ids into sequence 0 (*prefill_s: its wall time), then for each widths[i] copies it into widths[i]
 * sequences and decodes `steps` steps of one token per sequence, every row with logits, as a
 * candidate step does; step_s[i * steps + k]: the wall time of step k at widths[i] (each step timed
 * alone, so that the caller can take a median a neighbour's burst does not move). */
int sl_decode_ceiling(sl_engine * eng, int32_t prefix, int32_t steps, const int32_t * widths, int32_t n_widths,
                      double * prefill_s, double * step_s);

#endif
