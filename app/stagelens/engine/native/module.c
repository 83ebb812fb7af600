/* Python binding of the native core: stagelens.engine._native.
 *
 * Module init and the Engine type's methods. Arguments are converted in
 * py_convert.c, test-only methods live in py_testing.c; no search logic here.
 * The GIL is released around every llama/mtmd call and status codes become
 * exceptions. */
#include "py_objects.h"
#include "py_convert.h"
#include "py_testing.h"
#include "py_verifier.h"

#include <stdlib.h>
#include <string.h>

#include "ggml-backend.h"
#include "sl_bestof.h"
#include "sl_ceiling.h"
#include "sl_engine.h"
#include "sl_probe.h"
#include "sl_search.h"

/* ================================================================ Engine */

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
                              "n_seq_max", "flash_attn", NULL};
    sl_engine_params p;
    /* every argument required: the defaults live in stagelens.settings (a NUL in a path is an error) */
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "sziiiiii", kwlist, &p.model_path, &p.mmproj_path, &p.n_gpu_layers,
                                     &p.n_ctx, &p.n_batch, &p.n_threads, &p.n_seq_max, &p.flash_attn)) {
        return -1;
    }
    if (self->loaded) {
        PyErr_SetString(EngineError, "engine already initialised");
        return -1;
    }
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

static PyObject * Engine_configure(EngineObject * self, PyObject * args, PyObject * kwds) {
    static char * kwlist[] = {"stages", "judge", NULL};
    PyObject * stages, * judge;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO", kwlist, &stages, &judge)) return NULL;
    if (Engine_enter(self) < 0) return NULL;
    sl_stage_spec specs[SL_MAX_STAGES];
    sl_judge_spec judge_spec;
    int32_t n = 0;
    PyObject * result = NULL;
    if (stage_specs_from_python(self, stages, judge, specs, &n, &judge_spec) == 0) {
        int st = sl_search_configure(&self->eng, specs, n, &judge_spec);
        for (int32_t s = 0; s < SL_MAX_STAGES; s++) sl_stage_spec_free(&specs[s]);
        sl_judge_spec_free(&judge_spec);
        result = st == SL_OK ? Py_NewRef(Py_None) : Engine_raise(self, st);
    }
    Engine_leave(self);
    return result;
}

static PyObject * Engine_tokenize(EngineObject * self, PyObject * args, PyObject * kwds) {
    static char * kwlist[] = {"text", "add_special", "parse_special", NULL};
    const char * text;
    Py_ssize_t len;
    int add_special, parse_special;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "s#pp", kwlist, &text, &len, &add_special, &parse_special)) {
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
    int special;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "Op", kwlist, &arg, &special)) return NULL;
    /* reads only the vocabulary: allowed while a search runs (e.g. from an event handler) */
    if (!self->loaded) {
        PyErr_SetString(EngineError, "the engine is closed");
        return NULL;
    }
    sl_tokens tv;
    if (list_to_tokens(self, arg, &tv) < 0) return NULL;
    llama_token * toks = tv.toks;
    int32_t n = tv.n;
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
    if (!self->loaded) {
        PyErr_SetString(EngineError, "the engine is closed");
        return NULL;
    }
    long tok = PyLong_AsLong(arg);
    if (tok == -1 && PyErr_Occurred()) return NULL;
    return PyBool_FromLong(llama_vocab_is_eog(self->eng.vocab, (llama_token) tok));
}


