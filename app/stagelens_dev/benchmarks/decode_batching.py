"""How much one llama_decode of N sequences gains over N decodes of one, on this machine.

This is the ceiling for batched stage-beam search: no search code can make N candidates
cheaper than llama.cpp decodes them. Raw llama-cpp-python calls, no sampling, no StageLens code.

    python -m stagelens_dev.benchmarks.decode_batching [TEXT.gguf] [--threads 2] [--prefix 300] [--steps 40]

Without a model path it uses the `bench` test model (made on demand).
"""

from __future__ import annotations

import argparse
import time

import llama_cpp as llama


@llama.llama_log_callback
def _QUIET(level, text, user_data) -> None:  # module level: ctypes must keep it alive
    pass


def tokens_per_s(ctx, n_seq: int, prefix: int, steps: int) -> float:
    mem = llama.llama_get_memory(ctx)
    llama.llama_memory_clear(mem, True)
    batch = llama.llama_batch_init(max(prefix, n_seq), 0, 1)
    try:
        batch.n_tokens = prefix
        for i in range(prefix):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = 100 + i, i, 1, 0
            batch.seq_id[i][0] = 0
        batch.logits[prefix - 1] = 1
        if llama.llama_decode(ctx, batch) != 0:
            raise SystemExit("prefill failed")
        for seq in range(1, n_seq):
            llama.llama_memory_seq_cp(mem, 0, seq, -1, -1)
        started = time.perf_counter()
        for step in range(steps):
            batch.n_tokens = n_seq
            for seq in range(n_seq):
                batch.token[seq], batch.pos[seq] = 200 + step, prefix + step
                batch.n_seq_id[seq], batch.logits[seq] = 1, 1
                batch.seq_id[seq][0] = seq
            if llama.llama_decode(ctx, batch) != 0:
                raise SystemExit("decode failed")
        return steps * n_seq / (time.perf_counter() - started)
    finally:
        llama.llama_batch_free(batch)


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stagelens_dev.benchmarks.decode_batching",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", nargs="?")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prefix", type=int, default=300)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--seqs", default="1,2,4,8")
    args = parser.parse_args()
    path = args.model
    if path is None:
        from stagelens.paths import test_models_dir
        from stagelens_dev.testmodels import make_test_model

        path = str(make_test_model("bench", test_models_dir()).text)
    seqs = [int(s) for s in args.seqs.split(",")]
    llama.llama_backend_init()
    llama.llama_log_set(_QUIET, None)
    model = llama.llama_model_load_from_file(path.encode(), llama.llama_model_default_params())
    params = llama.llama_context_default_params()
    params.n_ctx, params.n_batch, params.n_ubatch = 4096, 512, 512
    params.n_seq_max, params.kv_unified = max(seqs), True
    params.n_threads = params.n_threads_batch = args.threads
    ctx = llama.llama_init_from_model(model, params)
    tokens_per_s(ctx, 1, args.prefix, 8)  # warm-up
    rates = {n: tokens_per_s(ctx, n, args.prefix, args.steps) for n in seqs}
    for n, rate in rates.items():
        print(f"{n} sequence(s) per decode: {rate:6.1f} tok/s  ({rate / rates[seqs[0]]:.2f}x)")
    llama.llama_free(ctx)
    llama.llama_model_free(model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
