#include "gem5/garnet/eidola_garnet_bridge.hh"


#include "base/cast.hh"
#include "mem/ruby/network/Network.hh"
#include "mem/ruby/protocol/MachineType.hh"
#include "mem/ruby/slicc_interface/AbstractController.hh"

namespace gem5
{
namespace eidola
{

namespace
{
// Which GPU a request that arrived over the network came from: its response goes back there.
struct FromPeer : public Packet::SenderState
{
    explicit FromPeer(uint32_t src) : src(src) {}
    uint32_t src;
};
} // namespace

void
EidolaNetMsg::print(std::ostream &out) const
{
    out << "[EidolaNetMsg from GPU " << src << " seq " << seq << " piece " << piece + 1 << "/"
        << pieces << " " << (pkt->isResponse() ? "response" : "request") << " "
        << pkt->getSize() << " B]";
}

EidolaGarnetBridge::EidolaGarnetBridge(const Params &p)
    : ClockedObject(p), ruby::Consumer(this), cpuSide(name() + ".cpu_side_port", *this),
      memSide(name() + ".mem_side_port", *this), gpu(p.gpu_id), regionBase(p.region_base),
      regionSize(p.region_size), numGpus(p.num_gpus), dataBytes(p.data_message_bytes),
      controlBytes(p.control_message_bytes), remoteRanges(p.remote_ranges.begin(), p.remote_ranges.end()),
      nodeType(p.nodes.at(0)->getType()), sendPort(p.send_port), addressNode(p.address_node),
      toNet(p.to_net), fromNet(p.from_net), nextSeqTo(p.num_gpus, 0), expectedFrom(p.num_gpus, 0),
      held(p.num_gpus), peerLatency(p.peer_latency.begin(), p.peer_latency.end()),
      releaseEvent([this] { release(); }, name() + ".release"), stats(*this)
{
    const size_t nodes = p.nodes.size();
    fatal_if(toNet.size() != 2 * nodes || fromNet.size() != 2 * nodes,
             "%s: needs two buffers each way (requests, responses) per node", name());
    fatal_if(sendPort.size() != numGpus || addressNode.size() != numGpus || peerLatency.size() != numGpus,
             "%s: send_port, address_node and peer_latency need one entry per GPU", name());
    for (uint32_t port : sendPort)
        fatal_if(port >= nodes, "%s: send_port %u names no node", name(), port);
    fatal_if(dataBytes == 0 || controlBytes == 0, "%s: message sizes must be positive", name());
    // Take over the nodes' network queues (the Network constructor has just let each node's
    // controller register its own; registering again replaces them). Garnet has already typed
    // the vnets from the controllers' names; the config gives data and control VCs one depth.
    for (size_t i = 0; i < nodes; ++i) {
        fatal_if(p.nodes[i]->getType() != nodeType, "%s: nodes of different machine types", name());
        const ruby::NodeID id = ruby::MachineType_base_number(nodeType) + p.nodes[i]->getVersion();
        for (int vnet : {RequestNet, ResponseNet}) {
            p.network->setToNetQueue(id, false, vnet, "response", toNet[2 * i + vnet]);
            p.network->setFromNetQueue(id, false, vnet, "response", fromNet[2 * i + vnet]);
            fromNet[2 * i + vnet]->setConsumer(this);
        }
    }
}

void
EidolaGarnetBridge::init()
{
    ClockedObject::init();
    fatal_if(!cpuSide.isConnected() || !memSide.isConnected(), "%s: both ports must be connected", name());
    cpuSide.sendRangeChange();
}

Port &
EidolaGarnetBridge::getPort(const std::string &name, PortID idx)
{
    if (name == "cpu_side_port")
        return cpuSide;
    if (name == "mem_side_port")
        return memSide;
    return ClockedObject::getPort(name, idx);
}

uint32_t
EidolaGarnetBridge::owner(Addr addr) const
{
    const uint64_t g = (addr - regionBase) / regionSize;
    panic_if(addr < regionBase || g >= numGpus, "%s: address %#x is in no GPU's region", name(), addr);
    return static_cast<uint32_t>(g);
}

uint32_t
EidolaGarnetBridge::inject(PacketPtr pkt, uint32_t dst, VNet vnet, uint64_t firstSeq)
{
    // A packet with payload beyond one flit travels as data messages of dataBytes (Ruby has
    // two message sizes, so a shorter last piece is padded to a whole message); up to one
    // flit of payload (flags, acknowledgements, read requests) as one control message.
    const uint64_t payload = pkt->hasData() ? pkt->getSize() : 0;
    const uint64_t dataPieces = payload > controlBytes ? (payload + dataBytes - 1) / dataBytes : 0;
    const uint64_t controlPieces = dataPieces ? 0 : 1;
    const auto pieces = static_cast<uint32_t>(dataPieces + controlPieces);
    ruby::NetDest dest;
    dest.add(ruby::MachineID{nodeType, addressNode[dst]});
    ruby::MessageBuffer *out = toNet[2 * sendPort[dst] + vnet];
    // A crossbar in front leaves its forwarding latency in headerDelay for the next component
    // to pay (as EidolaLink does); entering the queue takes one network cycle, and the
    // message is ready on a clock edge, where Garnet's interfaces look.
    const Tick delay = clockEdge(Cycles(1) + ticksToCycles(pkt->headerDelay)) - curTick();
    pkt->headerDelay = pkt->payloadDelay = 0;
    for (uint32_t i = 0; i < pieces; ++i) {
        const auto size = i < dataPieces ? ruby::MessageSizeType_Data : ruby::MessageSizeType_Control;
        out->enqueue(std::make_shared<EidolaNetMsg>(curTick(), dest, size, pkt, gpu, firstSeq + i,
                                                            i, pieces), curTick(), delay);
    }
    stats.dataMessages += dataPieces;
    stats.controlMessages += controlPieces;
    stats.paddingBytes += dataPieces ? dataPieces * dataBytes - payload : controlBytes - payload;
    return pieces;
}

bool
EidolaGarnetBridge::fromGpu(PacketPtr pkt)
{
    const uint32_t dst = owner(pkt->getAddr());
    panic_if(dst == gpu, "%s: a request for this GPU's own region reached the network", name());
    nextSeqTo[dst] += inject(pkt, dst, RequestNet, nextSeqTo[dst]);
    ++stats.requestsSent;
    return true;  // the network's input queue is unbounded: its VCs and credits push back
}

bool
EidolaGarnetBridge::fromLocal(PacketPtr pkt)
{
    auto *from = safe_cast<FromPeer *>(pkt->popSenderState());
    const uint32_t src = from->src;
    delete from;
    inject(pkt, src, ResponseNet, 0);
    ++stats.responsesSent;
    return true;
}

void
EidolaGarnetBridge::wakeup()
{
    for (size_t b = 0; b < fromNet.size(); ++b) {
        ruby::MessageBuffer *buf = fromNet[b];
        while (buf->isReady(curTick())) {
            // copy the message's fields out before dequeue drops the buffer's reference
            const EidolaNetMsg msg = *safe_cast<const EidolaNetMsg *>(buf->peek());
            buf->dequeue(curTick());
            arrived(msg, static_cast<VNet>(b % 2));
        }
    }
}

void
EidolaGarnetBridge::release()
{
    while (!landing.empty() && landing.begin()->first <= curTick()) {
        const Arrival a = landing.begin()->second;
        landing.erase(landing.begin());
        (a.response ? toGpu : toLocal).push_back(a.pkt);
    }
    if (!landing.empty())
        schedule(releaseEvent, landing.begin()->first);
    if (!localBlocked)
        sendToLocal();
    if (!gpuBlocked)
        sendToGpu();
}

void
EidolaGarnetBridge::arrived(const EidolaNetMsg &msg, VNet vnet)
{
    const bool last = msg.piece + 1 == msg.pieces;
    if (vnet == ResponseNet) {
        if (msg.pieces > 1) {
            auto it = responsePieces.try_emplace(msg.pkt, msg.pieces).first;
            if (--it->second > 0)
                return;
            responsePieces.erase(it);
        }
        land(msg.pkt, msg.src, true);
        return;
    }
    // requests: deliver in the order their source sent them
    auto &early = held[msg.src];
    uint64_t &expected = expectedFrom[msg.src];
    if (msg.seq != expected)
        ++stats.heldOutOfOrder;
    early.emplace(msg.seq, last ? msg.pkt : nullptr);
    while (!early.empty() && early.begin()->first == expected) {
        PacketPtr pkt = early.begin()->second;
        early.erase(early.begin());
        ++expected;
        if (pkt) {
            pkt->pushSenderState(new FromPeer(msg.src));
            land(pkt, msg.src, false);
        }
    }
}

void
EidolaGarnetBridge::land(PacketPtr pkt, uint32_t src, bool response)
{
    // one source's arrivals keep their order: the same delay, and equal times stay in
    // insertion order in the multimap
    const Tick when = curTick() + peerLatency[src];
    landing.emplace(when, Arrival{pkt, response});
    if (!releaseEvent.scheduled() || releaseEvent.when() > when)
        reschedule(releaseEvent, when, true);
}

void
EidolaGarnetBridge::sendToLocal()
{
    localBlocked = false;
    while (!toLocal.empty()) {
        if (!memSide.sendTimingReq(toLocal.front())) {
            localBlocked = true;
            return;
        }
        toLocal.pop_front();
    }
}

void
EidolaGarnetBridge::sendToGpu()
{
    gpuBlocked = false;
    while (!toGpu.empty()) {
        if (!cpuSide.sendTimingResp(toGpu.front())) {
            gpuBlocked = true;
            return;
        }
        toGpu.pop_front();
    }
}

EidolaGarnetBridge::BridgeStats::BridgeStats(EidolaGarnetBridge &b)
    : statistics::Group(&b),
      ADD_STAT(requestsSent, statistics::units::Count::get(), "requests this GPU sent to peers"),
      ADD_STAT(responsesSent, statistics::units::Count::get(), "responses this GPU's memory sent to peers"),
      ADD_STAT(dataMessages, statistics::units::Count::get(), "Ruby data messages injected"),
      ADD_STAT(controlMessages, statistics::units::Count::get(), "Ruby control messages injected"),
      ADD_STAT(paddingBytes, statistics::units::Byte::get(),
               "message bytes beyond the payload (a short packet is sent as a whole message)"),
      ADD_STAT(heldOutOfOrder, statistics::units::Count::get(),
               "request pieces that arrived before an earlier one of the same source and waited")
{
}

} // namespace eidola
} // namespace gem5
