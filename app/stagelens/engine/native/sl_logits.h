/* The per-token work on one candidate's logits, one pass shared by its score and its sampler: the
 * top k logits are selected once (the sampler then works on k entries, not the whole vocabulary),
 * and the log-sum-exp behind the log-probability is a float exp summed in blocks. Includes only
 * sl_core.h. */
#ifndef SL_LOGITS_H
#define SL_LOGITS_H

#include "sl_core.h"

#define SL_TOPK_MAX 256  /* wider top-k (or none) falls back to llama.cpp's sampler on the whole vocabulary */

typedef struct {
    llama_token token;
    float logit;                /* the sampled token's logit */
    float max;                  /* the largest logit (for the log-probability) */
    bool finite;                /* no logit is NaN or +inf (damaged weights) */
} sl_pick;

/* The k largest of logits[0..n) into top[0..), descending, ties by the lower id; returns how many
 * (k or n, whichever is smaller; k >= 1). *saw_nan: whether any logit is NaN (NaN is never selected
 * over a number). */
int32_t sl_top_k(const float * logits, int32_t n, int32_t k, llama_token_data * top, bool * saw_nan);

/* log(sum_i exp(logits[i] - max)) for max >= every logit. */
double sl_log_sum_exp(const float * logits, int32_t n, float max);

/* The log-probability of tok under softmax(logits), given their max. */
double sl_logprob(const float * logits, int32_t n, float max, llama_token tok);

/* Sample the next token of a candidate from row `idx` of the last batch with its sampler chain (the
 * same chain, seed and draws as llama_sampler_sample): greedy is the first largest logit, a top-k of at
 * most SL_TOPK_MAX runs the chain on those k entries, anything else the chain on the whole vocabulary.
 * `top` holds SL_TOPK_MAX entries. Returns SL_OK, or SL_ERR_DECODE when llama.cpp has no logits. */
int sl_sample(struct llama_context * ctx, int32_t idx, int32_t n_vocab, struct llama_sampler * smpl,
              const sl_search_params * sp, llama_token_data * top, sl_pick * out);

#endif
