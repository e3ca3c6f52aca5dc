// _m5.eidola_profile: the profile header as gem5's Python sees it, read with the HDF5 C
// library (an h5py wheel cannot be imported inside a gem5 that links HDF5).
#include <cmath>

#include "core/profile_h5.hh"
#include "pybind11/pybind11.h"
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
        unsigned long long ops = 0, written = 0;
        for (uint32_t g = 0; g < f.header().num_gpus; ++g)
            for (const auto &op : f.read_gpu(g)) {
                ++ops;
                if (op.kind == static_cast<uint8_t>(::eidola::OpKind::Write))
                    written += op.bytes;
            }
        py::dict d;
        d["num_ops"] = ops;
        d["bytes_written"] = written;
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

void
eidola_pybind(py::module_ &m_internal)
{
    py::module_ m = m_internal.def_submodule("eidola_profile");
    m.def("header", &header, "Root attributes of a profile (HDF5 C reader)");
    m.def("summary", &summary, "Op count and payload bytes of a profile (HDF5 C reader)");
    m.def("time_origin", &time_origin, "Earliest recorded start of an iteration (ns)");
}

EmbeddedPyBind embed_("eidola_profile", &eidola_pybind);

} // namespace
} // namespace gem5
