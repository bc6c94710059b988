#ifndef ALLOC_COUNTER_H
#define ALLOC_COUNTER_H
#include <stdint.h>
/// Number of heap allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign)
/// made by any thread of this process since it started. Counting is done by interposing the
/// allocator entry points in the executable that links this target.
uint64_t alloc_counter_allocations(void);
/// 1 when the interposed allocator is the one in use (it is linked into this executable).
int alloc_counter_active(void);
#endif
