#include "gem5/eidola_link.hh"

namespace gem5
{
namespace eidola
{

EidolaLink::EidolaLink(const Params &p)
    : ClockedObject(p), cpuSide(name() + ".cpu_side_port", *this),
      memSide(name() + ".mem_side_port", *this), ranges(p.ranges.begin(), p.ranges.end()),
      forward(p.bandwidth_gbps, p.latency_ns), backward(p.bandwidth_gbps, p.latency_ns)
{
    // In-flight packets are bounded by the eidolons' outstanding limits, not by a queue size.
    cpuSide.queue.disableSanityCheck();
    memSide.reqQueue.disableSanityCheck();
}

void
EidolaLink::init()
{
    ClockedObject::init();
    if (!cpuSide.isConnected() || !memSide.isConnected())
        fatal("%s: both ports must be connected", name());
    cpuSide.sendRangeChange();
}

Port &
EidolaLink::getPort(const std::string &name, PortID idx)
{
    if (name == "cpu_side_port")
        return cpuSide;
    if (name == "mem_side_port")
        return memSide;
    return ClockedObject::getPort(name, idx);
}

Tick
EidolaLink::arrival(::eidola::LinkTiming &t, PacketPtr pkt, bool payload)
{
    // A crossbar in front forwards a request at once and leaves its forwarding latency in
    // headerDelay for the next component to pay: the link starts no earlier than that.
    const uint64_t bytes = payload ? pkt->getSize() : 0;
    t.occupy(curTick() + pkt->headerDelay, bytes);
    pkt->headerDelay = pkt->payloadDelay = 0;
    return t.free_at() + t.latency_ps();
}

bool
EidolaLink::CpuSidePort::recvTimingReq(PacketPtr pkt)
{
    // Unbounded FIFO: the eidolons' outstanding-request limits bound what can be in flight.
    link.memSide.reqQueue.schedSendTiming(pkt, link.arrival(link.forward, pkt, pkt->hasData()));
    return true;
}

bool
EidolaLink::MemSidePort::recvTimingResp(PacketPtr pkt)
{
    link.cpuSide.queue.schedSendTiming(pkt, link.arrival(link.backward, pkt, pkt->hasData()));
    return true;
}

} // namespace eidola
} // namespace gem5
