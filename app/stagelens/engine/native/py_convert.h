/* Python <-> C conversion: token lists, units, images, segments, stage specs,
 * search hooks and results. Includes the binding's objects and the search. */
#ifndef PY_CONVERT_H
#define PY_CONVERT_H

#include "py_objects.h"
#include "py_texts.h"
#include "sl_search.h"

PyObject * tokens_to_list(const llama_token * toks, int32_t n);
/* A sequence of ints -> owned tokens, each checked against the vocabulary; -1 with an exception. */
int list_to_tokens(EngineObject * self, PyObject * seq, sl_tokens * out);

/* list of int | ImageChunk -> sl_unit array borrowing the chunks; NULL with an exception. The caller
 * keeps *keep (a tuple copy of the list) alive while the array is used, then frees the array. */
sl_unit * units_from_list(EngineObject * self, PyObject * seq, int32_t * n_out, PyObject ** keep);

/* Text (with one media marker per image) and images (width, height, rgb, id) -> list of int | ImageChunk. */
PyObject * prepare_units(EngineObject * self, const char * text, Py_ssize_t len, PyObject * images, int add_special);

/* [(key: bytes, units), ...] -> borrowed segments; free with segments_free. -1 with an exception. */
typedef struct {
    sl_segment_in * segs;
    int32_t n;
    PyObject * items;        /* the (key, units) pairs: the keys point into their bytes */
    PyObject ** keep;        /* one tuple per segment (see units_from_list) */
} py_segments;
int  segments_from_list(EngineObject * self, PyObject * seq, py_segments * out);
void segments_free(py_segments * segs);

/* configure()'s arguments -> owned specs; -1 with an exception (nothing left to free). */
int stage_specs_from_python(EngineObject * self, PyObject * stages, PyObject * judge, sl_stage_spec * out,
                            int32_t * n_out, sl_judge_spec * judge_out);

/* Hooks calling Python from the search (they take the GIL); the first exception raised is kept. */
typedef struct {
    PyObject * on_event;
    PyObject * scorer;
    PyObject * exc_type, * exc_value, * exc_tb;
} hook_ctx;
sl_hooks hooks_for(hook_ctx * h);

PyObject * result_to_dict(const sl_engine * eng, const sl_result * res);

#endif
