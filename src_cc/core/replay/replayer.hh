// The replay rules, written once: how one GPU's streams turn profile ops into packets, flag
// signals and waits. Both hosts (the built-in engine and the gem5 EidolonGPU) drive a
// GpuReplayer through the same few calls and provide the ReplayHost services it needs.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/replay/flag_memory.hh"
#include "core/replay/latency_hist.hh"
#include "core/replay/program.hh"
#include "core/replay/state_words.hh"
#include "core/replay/types.hh"

namespace eidola {

enum class SyncMode : uint8_t { Polling, SyncMon };
enum class ReplayMode : uint8_t { Dependent, Timed };

struct ReplayConfig {
    SyncMode sync = SyncMode::Polling;
    ReplayMode mode = ReplayMode::Dependent;
    Tick poll_interval_ps = 100'000;  // gap between the starts of two polls of one waiter
    uint32_t packet_bytes = 4096;     // writes and reads are cut into packets of this size
    uint32_t max_outstanding = 0;     // unacknowledged packets per stream; 0 = no count limit
    // Unacknowledged payload bytes per stream (0 = no byte limit). A byte window keeps results
    // independent of the packet size; a stream always may have one packet in flight.
    uint64_t max_outstanding_bytes = 256 * 1024;
    uint32_t poll_bytes = 64;         // memory bytes one polling read costs at the flag's home
    WakeOn syncmon_wake = WakeOn::Match;  // what a SyncMon notification means (see flag_memory.hh)
    // A waiter the SyncMon refused (table full) polls instead, doubling the gap after every
    // poll that finds the flag short, from poll_interval up to this cap (s_sleep/nanosleep-style
    // exponential back-off; the cap never goes below poll_interval_ps).
    Tick poll_backoff_max_ps = 243'810;
    bool trace = false;               // keep a per-op timeline (start/end of every op)
};

enum class ReqKind : uint8_t { Write, Signal, Read, Poll, Watch };

// What a replayer asks its host to deliver. For Poll and Watch, `peer` is the flag's home: the
// waiting GPU itself, or the peer a remote wait spins on (pull-style protocols); `value` is the
// awaited threshold.
struct Request {
    ReqKind kind;
    uint32_t gpu;     // issuing GPU
    uint32_t stream;  // issuing stream
    uint32_t peer;    // destination GPU
    uint64_t addr;    // byte offset in the destination's data buffer (write/read)
    uint32_t bytes;   // payload bytes (write/read); 8 for a signal
    int32_t flag;
    int64_t value;
    Tick issued;
};

class ReplayHost {
  public:
    virtual ~ReplayHost() = default;
    // Take a request into the network/memory system at `now`; false means "not now": the
    // host must call GpuReplayer::retry() when it can accept again (gem5 port refusal).
    virtual bool send(const Request& req, Tick now) = 0;
    // Call GpuReplayer::resume(stream, when) at time `when`. `poll_backoff` marks the pause
    // between two polls: a host that sees nothing but those pending knows it is deadlocked.
    virtual void schedule_resume(uint32_t gpu, uint32_t stream, Tick when, bool poll_backoff) = 0;
    // When flag `flag` of GPU `home` first reached `threshold`; kMaxTick if not yet.
    virtual Tick flag_satisfied_at(uint32_t gpu, int32_t flag, int64_t threshold) = 0;
    // Every stream of the GPU has finished and all its packets are acknowledged.
    virtual void gpu_done(uint32_t gpu, Tick now) = 0;
};

struct ReplayStats {
    uint64_t bytes_written = 0;   // payload bytes of write packets issued
    uint64_t bytes_read = 0;
    uint64_t packets = 0;         // write + read + signal packets issued
    uint64_t signals = 0;
    uint64_t polling_reads = 0;   // every poll, fallback and re-check polls included
    uint64_t polling_reads_remote = 0;  // polls of a flag in another GPU's memory
    uint64_t fallback_polls = 0;  // polls by waiters the SyncMon refused
    uint64_t recheck_polls = 0;   // re-reads after a wake-on-change notification
    uint64_t notifications = 0;   // SyncMon wake-ups received
    uint64_t registrations_sent = 0;  // SyncMon registrations issued (each costs a message)
    uint64_t refusals = 0;        // registrations refused: the SyncMon's table was full
    uint64_t spurious_wakeups = 0;  // woken (on change) but the flag was still short
    uint64_t waits = 0;           // wait ops completed
    Tick stall_ps = 0;            // stream time spent blocked (waits, acks, limits, refusals)
    Tick finish_ps = 0;
    // Per destination GPU, only those this GPU talks to (dense per-peer arrays would cost
    // num_gpus^2 memory at thousands of GPUs).
    struct PeerTraffic {
        uint64_t bytes = 0;
        uint64_t packets = 0;
    };
    std::unordered_map<uint32_t, PeerTraffic> to_peer;
    LatencyHist write_latency;    // packet issue -> acknowledgement
    LatencyHist wakeup_latency;   // flag satisfiable (or wait start, if later) -> stream resumes
};

struct TraceRecord {
    uint32_t stream;
    uint32_t op;  // index into GpuProgram::ops
    OpKind kind;
    Tick start;
    Tick end;
};

struct StuckWait {
    uint32_t gpu, stream;
    uint32_t home;  // GPU whose memory holds the flag
    int32_t flag;
    int64_t awaited;
};

class GpuReplayer {
  public:
    GpuReplayer(GpuProgram program, uint32_t num_gpus, const ReplayConfig& cfg, ReplayHost& host);
    GpuReplayer(const GpuReplayer&) = delete;  // it points into its own statistics
    GpuReplayer& operator=(const GpuReplayer&) = delete;

