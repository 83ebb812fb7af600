/* Branches decoded off the trunk in parallel sequences (parity checks). */
#include <string.h>

#include "sl_fork.h"

int sl_fork_logits(sl_engine * eng, const sl_unit * prompt, int32_t n_prompt, llama_token * const * branches,
                   const int32_t * n_branch, int32_t n, float * out_logits) {
    if (n < 1 || n > eng->n_seq_max - 1 || n > eng->n_batch) {
        return sl_set_error(eng, SL_ERR_ARG, "between 1 and %d branches", eng->n_seq_max - 1);
    }
    sl_segment_in seg = {.key = NULL, .key_len = 0, .units = prompt, .n_units = n_prompt};
    sl_stats stats = {0};
    int32_t end = 0;
    int status = sl_conv_replace(eng, 0, &seg, 1);
    if (status == SL_OK) status = sl_conv_begin_answer(eng, &end);
    if (status == SL_OK) status = sl_trunk_flush(eng, 1, &stats);
    if (status != SL_OK) return status;
    sl_trunk * t = &eng->trunk;
    llama_memory_t mem = llama_get_memory(eng->ctx);
    struct llama_batch batch = llama_batch_init(n, 0, 1);
    llama_token lead = t->units[t->n_units - 1].token;
    int32_t longest = 0;
    for (int32_t i = 0; i < n; i++) {
        llama_memory_seq_cp(mem, 0, 1 + i, -1, -1);
        longest = n_branch[i] > longest ? n_branch[i] : longest;
    }
    for (int32_t step = -1; step < longest && status == SL_OK; step++) {
        batch.n_tokens = 0;
        for (int32_t i = 0; i < n; i++) {
            if (step < n_branch[i]) {
                llama_token tok = step < 0 ? lead : branches[i][step];
                sl_batch_add(&batch, tok, t->kv_pos + 1 + step, 1 + i, true);
            }
        }
        status = sl_decode_checked(eng, batch, "decoding branches");
        int32_t row = 0;
        for (int32_t i = 0; i < n && status == SL_OK; i++) {
            if (step < n_branch[i]) {
                if (step == n_branch[i] - 1) {
                    const float * logits = llama_get_logits_ith(eng->ctx, row);
                    if (!logits) {
                        status = sl_set_error(eng, SL_ERR_DECODE, "llama.cpp gave no logits for branch %d", i);
                        break;
                    }
                    memcpy(out_logits + (size_t) i * eng->n_vocab, logits, sizeof(float) * (size_t) eng->n_vocab);
                }
                row++;
            }
        }
    }
    llama_batch_free(batch);
    sl_drop_seqs(eng, 1);
    return status;
}

