/* Stage-level beam search over the conversation the engine holds. Stage specs
 * and the judge prompt are set once (sl_search_configure); each search takes
 * only its parameters. Includes the conversation, the judge and candidates. */
#ifndef SL_SEARCH_H
#define SL_SEARCH_H

#include "sl_candidate.h"
#include "sl_conv.h"
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
    void * ud;
} sl_hooks;

/* Take the stage specs and the judge prompt (ownership moves; the arguments are zeroed). On an
 * error nothing is taken and the engine keeps what it had. */
int  sl_search_configure(sl_engine * eng, sl_stage_spec * stages, int32_t n_stages, sl_judge_spec * judge);
/* Answer the conversation held (which must end with a user turn): evaluate what is pending, run the
 * stages, and append the answer as a segment. On an error the answer's units are removed again. */
int  sl_search(sl_engine * eng, const sl_search_params * sp, const sl_hooks * hooks, sl_result * out);
void sl_result_free(sl_result * res);
void sl_stage_result_free(sl_stage_result * sr);

#endif
