/* A candidate's sampled tokens and text, and the stage machine on that text: its opening (the
 * tag, a repeat of the tag we wrote, a heading spelling it), its end (the closing tag, or a stop:
 * another stage's tag), and a loop (the same tokens over and over). Tags are found on text, so a
 * tag split across tokens is still found. Includes only sl_core.h. */
#ifndef SL_CANDIDATE_H
#define SL_CANDIDATE_H

#include "sl_core.h"

enum sl_close {
    SL_RUNNING = 0,
    SL_CLOSED_TAG,      /* the stage's closing tag */
    SL_CLOSED_BUDGET,   /* the token budget ran out */
    SL_CLOSED_EOS,      /* the model ended its turn */
    SL_CLOSED_CANCEL,
    SL_CLOSED_STOP,     /* a stop text (another stage's tag): cut just before it */
    SL_CLOSED_LOOP,     /* the same tokens repeated: cut after their first occurrence */
};

/* A loop: the last SL_LOOP_MIN_SPAN or more tokens are at least SL_LOOP_MIN_REPEATS copies of one
 * block of at most SL_LOOP_MAX_PERIOD tokens. */
#define SL_LOOP_MAX_PERIOD 32
#define SL_LOOP_MIN_REPEATS 3
#define SL_LOOP_MIN_SPAN 16

typedef struct {
    int32_t seq;
    llama_token * toks; int32_t n_toks, cap_toks;    /* sampled tokens (the model's own) */
    size_t * tok_end;                                /* where each token's bytes end in text */
    char * text; size_t text_len, text_cap;          /* their bytes */
    size_t content_begin, content_end;               /* stage content inside text */
    size_t flushed;                                  /* bytes already streamed */
    int32_t n_keep;                                  /* tokens that stay (fewer after a stop or a loop) */
    int32_t stop_index;                              /* which stop ended it, or -1 */
    int32_t open_repeats;                            /* openings the model wrote itself (swallowed) */
    bool opened_by_alias;                            /* one of them was a heading, not the tag */
    bool start_done;                                 /* past the place where an opening may come */
    double sum_logprob;
    double score;
    int closed_by;                                   /* enum sl_close */
    bool saw_open, saw_close;
    double t0, wall_s;
    llama_pos pos;                                   /* next position in its sequence */
    int32_t logits_idx;                              /* row of its logits in the last batch */
    llama_token lead;                                /* best-of-N: its own first token, decoded at pos */
    int32_t same_as;                                 /* merged into this earlier candidate (same text), or -1 */
    struct llama_sampler * sampler;
} sl_candidate;

int    sl_candidate_append(sl_candidate * c, llama_token tok, const char * piece, int32_t n);
/* Update the stage state after text grew from old_len; returns how many bytes of content are safe to
 * stream (held back: a possible partial tag at either end). Sets saw_close, or closed_by SL_CLOSED_STOP
 * with n_keep and stop_index, when the stage ends. */
size_t sl_candidate_scan(sl_candidate * c, const sl_stage_spec * st, bool forced, size_t old_len);
/* After a token was appended: true (with closed_by SL_CLOSED_LOOP, n_keep and content_end set) when
 * the candidate has started repeating itself. */
bool   sl_candidate_check_loop(sl_candidate * c);
void   sl_candidate_free(sl_candidate * c);
/* Identical candidates (the same stage content, whitespace around it aside): each one's same_as is the
 * first candidate with its text, or -1 for that first one. reps[0..return) gets the first ones, in order. */
int32_t sl_candidates_merge(sl_candidate * cands, int32_t n, int32_t * reps);

#endif
