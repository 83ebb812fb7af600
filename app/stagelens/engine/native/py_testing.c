/* Test-only parts of the binding: tag detection on its own, forked branches, faults, the trunk. */
#include "py_testing.h"

#include <stdlib.h>
#include <string.h>

#include "sl_cpu.h"
#include "sl_fork.h"
#include "sl_logits.h"

PyObject * Engine_fork_logits(EngineObject * self, PyObject * args) {
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
        sl_tokens b;
        if (list_to_tokens(self, PySequence_Fast_GET_ITEM(fast, i), &b) < 0) goto done;
        branches[i] = b.toks;
        lens[i] = b.n;
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


PyObject * Engine_inject_fault(EngineObject * self, PyObject * args) {
    const char * kind;
    Py_ssize_t kind_len;
    int after;
    if (!PyArg_ParseTuple(args, "s#i", &kind, &kind_len, &after)) return NULL;
    if (after < 0) {
        PyErr_SetString(PyExc_ValueError, "after must be >= 0 (0 turns the fault off)");
        return NULL;
    }
    int32_t * slot = NULL;
    if (kind_len == 6 && memcmp(kind, "decode", 6) == 0) slot = &self->eng.fault_decode_in;
    else if (kind_len == 5 && memcmp(kind, "image", 5) == 0) slot = &self->eng.fault_image_in;
    else if (kind_len == 6 && memcmp(kind, "seq_rm", 6) == 0) slot = &self->eng.fault_seq_rm_in;
    if (!slot) {
        PyErr_Format(PyExc_ValueError, "unknown fault %R (decode, image or seq_rm)", PyTuple_GET_ITEM(args, 0));
        return NULL;
    }
    *slot = after;
    Py_RETURN_NONE;
}

PyObject * Engine_kv_state(EngineObject * self, PyObject * unused) {
    if (Engine_enter(self) < 0) return NULL;
    const sl_trunk * t = &self->eng.trunk;
    llama_memory_t mem = llama_get_memory(self->eng.ctx);
    PyObject * d = Py_BuildValue("{s:i,s:i,s:i,s:i,s:i}", "seq0_pos_max", (int) llama_memory_seq_pos_max(mem, 0),
                                 "seq1_pos_max", (int) llama_memory_seq_pos_max(mem, 1), "kv_pos", (int) t->kv_pos,
                                 "kv_cells", t->kv_cells, "n_kv", t->n_kv);
    Engine_leave(self);
    return d;
}

PyObject * Engine_trunk_units(EngineObject * self, PyObject * unused) {
    if (Engine_enter(self) < 0) return NULL;
    const sl_trunk * t = &self->eng.trunk;
    PyObject * list = PyList_New(t->n_units);
    for (int32_t i = 0; list && i < t->n_units; i++) {
        const sl_unit * u = &t->units[i];
        PyObject * item = u->chunk ? ImageChunk_wrap(u->chunk, u->image_id, u->n_tokens, u->n_pos, u->image_start, &self->eng)
                                   : PyLong_FromLong(u->token);
        if (!item) Py_CLEAR(list);
        else PyList_SET_ITEM(list, i, item);
    }
    Engine_leave(self);
    return list;
}


/* scan_tags(pieces, open_text, close_text, forced, aliases=(), stops=())
 *   -> (content, saw_open, saw_close, streamable, stop, kept, open_repeats):
 * runs the search's own stage machine over text arriving piece by piece (one token per piece; a loop
 * is detected on the pieces' order, each distinct piece one token). */
PyObject * mod_scan_tags(PyObject * m, PyObject * args) {
    PyObject * pieces, * aliases = NULL, * stops = NULL;
    const char * open_text, * close_text;
    Py_ssize_t open_len, close_len;
    int forced;
    if (!PyArg_ParseTuple(args, "Os#s#p|OO", &pieces, &open_text, &open_len, &close_text, &close_len, &forced,
                          &aliases, &stops)) {
        return NULL;
    }
    if (open_len == 0 || close_len == 0) {
        PyErr_SetString(PyExc_ValueError, "tags must not be empty");
        return NULL;
    }
    sl_stage_spec st = {.name = "test", .open_text = (char *) open_text, .open_len = (size_t) open_len,
                        .close_text = (char *) close_text, .close_len = (size_t) close_len};
    if ((aliases && texts_from_python(aliases, "opening aliases", &st.aliases, &st.n_aliases)) ||
        (stops && texts_from_python(stops, "stop texts", &st.stops, &st.n_stops))) {
        sl_texts_free(st.aliases, st.n_aliases);
        return NULL;
    }
    PyObject * fast = PySequence_Fast(pieces, "pieces must be a sequence of bytes");
    PyObject * ids = PyDict_New(); /* a piece's token id: distinct pieces, distinct ids */
    PyObject * res = NULL;
    sl_candidate c;
    memset(&c, 0, sizeof c);
    c.stop_index = -1;
    size_t safe = 0;
    for (Py_ssize_t i = 0; fast && ids && i < PySequence_Fast_GET_SIZE(fast) && c.closed_by == SL_RUNNING; i++) {
        PyObject * item = PySequence_Fast_GET_ITEM(fast, i);
        char * buf;
        Py_ssize_t len;
        if (PyBytes_AsStringAndSize(item, &buf, &len) < 0) goto done;
        PyObject * known = PyDict_GetItemWithError(ids, item);
        if (!known && PyErr_Occurred()) goto done;
        long tok = known ? PyLong_AsLong(known) : (long) PyDict_Size(ids);
        if (!known) {
            PyObject * value = PyLong_FromLong(tok);
            int bad = !value || PyDict_SetItem(ids, item, value) < 0;
            Py_XDECREF(value);
            if (bad) goto done;
        }
        size_t old = c.text_len;
        if (sl_candidate_append(&c, (llama_token) tok, buf, (int32_t) len) != SL_OK) {
            PyErr_NoMemory();
            goto done;
        }
        safe = sl_candidate_scan(&c, &st, forced, old);
        if (c.saw_close) c.closed_by = SL_CLOSED_TAG;
        else if (c.closed_by == SL_RUNNING) sl_candidate_check_loop(&c);
    }
    if (fast && ids) {
        size_t end = c.content_end > c.content_begin ? c.content_end : c.content_begin;
        const char * closed = c.closed_by == SL_CLOSED_TAG ? "tag"
                              : c.closed_by == SL_CLOSED_STOP ? "stop"
                              : c.closed_by == SL_CLOSED_LOOP ? "loop"
                                                              : "running";
        res = Py_BuildValue("(y#OOnisii)", c.text ? c.text + c.content_begin : "", (Py_ssize_t) (end - c.content_begin),
                            c.saw_open ? Py_True : Py_False, c.saw_close ? Py_True : Py_False,
                            (Py_ssize_t) (safe > c.content_begin ? safe - c.content_begin : 0), c.stop_index, closed,
                            c.n_keep, c.open_repeats);
    }
done:
    sl_candidate_free(&c);
    sl_texts_free(st.aliases, st.n_aliases);
    sl_texts_free(st.stops, st.n_stops);
    Py_XDECREF(ids);
    Py_XDECREF(fast);
    return res;
}

/* logits_pass(logits: bytes of float32, k) -> (top, log_sum_exp): the search's per-token pass on its
 * own; top: the k largest as (id, logit) pairs, descending, ties by the lower id. */
PyObject * mod_logits_pass(PyObject * m, PyObject * args) {
    const char * buf;
    Py_ssize_t len;
    int k;
    if (!PyArg_ParseTuple(args, "y#i", &buf, &len, &k)) return NULL;
    if (len == 0 || len % (Py_ssize_t) sizeof(float) || k < 1) {
        PyErr_SetString(PyExc_ValueError, "logits must be a non-empty float32 array and k at least 1");
        return NULL;
    }
    int32_t n = (int32_t) (len / (Py_ssize_t) sizeof(float));
    float * logits = malloc((size_t) len);
    llama_token_data * top = malloc(sizeof *top * (size_t) k);
    PyObject * res = NULL;
    if (!logits || !top) {
        PyErr_NoMemory();
    } else {
        memcpy(logits, buf, (size_t) len);
        bool nan = false;
        int32_t have = sl_top_k(logits, n, k, top, &nan);
        double lse = sl_log_sum_exp(logits, n, top[0].logit);
        PyObject * list = PyList_New(have);
        for (int32_t i = 0; list && i < have; i++) {
            PyObject * pair = Py_BuildValue("(if)", top[i].id, (double) top[i].logit);
            if (!pair) Py_CLEAR(list);
            else PyList_SET_ITEM(list, i, pair);
        }
        if (list) res = Py_BuildValue("(Nd)", list, lse);
    }
    free(logits);
    free(top);
    return res;
}

/* One token decoded in the last sequence (removed after), by llama_decode itself or the engine's
 * checked decode; then what the upper vector state is. */
static int upper_state_after_decode(sl_engine * eng, bool checked, int * in_use) {
    llama_seq_id seq = eng->n_seq_max - 1;
    struct llama_batch batch = llama_batch_init(1, 0, 1);
    sl_batch_add(&batch, 0, 0, seq, true);
    int st = SL_OK;
    if (checked) {
        st = sl_decode_checked(eng, batch, "probing the vector state");
    } else if (llama_decode(eng->ctx, batch) != 0) {
        st = sl_set_error(eng, SL_ERR_DECODE, "llama_decode failed while probing the vector state");
    }
    *in_use = sl_upper_vector_state_in_use();
    llama_memory_seq_rm(llama_get_memory(eng->ctx), seq, -1, -1);
    llama_batch_free(batch);
    return st;
}

PyObject * Engine_vector_state(EngineObject * self, PyObject * unused) {
    if (Engine_enter(self) < 0) return NULL;
    int raw = -1, checked = -1, top_k = -1, lse = -1;
    int st = upper_state_after_decode(&self->eng, false, &raw);
    if (st == SL_OK) st = upper_state_after_decode(&self->eng, true, &checked);
    if (st == SL_OK) {
        float logits[64] = {0};
        llama_token_data top[1];
        bool nan = false;
        sl_dirty_upper_vector_state();
        sl_top_k(logits, 64, 1, top, &nan);
        top_k = sl_upper_vector_state_in_use();
        sl_dirty_upper_vector_state();
        sl_log_sum_exp(logits, 64, 0.0f);
        lse = sl_upper_vector_state_in_use();
    }
    PyObject * d = NULL;
    if (st != SL_OK) {
        Engine_raise(self, st);
    } else if (raw < 0) {
        d = Py_NewRef(Py_None);
    } else {
        d = Py_BuildValue("{s:O,s:O,s:O,s:O}", "after_llama_decode", raw ? Py_True : Py_False, "after_engine_decode",
                          checked ? Py_True : Py_False, "after_top_k", top_k ? Py_True : Py_False, "after_log_sum_exp",
                          lse ? Py_True : Py_False);
    }
    Engine_leave(self);
    return d;
}
