// One GPU's part of a profile, made ready for replay: the chosen iteration, ops grouped by
// stream in execution order, times in picoseconds, compute durations with the run's scale,
// jitter and straggler factor already applied (so replay itself draws no random numbers).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/replay/types.hh"

namespace eidola {

// 24 bytes per op: replay memory is dominated by these, so fields that never coexist share
// storage (a compute op has a duration but no payload; a write has an address but no value).
// Recorded start times live apart (GpuProgram::start_ps), kept only for timed replay.
struct ReplayOp {
    uint64_t amount : 56;       // compute: duration in ps after scale/jitter; write/read: bytes
    uint64_t kind_bits : 8;     // OpKind
    int64_t addr_or_value;      // write/read: byte offset in the peer's buffer; signal/wait: value
    int32_t peer;
    int32_t flag;

    OpKind kind() const { return static_cast<OpKind>(kind_bits); }
    Tick dur_ps() const { return kind() == OpKind::Compute ? amount : 0; }
    uint64_t bytes() const { return kind() == OpKind::Compute ? 0 : amount; }
    uint64_t addr() const { return static_cast<uint64_t>(addr_or_value); }
    int64_t value() const { return addr_or_value; }
};
static_assert(sizeof(ReplayOp) == 24, "ReplayOp should stay compact");

struct StreamSpan {
    uint32_t id;   // stream id as recorded
    size_t begin;  // [begin, end) into GpuProgram::ops
    size_t end;
};

// How a run turns recorded ops into the ops it replays.
struct ProgramOptions {
    double compute_scale = 1.0;     // multiplies every compute duration
    uint64_t seed = 0;              // picks the iteration and draws jitter
    uint32_t num_iterations = 1;    // recorded iterations in the profile
    double compute_cv = 0.0;        // per-op lognormal jitter on compute (coefficient of variation)
    double straggler_prob = 0.0;    // chance that a GPU is a straggler in this run
    double straggler_slowdown = 1.0;  // compute multiplier of a straggler
    // Recorded time that counts as 0 in timed replay: the earliest start over all GPUs, so
    // recorded skew between GPUs is kept. NaN: this GPU's own earliest start.
    double time_origin_ns = std::numeric_limits<double>::quiet_NaN();
    bool keep_start_times = true;  // false saves 8 bytes an op when replay ignores t_ns
};

struct GpuProgram {
    uint32_t gpu = 0;
    std::vector<ReplayOp> ops;
    std::vector<Tick> start_ps;  // recorded start of each op (same index), if kept
    std::vector<StreamSpan> streams;
    bool straggler = false;
    double min_t_ns = 0.0;  // earliest recorded start among the chosen ops (for timed replay)

    // Validates and converts; throws std::invalid_argument with a one-line message naming the
    // GPU, op index and field when the input cannot be replayed.
    static GpuProgram build(uint32_t gpu, uint32_t num_gpus, const ProfileOp* ops, size_t n,
                            const ProgramOptions& opts);
    // The iteration a run with this seed replays.
    // Recorded start of op i relative to the time origin; 0 when start times were not kept.
    Tick start_of(size_t i) const { return start_ps.empty() ? 0 : start_ps[i]; }
    static uint32_t chosen_iteration(const ProgramOptions& opts) {
        return opts.num_iterations ? static_cast<uint32_t>(opts.seed % opts.num_iterations) : 0;
    }
};

}  // namespace eidola
