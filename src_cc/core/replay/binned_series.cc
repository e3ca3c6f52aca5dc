#include "core/replay/binned_series.hh"

#include <algorithm>
#include <stdexcept>

namespace eidola {

BinnedSeries::BinnedSeries(uint32_t rows, uint32_t max_bins, Tick bin_ps)
    : rows_(rows), max_bins_(max_bins), bin_ps_(std::max<Tick>(1, bin_ps)),
      counts_(static_cast<size_t>(rows) * max_bins, 0) {
    if (rows && max_bins < 2) throw std::invalid_argument("time series: max_bins must be at least 2");
}

void BinnedSeries::add(uint32_t row, Tick when, uint64_t amount) {
    if (!rows_) return;
    uint64_t bin = when / bin_ps_;
    while (bin >= max_bins_) {
        rebin();
        bin = when / bin_ps_;
    }
    bins_used_ = std::max<uint32_t>(bins_used_, static_cast<uint32_t>(bin) + 1);
    counts_[static_cast<size_t>(row) * max_bins_ + bin] += amount;
}

void BinnedSeries::add_span(uint32_t row, Tick start, Tick end, uint64_t amount) {
    if (!rows_) return;
    const uint64_t first = start / bin_ps_;
    if (end <= (first + 1) * bin_ps_ && first < max_bins_) {  // within one bin (most packets)
        bins_used_ = std::max<uint32_t>(bins_used_, static_cast<uint32_t>(first) + 1);
        counts_[static_cast<size_t>(row) * max_bins_ + first] += amount;
        return;
    }
    if (end <= start + 1 || end / bin_ps_ == first) {
        add(row, start, amount);
        return;
    }
    add(row, end - 1, 0);  // rebin first so that every bin below is in range
    uint64_t left = amount;
    const double per_ps = static_cast<double>(amount) / static_cast<double>(end - start);
    for (Tick t = start; t < end && left > 0;) {
        const Tick bin_end = (t / bin_ps_ + 1) * bin_ps_;
        const Tick stop = std::min(bin_end, end);
        const uint64_t part =
            stop == end ? left
                        : std::min<uint64_t>(left, static_cast<uint64_t>(per_ps * static_cast<double>(stop - t) + 0.5));
        add(row, t, part);
        left -= part;
        t = stop;
    }
}

// Halve the resolution of every row: neighbouring bins are summed, the upper half cleared.
void BinnedSeries::rebin() {
    for (uint32_t r = 0; r < rows_; ++r) {
        uint64_t* row = counts_.data() + static_cast<size_t>(r) * max_bins_;
        for (uint32_t b = 0; b < max_bins_ / 2; ++b) row[b] = row[2 * b] + row[2 * b + 1];
        std::fill(row + max_bins_ / 2, row + max_bins_, 0);
    }
    bin_ps_ *= 2;
    bins_used_ = (bins_used_ + 1) / 2;
}

}  // namespace eidola

namespace eidola {

void BinnedSeries::save(StateOut& out) const {
    out.u64(rows_);
    out.u64(max_bins_);
    out.u64(bin_ps_);
    out.u64(bins_used_);
    // Only the bins in use (the rest are zero): a long series is mostly empty early in a run.
    for (uint32_t r = 0; r < rows_; ++r)
        for (uint32_t b = 0; b < bins_used_; ++b) out.u64(row(r)[b]);
}

void BinnedSeries::load(StateIn& in) {
    in.expect(rows_, "time-series rows");
    in.expect(max_bins_, "time-series bins");
    bin_ps_ = in.u64();
    const uint64_t used = in.u64();
    if (bin_ps_ == 0 || used > max_bins_) in.fail("has an impossible time-series bin");
    bins_used_ = static_cast<uint32_t>(used);
    std::fill(counts_.begin(), counts_.end(), 0);
    for (uint32_t r = 0; r < rows_; ++r)
        for (uint32_t b = 0; b < bins_used_; ++b) counts_[static_cast<size_t>(r) * max_bins_ + b] = in.u64();
}

}  // namespace eidola
