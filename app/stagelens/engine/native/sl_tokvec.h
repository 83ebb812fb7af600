/* A growable list of tokens, for prompts assembled piece by piece (judge, verifier). */
#ifndef SL_TOKVEC_H
#define SL_TOKVEC_H

#include "sl_core.h"

typedef struct {
    llama_token * toks;
    int32_t n, cap;
} sl_tokvec;

/* Append n tokens (none when n <= 0); SL_ERR_NOMEM when it cannot grow. Free toks with free(). */
int sl_tokvec_add(sl_tokvec * v, const llama_token * toks, int32_t n);

#endif
