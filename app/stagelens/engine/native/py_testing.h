/* Test-only parts of the binding: the tag detector on its own, decoding forked
 * branches, fault injection and a copy of the trunk. Includes the conversion layer. */
#ifndef PY_TESTING_H
#define PY_TESTING_H

#include "py_convert.h"

PyObject * mod_scan_tags(PyObject * m, PyObject * args);
PyObject * mod_logits_pass(PyObject * m, PyObject * args);
PyObject * Engine_fork_logits(EngineObject * self, PyObject * args);
PyObject * Engine_inject_fault(EngineObject * self, PyObject * args);
PyObject * Engine_trunk_units(EngineObject * self, PyObject * unused);
PyObject * Engine_kv_state(EngineObject * self, PyObject * unused);
PyObject * Engine_vector_state(EngineObject * self, PyObject * unused);

#define PY_TESTING_ENGINE_METHODS                                                                                 \
    {"fork_logits", (PyCFunction) Engine_fork_logits, METH_VARARGS,                                               \
     "fork_logits(units, branches) -> list[bytes]: final float32 logits of each branch decoded in parallel "      \
     "after units (which become the conversation, unkeyed)"},                                                      \
    {"_inject_fault", (PyCFunction) Engine_inject_fault, METH_VARARGS,                                            \
     "_inject_fault(kind, n): for tests, the n-th next 'decode', 'image' encode or partial KV removal "          \
     "('seq_rm') fails (0: off)."},                                                                                \
    {"_trunk_units", (PyCFunction) Engine_trunk_units, METH_NOARGS,                                               \
     "For tests: every unit the conversation holds, list[int | ImageChunk]."},                                  \
    {"_kv_state", (PyCFunction) Engine_kv_state, METH_NOARGS,                                                     \
     "For tests: the KV as the trunk sees it (kv_pos, kv_cells, n_kv) and as llama.cpp holds it (pos max)."}, \
    {"_vector_state", (PyCFunction) Engine_vector_state, METH_NOARGS,                                            \
     "For tests: whether the upper vector state is in use after llama_decode, after the engine's decode and "  \
     "after the logits pass dirtied it (dict of bools), or None where the CPU cannot tell."},

#define PY_TESTING_MODULE_METHODS                                                                   \
    {"scan_tags", mod_scan_tags, METH_VARARGS, "Run the stage-tag detector over pieces (for tests)."},  \
    {"logits_pass", mod_logits_pass, METH_VARARGS,                                                      \
     "logits_pass(float32 bytes, k) -> (top k (id, logit), log-sum-exp): the per-token pass (for tests)."},

#endif
