// The flags of one GPU and the SyncMon watch table that sits beside them.
//
// Flags only grow (signals add positive values), so "flag >= value" stays true once true.
// FlagMemory keeps each flag's update history, which lets either sync mode say exactly when a
// wait became satisfiable (the start of the wake-up latency).
//
// The watch table is the SyncMon's: a waiter (on this GPU or, for remote waits, another one)
// registers (flag, value); one registration takes one entry until it is woken. The table has
// a capacity (0 = unlimited): a registration that finds it full is refused and the waiter falls
// back to polling. Wake-up is on value match (the monitor compares, as a wait-on-value
// comparator does) or on any change of the flag (the monitor only watches the address; the
// waiter re-reads and may find the value still short: a spurious wake-up).
#pragma once

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "core/replay/state_words.hh"
#include "core/replay/types.hh"

namespace eidola {

struct Watcher {
    uint32_t gpu;       // the waiting GPU (the flag's home for local waits)
    uint32_t stream;    // waiting stream on that GPU
    int64_t threshold;  // wake when flag >= threshold
};

enum class WakeOn : uint8_t { Match, Change };
enum class WatchResult : uint8_t { Satisfied, Registered, Full };

struct WatchTableStats {
    uint64_t registrations = 0;  // entries taken
    uint64_t overflows = 0;      // registrations refused: table full
    uint64_t wakeups = 0;        // entries released by an update
    size_t peak_entries = 0;
};

class FlagMemory {
  public:
    // Flag ids below this live in a dense array; others (negative, huge) in a map.
    static constexpr int32_t kDenseLimit = 1 << 22;
    // Lay out the dense ids below `n` at once (a host that knows which flags its profile
    // signals): growing one id at a time copies the array on every doubling and takes a page
    // fault every few hundred flags in the middle of the run. An unsignalled flag reads as 0.
    void presize(size_t n) {
        n = std::min<size_t>(n, kDenseLimit);
        if (n > dense_.size()) dense_.resize(n);
    }
    // Current value of a flag (0 if never signalled).
    int64_t value(int32_t flag) const;
    // Its value at time `when` (<= now): what a read the memory served then returned. Walks
    // back from the newest update, so a recent `when` costs a step or two.
    int64_t value_at(int32_t flag, Tick when) const;
    // The watch table: `capacity` entries (0 = unlimited) and what wakes a watcher.
    void configure_watch_table(size_t capacity, WakeOn wake) {
        capacity_ = capacity;
        wake_ = wake;
    }
    // Apply a signal at time `now`; appends every watcher it wakes to `woken` (on match: those
    // it satisfies; on change: every watcher of the flag).
    void add(int32_t flag, int64_t delta, Tick now, std::vector<Watcher>& woken);
    // SyncMon registration: Satisfied (notify at once, no entry), Registered, or Full.
    WatchResult watch(int32_t flag, const Watcher& w);
    const WatchTableStats& watch_stats() const { return watch_stats_; }
    // First time the flag reached `threshold`, or kMaxTick if it has not yet.
    Tick satisfied_at(int32_t flag, int64_t threshold) const;
    size_t watches_pending() const { return pending_; }
    // Every registered watcher still waiting (for deadlock reports).
    void pending(std::vector<std::pair<int32_t, Watcher>>& out) const;
    // Empty the watch table, appending every entry to `out` (flag order, then registration
    // order): what a monitor that loses its table (a drain before a checkpoint) must answer.
    void release_watches(std::vector<std::pair<int32_t, Watcher>>& out);
    // Checkpoints: values, update history, watch table and its counters (capacity and wake
    // mode are configuration).
    void save(StateOut& out) const;
    void load(StateIn& in);

  private:
    static constexpr uint32_t kNone = ~uint32_t(0);
    // 24 bytes a flag: profiles use many flags (one per collective step), most signalled once,
    // so a flag's first update lives in the flag itself and the shared update log is only
    // used from a second update on (it then holds every update of that flag, the first one
    // included). A wait's lookup of a once-signalled flag touches one record.
    struct Flag {
        int64_t value = 0;
        Tick first_when = kMaxTick;  // when the first update landed; kMaxTick: never updated
        uint32_t first = kNone;      // first entry of this flag's update chain in log_ (2+ updates)
        uint32_t last = kNone;
    };
    struct Update {
        int64_t value_after;
        Tick when;
        uint32_t next;  // next update of the same flag, or kNone
        uint32_t prev;  // previous update of the same flag, or kNone
    };
    Flag& slot(int32_t flag);
    const Flag* find(int32_t flag) const;
    uint32_t append_update(int64_t value_after, Tick when, uint32_t prev);

    // Dense for the small non-negative ids profiles use; a map for anything sparse.
    std::vector<Flag> dense_;
    std::unordered_map<int32_t, Flag> sparse_;
    std::vector<Update> log_;

    // The watch table: registrations in a pool, chained per flag in registration order, and an
    // open-addressing index flag -> chain. A registration and its wake-up allocate nothing once
    // the pool has grown (a std::map of vectors cost two allocations and two frees per wait).
    struct WatchNode {
        Watcher w;
        uint32_t next;  // next registration of the same flag, or kNone; free list when unused
    };
    struct WatchSlot {
        int32_t flag;
        uint32_t head = kNone;  // kNone: empty slot
        uint32_t tail = kNone;
    };
    WatchSlot* find_watch_slot(int32_t flag);
    void insert_watch(int32_t flag, uint32_t node);
    void place_watch_slot(const WatchSlot& slot);  // into the first free slot of its probe run
    void erase_watch_slot(WatchSlot* slot);
    uint32_t alloc_watch_node();
    std::vector<WatchNode> watch_pool_;
    uint32_t watch_free_ = kNone;
    std::vector<WatchSlot> watch_index_;  // power-of-two size, linear probing, <= half full
    size_t watched_flags_ = 0;
    size_t pending_ = 0;
    size_t capacity_ = 0;
    WakeOn wake_ = WakeOn::Match;
    WatchTableStats watch_stats_;
};

}  // namespace eidola
