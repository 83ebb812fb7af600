/* Binding of the verifier scorer (sl_verifier): Engine.verify. Includes the conversion layer. */
#ifndef PY_VERIFIER_H
#define PY_VERIFIER_H

#include "py_convert.h"

PyObject * Engine_verify(EngineObject * self, PyObject * args, PyObject * kwds);

#define PY_VERIFIER_ENGINE_METHODS                                                                              \
    {"verify", (PyCFunction) (void (*)(void)) Engine_verify, METH_VARARGS | METH_KEYWORDS,                      \
     "verify(steps, candidates, between, tail, good, bad, cancel) -> (scores, stats): this engine as a "        \
     "verifier. After the conversation held (read now if pending), the steps (bytes) each followed by "         \
     "`between` (ids), then each candidate (bytes) and `tail` (ids): log p(good) - log p(bad) there."},

#endif
