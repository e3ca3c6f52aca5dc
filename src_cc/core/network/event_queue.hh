// A 4-ary heap event queue ordered by (time, insertion sequence): ties run in the order they
// were scheduled, which makes every run with the same inputs replay identically. Four children
// per node halve the depth of a binary heap and keep a node's children in two cache lines,
// which matters once the heap holds millions of events (thousands of GPUs).
//
// Lanes keep the heap small. Many events come from FIFO resources whose completion times never
// go back: arrivals at the end of one channel, data leaving one GPU's memory. A resource's
// events wait in its lane, in the order scheduled, and only the lane's earliest is in the heap;
// when it runs, the lane's next one takes its place. An event earlier than its lane's last goes
// into the heap directly. Either way events run in exactly the (time, sequence) order of one
// heap, so results do not change; but a pod's millions of reads queued at HBM no longer deepen
// the heap every other event has to sift through.
#pragma once

#include <cstdint>
#include <vector>

#include "core/replay/huge_pages.hh"
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
    // Event types must stay below 2^8: the bits above carry the lane in the heap.
    static constexpr uint32_t kMaxLanes = (uint32_t(1) << 24) - 1;

    // Makes lanes 0..n-1 available (n <= kMaxLanes); drops none already queued.
    void set_lanes(uint32_t n) { lanes_.resize(n); }
    uint32_t num_lanes() const { return static_cast<uint32_t>(lanes_.size()); }

    void push(Tick when, uint32_t type, uint32_t a, uint64_t b) {
        push_heap({when, seq_++, type, a, b});
    }
    // An event of the FIFO resource `lane` (see above).
    void push(Tick when, uint32_t type, uint32_t a, uint64_t b, uint32_t lane) {
        Lane& l = lanes_[lane];
        const Event e{when, seq_++, type | ((lane + 1) << 8), a, b};
        if (!l.in_heap) {
            l.in_heap = true;
            l.last = when;
            push_heap(e);
        } else if (when < l.last) {
            push_heap({when, e.seq, type, a, b});  // out of order: an ordinary event
        } else {
            l.last = when;
            const uint32_t id = new_node(e);
            if (l.tail == kNil)
                l.head = id;
            else
                nodes_[l.tail].next = id;
            l.tail = id;
            ++in_lanes_;
        }
    }
    // A lane with events always has its earliest in the heap, so an empty heap means no events.
    bool empty() const { return heap_.empty(); }
    size_t size() const { return heap_.size() + in_lanes_; }
    // Events in the heap itself (the rest wait in lanes).
    size_t heap_size() const { return heap_.size(); }
    Event pop() {
        Event top = heap_.front();
        heap_.front() = heap_.back();
        heap_.pop_back();
        if (!heap_.empty()) sift_down(0);
        if (const uint32_t lane_plus1 = top.type >> 8) {
            top.type &= 0xFF;
            Lane& l = lanes_[lane_plus1 - 1];
            if (l.head == kNil) {
                l.in_heap = false;
            } else {  // the lane's next event takes its place
                const uint32_t id = l.head;
                l.head = nodes_[id].next;
                if (l.head == kNil) l.tail = kNil;
                push_heap(nodes_[id].event);
                free_.push_back(id);
                --in_lanes_;
            }
        }
        return top;
    }

  private:
    static constexpr uint32_t kNil = ~uint32_t(0);
    struct Lane {
        uint32_t head = kNil, tail = kNil;  // events waiting behind the one in the heap
        bool in_heap = false;               // the lane's earliest event is in the heap
        Tick last = 0;                      // time of the lane's latest event
    };
    struct Node {
        Event event;
        uint32_t next;
    };
    uint32_t new_node(const Event& e) {
        if (!free_.empty()) {
            const uint32_t id = free_.back();
            free_.pop_back();
            nodes_[id] = {e, kNil};
            return id;
        }
        nodes_.push_back({e, kNil});
        return static_cast<uint32_t>(nodes_.size() - 1);
    }
    void push_heap(const Event& e) {
        heap_.push_back(e);
        sift_up(heap_.size() - 1);
    }
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
    HugeVector<Event> heap_;
    uint64_t seq_ = 0;
    std::vector<Lane> lanes_;
    HugeVector<Node> nodes_;
    std::vector<uint32_t> free_;
    size_t in_lanes_ = 0;
};

}  // namespace eidola
