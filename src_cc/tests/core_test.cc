// Unit tests of the gem5-free core. Built standalone by SConstruct.extras (system GoogleTest)
// and declared for gem5's own unit-test build in src_cc/SConscript.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "core/replay/binned_series.hh"
#include "core/replay/flag_memory.hh"
#include "core/replay/latency_hist.hh"
#include "core/replay/link_timing.hh"
#include "core/network/net_engine.hh"
#include "core/replay/program.hh"
#include "core/replay/replayer.hh"
#include "core/replay/rng.hh"

using namespace eidola;

namespace {

ProfileOp op(OpKind kind, uint32_t stream, int32_t peer = -1, uint64_t bytes = 0, int32_t flag = -1,
             int64_t value = 0, double dur_ns = 0, double t_ns = 0) {
    ProfileOp o{};
    o.t_ns = t_ns;
    o.dur_ns = dur_ns;
    o.bytes = bytes;
    o.value = value;
    o.peer = peer;
    o.flag = flag;
    o.stream = stream;
    o.kind = static_cast<uint8_t>(kind);
    return o;
}

// A host that records requests and lets the test answer them by hand.
struct RecordingHost : ReplayHost {
    std::vector<Request> sent;
    std::vector<std::pair<uint32_t, Tick>> resumes;
    bool refuse = false;
    bool done = false;
    FlagMemory flags;
    bool send(const Request& r, Tick) override {
        if (refuse) return false;
        sent.push_back(r);
        return true;
    }
    void schedule_resume(uint32_t, uint32_t s, Tick when, bool) override { resumes.push_back({s, when}); }
    Tick flag_satisfied_at(uint32_t, int32_t f, int64_t v) override { return flags.satisfied_at(f, v); }
    void gpu_done(uint32_t, Tick) override { done = true; }
};

GpuProgram program(const std::vector<ProfileOp>& ops, uint32_t gpus = 2, ProgramOptions o = {}) {
    return GpuProgram::build(0, gpus, ops.data(), ops.size(), o);
}

}  // namespace

TEST(LatencyHist, QuantilesWithinBucketResolution) {
    LatencyHist h;
    for (Tick v = 1; v <= 100000; ++v) h.add(v * 1000);
    EXPECT_EQ(h.count(), 100000u);
    EXPECT_NEAR(h.quantile_ps(0.5) / 50'000'000.0, 1.0, 0.035);
    EXPECT_NEAR(h.quantile_ps(0.99) / 99'000'000.0, 1.0, 0.035);
    EXPECT_EQ(h.max_ps(), 100'000'000u);
    EXPECT_NEAR(h.mean_ps(), 50'000'500.0, 1.0);
}

TEST(LatencyHist, BucketsCoverEveryValue) {
    for (Tick v : {Tick(0), Tick(1), Tick(31), Tick(32), Tick(33), Tick(1000), Tick(123456789)}) {
        const int b = LatencyHist::bucket_of(v);
        EXPECT_LE(LatencyHist::bucket_low(b), v);
        EXPECT_LT(v, LatencyHist::bucket_high(b));
    }
}

// Both hosts record time series with BinnedSeries: amounts are kept whatever the run length
// (bins double instead of overflowing), and a span is split in proportion to time.
TEST(BinnedSeries, DoublesItsBinsAndKeepsEveryAmount) {
    BinnedSeries ts(2, 4, 10);  // 2 rows, 4 bins of 10 ps
    ts.add(0, 5, 3);
    ts.add(1, 35, 1);
    EXPECT_EQ(ts.bin_ps(), 10u);
    ts.add(0, 45, 2);  // past the 4th bin: bins become 20 ps
    EXPECT_EQ(ts.bin_ps(), 20u);
    EXPECT_EQ(ts.row(0)[0], 3u);
    EXPECT_EQ(ts.row(0)[2], 2u);
    EXPECT_EQ(ts.row(1)[1], 1u);
    uint64_t total = 0;
    for (uint32_t b = 0; b < ts.max_bins(); ++b) total += ts.row(0)[b] + ts.row(1)[b];
    EXPECT_EQ(total, 6u);
    EXPECT_EQ(ts.bins_used(), 3u);
}

TEST(BinnedSeries, SpanIsSplitInProportionToTimeInEachBin) {
    BinnedSeries ts(1, 8, 100);
    ts.add_span(0, 50, 350, 300);  // 1 byte per ps over three bins: 50, 100, 100, 50
    EXPECT_EQ(ts.row(0)[0], 50u);
    EXPECT_EQ(ts.row(0)[1], 100u);
    EXPECT_EQ(ts.row(0)[2], 100u);
    EXPECT_EQ(ts.row(0)[3], 50u);
    BinnedSeries off;  // no rows: recording is a no-op
    off.add(0, 1, 1);
    EXPECT_FALSE(off.enabled());
}

TEST(FlagMemory, WatchNotifiesOnceWhenThresholdReached) {
    FlagMemory m;
    std::vector<Watcher> woken;
    EXPECT_EQ(m.watch(3, {0, 7, 2}), WatchResult::Registered);
    m.add(3, 1, 100, woken);
    EXPECT_TRUE(woken.empty());
    m.add(3, 1, 250, woken);
    ASSERT_EQ(woken.size(), 1u);
    EXPECT_EQ(woken[0].stream, 7u);
    woken.clear();
    m.add(3, 1, 300, woken);
    EXPECT_TRUE(woken.empty());
    EXPECT_EQ(m.satisfied_at(3, 2), 250u);
    EXPECT_EQ(m.satisfied_at(3, 1), 100u);
    EXPECT_EQ(m.satisfied_at(3, 4), kMaxTick);
    EXPECT_EQ(m.value_at(3, 99), 0);
    EXPECT_EQ(m.value_at(3, 100), 1);
    EXPECT_EQ(m.value_at(3, 299), 2);
    EXPECT_EQ(m.value_at(3, 1000), 3);
    EXPECT_EQ(m.value_at(9, 1000), 0);
    EXPECT_EQ(m.watch(3, {0, 1, 3}), WatchResult::Satisfied);  // already satisfied: immediate
    EXPECT_EQ(m.watches_pending(), 0u);
}

