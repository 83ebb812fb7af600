/* Python binding of the native core: stagelens.engine._native.
 *
 * Converts arguments, releases the GIL around every llama/mtmd call and turns
 * status codes into exceptions. No search logic lives here. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-backend.h"
#include "mtmd-helper.h"
#include "sl_core.h"

static PyObject * EngineError, * ModelLoadError, * NoVisionError, * ImageRejectedError, * ContextOverflowError,
    * KVCacheFullError, * DecodeError;

static PyObject * sl_exc_for(int status) {
    switch (status) {
        case SL_ERR_LOAD: return ModelLoadError;
        case SL_ERR_NO_VISION: return NoVisionError;
        case SL_ERR_IMAGE: return ImageRejectedError;
        case SL_ERR_CONTEXT: return ContextOverflowError;
        case SL_ERR_KV: return KVCacheFullError;
        case SL_ERR_DECODE: return DecodeError;
        case SL_ERR_ARG: return PyExc_ValueError;
        case SL_ERR_NOMEM: return PyExc_MemoryError;
        default: return EngineError;
    }
}

/* ============================================================ CancelFlag */

typedef struct {
    PyObject_HEAD
    atomic_int flag;
} CancelFlagObject;

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
static PyTypeObject CancelFlagType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stagelens.engine._native.CancelFlag",
    .tp_basicsize = sizeof(CancelFlagObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_methods = CancelFlag_methods,
    .tp_doc = "Thread-safe stop flag, read by the native loop at every decode step.",
};

/* ============================================================ ImageChunk */

typedef struct {
    PyObject_HEAD
    mtmd_input_chunk * chunk;
    char * id;
    int32_t n_tokens, n_pos;
    const void * owner; /* the sl_engine whose projector made it */
} ImageChunkObject;

static void ImageChunk_dealloc(ImageChunkObject * self) {
    if (self->chunk) mtmd_input_chunk_free(self->chunk);
    free(self->id);
    Py_TYPE(self)->tp_free((PyObject *) self);
}
static PyObject * ImageChunk_repr(ImageChunkObject * self) {
    return PyUnicode_FromFormat("<ImageChunk id=%.12s... tokens=%d>", self->id ? self->id : "?", self->n_tokens);
}
static PyObject * ImageChunk_get_id(ImageChunkObject * self, void * c) { return PyUnicode_FromString(self->id ? self->id : ""); }
static PyObject * ImageChunk_get_n_tokens(ImageChunkObject * self, void * c) { return PyLong_FromLong(self->n_tokens); }
static PyObject * ImageChunk_get_n_pos(ImageChunkObject * self, void * c) { return PyLong_FromLong(self->n_pos); }
static PyGetSetDef ImageChunk_getset[] = {
    {"id", (getter) ImageChunk_get_id, NULL, "identifier of the image pixels", NULL},
    {"n_tokens", (getter) ImageChunk_get_n_tokens, NULL, "KV cells the image takes", NULL},
    {"n_pos", (getter) ImageChunk_get_n_pos, NULL, "positions the image advances", NULL},
    {NULL}};
static PyTypeObject ImageChunkType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stagelens.engine._native.ImageChunk",
    .tp_basicsize = sizeof(ImageChunkObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor) ImageChunk_dealloc,
    .tp_repr = (reprfunc) ImageChunk_repr,
    .tp_getset = ImageChunk_getset,
    .tp_doc = "A preprocessed image, ready to be encoded into the KV cache.",
};

static PyObject * ImageChunk_wrap(const mtmd_input_chunk * chunk, const char * id, int32_t n_tokens,
                                  int32_t n_pos, const void * owner) {
    ImageChunkObject * obj = PyObject_New(ImageChunkObject, &ImageChunkType);
    if (!obj) return NULL;
    obj->chunk = mtmd_input_chunk_copy(chunk);
    obj->id = sl_strdup(id ? id : "");
    obj->n_tokens = n_tokens;
    obj->n_pos = n_pos;
    obj->owner = owner;
    if (!obj->chunk || !obj->id) {
        Py_DECREF(obj);
        return PyErr_NoMemory();
    }
    return (PyObject *) obj;
}

/* ================================================================ Engine */

typedef struct {
    PyObject_HEAD
    sl_engine eng;
    bool loaded;
    atomic_int busy;
} EngineObject;

static int Engine_enter(EngineObject * self) {
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
static void Engine_leave(EngineObject * self) { atomic_store(&self->busy, 0); }

static PyObject * Engine_raise(EngineObject * self, int status) {
    PyErr_SetString(sl_exc_for(status), self->eng.err[0] ? self->eng.err : "native engine error");
    return NULL;
}

static void Engine_dealloc(EngineObject * self) {
    if (self->loaded) {
        Py_BEGIN_ALLOW_THREADS
        sl_engine_free(&self->eng);
        Py_END_ALLOW_THREADS
    }
    self->loaded = false;
    Py_TYPE(self)->tp_free((PyObject *) self);
}

static int Engine_init(EngineObject * self, PyObject * args, PyObject * kwds) {
    static char * kwlist[] = {"model_path", "mmproj_path", "n_gpu_layers", "n_ctx", "n_batch", "n_threads",
                              "n_seq_max", NULL};
    const char * model_path = NULL;
    const char * mmproj_path = NULL;
    sl_engine_params p = {.n_gpu_layers = 0, .n_ctx = 4096, .n_batch = 512, .n_threads = 0, .n_seq_max = 9};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|ziiiii", kwlist, &model_path, &mmproj_path, &p.n_gpu_layers,
                                     &p.n_ctx, &p.n_batch, &p.n_threads, &p.n_seq_max)) {
        return -1;
    }
    if (self->loaded) {
        PyErr_SetString(EngineError, "engine already initialised");
        return -1;
    }
    if (p.n_ctx < 64 || p.n_batch < 16) {
        PyErr_SetString(PyExc_ValueError, "n_ctx must be >= 64 and n_batch >= 16");
        return -1;
    }
    p.model_path = model_path;
    p.mmproj_path = mmproj_path;
    int st;
    Py_BEGIN_ALLOW_THREADS
    st = sl_engine_init(&self->eng, &p);
    Py_END_ALLOW_THREADS
    if (st != SL_OK) {
        Engine_raise(self, st);
        return -1;
    }
    self->loaded = true;
    return 0;
}

