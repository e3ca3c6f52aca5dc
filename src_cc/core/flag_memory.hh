// The flags of one GPU and the SyncMon watch table that sits beside them.
//
// Flags only grow (signals add positive values), so "flag >= value" stays true once true.
// FlagMemory keeps each flag's update history, which lets either sync mode say exactly when a
// wait became satisfiable (the start of the wake-up latency). In SyncMon mode, waiters register
// (flag, value); the update that satisfies a registration returns it for notification, once.
#pragma once

#include <cstdint>
#include <map>
#include <unordered_map>
#include <vector>

#include "core/types.hh"

namespace eidola {

struct Watcher {
    uint32_t stream;    // waiting stream on this GPU
    int64_t threshold;  // wake when flag >= threshold
};

class FlagMemory {
  public:
    // Current value of a flag (0 if never signalled).
    int64_t value(int32_t flag) const;
    // Apply a signal at time `now`; appends every watcher it satisfies to `woken`.
    void add(int32_t flag, int64_t delta, Tick now, std::vector<Watcher>& woken);
    // SyncMon registration: true if already satisfied (notify at once), else remembered.
    bool watch(int32_t flag, const Watcher& w);
    // First time the flag reached `threshold`, or kMaxTick if it has not yet.
    Tick satisfied_at(int32_t flag, int64_t threshold) const;
    size_t watches_pending() const { return pending_; }
    // Every registered watcher still waiting (for deadlock reports).
    void pending(std::vector<std::pair<int32_t, Watcher>>& out) const;

  private:
    static constexpr uint32_t kNone = ~uint32_t(0);
    // 16 bytes a flag: profiles use many flags (one per collective step), most signalled once.
    struct Flag {
        int64_t value = 0;
        uint32_t first = kNone;  // first entry of this flag's update chain in log_
        uint32_t last = kNone;
    };
    struct Update {
        int64_t value_after;
        Tick when;
        uint32_t next;  // next update of the same flag, or kNone
    };
    Flag& slot(int32_t flag);
    const Flag* find(int32_t flag) const;

    // Dense for the small non-negative ids profiles use; a map for anything sparse.
    std::vector<Flag> dense_;
    std::unordered_map<int32_t, Flag> sparse_;
    std::vector<Update> log_;
    std::map<int32_t, std::vector<Watcher>> watchers_;  // only flags someone waits on (SyncMon)
    size_t pending_ = 0;
};

}  // namespace eidola
