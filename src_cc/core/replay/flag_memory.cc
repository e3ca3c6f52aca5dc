#include "core/replay/flag_memory.hh"

#include <algorithm>
#include <utility>


namespace eidola {

FlagMemory::Flag& FlagMemory::slot(int32_t flag) {
    if (flag >= 0 && flag < kDenseLimit) {
        if (static_cast<size_t>(flag) >= dense_.size()) dense_.resize(static_cast<size_t>(flag) + 1);
        return dense_[static_cast<size_t>(flag)];
    }
    return sparse_[flag];
}

const FlagMemory::Flag* FlagMemory::find(int32_t flag) const {
    if (flag >= 0 && flag < kDenseLimit)
        return static_cast<size_t>(flag) < dense_.size() ? &dense_[static_cast<size_t>(flag)] : nullptr;
    auto it = sparse_.find(flag);
    return it == sparse_.end() ? nullptr : &it->second;
}

int64_t FlagMemory::value(int32_t flag) const {
    const Flag* f = find(flag);
    return f ? f->value : 0;
}

int64_t FlagMemory::value_at(int32_t flag, Tick when) const {
    const Flag* f = find(flag);
    if (!f) return 0;
    if (f->first == kNone) return f->first_when <= when ? f->value : 0;  // updated at most once
    for (uint32_t i = f->last; i != kNone; i = log_[i].prev)
        if (log_[i].when <= when) return log_[i].value_after;
    return 0;
}

uint32_t FlagMemory::append_update(int64_t value_after, Tick when, uint32_t prev) {
    const uint32_t idx = static_cast<uint32_t>(log_.size());
    log_.push_back({value_after, when, kNone, prev});
    if (prev != kNone) log_[prev].next = idx;
    return idx;
}

void FlagMemory::add(int32_t flag, int64_t delta, Tick now, std::vector<Watcher>& woken) {
    Flag& f = slot(flag);
    const int64_t before = f.value;
    f.value += delta;
    if (f.first_when == kMaxTick) {
        f.first_when = now;  // the first update stays in the flag
    } else {
        if (f.first == kNone)  // a second update: the history moves to the log, first one included
            f.first = f.last = append_update(before, f.first_when, kNone);
        f.last = append_update(f.value, now, f.last);
    }
    if (pending_ == 0) return;
    WatchSlot* ws = find_watch_slot(flag);
    if (!ws) return;
    // Wake in registration order; the rest keep their order.
    uint32_t keep_head = kNone, keep_tail = kNone;
    for (uint32_t n = ws->head; n != kNone;) {
        WatchNode& node = watch_pool_[n];
        const uint32_t next = node.next;
        if (node.w.threshold <= f.value || (wake_ == WakeOn::Change && delta != 0)) {
            woken.push_back(node.w);
            --pending_;
            ++watch_stats_.wakeups;
            node.next = watch_free_;
            watch_free_ = n;
        } else {
            node.next = kNone;
            if (keep_tail == kNone)
                keep_head = n;
            else
                watch_pool_[keep_tail].next = n;
            keep_tail = n;
        }
        n = next;
    }
    if (keep_head == kNone) {
        erase_watch_slot(ws);
    } else {
        ws->head = keep_head;
        ws->tail = keep_tail;
    }
}

WatchResult FlagMemory::watch(int32_t flag, const Watcher& w) {
    if (value(flag) >= w.threshold) return WatchResult::Satisfied;
    if (capacity_ != 0 && pending_ >= capacity_) {
        ++watch_stats_.overflows;
        return WatchResult::Full;
    }
    const uint32_t n = alloc_watch_node();
    watch_pool_[n] = WatchNode{w, kNone};
    insert_watch(flag, n);
    ++pending_;
    ++watch_stats_.registrations;
    watch_stats_.peak_entries = std::max(watch_stats_.peak_entries, pending_);
    return WatchResult::Registered;
}

uint32_t FlagMemory::alloc_watch_node() {
    if (watch_free_ != kNone) {
        const uint32_t n = watch_free_;
        watch_free_ = watch_pool_[n].next;
        return n;
    }
    watch_pool_.emplace_back();
    return static_cast<uint32_t>(watch_pool_.size() - 1);
}

namespace {
size_t watch_home(int32_t flag, size_t mask) {
    return (static_cast<uint32_t>(flag) * 0x9E3779B1u) & mask;  // Fibonacci hashing
}
}  // namespace

FlagMemory::WatchSlot* FlagMemory::find_watch_slot(int32_t flag) {
    if (watch_index_.empty()) return nullptr;
    const size_t mask = watch_index_.size() - 1;
    for (size_t i = watch_home(flag, mask);; i = (i + 1) & mask) {
        WatchSlot& s = watch_index_[i];
        if (s.head == kNone) return nullptr;
        if (s.flag == flag) return &s;
    }
}

void FlagMemory::insert_watch(int32_t flag, uint32_t node) {
    if (WatchSlot* s = find_watch_slot(flag)) {
        watch_pool_[s->tail].next = node;
        s->tail = node;
        return;
    }
    if (2 * (watched_flags_ + 1) > watch_index_.size()) {  // keep it at most half full
        std::vector<WatchSlot> old;
        old.swap(watch_index_);
        watch_index_.assign(std::max<size_t>(16, 2 * old.size()), WatchSlot{});
        for (const WatchSlot& s : old)
            if (s.head != kNone) place_watch_slot(s);
    }
    place_watch_slot(WatchSlot{flag, node, node});
    ++watched_flags_;
}

void FlagMemory::place_watch_slot(const WatchSlot& slot) {
    const size_t mask = watch_index_.size() - 1;
    size_t i = watch_home(slot.flag, mask);
    while (watch_index_[i].head != kNone) i = (i + 1) & mask;
    watch_index_[i] = slot;
}

// Linear-probing deletion by backward shift: later entries of the probe run move up so that
// every remaining flag stays reachable from its home slot without tombstones.
void FlagMemory::erase_watch_slot(WatchSlot* slot) {
    const size_t mask = watch_index_.size() - 1;
    size_t hole = static_cast<size_t>(slot - watch_index_.data());
    for (size_t j = (hole + 1) & mask; watch_index_[j].head != kNone; j = (j + 1) & mask) {
        const size_t home = watch_home(watch_index_[j].flag, mask);
        const bool reachable = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (reachable) continue;  // its home lies after the hole: it stays
        watch_index_[hole] = watch_index_[j];
        hole = j;
    }
    watch_index_[hole] = WatchSlot{};
    --watched_flags_;
}

Tick FlagMemory::satisfied_at(int32_t flag, int64_t threshold) const {
    if (threshold <= 0) return 0;
    const Flag* f = find(flag);
    if (!f || f->value < threshold) return kMaxTick;
    if (f->first == kNone) return f->first_when;  // one update, and it reached the threshold
    // Values only grow: the first update at or above the threshold is when it became true.
    for (uint32_t i = f->first; i != kNone; i = log_[i].next)
        if (log_[i].value_after >= threshold) return log_[i].when;
    return kMaxTick;
}

void FlagMemory::pending(std::vector<std::pair<int32_t, Watcher>>& out) const {
    // flag order, then registration order (a chain is already in registration order)
    std::vector<const WatchSlot*> slots;
    for (const WatchSlot& s : watch_index_)
        if (s.head != kNone) slots.push_back(&s);
    std::sort(slots.begin(), slots.end(), [](const WatchSlot* a, const WatchSlot* b) { return a->flag < b->flag; });
    for (const WatchSlot* s : slots)
        for (uint32_t n = s->head; n != kNone; n = watch_pool_[n].next) out.emplace_back(s->flag, watch_pool_[n].w);
}

void FlagMemory::release_watches(std::vector<std::pair<int32_t, Watcher>>& out) {
    pending(out);
    watch_pool_.clear();
    watch_free_ = kNone;
    watch_index_.clear();
    watched_flags_ = 0;
    pending_ = 0;
}

namespace {

// Layout of the saved flag state; a checkpoint with another layout is refused by name.
constexpr uint64_t kFlagStateLayout = 2;  // 2: a flag's first update is kept in the flag

void save_flag_chain(StateOut& out, int64_t value, Tick first_when, uint32_t first, uint32_t last) {
    out.i64(value);
    out.u64(first_when);
    out.u64(first);
    out.u64(last);
}

}  // namespace

void FlagMemory::save(StateOut& out) const {
    out.u64(kFlagStateLayout);
    out.u64(dense_.size());
    for (const Flag& f : dense_) save_flag_chain(out, f.value, f.first_when, f.first, f.last);
    std::vector<std::pair<int32_t, Flag>> sparse(sparse_.begin(), sparse_.end());
    std::sort(sparse.begin(), sparse.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    out.u64(sparse.size());
    for (const auto& [id, f] : sparse) {
        out.i64(id);
        save_flag_chain(out, f.value, f.first_when, f.first, f.last);
    }
    out.u64(log_.size());
    for (const Update& u : log_) {
        out.i64(u.value_after);
        out.u64(u.when);
        out.u64(u.next);
        out.u64(u.prev);
    }
    std::vector<std::pair<int32_t, Watcher>> watching;
    pending(watching);  // flag order, then registration order
    out.u64(watching.size());
    for (const auto& [flag, w] : watching) {
        out.i64(flag);
        out.u64(w.gpu);
        out.u64(w.stream);
        out.i64(w.threshold);
    }
    out.u64(pending_);
    out.u64(watch_stats_.registrations);
    out.u64(watch_stats_.overflows);
    out.u64(watch_stats_.wakeups);
    out.u64(watch_stats_.peak_entries);
}

void FlagMemory::load(StateIn& in) {
    in.expect(kFlagStateLayout, "flag state layout");
    auto chain = [&in](Flag& f) {
        f.value = in.i64();
        f.first_when = in.u64();
        f.first = static_cast<uint32_t>(in.u64());
        f.last = static_cast<uint32_t>(in.u64());
    };
    dense_.assign(in.count(4), Flag{});
    for (Flag& f : dense_) chain(f);
    sparse_.clear();
    for (size_t n = in.count(5); n > 0; --n) {
        const int32_t id = static_cast<int32_t>(in.i64());
        chain(sparse_[id]);
    }
    log_.resize(in.count(4));
    for (Update& u : log_) {
        u.value_after = in.i64();
        u.when = in.u64();
        u.next = static_cast<uint32_t>(in.u64());
        u.prev = static_cast<uint32_t>(in.u64());
    }
    // Every chain link must point into the history (or be the end marker).
    const auto in_log = [this](uint32_t i) { return i == kNone || i < log_.size(); };
    for (const Flag& f : dense_)
        if (!in_log(f.first) || !in_log(f.last)) in.fail("has a flag history outside the update log");
    for (const auto& kv : sparse_)
        if (!in_log(kv.second.first) || !in_log(kv.second.last)) in.fail("has a flag history outside the update log");
    for (const Update& u : log_)
        if (!in_log(u.next) || !in_log(u.prev)) in.fail("has a flag history outside the update log");
    watch_pool_.clear();
    watch_free_ = kNone;
    watch_index_.clear();
    watched_flags_ = 0;
    const size_t watching = in.count(4);
    for (size_t n = 0; n < watching; ++n) {
        const int32_t flag = static_cast<int32_t>(in.i64());
        Watcher w;
        w.gpu = static_cast<uint32_t>(in.u64());
        w.stream = static_cast<uint32_t>(in.u64());
        w.threshold = in.i64();
        const uint32_t node = alloc_watch_node();
        watch_pool_[node] = WatchNode{w, kNone};
        insert_watch(flag, node);
    }
    pending_ = static_cast<size_t>(in.u64());
    if (pending_ != watching) in.fail("has a watch count that does not match its entries");
    watch_stats_.registrations = in.u64();
    watch_stats_.overflows = in.u64();
    watch_stats_.wakeups = in.u64();
    watch_stats_.peak_entries = static_cast<size_t>(in.u64());
}

}  // namespace eidola
