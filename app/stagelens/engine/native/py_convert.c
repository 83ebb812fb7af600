/* Python <-> C conversion: token lists, units, images, segments, stage specs, hooks, results.
 * Text always crosses with its length: a NUL byte in a question or an answer is text like any other. */
#include "py_convert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

PyObject * tokens_to_list(const llama_token * toks, int32_t n) {
    PyObject * list = PyList_New(n);
    for (int32_t i = 0; list && i < n; i++) {
        PyObject * v = PyLong_FromLong(toks[i]);
        if (!v) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, v);
    }
    return list;
}

int list_to_tokens(EngineObject * self, PyObject * seq, sl_tokens * out) {
    out->toks = NULL;
    out->n = 0;
    PyObject * fast = PySequence_Fast(seq, "expected a sequence of token ids");
    if (!fast) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n > INT32_MAX / 2) {
        Py_DECREF(fast);
        PyErr_SetString(PyExc_ValueError, "too many tokens");
        return -1;
    }
    llama_token * toks = malloc(sizeof *toks * (size_t) (n ? n : 1));
    if (!toks) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
        if (v == -1 && PyErr_Occurred()) goto fail;
        if (v < 0 || v >= self->eng.n_vocab) {
            PyErr_Format(PyExc_ValueError, "token id %ld outside the vocabulary (%d tokens)", v, self->eng.n_vocab);
            goto fail;
        }
        toks[i] = (llama_token) v;
    }
    Py_DECREF(fast);
    out->toks = toks;
    out->n = (int32_t) n;
    return 0;
fail:
    free(toks);
    Py_DECREF(fast);
    return -1;
}

