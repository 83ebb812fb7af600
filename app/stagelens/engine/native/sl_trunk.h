/* The trunk: every unit sequence 0 holds, in order, and which of them are in
 * the KV cache. Includes only the engine layer. */
#ifndef SL_TRUNK_H
#define SL_TRUNK_H

#include "sl_engine.h"

int  sl_trunk_push(sl_engine * eng, const sl_unit * unit);   /* takes ownership of unit's buffers */
int  sl_trunk_push_tokens(sl_engine * eng, const llama_token * toks, int32_t n);
int64_t sl_trunk_cells(const sl_trunk * trunk);               /* KV cells all its units need */

void sl_trunk_reset(sl_engine * eng);     /* forget every unit and segment, clear the KV */
void sl_trunk_drop_kv(sl_engine * eng);   /* clear the KV, keep the units (all pending) */
/* Forget the KV from unit `first` on (first <= n_kv), and any stray cell after it. When the memory
 * refuses a partial removal, or a sliding-window cache no longer holds what the next token attends
 * to, the whole KV is dropped instead and every unit is evaluated again later. */
void sl_trunk_uncache_from(sl_engine * eng, int32_t first);
/* Keep units[0..n): the rest are freed and their cells removed. Segments are not touched. */
void sl_trunk_cut(sl_engine * eng, int32_t n);
/* Go back to units[0..n) to continue from there again (a retrace): cut the rest, and leave the
 * last unit kept pending (a stage starts by decoding the trunk's last unit in its candidates). */
void sl_trunk_rewind(sl_engine * eng, int32_t n);

/* Evaluate pending units except the last `keep_pending` ones. */
int  sl_trunk_flush(sl_engine * eng, int32_t keep_pending, sl_stats * stats);
/* Reference cost model: drop the KV and evaluate the trunk again, except its last `keep` units. */
int  sl_trunk_reprefill(sl_engine * eng, int32_t keep, sl_stats * stats);

#endif
