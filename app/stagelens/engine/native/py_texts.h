/* Python str/bytes -> owned C texts. Includes the binding's objects. */
#ifndef PY_TEXTS_H
#define PY_TEXTS_H

#include <stdbool.h>

#include "py_objects.h"

/* n bytes of s, NUL-terminated, malloc'd; NULL when out of memory. */
char * text_copy(const char * s, Py_ssize_t n);
/* A sequence of str/bytes -> owned texts (free with sl_texts_free); -1 with an exception (`what`
 * names them; an empty one is refused unless allow_empty). */
int texts_from_sequence(PyObject * seq, const char * what, bool allow_empty, sl_text ** out, int32_t * n_out);
/* The same for a stage's marks: non-empty, at most SL_MAX_MARKS. */
int texts_from_python(PyObject * seq, const char * what, sl_text ** out, int32_t * n_out);

#endif