static PyObject * Engine_meta(EngineObject * self, PyObject * arg) {
    if (!self->loaded) {
        PyErr_SetString(EngineError, "the engine is closed");
        return NULL;
    }
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
    if (!self->loaded) {
        PyErr_SetString(EngineError, "the engine is closed");
        return NULL;
    }
    sl_engine * e = &self->eng;
    char desc[256];
    llama_model_desc(e->model, desc, sizeof desc);
    const char * tmpl = llama_model_chat_template(e->model, NULL);
    const struct llama_vocab * v = e->vocab;
    return Py_BuildValue(
        "{s:s,s:K,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:z,s:O,s:O,s:i,s:i,s:O,s:s}", "desc", desc, "n_params",
        (unsigned long long) llama_model_n_params(e->model), "n_embd", llama_model_n_embd(e->model), "n_ctx_train",
        llama_model_n_ctx_train(e->model), "n_ctx", e->n_ctx, "n_batch", e->n_batch, "n_seq_max", e->n_seq_max,
        "n_vocab", e->n_vocab, "n_swa", e->n_swa, "n_trunk_units", e->trunk.n_units, "n_segments",
        e->trunk.n_segs, "chat_template", tmpl, "has_vision",
        e->mctx && mtmd_support_vision(e->mctx) ? Py_True : Py_False, "uses_mrope",
        e->mctx && mtmd_decode_use_mrope(e->mctx) ? Py_True : Py_False, "bos", llama_vocab_bos(v), "eos",
        llama_vocab_eos(v), "add_bos", llama_vocab_get_add_bos(v) ? Py_True : Py_False, "media_marker",
        mtmd_default_marker());
}

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
static PyObject * Engine_prepare(EngineObject * self, PyObject * args, PyObject * kwds) {
    static char * kwlist[] = {"text", "images", "add_special", NULL};
    const char * text;
    Py_ssize_t len;
    PyObject * images;
    int add_special;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "s#Op", kwlist, &text, &len, &images, &add_special)) return NULL;
    if (Engine_enter(self) < 0) return NULL;
    PyObject * result = prepare_units(self, text, len, images, add_special);
    Engine_leave(self);
    return result;
}

static PyObject * Engine_segment_keys(EngineObject * self, PyObject * unused) {
    if (Engine_enter(self) < 0) return NULL;
    const sl_trunk * t = &self->eng.trunk;
    PyObject * list = PyList_New(t->n_segs);
    for (int32_t i = 0; list && i < t->n_segs; i++) {
        PyObject * key = PyBytes_FromStringAndSize((const char *) t->segs[i].key, (Py_ssize_t) t->segs[i].key_len);
        if (!key) Py_CLEAR(list);
        else PyList_SET_ITEM(list, i, key);
    }
    Engine_leave(self);
    return list;
}

static PyObject * Engine_common_segments(EngineObject * self, PyObject * arg) {
    PyObject * fast = PySequence_Fast(arg, "keys must be a sequence of bytes");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    const uint8_t ** keys = calloc((size_t) (n ? n : 1), sizeof *keys);
    size_t * lens = calloc((size_t) (n ? n : 1), sizeof *lens);
    PyObject * result = NULL;
    if (!keys || !lens) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        char * key;
        Py_ssize_t len;
        if (PyBytes_AsStringAndSize(PySequence_Fast_GET_ITEM(fast, i), &key, &len) < 0) goto done;
        keys[i] = (const uint8_t *) key;
        lens[i] = (size_t) len;
    }
    if (Engine_enter(self) < 0) goto done;
    int32_t common = sl_conv_common(&self->eng, (const uint8_t * const *) keys, lens, (int32_t) n);
    Engine_leave(self);
    result = PyLong_FromLong(common);
done:
    free(keys);
    free(lens);
    Py_DECREF(fast);
    return result;
}

static PyObject * Engine_replace_segments(EngineObject * self, PyObject * args, PyObject * kwds) {
    static char * kwlist[] = {"keep", "segments", NULL};
    int keep;
    PyObject * segments;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iO", kwlist, &keep, &segments)) return NULL;
    if (Engine_enter(self) < 0) return NULL;
    py_segments segs;
    PyObject * result = NULL;
    if (segments_from_list(self, segments, &segs) == 0) {
        int st;
        Py_BEGIN_ALLOW_THREADS
        st = sl_conv_replace(&self->eng, keep, segs.segs, segs.n);
        Py_END_ALLOW_THREADS
        result = st == SL_OK ? Py_NewRef(Py_None) : Engine_raise(self, st);
        segments_free(&segs);
    }
    Engine_leave(self);
    return result;
}

