/* A candidate's sampled tokens and text, and the stage-tag detection on that text. */
#include <stdlib.h>
#include <string.h>

#include "sl_candidate.h"

void sl_candidate_free(sl_candidate * c) {
    free(c->toks);
    free(c->text);
    if (c->sampler) llama_sampler_free(c->sampler);
    c->toks = NULL;
    c->text = NULL;
    c->sampler = NULL;
}

int sl_candidate_append(sl_candidate * c, llama_token tok, const char * piece, int32_t n) {
    if (c->n_toks == c->cap_toks) {
        int32_t cap = c->cap_toks ? c->cap_toks * 2 : 64;
        llama_token * toks = realloc(c->toks, sizeof *toks * (size_t) cap);
        if (!toks) return SL_ERR_NOMEM;
        c->toks = toks;
        c->cap_toks = cap;
    }
    c->toks[c->n_toks++] = tok;
    if (c->text_len + (size_t) n + 1 > c->text_cap) {
        size_t cap = c->text_cap ? c->text_cap * 2 : 256;
        while (cap < c->text_len + (size_t) n + 1) cap *= 2;
        char * text = realloc(c->text, cap);
        if (!text) return SL_ERR_NOMEM;
        c->text = text;
        c->text_cap = cap;
    }
    memcpy(c->text + c->text_len, piece, (size_t) n);
    c->text_len += (size_t) n;
    c->text[c->text_len] = '\0';
    return SL_OK;
}

static const char * sl_memfind(const char * hay, size_t n, const char * needle, size_t m) {
    if (m == 0 || m > n) return NULL;
    for (size_t i = 0; i + m <= n; i++) {
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0) return hay + i;
    }
    return NULL;
}

/* Tag detection on text, so a tag split across tokens is still found. Returns
 * how many bytes of content are safe to stream (held back: a possible partial
 * tag at either end). */
size_t sl_candidate_scan(sl_candidate * c, const sl_stage_spec * st, bool forced, size_t old_len) {
    size_t open_len = st->open_len, close_len = st->close_len;
    bool open_pending = false;
    if (!c->saw_open) {
        if (forced) {
            /* the model repeating the tag we wrote: swallow it, don't duplicate */
            size_t ws = 0;
            while (ws < c->text_len && (c->text[ws] == ' ' || c->text[ws] == '\n')) ws++;
            size_t have = c->text_len - ws;
            size_t cmp = have < open_len ? have : open_len;
            if (memcmp(c->text + ws, st->open_text, cmp) == 0) {
                if (have >= open_len) {
                    c->saw_open = true;
                    c->content_begin = ws + open_len;
                } else {
                    open_pending = true;
                }
            }
        } else {
            const char * hit = sl_memfind(c->text, c->text_len, st->open_text, open_len);
            if (hit) {
                c->saw_open = true;
                c->content_begin = (size_t) (hit - c->text) + open_len;
            } else {
                open_pending = true;
            }
        }
    }
    size_t from = old_len >= close_len ? old_len - close_len + 1 : 0;
    if (from < c->content_begin) from = c->content_begin;
    if (!c->saw_close && c->text_len > from) {
        const char * hit = sl_memfind(c->text + from, c->text_len - from, st->close_text, close_len);
        if (hit) {
            c->saw_close = true;
            c->content_end = (size_t) (hit - c->text);
            return c->content_end;
        }
    }
    c->content_end = c->text_len;
    if (open_pending && forced) return c->content_begin;
    if (open_pending) return 0;
    return c->text_len >= close_len ? c->text_len - close_len + 1 : 0;
}
