// gem5 adapter: one direction of a link, timed by core/link_timing.hh.
//
// Why not gem5's SerialLink: it charges every response the size of its request, so a write's
// acknowledgement pays the write's serialization again on the way back (+bytes/bandwidth per
// round trip), which made latency-bound phases ~8% slower than the same model in the built-in
// engine. Here only packets that carry data pay serialization: write requests and read
// responses; acknowledgements and read requests pay the latency alone. Requests and responses
// have separate serializers, as the two directions of the wires do: a link's requests use the
// serializer of its own wire direction (an EidolaWire), its responses the serializer of the
// opposite direction, which the opposite link's requests use too, so a wire direction carries
// at its bandwidth whatever data crosses it (the built-in engine's channel). Acknowledgements
// (responses without data) pay the latency only, without queueing behind that data, as the
// built-in engine's acknowledgements carry their path latency instead of travelling as packets.
//
// Bounded buffers (buffer_bytes > 0), as the built-in engine's --buffer: the bytes of the
// requests a link has accepted occupy its buffer from acceptance until they have left it and
// the credit has come back (one link latency later, as a credit-based link returns space).
// A request that does not fit is refused and retried, the way gem5's Bridge and SerialLink
// refuse when their queues are full: recvTimingReq returns false, and sendRetryReq() follows
// once space comes back. A link with nothing buffered always takes a packet, so a packet
// larger than the buffer still passes alone. Responses are not bounded (a response port may
// not refuse without reserving space at request time, which the eidolons' outstanding limits
// already bound).
#pragma once

#include <deque>
#include <utility>

#include "base/statistics.hh"
#include "core/replay/binned_series.hh"
#include "core/replay/link_timing.hh"
#include "mem/qport.hh"
#include "params/EidolaLink.hh"
#include "params/EidolaWire.hh"
#include "sim/clocked_object.hh"

namespace gem5
{
namespace eidola
{

// One direction of a wire: the serializer (bandwidth, latency) every packet crossing it shares,
// and what crossed it: bytes in all and over time (the built-in engine's channel bytes and
// link series, recorded the same way).
class EidolaWire : public SimObject
{
  public:
    PARAMS(EidolaWire);
    explicit EidolaWire(const Params &p)
        : SimObject(p), timing(p.bandwidth_gbps, p.latency_ns),
          series(p.series ? 1 : 0, p.max_bins, p.time_bin) {}
    // Checkpoints: when the serializer frees, the bytes carried and their series.
    void serialize(CheckpointOut &cp) const override;
    void unserialize(CheckpointIn &cp) override;
    // `bytes` start crossing no earlier than `earliest`; returns when they have arrived.
    Tick carry(Tick earliest, uint64_t bytes)
    {
        const Tick start = timing.occupy(earliest, bytes);
        carried += bytes;
        if (bytes)
            series.add_span(0, start, timing.free_at(), bytes);
        return timing.free_at() + timing.latency_ps();
    }
    Tick latency() const { return timing.latency_ps(); }
    uint64_t bytesCarried() const { return carried; }
    const ::eidola::BinnedSeries &bytesOverTime() const { return series; }

  private:
    ::eidola::LinkTiming timing;
    ::eidola::BinnedSeries series;
    uint64_t carried = 0;
};

class EidolaLink : public ClockedObject
{
  public:
    PARAMS(EidolaLink);
    explicit EidolaLink(const Params &p);
    Port &getPort(const std::string &name, PortID idx = InvalidPortID) override;
    void init() override;
    // Drained once the buffer's credits are back (its queues drain themselves): a checkpoint
    // then holds nothing of the link's but its wires' state.
    DrainState drain() override { return credits.empty() ? DrainState::Drained : DrainState::Draining; }

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

    // The request queue: tells the link when a request has left (to free its buffer).
    class ForwardQueue : public ReqPacketQueue
    {
      public:
        ForwardQueue(EidolaLink &link, RequestPort &port) : ReqPacketQueue(link, port), link(link) {}

      protected:
        bool sendTiming(PacketPtr pkt) override;

      private:
        EidolaLink &link;
    };

    class MemSidePort : public QueuedRequestPort
    {
      public:
        MemSidePort(const std::string &name, EidolaLink &link)
            : QueuedRequestPort(name, reqQueue, snoopQueue), link(link), reqQueue(link, *this),
              snoopQueue(link, *this) {}
        ForwardQueue reqQueue;
        SnoopRespPacketQueue snoopQueue;

      protected:
        bool recvTimingResp(PacketPtr pkt) override;

      private:
        EidolaLink &link;
    };

    Tick arrival(EidolaWire &wire, PacketPtr pkt, bool payload);
    static uint64_t bufferedBytes(PacketPtr pkt) { return pkt->hasData() ? pkt->getSize() : 0; }
    // A request left the link: its buffer space comes back one link latency later.
    void left(uint64_t bytes);
    void creditsBack();

    struct LinkStats : public statistics::Group
    {
        explicit LinkStats(EidolaLink &link);
        statistics::Scalar refusedRequests;
        statistics::Scalar peakBufferedBytes;
    };

    CpuSidePort cpuSide;
    MemSidePort memSide;
    AddrRangeList ranges;
    EidolaWire &forward;   // requests (write data): this direction's wire
    EidolaWire &backward;  // responses (read data): the opposite direction's wire
    const uint64_t bufferBytes;    // 0: unbounded
    uint64_t buffered = 0;         // bytes accepted whose credit has not come back
    bool retryOwed = false;        // a request was refused: send a retry when space is back
    std::deque<std::pair<Tick, uint64_t>> credits;  // (when, bytes) returning, in time order
    EventFunctionWrapper creditEvent;
    LinkStats stats;
};

} // namespace eidola
} // namespace gem5
