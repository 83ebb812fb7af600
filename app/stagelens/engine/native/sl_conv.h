/* The conversation the engine holds: keyed segments (a user turn, an answer)
 * tiling the trunk's units. The caller compares keys, keeps the common prefix
 * and hands over only the segments that are missing. Includes only the trunk. */
#ifndef SL_CONV_H
#define SL_CONV_H

#include "sl_trunk.h"

/* A segment handed over by the caller (borrowed; image chunks are copied). */
typedef struct {
    const uint8_t * key;
    size_t key_len;
    const sl_unit * units;
    int32_t n_units;
} sl_segment_in;

/* How many leading segments held now have exactly keys[0..n) (an empty key never matches). */
int32_t sl_conv_common(const sl_engine * eng, const uint8_t * const * keys, const size_t * key_lens, int32_t n);

/* The conversation becomes its first `keep` segments followed by `segs`. The KV keeps the longest
 * prefix of units it already holds (an unchanged image is not encoded again); the rest of its cells
 * are removed. Nothing is evaluated yet. On an error nothing changes (out of memory: all is forgotten). */
int sl_conv_replace(sl_engine * eng, int32_t keep, const sl_segment_in * segs, int32_t n_segs);

/* Before a search: the conversation must end with text, whose last unit is made pending (so every
 * candidate decodes it in its own sequence). *answer_first: where the answer's units will start. */
int  sl_conv_begin_answer(sl_engine * eng, int32_t * answer_first);
/* After it: the units from answer_first on become one segment keyed by their token ids
 * ("T" followed by the int32 ids in native byte order), or are removed again (cells too). */
int  sl_conv_seal_answer(sl_engine * eng, int32_t answer_first);
void sl_conv_abandon_answer(sl_engine * eng, int32_t answer_first);

#endif