static PyObject * Engine_close(EngineObject * self, PyObject * unused) {
    if (self->loaded) {
        if (Engine_enter(self) < 0) return NULL;
        Py_BEGIN_ALLOW_THREADS
        sl_engine_free(&self->eng);
        Py_END_ALLOW_THREADS
        self->loaded = false;
        Engine_leave(self);
    }
    Py_RETURN_NONE;
}

static PyObject * tokens_to_list(const llama_token * toks, int32_t n) {
    PyObject * list = PyList_New(n);
    for (int32_t i = 0; list && i < n; i++) PyList_SET_ITEM(list, i, PyLong_FromLong(toks[i]));
    return list;
}

/* list[int] -> malloc'd tokens; validates the range */
static int list_to_tokens(EngineObject * self, PyObject * seq, llama_token ** out, int32_t * n_out) {
    PyObject * fast = PySequence_Fast(seq, "expected a sequence of token ids");
    if (!fast) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    llama_token * toks = malloc(sizeof *toks * (size_t) (n ? n : 1));
    if (!toks) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
        if (v == -1 && PyErr_Occurred()) {
            free(toks);
            Py_DECREF(fast);
            return -1;
        }
        if (v < 0 || v >= self->eng.n_vocab) {
            PyErr_Format(PyExc_ValueError, "token id %ld outside the vocabulary (%d tokens)", v, self->eng.n_vocab);
            free(toks);
            Py_DECREF(fast);
            return -1;
        }
        toks[i] = (llama_token) v;
    }
    Py_DECREF(fast);
    *out = toks;
    *n_out = (int32_t) n;
    return 0;
}

static PyObject * Engine_tokenize(EngineObject * self, PyObject * args, PyObject * kwds) {
    static char * kwlist[] = {"text", "add_special", "parse_special", NULL};
    const char * text;
    Py_ssize_t len;
    int add_special = 0, parse_special = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "s#|pp", kwlist, &text, &len, &add_special, &parse_special)) {
        return NULL;
    }
    if (Engine_enter(self) < 0) return NULL;
    llama_token * toks = NULL;
    int32_t n = 0;
    int st = sl_tokenize(&self->eng, text, (size_t) len, add_special, parse_special, &toks, &n);
    Engine_leave(self);
    if (st != SL_OK) return Engine_raise(self, st);
    PyObject * list = tokens_to_list(toks, n);
    free(toks);
    return list;
}

static PyObject * Engine_detokenize(EngineObject * self, PyObject * args, PyObject * kwds) {
    static char * kwlist[] = {"tokens", "special", NULL};
    PyObject * arg;
    int special = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|p", kwlist, &arg, &special)) return NULL;
    if (!self->loaded) return Engine_raise(self, SL_ERR_ARG);
    llama_token * toks;
    int32_t n;
    if (list_to_tokens(self, arg, &toks, &n) < 0) return NULL;
    size_t cap = 64 + (size_t) n * 16, len = 0;
    char * buf = malloc(cap);
    int32_t piece_cap = 256;
    char * piece = malloc((size_t) piece_cap);
    if (!piece) {
        free(buf);
        buf = NULL;
    }
    for (int32_t i = 0; buf && i < n; i++) {
        int32_t np = sl_token_piece(&self->eng, toks[i], &piece, &piece_cap, special);
        if (np < 0) {
            free(buf);
            free(piece);
            free(toks);
            return Engine_raise(self, self->eng.status);
        }
        if (len + (size_t) np > cap) {
            cap = (len + (size_t) np) * 2;
            char * bigger = realloc(buf, cap);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
        }
        memcpy(buf + len, piece, (size_t) np);
        len += (size_t) np;
    }
    free(piece);
    free(toks);
    if (!buf) return PyErr_NoMemory();
    PyObject * res = PyBytes_FromStringAndSize(buf, (Py_ssize_t) len);
    free(buf);
    return res;
}

static PyObject * Engine_is_eog(EngineObject * self, PyObject * arg) {
    if (!self->loaded) return Engine_raise(self, SL_ERR_ARG);
    long tok = PyLong_AsLong(arg);
    if (tok == -1 && PyErr_Occurred()) return NULL;
    return PyBool_FromLong(llama_vocab_is_eog(self->eng.vocab, (llama_token) tok));
}

