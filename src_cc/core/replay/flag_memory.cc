#include "core/replay/flag_memory.hh"

#include <algorithm>
#include <utility>


namespace eidola {

namespace {
constexpr int32_t kDenseLimit = 1 << 22;
}

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
    for (uint32_t i = f->last; i != kNone; i = log_[i].prev)
        if (log_[i].when <= when) return log_[i].value_after;
    return 0;
}

void FlagMemory::add(int32_t flag, int64_t delta, Tick now, std::vector<Watcher>& woken) {
    Flag& f = slot(flag);
    f.value += delta;
    const uint32_t idx = static_cast<uint32_t>(log_.size());
    log_.push_back({f.value, now, kNone, f.last});
    if (f.last == kNone)
        f.first = idx;
    else
        log_[f.last].next = idx;
    f.last = idx;
    if (watchers_.empty()) return;
    auto it = watchers_.find(flag);
    if (it == watchers_.end()) return;
    std::vector<Watcher>& list = it->second;
    auto keep = list.begin();
    for (auto w = list.begin(); w != list.end(); ++w) {
        if (w->threshold <= f.value || (wake_ == WakeOn::Change && delta != 0)) {
            woken.push_back(*w);
            --pending_;
            ++watch_stats_.wakeups;
        } else {
            *keep++ = *w;
        }
    }
    list.erase(keep, list.end());
    if (list.empty()) watchers_.erase(it);
}

WatchResult FlagMemory::watch(int32_t flag, const Watcher& w) {
    if (value(flag) >= w.threshold) return WatchResult::Satisfied;
    if (capacity_ != 0 && pending_ >= capacity_) {
        ++watch_stats_.overflows;
        return WatchResult::Full;
    }
    watchers_[flag].push_back(w);
    ++pending_;
    ++watch_stats_.registrations;
    watch_stats_.peak_entries = std::max(watch_stats_.peak_entries, pending_);
    return WatchResult::Registered;
}

Tick FlagMemory::satisfied_at(int32_t flag, int64_t threshold) const {
    if (threshold <= 0) return 0;
    const Flag* f = find(flag);
    if (!f || f->value < threshold) return kMaxTick;
    // Values only grow: the first update at or above the threshold is when it became true.
    for (uint32_t i = f->first; i != kNone; i = log_[i].next)
        if (log_[i].value_after >= threshold) return log_[i].when;
    return kMaxTick;
}

void FlagMemory::pending(std::vector<std::pair<int32_t, Watcher>>& out) const {
    for (const auto& [flag, list] : watchers_)
        for (const auto& w : list) out.emplace_back(flag, w);
}

void FlagMemory::release_watches(std::vector<std::pair<int32_t, Watcher>>& out) {
    pending(out);
    watchers_.clear();
    pending_ = 0;
}

namespace {

void save_flag_chain(StateOut& out, int64_t value, uint32_t first, uint32_t last) {
    out.i64(value);
    out.u64(first);
    out.u64(last);
}

}  // namespace

void FlagMemory::save(StateOut& out) const {
    out.u64(dense_.size());
    for (const Flag& f : dense_) save_flag_chain(out, f.value, f.first, f.last);
    std::vector<std::pair<int32_t, Flag>> sparse(sparse_.begin(), sparse_.end());
    std::sort(sparse.begin(), sparse.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    out.u64(sparse.size());
    for (const auto& [id, f] : sparse) {
        out.i64(id);
        save_flag_chain(out, f.value, f.first, f.last);
    }
    out.u64(log_.size());
    for (const Update& u : log_) {
        out.i64(u.value_after);
        out.u64(u.when);
        out.u64(u.next);
        out.u64(u.prev);
    }
    out.u64(watchers_.size());
    for (const auto& [flag, list] : watchers_) {
        out.i64(flag);
        out.u64(list.size());
        for (const Watcher& w : list) {
            out.u64(w.gpu);
            out.u64(w.stream);
            out.i64(w.threshold);
        }
    }
    out.u64(pending_);
    out.u64(watch_stats_.registrations);
    out.u64(watch_stats_.overflows);
    out.u64(watch_stats_.wakeups);
    out.u64(watch_stats_.peak_entries);
}

void FlagMemory::load(StateIn& in) {
    auto chain = [&in](Flag& f) {
        f.value = in.i64();
        f.first = static_cast<uint32_t>(in.u64());
        f.last = static_cast<uint32_t>(in.u64());
    };
    dense_.assign(in.count(3), Flag{});
    for (Flag& f : dense_) chain(f);
    sparse_.clear();
    for (size_t n = in.count(4); n > 0; --n) {
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
    watchers_.clear();
    for (size_t n = in.count(2); n > 0; --n) {
        std::vector<Watcher>& list = watchers_[static_cast<int32_t>(in.i64())];
        list.resize(in.count(3));
        for (Watcher& w : list) {
            w.gpu = static_cast<uint32_t>(in.u64());
            w.stream = static_cast<uint32_t>(in.u64());
            w.threshold = in.i64();
        }
    }
    pending_ = static_cast<size_t>(in.u64());
    watch_stats_.registrations = in.u64();
    watch_stats_.overflows = in.u64();
    watch_stats_.wakeups = in.u64();
    watch_stats_.peak_entries = static_cast<size_t>(in.u64());
}

}  // namespace eidola
