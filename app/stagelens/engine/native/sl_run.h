/* One search call's state and the stage steps every search method shares (defined in sl_search.c):
 * the samplers, the streamed events, and decoding candidates until each closes. Includes the result
 * types. */
#ifndef SL_RUN_H
#define SL_RUN_H

#include "sl_result.h"

typedef struct {
    sl_engine * eng;
    const sl_hooks * hooks;
    const sl_search_params * sp;
    sl_result * out;
    int32_t stage;
    double last_flush;
} sl_run;

/* The start and the end every search method shares: check the parameters and the context, begin the
 * answer and read what is pending (*answer_first < 0: nothing was begun, return the status); then
 * decode the answer's tail, copy it into `out` and seal it as a segment (or, on an error, remove it). */
int sl_search_begin(sl_engine * eng, const sl_search_params * sp, sl_result * out, int32_t * answer_first);
int sl_search_finish(sl_engine * eng, const sl_search_params * sp, sl_result * out, int32_t answer_first, int status);

struct llama_sampler * sl_make_sampler(const sl_search_params * sp, uint32_t seed);
/* Distinct, reproducible streams per (stage, candidate, run): run n is the n-th resampling of the
 * stage after a retrace (run 0 is the first sampling). */
uint32_t sl_candidate_seed(uint32_t seed, int32_t stage, int32_t cand, int32_t run);
int sl_emit(sl_run * run, int kind, int32_t cand, const char * bytes, size_t len);
/* Decode `lead` at lead_pos in every candidate's sequence, then sample every candidate until each
 * closes. With lead < 0, candidate i starts from its own cands[i].lead at cands[i].pos (best-of-N).
 * `base` is the index of cands[0] in the stage (reference mode runs them one at a time). */
int sl_generate(sl_run * run, sl_candidate * cands, int32_t n, int32_t base, llama_token lead, llama_pos lead_pos,
                const sl_stage_spec * st);

#endif