/* prepare(text, images, add_special) -> list of int | ImageChunk */
static PyObject * Engine_prepare(EngineObject * self, PyObject * args, PyObject * kwds) {
    static char * kwlist[] = {"text", "images", "add_special", NULL};
    const char * text;
    PyObject * images;
    int add_special = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "sO|p", kwlist, &text, &images, &add_special)) return NULL;
    if (Engine_enter(self) < 0) return NULL;
    sl_engine * eng = &self->eng;
    PyObject * result = NULL;
    PyObject * fast = PySequence_Fast(images, "images must be a sequence of (width, height, rgb, id)");
    Py_ssize_t n_img = fast ? PySequence_Fast_GET_SIZE(fast) : 0;
    mtmd_bitmap ** bitmaps = calloc((size_t) (n_img ? n_img : 1), sizeof *bitmaps);
    mtmd_input_chunks * chunks = mtmd_input_chunks_init();
    if (!fast || !bitmaps || !chunks) {
        if (fast) PyErr_NoMemory();
        goto done;
    }
    if (n_img > 0 && !eng->mctx) {
        PyErr_SetString(NoVisionError, "this model was loaded without a vision projector; it cannot take images");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n_img; i++) {
        unsigned int w, h;
        const char * rgb;
        Py_ssize_t rgb_len;
        const char * id;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "IIy#s", &w, &h, &rgb, &rgb_len, &id)) goto done;
        if (w == 0 || h == 0 || (Py_ssize_t) w * h * 3 != rgb_len) {
            PyErr_Format(PyExc_ValueError, "image %zd: %u x %u RGB needs %zu bytes, got %zd", i, w, h,
                         (size_t) w * h * 3, rgb_len);
            goto done;
        }
        bitmaps[i] = mtmd_bitmap_init(w, h, (const unsigned char *) rgb);
        if (!bitmaps[i]) {
            PyErr_NoMemory();
            goto done;
        }
        mtmd_bitmap_set_id(bitmaps[i], id);
    }
    size_t n_markers = 0;
    const char * marker = mtmd_default_marker();
    for (const char * at = strstr(text, marker); at; at = strstr(at + strlen(marker), marker)) n_markers++;
    if (n_markers != (size_t) n_img) {
        PyErr_Format(PyExc_ValueError, "the prompt has %zu image markers (%s) but %zd images were given", n_markers,
                     marker, n_img);
        goto done;
    }
    if (eng->mctx) {
        mtmd_input_text input = {.text = text, .text_len = strlen(text), .add_special = add_special, .parse_special = true};
        int32_t r;
        sl_log_clear();
        Py_BEGIN_ALLOW_THREADS
        r = mtmd_tokenize(eng->mctx, chunks, &input, (const mtmd_bitmap * const *) bitmaps, (size_t) n_img);
        Py_END_ALLOW_THREADS
        if (r != 0) {
            sl_set_error(eng, SL_ERR_IMAGE, "the vision projector rejected an image (code %d)", r);
            Engine_raise(self, SL_ERR_IMAGE);
            goto done;
        }
        result = PyList_New(0);
        for (size_t c = 0; result && c < mtmd_input_chunks_size(chunks); c++) {
            const mtmd_input_chunk * chunk = mtmd_input_chunks_get(chunks, c);
            enum mtmd_input_chunk_type type = mtmd_input_chunk_get_type(chunk);
            PyObject * item = NULL;
            if (type == MTMD_INPUT_CHUNK_TYPE_TEXT) {
                size_t nt = 0;
                const llama_token * toks = mtmd_input_chunk_get_tokens_text(chunk, &nt);
                for (size_t k = 0; k < nt; k++) {
                    item = PyLong_FromLong(toks[k]);
                    if (!item || PyList_Append(result, item) < 0) Py_CLEAR(result);
                    Py_XDECREF(item);
                    if (!result) break;
                }
                continue;
            }
            if (type != MTMD_INPUT_CHUNK_TYPE_IMAGE) {
                PyErr_SetString(PyExc_ValueError, "only image media are supported");
                Py_CLEAR(result);
                break;
            }
            item = ImageChunk_wrap(chunk, mtmd_input_chunk_get_id(chunk), (int32_t) mtmd_input_chunk_get_n_tokens(chunk),
                                   (int32_t) mtmd_input_chunk_get_n_pos(chunk), eng);
            if (!item || PyList_Append(result, item) < 0) Py_CLEAR(result);
            Py_XDECREF(item);
        }
    } else {
        llama_token * toks = NULL;
        int32_t n = 0;
        int st = sl_tokenize(eng, text, strlen(text), add_special, true, &toks, &n);
        if (st != SL_OK) {
            Engine_raise(self, st);
            goto done;
        }
        result = tokens_to_list(toks, n);
        free(toks);
    }
done:
    for (Py_ssize_t i = 0; bitmaps && i < n_img; i++) {
        if (bitmaps[i]) mtmd_bitmap_free(bitmaps[i]);
    }
    free(bitmaps);
    if (chunks) mtmd_input_chunks_free(chunks);
    Py_XDECREF(fast);
    Engine_leave(self);
    return result;
}

/* Python list of int | ImageChunk -> sl_unit array borrowing the chunks. The
 * caller keeps `keep` (a tuple copy of the list) alive while the array is used. */
static sl_unit * units_from_list(EngineObject * self, PyObject * seq, int32_t * n_out, PyObject ** keep) {
    PyObject * tup = PySequence_Tuple(seq);
    if (!tup) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(tup);
    sl_unit * units = calloc((size_t) (n ? n : 1), sizeof *units);
    if (!units) {
        Py_DECREF(tup);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject * item = PyTuple_GET_ITEM(tup, i);
        if (PyObject_TypeCheck(item, &ImageChunkType)) {
            ImageChunkObject * ic = (ImageChunkObject *) item;
            if (ic->owner != &self->eng) {
                PyErr_SetString(PyExc_ValueError, "an image was prepared by another engine; prepare it again");
                goto fail;
            }
            units[i].chunk = ic->chunk;
            units[i].image_id = ic->id;
            units[i].n_tokens = ic->n_tokens;
            units[i].n_pos = ic->n_pos;
            continue;
        }
        long v = PyLong_AsLong(item);
        if (v == -1 && PyErr_Occurred()) goto fail;
        if (v < 0 || v >= self->eng.n_vocab) {
            PyErr_Format(PyExc_ValueError, "token id %ld outside the vocabulary (%d tokens)", v, self->eng.n_vocab);
            goto fail;
        }
        units[i].token = (llama_token) v;
        units[i].n_tokens = 1;
        units[i].n_pos = 1;
    }
    *n_out = (int32_t) n;
    *keep = tup;
    return units;
fail:
    free(units);
    Py_DECREF(tup);
    return NULL;
}

/* ------------------------------------------------------------ search hooks */

typedef struct {
    PyObject * on_event;
    PyObject * scorer;
    PyObject * exc_type, * exc_value, * exc_tb;
} hook_ctx;

