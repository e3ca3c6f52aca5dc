#include "core/latency_hist.hh"

#include <algorithm>

namespace eidola {

int LatencyHist::bucket_of(Tick v) {
    if (v < static_cast<Tick>(kSub)) return static_cast<int>(v);
    const int msb = 63 - __builtin_clzll(v);
    const int shift = msb - kSubBits;
    const int sub = static_cast<int>((v >> shift) & (kSub - 1));
    return (shift + 1) * kSub + sub;
}

Tick LatencyHist::bucket_low(int b) {
    if (b < kSub) return static_cast<Tick>(b);
    const int shift = b / kSub - 1;
    const Tick sub = static_cast<Tick>(b % kSub);
    return (static_cast<Tick>(kSub) + sub) << shift;
}

Tick LatencyHist::bucket_high(int b) {
    if (b < kSub) return static_cast<Tick>(b) + 1;
    const int shift = b / kSub - 1;
    return bucket_low(b) + (Tick(1) << shift);
}

void LatencyHist::add(Tick v) {
    if (counts_.empty()) counts_.assign(kBuckets, 0);
    ++counts_[bucket_of(v)];
    ++count_;
    sum_ += static_cast<double>(v);
    max_ = std::max(max_, v);
    min_ = std::min(min_, v);
}

void LatencyHist::merge(const LatencyHist& o) {
    if (o.counts_.empty()) return;
    if (counts_.empty()) counts_.assign(kBuckets, 0);
    for (int i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    count_ += o.count_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
}

double LatencyHist::quantile_ps(double q) const {
    if (count_ == 0) return 0.0;
    const double target = q * static_cast<double>(count_);
    uint64_t seen = 0;
    for (int b = 0; b < kBuckets; ++b) {
        seen += counts_[b];
        if (static_cast<double>(seen) >= target && counts_[b]) {
            const double mid = 0.5 * static_cast<double>(bucket_low(b) + bucket_high(b) - 1);
            return std::clamp(mid, static_cast<double>(min_), static_cast<double>(max_));
        }
    }
    return static_cast<double>(max_);
}

void LatencyHist::buckets(std::vector<double>& lo, std::vector<double>& hi,
                          std::vector<uint64_t>& n) const {
    if (counts_.empty()) return;
    for (int b = 0; b < kBuckets; ++b) {
        if (!counts_[b]) continue;
        lo.push_back(static_cast<double>(bucket_low(b)));
        hi.push_back(static_cast<double>(bucket_high(b)));
        n.push_back(counts_[b]);
    }
}

}  // namespace eidola
