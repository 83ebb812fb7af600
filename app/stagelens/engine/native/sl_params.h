/* The checks every search call runs on its parameters first. Includes only sl_core.h. */
#ifndef SL_PARAMS_H
#define SL_PARAMS_H

#include "sl_core.h"

/* SL_OK, or the error: parameters that would corrupt memory or abort llama.cpp (sequence ids, batch
 * rows, enums), or a search that cannot fit in the context. Ranges users choose are checked in Python. */
int sl_check_search(sl_engine * eng, const sl_search_params * sp);

#endif
