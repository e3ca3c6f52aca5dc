// gem5 adapter: one GPU's doorway into a Garnet network (Ruby), in place of the classic
// EidolaLinks (see docs/gem5.md, "Garnet").
//
// The eidolon, its SyncMon and its memory stay exactly as in the classic system; only the wires
// between GPUs change. Requests for another GPU's region leave the GPU's local crossbar through
// this bridge's cpu-side port and are cut into Ruby messages (a write's data into data messages
// of `data_message_bytes`, the last one padded; anything up to one flit into a one-flit control
// message) that Garnet carries as flits to the destination GPU's bridge. That bridge puts the original packet
// (gem5's Bridge passes packets through the same way) into its GPU's crossbar towards the
// SyncMon and memory, and sends the response back over the network the same way.
//
// Why a bridge and not a protocol: Garnet_standalone's controllers sink every message at a
// directory with no hook for the receiver, so this object registers its own message buffers
// with the network for its GPU's nodes (Network::setToNetQueue / setFromNetQueue, as a SLICC
// controller does in initNetQueues) and consumes what arrives. The GPU's Garnet_standalone
// L1Cache controllers only give the nodes their MachineIDs. A GPU has one node per link
// (eidola/gem5/garnet_plan.py: a network interface injects one flit per cycle), and its
// messages are dealt over them by destination.
//
// Latency: Garnet's links and routers run at one cycle each (gem5's Garnet defaults), and the
// topology's link and switch latencies are paid here, on arrival, as a fixed delay per source
// (`peer_latency`). A Garnet VC carries one packet and is free again only once the packet's tail
// has left the next router and the credit has come back, so a 150 ns link inside Garnet would
// leave it idle most of the time unless it had hundreds of VCs; real links cover their round
// trip with deep buffers that Garnet's VCs cannot express.
//
// Order: Garnet may reorder messages of one source across virtual channels, but a GPU's writes
// reach a peer in order (a flag written after data with signal_nbi must not overtake it), so
// each source stamps its requests with a per-destination sequence number and the receiver
// delivers them in that order. Responses need no order.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "base/statistics.hh"
#include "mem/port.hh"
#include "mem/ruby/common/Consumer.hh"
#include "mem/ruby/common/MachineID.hh"
#include "mem/ruby/common/NetDest.hh"
#include "mem/ruby/network/MessageBuffer.hh"
#include "mem/ruby/slicc_interface/Message.hh"
#include "params/EidolaGarnetBridge.hh"
#include "sim/clocked_object.hh"

namespace gem5
{
namespace eidola
{

// One Ruby message of an eidolon packet: piece `piece` of `pieces`, all carrying the packet.
class EidolaNetMsg : public ruby::Message
{
  public:
    EidolaNetMsg(Tick now, const ruby::NetDest &dest, ruby::MessageSizeType size, PacketPtr pkt,
                 uint32_t src, uint64_t seq, uint32_t piece, uint32_t pieces)
        : ruby::Message(now), dest(dest), size(size), pkt(pkt), src(src), seq(seq), piece(piece),
          pieces(pieces) {}
    ruby::MsgPtr clone() const override { return std::make_shared<EidolaNetMsg>(*this); }
    void print(std::ostream &out) const override;
    const ruby::MessageSizeType &getMessageSize() const override { return size; }
    ruby::MessageSizeType &getMessageSize() override { return size; }
    const ruby::NetDest &getDestination() const override { return dest; }
    ruby::NetDest &getDestination() override { return dest; }
    bool functionalRead(Packet *) override { return false; }
    bool functionalRead(Packet *, ruby::WriteMask &) override { return false; }
    bool functionalWrite(Packet *) override { return false; }

    ruby::NetDest dest;
    ruby::MessageSizeType size;
    PacketPtr pkt;
    uint32_t src;     // sending GPU
    uint64_t seq;     // requests: per (source, destination) order of the pieces
    uint32_t piece;
    uint32_t pieces;
};

class EidolaGarnetBridge : public ClockedObject, public ruby::Consumer
{
  public:
    PARAMS(EidolaGarnetBridge);
    explicit EidolaGarnetBridge(const Params &p);
    Port &getPort(const std::string &name, PortID idx = InvalidPortID) override;
    void init() override;
    void wakeup() override;  // messages arrived from the network
    void print(std::ostream &out) const override { out << name(); }

