// An allocator that backs large arrays with transparent huge pages (2 MiB) where the OS allows.
//
// Why: at thousands of GPUs the engine's hot arrays (event heap, in-flight packets, channels)
// span gigabytes and are read in no useful order, so with 4 KiB pages nearly every access also
// misses the TLB and walks the page table. Linux backs a region with 2 MiB pages only when
// asked (transparent_hugepage "madvise" mode, the common default), which this allocator does
// for allocations of 2 MiB and more. Smaller ones, and other systems, get ordinary memory; the
// contents and so the results never depend on which.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace eidola {

inline constexpr size_t kHugePageBytes = size_t(2) << 20;

// Memory for `bytes`: 2 MiB-aligned and advised for huge pages when `bytes` >= 2 MiB.
inline void* huge_page_alloc(size_t bytes) {
    if (bytes < kHugePageBytes) return ::operator new(bytes);
    const size_t rounded = (bytes + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
    void* p = std::aligned_alloc(kHugePageBytes, rounded);
    if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(p, rounded, MADV_HUGEPAGE);  // advice only: refused or unsupported is fine
#endif
    return p;
}

inline void huge_page_free(void* p, size_t bytes) noexcept {
    if (bytes < kHugePageBytes)
        ::operator delete(p);
    else
        std::free(p);
}

template <class T>
struct HugePageAllocator {
    using value_type = T;
    HugePageAllocator() noexcept = default;
    template <class U>
    HugePageAllocator(const HugePageAllocator<U>&) noexcept {}
    T* allocate(size_t n) {
        if (n > size_t(-1) / sizeof(T)) throw std::bad_array_new_length();
        return static_cast<T*>(huge_page_alloc(n * sizeof(T)));
    }
    void deallocate(T* p, size_t n) noexcept { huge_page_free(p, n * sizeof(T)); }
    template <class U>
    bool operator==(const HugePageAllocator<U>&) const noexcept { return true; }
    template <class U>
    bool operator!=(const HugePageAllocator<U>&) const noexcept { return false; }
};

// A vector whose storage takes huge pages once it is large.
template <class T>
using HugeVector = std::vector<T, HugePageAllocator<T>>;

}  // namespace eidola
