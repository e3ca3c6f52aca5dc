// The static checks of a profile's ops (eidola.profile.validate) in one pass over the records.
//
// Why in C++: numpy works a field at a time, so checking a GPU took some twenty passes over
// its 55-byte records and as many fresh temporary arrays, and the flag check kept five
// columns per signal and per wait until the last GPU: for a 4096-GPU ring all-reduce (100 M
// ops) the checks were a third of `eidola run`'s loading and 2 GB of its peak memory. Here a
// GPU is one pass; the problems it finds come back as a bit per check and op, and Python
// words the messages (validate.py), so there is one implementation of each rule.
//
// Flag evidence is kept as runs: consecutive flags that one GPU signals on one peer with the
// same value (or waits on with the same threshold, at evenly spaced ops) are one record, so
// a collective's evidence costs a few records per GPU instead of 48 bytes per op. It is kept
// per flag home, and `failed_waits` settles one home at a time, so the expanded evidence of
// only one GPU exists at once.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/replay/types.hh"

namespace eidola {

// One bit per per-op check; eidola.profile.validate words each one's message.
enum OpCheck : uint16_t {
    kCheckKind = 1 << 0,     // unknown op kind
    kCheckPeer = 1 << 1,     // write, read or signal to a GPU outside 0..n-1 (not multicast)
    kCheckSelf = 1 << 2,     // write or read to its own GPU
    kCheckBytes = 1 << 3,    // write or read of 0 bytes
    kCheckBig = 1 << 4,      // write or read of 2^56 bytes or more
    kCheckDur = 1 << 5,      // dur_ns not finite, negative or beyond the time limit
    kCheckT = 1 << 6,        // t_ns not finite or beyond the time limit
    kCheckSigval = 1 << 7,   // signal of a negative value
    kCheckFlag = 1 << 8,     // signal or wait on a negative flag id
    kCheckIter = 1 << 9,     // iteration beyond num_iterations
    kCheckMono = 1 << 10,    // t_ns earlier than the stream's previous op (same iteration)
    kCheckHome = 1 << 11,    // wait on the flag of a GPU outside -1..n-1
};

// A wait whose flag never gets high enough: of the waits of one added chunk on one (iteration,
// home, stream, flag), the one with the highest threshold (the latest of equal ones).
struct FailedWait {
    uint32_t home;       // GPU whose flag it waits on
    uint32_t stream;
    uint64_t op;         // op index on the GPU that waits
    int32_t flag;
    uint32_t iteration;
    int64_t need;        // threshold
    int64_t have;        // what every signal to that flag adds up to
};

struct OpsCheckLimits {
    uint32_t num_gpus = 0;
    int64_t num_iterations = 1;
    double max_time_ns = 0.0;      // |t_ns| and dur_ns bound
    uint64_t max_op_bytes = 0;     // a write or read carries less
    int32_t multicast_peer = -2;   // peer of a multicast (NVLS) op: every GPU of the switch
    uint8_t max_kind = 0;          // the largest known OpKind
};

class OpsChecker {
  public:
    explicit OpsChecker(const OpsCheckLimits& limits)
        : lim_(limits), signals_(limits.num_gpus), waits_(limits.num_gpus) {}

