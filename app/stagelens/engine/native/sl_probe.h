/* Probes for damaged weights: a model file whose tensor data is garbage loads like a good
 * one and then computes NaN or infinity. Includes only the engine layer. */
#ifndef SL_PROBE_H
#define SL_PROBE_H

#include "sl_engine.h"

/* Decode one token and check every logit. Forgets the conversation held (the trunk and the KV);
 * *finite says whether every logit was a finite number. */
int sl_probe_text(sl_engine * eng, bool * finite);

/* Encode one nx x ny RGB image with the projector and check every number of its embeddings. */
int sl_probe_image(sl_engine * eng, const unsigned char * rgb, uint32_t nx, uint32_t ny, bool * finite);

#endif
