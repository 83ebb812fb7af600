/* A candidate's sampled tokens and text, and the stage machine on that text. */
#include <stdlib.h>
#include <string.h>

#include "sl_candidate.h"

void sl_candidate_free(sl_candidate * c) {
    free(c->toks);
    free(c->tok_end);
    free(c->text);
    if (c->sampler) llama_sampler_free(c->sampler);
    c->toks = NULL;
    c->tok_end = NULL;
    c->text = NULL;
    c->sampler = NULL;
}

int sl_candidate_append(sl_candidate * c, llama_token tok, const char * piece, int32_t n) {
    if (c->n_toks == c->cap_toks) {
        int32_t cap = c->cap_toks ? c->cap_toks * 2 : 64;
        llama_token * toks = realloc(c->toks, sizeof *toks * (size_t) cap);
        if (!toks) return SL_ERR_NOMEM;
        c->toks = toks;
        size_t * ends = realloc(c->tok_end, sizeof *ends * (size_t) cap);
        if (!ends) return SL_ERR_NOMEM;
        c->tok_end = ends;
        c->cap_toks = cap;
    }
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
    c->toks[c->n_toks] = tok;
    c->tok_end[c->n_toks] = c->text_len;
    c->n_toks++;
    c->n_keep = c->n_toks;
    return SL_OK;
}

static const char * sl_memfind(const char * hay, size_t n, const char * needle, size_t m) {
    if (m == 0 || m > n) return NULL;
    for (size_t i = 0; i + m <= n; i++) {
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0) return hay + i;
    }
    return NULL;
}

