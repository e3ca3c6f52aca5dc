#include "gem5/eidola_link.hh"

#include "gem5/checkpoint.hh"

namespace gem5
{
namespace eidola
{

EidolaLink::EidolaLink(const Params &p)
    : ClockedObject(p), cpuSide(name() + ".cpu_side_port", *this),
      memSide(name() + ".mem_side_port", *this), ranges(p.ranges.begin(), p.ranges.end()),
      forward(*p.wire), backward(*p.reverse_wire),
      bufferBytes(p.buffer_bytes), creditEvent([this] { creditsBack(); }, name() + ".credits"),
      stats(*this)
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
EidolaLink::arrival(EidolaWire &wire, PacketPtr pkt, bool payload)
{
    // A crossbar in front forwards a request at once and leaves its forwarding latency in
    // headerDelay for the next component to pay: the link starts no earlier than that.
    const Tick earliest = curTick() + pkt->headerDelay;
    pkt->headerDelay = pkt->payloadDelay = 0;
    return wire.carry(earliest, payload ? pkt->getSize() : 0);
}

EidolaLink::LinkStats::LinkStats(EidolaLink &link)
    : statistics::Group(&link),
      ADD_STAT(refusedRequests, statistics::units::Count::get(),
               "requests refused because the link buffer was full (each retried later)"),
      ADD_STAT(peakBufferedBytes, statistics::units::Byte::get(),
               "most bytes the link buffer held at once")
{
}

bool
EidolaLink::CpuSidePort::recvTimingReq(PacketPtr pkt)
{
    const uint64_t bytes = bufferedBytes(pkt);
    if (link.bufferBytes && link.buffered > 0 && link.buffered + bytes > link.bufferBytes) {
        link.retryOwed = true;
        ++link.stats.refusedRequests;
        return false;
    }
    link.buffered += bytes;
    if (link.buffered > link.stats.peakBufferedBytes.value())
        link.stats.peakBufferedBytes = link.buffered;
    link.memSide.reqQueue.schedSendTiming(pkt, link.arrival(link.forward, pkt, pkt->hasData()));
    return true;
}

bool
EidolaLink::ForwardQueue::sendTiming(PacketPtr pkt)
{
    const uint64_t bytes = bufferedBytes(pkt);  // read before the receiver may consume pkt
    if (!ReqPacketQueue::sendTiming(pkt))
        return false;
    link.left(bytes);
    return true;
}

void
EidolaLink::left(uint64_t bytes)
{
    if (!bufferBytes || bytes == 0)
        return;
    credits.emplace_back(curTick() + forward.latency(), bytes);
    if (!creditEvent.scheduled())
        schedule(creditEvent, credits.front().first);
}

void
EidolaLink::creditsBack()
{
    while (!credits.empty() && credits.front().first <= curTick()) {
        buffered -= credits.front().second;
        credits.pop_front();
    }
    if (!credits.empty())
        schedule(creditEvent, credits.front().first);
    if (retryOwed) {
        retryOwed = false;
        cpuSide.sendRetryReq();
    }
    if (credits.empty())
        signalDrainDone();  // (does nothing unless draining)
}

void
EidolaWire::serialize(CheckpointOut &cp) const
{
    ::eidola::StateOut out;
    timing.save(out);
    out.u64(carried);
    series.save(out);
    saveCoreState(cp, out);
}

void
EidolaWire::unserialize(CheckpointIn &cp)
{
    loadCoreState(cp, name(), [this](::eidola::StateIn &in) {
        timing.load(in);
        carried = in.u64();
        series.load(in);
    });
}

bool
EidolaLink::MemSidePort::recvTimingResp(PacketPtr pkt)
{
    if (!pkt->hasData()) {
        // An acknowledgement carries no data: it pays the wire's latency without queueing
        // behind the data crossing that direction, as the built-in engine's acknowledgements
        // carry their path latency instead of travelling as packets.
        const Tick at = curTick() + pkt->headerDelay + link.backward.latency();
        pkt->headerDelay = pkt->payloadDelay = 0;
        link.cpuSide.queue.schedSendTiming(pkt, at);
        return true;
    }
    link.cpuSide.queue.schedSendTiming(pkt, link.arrival(link.backward, pkt, true));
    return true;
}

} // namespace eidola
} // namespace gem5
