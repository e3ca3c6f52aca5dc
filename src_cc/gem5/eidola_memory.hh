// gem5 adapter: one GPU's memory as address-interleaved channels (core/gpu_memory.hh), the
// same timing the built-in engine charges. Why not SimpleMemory: it has one channel, and its
// bandwidth is an integer number of ticks per byte, so anything above 1 TB/s (1 byte/ps)
// rounds to unlimited. Data is not stored (flag values live in the SyncMon in front).
//
// Requests are never refused: like the built-in engine's memory, a channel is a FIFO with an
// unbounded queue, and each response leaves when its last channel has served it plus the
// access latency.
#pragma once

#include <vector>

#include "base/statistics.hh"
#include "core/replay/binned_series.hh"
#include "core/replay/gpu_memory.hh"
#include "mem/port.hh"
#include "mem/qport.hh"
#include "params/EidolaMemory.hh"
#include "sim/sim_object.hh"

namespace gem5
{
namespace eidola
{

class EidolaMemory : public SimObject
{
  public:
    PARAMS(EidolaMemory);
    explicit EidolaMemory(const Params &p);

    Port &getPort(const std::string &name, PortID idx = InvalidPortID) override;
    void init() override;
    // Checkpoints: each channel's busy time and bytes, and their series (responses waiting
    // to leave drain with the port's queue).
    void serialize(CheckpointOut &cp) const override;
    void unserialize(CheckpointIn &cp) override;

    // Serve `size` bytes at absolute address `a` from now on; for the SyncMon's checks too.
    ::eidola::GpuMemory::Access occupy(Addr a, unsigned size);
    Tick accessLatency() const { return latencyTicks; }
    const ::eidola::GpuMemory &timing() const { return model; }
    // Bytes each channel served over time (a row per channel; empty without series).
    const ::eidola::BinnedSeries &bytesOverTime() const { return series; }

  private:
    class MemPort : public QueuedResponsePort
    {
      public:
        MemPort(const std::string &name, EidolaMemory &mem)
            : QueuedResponsePort(name, queue), mem(mem), queue(mem, *this)
        {
            queue.disableSanityCheck();  // many responses can wait for their time
        }

      protected:
        bool recvTimingReq(PacketPtr pkt) override { return mem.recvTimingReq(pkt); }
        Tick recvAtomic(PacketPtr pkt) override;
        void recvFunctional(PacketPtr) override {}
        AddrRangeList getAddrRanges() const override { return {mem.range}; }

      private:
        EidolaMemory &mem;
        RespPacketQueue queue;
    };

    bool recvTimingReq(PacketPtr pkt);
    // The address the channel model sees: data offsets as they are, flag f at the model's
    // flag window (core MemorySpec::flag_address), whatever gem5's 8-byte flag slots are.
    uint64_t modelAddr(Addr a) const;

    MemPort port;
    const AddrRange range;
    const Addr flagOffset, windowSize;
    ::eidola::MemorySpec spec;
    ::eidola::GpuMemory model;
    Tick latencyTicks;
    ::eidola::BinnedSeries series;

    struct MemStats : public statistics::Group
    {
        MemStats(statistics::Group *parent, unsigned channels);
        statistics::Vector channelBytes;
    } stats;
};

} // namespace eidola
} // namespace gem5