static bool sl_is_space(char ch) { return ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r'; }

/* 1: needle at text[at..]; -1: the text ends inside it (it may still come); 0: not there. */
static int sl_match_at(const sl_candidate * c, size_t at, const char * needle, size_t m) {
    size_t have = c->text_len - at;
    size_t cmp = have < m ? have : m;
    if (m == 0 || memcmp(c->text + at, needle, cmp) != 0) return 0;
    return have >= m ? 1 : -1;
}

/* Forced stage: the openings the model writes itself right after the one we wrote (the tag again, a
 * heading that spells it), any number of them with whitespace around, are swallowed. The start stays
 * undecided while the text so far is whitespace or may still become an opening. */
static void sl_swallow_openings(sl_candidate * c, const sl_stage_spec * st) {
    while (!c->start_done) {
        size_t at = c->content_begin;
        while (at < c->text_len && sl_is_space(c->text[at])) at++;
        if (at == c->text_len) return;
        size_t best = 0;
        bool alias = false, partial = false;
        int r = sl_match_at(c, at, st->open_text, st->open_len);
        if (r == 1) best = st->open_len;
        partial = r < 0;
        for (int32_t k = 0; k < st->n_aliases; k++) {
            r = sl_match_at(c, at, st->aliases[k].text, st->aliases[k].len);
            if (r == 1 && st->aliases[k].len > best) {
                best = st->aliases[k].len;
                alias = true;
            }
            partial = partial || (r < 0 && st->aliases[k].len > best);
        }
        if (partial) return;
        if (best == 0) {
            c->start_done = true;
            return;
        }
        c->content_begin = at + best;
        c->saw_open = true;
        c->open_repeats++;
        c->opened_by_alias = c->opened_by_alias || alias;
    }
}

/* Unforced stage: the stage starts after the first opening (the tag or a heading) the model writes. */
static void sl_find_opening(sl_candidate * c, const sl_stage_spec * st) {
    const char * best = sl_memfind(c->text, c->text_len, st->open_text, st->open_len);
    size_t best_len = best ? st->open_len : 0;
    bool alias = false;
    for (int32_t k = 0; k < st->n_aliases; k++) {
        const char * hit = sl_memfind(c->text, c->text_len, st->aliases[k].text, st->aliases[k].len);
        if (hit && (!best || hit < best || (hit == best && st->aliases[k].len > best_len))) {
            best = hit;
            best_len = st->aliases[k].len;
            alias = true;
        }
    }
    if (!best) return;
    c->saw_open = c->start_done = true;
    c->opened_by_alias = alias;
    c->content_begin = (size_t) (best - c->text) + best_len;
}

static size_t sl_search_from(const sl_candidate * c, size_t old_len, size_t needle_len) {
    size_t from = old_len >= needle_len ? old_len - needle_len + 1 : 0;
    return from < c->content_begin ? c->content_begin : from;
}

/* The longest tail of text that is the start of pattern (and shorter than it): the bytes a later
 * token could still complete into the pattern, so the stream holds exactly those back. */
static size_t sl_partial_tail(const char * text, size_t len, const char * pattern, size_t pattern_len) {
    size_t k = pattern_len > 0 ? pattern_len - 1 : 0;
    if (k > len) k = len;
    for (; k > 0; k--) {
        if (memcmp(text + len - k, pattern, k) == 0) return k;
    }
    return 0;
}

/* The stage ends at its closing tag, or just before a stop text if one comes first. A stop cuts the
 * candidate to the tokens whose bytes end before it, so the trunk never holds the other stage's tag. */
static void sl_find_end(sl_candidate * c, const sl_stage_spec * st, size_t old_len) {
    size_t from = sl_search_from(c, old_len, st->close_len);
    const char * end = NULL;
    if (c->text_len > from) end = sl_memfind(c->text + from, c->text_len - from, st->close_text, st->close_len);
    int32_t stop = -1;
    for (int32_t k = 0; k < st->n_stops; k++) {
        size_t f = sl_search_from(c, old_len, st->stops[k].len);
        if (c->text_len <= f) continue;
        const char * hit = sl_memfind(c->text + f, c->text_len - f, st->stops[k].text, st->stops[k].len);
        if (hit && (!end || hit < end)) {
            end = hit;
            stop = k;
        }
    }
    if (!end) {
        c->content_end = c->text_len;
        return;
    }
    size_t at = (size_t) (end - c->text);
    if (stop < 0) {
        c->saw_close = true;
        c->content_end = at;
        return;
    }
    int32_t keep = 0;
    while (keep < c->n_toks && c->tok_end[keep] <= at) keep++;
    c->n_keep = keep;
    c->stop_index = stop;
    c->closed_by = SL_CLOSED_STOP;
    size_t kept_end = keep > 0 ? c->tok_end[keep - 1] : 0;
    c->content_end = kept_end > c->content_begin ? kept_end : c->content_begin;
}

size_t sl_candidate_scan(sl_candidate * c, const sl_stage_spec * st, bool forced, size_t old_len) {
    if (!c->start_done) {
        if (forced) sl_swallow_openings(c, st);
        else sl_find_opening(c, st);
        if (!c->start_done) {
            c->content_end = c->text_len;
            return forced ? c->content_begin : 0;
        }
        old_len = 0; /* the start was just decided: search everything after it */
    }
    sl_find_end(c, st, old_len);
    if (c->saw_close || c->closed_by != SL_RUNNING) return c->content_end;
    size_t hold = sl_partial_tail(c->text, c->text_len, st->close_text, st->close_len);
    for (int32_t k = 0; k < st->n_stops; k++) {
        size_t h = sl_partial_tail(c->text, c->text_len, st->stops[k].text, st->stops[k].len);
        hold = h > hold ? h : hold;
    }
    size_t safe = c->text_len - hold;
    return safe > c->content_begin ? safe : c->content_begin;
}

bool sl_candidate_check_loop(sl_candidate * c) {
    int32_t n = c->n_toks;
    for (int32_t p = 1; p <= SL_LOOP_MAX_PERIOD; p++) {
        int32_t copies = SL_LOOP_MIN_REPEATS;
        if (copies * p < SL_LOOP_MIN_SPAN) copies = (SL_LOOP_MIN_SPAN + p - 1) / p;
        if (copies * p > n) continue;
        bool periodic = true;
        for (int32_t k = n - (copies - 1) * p; k < n && periodic; k++) periodic = c->toks[k] == c->toks[k - p];
        if (!periodic) continue;
        c->n_keep = n - (copies - 1) * p;
        c->closed_by = SL_CLOSED_LOOP;
        size_t kept_end = c->tok_end[c->n_keep - 1];
        c->content_end = kept_end > c->content_begin ? kept_end : c->content_begin;
        return true;
    }
    return false;
}

/* The stage content without the whitespace around it (what the trace shows and the judge compares). */
static void sl_content_trimmed(const sl_candidate * c, const char ** begin, size_t * len) {
    size_t b = c->content_begin, e = c->content_end > c->content_begin ? c->content_end : c->content_begin;
    while (b < e && sl_is_space(c->text[b])) b++;
    while (e > b && sl_is_space(c->text[e - 1])) e--;
    *begin = c->text ? c->text + b : "";
    *len = e - b;
}

int32_t sl_candidates_merge(sl_candidate * cands, int32_t n, int32_t * reps) {
    int32_t n_reps = 0;
    for (int32_t i = 0; i < n; i++) {
        const char * text;
        size_t len;
        sl_content_trimmed(&cands[i], &text, &len);
        cands[i].same_as = -1;
        for (int32_t r = 0; r < n_reps; r++) {
            const char * other;
            size_t other_len;
            sl_content_trimmed(&cands[reps[r]], &other, &other_len);
            if (other_len == len && memcmp(other, text, len) == 0) {
                cands[i].same_as = reps[r];
                break;
            }
        }
        if (cands[i].same_as < 0) reps[n_reps++] = i;
    }
    return n_reps;
}
