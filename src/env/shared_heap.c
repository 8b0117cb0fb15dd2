// libsluice-heap.so: the large allocations of a model's worker, in a memory file the engine
// holds, so the model's output is handed over without being copied.
//
// The worker's interpreter is started with this library in LD_PRELOAD (and Arrow's default
// pool set to the system allocator), so numpy's, pandas', pyarrow's and DuckDB's buffers all come
// from malloc. Until sluice_heap_enable() is called every call goes to glibc unchanged: a zygote
// and everything it preloads never touch the heap. Once enabled (by the forked worker, with the
// memfd its task brought), allocations of at least SLUICE_HEAP_MIN_BYTES (256 KiB) are placed in
// that file, mapped shared; smaller ones still go to glibc. The worker then describes its output
// by where its buffers are in the file (python/sluice/_arena.py) and the engine maps the same
// pages after the worker is gone and the file is sealed against writes (data/shared_heap_table.h).
//
// Blocks are carved from the file's start upwards (addresses are never handed out twice once a
// block's pages went back to the kernel); freed blocks are kept for reuse while they are few,
// else their pages are punched out of the file. After sluice_heap_freeze() nothing is reused or
// punched: the output lives in those blocks. A child forked by the model (multiprocessing) sees
// the heap as a private copy-on-write mapping and allocates from glibc: it can neither change
// its parent's buffers nor hand out the parent's addresses.
//
// Plain C, libc only: it is loaded into interpreters of any version, before anything else.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

extern void* __libc_malloc(size_t size);
extern void __libc_free(void* ptr);
extern void* __libc_calloc(size_t count, size_t size);
extern void* __libc_realloc(void* ptr, size_t size);
extern void* __libc_memalign(size_t alignment, size_t size);

#define EXPORT __attribute__((visibility("default")))

enum { kPage = 4096, kHeader = 64, kMaxFreeBlocks = 64 };
static const uint64_t kMagic = 0x5145484543494c53ull;  // "SLICEHEQ"

// Every heap block starts on a page with this header; the caller's pointer is `offset` past the
// block's start (kHeader, or more for a larger alignment) and the header sits right before it.
typedef struct {
  uint64_t magic;
  uint64_t block_bytes;  // from the block's start, whole pages
  uint64_t offset;       // of the caller's pointer from the block's start
  uint64_t fresh;        // never used before: its pages read as zeros
} Header;

typedef struct {
  char* start;
  uint64_t bytes;
} FreeBlock;

enum { kOff = 0, kOn = 1, kInherited = 2 };

static pthread_mutex_t heap_mutex = PTHREAD_MUTEX_INITIALIZER;
static int heap_state = kOff;  // written under heap_mutex; read without it, see IsHeapPointer
static int heap_fd = -1;
static char* heap_base = NULL;
static uint64_t heap_reserved = 0;  // bytes mapped (the file's size)
static uint64_t heap_top = 0;       // bytes handed out so far, from heap_base
static uint64_t heap_min_bytes = 256 << 10;
static int heap_frozen = 0;
static FreeBlock free_blocks[kMaxFreeBlocks];
static int free_count = 0;
static uint64_t free_bytes = 0;
static const uint64_t kMaxFreeBytes = (uint64_t)1 << 30;

static int IsHeapPointer(const void* ptr) {
  // heap_base and heap_reserved are set once, before heap_state turns on, and never change.
  return heap_state != kOff && ptr && (const char*)ptr >= heap_base && (const char*)ptr < heap_base + heap_reserved;
}

static Header* HeaderOf(void* ptr) { return (Header*)((char*)ptr - kHeader); }

static uint64_t RoundUp(uint64_t n, uint64_t to) { return (n + to - 1) / to * to; }

static void PunchOut(char* start, uint64_t bytes) {
  fallocate(heap_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, start - heap_base, (off_t)bytes);
}

