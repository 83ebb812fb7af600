/* What a search gives back: each stage's candidates and winner, the retraces, best-of-N's answers,
 * the answer's ids and the stats; and the hooks a search calls. Types only. Includes the candidates
 * and the judge (its pairings). */
#ifndef SL_RESULT_H
#define SL_RESULT_H

#include "sl_candidate.h"
#include "sl_judge.h"

typedef struct {
    sl_candidate * cands; int32_t n_cands;
    int32_t winner;
    bool forced_open, forced_close;
    sl_judge_pair * pairs; int32_t n_pairs;   /* the judge's knockout, when it scored the stage */
    int32_t units_before;      /* trunk units before its opening tag: where a retrace cuts back to */
    llama_pos lead_pos;        /* where its candidates decoded their first token */
    int32_t run;               /* 0: the first time this stage ran; n: after n retraces resampled it */
} sl_stage_result;

/* One retrace: the best candidate of stage `at` scored `best`, under `threshold` (the stage before's
 * best minus the margin), so stage `at` - 1 was sampled again. `discarded` holds the two stages as they
 * were (stage at - 1 with its winner, stage at with its candidates). */
typedef struct {
    int32_t at;
    double best, threshold;
    sl_stage_result discarded[2];
} sl_retrace;

/* Best-of-N: answer i is candidate i of every stage; its score is the mean log-probability of all
 * the tokens it sampled. */
typedef struct {
    double score;
    int32_t n_tokens;
} sl_answer_score;

typedef struct {
    sl_stage_result stages[SL_MAX_STAGES];
    int32_t n_stages;          /* stages started (a cancelled call stops early) */
    bool cancelled;
    sl_stats stats;
    sl_retrace * retraces; int32_t n_retraces;
    sl_answer_score * answers; int32_t n_answers;   /* best-of-N only; the winner is every stage's */
    sl_judge_pair * answer_pairs; int32_t n_answer_pairs;   /* best-of-N judged: the knockout of answers */
    sl_tokens answer;          /* the answer's ids: tags we wrote and tokens the model produced */
    char * answer_text;        /* their bytes (not NUL-terminated) */
    size_t answer_len;
    double wall_s;
} sl_result;

/* SL_EV_RETRACE: `stage` is sampled again (its text and the next stage's so far are discarded) */
enum sl_event { SL_EV_STAGE_BEGIN = 0, SL_EV_TEXT = 1, SL_EV_STAGE_END = 2, SL_EV_RETRACE = 3 };

typedef struct {
    /* Streamed, coalesced events; return non-zero to abort (the hook keeps the error). */
    int (*on_event)(void * ud, int kind, int stage, int cand, const char * bytes, size_t len);
    /* External scorer: fill scores[n]; return non-zero to abort. */
    int (*score)(void * ud, int stage, const sl_candidate * cands, int32_t n, double * scores);
    /* External scorer of best-of-N's whole answers (answer i: candidate i of every stage of `res`). */
    int (*score_answers)(void * ud, const sl_result * res, int32_t n, double * scores);
    void * ud;
} sl_hooks;

#endif