  private:
    enum VNet : int { RequestNet = 0, ResponseNet = 1 };

    class CpuSidePort : public ResponsePort
    {
      public:
        CpuSidePort(const std::string &name, EidolaGarnetBridge &b) : ResponsePort(name), bridge(b) {}

      protected:
        bool recvTimingReq(PacketPtr pkt) override { return bridge.fromGpu(pkt); }
        void recvRespRetry() override { bridge.sendToGpu(); }
        Tick recvAtomic(PacketPtr) override { panic("EidolaGarnetBridge: timing mode only"); }
        void recvFunctional(PacketPtr) override { panic("EidolaGarnetBridge: no functional access to peers"); }
        AddrRangeList getAddrRanges() const override { return bridge.remoteRanges; }

      private:
        EidolaGarnetBridge &bridge;
    };

    class MemSidePort : public RequestPort
    {
      public:
        MemSidePort(const std::string &name, EidolaGarnetBridge &b) : RequestPort(name), bridge(b) {}

      protected:
        bool recvTimingResp(PacketPtr pkt) override { return bridge.fromLocal(pkt); }
        void recvReqRetry() override { bridge.sendToLocal(); }

      private:
        EidolaGarnetBridge &bridge;
    };

    // The GPU that owns this packet's address.
    uint32_t owner(Addr addr) const;
    // Cut a packet into messages for `dst` on `vnet`; returns how many.
    uint32_t inject(PacketPtr pkt, uint32_t dst, VNet vnet, uint64_t firstSeq);
    bool fromGpu(PacketPtr pkt);     // a request of this GPU for a peer
    bool fromLocal(PacketPtr pkt);   // a response of this GPU's memory for a peer
    void arrived(const EidolaNetMsg &msg, VNet vnet);
    void sendToLocal();              // requests that arrived, in order, into the GPU's crossbar
    void sendToGpu();                // responses that arrived, to the eidolon
    void release();                  // arrivals whose path latency has passed
    void land(PacketPtr pkt, uint32_t src, bool response);  // pay the path latency from src

    struct BridgeStats : public statistics::Group
    {
        explicit BridgeStats(EidolaGarnetBridge &b);
        statistics::Scalar requestsSent;
        statistics::Scalar responsesSent;
        statistics::Scalar dataMessages;
        statistics::Scalar controlMessages;
        statistics::Scalar paddingBytes;     // message bytes beyond the payload
        statistics::Scalar heldOutOfOrder;   // request pieces that waited for an earlier one
    };

    CpuSidePort cpuSide;
    MemSidePort memSide;
    const uint32_t gpu;
    const Addr regionBase;
    const Addr regionSize;
    const uint32_t numGpus;
    const uint64_t dataBytes;      // payload of one data message
    const uint64_t controlBytes;   // payload of one control message (one flit)
    AddrRangeList remoteRanges;
    ruby::MachineType nodeType;
    std::vector<uint32_t> sendPort;      // per destination: index of the node that injects
    std::vector<uint32_t> addressNode;   // per peer: the Ruby version of its node we address
    std::vector<ruby::MessageBuffer *> toNet;    // node i: [2i] requests, [2i + 1] responses
    std::vector<ruby::MessageBuffer *> fromNet;  // same layout

    std::vector<uint64_t> nextSeqTo;     // per destination: the next request sequence number
    std::vector<uint64_t> expectedFrom;  // per source: the next sequence number to deliver
    std::vector<std::map<uint64_t, PacketPtr>> held;  // per source: pieces arrived early (seq -> packet, null if not last)
    std::unordered_map<PacketPtr, uint32_t> responsePieces;  // pieces of a response still to come
    std::vector<Tick> peerLatency;   // per source: path latency paid on arrival
    struct Arrival { PacketPtr pkt; bool response; };
    std::multimap<Tick, Arrival> landing;  // arrivals by the time their path latency has passed
    EventFunctionWrapper releaseEvent;
    std::deque<PacketPtr> toLocal;   // arrived requests waiting for the local crossbar
    std::deque<PacketPtr> toGpu;     // arrived responses waiting for the eidolon
    bool localBlocked = false;       // the crossbar refused: wait for recvReqRetry
    bool gpuBlocked = false;         // the eidolon's crossbar refused: wait for recvRespRetry
    BridgeStats stats;
};

} // namespace eidola
} // namespace gem5
