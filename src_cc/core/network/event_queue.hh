// The engine's event queue, ordered by (time, insertion sequence): ties run in the order they
// were scheduled, which makes every run with the same inputs replay identically.
//
// Near events sit in a calendar (R. Brown, "Calendar queues: a fast O(1) priority queue
// implementation for the simulation event set problem", CACM 31(10), 1988): a window of
// kBuckets time buckets of 2^shift ps each, found through a bitmap. A bucket is a list in
// (time, sequence) order, which takes nearly every push at its tail (most events are later
// than what a bucket holds; ties at one time are in push order) and gives its head to a pop,
// plus, for the pushes that belong inside the list, a pairing heap (Fredman, Sedgewick,
// Sleator and Tarjan, Algorithmica 1, 1986): O(1) to push, O(log k) amortized to pop. Those
// are mostly a lane's next events, which carry the sequence number they were scheduled with,
// long ago, and belong before every newer event at the same picosecond; with the list alone
// they walked past them (the pod's synchronized GPUs make thousands) and the walk was 28% of
// the 16,384-GPU pod's time. With the heap alone a ring paid the pairing on every pop. Events past the window wait in a 4-ary heap and move into the
// calendar as the window slides over them. So the order is exactly one heap's, but a pop no
// longer sifts through a heap of every GPU's next event: at 4096 GPUs that sift-down was
// half of the engine's time (perf). The bucket width adapts to how many events share a bucket
// and how many overshoot the window, rebuilding the calendar when it changes.
//
// Lanes keep the queue small. Many events come from FIFO resources whose completion times
// never go back: arrivals at the end of one channel, data leaving one GPU's memory. A
// resource's events wait in its lane, in the order scheduled, and only the lane's earliest is
// in the queue; when it runs, the lane's next one takes its place. An event earlier than its
// lane's last goes into the queue directly. Either way events run in exactly the (time,
// sequence) order, so results do not change.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
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
    // Event types must stay below 2^8: the bits above carry the lane.
    static constexpr uint32_t kMaxLanes = (uint32_t(1) << 24) - 1;

    EventQueue() : buckets_(kBuckets), bits_(kBuckets / 64, 0) { reset_window(0); }

    // Makes lanes 0..n-1 available (n <= kMaxLanes); drops none already queued.
    void set_lanes(uint32_t n) { lanes_.resize(n); }
    uint32_t num_lanes() const { return static_cast<uint32_t>(lanes_.size()); }

    void push(Tick when, uint32_t type, uint32_t a, uint64_t b) { insert({when, seq_++, type, a, b}); }
    // An event of the FIFO resource `lane` (see above).
    void push(Tick when, uint32_t type, uint32_t a, uint64_t b, uint32_t lane) {
        Lane& l = lanes_[lane];
        const Event e{when, seq_++, type | ((lane + 1) << 8), a, b};
        if (!l.queued) {
            l.queued = true;
            l.last = when;
            insert(e);
        } else if (when < l.last) {
            insert({when, e.seq, type, a, b});  // out of order: an ordinary event
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
    // A lane with events always has its earliest in the queue, so an empty queue means none.
    bool empty() const { return near_ == 0 && far_.empty(); }
    size_t size() const { return near_ + far_.size() + in_lanes_; }
    // Events in the queue itself (the rest wait in lanes).
    size_t heap_size() const { return near_ + far_.size(); }
    Event pop() {
        Event top = take_earliest();
        if (const uint32_t lane_plus1 = top.type >> 8) {
            top.type &= 0xFF;
            Lane& l = lanes_[lane_plus1 - 1];
            if (l.head == kNil) {
                l.queued = false;
            } else {  // the lane's next event takes its place
                const uint32_t id = l.head;
                l.head = nodes_[id].next;
                if (l.head == kNil) l.tail = kNil;
                const Event next = nodes_[id].event;
                free_.push_back(id);
                --in_lanes_;
                insert(next);
            }
        }
        return top;
    }
    // Width of a calendar bucket now (ps), for tests and diagnostics.
    Tick bucket_ps() const { return Tick(1) << shift_; }

  private:
    static constexpr uint32_t kNil = ~uint32_t(0);
    static constexpr uint32_t kBuckets = 1 << 14;  // calendar buckets (a power of two)
    static constexpr uint32_t kMask = kBuckets - 1;
    // Adapting the width: judged every kJudgeEvery pops, from the events a bucket's pairing
    // heaps took and paired up per pop and the share of pushes that overshot the window.
    static constexpr uint64_t kJudgeEvery = 1 << 16;
    static constexpr uint32_t kMaxShift = 40;  // 1.1 s buckets: wide enough for any run

    struct Lane {
        uint32_t head = kNil, tail = kNil;  // events waiting behind the one queued
        bool queued = false;                // the lane's earliest event is in the queue
        Tick last = 0;                      // time of the lane's latest event
    };
    struct Node {
        Event event;
        uint32_t next;              // lane, bucket list: the next event; pairing heap: next sibling
        uint32_t child = kNil;      // pairing heap: the first child
    };
    struct Bucket {
        uint32_t head = kNil, tail = kNil;  // the list
        uint32_t side = kNil;               // root of the pairing heap
    };
    uint32_t new_node(const Event& e) {
        if (!free_.empty()) {
            const uint32_t id = free_.back();
            free_.pop_back();
            nodes_[id] = {e, kNil, kNil};
            return id;
        }
        nodes_.push_back({e, kNil, kNil});
        return static_cast<uint32_t>(nodes_.size() - 1);
    }
    static bool before(const Event& x, const Event& y) {
        return x.when < y.when || (x.when == y.when && x.seq < y.seq);
    }

    // --- calendar ---------------------------------------------------------------------
    uint32_t bucket_of(Tick when) const {
        return when < base_ ? cur_ : static_cast<uint32_t>((when >> shift_) & kMask);
    }
    void reset_window(Tick start) {
        base_ = (start >> shift_) << shift_;
        cur_ = static_cast<uint32_t>((base_ >> shift_) & kMask);
        set_window_end();
    }
    void set_window_end() {
        end_ = base_ + (Tick(kBuckets) << shift_);
        if (end_ < base_) end_ = kMaxTick;  // the window reaches the end of time
    }
    void insert(const Event& e) {
        ++pushes_;
        if (e.when >= end_) {
            ++overshoots_;
            far_push(e);
            return;
        }
        link(e);
    }
    void link(const Event& e) {
        const uint32_t b = bucket_of(e.when);
        const uint32_t id = new_node(e);
        Bucket& bk = buckets_[b];
        if (bk.head == kNil && bk.side == kNil) bits_[b >> 6] |= uint64_t(1) << (b & 63);
        if (bk.head == kNil) {
            bk.head = bk.tail = id;
        } else if (!before(e, nodes_[bk.tail].event)) {  // the usual case: after all it holds
            nodes_[bk.tail].next = id;
            bk.tail = id;
        } else if (before(e, nodes_[bk.head].event)) {
            nodes_[id].next = bk.head;
            bk.head = id;
        } else {  // inside the list's span
            ++steps_;
            bk.side = bk.side == kNil ? id : meld(bk.side, id);
        }
        ++near_;
    }
    // Two pairing-heap roots (no siblings) made one.
    uint32_t meld(uint32_t x, uint32_t y) {
        if (before(nodes_[y].event, nodes_[x].event)) std::swap(x, y);
        nodes_[y].next = nodes_[x].child;
        nodes_[x].child = y;
        return x;
    }
    // The heap of the children of a popped root: paired left to right, then melded right to
    // left (the two-pass rule).
    uint32_t meld_children(uint32_t first) {
        uint32_t pairs = kNil;  // melded pairs, most recent first, chained through `next`
        while (first != kNil) {
            const uint32_t x = first, y = nodes_[x].next;
            ++steps_;
            if (y == kNil) {
                nodes_[x].next = pairs;
                pairs = x;
                break;
            }
            first = nodes_[y].next;
            nodes_[x].next = nodes_[y].next = kNil;
            const uint32_t m = meld(x, y);
            nodes_[m].next = pairs;
            pairs = m;
        }
        uint32_t root = pairs;
        if (root == kNil) return kNil;
        uint32_t rest = nodes_[root].next;
        nodes_[root].next = kNil;
        while (rest != kNil) {
            const uint32_t x = rest;
            rest = nodes_[x].next;
            nodes_[x].next = kNil;
            root = meld(root, x);
        }
        return root;
    }
    // The first non-empty bucket at or after cur_ (wrapping); near_ > 0.
    uint32_t next_bucket() const {
        uint32_t word = cur_ >> 6;
        uint64_t w = bits_[word] & (~uint64_t(0) << (cur_ & 63));
        for (;;) {
            if (w) return (word << 6) | static_cast<uint32_t>(__builtin_ctzll(w));
            word = (word + 1) & (kBuckets / 64 - 1);
            w = bits_[word];
        }
    }
    // Far events the window now covers move into the calendar.
    void take_in_far() {
        while (!far_.empty() && far_.front().when < end_) {
            link(far_.front());
            far_pop();
        }
    }
    Event take_earliest() {
        if (++pops_ % kJudgeEvery == 0) judge_width();
        if (near_ == 0) {  // the calendar is empty: move the window to the earliest far event
            reset_window(far_.front().when);
            take_in_far();
        } else {
            const uint32_t b = next_bucket();
            if (b != cur_) {  // the window slides over empty buckets
                base_ += Tick((b - cur_) & kMask) << shift_;
                cur_ = b;
                set_window_end();
                take_in_far();
            }
        }
        Bucket& bk = buckets_[cur_];  // the earlier of the list's head and the heap's root
        uint32_t id;
        if (bk.side == kNil || (bk.head != kNil && before(nodes_[bk.head].event, nodes_[bk.side].event))) {
            id = bk.head;
            bk.head = nodes_[id].next;
            if (bk.head == kNil) bk.tail = kNil;
        } else {
            id = bk.side;
            bk.side = meld_children(nodes_[id].child);
        }
        if (bk.head == kNil && bk.side == kNil) bits_[cur_ >> 6] &= ~(uint64_t(1) << (cur_ & 63));
        --near_;
        free_.push_back(id);
        return nodes_[id].event;
    }
    // Narrower buckets when many events go through the buckets' heaps (full buckets); wider
    // when many pushes overshoot the window (they pay the far heap) and hardly any do. The gap
    // between the two thresholds keeps the width from swinging back and forth.
    void judge_width() {
        const double steps = double(steps_) / double(kJudgeEvery);
        const double overshoot = pushes_ ? double(overshoots_) / double(pushes_) : 0.0;
        steps_ = pushes_ = overshoots_ = 0;
        uint32_t shift = shift_;
        if (steps > 8.0 && shift_ > 0)
            --shift;
        else if (overshoot > 0.25 && steps < 1.0 && shift_ < kMaxShift)
            ++shift;
        if (shift != shift_) rebuild(shift);
    }
    void rebuild(uint32_t shift) {
        std::vector<Event> near;
        near.reserve(near_);
        std::vector<uint32_t> stack;
        for (Bucket& bk : buckets_) {
            for (uint32_t id = bk.head; id != kNil; id = nodes_[id].next) {
                near.push_back(nodes_[id].event);
                free_.push_back(id);
            }
            if (bk.side != kNil) stack.push_back(bk.side);
            while (!stack.empty()) {  // every node of the heap: children and siblings
                const uint32_t id = stack.back();
                stack.pop_back();
                near.push_back(nodes_[id].event);
                if (nodes_[id].child != kNil) stack.push_back(nodes_[id].child);
                if (nodes_[id].next != kNil) stack.push_back(nodes_[id].next);
                free_.push_back(id);
            }
            bk = Bucket{};
        }
        std::fill(bits_.begin(), bits_.end(), 0);
        near_ = 0;
        std::sort(near.begin(), near.end(), before);  // the window starts at the earliest
        shift_ = shift;
        reset_window(near.empty() ? base_ : std::min(base_, near.front().when));
        for (const Event& e : near) {
            if (e.when >= end_)
                far_push(e);
            else
                link(e);
        }
        take_in_far();
    }

    // --- far heap: 4-ary, four children in two cache lines --------------------------------
    static constexpr size_t kArity = 4;
    void far_push(const Event& e) {
        far_.push_back(e);
        size_t i = far_.size() - 1;
        while (i > 0) {
            const size_t parent = (i - 1) / kArity;
            if (!before(e, far_[parent])) break;
            far_[i] = far_[parent];
            i = parent;
        }
        far_[i] = e;
    }
    void far_pop() {
        const Event e = far_.back();
        far_.pop_back();
        const size_t n = far_.size();
        if (n == 0) return;
        size_t i = 0;
        for (;;) {
            const size_t first = kArity * i + 1;
            if (first >= n) break;
            size_t child = first;
            const size_t last = first + kArity < n ? first + kArity : n;
            for (size_t c = first + 1; c < last; ++c)
                if (before(far_[c], far_[child])) child = c;
            if (!before(far_[child], e)) break;
            far_[i] = far_[child];
            i = child;
        }
        far_[i] = e;
    }

    uint64_t seq_ = 0;
    // calendar: bucket b; bit b of bits_ says it is non-empty
    std::vector<Bucket> buckets_;
    std::vector<uint64_t> bits_;
    uint32_t shift_ = 8;   // bucket width 2^shift ps (256 ps to start with)
    uint32_t cur_ = 0;     // bucket holding the earliest near event
    Tick base_ = 0;        // start of bucket cur_
    Tick end_ = 0;         // the window's end: later events wait in far_
    size_t near_ = 0;      // events in the calendar
    uint64_t pops_ = 0, steps_ = 0, pushes_ = 0, overshoots_ = 0;
    HugeVector<Event> far_;
    std::vector<Lane> lanes_;
    HugeVector<Node> nodes_;  // calendar entries and lane entries
    std::vector<uint32_t> free_;
    size_t in_lanes_ = 0;
};

}  // namespace eidola
