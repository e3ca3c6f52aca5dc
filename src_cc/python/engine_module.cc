// eidola._engine: the built-in host's Python binding. Bulk data crosses as numpy arrays
// (op arrays in, stats and series out); nothing per event becomes a Python object.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "core/net_engine.hh"
#include "core/program.hh"

namespace py = pybind11;
using namespace eidola;

namespace {

template <typename T>
T get(const py::dict& d, const char* key, T fallback) {
    return d.contains(key) ? d[key].cast<T>() : fallback;
}

template <typename T>
py::array_t<T> to_array(const std::vector<T>& v) {
    py::array_t<T> a(static_cast<py::ssize_t>(v.size()));
    std::copy(v.begin(), v.end(), a.mutable_data());
    return a;
}

py::dict hist_dict(const LatencyHist& h) {
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

py::dict run(const py::iterable& gpu_ops, const py::dict& net, const py::dict& cfg) {
    NetworkSpec spec;
    spec.num_gpus = net["num_gpus"].cast<uint32_t>();
    spec.num_nodes = net["num_nodes"].cast<uint32_t>();
    auto src = net["channel_src"].cast<py::array_t<uint32_t, py::array::c_style | py::array::forcecast>>();
    auto dst = net["channel_dst"].cast<py::array_t<uint32_t, py::array::c_style | py::array::forcecast>>();
    auto bw = net["channel_bw_gbps"].cast<py::array_t<double, py::array::c_style | py::array::forcecast>>();
    auto lat = net["channel_latency_ns"].cast<py::array_t<double, py::array::c_style | py::array::forcecast>>();
    auto node_lat = net["node_latency_ns"].cast<py::array_t<double, py::array::c_style | py::array::forcecast>>();
    std::vector<int32_t> rings(static_cast<size_t>(src.size()), -1);
    if (net.contains("channel_ring")) {
        auto r = net["channel_ring"].cast<py::array_t<int32_t, py::array::c_style | py::array::forcecast>>();
        if (r.size() != src.size()) throw std::invalid_argument("channel_ring: one entry per channel");
        for (py::ssize_t i = 0; i < r.size(); ++i) rings[static_cast<size_t>(i)] = r.at(i);
    }
    for (py::ssize_t i = 0; i < src.size(); ++i)
        spec.channels.push_back({src.at(i), dst.at(i), bw.at(i), lat.at(i), rings[static_cast<size_t>(i)]});
    spec.node_latency_ns.assign(node_lat.data(), node_lat.data() + node_lat.size());
    spec.ecmp = get<bool>(net, "ecmp", false);
    spec.ecmp_seed = get<uint64_t>(net, "ecmp_seed", 0);
    spec.gpus_forward = get<bool>(net, "gpus_forward", true);
    spec.memory.bw_gbps = net["hbm_bw_gbps"].cast<double>();
    spec.memory.latency_ns = net["mem_latency_ns"].cast<double>();
    spec.memory.channels = get<uint32_t>(net, "mem_channels", 1);
    spec.memory.interleave_bytes = get<uint32_t>(net, "mem_interleave_bytes", 256);
    spec.memory.flag_stride_bytes = get<uint32_t>(cfg, "flag_stride_bytes", 8);
    spec.syncmon_latency_ns = net["syncmon_latency_ns"].cast<double>();
    spec.syncmon_entries = get<uint32_t>(net, "syncmon_entries", 0);
    spec.syncmon_register_bytes = get<uint32_t>(cfg, "syncmon_register_bytes", 16);
    spec.syncmon_notify_bytes = get<uint32_t>(cfg, "syncmon_notify_bytes", 8);
    spec.buffer_bytes = get<uint64_t>(net, "buffer_bytes", 0);

    EngineConfig ec;
    const std::string sync = get<std::string>(cfg, "sync", "polling");
    if (sync != "polling" && sync != "syncmon") throw std::invalid_argument("sync must be polling or syncmon");
    ec.replay.sync = sync == "polling" ? SyncMode::Polling : SyncMode::SyncMon;
    const std::string mode = get<std::string>(cfg, "replay", "dependent");
    if (mode != "dependent" && mode != "timed") throw std::invalid_argument("replay must be dependent or timed");
    ec.replay.mode = mode == "timed" ? ReplayMode::Timed : ReplayMode::Dependent;
    ec.replay.poll_interval_ps = ns_to_ps(get<double>(cfg, "poll_interval_ns", 100.0));
    ec.replay.packet_bytes = get<uint32_t>(cfg, "packet_bytes", 4096);
    ec.replay.max_outstanding = get<uint32_t>(cfg, "max_outstanding", 0);
    ec.replay.max_outstanding_bytes = get<uint64_t>(cfg, "max_outstanding_bytes", 256 * 1024);
    ec.replay.poll_bytes = get<uint32_t>(cfg, "poll_bytes", 64);
    ec.replay.trace = get<bool>(cfg, "trace", false);
    const std::string wake = get<std::string>(cfg, "syncmon_wake", "match");
    if (wake != "match" && wake != "change") throw std::invalid_argument("syncmon_wake must be match or change");
    ec.replay.syncmon_wake = wake == "match" ? WakeOn::Match : WakeOn::Change;
    ec.replay.poll_backoff_max_ps = ns_to_ps(get<double>(cfg, "poll_backoff_max_ns", 243.81));
    ec.series = get<bool>(cfg, "series", true);
    ec.time_bin_ns = get<double>(cfg, "time_bin_ns", 100.0);
    ec.max_bins = get<uint32_t>(cfg, "max_bins", 1024);
    ec.max_events = get<uint64_t>(cfg, "max_events", 0);

    ProgramOptions po;
    po.compute_scale = get<double>(cfg, "compute_scale", 1.0);
    po.seed = get<uint64_t>(cfg, "seed", 0);
    po.num_iterations = get<uint32_t>(cfg, "num_iterations", 1);
    po.compute_cv = get<double>(cfg, "compute_cv", 0.0);
    po.straggler_prob = get<double>(cfg, "straggler_prob", 0.0);
    po.straggler_slowdown = get<double>(cfg, "straggler_slowdown", 1.0);
    po.time_origin_ns = get<double>(cfg, "time_origin_ns", std::nan(""));
    po.keep_start_times = ec.replay.mode == ReplayMode::Timed;

    // Ops arrive one GPU at a time from any iterable (a list, or a generator reading the file)
    // and are converted at once, so the numpy copy of a GPU is released before the next.
    const uint32_t num_profile_gpus = cfg["num_gpus"].cast<uint32_t>();
    std::vector<GpuProgram> programs;
    programs.reserve(num_profile_gpus);
    for (py::handle item : gpu_ops) {
        const uint32_t g = static_cast<uint32_t>(programs.size());
        if (g >= num_profile_gpus) throw std::invalid_argument("more op arrays than num_gpus");
        py::array arr = py::reinterpret_borrow<py::object>(item).cast<py::array>();
        if (arr.itemsize() != static_cast<py::ssize_t>(sizeof(ProfileOp)) || !(arr.flags() & py::array::c_style))
            throw std::invalid_argument("gpu " + std::to_string(g) + ": op array is not a contiguous OP_DTYPE array");
        programs.push_back(GpuProgram::build(g, std::max(num_profile_gpus, spec.num_gpus),
                                             static_cast<const ProfileOp*>(arr.data()),
                                             static_cast<size_t>(arr.size()), po));
    }
    if (programs.size() != num_profile_gpus) throw std::invalid_argument("fewer op arrays than num_gpus");

    std::unique_ptr<Engine> engine;
    EngineOutcome out;
    // Ctrl-C / SIGTERM during a long run: Python's handler only runs when the main thread
    // holds the GIL, so the core asks here now and then.
    // A "progress" callable in the config gets (simulated ns, events, ops done, ops total).
    py::object progress = cfg.contains("progress") ? py::object(cfg["progress"]) : py::none();
    if (cfg.contains("interrupt_every"))
        ec.interrupt_every = std::max<uint64_t>(1, cfg["interrupt_every"].cast<uint64_t>());
    ec.interrupted = [progress](Tick now, uint64_t events, uint64_t done, uint64_t total) {
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) return true;
        if (!progress.is_none()) {
            try {
                progress(ps_to_ns(now), events, done, total);
            } catch (py::error_already_set& e) {
                e.restore();  // re-raised after the run stops
                return true;
            }
        }
        return false;
    };
    {
        py::gil_scoped_release nogil;
        engine = std::make_unique<Engine>(std::move(spec), ec, std::move(programs));
        out = engine->run();
    }
    if (out.interrupted) {
        // the host's stop request: the exception it raised (KeyboardInterrupt, a progress
        // callback's error), or KeyboardInterrupt when none is pending any more
        if (!PyErr_Occurred()) PyErr_SetNone(PyExc_KeyboardInterrupt);
        throw py::error_already_set();
    }

    py::dict r;
    r["finished"] = out.finished;
    r["deadlock"] = out.deadlock;
    r["event_limit"] = out.event_limit;
    r["end_ns"] = ps_to_ns(out.end_ps);
    r["events"] = out.events;
    r["notifications"] = engine->notifications();

    const auto& reps = engine->replayers();
    const size_t n = reps.size();
    std::vector<double> finish(n), stall(n);
    std::vector<uint64_t> bytes(n), packets(n), polls(n), notes(n), signals(n), waits(n), bytes_read(n);
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
        signals[g] = s.signals;
        waits[g] = s.waits;
        polls_remote[g] = s.polling_reads_remote;
        fallback[g] = s.fallback_polls;
        rechecks[g] = s.recheck_polls;
        regs_sent[g] = s.registrations_sent;
        refusals[g] = s.refusals;
        spurious[g] = s.spurious_wakeups;
        const WatchTableStats& ws = engine->flags(static_cast<uint32_t>(g)).watch_stats();
        sm_regs[g] = ws.registrations;
        sm_over[g] = ws.overflows;
        sm_peak[g] = ws.peak_entries;
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
    r["gpu_signals"] = to_array(signals);
    r["gpu_waits"] = to_array(waits);
    r["gpu_straggler"] = to_array(straggler);
    r["gpu_polling_reads_remote"] = to_array(polls_remote);
    r["gpu_fallback_polls"] = to_array(fallback);
    r["gpu_recheck_polls"] = to_array(rechecks);
    r["gpu_registrations_sent"] = to_array(regs_sent);
    r["gpu_refusals"] = to_array(refusals);
    r["gpu_spurious_wakeups"] = to_array(spurious);
    // Per GPU that hosts a SyncMon: entries taken, registrations refused, most entries at once.
    r["syncmon_registrations"] = to_array(sm_regs);
    r["syncmon_overflows"] = to_array(sm_over);
    r["syncmon_peak_entries"] = to_array(sm_peak);
    {
        // Memory channels: bytes each (GPU, channel) served, and the per-channel bandwidth.
        const auto& mems = engine->memories();
        const uint32_t nch = mems.empty() ? 0 : mems[0].num_channels();
        py::array_t<uint64_t> mb({static_cast<py::ssize_t>(mems.size()), static_cast<py::ssize_t>(nch)});
        for (size_t g = 0; g < mems.size(); ++g)
            for (uint32_t c = 0; c < nch; ++c) mb.mutable_data()[g * nch + c] = mems[g].channel_bytes(c);
        r["mem_channel_bytes"] = mb;
        r["mem_channel_bw_gbps"] = mems.empty() ? 0.0 : mems[0].channel_bw_gbps();
    }
    py::dict peer;  // sparse: one row per (source GPU, destination GPU) pair that carried traffic
    peer["src"] = to_array(pt_src);
    peer["dst"] = to_array(pt_dst);
    peer["bytes"] = to_array(pt_bytes);
    peer["packets"] = to_array(pt_packets);
    r["peer_traffic"] = peer;
    r["write_latency"] = hist_dict(wl);
    r["wakeup_latency"] = hist_dict(wk);

    const size_t channels = engine->num_channels();
    r["channel_bytes"] = to_array(engine->channel_bytes());
    std::vector<uint64_t> buffers(channels);
    for (size_t c = 0; c < channels; ++c) buffers[c] = engine->buffer_bytes(static_cast<uint32_t>(c));
    r["channel_buffer_bytes"] = to_array(buffers);
    if (ec.series) {
        const uint32_t bins = std::max<uint32_t>(engine->bins_used(), 1);
        py::array_t<uint64_t> links({static_cast<py::ssize_t>(channels), static_cast<py::ssize_t>(bins)});
        py::array_t<uint64_t> pollsr({static_cast<py::ssize_t>(engine->network().num_gpus), static_cast<py::ssize_t>(bins)});
        const auto& ls = engine->link_bytes_series();
        const auto& ps = engine->poll_series();
        for (size_t c = 0; c < channels; ++c)
            std::copy_n(ls.data() + c * ec.max_bins, bins, links.mutable_data() + c * bins);
        for (size_t g = 0; g < engine->network().num_gpus; ++g)
            std::copy_n(ps.data() + g * ec.max_bins, bins, pollsr.mutable_data() + g * bins);
        r["link_bytes_series"] = links;
        const auto& ms = engine->mem_series();
        if (!ms.empty()) {
            const size_t rows = ms.size() / ec.max_bins;
            py::array_t<uint64_t> mem({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(bins)});
            for (size_t row = 0; row < rows; ++row)
                std::copy_n(ms.data() + row * ec.max_bins, bins, mem.mutable_data() + row * bins);
            r["mem_channel_series"] = mem;
        }
        r["polling_series"] = pollsr;
        r["time_bin_ns"] = ps_to_ns(engine->bin_width_ps());
    }
    if (ec.replay.trace) {
        py::dict t;
        t["gpu"] = to_array(tr_gpu);
        t["stream"] = to_array(tr_stream);
        t["op"] = to_array(tr_op);
        t["kind"] = to_array(tr_kind);
        t["start_ns"] = to_array(tr_start);
        t["end_ns"] = to_array(tr_end);
        r["trace"] = t;
    }
    std::vector<uint32_t> sg, ss, sh;
    std::vector<int32_t> sf;
    std::vector<int64_t> sa;
    for (const auto& s : out.stuck) {
        sg.push_back(s.gpu);
        ss.push_back(s.stream);
        sh.push_back(s.home);
        sf.push_back(s.flag);
        sa.push_back(s.awaited);
    }
    py::dict stuck;
    stuck["gpu"] = to_array(sg);
    stuck["stream"] = to_array(ss);
    stuck["home"] = to_array(sh);
    stuck["flag"] = to_array(sf);
    stuck["awaited"] = to_array(sa);
    stuck["value"] = to_array(out.stuck_values);
    r["stuck"] = stuck;
    return r;
}

}  // namespace

PYBIND11_MODULE(_engine, m) {
    m.doc() = "Eidola built-in engine: the gem5-free replay core driven by a discrete-event network model.";
    m.def("run", &run, py::arg("gpu_ops"), py::arg("network"), py::arg("config"),
          "Replay per-GPU op arrays (OP_DTYPE) on a network; returns stats and series as numpy arrays.");
    py::register_exception<std::invalid_argument>(m, "InputError", PyExc_ValueError);
}
