/* Python str/bytes -> owned C texts (sl_text), for stage marks and the verifier's texts. */
#include "py_texts.h"

#include <stdlib.h>
#include <string.h>

#include "sl_engine.h"

char * text_copy(const char * s, Py_ssize_t n) {
    char * d = malloc((size_t) n + 1);
    if (d) {
        memcpy(d, s, (size_t) n);
        d[n] = '\0';
    }
    return d;
}

int texts_from_sequence(PyObject * seq, const char * what, bool allow_empty, sl_text ** out, int32_t * n_out) {
    *out = NULL;
    *n_out = 0;
    PyObject * fast = PySequence_Fast(seq, "expected a sequence of texts");
    if (!fast) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    sl_text * texts = calloc((size_t) (n ? n : 1), sizeof *texts);
    if (!texts) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const char * text;
        Py_ssize_t len;
        PyObject * item = PySequence_Fast_GET_ITEM(fast, i);
        if (PyUnicode_Check(item)) {
            text = PyUnicode_AsUTF8AndSize(item, &len);
            if (!text) goto fail;
        } else if (PyBytes_AsStringAndSize(item, (char **) &text, &len) < 0) {
            goto fail;
        }
        if (len == 0 && !allow_empty) {
            PyErr_Format(PyExc_ValueError, "%s must not be empty", what);
            goto fail;
        }
        texts[i].text = text_copy(text, len);
        texts[i].len = (size_t) len;
        if (!texts[i].text) {
            PyErr_NoMemory();
            goto fail;
        }
    }
    Py_DECREF(fast);
    *out = texts;
    *n_out = (int32_t) n;
    return 0;
fail:
    sl_texts_free(texts, (int32_t) n);
    Py_DECREF(fast);
    return -1;
}

int texts_from_python(PyObject * seq, const char * what, sl_text ** out, int32_t * n_out) {
    if (texts_from_sequence(seq, what, false, out, n_out) < 0) return -1;
    if (*n_out > SL_MAX_MARKS) {
        PyErr_Format(PyExc_ValueError, "at most %d %s per stage, got %d", SL_MAX_MARKS, what, (int) *n_out);
        sl_texts_free(*out, *n_out);
        *out = NULL;
        *n_out = 0;
        return -1;
    }
    return 0;
}
