/* Python objects of the binding: exceptions, CancelFlag, ImageChunk, SearchParams, the Engine guard. */
#include "py_objects.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <structmember.h>

#include "sl_engine.h"

PyObject * EngineError, * ModelLoadError, * NoVisionError, * ImageRejectedError, * ContextOverflowError,
    * KVCacheFullError, * DecodeError, * InvalidNumbersError;

static PyObject * sl_exc_for(int status) {
    switch (status) {
        case SL_ERR_LOAD: return ModelLoadError;
        case SL_ERR_NO_VISION: return NoVisionError;
        case SL_ERR_IMAGE: return ImageRejectedError;
        case SL_ERR_CONTEXT: return ContextOverflowError;
        case SL_ERR_KV: return KVCacheFullError;
        case SL_ERR_DECODE: return DecodeError;
        case SL_ERR_NONFINITE: return InvalidNumbersError;
        case SL_ERR_ARG: return PyExc_ValueError;
        case SL_ERR_NOMEM: return PyExc_MemoryError;
        default: return EngineError;
    }
}

int Engine_enter(EngineObject * self) {
    if (!self->loaded) {
        PyErr_SetString(EngineError, "the engine is closed");
        return -1;
    }
    int expected = 0;
    if (!atomic_compare_exchange_strong(&self->busy, &expected, 1)) {
        PyErr_SetString(EngineError, "the engine is busy with another call");
        return -1;
    }
    return 0;
}

void Engine_leave(EngineObject * self) { atomic_store(&self->busy, 0); }

PyObject * Engine_raise(EngineObject * self, int status) {
    PyErr_SetString(sl_exc_for(status), self->eng.err[0] ? self->eng.err : "native engine error");
    return NULL;
}

/* ============================================================ CancelFlag */

static PyObject * CancelFlag_set(CancelFlagObject * self, PyObject * unused) {
    atomic_store(&self->flag, 1);
    Py_RETURN_NONE;
}
static PyObject * CancelFlag_clear(CancelFlagObject * self, PyObject * unused) {
    atomic_store(&self->flag, 0);
    Py_RETURN_NONE;
}
static PyObject * CancelFlag_is_set(CancelFlagObject * self, PyObject * unused) {
    return PyBool_FromLong(atomic_load(&self->flag));
}
static PyMethodDef CancelFlag_methods[] = {
    {"set", (PyCFunction) CancelFlag_set, METH_NOARGS, "Ask the running call to stop at its next step."},
    {"clear", (PyCFunction) CancelFlag_clear, METH_NOARGS, "Reset the flag."},
    {"is_set", (PyCFunction) CancelFlag_is_set, METH_NOARGS, "Whether stop was asked."},
    {NULL}};
PyTypeObject CancelFlagType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stagelens.engine._native.CancelFlag",
    .tp_basicsize = sizeof(CancelFlagObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_methods = CancelFlag_methods,
    .tp_doc = "Thread-safe stop flag, read by the native loop at every decode step.",
};

/* ============================================================ ImageChunk */

static void ImageChunk_dealloc(ImageChunkObject * self) {
    if (self->chunk) mtmd_input_chunk_free(self->chunk);
    free(self->id);
    Py_TYPE(self)->tp_free((PyObject *) self);
}
static PyObject * ImageChunk_repr(ImageChunkObject * self) {
    return PyUnicode_FromFormat("<ImageChunk id=%.12s... tokens=%d>", self->id ? self->id : "?", self->n_tokens);
}
static PyObject * ImageChunk_get_id(ImageChunkObject * self, void * c) {
    return PyUnicode_FromString(self->id ? self->id : "");
}
static PyObject * ImageChunk_get_n_tokens(ImageChunkObject * self, void * c) { return PyLong_FromLong(self->n_tokens); }
static PyObject * ImageChunk_get_n_pos(ImageChunkObject * self, void * c) { return PyLong_FromLong(self->n_pos); }
static PyObject * ImageChunk_get_image_start(ImageChunkObject * self, void * c) {
    return PyBool_FromLong(self->image_start);
}
static PyGetSetDef ImageChunk_getset[] = {
    {"id", (getter) ImageChunk_get_id, NULL, "identifier of the image pixels", NULL},
    {"n_tokens", (getter) ImageChunk_get_n_tokens, NULL, "KV cells the image takes", NULL},
    {"n_pos", (getter) ImageChunk_get_n_pos, NULL, "positions the image advances", NULL},
    {"image_start", (getter) ImageChunk_get_image_start, NULL, "the first chunk (slice) of its image", NULL},
    {NULL}};
