// gem5 adapter: the in-switch multicast and reduction of NVLink SHARP (NVLS), as the built-in
// engine's switch does it (core/net_engine.cc, arrive_at_switch).
//
// An eidolon's multicast op (peer -2) is a request to its own window of this engine. A write
// (multimem.st, or a multicast signal) is copied to every GPU of the group at the same offset;
// a read (multimem.ld_reduce) reads that offset from every GPU, and the reduced data goes back
// to the requester. The original request is answered once every copy or part has been
// answered. Copies and parts go out through the switch's crossbar, so they pay its links as
// any other packet does; what the reduction computes is not modelled (no data is kept).
//
// One port pair per GPU of the group: a crossbar serializes the packets of one port (a cycle
// of its layer each), so a single port would carry every copy and answer of the whole group
// through one layer, a bottleneck the switch does not have (its multicast datapath is per
// port, and the built-in engine's switch has no such limit).
#pragma once

#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "base/statistics.hh"
#include "mem/qport.hh"
#include "params/EidolaMulticast.hh"
#include "sim/clocked_object.hh"

namespace gem5
{
namespace eidola
{

class EidolaMulticast : public ClockedObject
{
  public:
    PARAMS(EidolaMulticast);
    explicit EidolaMulticast(const Params &p);
    Port &getPort(const std::string &name, PortID idx = InvalidPortID) override;
    void init() override;
    // Drained when no multicast is half done (its requester waits for it, so this only
    // confirms what the eidolons' drain already implies).
    DrainState drain() override { return pending.empty() ? DrainState::Drained : DrainState::Draining; }

  private:
    // Multicast requests from group member `index`, in its window; their answers go back here.
    class CpuSidePort : public QueuedResponsePort
    {
      public:
        CpuSidePort(const std::string &name, EidolaMulticast &mc, unsigned index)
            : QueuedResponsePort(name, queue), mc(mc), index(index), queue(mc, *this) {}
        EidolaMulticast &mc;
        const unsigned index;
        RespPacketQueue queue;

      protected:
        bool recvTimingReq(PacketPtr pkt) override { return mc.fanOut(pkt, index); }
        Tick recvAtomic(PacketPtr) override { panic("EidolaMulticast: timing mode only"); }
        void recvFunctional(PacketPtr) override {}
        AddrRangeList getAddrRanges() const override { return {mc.windows[index]}; }
    };

    // Copies and parts to group member `index`.
    class MemSidePort : public RequestPort
    {
      public:
        MemSidePort(const std::string &name, EidolaMulticast &mc, unsigned index)
            : RequestPort(name), mc(mc), index(index) {}
        void send();
        std::deque<PacketPtr> waiting;
        bool blocked = false;

      protected:
        bool recvTimingResp(PacketPtr pkt) override { return mc.partAnswered(pkt); }
        void recvReqRetry() override
        {
            blocked = false;
            send();
        }

      private:
        EidolaMulticast &mc;
        const unsigned index;
    };

    struct Pending
    {
        PacketPtr request;   // the eidolon's multicast request
        unsigned from;       // the member port it came in on
        unsigned waiting;    // copies or parts not yet answered
    };

    bool fanOut(PacketPtr pkt, unsigned from);
    bool partAnswered(PacketPtr pkt);

    struct MulticastStats : public statistics::Group
    {
        explicit MulticastStats(EidolaMulticast &mc);
        statistics::Scalar writes;
        statistics::Scalar reads;
        statistics::Scalar copies;
    };

    const std::vector<AddrRange> windows;  // per member: its multicast window
    const std::vector<Addr> members;       // per member: its memory region base
    const RequestorID requestorId;
    std::vector<std::unique_ptr<CpuSidePort>> cpuSide;
    std::vector<std::unique_ptr<MemSidePort>> memSide;
    std::unordered_map<uint64_t, Pending> pending;
    uint64_t nextId = 0;
    MulticastStats stats;
};

} // namespace eidola
} // namespace gem5
