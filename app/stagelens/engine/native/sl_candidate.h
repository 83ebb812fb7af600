/* A candidate's sampled tokens and text, and the stage-tag detection on that
 * text (so a tag split across tokens is still found). Includes only sl_core.h. */
#ifndef SL_CANDIDATE_H
#define SL_CANDIDATE_H

#include "sl_core.h"

enum sl_close { SL_RUNNING = 0, SL_CLOSED_TAG, SL_CLOSED_BUDGET, SL_CLOSED_EOS, SL_CLOSED_CANCEL };

typedef struct {
    int32_t seq;
    llama_token * toks; int32_t n_toks, cap_toks;    /* sampled tokens (the model's own) */
    char * text; size_t text_len, text_cap;          /* their bytes */
    size_t content_begin, content_end;               /* stage content inside text */
    size_t flushed;                                  /* bytes already streamed */
    double sum_logprob;
    double score;
    int closed_by;                                   /* enum sl_close */
    bool saw_open, saw_close;
    double t0, wall_s;
    llama_pos pos;                                   /* next position in its sequence */
    int32_t logits_idx;                              /* row of its logits in the last batch */
    struct llama_sampler * sampler;
} sl_candidate;

int    sl_candidate_append(sl_candidate * c, llama_token tok, const char * piece, int32_t n);
/* Update tag state after text grew from old_len; returns how many bytes of content are safe to
 * stream (held back: a possible partial tag at either end). */
size_t sl_candidate_scan(sl_candidate * c, const sl_stage_spec * st, bool forced, size_t old_len);
void   sl_candidate_free(sl_candidate * c);

#endif
