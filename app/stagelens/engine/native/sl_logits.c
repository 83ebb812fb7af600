/* One pass over a candidate's logits for its sampler and its score. */
#include "sl_logits.h"
#include "sl_cpu.h"

#include <float.h>
#include <math.h>
#include <string.h>

static bool sl_before(const llama_token_data * a, const llama_token_data * b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

int32_t sl_top_k(const float * logits, int32_t n, int32_t k, llama_token_data * top, bool * saw_nan) {
    if (k > n) k = n;
    sl_clear_upper_vector_state();
    bool nan = false;
    /* top[0..have) unsorted, with the index of its smallest entry: a logit enters only when it beats
     * that one, which after the first few thousand logits is rare */
    int32_t have = 0, low = 0;
    for (int32_t i = 0; i < n; i++) {
        float l = logits[i];
        nan |= l != l;
        if (have < k) {
            top[have] = (llama_token_data){.id = i, .logit = l, .p = 0.0f};
            if (have == 0 || l < top[low].logit || (l == top[low].logit)) low = have;
            have++;
            continue;
        }
        if (!(l > top[low].logit)) continue; /* ties keep the lower id, as NaN stays out */
        top[low] = (llama_token_data){.id = i, .logit = l, .p = 0.0f};
        low = 0;
        for (int32_t j = 1; j < k; j++) {
            if (sl_before(&top[low], &top[j])) low = j;
        }
    }
    for (int32_t i = 1; i < have; i++) { /* insertion sort: k is small */
        llama_token_data x = top[i];
        int32_t j = i - 1;
        while (j >= 0 && sl_before(&x, &top[j])) {
            top[j + 1] = top[j];
            j--;
        }
        top[j + 1] = x;
    }
    *saw_nan = nan;
    return have;
}

/* exp(x) for x <= 0 (Cephes' expf polynomial, about 2 ulp). Branch-free, with integer masks rather than a
 * float clamp, so that the compiler vectorises the loop that calls it (SSE2 is enough); where 2^n would
 * underflow (x < about -87.3, -inf included: the conversion gives INT_MIN on x86 and ARM) the result is 0,
 * which a sum of at least exp(0) = 1 never notices. */
static inline float sl_exp_neg(float x) {
    float t = x * 1.44269504088896341f;
    int32_t n = (int32_t) (t - 0.5f); /* t <= 0: truncating t - 0.5 rounds to nearest */
    int32_t keep = -(int32_t) (n >= -126);
    n &= keep;
    float fn = (float) n;
    float r = x - fn * 0.693359375f + fn * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = (n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float e = p * scale;
    int32_t ebits;
    memcpy(&ebits, &e, sizeof ebits);
    ebits &= keep;
    memcpy(&e, &ebits, sizeof e);
    return e;
}

#define SL_BLOCK 512 /* exps computed into a buffer (a loop the compiler vectorises), then summed */

static float sl_sum_block(const float * x, int32_t n) {
    float lanes[8] = {0};
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int32_t j = 0; j < 8; j++) lanes[j] += x[i + j];
    }
    float s = 0.0f;
    for (; i < n; i++) s += x[i];
    for (int32_t j = 0; j < 8; j++) s += lanes[j];
    return s;
}

double sl_log_sum_exp(const float * logits, int32_t n, float max) {
    float buf[SL_BLOCK];
    double total = 0.0;
    sl_clear_upper_vector_state();
    for (int32_t i = 0; i < n; i += SL_BLOCK) {
        int32_t m = n - i < SL_BLOCK ? n - i : SL_BLOCK;
        const float * x = logits + i;
        if (m == SL_BLOCK) {
            for (int32_t j = 0; j < SL_BLOCK; j++) buf[j] = sl_exp_neg(x[j] - max);
        } else {
            for (int32_t j = 0; j < m; j++) buf[j] = sl_exp_neg(x[j] - max);
        }
        total += (double) sl_sum_block(buf, m);
    }
    return log(total);
}

double sl_logprob(const float * logits, int32_t n, float max, llama_token tok) {
    return (double) (logits[tok] - max) - sl_log_sum_exp(logits, n, max);
}

int sl_sample(struct llama_context * ctx, int32_t idx, int32_t n_vocab, struct llama_sampler * smpl,
              const sl_search_params * sp, llama_token_data * top, sl_pick * out) {
    const float * logits = llama_get_logits_ith(ctx, idx);
    if (!logits) return SL_ERR_DECODE;
    bool nan = false;
    if (sp->temperature <= 0.0f) {
        sl_top_k(logits, n_vocab, 1, top, &nan); /* llama.cpp's greedy: the first largest logit */
        out->token = top[0].id;
        out->max = top[0].logit;
    } else if (sp->top_k > 0 && sp->top_k <= SL_TOPK_MAX) {
        int32_t k = sl_top_k(logits, n_vocab, sp->top_k, top, &nan);
        out->max = top[0].logit;
        /* what the chain's top-k would leave of the whole vocabulary, already sorted */
        llama_token_data_array cur = {.data = top, .size = (size_t) k, .selected = -1, .sorted = true};
        llama_sampler_apply(smpl, &cur);
        if (cur.selected < 0 || cur.selected >= (int64_t) cur.size) return SL_ERR_DECODE;
        out->token = cur.data[cur.selected].id;
        llama_sampler_accept(smpl, out->token);
    } else {
        out->token = llama_sampler_sample(smpl, ctx, idx);
        float mx = -FLT_MAX;
        for (int32_t i = 0; i < n_vocab; i++) {
            nan |= logits[i] != logits[i];
            mx = logits[i] > mx ? logits[i] : mx;
        }
        out->max = mx;
    }
    out->logit = logits[out->token];
    out->finite = !nan && isfinite(out->max);
    return SL_OK;
}