// Once-signalled flags keep their update in the flag, later ones move the history to the log:
// the answers must not depend on which of the two holds it.
TEST(FlagMemory, HistoryAnswersAlikeForOneAndManyUpdates) {
    FlagMemory m;
    std::vector<Watcher> woken;
    m.add(1, 5, 100, woken);  // once
    EXPECT_EQ(m.value_at(1, 99), 0);
    EXPECT_EQ(m.value_at(1, 100), 5);
    EXPECT_EQ(m.satisfied_at(1, 5), 100u);
    EXPECT_EQ(m.satisfied_at(1, 6), kMaxTick);
    m.add(1, 2, 200, woken);  // twice: the first update must still be found
    m.add(1, 3, 300, woken);
    EXPECT_EQ(m.value_at(1, 150), 5);
    EXPECT_EQ(m.value_at(1, 250), 7);
    EXPECT_EQ(m.value_at(1, 300), 10);
    EXPECT_EQ(m.satisfied_at(1, 4), 100u);
    EXPECT_EQ(m.satisfied_at(1, 6), 200u);
    EXPECT_EQ(m.satisfied_at(1, 10), 300u);
    m.add(2, 0, 50, woken);  // a zero update still counts as the first
    m.add(2, 1, 60, woken);
    EXPECT_EQ(m.value_at(2, 55), 0);
    EXPECT_EQ(m.satisfied_at(2, 1), 60u);
}

// Many flags watched at once, woken in an order unlike the registrations: every watcher wakes
// exactly once, when its own flag reaches its threshold (the index deletes by shifting probe
// runs, which a collision-heavy load exercises).
TEST(FlagMemory, WatchIndexWakesEachWatcherOnceUnderChurn) {
    FlagMemory m;
    std::vector<Watcher> woken;
    const int kFlags = 300;
    for (int f = 0; f < kFlags; ++f)
        for (uint32_t s = 0; s < 3; ++s)
            ASSERT_EQ(m.watch(f * 64, {static_cast<uint32_t>(f), s, static_cast<int64_t>(s + 1)}),
                      WatchResult::Registered);
    EXPECT_EQ(m.watches_pending(), 3u * kFlags);
    std::vector<std::pair<int32_t, Watcher>> listed;
    m.pending(listed);
    ASSERT_EQ(listed.size(), 3u * kFlags);
    for (size_t i = 1; i < listed.size(); ++i)  // flag order, then registration order
        EXPECT_TRUE(listed[i - 1].first < listed[i].first ||
                    (listed[i - 1].first == listed[i].first && listed[i - 1].second.stream < listed[i].second.stream));
    for (int step = 1; step <= 3; ++step)
        for (int f = kFlags - 1; f >= 0; f -= 2) {  // odd flags first, from the top
            woken.clear();
            m.add(f * 64, 1, static_cast<Tick>(step * 1000 + f), woken);
            ASSERT_EQ(woken.size(), 1u) << "flag " << f * 64 << " step " << step;
            EXPECT_EQ(woken[0].gpu, static_cast<uint32_t>(f));
            EXPECT_EQ(woken[0].stream, static_cast<uint32_t>(step - 1));
        }
    EXPECT_EQ(m.watches_pending(), 3u * (kFlags / 2));
    for (int step = 1; step <= 3; ++step)
        for (int f = 0; f < kFlags; f += 2) {
            woken.clear();
            m.add(f * 64, 1, static_cast<Tick>(5000 + step), woken);
            ASSERT_EQ(woken.size(), 1u);
        }
    EXPECT_EQ(m.watches_pending(), 0u);
    EXPECT_EQ(m.watch(0, {0, 0, 4}), WatchResult::Registered);  // the table is usable again
    woken.clear();
    m.add(0, 1, 9000, woken);
    EXPECT_EQ(woken.size(), 1u);
}

// Lanes must not change the order events run in: the same pushes, some through lanes (in and
// out of time order, as a multi-channel memory produces) and some not, pop exactly as one heap.
TEST(EventQueue, LanesPopInTheOrderOfOneHeap) {
    EventQueue plain, laned;
    laned.set_lanes(5);
    Tick now = 0;
    std::vector<Tick> lane_last(5, 0);
    uint64_t pushed = 0, popped = 0, out_of_order = 0;
    for (uint64_t step = 0; step < 20000; ++step) {
        const uint64_t r = static_cast<uint64_t>(unit_uniform(7, step, 0) * 1e9);
        const bool push = plain.empty() || r % 3 != 0;
        if (push) {
            const Tick when = now + (r % 7 == 0 ? 0 : r % 5000);  // ties included
            const uint32_t lane = static_cast<uint32_t>(r % 6);   // 5: no lane
            plain.push(when, 1, static_cast<uint32_t>(pushed), lane);
            if (lane < 5) {
                out_of_order += when < lane_last[lane];
                lane_last[lane] = std::max(lane_last[lane], when);
                laned.push(when, 1, static_cast<uint32_t>(pushed), lane, lane);
            } else {
                laned.push(when, 1, static_cast<uint32_t>(pushed), lane);
            }
            ++pushed;
        } else {
            ASSERT_FALSE(laned.empty());
            const Event a = plain.pop(), b = laned.pop();
            ASSERT_EQ(a.when, b.when);
            ASSERT_EQ(a.a, b.a);
            ASSERT_EQ(b.type, 1u);  // the lane bits are not the caller's
            ASSERT_EQ(a.b, b.b);
            now = a.when;
            ++popped;
        }
        ASSERT_EQ(plain.size(), laned.size());
    }
    EXPECT_GT(out_of_order, 100u);  // both lane paths were exercised
    EXPECT_GT(popped, 5000u);
    EXPECT_LT(laned.heap_size(), laned.size());  // and lanes did hold events back
}

