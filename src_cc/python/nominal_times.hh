// The nominal timeline of generated ops (eidola.profile.timeline.estimate_times) for many GPUs
// in one pass over their records.
//
// Why in C++: numpy works a field at a time, so each of its dozen passes reads every 55-byte
// record; for a 4096-GPU ring all-reduce (100 M ops) that was the largest part of `eidola
// profile synth`. The arithmetic is the numpy version's, operation for operation (no
// reassociation, no fused multiply-add: only divisions and additions), so the times are bit
// for bit the same; tests/test_profile_timeline.py compares the two.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/replay/types.hh"

namespace eidola {

// GPU g's ops are ops[cuts[g], cuts[g + 1]), stream-major. Sets t_ns (each stream starts at
// start_ns, ops end to end) and dur_ns of every non-compute op (its nominal cost).
inline void nominal_times(ProfileOp* ops, const int64_t* cuts, size_t num_gpus, double start_ns,
                          double link_gbps, double latency_ns) {
    for (size_t g = 0; g < num_gpus; ++g) {
        const int64_t lo = cuts[g], hi = cuts[g + 1];
        double excl = 0.0;        // cost of this GPU's ops before op i (numpy: a cumsum per GPU)
        double stream_at = 0.0;   // excl at the first op of the current stream
        for (int64_t i = lo; i < hi; ++i) {
            ProfileOp& op = ops[i];
            if (i > lo && op.stream != ops[i - 1].stream) stream_at = excl;  // a new stream
            const OpKind kind = static_cast<OpKind>(op.kind);
            double cost = 0.0;
            if (kind == OpKind::Compute)
                cost = op.dur_ns;
            else if (kind == OpKind::Write || kind == OpKind::Read)
                cost = latency_ns + static_cast<double>(op.bytes) / link_gbps;
            else if (is_signal(kind))
                cost = latency_ns;
            if (kind != OpKind::Compute) op.dur_ns = cost;
            op.t_ns = start_ns + excl - stream_at;
            excl = i == lo ? cost : excl + cost;  // a cumsum's first element is the value itself
        }
    }
}

}  // namespace eidola
