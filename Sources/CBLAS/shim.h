// OpenBLAS' CBLAS interface plus its thread controls (Debian: libopenblas-dev).
#include <cblas.h>

// Debian's OpenBLAS is built with DYNAMIC_ARCH: it picks its kernels for the CPU when the library
// loads. A CPU newer than the library (e.g. Sapphire Rapids under OpenBLAS 0.3.21) falls back to
// the SSE3 "Prescott" kernels at a quarter of the speed. These exported entry points let the
// program re-run that selection with OPENBLAS_CORETYPE set to the best family the CPU supports.
void gotoblas_dynamic_init(void);
void gotoblas_dynamic_quit(void);

static inline int resnet_cpu_has_avx512_skx(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
}
static inline int resnet_cpu_has_avx2_fma(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// Whether this translation unit is compiled for a CPU with fused multiply-add (the target CPU Swift
// passes to its clang importer: -target-cpu). Without FMA (an x86-64-v2 build), LLVM lowers a fused
// multiply-add to a call to libm's fmaf per lane, emulated in software; kernels then multiply and add.
static inline int resnet_target_has_fma(void) {
#ifdef __FMA__
    return 1;
#else
    return 0;
#endif
}

// Names the calling thread (shown in /proc/self/task/*/comm, top, gdb). pthread_setname_np is a GNU
// extension that Swift's Glibc module does not expose; glibc has it (pthread_t is unsigned long).
int pthread_setname_np(unsigned long thread, const char *name);
unsigned long pthread_self(void);
static inline void resnet_name_this_thread(const char *name) { pthread_setname_np(pthread_self(), name); }