// The calendar must pop exactly in (time, push order), whatever the spacing of events: phases
// of dense ties, of sparse far-apart events, of events far past the window, and of lane events
// entering late with old sequence numbers; the bucket width must adapt on the way.
TEST(EventQueue, CalendarPopsInTimeThenPushOrderAsWidthsAdapt) {
    EventQueue q;
    q.set_lanes(3);
    std::set<std::pair<Tick, uint64_t>> reference;  // (when, push number)
    Tick now = 0;
    uint64_t pushed = 0;
    Tick narrowest = q.bucket_ps(), widest = q.bucket_ps();
    for (uint64_t step = 0; step < 3'000'000; ++step) {
        const uint64_t phase = (step / 200'000) % 5;
        const uint64_t r = static_cast<uint64_t>(unit_uniform(11, step, phase) * 4e9);
        const bool push = reference.empty() || r % 2 == 0;
        if (push) {
            Tick delay = 0;
            switch (phase) {
            case 0: delay = r % 4 == 0 ? 0 : r % 3000; break;                 // dense, many ties
            case 1: delay = r % 50'000'000; break;                           // sparse, far apart
            case 2: delay = (r % 8 == 0) ? uint64_t(1) << 40 : r % 200; break;  // some far past the window
            case 3: delay = 0; break;                                         // one time, all ties
            default: delay = r % 100'000; break;                              // in between
            }
            if (r % 5 < 2)  // through a lane: its next event enters with its old sequence number
                q.push(now + delay, 1, static_cast<uint32_t>(pushed), pushed, static_cast<uint32_t>(r % 3));
            else
                q.push(now + delay, 1, static_cast<uint32_t>(pushed), pushed);
            reference.insert({now + delay, pushed});
            ++pushed;
        } else {
            const Event e = q.pop();
            const auto expected = *reference.begin();
            reference.erase(reference.begin());
            ASSERT_EQ(e.when, expected.first);
            ASSERT_EQ(e.b, expected.second);
            now = e.when;
        }
        ASSERT_EQ(q.size(), reference.size());
        narrowest = std::min(narrowest, q.bucket_ps());
        widest = std::max(widest, q.bucket_ps());
    }
    while (!reference.empty()) {
        const Event e = q.pop();
        ASSERT_EQ(e.b, reference.begin()->second);
        reference.erase(reference.begin());
    }
    EXPECT_TRUE(q.empty());
    EXPECT_LT(narrowest, widest);  // the width did adapt
}

TEST(HugePages, VectorsOfEverySizeKeepTheirContents) {
    HugeVector<uint64_t> v;
    for (uint64_t i = 0; i < (uint64_t(3) << 20) / 8; ++i) v.push_back(i * 3);  // crosses 2 MiB
    for (uint64_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], i * 3);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data()) % kHugePageBytes, 0u);
}

TEST(LinkTiming, FifoSerializationAtPayloadBandwidth) {
    LinkTiming l(100.0, 500.0);  // 100 GB/s = 100 bytes/ns
    EXPECT_EQ(l.serialization_ps(4096), 40960u);
    EXPECT_EQ(l.occupy(0, 4096), 0u);
    EXPECT_EQ(l.occupy(0, 4096), 40960u);  // queued behind the first
    EXPECT_EQ(l.free_at(), 81920u);
    EXPECT_EQ(l.latency_ps(), 500000u);
}

