/* Engine lifecycle, errors, llama.cpp log capture, tokens, checked decoding and
 * the memory of the core types. The bottom layer: includes only sl_core.h. */
#ifndef SL_ENGINE_H
#define SL_ENGINE_H

#include "sl_core.h"

int  sl_engine_init(sl_engine * eng, const sl_engine_params * params);
void sl_engine_free(sl_engine * eng);

/* Record status and message (plus llama.cpp's last error line); returns status. */
int  sl_set_error(sl_engine * eng, int status, const char * fmt, ...);
void sl_log_install(void);
const char * sl_log_last_error(void);
void sl_log_clear(void);
char * sl_strdup(const char * s);   /* strdup is POSIX, not C11 */
double sl_now(void);

int  sl_tokenize(sl_engine * eng, const char * text, size_t len, bool add_special,
                 bool parse_special, llama_token ** out, int32_t * n_out);
/* Bytes of a token's text into *buf, growing it (*cap) when needed; -1 (with the error set) on failure. */
int  sl_token_piece(sl_engine * eng, llama_token tok, char ** buf, int32_t * cap, bool special);

int  sl_batch_add(struct llama_batch * b, llama_token tok, llama_pos pos, llama_seq_id seq, bool logits);
int  sl_decode_checked(sl_engine * eng, struct llama_batch batch, const char * what);
void sl_drop_seqs(sl_engine * eng, int32_t first_seq);   /* every sequence from first_seq on */
bool sl_fault_fires(int32_t * countdown);                 /* tests: counts a fault down */

/* Memory of the core types. */
void sl_unit_free(sl_unit * unit);
void sl_tokens_free(sl_tokens * tokens);
void sl_texts_free(sl_text * texts, int32_t n);
void sl_stage_spec_free(sl_stage_spec * spec);
void sl_judge_spec_free(sl_judge_spec * judge);
void sl_trunk_release(sl_trunk * trunk);                  /* frees units and segments; no KV work */

#endif