sl_unit * units_from_list(EngineObject * self, PyObject * seq, int32_t * n_out, PyObject ** keep) {
    PyObject * tup = PySequence_Tuple(seq);
    if (!tup) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(tup);
    sl_unit * units = calloc((size_t) (n ? n : 1), sizeof *units);
    if (!units || n > INT32_MAX / 2) {
        free(units);
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
            units[i].image_start = ic->image_start;
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

/* ------------------------------------------------------------------ images */

static size_t count_markers(const char * text, size_t len, const char * marker) {
    size_t m = strlen(marker), n = 0;
    for (size_t i = 0; m && i + m <= len; i++) {
        if (text[i] == marker[0] && memcmp(text + i, marker, m) == 0) {
            n++;
            i += m - 1;
        }
    }
    return n;
}

/* `last_id`: the id of the previous image chunk of this prompt (ids are unique per image, see prepare_units). */
static int append_chunk_units(EngineObject * self, PyObject * result, const mtmd_input_chunk * chunk,
                              const char ** last_id) {
    enum mtmd_input_chunk_type type = mtmd_input_chunk_get_type(chunk);
    if (type == MTMD_INPUT_CHUNK_TYPE_TEXT) {
        size_t nt = 0;
        const llama_token * toks = mtmd_input_chunk_get_tokens_text(chunk, &nt);
        for (size_t k = 0; k < nt; k++) {
            PyObject * item = PyLong_FromLong(toks[k]);
            int bad = !item || PyList_Append(result, item) < 0;
            Py_XDECREF(item);
            if (bad) return -1;
        }
        return 0;
    }
    if (type != MTMD_INPUT_CHUNK_TYPE_IMAGE) {
        PyErr_SetString(PyExc_ValueError, "only image media are supported");
        return -1;
    }
    const char * id = mtmd_input_chunk_get_id(chunk);
    bool start = !*last_id || !id || strcmp(*last_id, id) != 0;
    *last_id = id;
    PyObject * item = ImageChunk_wrap(chunk, id, (int32_t) mtmd_input_chunk_get_n_tokens(chunk),
                                      (int32_t) mtmd_input_chunk_get_n_pos(chunk), start, &self->eng);
    int bad = !item || PyList_Append(result, item) < 0;
    Py_XDECREF(item);
    return bad ? -1 : 0;
}

PyObject * prepare_units(EngineObject * self, const char * text, Py_ssize_t len, PyObject * images, int add_special) {
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
        const char * rgb, * id;
        Py_ssize_t rgb_len, id_len;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "IIy#s#", &w, &h, &rgb, &rgb_len, &id, &id_len)) {
            goto done;
        }
        if (w == 0 || h == 0 || (Py_ssize_t) w * h * 3 != rgb_len) {
            PyErr_Format(PyExc_ValueError, "image %zd: %u x %u RGB needs %zu bytes, got %zd", i, w, h,
                         (size_t) w * h * 3, rgb_len);
            goto done;
        }
        if (strlen(id) != (size_t) id_len) {
            PyErr_Format(PyExc_ValueError, "image %zd: its id holds a NUL character", i);
            goto done;
        }
        bitmaps[i] = mtmd_bitmap_init(w, h, (const unsigned char *) rgb);
        if (!bitmaps[i]) {
            PyErr_NoMemory();
            goto done;
        }
        /* the pixels' id and the image's place in the turn: every chunk of one image carries it, so the
         * first chunk of each image is known even when the same picture is sent twice in a row */
        char tagged[512];
        snprintf(tagged, sizeof tagged, "%.480s#%zd", id, i);
        mtmd_bitmap_set_id(bitmaps[i], tagged);
    }
    const char * marker = mtmd_default_marker();
    size_t n_markers = count_markers(text, (size_t) len, marker);
    if (n_markers != (size_t) n_img) {
        PyErr_Format(PyExc_ValueError, "the prompt has %zu image markers (%s) but %zd images were given", n_markers,
                     marker, n_img);
        goto done;
    }
    if (!eng->mctx) {
        llama_token * toks = NULL;
        int32_t n = 0;
        int st = sl_tokenize(eng, text, (size_t) len, add_special, true, &toks, &n);
        if (st != SL_OK) {
            Engine_raise(self, st);
            goto done;
        }
        result = tokens_to_list(toks, n);
        free(toks);
        goto done;
    }
    mtmd_input_text input = {.text = text, .text_len = (size_t) len, .add_special = add_special, .parse_special = true};
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
    const char * last_id = NULL;
    for (size_t c = 0; result && c < mtmd_input_chunks_size(chunks); c++) {
        if (append_chunk_units(self, result, mtmd_input_chunks_get(chunks, c), &last_id) < 0) Py_CLEAR(result);
    }
done:
    for (Py_ssize_t i = 0; bitmaps && i < n_img; i++) {
        if (bitmaps[i]) mtmd_bitmap_free(bitmaps[i]);
    }
    free(bitmaps);
    if (chunks) mtmd_input_chunks_free(chunks);
    Py_XDECREF(fast);
    return result;
}

/* ---------------------------------------------------------------- segments */

void segments_free(py_segments * s) {
    for (int32_t i = 0; i < s->n; i++) {
        free((void *) s->segs[i].units);
        Py_XDECREF(s->keep[i]);
    }
    free(s->segs);
    free(s->keep);
    Py_XDECREF(s->items);
    memset(s, 0, sizeof *s);
}

int segments_from_list(EngineObject * self, PyObject * seq, py_segments * out) {
    memset(out, 0, sizeof *out);
    PyObject * fast = PySequence_Fast(seq, "segments must be a sequence of (key, units)");
    if (!fast) return -1;
    out->items = fast;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    out->segs = calloc((size_t) (n ? n : 1), sizeof *out->segs);
    out->keep = calloc((size_t) (n ? n : 1), sizeof *out->keep);
    if (!out->segs || !out->keep) {
        segments_free(out);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const char * key;
        Py_ssize_t key_len;
        PyObject * units;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i), "y#O", &key, &key_len, &units)) goto fail;
        if (key_len == 0) {
            PyErr_SetString(PyExc_ValueError, "a segment key must not be empty");
            goto fail;
        }
        sl_segment_in * s = &out->segs[i];
        s->units = units_from_list(self, units, &s->n_units, &out->keep[i]);
        if (!s->units) goto fail;
        s->key = (const uint8_t *) key; /* points into the bytes object, which `items` keeps alive */
        s->key_len = (size_t) key_len;
        out->n = (int32_t) i + 1;
    }
    return 0;