    void start(Tick now);                     // every stream begins at `now`
    void resume(uint32_t stream, Tick now);   // a scheduled resume has come due
    // A request finished: write/signal acknowledged, read data back, poll answered with the
    // flag's `observed` value, or a SyncMon notification (Watch) arrived.
    void complete(const Request& req, Tick now, int64_t observed);
    // The SyncMon refused a registration (its table was full): poll with back-off instead.
    void refused(const Request& req, Tick now);
    void retry(Tick now);                     // the host can take requests again
    // The SyncMon dropped this stream's registration without waking it (its table was emptied
    // for a checkpoint): register again, as a waiter whose monitor lost its entry must.
    void rearm(const Request& req, Tick now);

    // Checkpoints: everything that changes as the GPU replays (stream positions and states,
    // host-blocked order, statistics, trace). The program itself is configuration: a restore
    // rebuilds it from the same profile and options, and a different one is refused.
    void save(StateOut& out) const;
    void load(StateIn& in);

    bool done() const { return streams_done_ == streams_.size(); }
    // Ops this GPU has passed so far (for progress reports; O(streams)).
    uint64_t ops_done() const {
        uint64_t n = 0;
        for (size_t i = 0; i < streams_.size(); ++i) n += streams_[i].cur - program_.streams[i].begin;
        return n;
    }
    uint32_t gpu() const { return program_.gpu; }
    const ReplayStats& stats() const { return stats_; }
    const GpuProgram& program() const { return program_; }
    const std::vector<TraceRecord>& trace() const { return trace_; }
    void stuck_waits(std::vector<StuckWait>& out) const;
    // True when every stream is finished or waiting on a flag: nothing this GPU does can
    // move on by itself (a host's deadlock test: all GPUs like this and no progress).
    bool only_waiting() const;
    size_t num_streams() const { return streams_.size(); }

  private:
    enum class State : uint8_t {
        Ready, Computing, Timed, Throttled, Fence, Polling, PollSleep, Watching, ReadWait,
        HostBlocked, Draining, Done
    };
    struct Stream {
        size_t cur = 0, end = 0;
        uint64_t left = 0;      // bytes of the current write/read not yet issued
        uint64_t offset = 0;
        uint32_t outstanding = 0;
        uint64_t outstanding_bytes = 0;
        uint32_t reads_pending = 0;
        bool in_transfer = false;
        bool waiting = false;
        bool fallback = false;   // this wait polls because the SyncMon refused it
        bool recheck = false;    // this poll re-reads after a wake-on-change notification
        Tick backoff = 0;        // current gap between fallback polls
        State state = State::Ready;
        Tick op_start = 0;
        Tick wait_begin = 0;
        Tick last_poll = 0;
        Tick blocked_since = kMaxTick;
    };

    void advance(uint32_t s, Tick now);
    bool issue_poll(uint32_t s, Stream& st, const ReplayOp& op, Tick now);
    bool issue_watch(uint32_t s, Stream& st, const ReplayOp& op, Tick now);
    void poll_again(uint32_t s, Stream& st, Tick gap, Tick now);
    Tick backoff_cap() const { return std::max(cfg_.poll_backoff_max_ps, cfg_.poll_interval_ps); }
    uint32_t home_of(const ReplayOp& op) const {
        return op.peer >= 0 ? static_cast<uint32_t>(op.peer) : program_.gpu;
    }
    void block(Stream& st, State state, Tick now);
    void finish_wait(uint32_t s, Stream& st, const ReplayOp& op, Tick now);
    void record(uint32_t s, size_t op, Tick start, Tick end);
    // The statistics of traffic to `peer`: consecutive packets mostly go to one peer, so the
    // last entry is remembered (map entries stay put when the map grows).
    ReplayStats::PeerTraffic& traffic_to(uint32_t peer) {
        if (peer != last_peer_ || !last_traffic_) {
            last_traffic_ = &stats_.to_peer[peer];
            last_peer_ = peer;
        }
        return *last_traffic_;
    }

    GpuProgram program_;
    uint32_t num_gpus_;
    ReplayConfig cfg_;
    ReplayHost& host_;
    std::vector<Stream> streams_;
    std::deque<uint32_t> host_blocked_;
    size_t streams_done_ = 0;
    ReplayStats stats_;
    uint32_t last_peer_ = 0;
    ReplayStats::PeerTraffic* last_traffic_ = nullptr;
    std::vector<TraceRecord> trace_;
};

}  // namespace eidola
