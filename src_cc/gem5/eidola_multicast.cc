#include "gem5/eidola_multicast.hh"

#include <cstring>

#include "sim/system.hh"

namespace gem5
{
namespace eidola
{

namespace
{
// Which multicast request a copy or part belongs to.
struct PartState : public Packet::SenderState
{
    explicit PartState(uint64_t id) : id(id) {}
    uint64_t id;
};
}  // namespace

EidolaMulticast::EidolaMulticast(const Params &p)
    : ClockedObject(p), windows(p.windows.begin(), p.windows.end()),
      members(p.members.begin(), p.members.end()),
      requestorId(p.system->getRequestorId(this)), stats(*this)
{
    if (windows.size() != members.size())
        fatal("%s: %d windows for %d members", name(), windows.size(), members.size());
    for (unsigned i = 0; i < members.size(); ++i) {
        cpuSide.push_back(std::make_unique<CpuSidePort>(
            csprintf("%s.cpu_side_ports[%d]", name(), i), *this, i));
        cpuSide.back()->queue.disableSanityCheck();  // bounded by the eidolons' windows
        memSide.push_back(std::make_unique<MemSidePort>(
            csprintf("%s.mem_side_ports[%d]", name(), i), *this, i));
    }
}

EidolaMulticast::MulticastStats::MulticastStats(EidolaMulticast &mc)
    : statistics::Group(&mc),
      ADD_STAT(writes, statistics::units::Count::get(), "multicast writes and signals served"),
      ADD_STAT(reads, statistics::units::Count::get(), "multicast reads (reductions) served"),
      ADD_STAT(copies, statistics::units::Count::get(), "copies and parts sent to the group")
{
}

void
EidolaMulticast::init()
{
    ClockedObject::init();
    if (members.empty())
        fatal("%s: a multicast group needs at least one GPU", name());
    for (unsigned i = 0; i < members.size(); ++i) {
        if (!cpuSide[i]->isConnected() || !memSide[i]->isConnected())
            fatal("%s: port pair %d is not connected", name(), i);
        cpuSide[i]->sendRangeChange();
    }
}

Port &
EidolaMulticast::getPort(const std::string &name, PortID idx)
{
    if (name == "cpu_side_ports" && idx >= 0 && idx < (PortID)cpuSide.size())
        return *cpuSide[idx];
    if (name == "mem_side_ports" && idx >= 0 && idx < (PortID)memSide.size())
        return *memSide[idx];
    return ClockedObject::getPort(name, idx);
}

bool
EidolaMulticast::fanOut(PacketPtr pkt, unsigned from)
{
    const bool write = pkt->isWrite();
    const Addr offset = pkt->getAddr() - windows[from].start();
    const uint64_t id = nextId++;
    pending.emplace(id, Pending{pkt, from, static_cast<unsigned>(members.size())});
    (write ? stats.writes : stats.reads) += 1;
    // The crossbar in front left its forwarding latency in headerDelay: the copies start after it.
    const Tick after = pkt->headerDelay;
    pkt->headerDelay = pkt->payloadDelay = 0;
    for (unsigned j = 0; j < members.size(); ++j) {
        RequestPtr r = std::make_shared<gem5::Request>(members[j] + offset, pkt->getSize(), 0,
                                                       requestorId);
        PacketPtr part = new Packet(r, write ? MemCmd::WriteReq : MemCmd::ReadReq);
        part->allocate();
        if (write)
            std::memcpy(part->getPtr<uint8_t>(), pkt->getConstPtr<uint8_t>(), pkt->getSize());
        part->headerDelay = after;
        part->pushSenderState(new PartState(id));
        memSide[j]->waiting.push_back(part);
        memSide[j]->send();
    }
    stats.copies += members.size();
    return true;
}

void
EidolaMulticast::MemSidePort::send()
{
    while (!blocked && !waiting.empty()) {
        if (!sendTimingReq(waiting.front())) {
            blocked = true;  // the crossbar calls recvReqRetry when it has room
            return;
        }
        waiting.pop_front();
    }
}

bool
EidolaMulticast::partAnswered(PacketPtr part)
{
    auto *st = safe_cast<PartState *>(part->popSenderState());
    const uint64_t id = st->id;
    delete st;
    delete part;
    auto it = pending.find(id);
    panic_if(it == pending.end(), "EidolaMulticast: answer to an unknown multicast");
    if (--it->second.waiting > 0)
        return true;
    PacketPtr request = it->second.request;
    const unsigned from = it->second.from;
    pending.erase(it);
    if (pending.empty())
        signalDrainDone();  // (does nothing unless draining)
    // every copy is written / every part read and reduced: answer the requester (a read
    // carries the reduced bytes back; their values are not modelled)
    request->makeResponse();
    cpuSide[from]->schedTimingResp(request, curTick());
    return true;
}

} // namespace eidola
} // namespace gem5
