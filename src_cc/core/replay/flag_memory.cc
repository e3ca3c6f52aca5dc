#include "core/replay/flag_memory.hh"

#include <algorithm>


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

}  // namespace eidola