static PyObject * Engine_search(EngineObject * self, PyObject * args, PyObject * kwds) {
    static char * kwlist[] = {"params", "on_event", "scorer", "cancel", NULL};
    PyObject * params, * on_event, * scorer, * cancel;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OOO", kwlist, &SearchParamsType, &params, &on_event, &scorer,
                                     &cancel)) {
        return NULL;
    }
    if (cancel != Py_None && !PyObject_TypeCheck(cancel, &CancelFlagType)) {
        PyErr_SetString(PyExc_TypeError, "cancel must be a CancelFlag or None");
        return NULL;
    }
    if ((on_event != Py_None && !PyCallable_Check(on_event)) || (scorer != Py_None && !PyCallable_Check(scorer))) {
        PyErr_SetString(PyExc_TypeError, "on_event and scorer must be callable or None");
        return NULL;
    }
    const sl_search_params * sp = &((SearchParamsObject *) params)->sp;
    if (sp->scorer == SL_SCORER_EXTERNAL && scorer == Py_None) {
        PyErr_SetString(PyExc_ValueError, "the external scorer needs a scorer callable");
        return NULL;
    }
    if (Engine_enter(self) < 0) return NULL;
    hook_ctx h = {.on_event = on_event != Py_None ? on_event : NULL, .scorer = scorer != Py_None ? scorer : NULL};
    sl_hooks hooks = hooks_for(&h);
    sl_result res;
    int st;
    PyObject * result = NULL;
    self->eng.cancel = cancel != Py_None ? &((CancelFlagObject *) cancel)->flag : NULL;
    Py_BEGIN_ALLOW_THREADS
    st = sp->best_of > 1 ? sl_best_of_search(&self->eng, sp, &hooks, &res) : sl_search(&self->eng, sp, &hooks, &res);
    Py_END_ALLOW_THREADS
    self->eng.cancel = NULL;
    if (h.exc_type) {
        /* a hook raised: that exception is the answer, whatever the status says */
        PyErr_Restore(h.exc_type, h.exc_value, h.exc_tb);
    } else if (st != SL_OK) {
        Engine_raise(self, st);
    } else {
        result = result_to_dict(&self->eng, &res);
    }
    sl_result_free(&res);
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

/* decode_ceiling(prefix, steps, widths) -> (prefill_s, [[seconds of each step] per width]) */
static PyObject * Engine_decode_ceiling(EngineObject * self, PyObject * args) {
    int prefix, steps;
    PyObject * widths_obj;
    if (!PyArg_ParseTuple(args, "iiO", &prefix, &steps, &widths_obj)) return NULL;
    PyObject * fast = PySequence_Fast(widths_obj, "widths must be a sequence of integers");
    if (!fast) return NULL;
    int32_t n = (int32_t) PySequence_Fast_GET_SIZE(fast);
    int32_t * widths = calloc((size_t) (n ? n : 1), sizeof *widths);
    /* room for every step of every width (steps < 1 is refused by sl_decode_ceiling) */
    double * step_s = calloc((size_t) (n ? n : 1) * (size_t) (steps > 0 ? steps : 1), sizeof *step_s);
    PyObject * result = NULL;
    if (!widths || !step_s) {
        PyErr_NoMemory();
        goto done;
    }
    for (int32_t i = 0; i < n; i++) {
        long w = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
        if (w == -1 && PyErr_Occurred()) goto done;
        widths[i] = (int32_t) w;
    }
    if (Engine_enter(self) < 0) goto done;
    double prefill_s = 0.0;
    int st;
    Py_BEGIN_ALLOW_THREADS
    st = sl_decode_ceiling(&self->eng, prefix, steps, widths, n, &prefill_s, step_s);
    Py_END_ALLOW_THREADS
    if (st != SL_OK) {
        Engine_raise(self, st);
    } else {
        PyObject * list = PyList_New(n);
        for (int32_t i = 0; list && i < n; i++) {
            PyObject * v = PyList_New(steps);
            for (int32_t k = 0; v && k < steps; k++) {
                PyObject * t = PyFloat_FromDouble(step_s[(size_t) i * (size_t) steps + (size_t) k]);
                if (!t) Py_CLEAR(v);
                else PyList_SET_ITEM(v, k, t);
            }
            if (!v) Py_CLEAR(list);
            else PyList_SET_ITEM(list, i, v);
        }
        result = list ? Py_BuildValue("(dN)", prefill_s, list) : NULL;
    }
    Engine_leave(self);
done:
    free(widths);
    free(step_s);
    Py_DECREF(fast);
    return result;
}