fail:
    segments_free(out);
    return -1;
}

/* ------------------------------------------------------------- stage specs */

int stage_specs_from_python(EngineObject * self, PyObject * stages, PyObject * judge, sl_stage_spec * out,
                            int32_t * n_out, sl_judge_spec * judge_out) {
    memset(out, 0, sizeof *out * SL_MAX_STAGES);
    memset(judge_out, 0, sizeof *judge_out);
    judge_out->choice_a = judge_out->choice_b = -1;
    PyObject * fast = PySequence_Fast(stages, "stages must be a sequence of tuples");
    if (!fast) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n < 1 || n > SL_MAX_STAGES) {
        Py_DECREF(fast);
        PyErr_Format(PyExc_ValueError, "between 1 and %d stages, got %zd", SL_MAX_STAGES, n);
        return -1;
    }
    for (Py_ssize_t s = 0; s < n; s++) {
        const char * name, * open_text, * close_text;
        Py_ssize_t name_len, open_len, close_len;
        PyObject * open_toks, * close_toks, * head, * aliases, * stops;
        sl_stage_spec * st = &out[s];
        /* (name, open_text, close_text, open_tokens, close_tokens, judge_head, open_aliases, stops) */
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, s), "s#s#s#OOOOO", &name, &name_len, &open_text,
                              &open_len, &close_text, &close_len, &open_toks, &close_toks, &head, &aliases, &stops)) {
            goto fail;
        }
        if (texts_from_python(aliases, "opening aliases", &st->aliases, &st->n_aliases) ||
            texts_from_python(stops, "stop texts", &st->stops, &st->n_stops)) {
            goto fail;
        }
        st->name = text_copy(name, name_len);
        st->open_text = text_copy(open_text, open_len);
        st->close_text = text_copy(close_text, close_len);
        st->open_len = (size_t) open_len;
        st->close_len = (size_t) close_len;
        if (!st->name || !st->open_text || !st->close_text) {
            PyErr_NoMemory();
            goto fail;
        }
        if (list_to_tokens(self, open_toks, &st->open) || list_to_tokens(self, close_toks, &st->close) ||
            list_to_tokens(self, head, &st->judge_head)) {
            goto fail;
        }
    }
    Py_DECREF(fast);
    fast = NULL;
    PyObject * mid, * tail;
    int a, b;
    /* (mid_tokens, tail_tokens, choice_a, choice_b) */
    PyObject * answer_head;
    if (!PyArg_ParseTuple(judge, "OOiiO", &mid, &tail, &a, &b, &answer_head)) goto fail;
    if (list_to_tokens(self, mid, &judge_out->mid) || list_to_tokens(self, tail, &judge_out->tail) ||
        list_to_tokens(self, answer_head, &judge_out->answer_head)) {
        goto fail;
    }
    if (a >= self->eng.n_vocab || b >= self->eng.n_vocab) {
        PyErr_SetString(PyExc_ValueError, "judge choice token outside the vocabulary");
        goto fail;
    }
    judge_out->choice_a = a < 0 ? -1 : a;
    judge_out->choice_b = b < 0 ? -1 : b;
    *n_out = (int32_t) n;
    return 0;
fail:
    Py_XDECREF(fast);
    for (int32_t s = 0; s < SL_MAX_STAGES; s++) sl_stage_spec_free(&out[s]);
    sl_judge_spec_free(judge_out);
    return -1;
}

/* ------------------------------------------------------------------- hooks */

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