PyTypeObject ImageChunkType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stagelens.engine._native.ImageChunk",
    .tp_basicsize = sizeof(ImageChunkObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor) ImageChunk_dealloc,
    .tp_repr = (reprfunc) ImageChunk_repr,
    .tp_getset = ImageChunk_getset,
    .tp_doc = "A preprocessed image (one chunk of it), ready to be encoded into the KV cache.",
};

PyObject * ImageChunk_wrap(const mtmd_input_chunk * chunk, const char * id, int32_t n_tokens, int32_t n_pos,
                           bool image_start, const void * owner) {
    ImageChunkObject * obj = PyObject_New(ImageChunkObject, &ImageChunkType);
    if (!obj) return NULL;
    obj->chunk = mtmd_input_chunk_copy(chunk);
    obj->id = sl_strdup(id ? id : "");
    obj->n_tokens = n_tokens;
    obj->n_pos = n_pos;
    obj->image_start = image_start;
    obj->owner = owner;
    if (!obj->chunk || !obj->id) {
        Py_DECREF(obj);
        return PyErr_NoMemory();
    }
    return (PyObject *) obj;
}

/* ========================================================== SearchParams */

static int SearchParams_init(SearchParamsObject * self, PyObject * args, PyObject * kwds) {
    static char * kwlist[] = {"beam", "max_stage_tokens", "temperature", "top_p", "top_k", "seed",
                              "scorer", "mode", "force_stages", "flush_ms", "retrace", "retrace_margin",
                              "best_of", NULL};
    sl_search_params * sp = &self->sp;
    unsigned long long seed;
    int force;
    /* every field required: the defaults live in stagelens.settings, not here */
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iiffiKiipiifi", kwlist, &sp->beam, &sp->max_stage_tokens,
                                     &sp->temperature, &sp->top_p, &sp->top_k, &seed, &sp->scorer, &sp->mode,
                                     &force, &sp->flush_ms, &sp->retrace, &sp->retrace_margin, &sp->best_of)) {
        return -1;
    }
    if (seed > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "seed must fit in 32 bits");
        return -1;
    }
    sp->seed = (uint32_t) seed;
    sp->force_stages = force != 0;
    return 0;
}

static PyObject * SearchParams_repr(SearchParamsObject * self) {
    const sl_search_params * sp = &self->sp;
    char buf[400];
    snprintf(buf, sizeof buf,
             "SearchParams(beam=%d, max_stage_tokens=%d, temperature=%g, top_p=%g, top_k=%d, seed=%u, scorer=%d, "
             "mode=%d, force_stages=%s, flush_ms=%d, retrace=%d, retrace_margin=%g, best_of=%d)",
             sp->beam, sp->max_stage_tokens, sp->temperature, sp->top_p, sp->top_k, sp->seed, sp->scorer, sp->mode,
             sp->force_stages ? "True" : "False", sp->flush_ms, sp->retrace, sp->retrace_margin, sp->best_of);
    return PyUnicode_FromString(buf);
}

#define SP_MEMBER(name, type, doc) {#name, type, offsetof(SearchParamsObject, sp) + offsetof(sl_search_params, name), \
                                    READONLY, doc}