static PyObject * Engine_probe_text(EngineObject * self, PyObject * unused) {
    if (Engine_enter(self) < 0) return NULL;
    bool finite = true;
    int st;
    Py_BEGIN_ALLOW_THREADS
    st = sl_probe_text(&self->eng, &finite);
    Py_END_ALLOW_THREADS
    Engine_leave(self);
    if (st != SL_OK) return Engine_raise(self, st);
    return PyBool_FromLong(finite);
}

static PyObject * Engine_probe_image(EngineObject * self, PyObject * args) {
    unsigned int w, h;
    const char * rgb;
    Py_ssize_t len;
    if (!PyArg_ParseTuple(args, "IIy#", &w, &h, &rgb, &len)) return NULL;
    if (w == 0 || h == 0 || (size_t) len != (size_t) w * h * 3) {
        PyErr_SetString(PyExc_ValueError, "rgb must hold width * height * 3 bytes");
        return NULL;
    }
    if (Engine_enter(self) < 0) return NULL;
    bool finite = true;
    int st;
    Py_BEGIN_ALLOW_THREADS
    st = sl_probe_image(&self->eng, (const unsigned char *) rgb, w, h, &finite);
    Py_END_ALLOW_THREADS
    Engine_leave(self);
    if (st != SL_OK) return Engine_raise(self, st);
    return PyBool_FromLong(finite);
}