/* Call the scorer with (stage, list) and read its n numbers into scores (list NULL: building it failed);
 * 0, or -1 with the error kept in the hook. Steals the reference to list. The GIL is held. */
static int call_scorer(hook_ctx * h, int stage, PyObject * list, int32_t n, double * scores) {
    PyObject * r = list ? PyObject_CallFunction(h->scorer, "iO", stage, list) : NULL;
    PyObject * fast = r ? PySequence_Fast(r, "the scorer must return a sequence of numbers") : NULL;
    int rc = -1;
    if (fast && PySequence_Fast_GET_SIZE(fast) != n) {
        PyErr_Format(PyExc_ValueError, "the scorer returned %zd scores for %d candidates",
                     PySequence_Fast_GET_SIZE(fast), n);
    } else if (fast) {
        rc = 0;
        for (int32_t i = 0; i < n && rc == 0; i++) {
            scores[i] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(fast, i));
            if (scores[i] == -1.0 && PyErr_Occurred()) rc = -1;
        }
    }
    if (rc != 0) hook_keep_error(h);
    Py_XDECREF(fast);
    Py_XDECREF(r);
    Py_XDECREF(list);
    return rc;
}

static int hook_score(void * ud, int stage, const sl_candidate * cands, int32_t n, double * scores) {
    hook_ctx * h = ud;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject * list = PyList_New(n);
    for (int32_t i = 0; list && i < n; i++) {
        const sl_candidate * c = &cands[i];
        PyObject * d = Py_BuildValue("{s:N,s:i,s:d}", "text", candidate_text(c), "n_tokens", c->n_toks,
                                     "mean_logprob", c->n_toks ? c->sum_logprob / c->n_toks : -INFINITY);
        if (!d) Py_CLEAR(list);
        else PyList_SET_ITEM(list, i, d);
    }
    int rc = call_scorer(h, stage, list, n, scores);
    PyGILState_Release(g);
    return rc;
}

/* Best-of-N's whole answers: the scorer is called with stage -1 and, per answer, its stages' texts. */
static int hook_score_answers(void * ud, const sl_result * res, int32_t n, double * scores) {
    hook_ctx * h = ud;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject * list = PyList_New(n);
    for (int32_t i = 0; list && i < n; i++) {
        PyObject * stages = PyList_New(res->n_stages);
        for (int32_t s = 0; stages && s < res->n_stages; s++) {
            PyObject * text = candidate_text(&res->stages[s].cands[i]);
            if (!text) Py_CLEAR(stages);
            else PyList_SET_ITEM(stages, s, text);
        }
        PyObject * d = stages ? Py_BuildValue("{s:N,s:i,s:d}", "stages", stages, "n_tokens", res->answers[i].n_tokens,
                                              "mean_logprob", res->answers[i].score)
                              : NULL;
        if (!d) Py_CLEAR(list);
        else PyList_SET_ITEM(list, i, d);
    }
    int rc = call_scorer(h, -1, list, n, scores);
    PyGILState_Release(g);
    return rc;
}

sl_hooks hooks_for(hook_ctx * h) {
    return (sl_hooks){.on_event = h->on_event ? hook_event : NULL,
                      .score = h->scorer ? hook_score : NULL,
                      .score_answers = h->scorer ? hook_score_answers : NULL,
                      .ud = h};
}

/* ----------------------------------------------------------------- results */

static const char * closed_name(int c) {
    switch (c) {
        case SL_CLOSED_TAG: return "tag";
        case SL_CLOSED_BUDGET: return "budget";
        case SL_CLOSED_EOS: return "eos";
        case SL_CLOSED_CANCEL: return "cancel";
        case SL_CLOSED_STOP: return "stop";
        case SL_CLOSED_LOOP: return "loop";
        default: return "running";
    }
}

