// gem5 adapter: a SyncMon in front of one GPU's memory (in the manner of CommMonitor).
//
// It owns the GPU's flags (core/flag_memory.hh: values, update history, watch table).
// - A write to the flag window is an atomic add of its 8-byte payload, applied when the
//   memory has performed the write (its response passes through here).
// - A read of the flag window (a poll) returns the flag's value at the time memory served it.
// - A write to the watch window registers "wake me when this flag >= payload": its response is
//   held here and sent `latency` after the update that satisfies it (the notification).
// Everything else passes through untouched, retries included.
#pragma once

#include <unordered_map>
#include <vector>

#include "base/statistics.hh"
#include "core/flag_memory.hh"
#include "mem/port.hh"
#include "mem/qport.hh"
#include "params/EidolaSyncMon.hh"
#include "sim/sim_object.hh"

namespace gem5
{
namespace eidola
{

class SyncMon : public SimObject
{
  public:
    PARAMS(EidolaSyncMon);
    explicit SyncMon(const Params &p);

    Port &getPort(const std::string &name, PortID idx = InvalidPortID) override;
    void init() override;

    ::eidola::FlagMemory &flags() { return flagMem; }
    double flagValue(int flag) const { return static_cast<double>(flagMem.value(flag)); }
    bool inFlagWindow(Addr a) const { return a >= flagBase && a < flagBase + windowSize; }
    bool inWatchWindow(Addr a) const { return a >= watchBase && a < watchBase + windowSize; }

  private:
    class CpuSidePort : public QueuedResponsePort
    {
      public:
        CpuSidePort(const std::string &name, SyncMon &mon)
            : QueuedResponsePort(name, respQueue), mon(mon), respQueue(mon, *this) {}
        RespPacketQueue &queue() { return respQueue; }

      protected:
        bool recvTimingReq(PacketPtr pkt) override { return mon.recvTimingReq(pkt); }
        Tick recvAtomic(PacketPtr pkt) override;
        void recvFunctional(PacketPtr pkt) override;
        AddrRangeList getAddrRanges() const override;

      private:
        SyncMon &mon;
        RespPacketQueue respQueue;
    };

    class MemSidePort : public RequestPort
    {
      public:
        MemSidePort(const std::string &name, SyncMon &mon) : RequestPort(name), mon(mon) {}

      protected:
        bool recvTimingResp(PacketPtr pkt) override { return mon.recvTimingResp(pkt); }
        void recvReqRetry() override { mon.cpuSide.sendRetryReq(); }
        void recvRangeChange() override { mon.cpuSide.sendRangeChange(); }

      private:
        SyncMon &mon;
    };

    struct Watch
    {
        PacketPtr pkt;
        int64_t threshold;
        Tick registered;
    };

    bool recvTimingReq(PacketPtr pkt);
    bool recvTimingResp(PacketPtr pkt);
    int32_t flagOf(Addr a, Addr base) const { return static_cast<int32_t>((a - base) / 8); }
    void notify(const Watch &w, Tick satisfied);

    CpuSidePort cpuSide;
    MemSidePort memSide;
    const unsigned gpuId;
    const Addr flagBase, watchBase, windowSize;
    const Tick latency;
    ::eidola::FlagMemory flagMem;
    std::unordered_map<int32_t, std::vector<Watch>> watches;
    std::unordered_map<const Packet *, int64_t> signalsInFlight;  // flag writes -> increment

    struct SyncMonStats : public statistics::Group
    {
        SyncMonStats(statistics::Group *parent);
        statistics::Scalar registrations;
        statistics::Scalar notifications;
        statistics::Scalar flagUpdates;
        statistics::Scalar pollsSeen;
        statistics::Histogram wakeupLatency;
    } stats;
};

} // namespace eidola
} // namespace gem5
