// gem5 adapter: a SyncMon in front of one GPU's memory (in the manner of CommMonitor).
//
// It owns the GPU's flags (core/flag_memory.hh: values, update history, watch table).
// - A write to the flag window is an atomic add of its 8-byte payload, applied when the
//   memory has performed the write (its response passes through here).
// - A read of the flag window (a poll) returns the flag's value at the time memory served it.
// - A write to the watch window (16 bytes: threshold, then the waiter's key gpu << 32 | stream)
//   registers "wake me when this flag >= threshold" in the core's watch table (capacity
//   `entries`, 0 = unlimited; wake on value match or on any change). The SyncMon checks the
//   flag with one access to its memory channel (a sideband call on the EidolaMemory behind it:
//   it sits beside memory). The response is the reply, `latency` after the decision: at once
//   when satisfied or refused (table full: payload kWatchRefused), else when an update wakes
//   the entry (payload: the flag's value).
// Everything else passes through untouched, retries included.
#pragma once

#include <unordered_map>
#include <vector>

#include "base/statistics.hh"
#include "core/replay/flag_memory.hh"
#include "gem5/eidola_memory.hh"
#include "mem/port.hh"
#include "mem/qport.hh"
#include "params/EidolaSyncMon.hh"
#include "sim/sim_object.hh"

namespace gem5
{
namespace eidola
{

// Payload of a watch response whose registration the full table refused.
constexpr int64_t kWatchRefused = INT64_MIN;
// Payload of a watch response whose registration was dropped, not woken: the SyncMon empties
// its table when it drains for a checkpoint (a held response cannot be saved, the crossbars'
// routes back to the waiter are not in gem5's checkpoints). The waiter registers again.
constexpr int64_t kWatchDropped = INT64_MIN + 1;

class SyncMon : public SimObject
{
  public:
    PARAMS(EidolaSyncMon);
    explicit SyncMon(const Params &p);

    Port &getPort(const std::string &name, PortID idx = InvalidPortID) override;
    void init() override;

    // Checkpoints: drained once every held registration is answered "dropped" and every flag
    // write in flight has reached memory; the flags (values, history, table counters) are saved.
    DrainState drain() override;
    void serialize(CheckpointOut &cp) const override;
    void unserialize(CheckpointIn &cp) override;

    ::eidola::FlagMemory &flags() { return flagMem; }
    const ::eidola::FlagMemory &flags() const { return flagMem; }
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

    bool recvTimingReq(PacketPtr pkt);
    bool recvTimingResp(PacketPtr pkt);
    int32_t flagOf(Addr a, Addr base) const { return static_cast<int32_t>((a - base) / 8); }
    void reply(PacketPtr pkt, Tick when, int64_t payload);
    void dropHeld();
    bool drained() const { return held.empty() && signalsInFlight.empty(); }

    CpuSidePort cpuSide;
    MemSidePort memSide;
    const unsigned gpuId;
    const Addr flagBase, watchBase, windowSize;
    const Tick latency;
    EidolaMemory *memory;
    const unsigned checkBytes;
    ::eidola::FlagMemory flagMem;
    std::unordered_map<uint64_t, PacketPtr> held;  // registered waiter key -> its watch packet
    std::unordered_map<const Packet *, int64_t> signalsInFlight;  // flag writes -> increment

    struct SyncMonStats : public statistics::Group
    {
        SyncMonStats(statistics::Group *parent);
        statistics::Scalar registrations;
        statistics::Scalar overflows;
        statistics::Scalar peakEntries;
        statistics::Scalar notifications;
        statistics::Scalar flagUpdates;
        statistics::Scalar pollsSeen;
        statistics::Scalar dropped;
        statistics::Histogram wakeupLatency;
    } stats;
};

} // namespace eidola
} // namespace gem5