    // Checks ops[0, n) of `gpu`, whose op indices start at `base` (a chunk of a GPU; chunks of
    // one GPU come in order). Returns whether any op has a problem; then `bits` holds each
    // op's failed checks (OpCheck), otherwise it is left empty.
    bool add(uint32_t gpu, const ProfileOp* ops, size_t n, uint64_t base, std::vector<uint16_t>& bits) {
        bits.clear();
        const uint32_t chunk = chunks_++;
        const int64_t num_gpus = lim_.num_gpus;
        uint64_t mono_key = ~uint64_t(0);
        MonoState* mono = nullptr;
        for (size_t i = 0; i < n; ++i) {
            const ProfileOp& o = ops[i];
            const OpKind kind = static_cast<OpKind>(o.kind);
            const bool sig = is_signal(kind);
            const bool xfer = kind == OpKind::Write || kind == OpKind::Read;
            const bool wait = kind == OpKind::Wait;
            const bool multicast = (xfer || sig) && o.peer == lim_.multicast_peer;
            const bool peer_in_range = o.peer >= 0 && o.peer < num_gpus;
            uint16_t b = 0;
            if (o.kind > lim_.max_kind) b |= kCheckKind;
            if ((xfer || sig) && !multicast && !peer_in_range) b |= kCheckPeer;
            if (xfer && static_cast<int64_t>(o.peer) == static_cast<int64_t>(gpu)) b |= kCheckSelf;
            if (xfer && o.bytes == 0) b |= kCheckBytes;
            if (xfer && o.bytes >= lim_.max_op_bytes) b |= kCheckBig;
            if (!(o.dur_ns >= 0.0 && o.dur_ns <= lim_.max_time_ns)) b |= kCheckDur;  // NaN fails
            if (!(std::fabs(o.t_ns) <= lim_.max_time_ns)) b |= kCheckT;
            if (sig && o.value < 0) b |= kCheckSigval;
            if ((sig || wait) && o.flag < 0) b |= kCheckFlag;
            if (static_cast<int64_t>(o.iteration) >= lim_.num_iterations) b |= kCheckIter;
            const bool bad_home = wait && (o.peer < -1 || o.peer >= num_gpus);
            if (bad_home) b |= kCheckHome;

            // Recorded start times do not go back within a (stream, iteration): against the
            // previous op of this chunk, or the last finite time of an earlier chunk.
            const uint64_t key = (uint64_t(o.stream) << 16) | o.iteration;
            if (key != mono_key) {
                mono_key = key;
                mono = &last_t_[gpu][key];  // references to map values stay valid
            }
            bool back;
            if (mono->chunk != chunk) {  // its first op in this chunk: against earlier chunks
                if (mono->chunk != kNoChunk && std::isfinite(mono->prev)) {
                    mono->has_earlier = true;
                    mono->earlier = mono->prev;
                }
                mono->chunk = chunk;
                back = mono->has_earlier && o.t_ns < mono->earlier;
            } else {
                back = o.t_ns < mono->prev;
            }
            if (back) b |= kCheckMono;
            mono->prev = o.t_ns;

            if (b != 0) {
                if (bits.empty()) bits.assign(n, 0);
                bits[i] = b;
            }
            // Flag evidence (what the flag check settles once every GPU is in).
            if (sig && o.flag >= 0 && o.value > 0) {
                if (o.peer == lim_.multicast_peer)
                    add_signal(multicast_, o.iteration, o.flag, o.value);
                else if (peer_in_range)
                    add_signal(signals_[o.peer], o.iteration, o.flag, o.value);
            } else if (wait && !bad_home && o.flag >= 0 && o.value > 0) {
                const uint32_t home = o.peer >= 0 ? static_cast<uint32_t>(o.peer) : gpu;
                add_wait(waits_[home], chunk, o.iteration, o.stream, o.flag, o.value, base + i);
            }
        }
        return !bits.empty();
    }

    // Every wait that no combination of signals can satisfy, after the last GPU was added.
    // Settles the evidence once (and frees it); later calls return the same list.
    const std::vector<FailedWait>& failed_waits() {
        if (settled_) return failed_;
        settled_ = true;
        std::vector<std::pair<uint64_t, uint64_t>> to_all = summed(multicast_);
        release(multicast_);
        std::vector<Candidate> failing;
        for (uint32_t home = 0; home < lim_.num_gpus; ++home) {
            if (waits_[home].empty()) {
                release(signals_[home]);
                continue;
            }
            const std::vector<std::pair<uint64_t, uint64_t>> own = summed(signals_[home]);
            release(signals_[home]);
            size_t own_hint = 0, all_hint = 0;
            for (const WaitRun& w : waits_[home]) {
                for (uint32_t j = 0; j < w.count; ++j) {
                    const int32_t flag = static_cast<int32_t>(int64_t(w.flag0) + j);
                    const uint64_t key = signal_key(w.iteration, flag);
                    // int64 sums wrap as numpy's did
                    const int64_t have = static_cast<int64_t>(find_sum(own, key, own_hint) + find_sum(to_all, key, all_hint));
                    if (have < w.value)
                        failing.push_back({w.chunk, {home, w.stream, w.op0 + uint64_t(j) * w.op_step, flag,
                                                     w.iteration, w.value, have}});
                }
            }
            release(waits_[home]);
        }
        // One per (chunk, iteration, home, stream, flag): the highest threshold, the latest of
        // equals (stable sort keeps op order within a group).
        std::stable_sort(failing.begin(), failing.end(), [](const Candidate& a, const Candidate& b) {
            return std::make_tuple(a.chunk, a.wait.iteration, a.wait.home, a.wait.stream, a.wait.flag, a.wait.need) <
                   std::make_tuple(b.chunk, b.wait.iteration, b.wait.home, b.wait.stream, b.wait.flag, b.wait.need);
        });
        for (size_t i = 0; i < failing.size(); ++i) {
            const bool last_of_group = i + 1 == failing.size() || !same_group(failing[i], failing[i + 1]);
            if (last_of_group) failed_.push_back(failing[i].wait);
        }
        return failed_;
    }