static void hook_keep_error(hook_ctx * h) {
    if (!h->exc_type) PyErr_Fetch(&h->exc_type, &h->exc_value, &h->exc_tb);
    else PyErr_Clear();
}

static int hook_event(void * ud, int kind, int stage, int cand, const char * bytes, size_t len) {
    hook_ctx * h = ud;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject * data = bytes ? PyBytes_FromStringAndSize(bytes, (Py_ssize_t) len) : Py_NewRef(Py_None);
    PyObject * r = data ? PyObject_CallFunction(h->on_event, "iiiO", kind, stage, cand, data) : NULL;
    Py_XDECREF(data);
    int rc = 0;
    if (!r) {
        hook_keep_error(h);
        rc = -1;
    }
    Py_XDECREF(r);
    PyGILState_Release(g);
    return rc;
}

static PyObject * candidate_text(const sl_candidate * c) {
    size_t b = c->content_begin, e = c->content_end > c->content_begin ? c->content_end : c->content_begin;
    return PyUnicode_DecodeUTF8(c->text ? c->text + b : "", (Py_ssize_t) (e - b), "replace");
}

static int hook_score(void * ud, int stage, const sl_candidate * cands, int32_t n, double * scores) {
    hook_ctx * h = ud;
    PyGILState_STATE g = PyGILState_Ensure();
    int rc = -1;
    PyObject * list = PyList_New(n);
    for (int32_t i = 0; list && i < n; i++) {
        const sl_candidate * c = &cands[i];
        PyObject * d = Py_BuildValue("{s:N,s:i,s:d}", "text", candidate_text(c), "n_tokens", c->n_toks,
                                     "mean_logprob", c->n_toks ? c->sum_logprob / c->n_toks : -INFINITY);
        if (!d) Py_CLEAR(list);
        else PyList_SET_ITEM(list, i, d);
    }
    PyObject * r = list ? PyObject_CallFunction(h->scorer, "iO", stage, list) : NULL;
    PyObject * fast = r ? PySequence_Fast(r, "the scorer must return a sequence of numbers") : NULL;
    if (fast && PySequence_Fast_GET_SIZE(fast) != n) {
        PyErr_Format(PyExc_ValueError, "the scorer returned %zd scores for %d candidates",
                     PySequence_Fast_GET_SIZE(fast), n);
    } else if (fast) {
        rc = 0;
        for (int32_t i = 0; i < n; i++) {
            scores[i] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(fast, i));
            if (scores[i] == -1.0 && PyErr_Occurred()) {
                rc = -1;
                break;
            }
        }
    }
    if (rc != 0) hook_keep_error(h);
    Py_XDECREF(fast);
    Py_XDECREF(r);
    Py_XDECREF(list);
    PyGILState_Release(g);
    return rc;
}

/* ---------------------------------------------------------- search args */

typedef struct {
    sl_stage_spec stages[4];
    int32_t n_stages;
    sl_search_params sp;
} search_args;

static void search_args_free(search_args * a) {
    for (int32_t s = 0; s < 4; s++) {
        free((void *) a->stages[s].name);
        free((void *) a->stages[s].open_text);
        free((void *) a->stages[s].close_text);
        free(a->stages[s].open_tokens);
        free(a->stages[s].close_tokens);
        free(a->stages[s].judge_head);
    }
    free(a->sp.judge_mid);
    free(a->sp.judge_tail);
}

static int dict_tokens(EngineObject * self, PyObject * d, const char * key, llama_token ** out, int32_t * n) {
    PyObject * v = PyDict_GetItemString(d, key);
    if (!v) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    return list_to_tokens(self, v, out, n);
}

static int dict_str(PyObject * d, const char * key, const char ** out) {
    PyObject * v = PyDict_GetItemString(d, key);
    const char * s = v ? PyUnicode_AsUTF8(v) : NULL;
    if (!s) {
        if (!PyErr_Occurred()) PyErr_Format(PyExc_KeyError, "stage needs '%s'", key);
        return -1;
    }
    *out = sl_strdup(s);
    return *out ? 0 : -1;
}

