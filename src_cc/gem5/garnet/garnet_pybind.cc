// _m5.eidola_garnet: what a Garnet run's links carried, for the raw result's channel bytes.
#include <cstdint>
#include <vector>

#include "mem/ruby/network/garnet/NetworkLink.hh"
#include "pybind11/pybind11.h"
#include "pybind11/stl.h"
#include "sim/init.hh"

namespace py = pybind11;

namespace gem5
{
namespace
{

// Flits each link has carried (Garnet counts one per flit that crossed it).
std::vector<uint64_t>
linkFlits(const std::vector<ruby::garnet::NetworkLink *> &links)
{
    std::vector<uint64_t> out;
    out.reserve(links.size());
    for (const auto *link : links)
        out.push_back(link->getLinkUtilization());
    return out;
}

void
garnetPybind(py::module_ &m_internal)
{
    py::module_ m = m_internal.def_submodule("eidola_garnet");
    m.def("link_flits", &linkFlits, "Flits each Garnet NetworkLink has carried");
}

EmbeddedPyBind embed_("eidola_garnet", &garnetPybind);

} // namespace
} // namespace gem5
