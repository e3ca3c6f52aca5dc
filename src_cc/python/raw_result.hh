// The per-GPU part of a run's raw result, filled from the core's own records by both hosts'
// Python bindings: the built-in engine's module (eidola._engine) and gem5's
// _m5.eidola_profile. One filler means one set of field names, units and meanings; the
// field list is eidola/raw.py, which checks what each host hands over before
// eidola.results turns it into summary.json and results.h5.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "core/replay/binned_series.hh"
#include "core/replay/flag_memory.hh"
#include "core/replay/gpu_memory.hh"
#include "core/replay/latency_hist.hh"
#include "core/replay/replayer.hh"

namespace eidola::raw {

namespace py = pybind11;

// numpy's type code of the element types the raw result uses.
template <typename T> constexpr const char* dtype_code();
template <> constexpr const char* dtype_code<uint8_t>() { return "u1"; }
template <> constexpr const char* dtype_code<uint16_t>() { return "u2"; }
template <> constexpr const char* dtype_code<uint32_t>() { return "u4"; }
template <> constexpr const char* dtype_code<uint64_t>() { return "u8"; }
template <> constexpr const char* dtype_code<int32_t>() { return "i4"; }
template <> constexpr const char* dtype_code<int64_t>() { return "i8"; }
template <> constexpr const char* dtype_code<double>() { return "f8"; }

// A numpy array of `count` values at `data`, made by numpy itself from the bytes. Why not
// pybind11's array_t: gem5 v24 bundles a pybind11 that reads numpy's C descriptor layout as it
// was before NumPy 2, and the arrays it made there had zero strides (every element aliased
// the first). One path for both hosts.
template <typename T>
py::object to_numpy(const T* data, size_t count, std::vector<py::ssize_t> shape = {}) {
    py::module_ np = py::module_::import("numpy");
    py::bytes raw(reinterpret_cast<const char*>(data), count * sizeof(T));
    py::object a = np.attr("frombuffer")(raw, py::str(dtype_code<T>())).attr("copy")();
    if (!shape.empty()) a = a.attr("reshape")(py::tuple(py::cast(shape)));
    return a;
}

template <typename T>
py::object to_array(const std::vector<T>& v) {
    return to_numpy(v.data(), v.size());
}

// One field of every row, as a numpy array: column(rows, &Row::field).
template <class Row, class T>
py::object column(const std::vector<Row>& rows, T Row::*field) {
    std::vector<T> values;
    values.reserve(rows.size());
    for (const Row& row : rows) values.push_back(row.*field);
    return to_array(values);
}

// Rows [row0, row0 + count) of a time series, the bins used so far (at least one).
inline py::object series_rows(const BinnedSeries& ts, uint32_t row0, uint32_t count) {
    const uint32_t bins = std::max<uint32_t>(ts.bins_used(), 1);
    std::vector<uint64_t> out(static_cast<size_t>(count) * bins);
    for (uint32_t r = 0; r < count; ++r)
        std::copy_n(ts.row(row0 + r), bins, out.data() + static_cast<size_t>(r) * bins);
    return to_numpy(out.data(), out.size(), {static_cast<py::ssize_t>(count), static_cast<py::ssize_t>(bins)});
}

// A latency histogram: sample count, mean / quantiles / extremes (ns) and its non-empty buckets.
inline py::dict hist_dict(const LatencyHist& h) {
    py::dict d;
    d["count"] = h.count();
    d["mean_ns"] = h.mean_ps() / 1000.0;
    d["p50_ns"] = h.quantile_ps(0.50) / 1000.0;
    d["p99_ns"] = h.quantile_ps(0.99) / 1000.0;
    d["max_ns"] = ps_to_ns(h.max_ps());
    d["min_ns"] = ps_to_ns(h.min_ps());
    std::vector<double> lo, hi;
    std::vector<uint64_t> n;
    h.buckets(lo, hi, n);
    for (auto& x : lo) x /= 1000.0;
    for (auto& x : hi) x /= 1000.0;
    d["bucket_lo_ns"] = to_array(lo);
    d["bucket_hi_ns"] = to_array(hi);
    d["bucket_count"] = to_array(n);
    return d;
}

// Per-GPU counters, latency histograms (merged over GPUs), peer traffic, memory channels,
// SyncMon tables and (when traced) the per-op timeline. Element g of each vector belongs to
// GPU g; `flags` and `mems` may be shorter than `reps` (GPUs without them count zero).
inline void add_gpu_fields(py::dict& r, const std::vector<const GpuReplayer*>& reps,
                           const std::vector<const FlagMemory*>& flags,
                           const std::vector<const GpuMemory*>& mems, bool trace) {
    const size_t n = reps.size();
    std::vector<double> finish(n), stall(n);
    std::vector<uint64_t> bytes(n), bytes_read(n), packets(n), polls(n), notes(n);
    std::vector<uint64_t> polls_remote(n), fallback(n), rechecks(n), regs_sent(n), refusals(n), spurious(n);
    std::vector<uint64_t> sm_regs(n), sm_over(n), sm_peak(n);
    std::vector<uint8_t> straggler(n);
    std::vector<uint32_t> pt_src, pt_dst;
    std::vector<uint64_t> pt_bytes, pt_packets;
    LatencyHist wl, wk;
    std::vector<uint32_t> tr_gpu, tr_stream, tr_op;
    std::vector<uint8_t> tr_kind;
    std::vector<double> tr_start, tr_end;
    for (size_t g = 0; g < n; ++g) {
        const ReplayStats& s = reps[g]->stats();
        finish[g] = ps_to_ns(s.finish_ps);
        stall[g] = ps_to_ns(s.stall_ps);
        bytes[g] = s.bytes_written;
        bytes_read[g] = s.bytes_read;
        packets[g] = s.packets;
        polls[g] = s.polling_reads;
        notes[g] = s.notifications;
        polls_remote[g] = s.polling_reads_remote;
        fallback[g] = s.fallback_polls;
        rechecks[g] = s.recheck_polls;
        regs_sent[g] = s.registrations_sent;
        refusals[g] = s.refusals;
        spurious[g] = s.spurious_wakeups;
        if (g < flags.size() && flags[g]) {
            const WatchTableStats& ws = flags[g]->watch_stats();
            sm_regs[g] = ws.registrations;
            sm_over[g] = ws.overflows;
            sm_peak[g] = ws.peak_entries;
        }
        straggler[g] = reps[g]->program().straggler;
        std::vector<std::pair<uint32_t, ReplayStats::PeerTraffic>> peers(s.to_peer.begin(), s.to_peer.end());
        std::sort(peers.begin(), peers.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        for (const auto& [peer, t] : peers) {
            pt_src.push_back(static_cast<uint32_t>(g));
            pt_dst.push_back(peer);
            pt_bytes.push_back(t.bytes);
            pt_packets.push_back(t.packets);
        }
        wl.merge(s.write_latency);
        wk.merge(s.wakeup_latency);
        if (!trace) continue;
        for (const TraceRecord& t : reps[g]->trace()) {
            tr_gpu.push_back(static_cast<uint32_t>(g));
            tr_stream.push_back(reps[g]->program().streams[t.stream].id);
            tr_op.push_back(t.op);
            tr_kind.push_back(static_cast<uint8_t>(t.kind));
            tr_start.push_back(ps_to_ns(t.start));
            tr_end.push_back(ps_to_ns(t.end));
        }
    }
    r["gpu_finish_ns"] = to_array(finish);
    r["gpu_stall_ns"] = to_array(stall);
    r["gpu_bytes_written"] = to_array(bytes);
    r["gpu_bytes_read"] = to_array(bytes_read);
    r["gpu_packets"] = to_array(packets);
    r["gpu_polling_reads"] = to_array(polls);
    r["gpu_notifications"] = to_array(notes);
    r["gpu_straggler"] = to_array(straggler);
    r["gpu_polling_reads_remote"] = to_array(polls_remote);
    r["gpu_fallback_polls"] = to_array(fallback);
    r["gpu_recheck_polls"] = to_array(rechecks);
    r["gpu_registrations_sent"] = to_array(regs_sent);
    r["gpu_refusals"] = to_array(refusals);
    r["gpu_spurious_wakeups"] = to_array(spurious);
    r["syncmon_registrations"] = to_array(sm_regs);
    r["syncmon_overflows"] = to_array(sm_over);
    r["syncmon_peak_entries"] = to_array(sm_peak);
    // Memory channels: bytes each (GPU, channel) served, and the per-channel bandwidth.
    const uint32_t nch = mems.empty() || !mems[0] ? 0 : mems[0]->num_channels();
    std::vector<uint64_t> mb(mems.size() * nch);
    for (size_t g = 0; g < mems.size(); ++g)
        for (uint32_t c = 0; c < nch; ++c) mb[g * nch + c] = mems[g]->channel_bytes(c);
    r["mem_channel_bytes"] = to_numpy(mb.data(), mb.size(),
                                      {static_cast<py::ssize_t>(mems.size()), static_cast<py::ssize_t>(nch)});
    r["mem_channel_bw_gbps"] = nch ? mems[0]->channel_bw_gbps() : 0.0;
    py::dict peer;  // sparse: one row per (source GPU, destination GPU) pair that carried traffic
    peer["src"] = to_array(pt_src);
    peer["dst"] = to_array(pt_dst);
    peer["bytes"] = to_array(pt_bytes);
    peer["packets"] = to_array(pt_packets);
    r["peer_traffic"] = peer;
    r["write_latency"] = hist_dict(wl);
    r["wakeup_latency"] = hist_dict(wk);
    if (trace) {
        py::dict t;
        t["gpu"] = to_array(tr_gpu);
        t["stream"] = to_array(tr_stream);
        t["op"] = to_array(tr_op);
        t["kind"] = to_array(tr_kind);
        t["start_ns"] = to_array(tr_start);
        t["end_ns"] = to_array(tr_end);
        r["trace"] = t;
    }
}

}  // namespace eidola::raw