static int dict_num(PyObject * d, const char * key, double dflt, double * out) {
    PyObject * v = PyDict_GetItemString(d, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    *out = PyFloat_AsDouble(v);
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

static int parse_search_args(EngineObject * self, PyObject * stages, PyObject * params, search_args * a) {
    memset(a, 0, sizeof *a);
    PyObject * fast = PySequence_Fast(stages, "stages must be a sequence of dicts");
    if (!fast) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n < 1 || n > 4) {
        Py_DECREF(fast);
        PyErr_SetString(PyExc_ValueError, "between 1 and 4 stages");
        return -1;
    }
    a->n_stages = (int32_t) n;
    for (Py_ssize_t s = 0; s < n; s++) {
        PyObject * d = PySequence_Fast_GET_ITEM(fast, s);
        sl_stage_spec * st = &a->stages[s];
        if (!PyDict_Check(d) || dict_str(d, "name", &st->name) || dict_str(d, "open_text", &st->open_text) ||
            dict_str(d, "close_text", &st->close_text) || dict_tokens(self, d, "open_tokens", &st->open_tokens, &st->n_open) ||
            dict_tokens(self, d, "close_tokens", &st->close_tokens, &st->n_close) ||
            dict_tokens(self, d, "judge_head", &st->judge_head, &st->n_judge_head)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "each stage must be a dict");
            Py_DECREF(fast);
            return -1;
        }
        if (!st->close_text[0] || !st->open_text[0]) {
            Py_DECREF(fast);
            PyErr_SetString(PyExc_ValueError, "stage tags must not be empty");
            return -1;
        }
    }
    Py_DECREF(fast);
    if (!PyDict_Check(params)) {
        PyErr_SetString(PyExc_TypeError, "params must be a dict");
        return -1;
    }
    double beam, budget, temp, top_p, top_k, seed, force, flush_ms, ca, cb;
    if (dict_num(params, "beam", 1, &beam) || dict_num(params, "max_stage_tokens", 128, &budget) ||
        dict_num(params, "temperature", 0.6, &temp) || dict_num(params, "top_p", 0.9, &top_p) ||
        dict_num(params, "top_k", 40, &top_k) || dict_num(params, "seed", 0, &seed) ||
        dict_num(params, "force_stages", 1, &force) || dict_num(params, "flush_ms", 50, &flush_ms) ||
        dict_num(params, "judge_choice_a", -1, &ca) || dict_num(params, "judge_choice_b", -1, &cb) ||
        dict_tokens(self, params, "judge_mid", &a->sp.judge_mid, &a->sp.n_judge_mid) ||
        dict_tokens(self, params, "judge_tail", &a->sp.judge_tail, &a->sp.n_judge_tail)) {
        return -1;
    }
    if (seed < 0 || seed > 4294967295.0) {
        PyErr_SetString(PyExc_ValueError, "seed must fit in 32 bits");
        return -1;
    }
    a->sp.beam = (int32_t) beam;
    a->sp.max_stage_tokens = (int32_t) budget;
    a->sp.temperature = (float) temp;
    a->sp.top_p = (float) top_p;
    a->sp.top_k = (int32_t) top_k;
    a->sp.seed = (uint32_t) seed;
    a->sp.force_stages = force != 0;
    a->sp.flush_ms = (int32_t) flush_ms;
    a->sp.judge_choice_a = (llama_token) ca;
    a->sp.judge_choice_b = (llama_token) cb;
    if ((ca >= 0 && ca >= self->eng.n_vocab) || (cb >= 0 && cb >= self->eng.n_vocab)) {
        PyErr_SetString(PyExc_ValueError, "judge choice token outside the vocabulary");
        return -1;
    }
    PyObject * scorer = PyDict_GetItemString(params, "scorer");
    const char * sc = scorer ? PyUnicode_AsUTF8(scorer) : "logprob";
    PyObject * mode = PyDict_GetItemString(params, "mode");
    const char * md = mode ? PyUnicode_AsUTF8(mode) : "batched";
    if (!sc || !md) return -1;
    if (strcmp(sc, "logprob") == 0) a->sp.scorer = SL_SCORER_LOGPROB;
    else if (strcmp(sc, "judge") == 0) a->sp.scorer = SL_SCORER_JUDGE;
    else if (strcmp(sc, "python") == 0) a->sp.scorer = SL_SCORER_EXTERNAL;
    else {
        PyErr_Format(PyExc_ValueError, "unknown scorer '%s' (logprob, judge, python)", sc);
        return -1;
    }
    if (strcmp(md, "batched") == 0) a->sp.mode = SL_MODE_BATCHED;
    else if (strcmp(md, "reference") == 0) a->sp.mode = SL_MODE_REFERENCE;
    else {
        PyErr_Format(PyExc_ValueError, "unknown mode '%s' (batched, reference)", md);
        return -1;
    }
    return 0;
}

static const char * closed_name(int c) {
    switch (c) {
        case SL_CLOSED_TAG: return "tag";
        case SL_CLOSED_BUDGET: return "budget";
        case SL_CLOSED_EOS: return "eos";
        case SL_CLOSED_CANCEL: return "cancel";
        default: return "running";
    }
}

static PyObject * result_to_dict(const sl_result * res, const search_args * a) {
    PyObject * stages = PyList_New(0);
    for (int32_t s = 0; stages && s < res->n_stages; s++) {
        const sl_stage_result * sr = &res->stages[s];
        PyObject * cands = PyList_New(sr->n_cands);
        for (int32_t i = 0; cands && i < sr->n_cands; i++) {
            const sl_candidate * c = &sr->cands[i];
            PyObject * d = Py_BuildValue(
                "{s:N,s:N,s:i,s:d,s:d,s:s,s:O,s:O,s:d}", "text", candidate_text(c), "tokens",
                tokens_to_list(c->toks, c->n_toks), "n_tokens", c->n_toks, "mean_logprob",
                c->n_toks ? c->sum_logprob / c->n_toks : -INFINITY, "score", c->score, "closed_by",
                closed_name(c->closed_by), "saw_open", c->saw_open ? Py_True : Py_False, "saw_close",
                c->saw_close ? Py_True : Py_False, "wall_s", c->wall_s);
            if (!d) Py_CLEAR(cands);
            else PyList_SET_ITEM(cands, i, d);
        }
        bool complete = sr->cands && sr->winner >= 0 && (s < res->n_stages - 1 || !res->cancelled);
        PyObject * d = cands ? Py_BuildValue("{s:s,s:i,s:O,s:O,s:N}", "name", a->stages[s].name, "winner",
                                             complete ? sr->winner : -1, "forced_open",
                                             sr->forced_open ? Py_True : Py_False, "forced_close",
                                             sr->forced_close ? Py_True : Py_False, "candidates", cands)
                             : NULL;
        if (!d || PyList_Append(stages, d) < 0) Py_CLEAR(stages);
        Py_XDECREF(d);
    }
    if (!stages) return NULL;
    return Py_BuildValue("{s:N,s:O,s:{s:L,s:L,s:L,s:L,s:L,s:L,s:d}}", "stages", stages, "cancelled",
                         res->cancelled ? Py_True : Py_False, "stats", "image_encodes", (long long) res->image_encodes,
                         "prefill_tokens", (long long) res->prefill_tokens, "prompt_tokens",
                         (long long) res->prompt_tokens, "decode_tokens",
                         (long long) res->decode_tokens, "judge_calls", (long long) res->judge_calls, "judge_tokens",
                         (long long) res->judge_tokens, "wall_s", res->wall_s);
}

