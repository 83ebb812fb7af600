/* Binding of the verifier scorer: texts and token lists in, scores and the verifier's own costs out.
 * The GIL is released while the verifier decodes. */
#include "py_verifier.h"

#include <stdlib.h>
#include <string.h>

#include "sl_verifier.h"

static PyObject * verifier_stats_to_dict(const sl_verifier_stats * st) {
    return Py_BuildValue("{s:L,s:L,s:L,s:d,s:L,s:L,s:L,s:d,s:d}", "calls", (long long) st->calls, "prompts",
                         (long long) st->prompts, "tokens", (long long) st->tokens, "score_s", st->score_s,
                         "prefix_tokens", (long long) st->prefix.prefill_tokens, "image_encodes",
                         (long long) st->prefix.image_encodes, "image_chunks", (long long) st->prefix.image_chunks,
                         "encode_s", st->prefix.encode_s, "prefix_s", st->prefix.prefill_s);
}

PyObject * Engine_verify(EngineObject * self, PyObject * args, PyObject * kwds) {
    static char * kwlist[] = {"steps", "candidates", "between", "tail", "good", "bad", "cancel", NULL};
    PyObject * steps_obj, * cands_obj, * between_obj, * tail_obj, * cancel;
    int good, bad;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOiiO", kwlist, &steps_obj, &cands_obj, &between_obj, &tail_obj,
                                     &good, &bad, &cancel)) {
        return NULL;
    }
    if (cancel != Py_None && !PyObject_TypeCheck(cancel, &CancelFlagType)) {
        PyErr_SetString(PyExc_TypeError, "cancel must be a CancelFlag or None");
        return NULL;
    }
    if (Engine_enter(self) < 0) return NULL;
    sl_text * steps = NULL, * cands = NULL;
    int32_t n_steps = 0, n = 0;
    sl_verifier_format fmt = {.good = good, .bad = bad};
    double * scores = NULL;
    PyObject * result = NULL;
    if (texts_from_sequence(steps_obj, "steps", true, &steps, &n_steps) < 0 ||
        texts_from_sequence(cands_obj, "candidates", true, &cands, &n) < 0)
        goto done;
    if (list_to_tokens(self, between_obj, &fmt.between) < 0 || list_to_tokens(self, tail_obj, &fmt.tail) < 0) goto done;
    scores = calloc((size_t) (n ? n : 1), sizeof *scores);
    if (!scores) {
        PyErr_NoMemory();
        goto done;
    }
    sl_verifier_stats stats;
    memset(&stats, 0, sizeof stats);
    int st;
    self->eng.cancel = cancel != Py_None ? &((CancelFlagObject *) cancel)->flag : NULL;
    Py_BEGIN_ALLOW_THREADS
    st = sl_verifier_score(&self->eng, &fmt, steps, n_steps, cands, n, scores, &stats);
    Py_END_ALLOW_THREADS
    self->eng.cancel = NULL;
    if (st != SL_OK) {
        Engine_raise(self, st);
        goto done;
    }
    PyObject * list = PyList_New(n);
    for (int32_t i = 0; list && i < n; i++) {
        PyObject * v = PyFloat_FromDouble(scores[i]);
        if (!v) Py_CLEAR(list);
        else PyList_SET_ITEM(list, i, v);
    }
    PyObject * stats_dict = list ? verifier_stats_to_dict(&stats) : NULL;
    if (list && stats_dict) result = Py_BuildValue("(NN)", list, stats_dict);
    else {
        Py_XDECREF(list);
        Py_XDECREF(stats_dict);
    }
done:
    sl_texts_free(steps, n_steps);
    sl_texts_free(cands, n);
    sl_tokens_free(&fmt.between);
    sl_tokens_free(&fmt.tail);
    free(scores);
    Engine_leave(self);
    return result;
}
