/* Probes for damaged weights: one decode of one token, one image encode, each checked for
 * numbers that are not numbers. */
#include <math.h>
#include <string.h>

#include "sl_probe.h"
#include "sl_trunk.h"

static bool sl_all_finite(const float * v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) return false;
    }
    return true;
}

int sl_probe_text(sl_engine * eng, bool * finite) {
    *finite = true;
    sl_trunk_reset(eng);
    llama_token tok = llama_vocab_bos(eng->vocab);
    struct llama_batch batch = llama_batch_init(1, 0, 1);
    sl_batch_add(&batch, tok >= 0 ? tok : 0, 0, 0, true);
    /* one token on one thread: waking the thread pool costs more than the decode on a busy machine */
    int32_t n_threads = llama_n_threads(eng->ctx), n_threads_batch = llama_n_threads_batch(eng->ctx);
    llama_set_n_threads(eng->ctx, 1, 1);
    int st = sl_decode_checked(eng, batch, "probing the text model");
    llama_set_n_threads(eng->ctx, n_threads, n_threads_batch);
    if (st == SL_OK) {
        const float * logits = llama_get_logits_ith(eng->ctx, 0);
        if (!logits) st = sl_set_error(eng, SL_ERR_DECODE, "llama.cpp gave no logits for the probe");
        else *finite = sl_all_finite(logits, (size_t) eng->n_vocab);
    }
    llama_batch_free(batch);
    llama_memory_clear(llama_get_memory(eng->ctx), true);
    return st;
}

int sl_probe_image(sl_engine * eng, const unsigned char * rgb, uint32_t nx, uint32_t ny, bool * finite) {
    *finite = true;
    if (!eng->mctx) return sl_set_error(eng, SL_ERR_NO_VISION, "no vision projector is loaded");
    mtmd_bitmap * bitmap = mtmd_bitmap_init(nx, ny, rgb);
    mtmd_input_chunks * chunks = mtmd_input_chunks_init();
    int st = bitmap && chunks ? SL_OK : sl_set_error(eng, SL_ERR_NOMEM, "out of memory");
    if (st == SL_OK) {
        mtmd_input_text text = {.text = mtmd_default_marker(), .text_len = strlen(mtmd_default_marker()),
                                .add_special = false, .parse_special = true};
        const mtmd_bitmap * bitmaps[1] = {bitmap};
        int32_t r = mtmd_tokenize(eng->mctx, chunks, &text, bitmaps, 1);
        if (r != 0) st = sl_set_error(eng, SL_ERR_IMAGE, "the projector refused the probe image (code %d)", r);
    }
    size_t n_embd = (size_t) llama_model_n_embd_inp(eng->model);
    for (size_t i = 0; st == SL_OK && i < mtmd_input_chunks_size(chunks); i++) {
        const mtmd_input_chunk * chunk = mtmd_input_chunks_get(chunks, i);
        if (mtmd_input_chunk_get_type(chunk) != MTMD_INPUT_CHUNK_TYPE_IMAGE) continue;
        int32_t r = mtmd_encode_chunk(eng->mctx, chunk);
        if (r != 0) {
            st = sl_set_error(eng, SL_ERR_IMAGE, "the projector failed to encode the probe image (code %d)", r);
            break;
        }
        const float * embd = mtmd_get_output_embd(eng->mctx);
        if (!embd) st = sl_set_error(eng, SL_ERR_IMAGE, "the projector gave no embeddings for the probe image");
        else if (!sl_all_finite(embd, n_embd * mtmd_input_chunk_get_n_tokens(chunk))) *finite = false;
    }
    if (chunks) mtmd_input_chunks_free(chunks);
    if (bitmap) mtmd_bitmap_free(bitmap);
    return st;
}