static PyObject * Engine_search(EngineObject * self, PyObject * args, PyObject * kwds) {
    static char * kwlist[] = {"units", "stages", "params", "on_event", "scorer", "cancel", NULL};
    PyObject * units_obj, * stages, * params, * on_event = Py_None, * scorer = Py_None, * cancel = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO|OOO", kwlist, &units_obj, &stages, &params, &on_event, &scorer,
                                     &cancel)) {
        return NULL;
    }
    if (cancel != Py_None && !PyObject_TypeCheck(cancel, &CancelFlagType)) {
        PyErr_SetString(PyExc_TypeError, "cancel must be a CancelFlag");
        return NULL;
    }
    if ((on_event != Py_None && !PyCallable_Check(on_event)) || (scorer != Py_None && !PyCallable_Check(scorer))) {
        PyErr_SetString(PyExc_TypeError, "on_event and scorer must be callable");
        return NULL;
    }
    if (Engine_enter(self) < 0) return NULL;
    search_args a;
    PyObject * keep = NULL, * result = NULL;
    int32_t n_units = 0;
    sl_unit * units = NULL;
    if (parse_search_args(self, stages, params, &a) < 0) goto done;
    if (a.sp.scorer == SL_SCORER_EXTERNAL && scorer == Py_None) {
        PyErr_SetString(PyExc_ValueError, "scorer 'python' needs a scorer callable");
        goto done;
    }
    units = units_from_list(self, units_obj, &n_units, &keep);
    if (!units) goto done;

    hook_ctx h = {.on_event = on_event != Py_None ? on_event : NULL, .scorer = scorer != Py_None ? scorer : NULL};
    sl_hooks hooks = {.on_event = h.on_event ? hook_event : NULL, .score = h.scorer ? hook_score : NULL, .ud = &h};
    sl_result res;
    int st;
    self->eng.cancel = cancel != Py_None ? &((CancelFlagObject *) cancel)->flag : NULL;
    Py_BEGIN_ALLOW_THREADS
    st = sl_search(&self->eng, units, n_units, a.stages, a.n_stages, &a.sp, &hooks, &res);
    Py_END_ALLOW_THREADS
    self->eng.cancel = NULL;
    if (h.exc_type) {
        /* a hook raised: that exception is the answer, whatever the status says */
        PyErr_Restore(h.exc_type, h.exc_value, h.exc_tb);
    } else if (st != SL_OK) {
        Engine_raise(self, st);
    } else {
        result = result_to_dict(&res, &a);
    }
    sl_result_free(&res);
done:
    free(units);
    Py_XDECREF(keep);
    search_args_free(&a);
    Engine_leave(self);
    return result;
}

static PyObject * Engine_fork_logits(EngineObject * self, PyObject * args) {
    PyObject * units_obj, * branches_obj;
    if (!PyArg_ParseTuple(args, "OO", &units_obj, &branches_obj)) return NULL;
    if (Engine_enter(self) < 0) return NULL;
    PyObject * keep = NULL, * result = NULL, * fast = NULL;
    int32_t n_units = 0, n = 0;
    llama_token ** branches = NULL;
    int32_t * lens = NULL;
    float * logits = NULL;
    sl_unit * units = units_from_list(self, units_obj, &n_units, &keep);
    if (!units) goto done;
    fast = PySequence_Fast(branches_obj, "branches must be a sequence of token lists");
    if (!fast) goto done;
    n = (int32_t) PySequence_Fast_GET_SIZE(fast);
    branches = calloc((size_t) (n ? n : 1), sizeof *branches);
    lens = calloc((size_t) (n ? n : 1), sizeof *lens);
    logits = malloc(sizeof *logits * (size_t) (n ? n : 1) * (size_t) self->eng.n_vocab);
    if (!branches || !lens || !logits) {
        PyErr_NoMemory();
        goto done;
    }
    for (int32_t i = 0; i < n; i++) {
        if (list_to_tokens(self, PySequence_Fast_GET_ITEM(fast, i), &branches[i], &lens[i]) < 0) goto done;
    }
    int st;
    Py_BEGIN_ALLOW_THREADS
    st = sl_fork_logits(&self->eng, units, n_units, branches, lens, n, logits);
    Py_END_ALLOW_THREADS
    if (st != SL_OK) {
        Engine_raise(self, st);
        goto done;
    }
    result = PyList_New(n);
    for (int32_t i = 0; result && i < n; i++) {
        PyObject * b = PyBytes_FromStringAndSize((const char *) (logits + (size_t) i * self->eng.n_vocab),
                                                 (Py_ssize_t) (sizeof(float) * (size_t) self->eng.n_vocab));
        if (!b) Py_CLEAR(result);
        else PyList_SET_ITEM(result, i, b);
    }
done:
    for (int32_t i = 0; branches && i < n; i++) free(branches[i]);
    free(branches);
    free(lens);
    free(logits);
    free(units);
    Py_XDECREF(fast);
    Py_XDECREF(keep);
    Engine_leave(self);
    return result;
}

