// _m5.eidola_profile: the profile header as gem5's Python sees it, read with the HDF5 C
// library (an h5py wheel cannot be imported inside a gem5 that links HDF5), and a run's raw
// result, filled from the core's records by the filler the built-in engine uses.
#include <cmath>

#include "core/io/h5_writer.hh"
#include "core/io/profile_h5.hh"
#include "gem5/eidola_link.hh"
#include "gem5/eidola_memory.hh"
#include "gem5/eidolon_gpu.hh"
#include "gem5/sync_mon.hh"
#include "pybind11/pybind11.h"
#include "pybind11/stl.h"
#include "python/raw_result.hh"
#include "sim/init.hh"

namespace py = pybind11;

namespace gem5
{
namespace
{

py::dict
header(const std::string &path)
{
    try {
        ::eidola::ProfileFile f(path);
        const auto &h = f.header();
        py::dict d;
        d["format"] = h.format;
        d["version"] = h.version;
        d["num_gpus"] = h.num_gpus;
        d["num_iterations"] = h.num_iterations;
        d["kind"] = h.kind;
        d["name"] = h.name;
        d["parameters_json"] = h.parameters_json;
        py::dict var;
        var["compute_cv"] = h.compute_cv;
        var["straggler_prob"] = h.straggler_prob;
        var["straggler_slowdown"] = h.straggler_slowdown;
        d["variability"] = var;
        return d;
    } catch (const std::exception &e) {
        throw py::value_error(e.what());
    }
}

py::dict
summary(const std::string &path)
{
    try {
        ::eidola::ProfileFile f(path);
        unsigned long long ops = 0, written = 0, multicast = 0;
        for (uint32_t g = 0; g < f.header().num_gpus; ++g)
            for (const auto &op : f.read_gpu(g)) {
                ++ops;
                if (op.kind == static_cast<uint8_t>(::eidola::OpKind::Write))
                    written += op.bytes;
                multicast += op.peer == ::eidola::kMulticastPeer;
            }
        py::dict d;
        d["num_ops"] = ops;
        d["bytes_written"] = written;
        d["multicast_ops"] = multicast;
        return d;
    } catch (const std::exception &e) {
        throw py::value_error(e.what());
    }
}

// The recorded time that timed replay counts as 0: the earliest t_ns among the replayed
// iteration's ops of every GPU (what the built-in engine uses).
double
time_origin(const std::string &path, unsigned iteration)
{
    try {
        ::eidola::ProfileFile f(path);
        double best = 0.0;
        bool any = false;
        for (uint32_t g = 0; g < f.header().num_gpus; ++g) {
            const double t = f.earliest_start_ns(g, iteration);
            if (!std::isnan(t) && (!any || t < best)) {
                best = t;
                any = true;
            }
        }
        return best;
    } catch (const std::exception &e) {
        throw py::value_error(e.what());
    }
}

// The raw result of a gem5 run (eidola/raw.py): per-GPU fields from each eidolon's replayer,
// SyncMon table and memory (the built-in engine's filler), bytes per topology channel from
// the wires (`wires[c]` is channel c), and the time series each object kept at its own bin
// width: wires, memory channels, polls (rows plus widths; the glue folds them to one width).
py::dict
raw(const std::vector<eidola::EidolonGPU *> &eidolons, const std::vector<eidola::SyncMon *> &mons,
    const std::vector<eidola::EidolaMemory *> &mems, const std::vector<eidola::EidolaWire *> &wires,
    bool trace)
{
    std::vector<const ::eidola::GpuReplayer *> reps;
    std::vector<const ::eidola::FlagMemory *> flags;
    std::vector<const ::eidola::GpuMemory *> models;
    for (const auto *e : eidolons)
        reps.push_back(&e->core());
    for (const auto *m : mons)
        flags.push_back(&m->flags());
    for (const auto *m : mems)
        models.push_back(&m->timing());
    py::dict r;
    ::eidola::raw::add_gpu_fields(r, reps, flags, models, trace);
    uint64_t packets = 0, polls = 0, notifications = 0;
    for (const auto *rep : reps) {
        packets += rep->stats().packets;
        polls += rep->stats().polling_reads;
        notifications += rep->stats().notifications;
    }
    r["events"] = packets + polls;  // simulated requests: gem5 does not count its own events here
    r["notifications"] = notifications;
    std::vector<uint64_t> carried;
    py::list wire_rows, wire_bins, poll_rows, poll_bins;
    for (const auto *w : wires) {
        carried.push_back(w->bytesCarried());
        if (w->bytesOverTime().enabled()) {
            wire_rows.append(::eidola::raw::series_rows(w->bytesOverTime(), 0, 1)[py::int_(0)]);
            wire_bins.append(::eidola::ps_to_ns(w->bytesOverTime().bin_ps()));
        }
    }
    py::list mem_rows, mem_bins;  // a row per (GPU, channel), GPU-major
    for (const auto *m : mems)
        if (m->bytesOverTime().enabled()) {
            const auto &ts = m->bytesOverTime();
            const py::object rows = ::eidola::raw::series_rows(ts, 0, ts.rows());
            for (uint32_t c = 0; c < ts.rows(); ++c) {
                mem_rows.append(rows[py::int_(c)]);
                mem_bins.append(::eidola::ps_to_ns(ts.bin_ps()));
            }
        }
    for (const auto *e : eidolons)
        if (e->polls().enabled()) {
            poll_rows.append(::eidola::raw::series_rows(e->polls(), 0, 1)[py::int_(0)]);
            poll_bins.append(::eidola::ps_to_ns(e->polls().bin_ps()));
        }
    r["channel_bytes"] = ::eidola::raw::to_array(carried);
    py::dict series;  // unfolded: one row and one bin width per object
    series["link_rows"] = wire_rows;
    series["link_bin_ns"] = wire_bins;
    series["poll_rows"] = poll_rows;
    series["poll_bin_ns"] = poll_bins;
    series["mem_rows"] = mem_rows;
    series["mem_bin_ns"] = mem_bins;
    r["gem5_series"] = series;
    return r;
}

std::vector<::eidola::H5Attr>
attrsOf(const py::dict &d)
{
    std::vector<::eidola::H5Attr> out;
    for (const auto &kv : d) {
        ::eidola::H5Attr a;
        a.name = kv.first.cast<std::string>();
        const py::handle v = kv.second;
        if (py::isinstance<py::str>(v)) {
            a.is_text = true;
            a.text = v.cast<std::string>();
        } else if (py::isinstance<py::bool_>(v) || py::isinstance<py::int_>(v)) {
            a.integral = true;
            a.number = static_cast<double>(v.cast<int64_t>());
        } else {
            a.number = v.cast<double>();
        }
        out.push_back(a);
    }
    return out;
}

// Store a results.h5 layout made by eidola.results (file attributes, then (path, array or
// None for a group, attributes) entries) with the HDF5 C library: h5py cannot load inside this gem5.
void
writeH5(const std::string &path, const py::dict &fileAttrs, const py::list &datasets)
{
    try {
        ::eidola::H5Writer w(path);
        for (const auto &a : attrsOf(fileAttrs))
            w.attr("/", a);
        for (const auto &item : datasets) {
            const py::tuple t = item.cast<py::tuple>();
            if (t[1].is_none()) {  // a group with attributes
                const std::string g = t[0].cast<std::string>();
                w.group(g);
                for (const auto &a : attrsOf(t[2].cast<py::dict>()))
                    w.attr(g, a);
                continue;
            }
            // Read through Python, not pybind11's numpy C layout (gem5's bundled pybind11
            // predates NumPy 2): dtype kind and size, shape, and the C-ordered bytes.
            const py::object arr = py::module_::import("numpy").attr("ascontiguousarray")(t[1]);
            ::eidola::H5Dataset d;
            d.path = t[0].cast<std::string>();
            const py::object dt = arr.attr("dtype");
            const std::string kind = dt.attr("kind").cast<std::string>();
            const char k = kind.empty() ? '?' : kind[0];
            const auto size = dt.attr("itemsize").cast<int>();
            if (k == 'f' && size == 8) d.type = ::eidola::H5Type::F64;
            else if (k == 'u' && size == 8) d.type = ::eidola::H5Type::U64;
            else if (k == 'u' && size == 4) d.type = ::eidola::H5Type::U32;
            else if ((k == 'u' || k == 'b') && size == 1) d.type = ::eidola::H5Type::U8;
            else if (k == 'i' && size == 8) d.type = ::eidola::H5Type::I64;
            else if (k == 'i' && size == 4) d.type = ::eidola::H5Type::I32;
            else
                throw std::runtime_error("dataset '" + d.path + "' has an unsupported dtype");
            for (const auto &n : arr.attr("shape").cast<py::tuple>())
                d.shape.push_back(n.cast<uint64_t>());
            const std::string bytes = arr.attr("tobytes")().cast<std::string>();
            d.data = bytes.data();
            d.attrs = attrsOf(t[2].cast<py::dict>());
            w.dataset(d);
        }
        w.close();
    } catch (const std::exception &e) {
        throw py::value_error(e.what());
    }
}

void
eidola_pybind(py::module_ &m_internal)
{
    py::module_ m = m_internal.def_submodule("eidola_profile");
    m.def("header", &header, "Root attributes of a profile (HDF5 C reader)");
    m.def("summary", &summary, "Op count, payload bytes and multicast ops of a profile (HDF5 C reader)");
    m.def("time_origin", &time_origin, "Earliest recorded start of an iteration (ns)");
    m.def("write_h5", &writeH5, "Store a results.h5 layout with the HDF5 C library");
    m.def("raw", &raw, "The raw result of a run (eidola/raw.py) from its eidolons, monitors, "
          "memories and wires");
}

EmbeddedPyBind embed_("eidola_profile", &eidola_pybind);

} // namespace
} // namespace gem5