/* tokens: the ones kept in the answer (n_tokens counts every sampled one); stop: the stop text that
 * ended it, by index into its stage's stops (-1: none); same_as: the earlier candidate with the same
 * text it was merged into before scoring (-1: none). */
static PyObject * candidate_to_dict(const sl_candidate * c) {
    return Py_BuildValue("{s:N,s:N,s:i,s:d,s:d,s:s,s:O,s:O,s:d,s:i,s:i,s:O,s:i}", "text", candidate_text(c), "tokens",
                         tokens_to_list(c->toks, c->n_keep), "n_tokens", c->n_toks, "mean_logprob",
                         c->n_toks ? c->sum_logprob / c->n_toks : -INFINITY, "score", c->score, "closed_by",
                         closed_name(c->closed_by), "saw_open", c->saw_open ? Py_True : Py_False, "saw_close",
                         c->saw_close ? Py_True : Py_False, "wall_s", c->wall_s, "stop", c->stop_index,
                         "open_repeats", c->open_repeats, "opened_by_alias", c->opened_by_alias ? Py_True : Py_False,
                         "same_as", c->same_as);
}

/* steps_by_width, cells_by_width (the mean KV cells a step attended to): list index = sequences in
 * the batch, trimmed after the widest one used */
static PyObject * stats_to_dict(const sl_stats * st, double wall_s) {
    int32_t widest = 0;
    for (int32_t w = 1; w <= SL_MAX_STEP_WIDTH; w++) {
        if (st->steps_by_width[w]) widest = w;
    }
    PyObject * steps = PyList_New(widest + 1);
    PyObject * cells = PyList_New(widest + 1);
    for (int32_t w = 0; steps && cells && w <= widest; w++) {
        int64_t n = st->steps_by_width[w];
        PyObject * v = PyLong_FromLongLong((long long) n);
        PyObject * c = PyFloat_FromDouble(n ? st->cells_by_width[w] / (double) n : 0.0);
        if (v) PyList_SET_ITEM(steps, w, v);
        if (c) PyList_SET_ITEM(cells, w, c);
        if (!v || !c) Py_CLEAR(steps);
    }
    if (!steps || !cells) {
        Py_XDECREF(steps);
        Py_XDECREF(cells);
        return NULL;
    }
    return Py_BuildValue("{s:L,s:L,s:L,s:L,s:L,s:L,s:L,s:d,s:d,s:d,s:d,s:d,s:N,s:N,s:L}", "image_encodes",
                         (long long) st->image_encodes, "image_chunks", (long long) st->image_chunks,
                         "prefill_tokens", (long long) st->prefill_tokens, "prompt_tokens",
                         (long long) st->prompt_tokens, "decode_tokens", (long long) st->decode_tokens,
                         "judge_calls", (long long) st->judge_calls, "judge_tokens", (long long) st->judge_tokens,
                         "wall_s", wall_s, "prefill_s", st->prefill_s, "encode_s", st->encode_s, "judge_s",
                         st->judge_s, "first_prefill_s", st->first_prefill_s, "steps_by_width", steps,
                         "cells_by_width", cells, "peak_cells", (long long) st->peak_cells);
}

static PyObject * pairs_to_list(const sl_judge_pair * pairs, int32_t n) {
    PyObject * list = PyList_New(n);
    for (int32_t i = 0; list && i < n; i++) {
        const sl_judge_pair * p = &pairs[i];
        PyObject * d = Py_BuildValue("{s:i,s:i,s:i,s:d}", "round", p->round, "a", p->a, "b", p->b, "margin", p->margin);
        if (!d) Py_CLEAR(list);
        else PyList_SET_ITEM(list, i, d);
    }
    return list;
}