static PyObject * Engine_reset(EngineObject * self, PyObject * unused) {
    if (Engine_enter(self) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    sl_trunk_reset(&self->eng);
    Py_END_ALLOW_THREADS
    Engine_leave(self);
    Py_RETURN_NONE;
}

static PyObject * Engine_inject_fault(EngineObject * self, PyObject * args) {
    const char * kind;
    int after;
    if (!PyArg_ParseTuple(args, "si", &kind, &after)) return NULL;
    if (after < 0) {
        PyErr_SetString(PyExc_ValueError, "after must be >= 0 (0 turns the fault off)");
        return NULL;
    }
    if (strcmp(kind, "decode") == 0) {
        self->eng.fault_decode_in = after;
    } else if (strcmp(kind, "image") == 0) {
        self->eng.fault_image_in = after;
    } else {
        PyErr_Format(PyExc_ValueError, "unknown fault %s (decode or image)", kind);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject * Engine_trunk_units(EngineObject * self, PyObject * unused) {
    if (Engine_enter(self) < 0) return NULL;
    const sl_trunk * t = &self->eng.trunk;
    PyObject * list = PyList_New(t->n_units);
    for (int32_t i = 0; list && i < t->n_units; i++) {
        const sl_unit * u = &t->units[i];
        PyObject * item = u->chunk ? ImageChunk_wrap(u->chunk, u->image_id, u->n_tokens, u->n_pos, &self->eng)
                                   : PyLong_FromLong(u->token);
        if (!item) Py_CLEAR(list);
        else PyList_SET_ITEM(list, i, item);
    }
    Engine_leave(self);
    return list;
}

static PyObject * Engine_meta(EngineObject * self, PyObject * arg) {
    if (!self->loaded) return Engine_raise(self, SL_ERR_ARG);
    const char * key = PyUnicode_AsUTF8(arg);
    if (!key) return NULL;
    int32_t n = llama_model_meta_val_str(self->eng.model, key, NULL, 0);
    if (n < 0) Py_RETURN_NONE;
    char * buf = malloc((size_t) n + 1);
    if (!buf) return PyErr_NoMemory();
    llama_model_meta_val_str(self->eng.model, key, buf, (size_t) n + 1);
    PyObject * r = PyUnicode_DecodeUTF8(buf, n, "replace");
    free(buf);
    return r;
}

static PyObject * Engine_info(EngineObject * self, PyObject * unused) {
    if (!self->loaded) return Engine_raise(self, SL_ERR_ARG);
    sl_engine * e = &self->eng;
    char desc[256];
    llama_model_desc(e->model, desc, sizeof desc);
    const char * tmpl = llama_model_chat_template(e->model, NULL);
    const struct llama_vocab * v = e->vocab;
    return Py_BuildValue(
        "{s:s,s:K,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:z,s:O,s:O,s:i,s:i,s:O,s:s}", "desc", desc, "n_params",
        (unsigned long long) llama_model_n_params(e->model), "n_embd", llama_model_n_embd(e->model), "n_ctx_train",
        llama_model_n_ctx_train(e->model), "n_ctx", e->n_ctx, "n_batch", e->n_batch, "n_seq_max", e->n_seq_max,
        "n_vocab", e->n_vocab, "n_trunk_units", e->trunk.n_units, "chat_template", tmpl, "has_vision",
        e->mctx && mtmd_support_vision(e->mctx) ? Py_True : Py_False, "uses_mrope",
        e->mctx && mtmd_decode_use_mrope(e->mctx) ? Py_True : Py_False, "bos", llama_vocab_bos(v), "eos",
        llama_vocab_eos(v), "add_bos", llama_vocab_get_add_bos(v) ? Py_True : Py_False, "media_marker",
        mtmd_default_marker());
}

static PyMethodDef Engine_methods[] = {
    {"close", (PyCFunction) Engine_close, METH_NOARGS, "Free the model, context and projector."},
    {"tokenize", (PyCFunction) (void (*)(void)) Engine_tokenize, METH_VARARGS | METH_KEYWORDS,
     "tokenize(text, add_special=False, parse_special=True) -> list[int]"},
    {"detokenize", (PyCFunction) (void (*)(void)) Engine_detokenize, METH_VARARGS | METH_KEYWORDS,
     "detokenize(tokens, special=False) -> bytes"},
    {"is_eog", (PyCFunction) Engine_is_eog, METH_O, "is_eog(token) -> bool"},
    {"prepare", (PyCFunction) (void (*)(void)) Engine_prepare, METH_VARARGS | METH_KEYWORDS,
     "prepare(text, images, add_special=False) -> list[int | ImageChunk]; images are (w, h, rgb, id)"},
    {"search", (PyCFunction) (void (*)(void)) Engine_search, METH_VARARGS | METH_KEYWORDS,
     "search(units, stages, params, on_event=None, scorer=None, cancel=None) -> dict"},
    {"fork_logits", (PyCFunction) Engine_fork_logits, METH_VARARGS,
     "fork_logits(units, branches) -> list[bytes]: final float32 logits of each branch decoded in parallel"},
    {"reset", (PyCFunction) Engine_reset, METH_NOARGS, "Forget the cached prefix."},
    {"_inject_fault", (PyCFunction) Engine_inject_fault, METH_VARARGS,
     "_inject_fault(kind, n): for tests, the n-th next 'decode' or 'image' encode fails (0: off)."},
    {"trunk_units", (PyCFunction) Engine_trunk_units, METH_NOARGS, "The cached prefix: list[int | ImageChunk]."},
    {"meta", (PyCFunction) Engine_meta, METH_O, "A GGUF metadata value as a string, or None."},
    {"info", (PyCFunction) Engine_info, METH_NOARGS, "Model and context facts."},
    {NULL}};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stagelens.engine._native.Engine",
    .tp_basicsize = sizeof(EngineObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc) Engine_init,
    .tp_dealloc = (destructor) Engine_dealloc,
    .tp_methods = Engine_methods,
    .tp_doc = "Engine(model_path, mmproj_path=None, n_gpu_layers=0, n_ctx=4096, n_batch=512, n_threads=0, "
              "n_seq_max=9)",
};

/* ======================================================= module functions */

static PyObject * mod_devices(PyObject * m, PyObject * unused) {
    PyObject * list = PyList_New(0);
    for (size_t i = 0; list && i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        size_t free_mem = 0, total_mem = 0;
        ggml_backend_dev_memory(dev, &free_mem, &total_mem);
        enum ggml_backend_dev_type type = ggml_backend_dev_type(dev);
        const char * kind = type == GGML_BACKEND_DEVICE_TYPE_CPU ? "cpu"
                            : type == GGML_BACKEND_DEVICE_TYPE_GPU ? "gpu"
                            : type == GGML_BACKEND_DEVICE_TYPE_IGPU ? "igpu"
                                                                   : "accel";
        ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
        PyObject * d = Py_BuildValue("{s:s,s:s,s:s,s:s,s:K,s:K}", "name", ggml_backend_dev_name(dev), "description",
                                     ggml_backend_dev_description(dev), "type", kind, "backend",
                                     reg ? ggml_backend_reg_name(reg) : "", "free", (unsigned long long) free_mem,
                                     "total", (unsigned long long) total_mem);
        if (!d || PyList_Append(list, d) < 0) Py_CLEAR(list);
        Py_XDECREF(d);
    }
    return list;
}

static PyObject * mod_system_info(PyObject * m, PyObject * unused) { return PyUnicode_FromString(llama_print_system_info()); }

static PyObject * mod_supports_gpu_offload(PyObject * m, PyObject * unused) {
    return PyBool_FromLong(llama_supports_gpu_offload());
}

/* scan_tags(pieces, open_text, close_text, forced) -> (content, saw_open, saw_close, streamable):
 * runs the search's own tag detection over text arriving piece by piece. */
static PyObject * mod_scan_tags(PyObject * m, PyObject * args) {
    PyObject * pieces;
    const char * open_text, * close_text;
    int forced;
    if (!PyArg_ParseTuple(args, "Ossp", &pieces, &open_text, &close_text, &forced)) return NULL;
    PyObject * fast = PySequence_Fast(pieces, "pieces must be a sequence of bytes");
    if (!fast) return NULL;
    sl_candidate c;
    memset(&c, 0, sizeof c);
    sl_stage_spec st = {.name = "test", .open_text = open_text, .close_text = close_text};
    size_t safe = 0;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fast) && !c.saw_close; i++) {
        char * buf;
        Py_ssize_t len;
        if (PyBytes_AsStringAndSize(PySequence_Fast_GET_ITEM(fast, i), &buf, &len) < 0) {
            sl_candidate_free(&c);
            Py_DECREF(fast);
            return NULL;
        }
        size_t old = c.text_len;
        if (sl_candidate_append(&c, 0, buf, (int32_t) len) != SL_OK) {
            sl_candidate_free(&c);
            Py_DECREF(fast);
            return PyErr_NoMemory();
        }
        safe = sl_candidate_scan(&c, &st, forced, old);
    }
    Py_DECREF(fast);
    size_t end = c.content_end > c.content_begin ? c.content_end : c.content_begin;
    PyObject * res = Py_BuildValue("(y#OOn)", c.text ? c.text + c.content_begin : "", (Py_ssize_t) (end - c.content_begin),
                                   c.saw_open ? Py_True : Py_False, c.saw_close ? Py_True : Py_False,
                                   (Py_ssize_t) (safe > c.content_begin ? safe - c.content_begin : 0));
    sl_candidate_free(&c);
    return res;
}

