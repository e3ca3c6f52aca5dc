#include "core/replay/latency_hist.hh"

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

// Make buckets [lo, hi] addressable, growing the window by whole powers of two (rows of kSub
// buckets) so that a run touching a few orders of magnitude allocates a few hundred bytes.
void LatencyHist::cover(int lo, int hi) {
    lo = lo / kSub * kSub;
    hi = (hi / kSub + 1) * kSub;  // exclusive
    if (counts_.empty()) {
        base_ = lo;
        counts_.assign(static_cast<size_t>(hi - lo), 0);
        return;
    }
    const int end = base_ + static_cast<int>(counts_.size());
    if (lo < base_) {
        counts_.insert(counts_.begin(), static_cast<size_t>(base_ - lo), 0);
        base_ = lo;
    }
    if (hi > end) counts_.resize(static_cast<size_t>(hi - base_), 0);
}

void LatencyHist::add(Tick v) {
    const int b = bucket_of(v);
    if (counts_.empty() || b < base_ || b >= base_ + static_cast<int>(counts_.size())) cover(b, b);
    ++counts_[static_cast<size_t>(b - base_)];
    ++count_;
    sum_ += static_cast<double>(v);
    max_ = std::max(max_, v);
    min_ = std::min(min_, v);
}

void LatencyHist::merge(const LatencyHist& o) {
    if (o.counts_.empty()) return;
    cover(o.base_, o.base_ + static_cast<int>(o.counts_.size()) - 1);
    for (size_t i = 0; i < o.counts_.size(); ++i) counts_[static_cast<size_t>(o.base_ - base_) + i] += o.counts_[i];
    count_ += o.count_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
}

double LatencyHist::quantile_ps(double q) const {
    if (count_ == 0) return 0.0;
    const double target = q * static_cast<double>(count_);
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (static_cast<double>(seen) >= target && counts_[i]) {
            const int b = base_ + static_cast<int>(i);
            const double mid = 0.5 * static_cast<double>(bucket_low(b) + bucket_high(b) - 1);
            return std::clamp(mid, static_cast<double>(min_), static_cast<double>(max_));
        }
    }
    return static_cast<double>(max_);
}

void LatencyHist::buckets(std::vector<double>& lo, std::vector<double>& hi,
                          std::vector<uint64_t>& n) const {
    for (size_t i = 0; i < counts_.size(); ++i) {
        if (!counts_[i]) continue;
        const int b = base_ + static_cast<int>(i);
        lo.push_back(static_cast<double>(bucket_low(b)));
        hi.push_back(static_cast<double>(bucket_high(b)));
        n.push_back(counts_[i]);
    }
}

}  // namespace eidola

namespace eidola {

void LatencyHist::save(StateOut& out) const {
    out.i64(base_);
    out.ints(counts_);
    out.u64(count_);
    out.f64(sum_);
    out.u64(max_);
    out.u64(min_);
}

void LatencyHist::load(StateIn& in) {
    const int64_t base = in.i64();
    in.ints(counts_);
    if (base < 0 || base + static_cast<int64_t>(counts_.size()) > kBuckets)
        in.fail("has latency buckets out of range");
    base_ = static_cast<int>(base);
    count_ = in.u64();
    sum_ = in.f64();
    max_ = in.u64();
    min_ = in.u64();
}

}  // namespace eidola
