#include "core/replay/replayer.hh"

#include <algorithm>

namespace eidola {

GpuReplayer::GpuReplayer(GpuProgram program, uint32_t num_gpus, const ReplayConfig& cfg,
                         ReplayHost& host)
    : program_(std::move(program)), num_gpus_(num_gpus), cfg_(cfg), host_(host) {
    if (cfg_.packet_bytes == 0) cfg_.packet_bytes = 1;
    if (cfg_.max_outstanding == 0 && cfg_.max_outstanding_bytes == 0) cfg_.max_outstanding = 1;
    streams_.resize(program_.streams.size());
    for (size_t i = 0; i < streams_.size(); ++i) {
        streams_[i].cur = program_.streams[i].begin;
        streams_[i].end = program_.streams[i].end;
    }
}

void GpuReplayer::start(Tick now) {
    if (streams_.empty()) {
        stats_.finish_ps = now;
        host_.gpu_done(program_.gpu, now);
        return;
    }
    for (uint32_t s = 0; s < streams_.size(); ++s) advance(s, now);
}

void GpuReplayer::block(Stream& st, State state, Tick now) {
    st.state = state;
    if (st.blocked_since == kMaxTick) st.blocked_since = now;
}

void GpuReplayer::record(uint32_t s, size_t op, Tick start, Tick end) {
    if (cfg_.trace)
        trace_.push_back({s, static_cast<uint32_t>(op), program_.ops[op].kind(), start, end});
}

bool GpuReplayer::issue_poll(uint32_t s, Stream& st, const ReplayOp& op, Tick now) {
    const uint32_t home = home_of(op);
    Request req{ReqKind::Poll, program_.gpu, s, home, 0, cfg_.poll_bytes, op.flag, op.value(), now};
    if (!host_.send(req, now)) return false;
    st.last_poll = now;
    ++stats_.polling_reads;
    if (home != program_.gpu) ++stats_.polling_reads_remote;
    if (st.fallback) ++stats_.fallback_polls;
    if (st.recheck) ++stats_.recheck_polls;
    block(st, State::Polling, now);
    return true;
}

bool GpuReplayer::issue_watch(uint32_t s, Stream& st, const ReplayOp& op, Tick now) {
    Request req{ReqKind::Watch, program_.gpu, s, home_of(op), 0, 0, op.flag, op.value(), now};
    if (!host_.send(req, now)) return false;
    ++stats_.registrations_sent;
    block(st, State::Watching, now);
    return true;
}

// The flag was short: poll again `gap` after the start of the last poll (polling) or after now
// (fallback back-off), or at once when that time has passed.
void GpuReplayer::poll_again(uint32_t s, Stream& st, Tick next, Tick now) {
    if (next > now) {
        st.state = State::PollSleep;
        host_.schedule_resume(program_.gpu, s, next, true);
    } else if (!issue_poll(s, st, program_.ops[st.cur], now)) {
        st.state = State::HostBlocked;
        host_blocked_.push_back(s);
    }
}

void GpuReplayer::advance(uint32_t s, Tick now) {
    Stream& st = streams_[s];
    for (;;) {
        if (st.cur == st.end) {
            if (st.outstanding > 0) {
                block(st, State::Draining, now);
                return;
            }
            if (st.blocked_since != kMaxTick) stats_.stall_ps += now - st.blocked_since;
            st.blocked_since = kMaxTick;
            st.state = State::Done;
            if (++streams_done_ == streams_.size()) {
                stats_.finish_ps = now;
                host_.gpu_done(program_.gpu, now);
            }
            return;
        }
        const ReplayOp& op = program_.ops[st.cur];
        if (cfg_.mode == ReplayMode::Timed && !st.in_transfer && !st.waiting &&
            program_.start_of(st.cur) > now) {
            st.state = State::Timed;
            host_.schedule_resume(program_.gpu, s, program_.start_of(st.cur), false);
            return;
        }
        switch (op.kind()) {
        case OpKind::Compute:
            if (st.blocked_since != kMaxTick) stats_.stall_ps += now - st.blocked_since;
            st.blocked_since = kMaxTick;
            record(s, st.cur, now, now + op.dur_ps());
            ++st.cur;
            if (op.dur_ps() == 0) continue;
            st.state = State::Computing;
            host_.schedule_resume(program_.gpu, s, now + op.dur_ps(), false);
            return;

        case OpKind::Write:
        case OpKind::Read: {
            const bool is_write = op.kind() == OpKind::Write;
            if (!st.in_transfer) {
                st.in_transfer = true;
                st.left = op.bytes();
                st.offset = 0;
                st.op_start = now;
            }
            while (st.left > 0) {
                const uint32_t chunk =
                    static_cast<uint32_t>(std::min<uint64_t>(st.left, cfg_.packet_bytes));
                const bool count_full = cfg_.max_outstanding && st.outstanding >= cfg_.max_outstanding;
                const bool bytes_full = cfg_.max_outstanding_bytes && st.outstanding > 0 &&
                                        st.outstanding_bytes + chunk > cfg_.max_outstanding_bytes;
                if (count_full || bytes_full) {
                    block(st, State::Throttled, now);
                    return;
                }
                Request req{is_write ? ReqKind::Write : ReqKind::Read, program_.gpu, s,
                            static_cast<uint32_t>(op.peer), op.addr() + st.offset, chunk, -1, 0, now};
                if (!host_.send(req, now)) {
                    block(st, State::HostBlocked, now);
                    host_blocked_.push_back(s);
                    return;
                }
                ++st.outstanding;
                st.outstanding_bytes += chunk;
                ++stats_.packets;
                ReplayStats::PeerTraffic& peer = traffic_to(static_cast<uint32_t>(op.peer));
                ++peer.packets;
                if (is_write) {
                    stats_.bytes_written += chunk;
                    peer.bytes += chunk;
                } else {
                    stats_.bytes_read += chunk;
                    ++st.reads_pending;
                }
                st.left -= chunk;
                st.offset += chunk;
            }
            if (!is_write && st.reads_pending > 0) {  // a read completes when its data is back
                block(st, State::ReadWait, now);
                return;
            }
            if (st.blocked_since != kMaxTick) stats_.stall_ps += now - st.blocked_since;
            st.blocked_since = kMaxTick;
            record(s, st.cur, st.op_start, now);
            st.in_transfer = false;
            ++st.cur;
            continue;
        }

        case OpKind::Signal:
        case OpKind::SignalNbi: {
            // release: earlier writes must be acknowledged first; nbi: ordered, no fence
            if (op.kind() == OpKind::Signal && st.outstanding > 0) {
                block(st, State::Fence, now);
                return;
            }
            Request req{ReqKind::Signal, program_.gpu, s, static_cast<uint32_t>(op.peer), 0, 8,
                        op.flag, op.value(), now};
            if (!host_.send(req, now)) {
                block(st, State::HostBlocked, now);
                host_blocked_.push_back(s);
                return;
            }
            if (st.blocked_since != kMaxTick) stats_.stall_ps += now - st.blocked_since;
            st.blocked_since = kMaxTick;
            ++st.outstanding;
            ++stats_.packets;
            ++stats_.signals;
            ++traffic_to(static_cast<uint32_t>(op.peer)).packets;
            record(s, st.cur, now, now);
            ++st.cur;
            continue;
        }

        case OpKind::Wait: {
            if (!st.waiting) {
                st.waiting = true;
                st.wait_begin = now;
                st.fallback = st.recheck = false;
            }
            const bool poll = cfg_.sync == SyncMode::Polling || st.fallback || st.recheck;
            if (!(poll ? issue_poll(s, st, op, now) : issue_watch(s, st, op, now))) {
                block(st, State::HostBlocked, now);
                host_blocked_.push_back(s);
            }
            return;
        }
        }
    }
}

void GpuReplayer::finish_wait(uint32_t s, Stream& st, const ReplayOp& op, Tick now) {
    const Tick sat = host_.flag_satisfied_at(home_of(op), op.flag, op.value());
    const Tick from = std::max(sat == kMaxTick ? now : sat, st.wait_begin);
    stats_.wakeup_latency.add(now >= from ? now - from : 0);
    ++stats_.waits;
    record(s, st.cur, st.wait_begin, now);
    st.waiting = st.fallback = st.recheck = false;
    ++st.cur;
    if (st.blocked_since != kMaxTick) stats_.stall_ps += now - st.blocked_since;
    st.blocked_since = kMaxTick;
    st.state = State::Ready;
    advance(s, now);
}

void GpuReplayer::resume(uint32_t s, Tick now) {
    Stream& st = streams_[s];
    switch (st.state) {
    case State::Computing:
    case State::Timed:
        st.state = State::Ready;
        advance(s, now);
        return;
    case State::PollSleep:
        if (!issue_poll(s, st, program_.ops[st.cur], now)) {
            st.state = State::HostBlocked;
            host_blocked_.push_back(s);
        }
        return;
    default:
        return;  // a stale resume (the stream moved on): ignore
    }
}

void GpuReplayer::complete(const Request& req, Tick now, int64_t observed) {
    Stream& st = streams_[req.stream];
    switch (req.kind) {
    case ReqKind::Write:
        stats_.write_latency.add(now - req.issued);
        --st.outstanding;
        st.outstanding_bytes -= req.bytes;
        break;
    case ReqKind::Signal:
        --st.outstanding;
        break;
    case ReqKind::Read:
        --st.outstanding;
        st.outstanding_bytes -= req.bytes;
        --st.reads_pending;
        break;
    case ReqKind::Poll: {
        const ReplayOp& op = program_.ops[st.cur];
        if (observed >= op.value()) {
            finish_wait(req.stream, st, op, now);
            return;
        }
        if (st.recheck) {  // woken on a change that did not reach the value: register again
            ++stats_.spurious_wakeups;
            st.recheck = false;
            if (!issue_watch(req.stream, st, op, now)) {
                st.state = State::HostBlocked;
                host_blocked_.push_back(req.stream);
            }
            return;
        }
        if (st.fallback) {
            const Tick gap = st.backoff;
            st.backoff = std::min(backoff_cap(), 2 * st.backoff);
            poll_again(req.stream, st, now + gap, now);
        } else {
            poll_again(req.stream, st, std::max(now, st.last_poll + cfg_.poll_interval_ps), now);
        }
        return;
    }
    case ReqKind::Watch:
        ++stats_.notifications;
        if (cfg_.syncmon_wake == WakeOn::Change) {  // the monitor saw a change: re-read the flag
            st.recheck = true;
            poll_again(req.stream, st, now, now);
            return;
        }
        finish_wait(req.stream, st, program_.ops[st.cur], now);
        return;
    }
    switch (st.state) {
    case State::Throttled:
    case State::Fence:
    case State::Draining:
    case State::ReadWait:
        if (st.state == State::ReadWait && st.reads_pending > 0) return;
        if (st.state == State::Fence && st.outstanding > 0) return;
        if (st.state == State::Draining && st.outstanding > 0) return;
        st.state = State::Ready;
        advance(req.stream, now);
        return;
    default:
        return;
    }
}

void GpuReplayer::refused(const Request& req, Tick now) {
    Stream& st = streams_[req.stream];
    ++stats_.refusals;
    st.fallback = true;
    st.backoff = std::max<Tick>(cfg_.poll_interval_ps, 1);
    // The registration found the flag short; the first fallback poll comes one back-off later.
    const Tick gap = st.backoff;
    st.backoff = std::min(backoff_cap(), 2 * st.backoff);
    poll_again(req.stream, st, now + gap, now);
}

void GpuReplayer::retry(Tick now) {
    size_t n = host_blocked_.size();
    while (n-- > 0 && !host_blocked_.empty()) {
        const uint32_t s = host_blocked_.front();
        host_blocked_.pop_front();
        Stream& st = streams_[s];
        if (st.state != State::HostBlocked) continue;
        st.state = State::Ready;
        advance(s, now);
        if (st.state == State::HostBlocked) return;  // refused again: keep the rest queued
    }
}

bool GpuReplayer::only_waiting() const {
    for (const Stream& st : streams_)
        if (st.state != State::Done && !st.waiting) return false;
    return true;
}

void GpuReplayer::stuck_waits(std::vector<StuckWait>& out) const {
    for (uint32_t s = 0; s < streams_.size(); ++s) {
        const Stream& st = streams_[s];
        if (st.state == State::Done || !st.waiting) continue;
        const ReplayOp& op = program_.ops[st.cur];
        out.push_back({program_.gpu, program_.streams[s].id, home_of(op), op.flag, op.value()});
    }
}

void GpuReplayer::rearm(const Request& req, Tick now) {
    Stream& st = streams_[req.stream];
    if (st.state != State::Watching) return;  // the stream moved on (cannot happen today)
    st.state = State::Ready;
    advance(req.stream, now);  // still `waiting` on the same op: registers again
}

void GpuReplayer::save(StateOut& out) const {
    out.u64(program_.gpu);
    out.u64(program_.ops.size());
    out.u64(streams_.size());
    for (const Stream& st : streams_) {
        out.u64(st.cur);
        out.u64(st.end);
        out.u64(st.left);
        out.u64(st.offset);
        out.u64(st.outstanding);
        out.u64(st.outstanding_bytes);
        out.u64(st.reads_pending);
        out.flag(st.in_transfer);
        out.flag(st.waiting);
        out.flag(st.fallback);
        out.flag(st.recheck);
        out.u64(st.backoff);
        out.u64(static_cast<uint64_t>(st.state));
        out.u64(st.op_start);
        out.u64(st.wait_begin);
        out.u64(st.last_poll);
        out.u64(st.blocked_since);
    }
    out.u64(host_blocked_.size());
    for (uint32_t s : host_blocked_) out.u64(s);
    out.u64(streams_done_);
    const ReplayStats& t = stats_;
    for (uint64_t v : {t.bytes_written, t.bytes_read, t.packets, t.signals, t.polling_reads,
                       t.polling_reads_remote, t.fallback_polls, t.recheck_polls, t.notifications,
                       t.registrations_sent, t.refusals, t.spurious_wakeups, t.waits, t.stall_ps, t.finish_ps})
        out.u64(v);
    std::vector<uint32_t> peers;
    for (const auto& kv : t.to_peer) peers.push_back(kv.first);
    std::sort(peers.begin(), peers.end());
    out.u64(peers.size());
    for (uint32_t p : peers) {
        out.u64(p);
        out.u64(t.to_peer.at(p).bytes);
        out.u64(t.to_peer.at(p).packets);
    }
    t.write_latency.save(out);
    t.wakeup_latency.save(out);
    out.u64(trace_.size());
    for (const TraceRecord& r : trace_) {
        out.u64(r.stream);
        out.u64(r.op);
        out.u64(static_cast<uint64_t>(r.kind));
        out.u64(r.start);
        out.u64(r.end);
    }
}

void GpuReplayer::load(StateIn& in) {
    in.expect(program_.gpu, "gpu id");
    in.expect(program_.ops.size(), "ops on this GPU");
    in.expect(streams_.size(), "streams on this GPU");
    for (size_t i = 0; i < streams_.size(); ++i) {
        Stream& st = streams_[i];
        st.cur = in.u64();
        st.end = in.u64();
        if (st.cur < program_.streams[i].begin || st.cur > st.end || st.end != program_.streams[i].end)
            in.fail("has a stream position outside its stream");
        st.left = in.u64();
        st.offset = in.u64();
        const uint64_t outstanding = in.u64();
        st.outstanding_bytes = in.u64();
        const uint64_t reads_pending = in.u64();
        if (outstanding > UINT32_MAX || reads_pending > outstanding)
            in.fail("has impossible outstanding counts");
        st.outstanding = static_cast<uint32_t>(outstanding);
        st.reads_pending = static_cast<uint32_t>(reads_pending);
        st.in_transfer = in.flag();
        st.waiting = in.flag();
        st.fallback = in.flag();
        st.recheck = in.flag();
        st.backoff = in.u64();
        const uint64_t state = in.u64();
        if (state > static_cast<uint64_t>(State::Done)) in.fail("has an unknown stream state");
        st.state = static_cast<State>(state);
        st.op_start = in.u64();
        st.wait_begin = in.u64();
        st.last_poll = in.u64();
        st.blocked_since = in.u64();
    }
    host_blocked_.clear();
    for (size_t n = in.count(); n > 0; --n) {
        const uint64_t s = in.u64();
        if (s >= streams_.size()) in.fail("has a blocked stream that does not exist");
        host_blocked_.push_back(static_cast<uint32_t>(s));
    }
    streams_done_ = static_cast<size_t>(in.u64());
    ReplayStats& t = stats_;
    for (uint64_t* v : {&t.bytes_written, &t.bytes_read, &t.packets, &t.signals, &t.polling_reads,
                        &t.polling_reads_remote, &t.fallback_polls, &t.recheck_polls, &t.notifications,
                        &t.registrations_sent, &t.refusals, &t.spurious_wakeups, &t.waits, &t.stall_ps,
                        &t.finish_ps})
        *v = in.u64();
    t.to_peer.clear();
    last_traffic_ = nullptr;
    for (size_t n = in.count(3); n > 0; --n) {
        const uint32_t p = static_cast<uint32_t>(in.u64());
        ReplayStats::PeerTraffic& traffic = t.to_peer[p];
        traffic.bytes = in.u64();
        traffic.packets = in.u64();
    }
    t.write_latency.load(in);
    t.wakeup_latency.load(in);
    trace_.resize(in.count(5));
    for (TraceRecord& r : trace_) {
        const uint64_t stream = in.u64(), op = in.u64(), kind = in.u64();
        if (stream >= streams_.size() || op >= program_.ops.size() ||
            kind > static_cast<uint64_t>(OpKind::SignalNbi))
            in.fail("has a trace record of an op that does not exist");
        r.stream = static_cast<uint32_t>(stream);
        r.op = static_cast<uint32_t>(op);
        r.kind = static_cast<OpKind>(kind);
        r.start = in.u64();
        r.end = in.u64();
    }
}

}  // namespace eidola
