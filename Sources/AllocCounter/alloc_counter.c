// Heap-allocation counter for benchmarks and the zero-allocation test.
// Defining the allocator entry points in the executable interposes them for every library
// (ELF symbol resolution prefers the executable); each forwards to glibc's own implementation.
#include "AllocCounter.h"
#include <stddef.h>
#include <stdatomic.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static _Atomic uint64_t allocations = 0;
static _Atomic int touched = 0;

static inline void count(void) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    atomic_store_explicit(&touched, 1, memory_order_relaxed);
}

void *malloc(size_t size) { count(); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { count(); return __libc_realloc(p, size); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t alignment, size_t size) { count(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count(); return __libc_memalign(alignment, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return 22; // EINVAL
    count();
    void *p = __libc_memalign(alignment, size);
    if (!p && size) return 12; // ENOMEM
    *out = p;
    return 0;
}

uint64_t alloc_counter_allocations(void) { return atomic_load_explicit(&allocations, memory_order_relaxed); }
int alloc_counter_active(void) { return atomic_load_explicit(&touched, memory_order_relaxed); }