TEST(Program, GroupsByStreamKeepingOrderAndChecksPeers) {
    std::vector<ProfileOp> ops = {op(OpKind::Compute, 1, -1, 0, -1, 0, 10), op(OpKind::Compute, 0, -1, 0, -1, 0, 20),
                                  op(OpKind::Compute, 1, -1, 0, -1, 0, 30)};
    GpuProgram p = program(ops);
    ASSERT_EQ(p.streams.size(), 2u);
    EXPECT_EQ(p.streams[0].id, 0u);
    EXPECT_EQ(p.ops[p.streams[1].begin].dur_ps(), 10'000u);
    EXPECT_EQ(p.ops[p.streams[1].begin + 1].dur_ps(), 30'000u);
    std::vector<ProfileOp> bad = {op(OpKind::Write, 0, 5, 64)};
    EXPECT_THROW(program(bad), std::invalid_argument);
}

TEST(Program, JitterIsDeterministicAndMeanPreserving) {
    std::vector<ProfileOp> ops(2000, op(OpKind::Compute, 0, -1, 0, -1, 0, 1000));
    ProgramOptions o;
    o.compute_cv = 0.2;
    o.seed = 42;
    GpuProgram a = program(ops, 2, o), b = program(ops, 2, o);
    double sum = 0;
    bool differ = false;
    for (size_t i = 0; i < ops.size(); ++i) {
        EXPECT_EQ(a.ops[i].dur_ps(), b.ops[i].dur_ps());
        sum += static_cast<double>(a.ops[i].dur_ps());
        differ |= a.ops[i].dur_ps() != a.ops[0].dur_ps();
    }
    EXPECT_TRUE(differ);
    EXPECT_NEAR(sum / ops.size() / 1e6, 1.0, 0.03);
}

TEST(Replayer, WriteIsCutIntoPacketsAndThrottled) {
    RecordingHost host;
    ReplayConfig cfg;
    cfg.packet_bytes = 1000;
    cfg.max_outstanding = 3;
    std::vector<ProfileOp> ops = {op(OpKind::Write, 0, 1, 4500)};
    GpuReplayer r(program(ops), 2, cfg, host);
    r.start(0);
    ASSERT_EQ(host.sent.size(), 3u);  // limited by max_outstanding
    r.complete(host.sent[0], 10, 0);
    ASSERT_EQ(host.sent.size(), 4u);
    r.complete(host.sent[1], 20, 0);
    ASSERT_EQ(host.sent.size(), 5u);
    EXPECT_EQ(host.sent[4].bytes, 500u);
    EXPECT_EQ(r.stats().bytes_written, 4500u);
    EXPECT_FALSE(host.done);
    for (size_t i = 2; i < 5; ++i) r.complete(host.sent[i], 30, 0);
    EXPECT_TRUE(host.done);
    EXPECT_EQ(r.stats().write_latency.count(), 5u);
}

TEST(Replayer, SignalWaitsForEarlierWritesToBeAcknowledged) {
    RecordingHost host;
    std::vector<ProfileOp> ops = {op(OpKind::Write, 0, 1, 100), op(OpKind::Signal, 0, 1, 0, 4, 1)};
    GpuReplayer r(program(ops), 2, ReplayConfig{}, host);
    r.start(0);
    ASSERT_EQ(host.sent.size(), 1u);  // the signal is fenced behind the write
    r.complete(host.sent[0], 50, 0);
    ASSERT_EQ(host.sent.size(), 2u);
    EXPECT_EQ(host.sent[1].kind, ReqKind::Signal);
    EXPECT_EQ(host.sent[1].flag, 4);
    EXPECT_EQ(host.sent[1].issued, 50u);
}

TEST(Replayer, PollingRepeatsUntilTheFlagIsSet) {
    RecordingHost host;
    ReplayConfig cfg;
    cfg.poll_interval_ps = 1000;
    std::vector<ProfileOp> ops = {op(OpKind::Wait, 0, -1, 0, 2, 1)};
    GpuReplayer r(program(ops), 2, cfg, host);
    r.start(0);
    ASSERT_EQ(host.sent.size(), 1u);
    EXPECT_EQ(host.sent[0].kind, ReqKind::Poll);
    r.complete(host.sent[0], 300, 0);  // not yet: next poll one interval after the first
    ASSERT_EQ(host.resumes.size(), 1u);
    EXPECT_EQ(host.resumes[0].second, 1000u);
    r.resume(0, 1000);
    ASSERT_EQ(host.sent.size(), 2u);
    std::vector<Watcher> woken;
    host.flags.add(2, 1, 1100, woken);
    r.complete(host.sent[1], 1300, 1);
    EXPECT_TRUE(host.done);
    EXPECT_EQ(r.stats().polling_reads, 2u);
    EXPECT_EQ(r.stats().wakeup_latency.count(), 1u);
    EXPECT_EQ(r.stats().wakeup_latency.max_ps(), 200u);  // satisfied at 1100, resumed at 1300
}

TEST(Replayer, SyncMonWaitRegistersOnceAndIsNotified) {
    RecordingHost host;
    ReplayConfig cfg;
    cfg.sync = SyncMode::SyncMon;
    std::vector<ProfileOp> ops = {op(OpKind::Wait, 0, -1, 0, 2, 1), op(OpKind::Compute, 0, -1, 0, -1, 0, 5)};
    GpuReplayer r(program(ops), 2, cfg, host);
    r.start(0);
    ASSERT_EQ(host.sent.size(), 1u);
    EXPECT_EQ(host.sent[0].kind, ReqKind::Watch);
    r.complete(host.sent[0], 900, 0);
    EXPECT_EQ(r.stats().notifications, 1u);
    EXPECT_EQ(r.stats().polling_reads, 0u);
    ASSERT_EQ(host.resumes.size(), 1u);  // the compute op after the wait
    EXPECT_EQ(host.resumes[0].second, 900u + 5000u);
}

TEST(Replayer, RefusedRequestIsRetried) {
    RecordingHost host;
    host.refuse = true;
    std::vector<ProfileOp> ops = {op(OpKind::Write, 0, 1, 64)};
    GpuReplayer r(program(ops), 2, ReplayConfig{}, host);
    r.start(0);
    EXPECT_TRUE(host.sent.empty());
    host.refuse = false;
    r.retry(10);
    ASSERT_EQ(host.sent.size(), 1u);
    EXPECT_EQ(host.sent[0].issued, 10u);
}

namespace {

NetworkSpec two_gpus(double bw, double lat) {
    NetworkSpec n;
    n.num_gpus = 2;
    n.num_nodes = 2;
    n.channels = {{0, 1, bw, lat}, {1, 0, bw, lat}};
    n.node_latency_ns = {0, 0};
    n.memory.bw_gbps = 10000;
    n.memory.latency_ns = 0;
    return n;
}

// GPUs 0..2 each linked to switch node 3 (100 GB/s, 100 ns).
NetworkSpec three_gpus_on_a_switch() {
    NetworkSpec n;
    n.num_gpus = 3;
    n.num_nodes = 4;
    for (uint32_t g = 0; g < 3; ++g) {
        n.channels.push_back({g, 3, 100.0, 100.0});
        n.channels.push_back({3, g, 100.0, 100.0});
    }
    n.node_latency_ns = {0, 0, 0, 0};
    return n;
}

}  // namespace

TEST(Engine, UncontendedWriteTakesSizeOverBandwidthPlusLatency) {
    const uint64_t size = 64ull << 20;
    std::vector<ProfileOp> g0 = {op(OpKind::Write, 0, 1, size)};
    EngineConfig cfg;
    cfg.series = false;
    std::vector<GpuProgram> progs;
    progs.push_back(GpuProgram::build(0, 2, g0.data(), g0.size(), {}));
    Engine e(two_gpus(100.0, 1000.0), cfg, std::move(progs));
    EngineOutcome out = e.run();
    ASSERT_TRUE(out.finished);
    // Last byte arrives at S/B + latency; its ack returns one more latency later.
    const double expect_ns = size / 100.0 + 1000.0 + 1000.0;
    EXPECT_NEAR(ps_to_ns(e.replayers()[0]->stats().finish_ps) / expect_ns, 1.0, 0.01);
}

TEST(Engine, TwoFlowsIntoOneLinkShareItEqually) {
    // GPUs 0 and 1 both write to GPU 2 through a switch (node 3): the switch->2 link is shared.
    NetworkSpec n = three_gpus_on_a_switch();
    n.memory.bw_gbps = 10000;
    const uint64_t size = 16ull << 20;
    std::vector<ProfileOp> w = {op(OpKind::Write, 0, 2, size)};
    std::vector<GpuProgram> progs;
    progs.push_back(GpuProgram::build(0, 3, w.data(), 1, {}));
    progs.push_back(GpuProgram::build(1, 3, w.data(), 1, {}));
    EngineConfig cfg;
    cfg.series = false;
    Engine e(n, cfg, std::move(progs));
    ASSERT_TRUE(e.run().finished);
    const double alone_ns = size / 100.0;
    for (int g = 0; g < 2; ++g) {
        const double t = ps_to_ns(e.replayers()[g]->stats().finish_ps);
        EXPECT_NEAR(t / (2 * alone_ns), 1.0, 0.02) << "gpu " << g;
    }
}

TEST(Engine, DeadlockIsReportedNotHung) {
    std::vector<ProfileOp> g0 = {op(OpKind::Wait, 0, -1, 0, 1, 1)};
    std::vector<ProfileOp> g1 = {op(OpKind::Wait, 0, -1, 0, 1, 1)};
    for (SyncMode mode : {SyncMode::Polling, SyncMode::SyncMon}) {
        std::vector<GpuProgram> progs;
        progs.push_back(GpuProgram::build(0, 2, g0.data(), 1, {}));
        progs.push_back(GpuProgram::build(1, 2, g1.data(), 1, {}));
        EngineConfig cfg;
        cfg.replay.sync = mode;
        Engine e(two_gpus(100, 100), cfg, std::move(progs));
        EngineOutcome out = e.run();
        EXPECT_TRUE(out.deadlock);
        ASSERT_EQ(out.stuck.size(), 2u);
        EXPECT_EQ(out.stuck[1].gpu, 1u);
        EXPECT_EQ(out.stuck[1].flag, 1);
        EXPECT_EQ(out.stuck[1].awaited, 1);
    }
}

TEST(Engine, SmallBuffersBackPressureWithoutLosingBytes) {
    const uint64_t size = 1ull << 20;
    std::vector<ProfileOp> g0 = {op(OpKind::Write, 0, 1, size), op(OpKind::Signal, 0, 1, 0, 0, 1)};
    std::vector<ProfileOp> g1 = {op(OpKind::Wait, 0, -1, 0, 0, 1)};
    NetworkSpec n = two_gpus(100, 1000);
    n.buffer_bytes = 4096;  // one packet in flight per hop: latency-bound
    std::vector<GpuProgram> progs;
    progs.push_back(GpuProgram::build(0, 2, g0.data(), 2, {}));
    progs.push_back(GpuProgram::build(1, 2, g1.data(), 1, {}));
    EngineConfig cfg;
    Engine e(n, cfg, std::move(progs));
    ASSERT_TRUE(e.run().finished);
    EXPECT_EQ(e.channel_bytes()[0], size + 8);
    // 256 packets, each waiting a credit round trip (2 us): far slower than bandwidth allows.
    EXPECT_GT(ps_to_ns(e.replayers()[1]->stats().finish_ps), 256 * 2000.0);
}

TEST(Engine, MulticastWriteReachesEveryGpuAndIsAcknowledgedOnce) {
    // Three GPUs on a switch (node 3); GPU 0 multicasts 1 MiB, then multicast-signals flag 0.
    NetworkSpec n = three_gpus_on_a_switch();
    const uint64_t size = 1ull << 20;
    std::vector<ProfileOp> g0 = {op(OpKind::Write, 0, kMulticastPeer, size),
                                 op(OpKind::Signal, 0, kMulticastPeer, 0, 0, 1)};
    std::vector<ProfileOp> wait = {op(OpKind::Wait, 0, -1, 0, 0, 1)};
    std::vector<GpuProgram> progs;
    progs.push_back(GpuProgram::build(0, 3, g0.data(), g0.size(), {}));
    progs.push_back(GpuProgram::build(1, 3, wait.data(), 1, {}));
    progs.push_back(GpuProgram::build(2, 3, wait.data(), 1, {}));
    EngineConfig cfg;
    cfg.series = false;
    Engine e(n, cfg, std::move(progs));
    ASSERT_TRUE(e.run().finished);
    EXPECT_EQ(e.channel_bytes()[0], size + 8);  // up from GPU 0 once
    for (int g = 0; g < 3; ++g) EXPECT_EQ(e.channel_bytes()[2 * g + 1], size + 8) << "down to " << g;
    EXPECT_EQ(e.replayers()[0]->stats().write_latency.count(), size / 4096);  // one ack per packet
}

TEST(FlagMemory, FullTableRefusesAndChangeWakeWakesEveryWatcher) {
    FlagMemory m;
    m.configure_watch_table(2, WakeOn::Change);
    std::vector<Watcher> woken;
    EXPECT_EQ(m.watch(1, {0, 0, 3}), WatchResult::Registered);
    EXPECT_EQ(m.watch(2, {0, 1, 1}), WatchResult::Registered);
    EXPECT_EQ(m.watch(1, {0, 2, 3}), WatchResult::Full);
    EXPECT_EQ(m.watch_stats().overflows, 1u);
    EXPECT_EQ(m.watch_stats().peak_entries, 2u);
    m.add(1, 1, 10, woken);  // short of 3, but it changed: the watcher is woken
    ASSERT_EQ(woken.size(), 1u);
    EXPECT_EQ(woken[0].stream, 0u);
    EXPECT_EQ(m.watches_pending(), 1u);
    EXPECT_EQ(m.watch(1, {0, 2, 3}), WatchResult::Registered);  // the freed entry is reusable
}

TEST(GpuMemory, AddressesInterleaveOverChannels) {
    MemorySpec spec;
    spec.bw_gbps = 400.0;  // 4 channels x 100 GB/s
    spec.latency_ns = 10.0;
    spec.channels = 4;
    spec.interleave_bytes = 256;
    check_memory_spec(spec);
    GpuMemory m(spec);
    EXPECT_EQ(m.channel_of(0), 0u);
    EXPECT_EQ(m.channel_of(255), 0u);
    EXPECT_EQ(m.channel_of(256), 1u);
    EXPECT_EQ(m.channel_of(1024), 0u);
    spec.flag_stride_bytes = 8;
    EXPECT_EQ(m.channel_of(spec.flag_address(0)), 0u);
    EXPECT_EQ(m.channel_of(spec.flag_address(32)), 1u);  // 32 x 8 B = one granule further
    spec.channels = 80;  // not a power of two: the window still starts on channel 0
    EXPECT_EQ(GpuMemory(spec).channel_of(spec.flag_address(0)), 0u);
    spec.channels = 4;
    // Two 64-byte reads of one channel queue; a read of another channel does not.
    EXPECT_EQ(m.access(0, 64, 0).done, 640u + 10'000u);
    EXPECT_EQ(m.access(64, 64, 0).done, 1280u + 10'000u);
    EXPECT_EQ(m.access(256, 64, 0).done, 640u + 10'000u);
    // 4 KiB over 4 channels: 1 KiB each, in parallel.
    GpuMemory fresh(spec);
    EXPECT_EQ(fresh.access(0, 4096, 0).done, 10'240u + 10'000u);
    for (uint32_t c = 0; c < 4; ++c) EXPECT_EQ(fresh.channel_bytes(c), 1024u);
    spec.interleave_bytes = 100;
    EXPECT_THROW(check_memory_spec(spec), std::invalid_argument);
}

TEST(Replayer, RefusedWaiterPollsWithDoublingBackoff) {
    RecordingHost host;
    ReplayConfig cfg;
    cfg.sync = SyncMode::SyncMon;
    cfg.poll_interval_ps = 1000;
    cfg.poll_backoff_max_ps = 4000;
    std::vector<ProfileOp> ops = {op(OpKind::Wait, 0, -1, 0, 2, 1)};
    GpuReplayer r(program(ops), 2, cfg, host);
    r.start(0);
    ASSERT_EQ(host.sent.size(), 1u);
    r.refused(host.sent[0], 100);
    ASSERT_EQ(host.resumes.size(), 1u);
    EXPECT_EQ(host.resumes[0].second, 1100u);  // first fallback poll one interval later
    Tick t = 1100;
    for (Tick gap : {2000u, 4000u, 4000u}) {  // doubles, then stays at the cap
        r.resume(0, t);
        ASSERT_EQ(host.sent.back().kind, ReqKind::Poll);
        r.complete(host.sent.back(), t + 50, 0);
        EXPECT_EQ(host.resumes.back().second, t + 50 + gap);
        t += 50 + gap;
    }
    EXPECT_EQ(r.stats().refusals, 1u);
    EXPECT_EQ(r.stats().fallback_polls, 3u);
}

TEST(Replayer, ChangeWakeRereadsAndCountsSpuriousWakeups) {
    RecordingHost host;
    ReplayConfig cfg;
    cfg.sync = SyncMode::SyncMon;
    cfg.syncmon_wake = WakeOn::Change;
    std::vector<ProfileOp> ops = {op(OpKind::Wait, 0, -1, 0, 2, 2)};
    GpuReplayer r(program(ops), 2, cfg, host);
    r.start(0);
    r.complete(host.sent[0], 100, 0);  // woken: the flag changed
    ASSERT_EQ(host.sent.back().kind, ReqKind::Poll);
    r.complete(host.sent.back(), 200, 1);  // still short: spurious, register again
    EXPECT_EQ(host.sent.back().kind, ReqKind::Watch);
    EXPECT_EQ(r.stats().spurious_wakeups, 1u);
    r.complete(host.sent.back(), 300, 0);
    r.complete(host.sent.back(), 400, 2);
    EXPECT_TRUE(host.done);
    EXPECT_EQ(r.stats().registrations_sent, 2u);
}

TEST(Engine, RemotePollsCrossTheLinkAndFindTheFlagAtItsHome) {
    // GPU 1 waits on flag 0 in GPU 0's memory; GPU 0 computes 10 us, then signals itself.
    std::vector<ProfileOp> g0 = {op(OpKind::Compute, 0, -1, 0, -1, 0, 10'000), op(OpKind::Signal, 0, 0, 0, 0, 1)};
    std::vector<ProfileOp> g1 = {op(OpKind::Wait, 0, 0, 0, 0, 1)};
    for (SyncMode mode : {SyncMode::Polling, SyncMode::SyncMon}) {
        std::vector<GpuProgram> progs;
        progs.push_back(GpuProgram::build(0, 2, g0.data(), g0.size(), {}));
        progs.push_back(GpuProgram::build(1, 2, g1.data(), g1.size(), {}));
        EngineConfig cfg;
        cfg.series = false;
        cfg.replay.sync = mode;
        Engine e(two_gpus(100.0, 500.0), cfg, std::move(progs));
        ASSERT_TRUE(e.run().finished);
        const ReplayStats& s = e.replayers()[1]->stats();
        if (mode == SyncMode::Polling) {
            EXPECT_GT(s.polling_reads_remote, 5u);
            EXPECT_EQ(s.polling_reads_remote, s.polling_reads);
            EXPECT_EQ(e.channel_bytes()[0], 64u * s.polling_reads);  // replies 0 -> 1
        } else {
            EXPECT_EQ(s.polling_reads, 0u);
            EXPECT_EQ(e.channel_bytes()[1], 16u);  // one registration 1 -> 0
            EXPECT_EQ(e.channel_bytes()[0], 8u);   // one notification 0 -> 1
        }
        EXPECT_GT(ps_to_ns(s.finish_ps), 10'000.0 + 500.0);
    }
}

TEST(Engine, PollsOnTheDataChannelDelayTheData) {
    // GPU 1 has 64 streams polling flags 0..63 (contiguous 8-byte flags: one 256-byte granule =
    // channel 0 of 16) while GPU 0 writes 256 KiB that land on every channel, then signals.
    auto finish = [](uint32_t stride) {
        const uint64_t size = 256ull << 10;
        std::vector<ProfileOp> g0 = {op(OpKind::Write, 0, 1, size), op(OpKind::Signal, 0, 1, 0, 100, 1)};
        std::vector<ProfileOp> g1;
        for (uint32_t s = 0; s < 64; ++s) g1.push_back(op(OpKind::Wait, s, -1, 0, 100, 1));
        NetworkSpec n = two_gpus(1000.0, 100.0);
        n.memory.bw_gbps = 160.0;  // 16 channels x 10 GB/s
        n.memory.latency_ns = 100.0;
        n.memory.channels = 16;
        n.memory.flag_stride_bytes = stride;
        std::vector<GpuProgram> progs;
        progs.push_back(GpuProgram::build(0, 2, g0.data(), g0.size(), {}));
        progs.push_back(GpuProgram::build(1, 2, g1.data(), g1.size(), {}));
        EngineConfig cfg;
        cfg.series = false;
        cfg.replay.poll_interval_ps = 10'000;
        Engine e(n, cfg, std::move(progs));
        EXPECT_TRUE(e.run().finished);
        return ps_to_ns(e.replayers()[0]->stats().finish_ps);
    };
    // All 64 waiters spin on flag 100 (one line, one channel): channel 100*8/256 % 16 = 3.
    const double hot = finish(8);
    const double alone = (256.0 * 1024) / 160.0;  // the write alone, memory-bound
    EXPECT_GT(hot, 1.2 * alone);
}

// --- Checkpoint state (state_words.hh): every component saved mid-run and loaded into a fresh
// one behaves from then on exactly as the original does.

namespace {

template <typename T>
std::vector<uint64_t> saved(const T& component) {
    StateOut out;
    component.save(out);
    return out.words();
}

template <typename T>
void load_all(T& component, const std::vector<uint64_t>& words) {
    StateIn in(words, "test");
    component.load(in);
    in.finish();
}

bool same_request(const Request& a, const Request& b) {
    return a.kind == b.kind && a.gpu == b.gpu && a.stream == b.stream && a.peer == b.peer && a.addr == b.addr &&
           a.bytes == b.bytes && a.flag == b.flag && a.value == b.value && a.issued == b.issued;
}

}  // namespace

TEST(Checkpoint, ReplayerRestoredMidRunContinuesIdentically) {
    ReplayConfig cfg;
    cfg.sync = SyncMode::SyncMon;
    cfg.packet_bytes = 1000;
    cfg.max_outstanding = 2;
    cfg.trace = true;
    // Stream 0: a throttled write, a fenced signal, a wait, a compute. Stream 1: compute, read.
    std::vector<ProfileOp> ops = {op(OpKind::Write, 0, 1, 3500), op(OpKind::Signal, 0, 1, 0, 4, 1),
                                  op(OpKind::Wait, 0, -1, 0, 2, 1), op(OpKind::Compute, 0, -1, 0, -1, 0, 5),
                                  op(OpKind::Compute, 1, -1, 0, -1, 0, 7), op(OpKind::Read, 1, 1, 2000)};
    RecordingHost host_a;
    GpuReplayer a(program(ops), 2, cfg, host_a);
    a.start(0);
    a.complete(host_a.sent[0], 100, 0);  // mid-write: two packets out, one more to go
    host_a.refuse = true;
    a.resume(1, 7000);  // stream 1's compute ends while the host refuses: blocked
    const std::vector<uint64_t> words = saved(a);
    const std::vector<Request> outstanding(host_a.sent.begin() + 1, host_a.sent.end());

    RecordingHost host_b;
    GpuReplayer b(program(ops), 2, cfg, host_b);
    load_all(b, words);
    EXPECT_EQ(saved(b), words);
    // Drive both the same way from here: answer what was outstanding at the save, then each
    // request as it is sent (the first registration is dropped and must be re-sent).
    host_a.refuse = false;
    const size_t before = host_a.sent.size();
    auto drive = [&outstanding](GpuReplayer& r, RecordingHost& h, size_t first_new) {
        r.retry(8000);
        std::vector<Request> todo = outstanding;
        size_t seen = first_new;
        bool rearmed = false;
        for (size_t i = 0; i < 60; ++i) {
            while (seen < h.sent.size()) todo.push_back(h.sent[seen++]);
            if (i >= todo.size()) break;
            const Request req = todo[i];
            if (req.kind == ReqKind::Watch && !rearmed) {
                rearmed = true;
                r.rearm(req, 9000 + 10 * i);
            } else {
                r.complete(req, 9000 + 10 * i, req.value);
            }
        }
    };
    drive(a, host_a, before);
    drive(b, host_b, 0);
    const std::vector<Request> after_a(host_a.sent.begin() + static_cast<long>(before), host_a.sent.end());
    ASSERT_EQ(after_a.size(), host_b.sent.size());
    for (size_t i = 0; i < after_a.size(); ++i) EXPECT_TRUE(same_request(after_a[i], host_b.sent[i])) << i;
    EXPECT_EQ(saved(a), saved(b));
    EXPECT_EQ(a.stats().registrations_sent, 2u);  // the dropped registration was sent again
    EXPECT_EQ(a.stats().bytes_read, 2000u);       // the blocked read went out after the restore
}

TEST(Checkpoint, FlagMemoryKeepsHistoryAndWatchTable) {
    FlagMemory a;
    a.configure_watch_table(4, WakeOn::Match);
    std::vector<Watcher> woken;
    a.add(3, 1, 100, woken);
    a.add(-7, 2, 150, woken);  // a sparse (negative) id
    a.add(3, 1, 250, woken);
    EXPECT_EQ(a.watch(3, {1, 2, 5}), WatchResult::Registered);
    FlagMemory b;
    b.configure_watch_table(4, WakeOn::Match);
    load_all(b, saved(a));
    EXPECT_EQ(b.value_at(3, 200), 1);
    EXPECT_EQ(b.value(-7), 2);
    EXPECT_EQ(b.satisfied_at(3, 2), 250u);
    EXPECT_EQ(b.watches_pending(), 1u);
    for (FlagMemory* m : {&a, &b}) m->add(3, 3, 400, woken);
    ASSERT_EQ(woken.size(), 2u);  // the one watcher, woken in each
    EXPECT_EQ(woken[0].stream, woken[1].stream);
    EXPECT_EQ(saved(a), saved(b));
    std::vector<std::pair<int32_t, Watcher>> released;
    EXPECT_EQ(b.watch(9, {0, 1, 1}), WatchResult::Registered);
    b.release_watches(released);
    ASSERT_EQ(released.size(), 1u);
    EXPECT_EQ(released[0].first, 9);
    EXPECT_EQ(b.watches_pending(), 0u);
}

TEST(Checkpoint, TimingSeriesAndHistogramsRoundTrip) {
    MemorySpec spec;
    spec.channels = 4;
    GpuMemory m(spec);
    m.access(0, 4096, 0);
    GpuMemory m2(spec);
    load_all(m2, saved(m));
    EXPECT_EQ(m.access(512, 64, 10).done, m2.access(512, 64, 10).done);
    EXPECT_EQ(m.channel_bytes(2), m2.channel_bytes(2));

    BinnedSeries s(2, 4, 10), s2(2, 4, 10);
    s.add_span(1, 0, 95, 950);  // rebinned twice on the way
    load_all(s2, saved(s));
    EXPECT_EQ(s2.bin_ps(), s.bin_ps());
    for (BinnedSeries* x : {&s, &s2}) x->add(0, 300, 3);
    EXPECT_EQ(saved(s), saved(s2));

    LatencyHist h, h2;
    for (Tick v : {5u, 700u, 90'000u}) h.add(v);
    load_all(h2, saved(h));
    EXPECT_EQ(h2.count(), 3u);
    EXPECT_EQ(h2.min_ps(), 5u);
    EXPECT_EQ(h2.max_ps(), 90'000u);
    EXPECT_DOUBLE_EQ(h2.mean_ps(), h.mean_ps());
    EXPECT_DOUBLE_EQ(h2.quantile_ps(0.5), h.quantile_ps(0.5));
}

TEST(Checkpoint, StateOfAnotherSetupIsRefused) {
    MemorySpec four;
    four.channels = 4;
    const std::vector<uint64_t> words = saved(GpuMemory(four));
    GpuMemory two(MemorySpec{});
    StateIn in(words, "gpu 0 memory");
    try {
        two.load(in);
        FAIL() << "a checkpoint of 4 channels loaded into 1";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "checkpoint state of gpu 0 memory was saved with memory channels 4, this run has 1");
    }
    std::vector<uint64_t> cut(words.begin(), words.begin() + 2);
    GpuMemory again(four);
    StateIn short_in(cut, "gpu 0 memory");
    EXPECT_THROW(again.load(short_in), std::runtime_error);
    std::vector<uint64_t> longer = words;
    longer.push_back(1);
    StateIn long_in(longer, "x");
    GpuMemory third(four);
    third.load(long_in);
    EXPECT_THROW(long_in.finish(), std::runtime_error);
}

TEST(Checkpoint, CorruptStateIsRefusedNotTrusted) {
    FlagMemory m;
    std::vector<Watcher> woken;
    m.add(2, 1, 100, woken);
    std::vector<uint64_t> words = saved(m);
    // dense_ holds flags 0..2 (3 words each) after the count: flag 2's `first` is word 1 + 6 + 1.
    words[8] = 7;  // an update that the log does not have
    FlagMemory broken;
    StateIn in(words, "gpu 1 flags");
    EXPECT_THROW(broken.load(in), std::runtime_error);

    BinnedSeries s(1, 4, 10);
    std::vector<uint64_t> sw = saved(s);
    sw[3] = (uint64_t(1) << 32) + 1;  // bins used: past max_bins once read as 64 bits
    BinnedSeries s2(1, 4, 10);
    StateIn sin(sw, "series");
    EXPECT_THROW(s2.load(sin), std::runtime_error);
}
