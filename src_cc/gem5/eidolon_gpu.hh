// gem5 adapter: one GPU stand-in ("eidolon") driving the gem5-free replay core.
//
// The replay rules live in core/replayer.*; this class only turns the core's requests into
// gem5 packets on one RequestPort (refusals and retries the gem5 way), gem5 events for the
// core's resumes, and gem5 statistics. Memory per eidolon is its own GPU's ops (24 bytes each):
// the profile is read through the HDF5 C reader, one GPU's dataset per eidolon.
#pragma once

#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "base/statistics.hh"
#include "core/replay/binned_series.hh"
#include "core/replay/replayer.hh"
#include "gem5/sync_mon.hh"
#include "mem/port.hh"
#include "params/EidolonGPU.hh"
#include "sim/clocked_object.hh"
#include "sim/eventq.hh"

namespace gem5
{
namespace eidola
{

class EidolonGPU : public ClockedObject, public ::eidola::ReplayHost
{
  public:
    PARAMS(EidolonGPU);
    explicit EidolonGPU(const Params &p);

    Port &getPort(const std::string &name, PortID idx = InvalidPortID) override;
    void init() override;
    void startup() override;

    // Checkpoints. Draining stops new requests (the core's streams wait as host-blocked) and
    // waits for every request in flight to be answered; the SyncMon answers held
    // registrations with "dropped" and the streams register again when the run resumes.
    // The core's state, the pending resumes and the poll series go into the checkpoint; a
    // restore rebuilds the program from the same profile and loads that state into it.
    DrainState drain() override;
    void drainResume() override;
    void serialize(CheckpointOut &cp) const override;
    void unserialize(CheckpointIn &cp) override;

    // ReplayHost
    bool send(const ::eidola::Request &req, ::eidola::Tick now) override;
    void schedule_resume(uint32_t gpu, uint32_t stream, ::eidola::Tick when,
                         bool poll_backoff) override;
    ::eidola::Tick flag_satisfied_at(uint32_t gpu, int32_t flag, int64_t threshold) override;
    void gpu_done(uint32_t gpu, ::eidola::Tick now) override;

    // For the Python glue: the core's replayer (its records fill the raw result through
    // _m5.eidola_profile.raw, the filler the built-in engine uses), the polls issued over
    // time, and stuck waits.
    const ::eidola::GpuReplayer &core() const { return *replayer; }
    const ::eidola::BinnedSeries &polls() const { return pollSeries; }
    std::string stuck() const;

  private:
    class GpuPort : public RequestPort
    {
      public:
        GpuPort(const std::string &name, EidolonGPU &gpu) : RequestPort(name), gpu(gpu) {}

      protected:
        bool recvTimingResp(PacketPtr pkt) override { return gpu.recvTimingResp(pkt); }
        void recvReqRetry() override { gpu.retryArrived(); }

      private:
        EidolonGPU &gpu;
    };

    struct ReqState : public Packet::SenderState
    {
        explicit ReqState(const ::eidola::Request &r) : req(r) {}
        ::eidola::Request req;
    };

    bool recvTimingResp(PacketPtr pkt);
    void retryArrived();
    Addr regionOf(uint32_t gpu) const { return memBase + static_cast<Addr>(gpu) * memStride; }
    // A peer's region, or this GPU's switch multicast window for multicast ops (peer -2).
    Addr baseOf(uint32_t peer) const
    {
        return peer == static_cast<uint32_t>(::eidola::kMulticastPeer) ? mcastBase : regionOf(peer);
    }
    Addr addressOf(const ::eidola::Request &req) const;
    void processResumes();
    void checkProgress();
    void announceAllDone();
    bool drained() const { return inFlight == 0 && !waitingForRetry; }

    GpuPort port;
    const unsigned gpuId, numGpus;
    SyncMon *syncMon;
    const RequestorID requestorId;
    const Addr memBase, memStride, dataSize, flagOffset, watchOffset;
    const Addr mcastBase;  // 0: no multicast engine on this GPU's switch
    const Tick watchdog;
    std::unique_ptr<::eidola::GpuReplayer> replayer;
    ::eidola::ReplayConfig config;
    ::eidola::GpuProgram program;
    ::eidola::BinnedSeries pollSeries;  // polls issued per bin (one row; empty without series)

    using Resume = std::pair<Tick, uint32_t>;
    std::priority_queue<Resume, std::vector<Resume>, std::greater<Resume>> resumes;
    EventFunctionWrapper resumeEvent;
    EventFunctionWrapper watchdogEvent;
    EventFunctionWrapper resendEvent;  // after a drain: the streams it held back send again
    bool finished = false;
    bool waitingForRetry = false;  // refused: send nothing until recvReqRetry
    bool resendOwed = false;       // a send was held back by a drain
    bool restored = false;         // state came from a checkpoint: startup() must not start
    uint64_t inFlight = 0;         // requests sent and not yet answered
    uint64_t progressAtLastCheck = 0;

    static unsigned running;    // eidolons not yet done (the simulation ends at 0)
    static bool allDoneAnnounced;
    static std::vector<EidolonGPU *> all;  // every eidolon, for the deadlock test
    static uint64_t progress;   // completions other than polls, over all eidolons

    struct EidolonStats : public statistics::Group
    {
        EidolonStats(statistics::Group *parent, unsigned num_gpus);
        statistics::Vector bytesToPeer;
        statistics::Vector packetsToPeer;
        statistics::Scalar multicastBytes;
        statistics::Histogram writeLatency;
        statistics::Scalar pollingReads;
        statistics::Scalar notifications;
        statistics::Scalar stallTicks;
        statistics::Scalar wakeupLatencyMean;
        statistics::Scalar wakeupLatencyMax;
        statistics::Scalar waits;
        statistics::Scalar finishTick;
    } stats;
};

} // namespace eidola
} // namespace gem5
