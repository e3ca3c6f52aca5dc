#include "core/network/net_engine.hh"

#include <algorithm>
#include <cmath>
#include <deque>
#include <stdexcept>

namespace eidola {

Engine::Engine(NetworkSpec net, EngineConfig cfg, std::vector<GpuProgram> programs)
    : net_(std::move(net)), cfg_(cfg) {
    if (net_.num_nodes < net_.num_gpus) throw std::invalid_argument("network: fewer nodes than GPUs");
    if (programs.size() > net_.num_gpus)
        throw std::invalid_argument("profile has " + std::to_string(programs.size()) +
                                    " GPUs but the topology only " + std::to_string(net_.num_gpus));
    check_memory_spec(net_.memory);
    mem_latency_ps_ = ns_to_ps(net_.memory.latency_ns);
    syncmon_latency_ps_ = ns_to_ps(net_.syncmon_latency_ns);
    node_latency_ps_.assign(net_.num_nodes, 0);
    for (size_t i = 0; i < net_.node_latency_ns.size() && i < net_.num_nodes; ++i)
        node_latency_ps_[i] = ns_to_ps(net_.node_latency_ns[i]);

    channels_.reserve(net_.channels.size());
    const uint64_t pkt = std::max<uint32_t>(cfg_.replay.packet_bytes, 64);
    bubble_bytes_ = pkt;
    for (uint32_t c = 0; c < net_.channels.size(); ++c) {
        const ChannelSpec& s = net_.channels[c];
        if (s.src >= net_.num_nodes || s.dst >= net_.num_nodes || s.src == s.dst)
            throw std::invalid_argument("link " + std::to_string(c) + ": bad endpoints");
        if (!(s.bw_gbps > 0)) throw std::invalid_argument("link " + std::to_string(c) + ": bandwidth must be positive");
        if (!(s.latency_ns >= 0)) throw std::invalid_argument("link " + std::to_string(c) + ": negative latency");
        Channel ch;
        ch.timing = LinkTiming(s.bw_gbps, s.latency_ns);
        ch.src = s.src;
        ch.dst = s.dst;
        // Auto buffer: enough to keep the link busy for a credit round trip, twice over.
        const uint64_t auto_bytes = static_cast<uint64_t>(
            2.0 * s.bw_gbps * (2.0 * s.latency_ns + 100.0)) + 4 * pkt;
        ch.ring = s.ring;
        // a ring channel must hold a packet and its bubble, or nothing could ever enter it
        ch.capacity = std::max<uint64_t>(net_.buffer_bytes ? net_.buffer_bytes : auto_bytes,
                                         s.ring >= 0 ? 2 * pkt : pkt);
        ch.credits = ch.capacity;
        channels_.push_back(std::move(ch));
    }
    in_.build(channels_, net_.num_nodes, /*by_destination=*/true);
    out_.build(channels_, net_.num_nodes, /*by_destination=*/false);
    route_.resize(net_.num_nodes);
    mcast_switch_.assign(net_.num_gpus, kNone);
    for (uint32_t c = 0; c < channels_.size(); ++c) {
        const Channel& ch = channels_[c];
        if (ch.src < net_.num_gpus && ch.dst >= net_.num_gpus && mcast_switch_[ch.src] == kNone)
            mcast_switch_[ch.src] = ch.dst;
    }
    mcast_members_.assign(net_.num_nodes, {});
    for (uint32_t g = 0; g < net_.num_gpus; ++g)
        if (mcast_switch_[g] != kNone) mcast_members_[mcast_switch_[g]].push_back(g);
    // One pass over the ops: multicast needs a switch; and each GPU's flag table is sized once
    // for the highest dense flag id signalled to it (directly, or by multicast via its switch).
    std::vector<uint32_t> flag_span(net_.num_nodes, 0);
    for (const GpuProgram& p : programs)
        for (const ReplayOp& op : p.ops) {
            if (op.peer == kMulticastPeer && mcast_switch_[p.gpu] == kNone)
                throw std::invalid_argument("gpu " + std::to_string(p.gpu) +
                                            " uses multicast (peer -2) but is not attached to a switch");
            if (!is_signal(op.kind()) || op.flag < 0 || op.flag >= FlagMemory::kDenseLimit) continue;
            const uint32_t home = op.peer == kMulticastPeer ? mcast_switch_[p.gpu] : static_cast<uint32_t>(op.peer);
            if (home < flag_span.size()) flag_span[home] = std::max<uint32_t>(flag_span[home], op.flag + 1);
        }
    for (uint32_t sw = net_.num_gpus; sw < net_.num_nodes; ++sw)
        for (const uint32_t g : mcast_members_[sw]) flag_span[g] = std::max(flag_span[g], flag_span[sw]);
    flags_.resize(net_.num_gpus);
    for (uint32_t g = 0; g < net_.num_gpus; ++g) flags_[g].presize(flag_span[g]);
    const WakeOn wake = cfg_.replay.syncmon_wake;
    for (FlagMemory& f : flags_) f.configure_watch_table(net_.syncmon_entries, wake);
    mem_.assign(net_.num_gpus, GpuMemory(net_.memory));

    // GPUs the profile does not use stay idle; they still exist in the network.
    for (uint32_t g = static_cast<uint32_t>(programs.size()); g < net_.num_gpus; ++g) {
        GpuProgram idle;
        idle.gpu = g;
        programs.push_back(std::move(idle));
    }
    replayers_.reserve(programs.size());
    for (auto& p : programs)
        replayers_.push_back(std::make_unique<GpuReplayer>(std::move(p), net_.num_gpus, cfg_.replay, *this));

    if (cfg_.series) {  // one series, one bin width: links, then polls, then memory channels
        const uint64_t mem_rows = static_cast<uint64_t>(net_.num_gpus) * net_.memory.channels;
        mem_series_rows_ = mem_rows <= cfg_.max_mem_series_rows ? static_cast<uint32_t>(mem_rows) : 0;
        series_ = BinnedSeries(static_cast<uint32_t>(channels_.size()) + net_.num_gpus + mem_series_rows_,
                               cfg_.max_bins, ns_to_ps(cfg_.time_bin_ns));
    }
    for (GpuMemory& m : mem_) m.keep_shares(mem_series_rows_ != 0);
    channel_bytes_.assign(channels_.size(), 0);
    const uint64_t lanes = uint64_t(channels_.size()) + net_.num_gpus;
    lanes_ = lanes <= EventQueue::kMaxLanes;
    if (lanes_) events_.set_lanes(static_cast<uint32_t>(lanes));
}

void Engine::NodeChannels::build(const HugeVector<Channel>& channels, uint32_t num_nodes,
                                 bool by_destination) {
    const auto node_of = [&](const Channel& ch) { return by_destination ? ch.dst : ch.src; };
    offsets.assign(num_nodes + 1, 0);
    for (const Channel& ch : channels) ++offsets[node_of(ch) + 1];
    for (uint32_t v = 0; v < num_nodes; ++v) offsets[v + 1] += offsets[v];
    channel.resize(channels.size());
    far.resize(channels.size());
    std::vector<uint32_t> fill(offsets.begin(), offsets.end() - 1);
    for (uint32_t c = 0; c < channels.size(); ++c) {  // channel order kept per node
        const uint32_t at = fill[node_of(channels[c])]++;
        channel[at] = c;
        far[at] = by_destination ? channels[c].src : channels[c].dst;
    }
}

uint32_t Engine::alloc_packet() {
    if (!free_packets_.empty()) {
        uint32_t id = free_packets_.back();
        free_packets_.pop_back();
        return id;
    }
    packets_.emplace_back();
    return static_cast<uint32_t>(packets_.size() - 1);
}

void Engine::schedule(Tick when, EventType type, uint32_t a, uint64_t b, bool progress) {
    if (progress) ++progress_events_;
    events_.push(when, type, a, b);
}

void Engine::schedule_arrival(Tick when, EventType type, uint32_t pkt, uint32_t ch, bool progress) {
    if (progress) ++progress_events_;
    if (lanes_)
        events_.push(when, type, pkt, 0, ch);
    else
        events_.push(when, type, pkt, 0);
}

void Engine::schedule_served(Tick when, EventType type, uint32_t pkt, uint32_t gpu, bool progress) {
    if (progress) ++progress_events_;
    if (lanes_)
        events_.push(when, type, pkt, 0, static_cast<uint32_t>(channels_.size()) + gpu);
    else
        events_.push(when, type, pkt, 0);
}

// Breadth-first search towards `dst` over reversed channels, done once per destination the
// run uses: the first channel found wins, so routes are shortest and deterministic.
uint32_t Engine::next_channel(uint32_t node, uint32_t dst, uint64_t flow) {
    if (!net_.ecmp) return first_channel(node, dst);
    const EcmpChoice& c = ecmp_choice(node, dst);
    if (c.count == 1) return ecmp_pool_[c.offset];
    uint64_t h = flow ^ (uint64_t(node) * 0x9E3779B97F4A7C15ull) ^ (uint64_t(dst) << 24) ^ net_.ecmp_seed;
    h ^= h >> 33;  // splitmix64 finaliser: spreads flows evenly over the candidates
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return ecmp_pool_[c.offset + static_cast<uint32_t>(h % c.count)];
}

size_t Engine::ecmp_slot(const HugeVector<EcmpSlot>& table, uint64_t key) {
    const size_t mask = table.size() - 1;
    size_t i = static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
    while (table[i].key != key && table[i].key != EcmpSlot::kEmpty) i = (i + 1) & mask;
    return i;
}

const Engine::EcmpChoice& Engine::ecmp_choice(uint32_t node, uint32_t dst) {
    const uint64_t key = (uint64_t(node) << 32) | dst;
    if (ecmp_memo_.empty()) ecmp_memo_.resize(1024);
    size_t i = ecmp_slot(ecmp_memo_, key);
    if (ecmp_memo_[i].key == key) return ecmp_memo_[i].choice;
    const EcmpChoice choice = ecmp_candidates(node, dst);
    if (2 * (ecmp_memo_used_ + 1) > ecmp_memo_.size()) {  // keep it at most half full
        HugeVector<EcmpSlot> old(ecmp_memo_.size() * 2);
        old.swap(ecmp_memo_);
        for (const EcmpSlot& e : old)
            if (e.key != EcmpSlot::kEmpty) ecmp_memo_[ecmp_slot(ecmp_memo_, e.key)] = e;
        i = ecmp_slot(ecmp_memo_, key);
    }
    ++ecmp_memo_used_;
    ecmp_memo_[i] = EcmpSlot{key, choice};
    return ecmp_memo_[i].choice;
}

// Hop distances to `dst` over reversed channels (a breadth-first search, once per destination
// the run uses); a node's candidates are its out-channels one hop closer, in channel order.
Engine::EcmpChoice Engine::ecmp_candidates(uint32_t node, uint32_t dst) {
    constexpr uint16_t kFar = 0xFFFF;
    if (ecmp_dist_.empty()) ecmp_dist_.resize(net_.num_nodes);
    std::vector<uint16_t>& dist = ecmp_dist_[dst];
    if (dist.empty()) {
        dist.assign(net_.num_nodes, kFar);
        std::deque<uint32_t> frontier{dst};
        dist[dst] = 0;
        while (!frontier.empty()) {
            const uint32_t u = frontier.front();
            frontier.pop_front();
            if (dist[u] + 1 >= kFar)
                throw std::runtime_error("network diameter too large for ECMP routing");
            if (!net_.gpus_forward && u < net_.num_gpus && u != dst)
                continue;  // a GPU is reached, not passed through
            for (uint32_t i = in_.offsets[u]; i < in_.offsets[u + 1]; ++i) {
                const uint32_t v = in_.far[i];
                if (dist[v] != kFar) continue;
                dist[v] = static_cast<uint16_t>(dist[u] + 1);
                frontier.push_back(v);
            }
        }
    }
    const uint32_t lo = out_.offsets[node], hi = out_.offsets[node + 1];
    const uint16_t want = dist[node] - 1;
    const size_t begin = ecmp_pool_.size();
    if (dist[node] != kFar && node != dst)
        for (uint32_t i = lo; i < hi; ++i)
            if (dist[out_.far[i]] == want) ecmp_pool_.push_back(out_.channel[i]);
    const uint32_t count = static_cast<uint32_t>(ecmp_pool_.size() - begin);
    if (count == 0)
        throw std::runtime_error("no route from node " + std::to_string(node) + " to node " +
                                 std::to_string(dst));
    // share a list already stored with the same channels (checked, not trusted to the hash)
    uint64_t h = 0x243F6A8885A308D3ull ^ count;
    for (size_t k = begin; k < ecmp_pool_.size(); ++k)
        h = (h ^ ecmp_pool_[k]) * 0x100000001B3ull;
    auto [it, added] = ecmp_lists_.try_emplace(h, EcmpChoice{static_cast<uint32_t>(begin), count});
    if (!added && it->second.count == count &&
        std::equal(ecmp_pool_.begin() + static_cast<std::ptrdiff_t>(begin), ecmp_pool_.end(),
                   ecmp_pool_.begin() + it->second.offset)) {
        ecmp_pool_.resize(begin);
        return it->second;
    }
    return EcmpChoice{static_cast<uint32_t>(begin), count};
}

uint32_t Engine::first_channel(uint32_t node, uint32_t dst) {
    // A node with few out-channels and one straight to `dst` (a ring or torus neighbour): the
    // search below would pick the lowest-numbered such channel, and so does this scan, without
    // a per-destination table (a table per destination is O(nodes) words each).
    const uint32_t lo = out_.offsets[node], hi = out_.offsets[node + 1];
    if (hi - lo <= kDirectScan)
        for (uint32_t i = lo; i < hi; ++i)
            if (out_.far[i] == dst) return out_.channel[i];
    std::vector<uint32_t>& table = route_[dst];
    if (table.empty()) {
        table.assign(net_.num_nodes, kNone);
        std::vector<uint8_t> seen(net_.num_nodes, 0);
        std::deque<uint32_t> frontier{dst};
        seen[dst] = 1;
        while (!frontier.empty()) {
            const uint32_t u = frontier.front();
            frontier.pop_front();
            if (!net_.gpus_forward && u < net_.num_gpus && u != dst)
                continue;  // a GPU is reached, not passed through
            for (uint32_t i = in_.offsets[u]; i < in_.offsets[u + 1]; ++i) {
                const uint32_t v = in_.far[i];
                if (seen[v]) continue;
                seen[v] = 1;
                table[v] = in_.channel[i];
                frontier.push_back(v);
            }
        }
    }
    const uint32_t c = table[node];
    if (c == kNone)
        throw std::runtime_error("no route from node " + std::to_string(node) + " to node " +
                                 std::to_string(dst));
    return c;
}

GpuMemory::Access Engine::mem_access(uint32_t gpu, uint64_t addr, uint64_t bytes, Tick now) {
    GpuMemory& m = mem_[gpu];
    const GpuMemory::Access a = m.access(addr, bytes, now);
    if (mem_series_rows_) {
        const uint32_t row0 = mem_row0() + gpu * m.num_channels();
        m.for_each_share([&](uint32_t c, Tick start, Tick end, uint64_t b) {
            series_.add_span(row0 + c, start, end, b);
        });
    }
    return a;
}

bool Engine::send(const Request& req, Tick now) {
    const uint32_t id = alloc_packet();
    if (req.kind == ReqKind::Poll || req.kind == ReqKind::Watch) {
        const bool poll = req.kind == ReqKind::Poll;
        if (poll) series_.add(poll_row0() + req.gpu, now, 1);
        if (req.peer == req.gpu) {  // the flag is in the waiter's own memory
            packets_[id] = Packet{req, req.gpu, kNone, 0, false, false, 0, Role::Plain, kNone, 0, 0};
            if (poll) {
                const Tick done = mem_access(req.gpu, flag_addr(req.flag), req.bytes, now).done;
                schedule(done, kDeliverPoll, id, 0, false);
            } else {
                schedule(now + syncmon_latency_ps_, kWatch, id, 0);
            }
            return true;
        }
        // Remote flag: a poll is a read request whose reply carries poll_bytes back; a
        // registration is a message of syncmon_register_bytes to the home's SyncMon.
        const uint32_t wire = poll ? 0 : net_.syncmon_register_bytes;
        packets_[id] = Packet{req, req.peer, kNone, wire, false, false, 0, Role::Plain, kNone, 0, 0};
        offer(id, next_channel(req.gpu, req.peer, flow_of(req)), now);
        return true;
    }
    const uint32_t wire = req.kind == ReqKind::Read ? 0 : req.bytes;
    if (req.peer == static_cast<uint32_t>(kMulticastPeer)) {  // climbs to the GPU's switch
        const uint32_t sw = mcast_switch_[req.gpu];
        packets_[id] = Packet{req, sw, kNone, wire, false, false, 0, Role::Up, kNone, 0, 0};
        offer(id, next_channel(req.gpu, sw), now);
        return true;
    }
    packets_[id] = Packet{req, req.peer, kNone, wire, false, false, 0, Role::Plain, kNone, 0, 0};
    if (req.peer == req.gpu) {
        arrive_at_gpu(id, now);  // local memory: no network
    } else {
        offer(id, next_channel(req.gpu, req.peer, flow_of(req)), now);
    }
    return true;
}

namespace {
constexpr auto kLaterFirst = [](const std::pair<Tick, uint64_t>& a, const std::pair<Tick, uint64_t>& b) {
    return a.first > b.first;
};
}  // namespace

void Engine::collect_credits(Channel& c) {
    while (!c.returns.empty() && c.returns.front().first <= now_) {
        c.credits += c.returns.front().second;
        std::pop_heap(c.returns.begin(), c.returns.end(), kLaterFirst);
        c.returns.pop_back();
    }
}

void Engine::wake_when_credits_return(uint32_t ch) {
    Channel& c = channels_[ch];
    if (c.idle() || c.returns.empty()) return;
    const Tick t = c.returns.front().first;
    if (t < c.wake_at) {
        c.wake_at = t;
        schedule(t, kCredit, ch, 0);
    }
}

void Engine::return_credit(uint32_t ch, Tick when, uint64_t bytes) {
    Channel& c = channels_[ch];
    c.returns.emplace_back(when, bytes);
    std::push_heap(c.returns.begin(), c.returns.end(), kLaterFirst);
    wake_when_credits_return(ch);
}

bool Engine::enters_ring(uint32_t pkt, uint32_t ch) const {
    const Packet& p = packets_[pkt];
    const int32_t ring = channels_[ch].ring;
    return ring >= 0 && (p.in_channel == kNone || channels_[p.in_channel].ring != ring);
}

uint64_t Engine::credits_needed(uint32_t pkt, uint32_t ch) const {
    return packets_[pkt].wire_bytes + (enters_ring(pkt, ch) ? bubble_bytes_ : 0);
}

void Engine::drain(uint32_t ch) {
    Channel& c = channels_[ch];
    collect_credits(c);
    bool moved = true;
    while (moved) {
        moved = false;
        for (int k = 0; k < 2; ++k) {
            while (c.head[k] < c.queue[k].size() &&
                   c.credits >= c.queue[k][c.head[k]].need) {
                const Queued q = c.queue[k][c.head[k]++];
                depart(q.packet, ch, std::max(now_, q.earliest));
                moved = true;
            }
            if (c.head[k] == c.queue[k].size()) {
                c.queue[k].clear();
                c.head[k] = 0;
            }
            if (moved) break;  // transit first again before any further entry
        }
        if (!moved && c.own && c.own->waiting) moved = depart_own(ch);
    }
    wake_when_credits_return(ch);
}

bool Engine::depart_own(uint32_t ch) {
    Channel& c = channels_[ch];
    Channel::OwnFlows& o = *c.own;
    const uint32_t f = o.turn[o.turn_head];
    const Queued q = o.fifo[f][o.head[f]];
    if (c.credits < q.need) return false;
    ++o.turn_head;
    --o.waiting;
    if (++o.head[f] < o.fifo[f].size()) {
        o.turn.push_back(f);  // its next packet waits for the flow's next turn
    } else {
        o.fifo[f].clear();
        o.head[f] = 0;
    }
    if (o.turn_head == o.turn.size()) {
        o.turn.clear();
        o.turn_head = 0;
    } else if (o.turn_head > 4096 && o.turn_head * 2 > o.turn.size()) {
        o.turn.erase(o.turn.begin(), o.turn.begin() + static_cast<std::ptrdiff_t>(o.turn_head));
        o.turn_head = 0;
    }
    depart(q.packet, ch, std::max(now_, q.earliest));
    return true;
}

void Engine::queue_own(uint32_t pkt, uint32_t ch, Tick earliest, uint64_t need) {
    Channel& c = channels_[ch];
    if (!c.own) c.own = std::make_unique<Channel::OwnFlows>();
    Channel::OwnFlows& o = *c.own;
    const Request& r = packets_[pkt].req;
    const uint64_t flow = (uint64_t(r.gpu) << 33) | (uint64_t(r.stream) << 1) |
                          uint64_t(packets_[pkt].response);
    auto [it, added] = o.slot.try_emplace(flow, static_cast<uint32_t>(o.fifo.size()));
    if (added) {
        o.fifo.emplace_back();
        o.head.push_back(0);
    }
    const uint32_t f = it->second;
    if (o.head[f] == o.fifo[f].size()) o.turn.push_back(f);  // the flow becomes active
    o.fifo[f].push_back({pkt, earliest, need});
    ++o.waiting;
}

void Engine::offer(uint32_t pkt, uint32_t ch, Tick earliest) {
    Channel& c = channels_[ch];
    const bool own = is_own(pkt, ch);
    const int k = enters_ring(pkt, ch) ? 1 : 0;
    const uint64_t need = credits_needed(pkt, ch);
    if (c.head[0] == c.queue[0].size() && c.head[k] == c.queue[k].size() &&
        (!own || !c.own || c.own->waiting == 0)) {
        if (c.credits < need) collect_credits(c);
        if (c.credits >= need) {
            depart(pkt, ch, earliest);
            return;
        }
    }
    if (own)
        queue_own(pkt, ch, earliest, need);
    else
        c.queue[k].push_back({pkt, earliest, need});
    wake_when_credits_return(ch);
}

void Engine::depart(uint32_t pkt, uint32_t ch, Tick earliest) {
    Channel& c = channels_[ch];
    Packet& p = packets_[pkt];
    c.credits -= p.wire_bytes;
    const Tick start = c.timing.occupy(earliest, p.wire_bytes);
    channel_bytes_[ch] += p.wire_bytes;
    series_.add_span(ch, start, c.timing.free_at(), p.wire_bytes);
    if (p.in_channel != kNone)  // it leaves the previous hop's buffer now
        return_credit(p.in_channel, start + channels_[p.in_channel].timing.latency_ps(), p.wire_bytes);
    p.in_channel = ch;
    p.path_latency += c.timing.latency_ps();
    const bool poll = p.req.kind == ReqKind::Poll;
    schedule_arrival(c.timing.free_at() + c.timing.latency_ps(), poll ? kArrivePoll : kArrive, pkt, ch, !poll);
}

void Engine::forward(uint32_t pkt, uint32_t node, Tick earliest) {
    Packet& p = packets_[pkt];
    if (node == p.dst_node) {
        if (node < net_.num_gpus)
            arrive_at_gpu(pkt, earliest);
        else
            arrive_at_switch(pkt, earliest);
        return;
    }
    p.path_latency += node_latency_ps_[node];
    offer(pkt, next_channel(node, p.dst_node, flow_of(p.req)), earliest + node_latency_ps_[node]);
}

void Engine::release_buffer(Packet& p, Tick when) {
    if (p.in_channel != kNone)
        return_credit(p.in_channel, when + channels_[p.in_channel].timing.latency_ps(), p.wire_bytes);
    p.in_channel = kNone;
}

void Engine::arrive_at_gpu(uint32_t pkt, Tick now) {
    Packet& p = packets_[pkt];
    const uint32_t gpu = p.dst_node;
    if (p.response) {  // read data, a poll's value or a SyncMon reply back at the requester
        release_buffer(p, now);
        const bool poll = p.req.kind == ReqKind::Poll;
        schedule(now, poll ? kDeliverPoll : kDeliver, pkt, 0, !poll);
        return;
    }
    switch (p.req.kind) {
    case ReqKind::Write: {
        const GpuMemory::Access a = mem_access(gpu, p.req.addr, p.req.bytes, now);
        release_buffer(p, a.start);
        if (p.role == Role::Copy)  // a multicast copy answers to its switch
            schedule(a.done + p.path_latency, kCopyDone, pkt, 0);
        else
            schedule(a.done + p.path_latency, kDeliver, pkt, 0);
        return;
    }
    case ReqKind::Signal: {
        const GpuMemory::Access a = mem_access(gpu, flag_addr(p.req.flag), p.req.bytes, now);
        release_buffer(p, a.start);
        schedule_served(a.done, kFlagUpdate, pkt, gpu);
        return;
    }
    case ReqKind::Read: {
        const GpuMemory::Access a = mem_access(gpu, p.req.addr, p.req.bytes, now);
        release_buffer(p, a.start);
        schedule_served(a.done, kInject, pkt, gpu);
        return;
    }
    case ReqKind::Poll: {  // a remote poll reaches the flag's home memory
        const GpuMemory::Access a = mem_access(gpu, flag_addr(p.req.flag), p.req.bytes, now);
        release_buffer(p, a.start);
        schedule_served(a.done, kInjectPoll, pkt, gpu, false);
        return;
    }
    case ReqKind::Watch:  // a remote registration reaches the home's SyncMon
        release_buffer(p, now);
        schedule(now + syncmon_latency_ps_, kWatch, pkt, 0);
        return;
    }
}

// The SyncMon at `home` takes a registration: it reads the flag (one access to the flag's
// channel) and either answers at once (already satisfied, or table full) or keeps an entry.
// It sits beside the memory, so its check pays the channel's service time but not the
// waiter's memory round trip (syncmon_latency each way stands for that path).
void Engine::register_watch(uint32_t pkt, uint32_t home, Tick now) {
    const Request req = packets_[pkt].req;
    GpuMemory::Access a = mem_access(home, flag_addr(req.flag), cfg_.replay.poll_bytes, now);
    a.done -= mem_latency_ps_;
    switch (flags_[home].watch(req.flag, Watcher{req.gpu, req.stream, req.value})) {
    case WatchResult::Satisfied:
        ++notifications_;
        reply_to_waiter(pkt, home, a.done, false);
        return;
    case WatchResult::Full:
        reply_to_waiter(pkt, home, a.done, true);
        return;
    case WatchResult::Registered:
        free_packet(pkt);
        return;
    }
}

// A notification (or refusal) leaves the SyncMon at `home` at `when` for the waiter: one
// syncmon latency, plus the network and its bytes when the waiter is another GPU.
void Engine::reply_to_waiter(uint32_t pkt, uint32_t home, Tick when, bool refused) {
    Packet& p = packets_[pkt];
    p.refused = refused;
    const Tick out = when + syncmon_latency_ps_;
    if (p.req.gpu == home) {
        schedule(out, kDeliver, pkt, 0);
        return;
    }
    respond(p, net_.syncmon_notify_bytes);
    offer(pkt, next_channel(home, p.req.gpu, flow_of(p.req)), out);
}

// A packet whose destination is a switch: a multicast request to fan out, or one GPU's part
// of a multicast read coming back for reduction.
void Engine::arrive_at_switch(uint32_t pkt, Tick now) {
    Packet& p = packets_[pkt];
    const uint32_t sw = p.dst_node;
    release_buffer(p, now);
    const Tick out = now + node_latency_ps_[sw];
    if (p.role == Role::Up) {
        const std::vector<uint32_t>& group = mcast_members_[sw];
        p.pending = static_cast<uint32_t>(group.size());
        const bool read = p.req.kind == ReqKind::Read;
        const Request req = p.req;
        const uint32_t wire = p.wire_bytes;
        for (const uint32_t g : group) {
            const uint32_t id = alloc_packet();  // may reallocate packets_: no references kept
            packets_[id] = Packet{req, g, kNone, read ? 0u : wire, false, false, 0,
                                  read ? Role::ReadReq : Role::Copy, pkt, 0, 0};
            offer(id, next_channel(sw, g), out);
        }
        return;
    }
    if (p.role == Role::ReadData) {
        const uint32_t parent = p.parent;
        free_packet(pkt);
        Packet& up = packets_[parent];
        if (--up.pending > 0) return;
        // every GPU's part is in: the reduced data goes down to the requester
        up.role = Role::Plain;
        respond(up, up.req.bytes);
        offer(parent, next_channel(sw, up.req.gpu), out);
    }
}

void Engine::notify_woken(uint32_t gpu, Tick now) {
    for (const Watcher& w : woken_) {
        const uint32_t id = alloc_packet();
        Request req{ReqKind::Watch, w.gpu, w.stream, gpu, 0, 0, -1, w.threshold, now};
        packets_[id] = Packet{req, w.gpu, kNone, 0, false, false, 0, Role::Plain, kNone, 0, 0};
        ++notifications_;
        reply_to_waiter(id, gpu, now, false);
    }
    woken_.clear();
}

void Engine::schedule_resume(uint32_t gpu, uint32_t stream, Tick when, bool poll_backoff) {
    schedule(when, poll_backoff ? kResumePoll : kResume, gpu, stream, !poll_backoff);
}

Tick Engine::flag_satisfied_at(uint32_t gpu, int32_t flag, int64_t threshold) {
    return flags_[gpu].satisfied_at(flag, threshold);
}

void Engine::gpu_done(uint32_t, Tick) { ++gpus_done_; }

bool Engine::any_wait_satisfiable() const {
    std::vector<StuckWait> waits;
    for (const auto& r : replayers_) r->stuck_waits(waits);
    for (const StuckWait& w : waits)
        if (flags_[w.home].value(w.flag) >= w.awaited) return true;
    return false;
}

EngineOutcome Engine::run() {
    EngineOutcome out;
    for (auto& r : replayers_) r->start(0);
    while (!events_.empty()) {
        // Only polls are pending: deadlocked unless some poller's flag is already set (its
        // next poll will see it). Checked once per completed wait, not per event.
        if (progress_events_ == 0 && gpus_done_ < replayers_.size() && checked_at_waits_ != waits_done_) {
            checked_at_waits_ = waits_done_;
            if (!any_wait_satisfiable()) {
                out.deadlock = true;
                break;
            }
        }
        if (cfg_.max_events && out.events >= cfg_.max_events) {
            out.event_limit = true;
            break;
        }
        if (cfg_.interrupted && cfg_.interrupt_every && out.events % cfg_.interrupt_every == 0 &&
            out.events) {
            uint64_t done = 0, total = 0;
            for (const auto& r : replayers_) {
                done += r->ops_done();
                total += r->program().ops.size();
            }
            if (cfg_.interrupted(now_, out.events, done, total)) {
                out.interrupted = true;
                break;
            }
        }
        const Event e = events_.pop();
        now_ = e.when;
        ++out.events;
        const bool progress = e.type != kResumePoll && e.type != kDeliverPoll &&
                              e.type != kArrivePoll && e.type != kInjectPoll;
        if (progress) --progress_events_;
        switch (e.type) {
        case kResume:
        case kResumePoll:
            replayers_[e.a]->resume(static_cast<uint32_t>(e.b), now_);
            break;
        case kArrive:
        case kArrivePoll:
            forward(e.a, channels_[packets_[e.a].in_channel].dst, now_);
            break;
        case kCredit: {  // credits a waiting packet needs are back
            Channel& c = channels_[e.a];
            if (now_ >= c.wake_at) c.wake_at = kMaxTick;
            drain(e.a);
            break;
        }
        case kDeliver:
        case kDeliverPoll: {
            const Packet p = packets_[e.a];
            free_packet(e.a);
            // A local poll returns the flag as memory served it, half a round trip ago (the
            // request went there, the answer comes back); a remote one carries what its home read.
            const int64_t observed =
                p.req.kind != ReqKind::Poll ? 0
                : p.response ? p.observed : flags_[p.req.peer].value_at(p.req.flag, now_ - mem_latency_ps_ / 2);
            GpuReplayer& r = *replayers_[p.req.gpu];
            const uint64_t before = r.stats().waits;
            if (p.refused)
                r.refused(p.req, now_);
            else
                r.complete(p.req, now_, observed);
            waits_done_ += r.stats().waits - before;
            break;
        }
        case kFlagUpdate: {
            Packet& p = packets_[e.a];
            const uint32_t gpu = p.dst_node;
            flags_[gpu].add(p.req.flag, p.req.value, now_, woken_);
            notify_woken(gpu, now_);
            if (p.role == Role::Copy)
                schedule(now_ + p.path_latency, kCopyDone, e.a, 0);
            else
                schedule(now_ + p.path_latency, kDeliver, e.a, 0);
            break;
        }
        case kWatch:
            register_watch(e.a, packets_[e.a].req.peer, now_);
            break;
        case kInjectPoll: {  // a remote poll's value leaves the home memory for the waiter
            Packet& p = packets_[e.a];
            const uint32_t home = p.dst_node;
            p.observed = flags_[home].value_at(p.req.flag, now_ - mem_latency_ps_ / 2);
            respond(p, p.req.bytes);
            forward(e.a, home, now_);
            break;
        }
        case kInject: {  // read data leaves the peer's memory towards the requester
            Packet& p = packets_[e.a];
            const uint32_t here = p.dst_node;
            if (p.role == Role::ReadReq) {  // part of a multicast read: up to the switch
                p.role = Role::ReadData;
                redirect(p, packets_[p.parent].dst_node, p.req.bytes);
            } else {
                respond(p, p.req.bytes);
            }
            forward(e.a, here, now_);
            break;
        }
        case kCopyDone: {  // a multicast copy is written: count it at its switch
            const uint32_t parent = packets_[e.a].parent;
            free_packet(e.a);
            Packet& up = packets_[parent];
            if (--up.pending == 0)
                schedule(now_ + up.path_latency, kDeliver, parent, 0);
            break;
        }
        }
    }
    out.end_ps = now_;
    out.finished = gpus_done_ == replayers_.size();
    if (!out.finished && !out.event_limit && !out.interrupted) out.deadlock = true;
    if (out.deadlock) {
        for (auto& r : replayers_) r->stuck_waits(out.stuck);
        for (const auto& s : out.stuck) out.stuck_values.push_back(flags_[s.home].value(s.flag));
    }
    return out;
}

}  // namespace eidola
