/* The conversation as keyed segments over the trunk. */
#include <stdlib.h>
#include <string.h>

#include "sl_conv.h"

int32_t sl_conv_common(const sl_engine * eng, const uint8_t * const * keys, const size_t * key_lens, int32_t n) {
    const sl_trunk * t = &eng->trunk;
    int32_t common = 0;
    while (common < n && common < t->n_segs) {
        const sl_segment * s = &t->segs[common];
        if (s->key_len == 0 || s->key_len != key_lens[common] || memcmp(s->key, keys[common], s->key_len) != 0) break;
        common++;
    }
    return common;
}

static bool sl_unit_equal(const sl_unit * a, const sl_unit * b) {
    if ((a->chunk == NULL) != (b->chunk == NULL)) return false;
    if (!a->chunk) return a->token == b->token;
    return a->n_tokens == b->n_tokens && a->image_id && b->image_id && strcmp(a->image_id, b->image_id) == 0;
}

static int sl_copy_unit(const sl_unit * src, sl_unit * dst) {
    *dst = *src;
    if (!src->chunk) return SL_OK;
    dst->chunk = mtmd_input_chunk_copy(src->chunk);
    dst->image_id = sl_strdup(src->image_id ? src->image_id : "");
    if (!dst->chunk || !dst->image_id) {
        sl_unit_free(dst);
        return SL_ERR_NOMEM;
    }
    return SL_OK;
}

static int sl_reserve_segs(sl_trunk * t, int32_t n) {
    if (n <= t->cap_segs) return SL_OK;
    int32_t cap = t->cap_segs ? t->cap_segs : 16;
    while (cap < n) cap *= 2;
    sl_segment * segs = realloc(t->segs, sizeof *segs * (size_t) cap);
    if (!segs) return SL_ERR_NOMEM;
    t->segs = segs;
    t->cap_segs = cap;
    return SL_OK;
}

static void sl_drop_segs_from(sl_trunk * t, int32_t keep) {
    for (int32_t s = keep; s < t->n_segs; s++) free(t->segs[s].key);
    if (keep < t->n_segs) t->n_segs = keep;
}

int sl_conv_replace(sl_engine * eng, int32_t keep, const sl_segment_in * segs, int32_t n_segs) {
    sl_trunk * t = &eng->trunk;
    if (keep < 0 || keep > t->n_segs || n_segs < 0) {
        return sl_set_error(eng, SL_ERR_ARG, "cannot keep %d of %d segments", keep, t->n_segs);
    }
    int32_t boundary = keep < t->n_segs ? t->segs[keep].first : t->n_units;
    int64_t cells = 0;
    for (int32_t i = 0; i < boundary; i++) cells += t->units[i].n_tokens;
    for (int32_t s = 0; s < n_segs; s++) {
        for (int32_t i = 0; i < segs[s].n_units; i++) cells += segs[s].units[i].n_tokens;
    }
    if (cells >= eng->n_ctx) {
        return sl_set_error(eng, SL_ERR_CONTEXT,
                            "the prompt is %lld tokens (images included) but the context holds %d; "
                            "shorten the conversation, lower the image size or raise the context size",
                            (long long) cells, eng->n_ctx);
    }
    /* keys first, so that running out of memory here changes nothing */
    uint8_t ** keys = calloc((size_t) (n_segs ? n_segs : 1), sizeof *keys);
    int st = keys && sl_reserve_segs(t, keep + n_segs) == SL_OK ? SL_OK : SL_ERR_NOMEM;
    for (int32_t s = 0; s < n_segs && st == SL_OK; s++) {
        if (segs[s].key_len == 0) continue;
        keys[s] = malloc(segs[s].key_len);
        if (!keys[s]) st = SL_ERR_NOMEM;
        else memcpy(keys[s], segs[s].key, segs[s].key_len);
    }
    if (st != SL_OK) {
        for (int32_t s = 0; keys && s < n_segs; s++) free(keys[s]);
        free(keys);
        return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    }

    /* how many of the new units the KV already holds, right after the kept segments */
    int32_t common = 0;
    bool differs = false;
    for (int32_t s = 0; s < n_segs && !differs; s++) {
        for (int32_t i = 0; i < segs[s].n_units; i++) {
            if (boundary + common >= t->n_kv || !sl_unit_equal(&t->units[boundary + common], &segs[s].units[i])) {
                differs = true;
                break;
            }
            common++;
        }
    }
    sl_drop_seqs(eng, 1);
    sl_drop_segs_from(t, keep);
    if (boundary + common < t->n_kv) sl_trunk_uncache_from(eng, boundary + common);
    sl_trunk_cut(eng, boundary + common);

    int32_t at = boundary, skip = common;
    for (int32_t s = 0; s < n_segs; s++) {
        for (int32_t i = 0; i < segs[s].n_units && st == SL_OK; i++) {
            if (skip > 0) {
                skip--;
                continue;
            }
            sl_unit u;
            st = sl_copy_unit(&segs[s].units[i], &u);
            if (st == SL_OK && sl_trunk_push(eng, &u) != SL_OK) {
                sl_unit_free(&u);
                st = SL_ERR_NOMEM;
            }
        }
        t->segs[t->n_segs++] = (sl_segment){.key = keys[s], .key_len = segs[s].key_len, .first = at,
                                            .n_units = segs[s].n_units};
        at += segs[s].n_units;
    }
    free(keys);
    if (st != SL_OK) {
        sl_trunk_reset(eng);
        return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    }
    return SL_OK;
}

int sl_conv_begin_answer(sl_engine * eng, int32_t * answer_first) {
    sl_trunk * t = &eng->trunk;
    if (t->n_units < 1 || t->units[t->n_units - 1].chunk) {
        return sl_set_error(eng, SL_ERR_ARG, "a prompt must end with text (the generation prompt)");
    }
    sl_drop_seqs(eng, 1);
    if (t->n_kv == t->n_units) sl_trunk_uncache_from(eng, t->n_units - 1);
    *answer_first = t->n_units;
    return SL_OK;
}

int sl_conv_seal_answer(sl_engine * eng, int32_t answer_first) {
    sl_trunk * t = &eng->trunk;
    int32_t n = t->n_units - answer_first;
    size_t len = 1 + sizeof(llama_token) * (size_t) n;
    uint8_t * key = malloc(len);
    if (!key || sl_reserve_segs(t, t->n_segs + 1) != SL_OK) {
        free(key);
        sl_conv_abandon_answer(eng, answer_first);
        return sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    }
    key[0] = 'T';
    for (int32_t i = 0; i < n; i++) {
        llama_token tok = t->units[answer_first + i].token; /* an answer holds only tokens */
        memcpy(key + 1 + sizeof tok * (size_t) i, &tok, sizeof tok);
    }
    t->segs[t->n_segs++] = (sl_segment){.key = key, .key_len = len, .first = answer_first, .n_units = n};
    return SL_OK;
}

void sl_conv_abandon_answer(sl_engine * eng, int32_t answer_first) {
    sl_drop_seqs(eng, 1);
    /* also removes cells a failed step left after the cached units */
    sl_trunk_uncache_from(eng, answer_first);
    sl_trunk_cut(eng, answer_first);
}
