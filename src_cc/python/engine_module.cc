// eidola._engine: the built-in host's Python binding. Bulk data crosses as numpy arrays
// (op arrays in, stats and series out); nothing per event becomes a Python object.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>

#include "core/network/net_engine.hh"
#include "core/replay/program.hh"
#include "python/nominal_times.hh"
#include "python/ops_check.hh"
#include "python/program_builder.hh"
#include "python/raw_result.hh"
#include "python/unshuffle.hh"

namespace py = pybind11;
using namespace eidola;
using eidola::raw::to_array;

namespace {

// Every run parameter and network field is required: their defaults live in one place each,
// eidola.params.RunParams and eidola.topology.
template <typename T>
T need(const py::dict& d, const char* key) {
    if (!d.contains(key)) throw std::invalid_argument(std::string("run parameter '") + key + "' is missing");
    return d[key].cast<T>();
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
    std::vector<uint8_t> arbitrate(static_cast<size_t>(src.size()), 0);
    if (net.contains("channel_arbitrate_flows")) {
        auto a = net["channel_arbitrate_flows"].cast<py::array_t<uint8_t, py::array::c_style | py::array::forcecast>>();
        if (a.size() != src.size()) throw std::invalid_argument("channel_arbitrate_flows: one entry per channel");
        for (py::ssize_t i = 0; i < a.size(); ++i) arbitrate[static_cast<size_t>(i)] = a.at(i);
    }
    for (py::ssize_t i = 0; i < src.size(); ++i)
        spec.channels.push_back({src.at(i), dst.at(i), bw.at(i), lat.at(i), rings[static_cast<size_t>(i)],
                                 arbitrate[static_cast<size_t>(i)] != 0});
    spec.node_latency_ns.assign(node_lat.data(), node_lat.data() + node_lat.size());
    spec.ecmp = need<bool>(net, "ecmp");
    spec.ecmp_seed = need<uint64_t>(net, "ecmp_seed");
    spec.gpus_forward = need<bool>(net, "gpus_forward");
    spec.memory.bw_gbps = net["hbm_bw_gbps"].cast<double>();
    spec.memory.latency_ns = net["mem_latency_ns"].cast<double>();
    spec.memory.channels = need<uint32_t>(net, "mem_channels");
    spec.memory.interleave_bytes = need<uint32_t>(net, "mem_interleave_bytes");
    spec.memory.flag_stride_bytes = need<uint32_t>(cfg, "flag_stride_bytes");
    spec.syncmon_latency_ns = net["syncmon_latency_ns"].cast<double>();
    spec.syncmon_entries = need<uint32_t>(net, "syncmon_entries");
    spec.syncmon_register_bytes = need<uint32_t>(cfg, "syncmon_register_bytes");
    spec.syncmon_notify_bytes = need<uint32_t>(cfg, "syncmon_notify_bytes");
    spec.buffer_bytes = need<uint64_t>(net, "buffer_bytes");

    EngineConfig ec;
    const std::string sync = need<std::string>(cfg, "sync");
    if (sync != "polling" && sync != "syncmon") throw std::invalid_argument("sync must be polling or syncmon");
    ec.replay.sync = sync == "polling" ? SyncMode::Polling : SyncMode::SyncMon;
    const std::string mode = need<std::string>(cfg, "replay");
    if (mode != "dependent" && mode != "timed") throw std::invalid_argument("replay must be dependent or timed");
    ec.replay.mode = mode == "timed" ? ReplayMode::Timed : ReplayMode::Dependent;
    ec.replay.poll_interval_ps = ns_to_ps(need<double>(cfg, "poll_interval_ns"));
    ec.replay.packet_bytes = need<uint32_t>(cfg, "packet_bytes");
    ec.replay.max_outstanding = need<uint32_t>(cfg, "max_outstanding");
    ec.replay.max_outstanding_bytes = need<uint64_t>(cfg, "max_outstanding_bytes");
    ec.replay.poll_bytes = need<uint32_t>(cfg, "poll_bytes");
    ec.replay.trace = need<bool>(cfg, "trace");
    const std::string wake = need<std::string>(cfg, "syncmon_wake");
    if (wake != "match" && wake != "change") throw std::invalid_argument("syncmon_wake must be match or change");
    ec.replay.syncmon_wake = wake == "match" ? WakeOn::Match : WakeOn::Change;
    ec.replay.poll_backoff_max_ps = ns_to_ps(need<double>(cfg, "poll_backoff_max_ns"));
    ec.series = need<bool>(cfg, "series");
    ec.time_bin_ns = need<double>(cfg, "time_bin_ns");
    ec.max_bins = need<uint32_t>(cfg, "max_bins");
    ec.max_events = need<uint64_t>(cfg, "max_events");

    ProgramOptions po;
    po.compute_scale = need<double>(cfg, "compute_scale");
    po.seed = need<uint64_t>(cfg, "seed");
    po.num_iterations = need<uint32_t>(cfg, "num_iterations");
    po.compute_cv = need<double>(cfg, "compute_cv");
    po.straggler_prob = need<double>(cfg, "straggler_prob");
    po.straggler_slowdown = need<double>(cfg, "straggler_slowdown");
    po.time_origin_ns = need<double>(cfg, "time_origin_ns");
    po.keep_start_times = ec.replay.mode == ReplayMode::Timed;

    // Ops arrive one GPU at a time from any iterable (a list, or a generator reading the file)
    // and are converted at once, so the numpy copy of a GPU is released before the next.
    using Clock = std::chrono::steady_clock;
    const auto load_start = Clock::now();  // reading and converting the ops, checks included
    const uint32_t num_profile_gpus = cfg["num_gpus"].cast<uint32_t>();
    // Programs are built on a worker thread (program_builder.hh) while this thread, holding
    // the GIL, reads and checks the next GPUs' ops.
    std::vector<GpuProgram> programs;
    programs.reserve(num_profile_gpus);
    {
        std::deque<std::pair<py::array, std::future<GpuProgram>>> building;  // arrays kept alive
        std::unique_ptr<ProgramBuilder> builder = std::make_unique<ProgramBuilder>();
        const auto stop_builder = [&builder] {  // joins the worker without holding the GIL
            py::gil_scoped_release nogil;
            builder.reset();
        };
        const auto collect_oldest = [&] {
            std::future<GpuProgram> job = std::move(building.front().second);
            {
                py::gil_scoped_release nogil;
                job.wait();
            }
            programs.push_back(job.get());  // rethrows a build error (a one-line invalid_argument)
            building.pop_front();
        };
        try {
            uint32_t g = 0;
            for (py::handle item : gpu_ops) {
                if (g >= num_profile_gpus) throw std::invalid_argument("more op arrays than num_gpus");
                py::array arr = py::reinterpret_borrow<py::object>(item).cast<py::array>();
                if (arr.itemsize() != static_cast<py::ssize_t>(sizeof(ProfileOp)) || !(arr.flags() & py::array::c_style))
                    throw std::invalid_argument("gpu " + std::to_string(g) + ": op array is not a contiguous OP_DTYPE array");
                const ProfileOp* data = static_cast<const ProfileOp*>(arr.data());
                const size_t n = static_cast<size_t>(arr.size());
                const uint32_t all_gpus = std::max(num_profile_gpus, spec.num_gpus);
                building.emplace_back(arr, builder->submit([g, all_gpus, data, n, &po] {
                    return GpuProgram::build(g, all_gpus, data, n, po);
                }));
                ++g;
                while (building.size() > 8) collect_oldest();
            }
            while (!building.empty()) collect_oldest();
        } catch (...) {
            stop_builder();  // before the arrays its jobs read are released
            throw;
        }
        stop_builder();
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
    const auto sim_start = Clock::now();
    {
        py::gil_scoped_release nogil;
        engine = std::make_unique<Engine>(std::move(spec), ec, std::move(programs));
        out = engine->run();
    }
    const auto sim_end = Clock::now();
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
    r["events"] = out.events;
    r["notifications"] = engine->notifications();
    r["load_seconds"] = std::chrono::duration<double>(sim_start - load_start).count();
    r["simulate_seconds"] = std::chrono::duration<double>(sim_end - sim_start).count();

    const auto& reps = engine->replayers();
    const size_t n = reps.size();
    std::vector<const GpuReplayer*> rp(n);
    std::vector<const FlagMemory*> fl(n);
    std::vector<const GpuMemory*> mm;
    for (size_t g = 0; g < n; ++g) {
        rp[g] = reps[g].get();
        fl[g] = &engine->flags(static_cast<uint32_t>(g));
    }
    for (const GpuMemory& m : engine->memories()) mm.push_back(&m);
    raw::add_gpu_fields(r, rp, fl, mm, ec.replay.trace);

    const size_t channels = engine->num_channels();
    r["channel_bytes"] = to_array(engine->channel_bytes());
    if (ec.series) {
        const BinnedSeries& ts = engine->series();
        r["link_bytes_series"] = raw::series_rows(ts, 0, static_cast<uint32_t>(channels));
        r["polling_series"] = raw::series_rows(ts, engine->poll_row0(), engine->network().num_gpus);
        if (engine->mem_series_rows())
            r["mem_channel_series"] = raw::series_rows(ts, engine->mem_row0(), engine->mem_series_rows());
        r["time_bin_ns"] = ps_to_ns(ts.bin_ps());
    }
    py::dict stuck;
    stuck["gpu"] = raw::column(out.stuck, &StuckWait::gpu);
    stuck["stream"] = raw::column(out.stuck, &StuckWait::stream);
    stuck["home"] = raw::column(out.stuck, &StuckWait::home);
    stuck["flag"] = raw::column(out.stuck, &StuckWait::flag);
    stuck["awaited"] = raw::column(out.stuck, &StuckWait::awaited);
    stuck["value"] = to_array(out.stuck_values);
    r["stuck"] = stuck;
    return r;
}

void estimate_times_of_gpus(py::array ops, py::array_t<int64_t, py::array::c_style> cuts,
                            double start_ns, double link_gbps, double latency_ns) {
    if (ops.itemsize() != static_cast<py::ssize_t>(sizeof(ProfileOp)) || ops.ndim() != 1 ||
        !(ops.flags() & py::array::c_style) || !ops.writeable())
        throw std::invalid_argument("ops must be a writable, contiguous OP_DTYPE array");
    const py::ssize_t gpus = cuts.size() - 1;
    const int64_t* c = cuts.data();
    if (gpus < 0) throw std::invalid_argument("cuts must hold num_gpus + 1 offsets");
    for (py::ssize_t g = 0; g < gpus; ++g)
        if (c[g] < 0 || c[g] > c[g + 1] || c[g + 1] > ops.shape(0))
            throw std::invalid_argument("cuts must be non-decreasing offsets into ops");
    ProfileOp* data = static_cast<ProfileOp*>(ops.mutable_data());
    py::gil_scoped_release unlocked;  // the profile writer's encoder thread runs meanwhile
    nominal_times(data, c, static_cast<size_t>(gpus), start_ns, link_gbps, latency_ns);
}

// Records [lo, lo + rows) of `out` from one chunk's shuffled bytes (`chunk_rows` records).
void unshuffle_into(py::buffer planes, py::array out, size_t lo, size_t rows, size_t chunk_rows) {
    const py::buffer_info in = planes.request();
    const size_t width = static_cast<size_t>(out.itemsize());
    if (out.ndim() != 1 || !(out.flags() & py::array::c_style) || !out.writeable())
        throw std::invalid_argument("out must be a writable, contiguous record array");
    if (rows > chunk_rows || lo + rows > static_cast<size_t>(out.shape(0)) ||
        static_cast<size_t>(in.size * in.itemsize) != chunk_rows * width)
        throw std::invalid_argument("chunk and record sizes do not match");
    const uint8_t* src = static_cast<const uint8_t*>(in.ptr);
    uint8_t* dst = static_cast<uint8_t*>(out.mutable_data()) + lo * width;
    py::gil_scoped_release unlocked;  // the caller's thread checks the previous GPU meanwhile
    unshuffle(src, chunk_rows, width, dst, rows);
}

// OpsChecker.add: a GPU's ops (or a chunk of them) in; None, or each op's failed checks.
py::object check_ops(OpsChecker& checker, uint32_t gpu, py::array ops, uint64_t base) {
    if (ops.itemsize() != static_cast<py::ssize_t>(sizeof(ProfileOp)) || ops.ndim() != 1 ||
        !(ops.flags() & py::array::c_style))
        throw std::invalid_argument("ops must be a contiguous OP_DTYPE array");
    const ProfileOp* data = static_cast<const ProfileOp*>(ops.data());
    const size_t n = static_cast<size_t>(ops.shape(0));
    std::vector<uint16_t> bits;
    bool any;
    {
        py::gil_scoped_release unlocked;  // the read-ahead thread decodes the next GPU meanwhile
        any = checker.add(gpu, data, n, base, bits);
    }
    if (!any) return py::none();
    return to_array(bits);
}

py::dict failed_waits(OpsChecker& checker) {
    const std::vector<FailedWait>* failed;
    {
        py::gil_scoped_release unlocked;
        failed = &checker.failed_waits();
    }
    py::dict d;
    d["gpu"] = raw::column(*failed, &FailedWait::home);
    d["stream"] = raw::column(*failed, &FailedWait::stream);
    d["op"] = raw::column(*failed, &FailedWait::op);
    d["flag"] = raw::column(*failed, &FailedWait::flag);
    d["iteration"] = raw::column(*failed, &FailedWait::iteration);
    d["need"] = raw::column(*failed, &FailedWait::need);
    d["have"] = raw::column(*failed, &FailedWait::have);
    return d;
}

}  // namespace

PYBIND11_MODULE(_engine, m) {
    m.doc() = "Eidola built-in engine: the gem5-free replay core driven by a discrete-event network model.";
    m.def("run", &run, py::arg("gpu_ops"), py::arg("network"), py::arg("config"),
          "Replay per-GPU op arrays (OP_DTYPE) on a network; returns stats and series as numpy arrays.");
    m.def("estimate_times_of_gpus", &estimate_times_of_gpus, py::arg("ops"), py::arg("cuts"),
          py::arg("start_ns"), py::arg("link_gbps"), py::arg("latency_ns"),
          "eidola.profile.timeline.estimate_times for GPU g = ops[cuts[g]:cuts[g+1]], in place.");
    m.def("unshuffle_into", &unshuffle_into, py::arg("planes"), py::arg("out"), py::arg("lo"), py::arg("rows"),
          py::arg("chunk_rows"),
          "Undo HDF5's shuffle filter: records out[lo:lo + rows] from a chunk of chunk_rows records.");
    py::class_<OpsChecker>(m, "OpsChecker",
                           "eidola.profile.validate's checks in one pass over each GPU's records.")
        .def(py::init([](uint32_t num_gpus, int64_t num_iterations, double max_time_ns, uint64_t max_op_bytes,
                         int32_t multicast_peer, uint8_t max_kind) {
                 return OpsChecker({num_gpus, num_iterations, max_time_ns, max_op_bytes, multicast_peer, max_kind});
             }),
             py::arg("num_gpus"), py::arg("num_iterations"), py::arg("max_time_ns"), py::arg("max_op_bytes"),
             py::arg("multicast_peer"), py::arg("max_kind"))
        .def("add", &check_ops, py::arg("gpu"), py::arg("ops"), py::arg("base"),
             "Checks ops of `gpu` (op indices from `base`); None, or a uint16 per op: its failed checks.")
        .def("failed_waits", &failed_waits,
             "Waits no signals can satisfy (call after the last GPU): arrays gpu (the flag's home), "
             "stream, op, flag, iteration, need, have.");
    py::dict checks;
    for (const auto& [name, bit] : {std::pair<const char*, uint16_t>{"kind", kCheckKind}, {"peer", kCheckPeer},
                                    {"self", kCheckSelf}, {"bytes", kCheckBytes}, {"big", kCheckBig},
                                    {"dur", kCheckDur}, {"t", kCheckT}, {"sigval", kCheckSigval},
                                    {"flag", kCheckFlag}, {"iter", kCheckIter}, {"mono", kCheckMono},
                                    {"home", kCheckHome}})
        checks[name] = bit;
    m.attr("OP_CHECKS") = checks;
    py::register_exception<std::invalid_argument>(m, "InputError", PyExc_ValueError);
}