static PyMemberDef SearchParams_members[] = {
    SP_MEMBER(beam, T_INT, "candidates per stage"),
    SP_MEMBER(max_stage_tokens, T_INT, "token budget of one stage"),
    SP_MEMBER(temperature, T_FLOAT, "sampling temperature (0: greedy)"),
    SP_MEMBER(top_p, T_FLOAT, "nucleus sampling mass"),
    SP_MEMBER(top_k, T_INT, "top-k sampling (0: off)"),
    SP_MEMBER(seed, T_UINT, "seed of every candidate's sampler"),
    SP_MEMBER(scorer, T_INT, "SCORER_LOGPROB, SCORER_JUDGE or SCORER_EXTERNAL"),
    SP_MEMBER(mode, T_INT, "MODE_BATCHED or MODE_REFERENCE"),
    SP_MEMBER(force_stages, T_BOOL, "write each stage's opening tag"),
    SP_MEMBER(flush_ms, T_INT, "coalescing interval of streamed text"),
    SP_MEMBER(retrace, T_INT, "at most this many retraces per answer"),
    SP_MEMBER(retrace_margin, T_FLOAT, "a stage is poor when its best is this far below the stage before's"),
    SP_MEMBER(best_of, T_INT, "> 1: best-of-N whole answers instead of stage-level search"),
    {NULL}};

PyTypeObject SearchParamsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stagelens.engine._native.SearchParams",
    .tp_basicsize = sizeof(SearchParamsObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc) SearchParams_init,
    .tp_repr = (reprfunc) SearchParams_repr,
    .tp_members = SearchParams_members,
    .tp_doc = "SearchParams(beam, max_stage_tokens, temperature, top_p, top_k, seed, scorer, mode, force_stages, "
              "flush_ms, retrace, retrace_margin, best_of): one search's parameters, every field required.",
};

/* ================================================================= init */

static int add_exc(PyObject * m, PyObject ** slot, const char * name, PyObject * base, const char * doc) {
    *slot = PyErr_NewExceptionWithDoc(name, doc, base, NULL);
    return *slot ? PyModule_AddObjectRef(m, strrchr(name, '.') + 1, *slot) : -1;
}

int py_objects_init(PyObject * m) {
    if (PyType_Ready(&CancelFlagType) < 0 || PyType_Ready(&ImageChunkType) < 0 ||
        PyType_Ready(&SearchParamsType) < 0) {
        return -1;
    }
    if (add_exc(m, &EngineError, "stagelens.engine._native.EngineError", PyExc_RuntimeError, "Base engine error.") ||
        add_exc(m, &ModelLoadError, "stagelens.engine._native.ModelLoadError", EngineError, "A model failed to load.") ||
        add_exc(m, &NoVisionError, "stagelens.engine._native.NoVisionError", EngineError, "No vision support.") ||
        add_exc(m, &ImageRejectedError, "stagelens.engine._native.ImageRejectedError", EngineError,
                "The projector rejected an image.") ||
        add_exc(m, &ContextOverflowError, "stagelens.engine._native.ContextOverflowError", EngineError,
                "Does not fit the context.") ||
        add_exc(m, &KVCacheFullError, "stagelens.engine._native.KVCacheFullError", EngineError, "No KV slot.") ||
        add_exc(m, &DecodeError, "stagelens.engine._native.DecodeError", EngineError, "Decoding failed.") ||
        add_exc(m, &InvalidNumbersError, "stagelens.engine._native.InvalidNumbersError", DecodeError,
                "The model computed NaN or infinity (damaged weights).") ||
        PyModule_AddObjectRef(m, "CancelFlag", (PyObject *) &CancelFlagType) < 0 ||
        PyModule_AddObjectRef(m, "ImageChunk", (PyObject *) &ImageChunkType) < 0 ||
        PyModule_AddObjectRef(m, "SearchParams", (PyObject *) &SearchParamsType) < 0) {
        return -1;
    }
    return 0;
}
