#include "core/replay/program.hh"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "core/replay/rng.hh"

namespace eidola {

namespace {

std::string where(uint32_t gpu, size_t i) {
    return "gpu " + std::to_string(gpu) + " op " + std::to_string(i);
}

}  // namespace

GpuProgram GpuProgram::build(uint32_t gpu, uint32_t num_gpus, const ProfileOp* ops, size_t n,
                             const ProgramOptions& opts) {
    GpuProgram p;
    p.gpu = gpu;
    const uint32_t iteration = chosen_iteration(opts);
    p.straggler = opts.straggler_prob > 0.0 &&
                  unit_uniform(opts.seed, 0x5754, gpu) < opts.straggler_prob;
    const double slow = p.straggler ? opts.straggler_slowdown : 1.0;

    // Stable grouping by stream: streams keep their recorded order of ops.
    std::vector<size_t> order;
    order.reserve(n);
    double min_t = std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < n; ++i) {
        if (ops[i].iteration != iteration && opts.num_iterations > 1) continue;
        order.push_back(i);
        min_t = std::min(min_t, ops[i].t_ns);
    }
    const auto by_stream = [ops](size_t a, size_t b) { return ops[a].stream < ops[b].stream; };
    if (!std::is_sorted(order.begin(), order.end(), by_stream))  // files are usually grouped
        std::stable_sort(order.begin(), order.end(), by_stream);
    p.min_t_ns = order.empty() ? 0.0 : min_t;
    const double origin = std::isnan(opts.time_origin_ns) ? p.min_t_ns : opts.time_origin_ns;

    p.ops.reserve(order.size());
    if (opts.keep_start_times) p.start_ps.reserve(order.size());
    for (size_t k = 0; k < order.size(); ++k) {
        const size_t i = order[k];
        const ProfileOp& o = ops[i];
        if (o.kind > static_cast<uint8_t>(OpKind::SignalNbi))
            throw std::invalid_argument(where(gpu, i) + ": field 'kind': unknown op kind " +
                                        std::to_string(o.kind));
        const OpKind kind = static_cast<OpKind>(o.kind);
        const bool remote = kind == OpKind::Write || is_signal(kind) || kind == OpKind::Read;
        const bool multicast = remote && o.peer == kMulticastPeer;
        if (remote && !multicast && (o.peer < 0 || static_cast<uint32_t>(o.peer) >= num_gpus))
            throw std::invalid_argument(where(gpu, i) + ": field 'peer': " + std::to_string(o.peer) +
                                        " is outside 0.." + std::to_string(num_gpus - 1));
        if (kind == OpKind::Wait && (o.peer < -1 || o.peer >= static_cast<int64_t>(num_gpus)))
            throw std::invalid_argument(where(gpu, i) + ": field 'peer': a wait's flag home " +
                                        std::to_string(o.peer) + " is outside -1.." +
                                        std::to_string(num_gpus - 1) + " (-1: its own memory)");
        if ((is_signal(kind) || kind == OpKind::Wait) && o.flag < 0)
            throw std::invalid_argument(where(gpu, i) + ": field 'flag': negative flag id");
        if (!(o.dur_ns >= 0.0) || !std::isfinite(o.dur_ns))
            throw std::invalid_argument(where(gpu, i) + ": field 'dur_ns': negative or not a number");
        if (!std::isfinite(o.t_ns))
            throw std::invalid_argument(where(gpu, i) + ": field 't_ns': not a number");
        if (is_signal(kind) && o.value < 0)
            throw std::invalid_argument(where(gpu, i) + ": field 'value': signals must not be negative");

        if (o.bytes >= (uint64_t(1) << 56))
            throw std::invalid_argument(where(gpu, i) + ": field 'bytes': larger than 2^56");
        ReplayOp r{};
        if (opts.keep_start_times) p.start_ps.push_back(ns_to_ps(o.t_ns - origin));
        r.kind_bits = o.kind;
        r.peer = o.peer;
        r.flag = o.flag;
        if (kind == OpKind::Compute) {
            const double jitter = lognormal_multiplier(opts.compute_cv, opts.seed, gpu, i);
            r.amount = ns_to_ps(o.dur_ns * opts.compute_scale * jitter * slow);
        } else {
            r.amount = (kind == OpKind::Write || kind == OpKind::Read) ? o.bytes : 0;
        }
        r.addr_or_value = (kind == OpKind::Write || kind == OpKind::Read)
                              ? static_cast<int64_t>(o.addr) : o.value;
        if (p.streams.empty() || p.streams.back().id != o.stream)
            p.streams.push_back({o.stream, p.ops.size(), p.ops.size()});
        p.ops.push_back(r);
        p.streams.back().end = p.ops.size();
    }
    return p;
}

}  // namespace eidola
