/* The CPU's vector state between llama.cpp's kernels and ours.
 *
 * llama.cpp's CPU kernels (built for the machine: AVX2, AVX-512) can leave the upper halves of the
 * vector registers marked in use. Code built for the x86-64 baseline (ours, and CPython) then pays
 * for that on every SSE instruction: on the bench preset the log-sum-exp over 152k logits took
 * 1.5 ms per token right after llama_decode and 0.5 ms once the state was cleared. `vzeroupper`
 * clears it; it only zeroes the upper halves, which baseline code never holds values in. */
#ifndef SL_CPU_H
#define SL_CPU_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>

static inline void sl_clear_upper_vector_state(void) {
    if (__builtin_cpu_supports("avx")) {
        __asm__ volatile("vzeroupper" ::: "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                         "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    }
}

/* For tests: whether the upper halves of vector registers 0-15 are in use (XINUSE bits YMM and
 * ZMM_Hi256), or -1 where the CPU cannot tell (no XGETBV with ECX = 1). */
static inline int sl_upper_vector_state_in_use(void) {
    unsigned a, b, c, d;
    if (!__builtin_cpu_supports("avx") || !__get_cpuid_count(0xD, 1, &a, &b, &c, &d) || !(a & (1u << 2))) return -1;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(1));
    return (lo & ((1u << 2) | (1u << 6))) != 0;
}

/* For tests: put the upper half of ymm0 in use, as a 256-bit kernel would leave it (all ones: a
 * compare that is always true, an AVX instruction, where zeroing could leave the state clean). */
static inline void sl_dirty_upper_vector_state(void) {
    if (__builtin_cpu_supports("avx")) __asm__ volatile("vcmpps $15, %%ymm0, %%ymm0, %%ymm0" ::: "xmm0");
}
#elif defined(_MSC_VER) && defined(_M_X64)
#include <immintrin.h>
#include <intrin.h>
static inline void sl_clear_upper_vector_state(void) {
    static int avx = -1; /* a benign race: every thread computes the same answer */
    if (avx < 0) {
        int r[4];
        __cpuid(r, 1);
        int has_avx = ((r[2] >> 28) & 1) && ((r[2] >> 27) & 1); /* AVX, and the OS saves its state */
        avx = has_avx && (_xgetbv(0) & 6) == 6;
    }
    if (avx) _mm256_zeroupper();
}
static inline int sl_upper_vector_state_in_use(void) { return -1; }
static inline void sl_dirty_upper_vector_state(void) {}
#else
static inline void sl_clear_upper_vector_state(void) {}
static inline int sl_upper_vector_state_in_use(void) { return -1; }
static inline void sl_dirty_upper_vector_state(void) {}
#endif

#endif
