#include "gem5/sync_mon.hh"

#include <cstring>

#include "base/trace.hh"
#include "debug/SyncMon.hh"

namespace gem5
{
namespace eidola
{

SyncMon::SyncMon(const Params &p)
    : SimObject(p), cpuSide(name() + ".cpu_side_port", *this),
      memSide(name() + ".mem_side_port", *this), gpuId(p.gpu_id), flagBase(p.flag_base),
      watchBase(p.watch_base), windowSize(p.window_size), latency(p.latency), stats(this)
{
    cpuSide.queue().disableSanityCheck();  // held watch responses can be many
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
        // A registration: answered once the flag reaches the threshold in its payload.
        int64_t threshold = 0;
        std::memcpy(&threshold, pkt->getConstPtr<uint8_t>(), sizeof(threshold));
        const int32_t flag = flagOf(a, watchBase);
        ++stats.registrations;
        pkt->makeResponse();
        Watch w{pkt, threshold, curTick()};
        if (flagMem.value(flag) >= threshold) {
            DPRINTF(SyncMon, "gpu %d: watch flag %d >= %d already true\n", gpuId, flag, threshold);
            notify(w, curTick());
        } else {
            DPRINTF(SyncMon, "gpu %d: watch flag %d >= %d registered\n", gpuId, flag, threshold);
            watches[flag].push_back(w);
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
                std::vector<::eidola::Watcher> woken;  // the watch table proper is below
                flagMem.add(flag, it->second, curTick(), woken);
                signalsInFlight.erase(it);
                ++stats.flagUpdates;
                DPRINTF(SyncMon, "gpu %d: flag %d -> %d\n", gpuId, flag, flagMem.value(flag));
                auto w = watches.find(flag);
                if (w != watches.end()) {
                    std::vector<Watch> &list = w->second;
                    auto keep = list.begin();
                    for (auto &x : list) {
                        if (x.threshold <= flagMem.value(flag))
                            notify(x, curTick());
                        else
                            *keep++ = x;
                    }
                    list.erase(keep, list.end());
                    if (list.empty())
                        watches.erase(w);
                }
            }
        } else if (pkt->isRead() && pkt->getSize() >= sizeof(int64_t)) {
            const int64_t v = flagMem.value(flag);
            std::memcpy(pkt->getPtr<uint8_t>(), &v, sizeof(v));
            ++stats.pollsSeen;
        }
    }
    cpuSide.queue().schedSendTiming(pkt, curTick());
    return true;
}

void
SyncMon::notify(const Watch &w, Tick satisfied)
{
    ++stats.notifications;
    stats.wakeupLatency.sample(static_cast<double>(latency));
    (void)satisfied;
    cpuSide.queue().schedSendTiming(w.pkt, curTick() + latency);
}

SyncMon::SyncMonStats::SyncMonStats(statistics::Group *parent)
    : statistics::Group(parent),
      ADD_STAT(registrations, statistics::units::Count::get(), "wait registrations received"),
      ADD_STAT(notifications, statistics::units::Count::get(), "waiters notified"),
      ADD_STAT(flagUpdates, statistics::units::Count::get(), "flag writes applied"),
      ADD_STAT(pollsSeen, statistics::units::Count::get(), "polling reads of flags answered"),
      ADD_STAT(wakeupLatency, statistics::units::Tick::get(),
               "satisfying update to notification sent (ticks)")
{
    wakeupLatency.init(16);
}

} // namespace eidola
} // namespace gem5
