#include "core/replay/gpu_memory.hh"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace eidola {

void check_memory_spec(const MemorySpec& s) {
    if (!(s.bw_gbps > 0) || !std::isfinite(s.bw_gbps))
        throw std::invalid_argument("memory: field 'hbm_bw_gbps': must be a positive finite bandwidth");
    if (!(s.latency_ns >= 0) || !std::isfinite(s.latency_ns))
        throw std::invalid_argument("memory: field 'mem_latency_ns': must be finite and >= 0");
    if (s.channels == 0 || s.channels > (1u << 16))
        throw std::invalid_argument("memory: field 'mem_channels': must be 1..65536, got " +
                                    std::to_string(s.channels));
    if (s.interleave_bytes == 0 || (s.interleave_bytes & (s.interleave_bytes - 1)) != 0)
        throw std::invalid_argument("memory: field 'mem_interleave_bytes': must be a power of two, got " +
                                    std::to_string(s.interleave_bytes));
    if (s.flag_stride_bytes == 0)
        throw std::invalid_argument("memory: field 'flag_stride_bytes': must be at least 1");
    if (s.interleave_bytes > (1u << 30))
        throw std::invalid_argument("memory: field 'mem_interleave_bytes': must be at most 1 GiB");
}

GpuMemory::GpuMemory(const MemorySpec& spec)
    : interleave_(spec.interleave_bytes), latency_ps_(ns_to_ps(spec.latency_ns)),
      channel_bw_gbps_(spec.bw_gbps / spec.channels) {
    num_channels_ = spec.channels;
    one_.timing = LinkTiming(channel_bw_gbps_, 0.0);
    if (num_channels_ > 1) many_.assign(num_channels_, one_);
    shift_ = 0;
    while ((uint64_t(1) << shift_) < interleave_) ++shift_;
}

GpuMemory::Access GpuMemory::access(uint64_t addr, uint64_t bytes, Tick now) {
    if (keep_shares_) last_.clear();
    if (bytes == 0) bytes = 1;  // a zero-byte access still occupies its channel briefly
    Tick first = kMaxTick, last = 0;
    const uint32_t n = num_channels();
    if (n == 1) {
        const Tick start = one_.timing.occupy(now, bytes);
        one_.bytes += bytes;
        note_share(0, start, one_.timing.free_at(), bytes);
        return {start, one_.timing.free_at() + latency_ps_};
    }
    // Walk the granules; a long access that wraps around every channel is folded into one
    // share per channel so the cost stays O(channels), not O(bytes / granule).
    uint64_t pos = addr, left = bytes;
    std::vector<uint64_t>* per = nullptr;
    if (bytes > interleave_ * n) {
        fold_.assign(n, 0);
        per = &fold_;
    }
    uint32_t c = channel_of(pos);  // then the next channel, granule after granule
    while (left > 0) {
        const uint64_t in_granule = std::min<uint64_t>(left, interleave_ - (pos & (interleave_ - 1)));
        if (per) {
            (*per)[c] += in_granule;
        } else {
            Channel& ch = many_[c];
            const Tick start = ch.timing.occupy(now, in_granule);
            ch.bytes += in_granule;
            note_share(c, start, ch.timing.free_at(), in_granule);
            first = std::min(first, start);
            last = std::max(last, ch.timing.free_at());
        }
        pos += in_granule;
        left -= in_granule;
        if (++c == n) c = 0;
    }
    if (per) {
        for (c = 0; c < n; ++c) {
            if ((*per)[c] == 0) continue;
            Channel& ch = many_[c];
            const Tick start = ch.timing.occupy(now, (*per)[c]);
            ch.bytes += (*per)[c];
            note_share(c, start, ch.timing.free_at(), (*per)[c]);
            first = std::min(first, start);
            last = std::max(last, ch.timing.free_at());
        }
    }
    return {first, last + latency_ps_};
}

}  // namespace eidola

namespace eidola {

void GpuMemory::save(StateOut& out) const {
    out.u64(num_channels_);
    for (uint32_t c = 0; c < num_channels_; ++c) {
        chan(c).timing.save(out);
        out.u64(chan(c).bytes);
    }
}

void GpuMemory::load(StateIn& in) {
    in.expect(num_channels_, "memory channels");
    for (uint32_t c = 0; c < num_channels_; ++c) {
        chan(c).timing.load(in);
        chan(c).bytes = in.u64();
    }
    last_.clear();
}

}  // namespace eidola
