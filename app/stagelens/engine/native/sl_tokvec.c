#include "sl_tokvec.h"

#include <stdlib.h>
#include <string.h>

int sl_tokvec_add(sl_tokvec * v, const llama_token * toks, int32_t n) {
    if (n <= 0) return SL_OK;
    if (v->n + n > v->cap) {
        int32_t cap = v->cap ? v->cap : 128;
        while (cap < v->n + n) cap *= 2;
        llama_token * t = realloc(v->toks, sizeof *t * (size_t) cap);
        if (!t) return SL_ERR_NOMEM;
        v->toks = t;
        v->cap = cap;
    }
    memcpy(v->toks + v->n, toks, sizeof *toks * (size_t) n);
    v->n += n;
    return SL_OK;
}
