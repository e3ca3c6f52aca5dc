#include "gem5/eidola_memory.hh"

#include <stdexcept>

#include "gem5/checkpoint.hh"

namespace gem5
{
namespace eidola
{

namespace
{

::eidola::MemorySpec
specOf(const EidolaMemory::Params &p)
{
    ::eidola::MemorySpec s;
    s.bw_gbps = p.bandwidth_gbps;
    s.latency_ns = p.latency_ns;
    s.channels = p.channels;
    s.interleave_bytes = p.interleave_bytes;
    s.flag_stride_bytes = p.flag_stride_bytes;
    try {
        ::eidola::check_memory_spec(s);
    } catch (const std::invalid_argument &e) {
        fatal("eidola: %s", e.what());
    }
    return s;
}

} // namespace

EidolaMemory::EidolaMemory(const Params &p)
    : SimObject(p), port(name() + ".port", *this), range(p.range), flagOffset(p.flag_offset),
      windowSize(p.window_size), spec(specOf(p)), model(spec),
      latencyTicks(::eidola::ns_to_ps(p.latency_ns)),
      series(p.series ? p.channels : 0, p.max_bins, p.time_bin), stats(this, p.channels)
{
}

Port &
EidolaMemory::getPort(const std::string &name, PortID idx)
{
    if (name == "port")
        return port;
    return SimObject::getPort(name, idx);
}

void
EidolaMemory::init()
{
    if (!port.isConnected())
        fatal("%s: port is not connected", name());
    port.sendRangeChange();
}

uint64_t
EidolaMemory::modelAddr(Addr a) const
{
    const Addr off = a - range.start();
    if (off >= flagOffset && off < flagOffset + windowSize)
        return spec.flag_address(static_cast<int32_t>((off - flagOffset) / 8));
    return off;
}

::eidola::GpuMemory::Access
EidolaMemory::occupy(Addr a, unsigned size)
{
    const ::eidola::GpuMemory::Access acc = model.access(modelAddr(a), size, curTick());
    model.for_each_share([this](uint32_t c, ::eidola::Tick start, ::eidola::Tick end, uint64_t bytes) {
        stats.channelBytes[c] += static_cast<double>(bytes);
        series.add_span(c, start, end, bytes);  // as the built-in engine records its channels
    });
    return acc;
}

bool
EidolaMemory::recvTimingReq(PacketPtr pkt)
{
    const ::eidola::GpuMemory::Access acc = occupy(pkt->getAddr(), pkt->getSize());
    if (!pkt->needsResponse()) {
        delete pkt;
        return true;
    }
    pkt->makeResponse();
    port.schedTimingResp(pkt, acc.done);
    return true;
}

void
EidolaMemory::serialize(CheckpointOut &cp) const
{
    ::eidola::StateOut out;
    model.save(out);
    series.save(out);
    saveCoreState(cp, out);
}

void
EidolaMemory::unserialize(CheckpointIn &cp)
{
    loadCoreState(cp, name(), [this](::eidola::StateIn &in) {
        model.load(in);
        series.load(in);
    });
}

Tick
EidolaMemory::MemPort::recvAtomic(PacketPtr pkt)
{
    (void)pkt;
    return mem.latencyTicks;
}

EidolaMemory::MemStats::MemStats(statistics::Group *parent, unsigned channels)
    : statistics::Group(parent),
      ADD_STAT(channelBytes, statistics::units::Byte::get(), "bytes served per memory channel")
{
    channelBytes.init(channels);
}

} // namespace eidola
} // namespace gem5
