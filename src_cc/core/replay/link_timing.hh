// Serialization arithmetic of one direction of a link: a FIFO server with a payload
// bandwidth and a pipelined latency. Shared by the built-in engine's channels and HBM and by
// the gem5 link adapter, so both hosts charge a packet the same time.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/replay/state_words.hh"
#include "core/replay/types.hh"

namespace eidola {

class LinkTiming {
  public:
    LinkTiming() = default;
    // bw_gbps: payload GB/s (= bytes per ns); latency_ns: propagation + pipeline latency.
    LinkTiming(double bw_gbps, double latency_ns)
        : ps_per_byte_(1000.0 / bw_gbps), latency_ps_(ns_to_ps(latency_ns)) {}

    Tick serialization_ps(uint64_t bytes) const {
        return static_cast<Tick>(std::llround(static_cast<double>(bytes) * ps_per_byte_));
    }
    Tick latency_ps() const { return latency_ps_; }
    Tick free_at() const { return free_at_; }

    // Occupy the server for `bytes` starting no earlier than `earliest`; returns the start.
    // The last byte leaves at free_at() and arrives latency_ps() later.
    Tick occupy(Tick earliest, uint64_t bytes) {
        const Tick start = std::max(earliest, free_at_);
        free_at_ = start + serialization_ps(bytes);
        return start;
    }

    // Checkpoints: only when the server frees (bandwidth and latency are configuration).
    void save(StateOut& out) const { out.u64(free_at_); }
    void load(StateIn& in) { free_at_ = in.u64(); }

  private:
    double ps_per_byte_ = 0.0;
    Tick latency_ps_ = 0;
    Tick free_at_ = 0;
};

}  // namespace eidola