// A block for `size` bytes at `alignment` (a power of two, at least 64); NULL when the heap is
// off or full. Called with heap_mutex held.
static void* TakeBlock(size_t size, size_t alignment, int* fresh) {
  uint64_t offset = alignment > kHeader ? alignment : kHeader;
  if (size > heap_reserved) return NULL;
  uint64_t need = RoundUp(offset + size, kPage);
  int best = -1;
  for (int i = 0; i < free_count; ++i) {
    uint64_t bytes = free_blocks[i].bytes;
    // Reuse only a block at most twice as large: a big one kept for a small request is waste.
    if (bytes >= need && bytes <= 2 * need && (best < 0 || bytes < free_blocks[best].bytes)) best = i;
  }
  char* start;
  uint64_t bytes;
  if (best >= 0) {
    start = free_blocks[best].start;
    bytes = free_blocks[best].bytes;
    free_bytes -= bytes;
    free_blocks[best] = free_blocks[--free_count];
    *fresh = 0;
  } else {
    if (heap_reserved - heap_top < need) return NULL;
    start = heap_base + heap_top;
    bytes = need;
    heap_top += need;
    *fresh = 1;
  }
  Header* header = (Header*)(start + offset - kHeader);
  header->magic = kMagic;
  header->block_bytes = bytes;
  header->offset = offset;
  header->fresh = (uint64_t)*fresh;
  return start + offset;
}

static void* HeapAllocate(size_t size, size_t alignment, int zeroed) {
  if (heap_state != kOn || size < heap_min_bytes) return NULL;
  if (alignment < kHeader) alignment = kHeader;
  if (alignment & (alignment - 1)) return NULL;
  int fresh = 0;
  pthread_mutex_lock(&heap_mutex);
  void* out = heap_state == kOn ? TakeBlock(size, alignment, &fresh) : NULL;
  pthread_mutex_unlock(&heap_mutex);
  if (out && zeroed && !fresh) memset(out, 0, size);
  return out;
}

static void HeapFree(void* ptr) {
  Header* header = HeaderOf(ptr);
  if (header->magic != kMagic) abort();  // not a block of ours: memory is corrupt
  char* start = (char*)ptr - header->offset;
  uint64_t bytes = header->block_bytes;
  pthread_mutex_lock(&heap_mutex);
  // Frozen: the output may live here. Inherited: the block is the parent's.
  if (heap_state == kOn && !heap_frozen) {
    if (free_count < kMaxFreeBlocks && free_bytes + bytes <= kMaxFreeBytes) {
      free_blocks[free_count].start = start;
      free_blocks[free_count].bytes = bytes;
      ++free_count;
      free_bytes += bytes;
    } else {
      PunchOut(start, bytes);
    }
  }
  pthread_mutex_unlock(&heap_mutex);
}

static size_t HeapUsable(void* ptr) {
  Header* header = HeaderOf(ptr);
  return header->block_bytes - header->offset;
}

// In a child forked by the model: the heap becomes a private copy of the file (copy-on-write
// as for any other memory), and nothing new is placed in it.
static void AfterForkInChild(void) {
  pthread_mutex_init(&heap_mutex, NULL);
  if (heap_state != kOn) return;
  mmap(heap_base, heap_reserved, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, heap_fd, 0);
  heap_state = kInherited;
}
static void BeforeFork(void) { pthread_mutex_lock(&heap_mutex); }
static void AfterForkInParent(void) { pthread_mutex_unlock(&heap_mutex); }

