#include "gem5/eidolon_gpu.hh"

#include <cstring>
#include <sstream>
#include <stdexcept>

#include "base/trace.hh"
#include "gem5/checkpoint.hh"
#include "core/io/profile_h5.hh"
#include "debug/Eidolon.hh"
#include "sim/sim_exit.hh"
#include "sim/system.hh"

namespace gem5
{
namespace eidola
{

unsigned EidolonGPU::running = 0;
std::vector<EidolonGPU *> EidolonGPU::all;
uint64_t EidolonGPU::progress = 0;
bool EidolonGPU::allDoneAnnounced = false;

namespace
{

::eidola::GpuProgram
loadProgram(const EidolonGPU::Params &p)
{
    ::eidola::ProgramOptions opts;
    opts.compute_scale = p.compute_scale;
    opts.seed = p.seed;
    opts.num_iterations = p.num_iterations;
    opts.compute_cv = p.compute_cv;
    opts.straggler_prob = p.straggler_prob;
    opts.straggler_slowdown = p.straggler_slowdown;
    opts.time_origin_ns = p.time_origin_ns;
    opts.keep_start_times = p.replay_mode == EidolaReplayMode::timed;
    if (p.gpu_id >= p.profile_gpus) {  // an idle GPU of the topology
        ::eidola::GpuProgram idle;
        idle.gpu = p.gpu_id;
        return idle;
    }
    try {
        ::eidola::ProfileFile file(p.profile);
        std::vector<::eidola::ProfileOp> ops = file.read_gpu(p.gpu_id);
        return ::eidola::GpuProgram::build(p.gpu_id, p.num_gpus, ops.data(), ops.size(), opts);
    } catch (const std::exception &e) {
        fatal("eidola: %s", e.what());
    }
}

} // namespace

EidolonGPU::EidolonGPU(const Params &p)
    : ClockedObject(p), port(name() + ".port", *this), gpuId(p.gpu_id), numGpus(p.num_gpus),
      syncMon(p.syncmon), requestorId(p.system->getRequestorId(this)), memBase(p.mem_base),
      memStride(p.mem_stride), dataSize(p.data_size), flagOffset(p.flag_offset),
      watchOffset(p.watch_offset), mcastBase(p.mcast_base), watchdog(p.watchdog), program(loadProgram(p)),
      pollSeries(p.series ? 1 : 0, p.max_bins, p.time_bin),
      resumeEvent([this] { processResumes(); }, name() + ".resume"),
      watchdogEvent([this] { checkProgress(); }, name() + ".watchdog"),
      resendEvent([this] { replayer->retry(curTick()); }, name() + ".resend"),
      stats(this, p.num_gpus)
{
    config.sync = p.sync_mode == EidolaSyncMode::syncmon ? ::eidola::SyncMode::SyncMon
                                           : ::eidola::SyncMode::Polling;
    config.mode = p.replay_mode == EidolaReplayMode::timed ? ::eidola::ReplayMode::Timed
                                           : ::eidola::ReplayMode::Dependent;
    config.poll_interval_ps = p.poll_interval;
    config.packet_bytes = p.packet_size;
    config.max_outstanding = p.max_outstanding;
    config.max_outstanding_bytes = p.max_outstanding_bytes;
    config.poll_bytes = p.poll_bytes;
    config.syncmon_wake = p.syncmon_wake == EidolaWakeOn::change ? ::eidola::WakeOn::Change
                                                                 : ::eidola::WakeOn::Match;
    config.poll_backoff_max_ps = p.poll_backoff_max;
    config.trace = p.trace;
    if (mcastBase == 0)
        for (const auto &op : program.ops)
            if (op.peer == ::eidola::kMulticastPeer)
                fatal("eidola: gpu %d uses multicast (NVLS) ops but is not attached to a "
                      "switch with a multicast engine", gpuId);
    ++running;
    all.push_back(this);
}

Port &
EidolonGPU::getPort(const std::string &name, PortID idx)
{
    if (name == "port")
        return port;
    return ClockedObject::getPort(name, idx);
}

void
EidolonGPU::init()
{
    ClockedObject::init();
    if (!port.isConnected())
        fatal("%s: port is not connected", name());
    replayer = std::make_unique<::eidola::GpuReplayer>(std::move(program), numGpus, config, *this);
}

void
EidolonGPU::startup()
{
    if (restored)
        return;  // mid-run: drainResume() schedules what the checkpoint left pending
    replayer->start(curTick());
    if (!finished)
        schedule(watchdogEvent, curTick() + watchdog);
}

Addr
EidolonGPU::addressOf(const ::eidola::Request &req) const
{
    using K = ::eidola::ReqKind;
    switch (req.kind) {
      case K::Write:
      case K::Read: {
        Addr off = req.addr % dataSize;
        if (off + req.bytes > dataSize)
            off = 0;
        return baseOf(req.peer) + off;
      }
      case K::Signal:
      case K::Poll:
        return baseOf(req.peer) + flagOffset + static_cast<Addr>(req.flag) * 8;
      case K::Watch:
        return regionOf(req.peer) + watchOffset + static_cast<Addr>(req.flag) * 8;
    }
    return 0;
}

bool
EidolonGPU::send(const ::eidola::Request &req, ::eidola::Tick now)
{
    using K = ::eidola::ReqKind;
    if (waitingForRetry)
        return false;  // the port protocol: nothing more until the retry comes
    if (drainState() != DrainState::Running) {
        resendOwed = true;  // draining for a checkpoint: the stream waits for drainResume()
        return false;
    }
    const bool write = req.kind == K::Write || req.kind == K::Signal || req.kind == K::Watch;
    unsigned size = req.bytes;
    if (req.kind == K::Signal)
        size = 8;
    if (req.kind == K::Watch)
        size = 16;  // threshold, then the waiter's key (the SyncMon's watch-table entry)
    if (req.kind == K::Poll)
        size = std::max<unsigned>(8, req.bytes);
    RequestPtr r = std::make_shared<gem5::Request>(addressOf(req), size, 0, requestorId);
    PacketPtr pkt = new Packet(r, write ? MemCmd::WriteReq : MemCmd::ReadReq);
    pkt->allocate();
    std::memset(pkt->getPtr<uint8_t>(), 0, size);
    if (req.kind == K::Signal || req.kind == K::Watch) {
        const int64_t v = req.value;
        std::memcpy(pkt->getPtr<uint8_t>(), &v, sizeof(v));
    }
    if (req.kind == K::Watch) {
        const uint64_t key = static_cast<uint64_t>(req.gpu) << 32 | req.stream;
        std::memcpy(pkt->getPtr<uint8_t>() + 8, &key, sizeof(key));
    }
    pkt->pushSenderState(new ReqState(req));
    if (!port.sendTimingReq(pkt)) {
        waitingForRetry = true;
        delete pkt->popSenderState();
        delete pkt;
        return false;  // the core retries when recvReqRetry arrives
    }
    ++inFlight;
    DPRINTF(Eidolon, "gpu %d stream %d: %s %d bytes to gpu %d at %#x\n", gpuId, req.stream,
            write ? "write" : "read", size, req.peer, pkt->getAddr());
    if (req.peer == static_cast<uint32_t>(::eidola::kMulticastPeer)) {
        stats.multicastBytes += req.kind == K::Signal ? 0 : req.bytes;
    } else if (req.kind == K::Write || req.kind == K::Read || req.kind == K::Signal) {
        stats.bytesToPeer[req.peer] += req.kind == K::Signal ? 0 : req.bytes;
        ++stats.packetsToPeer[req.peer];
    } else if (req.kind == K::Poll) {
        ++stats.pollingReads;
        pollSeries.add(0, now, 1);
    }
    return true;
}

bool
EidolonGPU::recvTimingResp(PacketPtr pkt)
{
    ReqState *st = safe_cast<ReqState *>(pkt->popSenderState());
    const ::eidola::Request req = st->req;
    delete st;
    int64_t observed = 0;
    const bool carriesValue = req.kind == ::eidola::ReqKind::Poll || req.kind == ::eidola::ReqKind::Watch;
    if (carriesValue)
        std::memcpy(&observed, pkt->getConstPtr<uint8_t>(), sizeof(observed));
    if (req.kind != ::eidola::ReqKind::Poll)
        ++progress;
    if (req.kind == ::eidola::ReqKind::Write)
        stats.writeLatency.sample(static_cast<double>(curTick() - req.issued));
    delete pkt;
    --inFlight;
    if (req.kind == ::eidola::ReqKind::Watch && observed == kWatchRefused) {
        replayer->refused(req, curTick());  // the SyncMon's table was full: poll instead
    } else if (req.kind == ::eidola::ReqKind::Watch && observed == kWatchDropped) {
        replayer->rearm(req, curTick());  // dropped for a checkpoint: register again
    } else {
        if (req.kind == ::eidola::ReqKind::Watch)
            ++stats.notifications;
        replayer->complete(req, curTick(), observed);
    }
    if (drainState() == DrainState::Draining && drained())
        signalDrainDone();
    return true;
}

void
EidolonGPU::retryArrived()
{
    waitingForRetry = false;
    replayer->retry(curTick());  // while draining, the streams stay held back (resendOwed)
    if (drainState() == DrainState::Draining && drained())
        signalDrainDone();  // the retry may be the last thing a drain waited for
}

void
EidolonGPU::schedule_resume(uint32_t, uint32_t stream, ::eidola::Tick when, bool)
{
    resumes.emplace(when, stream);
    if (!resumeEvent.scheduled())
        schedule(resumeEvent, std::max<Tick>(when, curTick()));
    else if (when < resumeEvent.when())
        reschedule(resumeEvent, std::max<Tick>(when, curTick()));
}

void
EidolonGPU::processResumes()
{
    while (!resumes.empty() && resumes.top().first <= curTick()) {
        const uint32_t s = resumes.top().second;
        resumes.pop();
        replayer->resume(s, curTick());
    }
    // A resume handled above may have scheduled the event for its own (later) time while an
    // earlier one is still queued: always leave the event at the earliest pending resume.
    if (resumes.empty())
        return;
    const Tick next = std::max<Tick>(resumes.top().first, curTick());
    if (!resumeEvent.scheduled())
        schedule(resumeEvent, next);
    else if (next < resumeEvent.when())
        reschedule(resumeEvent, next);
}

::eidola::Tick
EidolonGPU::flag_satisfied_at(uint32_t, int32_t flag, int64_t threshold)
{
    return syncMon->flags().satisfied_at(flag, threshold);
}

void
EidolonGPU::gpu_done(uint32_t, ::eidola::Tick now)
{
    finished = true;
    ++progress;
    stats.finishTick = now;
    const auto &s = replayer ? replayer->stats() : ::eidola::ReplayStats{};
    stats.stallTicks = s.stall_ps;
    stats.waits = s.waits;
    stats.wakeupLatencyMean = s.wakeup_latency.mean_ps();
    stats.wakeupLatencyMax = s.wakeup_latency.max_ps();
    if (watchdogEvent.scheduled())
        deschedule(watchdogEvent);
    DPRINTF(Eidolon, "gpu %d done at %d\n", gpuId, now);
    if (--running == 0 && drainState() == DrainState::Running)
        announceAllDone();  // while draining: drainResume() announces it
}

void
EidolonGPU::announceAllDone()
{
    allDoneAnnounced = true;
    exitSimLoop("eidola: all GPUs done");
}

DrainState
EidolonGPU::drain()
{
    return drained() ? DrainState::Drained : DrainState::Draining;
}

void
EidolonGPU::drainResume()
{
    ClockedObject::drainResume();
    // The same events whether the run continues after taking a checkpoint or starts from one,
    // scheduled in the same order, so both go on identically.
    if (resumeEvent.scheduled())
        deschedule(resumeEvent);
    if (!resumes.empty())
        schedule(resumeEvent, std::max<Tick>(resumes.top().first, curTick()));
    if (watchdogEvent.scheduled())
        deschedule(watchdogEvent);
    if (!finished) {
        progressAtLastCheck = progress;
        schedule(watchdogEvent, curTick() + watchdog);
    }
    if (resendOwed) {
        resendOwed = false;
        schedule(resendEvent, curTick());
    }
    if (running == 0 && !allDoneAnnounced)
        announceAllDone();
}

void
EidolonGPU::serialize(CheckpointOut &cp) const
{
    if (!drained())
        panic("%s: serialized with %d requests in flight", name(), inFlight);
    ::eidola::StateOut out;
    replayer->save(out);
    pollSeries.save(out);
    auto pending = resumes;  // a copy: the heap pops in time order
    out.u64(pending.size());
    for (; !pending.empty(); pending.pop()) {
        out.u64(pending.top().first);
        out.u64(pending.top().second);
    }
    out.flag(finished);
    out.flag(resendOwed);
    saveCoreState(cp, out);
}

void
EidolonGPU::unserialize(CheckpointIn &cp)
{
    loadCoreState(cp, name(), [this](::eidola::StateIn &in) {
        replayer->load(in);
        pollSeries.load(in);
        resumes = {};
        for (size_t n = in.count(2); n > 0; --n) {
            const Tick when = in.u64();
            const uint64_t stream = in.u64();
            if (stream >= replayer->num_streams())
                in.fail("has a resume of a stream that does not exist");
            resumes.emplace(when, static_cast<uint32_t>(stream));
        }
        const bool was_finished = in.flag();
        resendOwed = in.flag();
        if (was_finished && !finished) {
            finished = true;
            --running;
        }
    });
    restored = true;
}

void
EidolonGPU::checkProgress()
{
    if (finished)
        return;
    // Deadlocked: nothing but polls happened for a whole watchdog period and every GPU is
    // either done or only waiting on flags (a long compute is not a deadlock).
    bool all_waiting = true;
    for (const EidolonGPU *e : all)
        all_waiting = all_waiting && (e->finished || e->replayer->only_waiting());
    if (progress == progressAtLastCheck && all_waiting) {
        exitSimLoop("eidola: deadlock", 3);
        return;
    }
    progressAtLastCheck = progress;
    schedule(watchdogEvent, curTick() + watchdog);
}

std::string
EidolonGPU::stuck() const
{
    std::vector<::eidola::StuckWait> waits;
    replayer->stuck_waits(waits);
    std::ostringstream out;
    for (const auto &w : waits)
        out << w.gpu << ' ' << w.stream << ' ' << w.flag << ' ' << w.awaited << ' '
            << syncMon->flags().value(w.flag) << '\n';
    return out.str();
}

EidolonGPU::EidolonStats::EidolonStats(statistics::Group *parent, unsigned num_gpus)
    : statistics::Group(parent),
      ADD_STAT(bytesToPeer, statistics::units::Byte::get(), "payload bytes written to each GPU"),
      ADD_STAT(packetsToPeer, statistics::units::Count::get(), "packets sent to each GPU"),
      ADD_STAT(multicastBytes, statistics::units::Byte::get(),
               "payload bytes of multicast (NVLS) reads and writes sent to the switch"),
      ADD_STAT(writeLatency, statistics::units::Tick::get(), "write packet issue to acknowledgement"),
      ADD_STAT(pollingReads, statistics::units::Count::get(), "polling reads of flags"),
      ADD_STAT(notifications, statistics::units::Count::get(), "SyncMon notifications received"),
      ADD_STAT(stallTicks, statistics::units::Tick::get(), "stream time spent blocked"),
      ADD_STAT(wakeupLatencyMean, statistics::units::Tick::get(),
               "mean flag-satisfied to stream-resumed latency"),
      ADD_STAT(wakeupLatencyMax, statistics::units::Tick::get(), "largest wake-up latency"),
      ADD_STAT(waits, statistics::units::Count::get(), "wait ops completed"),
      ADD_STAT(finishTick, statistics::units::Tick::get(), "tick when every stream was done")
{
    bytesToPeer.init(num_gpus);
    packetsToPeer.init(num_gpus);
    writeLatency.init(32);
}

} // namespace eidola
} // namespace gem5