static PyObject * stage_to_dict(const sl_engine * eng, const sl_stage_result * sr, int32_t s, bool complete) {
    PyObject * cands = PyList_New(sr->n_cands);
    for (int32_t i = 0; cands && i < sr->n_cands; i++) {
        PyObject * d = candidate_to_dict(&sr->cands[i]);
        if (!d) Py_CLEAR(cands);
        else PyList_SET_ITEM(cands, i, d);
    }
    PyObject * bracket = cands ? pairs_to_list(sr->pairs, sr->n_pairs) : NULL;
    if (!bracket) Py_CLEAR(cands);
    return cands ? Py_BuildValue("{s:s,s:i,s:O,s:O,s:N,s:N,s:i}", "name", eng->stages[s].name, "winner",
                                 complete ? sr->winner : -1, "forced_open", sr->forced_open ? Py_True : Py_False,
                                 "forced_close", sr->forced_close ? Py_True : Py_False, "candidates", cands,
                                 "bracket", bracket, "run", sr->run)
                 : NULL;
}

/* retraces: [{"at": stage index, "best", "threshold", "discarded": [stage at - 1, stage at]}] */
static PyObject * retraces_to_list(const sl_engine * eng, const sl_result * res) {
    PyObject * list = PyList_New(res->n_retraces);
    for (int32_t r = 0; list && r < res->n_retraces; r++) {
        const sl_retrace * rt = &res->retraces[r];
        PyObject * before = stage_to_dict(eng, &rt->discarded[0], rt->at - 1, true);
        PyObject * at = before ? stage_to_dict(eng, &rt->discarded[1], rt->at, true) : NULL;
        PyObject * d = at ? Py_BuildValue("{s:i,s:d,s:d,s:[NN]}", "at", rt->at, "best", rt->best, "threshold",
                                          rt->threshold, "discarded", before, at)
                          : NULL;
        if (!at) Py_XDECREF(before);
        if (!d) Py_CLEAR(list);
        else PyList_SET_ITEM(list, r, d);
    }
    return list;
}

static PyObject * answers_to_list(const sl_result * res) {
    PyObject * list = PyList_New(res->n_answers);
    for (int32_t i = 0; list && i < res->n_answers; i++) {
        PyObject * d = Py_BuildValue("{s:d,s:i}", "score", res->answers[i].score, "n_tokens", res->answers[i].n_tokens);
        if (!d) Py_CLEAR(list);
        else PyList_SET_ITEM(list, i, d);
    }
    return list;
}

PyObject * result_to_dict(const sl_engine * eng, const sl_result * res) {
    PyObject * stages = PyList_New(0);
    for (int32_t s = 0; stages && s < res->n_stages; s++) {
        const sl_stage_result * sr = &res->stages[s];
        bool complete = sr->cands && sr->winner >= 0 && (s < res->n_stages - 1 || !res->cancelled);
        PyObject * d = stage_to_dict(eng, sr, s, complete);
        if (!d || PyList_Append(stages, d) < 0) Py_CLEAR(stages);
        Py_XDECREF(d);
    }
    if (!stages) return NULL;
    PyObject * stats = stats_to_dict(&res->stats, res->wall_s);
    PyObject * retraces = stats ? retraces_to_list(eng, res) : NULL;
    PyObject * answers = retraces ? answers_to_list(res) : NULL;
    PyObject * answer_bracket = answers ? pairs_to_list(res->answer_pairs, res->n_answer_pairs) : NULL;
    if (!answer_bracket) {
        Py_DECREF(stages);
        Py_XDECREF(stats);
        Py_XDECREF(retraces);
        Py_XDECREF(answers);
        return NULL;
    }
    return Py_BuildValue("{s:N,s:O,s:N,s:y#,s:N,s:N,s:N,s:N}", "stages", stages, "cancelled",
                         res->cancelled ? Py_True : Py_False, "answer_tokens",
                         tokens_to_list(res->answer.toks, res->answer.n), "answer_text",
                         res->answer_text ? res->answer_text : "", (Py_ssize_t) res->answer_len, "stats", stats,
                         "retraces", retraces, "answers", answers, "answer_bracket", answer_bracket);
}