// Places large allocations from now on in the memory file `fd` (opened read-write), reserving
// `reserve_bytes` of it. Returns 0, or an errno value (the heap then stays off).
EXPORT int sluice_heap_enable(int fd, uint64_t reserve_bytes, uint64_t min_bytes) {
  pthread_mutex_lock(&heap_mutex);
  int error = 0;
  if (heap_state != kOff) {
    error = EBUSY;
  } else if (ftruncate(fd, (off_t)reserve_bytes) != 0) {
    error = errno;
  } else {
    void* base = mmap(NULL, reserve_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (base == MAP_FAILED) {
      error = errno;
    } else {
      // Huge pages where the kernel gives them to shared memory on request (shmem_enabled
      // "advise"): the worker's exit unmaps its heap before the engine may seal it, and with
      // 4 KiB pages that takes about 50 ms a GiB, the larger part of a hand-off.
      (void)madvise(base, reserve_bytes, MADV_HUGEPAGE);
      static int registered = 0;
      if (!registered) pthread_atfork(BeforeFork, AfterForkInParent, AfterForkInChild);
      registered = 1;
      heap_fd = fd;
      heap_base = (char*)base;
      heap_reserved = reserve_bytes;
      if (min_bytes > 0) heap_min_bytes = min_bytes;
      heap_state = kOn;
    }
  }
  pthread_mutex_unlock(&heap_mutex);
  return error;
}

// Where the heap is in this process and how much of it was handed out; base 0 when off.
EXPORT void sluice_heap_range(uint64_t* base, uint64_t* used) {
  pthread_mutex_lock(&heap_mutex);
  *base = heap_state == kOn ? (uint64_t)(uintptr_t)heap_base : 0;
  *used = heap_state == kOn ? heap_top : 0;
  pthread_mutex_unlock(&heap_mutex);
}

// From now on freed blocks are left as they are: the output lives in them.
EXPORT void sluice_heap_freeze(void) {
  pthread_mutex_lock(&heap_mutex);
  heap_frozen = 1;
  pthread_mutex_unlock(&heap_mutex);
}

EXPORT void* malloc(size_t size) {
  void* out = HeapAllocate(size, kHeader, 0);
  return out ? out : __libc_malloc(size);
}

EXPORT void free(void* ptr) {
  if (IsHeapPointer(ptr)) {
    HeapFree(ptr);
  } else {
    __libc_free(ptr);
  }
}

EXPORT void* calloc(size_t count, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  void* out = HeapAllocate(total, kHeader, 1);
  return out ? out : __libc_calloc(count, size);
}

EXPORT void* realloc(void* ptr, size_t size) {
  if (!IsHeapPointer(ptr)) {
    // A glibc block that grows into a large one moves to the heap, as glibc would move it to
    // a mapping of its own.
    if (ptr && size >= heap_min_bytes && heap_state == kOn) {
      size_t old = malloc_usable_size(ptr);
      void* out = HeapAllocate(size, kHeader, 0);
      if (out) {
        memcpy(out, ptr, old < size ? old : size);
        __libc_free(ptr);
        return out;
      }
    }
    return __libc_realloc(ptr, size);
  }
  if (size == 0) {
    HeapFree(ptr);
    return NULL;
  }
  size_t usable = HeapUsable(ptr);
  if (size <= usable && size >= usable / 2) return ptr;
  void* out = malloc(size);
  if (!out) return NULL;
  memcpy(out, ptr, usable < size ? usable : size);
  HeapFree(ptr);
  return out;
}

EXPORT void* reallocarray(void* ptr, size_t count, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(ptr, total);
}

EXPORT int posix_memalign(void** out, size_t alignment, size_t size) {
  if (alignment < sizeof(void*) || (alignment & (alignment - 1))) return EINVAL;
  void* ptr = HeapAllocate(size, alignment, 0);
  if (!ptr) ptr = __libc_memalign(alignment, size);
  if (!ptr) return ENOMEM;
  *out = ptr;
  return 0;
}

EXPORT void* memalign(size_t alignment, size_t size) {
  void* ptr = HeapAllocate(size, alignment, 0);
  return ptr ? ptr : __libc_memalign(alignment, size);
}

EXPORT void* aligned_alloc(size_t alignment, size_t size) { return memalign(alignment, size); }

EXPORT void* valloc(size_t size) { return memalign(kPage, size); }

EXPORT void* pvalloc(size_t size) { return memalign(kPage, RoundUp(size, kPage)); }

EXPORT size_t malloc_usable_size(void* ptr) {
  if (IsHeapPointer(ptr)) return HeapUsable(ptr);
  static size_t (*glibc_usable)(void*) = NULL;
  if (!glibc_usable) glibc_usable = (size_t(*)(void*))dlsym(RTLD_NEXT, "malloc_usable_size");
  return ptr && glibc_usable ? glibc_usable(ptr) : 0;
}
