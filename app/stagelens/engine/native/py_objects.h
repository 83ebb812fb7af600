/* Python objects of the binding: the exceptions, CancelFlag, ImageChunk,
 * SearchParams, and the Engine object's guard (closed / busy). The bottom
 * layer of the binding: includes only the core types. */
#ifndef PY_OBJECTS_H
#define PY_OBJECTS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "sl_core.h"

extern PyObject * EngineError, * ModelLoadError, * NoVisionError, * ImageRejectedError, * ContextOverflowError,
    * KVCacheFullError, * DecodeError, * InvalidNumbersError;

typedef struct {
    PyObject_HEAD
    atomic_int flag;
} CancelFlagObject;

typedef struct {
    PyObject_HEAD
    mtmd_input_chunk * chunk;
    char * id;
    int32_t n_tokens, n_pos;
    bool image_start;   /* the first chunk of its image */
    const void * owner; /* the sl_engine whose projector made it */
} ImageChunkObject;

typedef struct {
    PyObject_HEAD
    sl_search_params sp;
} SearchParamsObject;

typedef struct {
    PyObject_HEAD
    sl_engine eng;
    bool loaded;
    atomic_int busy;
} EngineObject;

extern PyTypeObject CancelFlagType, ImageChunkType, SearchParamsType;

/* Create the exceptions and ready the types, adding them to module m; -1 on error. */
int py_objects_init(PyObject * m);

PyObject * ImageChunk_wrap(const mtmd_input_chunk * chunk, const char * id, int32_t n_tokens, int32_t n_pos,
                           bool image_start, const void * owner);

/* Every Engine method that touches the engine runs between enter and leave: it refuses a closed
 * engine and a second call while one runs (a handler calling back into the engine). */
int  Engine_enter(EngineObject * self);
void Engine_leave(EngineObject * self);
PyObject * Engine_raise(EngineObject * self, int status);   /* sets the exception for status; NULL */

#endif
