// gem5 adapter: one direction of a link, timed by core/link_timing.hh.
//
// Why not gem5's SerialLink: it charges every response the size of its request, so a write's
// acknowledgement pays the write's serialization again on the way back (+bytes/bandwidth per
// round trip), which made latency-bound phases ~8% slower than the same model in the built-in
// engine. Here only packets that carry data pay serialization: write requests and read
// responses; acknowledgements and read requests pay the latency alone. Requests and responses
// have separate serializers, as the two directions of the wires do.
#pragma once

#include "core/link_timing.hh"
#include "mem/qport.hh"
#include "params/EidolaLink.hh"
#include "sim/clocked_object.hh"

namespace gem5
{
namespace eidola
{

class EidolaLink : public ClockedObject
{
  public:
    PARAMS(EidolaLink);
    explicit EidolaLink(const Params &p);
    Port &getPort(const std::string &name, PortID idx = InvalidPortID) override;
    void init() override;

  private:
    class CpuSidePort : public QueuedResponsePort
    {
      public:
        CpuSidePort(const std::string &name, EidolaLink &link)
            : QueuedResponsePort(name, queue), link(link), queue(link, *this) {}
        RespPacketQueue queue;  // declared after use in the base: constructed before it is used

      protected:
        bool recvTimingReq(PacketPtr pkt) override;
        Tick recvAtomic(PacketPtr pkt) override { return link.memSide.sendAtomic(pkt); }
        void recvFunctional(PacketPtr pkt) override { link.memSide.sendFunctional(pkt); }
        AddrRangeList getAddrRanges() const override { return link.ranges; }

      private:
        EidolaLink &link;
    };

    class MemSidePort : public QueuedRequestPort
    {
      public:
        MemSidePort(const std::string &name, EidolaLink &link)
            : QueuedRequestPort(name, reqQueue, snoopQueue), link(link), reqQueue(link, *this),
              snoopQueue(link, *this) {}
        ReqPacketQueue reqQueue;
        SnoopRespPacketQueue snoopQueue;

      protected:
        bool recvTimingResp(PacketPtr pkt) override;

      private:
        EidolaLink &link;
    };

    Tick arrival(::eidola::LinkTiming &t, PacketPtr pkt, bool payload);

    CpuSidePort cpuSide;
    MemSidePort memSide;
    AddrRangeList ranges;
    ::eidola::LinkTiming forward;  // requests: write data
    ::eidola::LinkTiming backward; // responses: read data
};

} // namespace eidola
} // namespace gem5