static PyMethodDef Engine_methods[] = {
    {"close", (PyCFunction) Engine_close, METH_NOARGS, "Free the model, context and projector."},
    {"configure", (PyCFunction) (void (*)(void)) Engine_configure, METH_VARARGS | METH_KEYWORDS,
     "configure(stages, judge): set once, at load. stages: (name, open_text, close_text, open_tokens, "
     "close_tokens, judge_head, open_aliases, stops) each; judge: (mid_tokens, tail_tokens, choice_a, "
     "choice_b, answer_head_tokens), -1 for a choice the vocabulary cannot tell apart"},
    {"tokenize", (PyCFunction) (void (*)(void)) Engine_tokenize, METH_VARARGS | METH_KEYWORDS,
     "tokenize(text, add_special, parse_special) -> list[int]; text: str or bytes"},
    {"detokenize", (PyCFunction) (void (*)(void)) Engine_detokenize, METH_VARARGS | METH_KEYWORDS,
     "detokenize(tokens, special) -> bytes"},
    {"is_eog", (PyCFunction) Engine_is_eog, METH_O, "is_eog(token) -> bool"},
    {"prepare", (PyCFunction) (void (*)(void)) Engine_prepare, METH_VARARGS | METH_KEYWORDS,
     "prepare(text, images, add_special) -> list[int | ImageChunk]; images are (w, h, rgb, id), one media "
     "marker in text for each"},
    {"segment_keys", (PyCFunction) Engine_segment_keys, METH_NOARGS, "The keys of the segments held, in order."},
    {"common_segments", (PyCFunction) Engine_common_segments, METH_O,
     "common_segments(keys) -> int: how many leading segments held have exactly these keys"},
    {"replace_segments", (PyCFunction) (void (*)(void)) Engine_replace_segments, METH_VARARGS | METH_KEYWORDS,
     "replace_segments(keep, segments): the conversation becomes its first `keep` segments, then `segments` "
     "[(key: bytes, units)]; the KV keeps what it can, nothing is evaluated yet"},
    {"search", (PyCFunction) (void (*)(void)) Engine_search, METH_VARARGS | METH_KEYWORDS,
     "search(params: SearchParams, on_event, scorer, cancel) -> dict: answer the conversation held, which "
     "then holds the answer as a segment keyed by its ids"},
    {"reset", (PyCFunction) Engine_reset, METH_NOARGS, "Forget the conversation and clear the KV cache."},
    {"decode_ceiling", (PyCFunction) Engine_decode_ceiling, METH_VARARGS,
     "decode_ceiling(prefix, steps, widths) -> (prefill_s, [[step seconds] per width]): raw llama_decode on "
     "this context (forgets the conversation)."},
    {"probe_text", (PyCFunction) Engine_probe_text, METH_NOARGS,
     "probe_text() -> bool: decode one token; whether every logit is finite. Forgets the conversation."},
    {"probe_image", (PyCFunction) Engine_probe_image, METH_VARARGS,
     "probe_image(width, height, rgb) -> bool: encode one image; whether its embeddings are all finite"},
    {"meta", (PyCFunction) Engine_meta, METH_O, "A GGUF metadata value as a string, or None."},
    {"info", (PyCFunction) Engine_info, METH_NOARGS, "Model and context facts."},
    PY_TESTING_ENGINE_METHODS
    PY_VERIFIER_ENGINE_METHODS
    {NULL}};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stagelens.engine._native.Engine",
    .tp_basicsize = sizeof(EngineObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc) Engine_init,
    .tp_dealloc = (destructor) Engine_dealloc,
    .tp_methods = Engine_methods,
    .tp_doc = "Engine(model_path, mmproj_path, n_gpu_layers, n_ctx, n_batch, n_threads, n_seq_max, flash_attn); "
              "every argument required (mmproj_path may be None: text only; flash_attn -1 auto, 0 off, 1 on)",
};

static PyMethodDef module_methods[] = {
    {"devices", mod_devices, METH_NOARGS, "Compute devices the loaded ggml backends see."},
    {"system_info", mod_system_info, METH_NOARGS, "llama.cpp's system info line."},
    {"supports_gpu_offload", mod_supports_gpu_offload, METH_NOARGS, "Whether layers can be offloaded."},
    PY_TESTING_MODULE_METHODS
    {NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_native",
    .m_doc = "Native stage-level beam search over libllama + libmtmd.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__native(void) {
    if (PyType_Ready(&EngineType) < 0) return NULL;
    PyObject * m = PyModule_Create(&module_def);
    if (!m) return NULL;
    if (py_objects_init(m) < 0 || PyModule_AddObjectRef(m, "Engine", (PyObject *) &EngineType) < 0 ||
        PyModule_AddIntConstant(m, "EVENT_STAGE_BEGIN", SL_EV_STAGE_BEGIN) < 0 ||
        PyModule_AddIntConstant(m, "EVENT_TEXT", SL_EV_TEXT) < 0 ||
        PyModule_AddIntConstant(m, "EVENT_STAGE_END", SL_EV_STAGE_END) < 0 ||
        PyModule_AddIntConstant(m, "EVENT_RETRACE", SL_EV_RETRACE) < 0 ||
        PyModule_AddIntConstant(m, "SCORER_LOGPROB", SL_SCORER_LOGPROB) < 0 ||
        PyModule_AddIntConstant(m, "SCORER_JUDGE", SL_SCORER_JUDGE) < 0 ||
        PyModule_AddIntConstant(m, "SCORER_EXTERNAL", SL_SCORER_EXTERNAL) < 0 ||
        PyModule_AddIntConstant(m, "MODE_BATCHED", SL_MODE_BATCHED) < 0 ||
        PyModule_AddIntConstant(m, "MODE_REFERENCE", SL_MODE_REFERENCE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    llama_backend_init();
    sl_log_install();
    return m;
}
