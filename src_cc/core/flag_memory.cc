#include "core/flag_memory.hh"

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

void FlagMemory::add(int32_t flag, int64_t delta, Tick now, std::vector<Watcher>& woken) {
    Flag& f = slot(flag);
    f.value += delta;
    f.history.push_back({f.value, now});
    if (f.watchers.empty()) return;
    auto keep = f.watchers.begin();
    for (auto it = f.watchers.begin(); it != f.watchers.end(); ++it) {
        if (it->threshold <= f.value) {
            woken.push_back(*it);
            --pending_;
        } else {
            *keep++ = *it;
        }
    }
    f.watchers.erase(keep, f.watchers.end());
}

bool FlagMemory::watch(int32_t flag, const Watcher& w) {
    Flag& f = slot(flag);
    if (f.value >= w.threshold) return true;
    f.watchers.push_back(w);
    ++pending_;
    return false;
}

Tick FlagMemory::satisfied_at(int32_t flag, int64_t threshold) const {
    if (threshold <= 0) return 0;
    const Flag* f = find(flag);
    if (!f || f->value < threshold) return kMaxTick;
    // Values only grow, so the history is sorted by value_after.
    auto it = std::lower_bound(f->history.begin(), f->history.end(), threshold,
                               [](const Update& u, int64_t t) { return u.value_after < t; });
    return it->when;
}

void FlagMemory::pending(std::vector<std::pair<int32_t, Watcher>>& out) const {
    for (size_t i = 0; i < dense_.size(); ++i)
        for (const auto& w : dense_[i].watchers) out.emplace_back(static_cast<int32_t>(i), w);
    for (const auto& [flag, f] : sparse_)
        for (const auto& w : f.watchers) out.emplace_back(flag, w);
}

}  // namespace eidola
