// A binary-heap event queue ordered by (time, insertion sequence): ties run in the order they
// were scheduled, which makes every run with the same inputs replay identically.
#pragma once

#include <cstdint>
#include <vector>

#include "core/types.hh"

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
    void sift_up(size_t i) {
        Event e = heap_[i];
        while (i > 0) {
            size_t parent = (i - 1) / 2;
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
            size_t child = 2 * i + 1;
            if (child >= n) break;
            if (child + 1 < n && before(heap_[child + 1], heap_[child])) ++child;
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