static PyMethodDef module_methods[] = {
    {"scan_tags", mod_scan_tags, METH_VARARGS, "Run the stage-tag detector over pieces (for tests)."},
    {"devices", mod_devices, METH_NOARGS, "Compute devices the loaded ggml backends see."},
    {"system_info", mod_system_info, METH_NOARGS, "llama.cpp's system info line."},
    {"supports_gpu_offload", mod_supports_gpu_offload, METH_NOARGS, "Whether layers can be offloaded."},
    {NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_native",
    .m_doc = "Native stage-level beam search over libllama + libmtmd.",
    .m_size = -1,
    .m_methods = module_methods,
};

static int add_exc(PyObject * m, PyObject ** slot, const char * name, PyObject * base, const char * doc) {
    *slot = PyErr_NewExceptionWithDoc(name, doc, base, NULL);
    return *slot ? PyModule_AddObjectRef(m, strrchr(name, '.') + 1, *slot) : -1;
}

PyMODINIT_FUNC PyInit__native(void) {
    if (PyType_Ready(&EngineType) < 0 || PyType_Ready(&CancelFlagType) < 0 || PyType_Ready(&ImageChunkType) < 0) {
        return NULL;
    }
    PyObject * m = PyModule_Create(&module_def);
    if (!m) return NULL;
    if (add_exc(m, &EngineError, "stagelens.engine._native.EngineError", PyExc_RuntimeError, "Base engine error.") ||
        add_exc(m, &ModelLoadError, "stagelens.engine._native.ModelLoadError", EngineError, "A model failed to load.") ||
        add_exc(m, &NoVisionError, "stagelens.engine._native.NoVisionError", EngineError, "No vision support.") ||
        add_exc(m, &ImageRejectedError, "stagelens.engine._native.ImageRejectedError", EngineError,
                "The projector rejected an image.") ||
        add_exc(m, &ContextOverflowError, "stagelens.engine._native.ContextOverflowError", EngineError,
                "Does not fit the context.") ||
        add_exc(m, &KVCacheFullError, "stagelens.engine._native.KVCacheFullError", EngineError, "No KV slot.") ||
        add_exc(m, &DecodeError, "stagelens.engine._native.DecodeError", EngineError, "Decoding failed.") ||
        PyModule_AddObjectRef(m, "Engine", (PyObject *) &EngineType) < 0 ||
        PyModule_AddObjectRef(m, "CancelFlag", (PyObject *) &CancelFlagType) < 0 ||
        PyModule_AddObjectRef(m, "ImageChunk", (PyObject *) &ImageChunkType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "EVENT_STAGE_BEGIN", SL_EV_STAGE_BEGIN);
    PyModule_AddIntConstant(m, "EVENT_TEXT", SL_EV_TEXT);
    PyModule_AddIntConstant(m, "EVENT_STAGE_END", SL_EV_STAGE_END);
    llama_backend_init();
    sl_log_install();
    return m;
}
