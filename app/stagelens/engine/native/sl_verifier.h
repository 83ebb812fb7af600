/* The verifier scorer: a second model (a process/outcome reward model, or a VLM used as a judge)
 * in its own engine, scoring candidate texts by the logits of two answer tokens. Includes the trunk
 * (the verifier's prefix: its prompt up to the first step, images included). */
#ifndef SL_VERIFIER_H
#define SL_VERIFIER_H

#include "sl_trunk.h"

/* The verifier's prompt around the steps, as token ids of the verifier's own vocabulary. */
typedef struct {
    sl_tokens between;          /* after a step that is not the scored one, before the next (may be empty) */
    sl_tokens tail;             /* after the scored step, up to where the answer token goes (not empty) */
    llama_token good, bad;      /* score = log p(good) - log p(bad) at the end of the tail */
} sl_verifier_format;

typedef struct {
    int64_t calls;              /* scoring calls (one per stage scored, or per set of answers) */
    int64_t prompts;            /* candidate prompts scored */
    int64_t tokens;             /* tokens decoded for them: shared steps once, each candidate's own */
    double score_s;             /* wall time of those decodes */
    sl_stats prefix;            /* reading the prefix (images encoded, tokens, seconds) */
} sl_verifier_stats;

/* scores[i] = log p(good) - log p(bad) after the prefix (the verifier's trunk, evaluated first
 * when pending; its image is encoded once and cached), then steps[0..n_steps) each followed by
 * `between`, then cands[i] and the tail. Step and candidate texts are tokenized as plain text
 * (no special tokens). The shared steps are decoded once (sequence 1), each candidate in its own
 * sequence (2 + i) forked from it, all candidates in the same batches. Needs n + 2 sequences. */
int sl_verifier_score(sl_engine * veng, const sl_verifier_format * fmt, const sl_text * steps, int32_t n_steps,
                      const sl_text * cands, int32_t n, double * scores, sl_verifier_stats * stats);

#endif
