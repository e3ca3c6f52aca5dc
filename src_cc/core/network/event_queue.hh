// A 4-ary heap event queue ordered by (time, insertion sequence): ties run in the order they
// were scheduled, which makes every run with the same inputs replay identically. Four children
// per node halve the depth of a binary heap and keep a node's children in two cache lines,
// which matters once the heap holds millions of events (thousands of GPUs).
#pragma once

#include <cstdint>
#include <vector>

#include "core/replay/types.hh"

namespace eidola {

struct Event {
    Tick when;
    uint64_t seq;
    uint32_t type;
    uint32_t a;
    uint64_t b;
};

class EventQueue {
  public:
    void push(Tick when, uint32_t type, uint32_t a, uint64_t b) {
        heap_.push_back({when, seq_++, type, a, b});
        sift_up(heap_.size() - 1);
    }
    bool empty() const { return heap_.empty(); }
    size_t size() const { return heap_.size(); }
    Event pop() {
        Event top = heap_.front();
        heap_.front() = heap_.back();
        heap_.pop_back();
        if (!heap_.empty()) sift_down(0);
        return top;
    }

  private:
    static bool before(const Event& x, const Event& y) {
        return x.when < y.when || (x.when == y.when && x.seq < y.seq);
    }
    static constexpr size_t kArity = 4;
    void sift_up(size_t i) {
        Event e = heap_[i];
        while (i > 0) {
            size_t parent = (i - 1) / kArity;
            if (!before(e, heap_[parent])) break;
            heap_[i] = heap_[parent];
            i = parent;
        }
        heap_[i] = e;
    }
    void sift_down(size_t i) {
        const size_t n = heap_.size();
        Event e = heap_[i];
        for (;;) {
            const size_t first = kArity * i + 1;
            if (first >= n) break;
            size_t child = first;
            const size_t last = first + kArity < n ? first + kArity : n;
            for (size_t c = first + 1; c < last; ++c)
                if (before(heap_[c], heap_[child])) child = c;
            if (!before(heap_[child], e)) break;
            heap_[i] = heap_[child];
            i = child;
        }
        heap_[i] = e;
    }
    std::vector<Event> heap_;
    uint64_t seq_ = 0;
};

}  // namespace eidola
