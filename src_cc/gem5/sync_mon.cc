#include "gem5/sync_mon.hh"

#include <cstring>

#include "base/trace.hh"
#include "debug/SyncMon.hh"
#include "gem5/checkpoint.hh"

namespace gem5
{
namespace eidola
{

SyncMon::SyncMon(const Params &p)
    : SimObject(p), cpuSide(name() + ".cpu_side_port", *this),
      memSide(name() + ".mem_side_port", *this), gpuId(p.gpu_id), flagBase(p.flag_base),
      watchBase(p.watch_base), windowSize(p.window_size), latency(p.latency), memory(p.memory),
      checkBytes(p.check_bytes), stats(this)
{
    cpuSide.queue().disableSanityCheck();  // held watch responses can be many
    flagMem.configure_watch_table(p.entries, p.wake_on == EidolaWakeOn::change ? ::eidola::WakeOn::Change
                                                                            : ::eidola::WakeOn::Match);
}

void
SyncMon::init()
{
    if (!cpuSide.isConnected() || !memSide.isConnected())
        fatal("%s: both ports must be connected", name());
    cpuSide.sendRangeChange();
}

Port &
SyncMon::getPort(const std::string &name, PortID idx)
{
    if (name == "cpu_side_port")
        return cpuSide;
    if (name == "mem_side_port")
        return memSide;
    return SimObject::getPort(name, idx);
}

AddrRangeList
SyncMon::CpuSidePort::getAddrRanges() const
{
    return mon.memSide.getAddrRanges();
}

Tick
SyncMon::CpuSidePort::recvAtomic(PacketPtr pkt)
{
    return mon.memSide.sendAtomic(pkt);
}

void
SyncMon::CpuSidePort::recvFunctional(PacketPtr pkt)
{
    mon.memSide.sendFunctional(pkt);
}

bool
SyncMon::recvTimingReq(PacketPtr pkt)
{
    const Addr a = pkt->getAddr();
    if (inWatchWindow(a)) {
        int64_t threshold = 0;
        uint64_t key = 0;
        std::memcpy(&threshold, pkt->getConstPtr<uint8_t>(), sizeof(threshold));
        if (pkt->getSize() >= 16)
            std::memcpy(&key, pkt->getConstPtr<uint8_t>() + 8, sizeof(key));
        const int32_t flag = flagOf(a, watchBase);
        // The check reads the flag's channel; the decision is made now, the reply leaves when
        // the channel has served the check (the memory round trip is the waiter's latency).
        const Tick served = memory->occupy(flagBase + static_cast<Addr>(flag) * 8, checkBytes).done -
                            memory->accessLatency();
        pkt->makeResponse();
        const ::eidola::Watcher w{static_cast<uint32_t>(key >> 32), static_cast<uint32_t>(key), threshold};
        switch (flagMem.watch(flag, w)) {
          case ::eidola::WatchResult::Satisfied:
            DPRINTF(SyncMon, "gpu %d: watch flag %d >= %d already true\n", gpuId, flag, threshold);
            reply(pkt, served + latency, flagMem.value(flag));
            break;
          case ::eidola::WatchResult::Full:
            DPRINTF(SyncMon, "gpu %d: watch flag %d refused: table full\n", gpuId, flag);
            ++stats.overflows;
            reply(pkt, served + latency, kWatchRefused);
            break;
          case ::eidola::WatchResult::Registered:
            DPRINTF(SyncMon, "gpu %d: watch flag %d >= %d registered\n", gpuId, flag, threshold);
            ++stats.registrations;
            stats.peakEntries = static_cast<double>(flagMem.watch_stats().peak_entries);
            held[key] = pkt;
            if (drainState() != DrainState::Running)
                dropHeld();  // sent before its eidolon began draining
            break;
        }
        return true;
    }
    const bool signal = pkt->isWrite() && inFlagWindow(a);
    int64_t increment = 0;
    if (signal)
        std::memcpy(&increment, pkt->getConstPtr<uint8_t>(), sizeof(increment));
    if (!memSide.sendTimingReq(pkt))
        return false;  // memSide's retry becomes our retry (recvReqRetry)
    if (signal)
        signalsInFlight[pkt] = increment;
    return true;
}

bool
SyncMon::recvTimingResp(PacketPtr pkt)
{
    const Addr a = pkt->getAddr();
    if (inFlagWindow(a)) {
        const int32_t flag = flagOf(a, flagBase);
        if (pkt->isWrite()) {
            auto it = signalsInFlight.find(pkt);
            if (it != signalsInFlight.end()) {
                std::vector<::eidola::Watcher> woken;
                flagMem.add(flag, it->second, curTick(), woken);
                signalsInFlight.erase(it);
                ++stats.flagUpdates;
                DPRINTF(SyncMon, "gpu %d: flag %d -> %d\n", gpuId, flag, flagMem.value(flag));
                for (const ::eidola::Watcher &w : woken) {
                    auto h = held.find(static_cast<uint64_t>(w.gpu) << 32 | w.stream);
                    if (h == held.end())
                        panic("%s: woken waiter %d/%d has no held registration", name(), w.gpu, w.stream);
                    reply(h->second, curTick() + latency, flagMem.value(flag));
                    held.erase(h);
                }
                if (drainState() == DrainState::Draining && drained())
                    signalDrainDone();
            }
        } else if (pkt->isRead() && pkt->getSize() >= sizeof(int64_t)) {
            // as memory served the read: half its round trip before the answer leaves
            const int64_t v = flagMem.value_at(flag, curTick() - memory->accessLatency() / 2);
            std::memcpy(pkt->getPtr<uint8_t>(), &v, sizeof(v));
            ++stats.pollsSeen;
        }
    }
    cpuSide.queue().schedSendTiming(pkt, curTick());
    return true;
}

DrainState
SyncMon::drain()
{
    dropHeld();
    return drained() ? DrainState::Drained : DrainState::Draining;
}

// Answer every held registration "dropped" (table order: flag, then registration order).
void
SyncMon::dropHeld()
{
    std::vector<std::pair<int32_t, ::eidola::Watcher>> dropped;
    flagMem.release_watches(dropped);
    for (const auto &entry : dropped) {
        const ::eidola::Watcher &w = entry.second;
        auto h = held.find(static_cast<uint64_t>(w.gpu) << 32 | w.stream);
        if (h == held.end())
            panic("%s: dropped waiter %d/%d has no held registration", name(), w.gpu, w.stream);
        reply(h->second, curTick() + latency, kWatchDropped);
        held.erase(h);
        ++stats.dropped;
    }
}

void
SyncMon::serialize(CheckpointOut &cp) const
{
    if (!drained())
        panic("%s: serialized with registrations held or flag writes in flight", name());
    ::eidola::StateOut out;
    flagMem.save(out);
    saveCoreState(cp, out);
}

void
SyncMon::unserialize(CheckpointIn &cp)
{
    loadCoreState(cp, name(), [this](::eidola::StateIn &in) { flagMem.load(in); });
    if (flagMem.watches_pending())
        fatal("eidola: %s: the checkpoint holds SyncMon registrations", name());
}

void
SyncMon::reply(PacketPtr pkt, Tick when, int64_t payload)
{
    if (payload != kWatchRefused && payload != kWatchDropped) {
        ++stats.notifications;
        stats.wakeupLatency.sample(static_cast<double>(latency));
    }
    std::memcpy(pkt->getPtr<uint8_t>(), &payload, sizeof(payload));
    cpuSide.queue().schedSendTiming(pkt, when);
}

SyncMon::SyncMonStats::SyncMonStats(statistics::Group *parent)
    : statistics::Group(parent),
      ADD_STAT(registrations, statistics::units::Count::get(), "watch-table entries taken"),
      ADD_STAT(overflows, statistics::units::Count::get(), "registrations refused: table full"),
      ADD_STAT(peakEntries, statistics::units::Count::get(), "most watch-table entries in use at once"),
      ADD_STAT(notifications, statistics::units::Count::get(), "waiters notified"),
      ADD_STAT(flagUpdates, statistics::units::Count::get(), "flag writes applied"),
      ADD_STAT(pollsSeen, statistics::units::Count::get(), "polling reads of flags answered"),
      ADD_STAT(dropped, statistics::units::Count::get(),
               "registrations answered 'dropped' when draining for a checkpoint"),
      ADD_STAT(wakeupLatency, statistics::units::Tick::get(),
               "satisfying update to notification sent (ticks)")
{
    wakeupLatency.init(16);
}

} // namespace eidola
} // namespace gem5