  private:
    struct SignalRun {  // flags flag0 .. flag0 + count - 1 each get `value`
        uint32_t iteration;
        int32_t flag0;
        uint32_t count;
        int64_t value;
    };
    struct WaitRun {  // waits on flags flag0 + j at ops op0 + j * op_step, j < count
        uint64_t op0;
        int64_t value;
        uint32_t chunk, iteration, stream;
        int32_t flag0;
        uint32_t count;
        uint32_t op_step;
    };
    struct Candidate {
        uint32_t chunk;
        FailedWait wait;
    };
    static constexpr uint32_t kNoChunk = ~uint32_t(0);
    // One (GPU, stream, iteration)'s start times. An earlier chunk's last time is folded into
    // `earlier` when a later chunk first meets it (only a finite one counts).
    struct MonoState {
        uint32_t chunk = kNoChunk;  // the chunk of its latest op
        double prev = 0.0;          // that op's t_ns
        bool has_earlier = false;   // a finite last t_ns of an earlier chunk
        double earlier = 0.0;
    };

    static uint64_t signal_key(uint32_t iteration, int32_t flag) {
        return (uint64_t(iteration) << 32) | static_cast<uint32_t>(flag);
    }
    static bool same_group(const Candidate& a, const Candidate& b) {
        return a.chunk == b.chunk && a.wait.iteration == b.wait.iteration && a.wait.home == b.wait.home &&
               a.wait.stream == b.wait.stream && a.wait.flag == b.wait.flag;
    }
    template <typename T>
    static void release(std::vector<T>& v) { std::vector<T>().swap(v); }

    static void add_signal(std::vector<SignalRun>& runs, uint32_t iteration, int32_t flag, int64_t value) {
        if (!runs.empty()) {
            SignalRun& r = runs.back();
            if (r.iteration == iteration && r.value == value && int64_t(r.flag0) + r.count == flag &&
                r.count < UINT32_MAX) {
                ++r.count;
                return;
            }
        }
        runs.push_back({iteration, flag, 1, value});
    }
    static void add_wait(std::vector<WaitRun>& runs, uint32_t chunk, uint32_t iteration, uint32_t stream,
                         int32_t flag, int64_t value, uint64_t op) {
        if (!runs.empty()) {
            WaitRun& r = runs.back();
            if (r.chunk == chunk && r.iteration == iteration && r.stream == stream && r.value == value &&
                int64_t(r.flag0) + r.count == flag && r.count < UINT32_MAX) {
                if (r.count == 1 && op > r.op0 && op - r.op0 <= UINT32_MAX) {
                    r.op_step = static_cast<uint32_t>(op - r.op0);
                    ++r.count;
                    return;
                }
                if (r.count > 1 && op == r.op0 + uint64_t(r.count) * r.op_step) {
                    ++r.count;
                    return;
                }
            }
        }
        runs.push_back({op, value, chunk, iteration, stream, flag, 1, 0});
    }
    // (key, sum of values) per distinct key, by key.
    static std::vector<std::pair<uint64_t, uint64_t>> summed(const std::vector<SignalRun>& runs) {
        std::vector<std::pair<uint64_t, uint64_t>> out;
        size_t total = 0;
        for (const SignalRun& r : runs) total += r.count;
        out.reserve(total);
        for (const SignalRun& r : runs)
            for (uint32_t j = 0; j < r.count; ++j)
                out.emplace_back(signal_key(r.iteration, static_cast<int32_t>(int64_t(r.flag0) + j)),
                                 static_cast<uint64_t>(r.value));
        const auto by_key = [](const auto& a, const auto& b) { return a.first < b.first; };
        if (!std::is_sorted(out.begin(), out.end(), by_key)) std::stable_sort(out.begin(), out.end(), by_key);
        size_t kept = 0;
        for (size_t i = 0; i < out.size(); ++i) {
            if (kept > 0 && out[kept - 1].first == out[i].first)
                out[kept - 1].second += out[i].second;  // wraps like numpy's int64 sums
            else
                out[kept++] = out[i];
        }
        out.resize(kept);
        return out;
    }
    // Sum stored for `key` (0 if none); `hint` is where the previous look-up ended, since
    // waits mostly come in key order.
    static uint64_t find_sum(const std::vector<std::pair<uint64_t, uint64_t>>& sums, uint64_t key, size_t& hint) {
        if (hint < sums.size() && sums[hint].first == key) return sums[hint++].second;
        const auto it = std::lower_bound(sums.begin(), sums.end(), key,
                                         [](const auto& e, uint64_t k) { return e.first < k; });
        if (it == sums.end() || it->first != key) return 0;
        hint = static_cast<size_t>(it - sums.begin()) + 1;
        return it->second;
    }

    OpsCheckLimits lim_;
    uint32_t chunks_ = 0;
    // last t_ns per GPU and (stream << 16 | iteration)
    std::unordered_map<uint32_t, std::unordered_map<uint64_t, MonoState>> last_t_;
    std::vector<std::vector<SignalRun>> signals_;  // per home GPU
    std::vector<SignalRun> multicast_;             // to every GPU
    std::vector<std::vector<WaitRun>> waits_;      // per home GPU
    bool settled_ = false;
    std::vector<FailedWait> failed_;
};

}  // namespace eidola
