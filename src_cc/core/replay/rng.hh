// Counter-based randomness: every draw is a pure function of (seed, key), so results do not
// depend on event order and both hosts draw identical jitter for the same op.
#pragma once

#include <cmath>
#include <cstdint>

namespace eidola {

inline uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// Uniform in (0, 1) for a (seed, a, b) triple.
inline double unit_uniform(uint64_t seed, uint64_t a, uint64_t b) {
    uint64_t h = splitmix64(seed ^ splitmix64(a * 0x100000001b3ULL ^ splitmix64(b)));
    return (static_cast<double>(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

// Lognormal multiplier with mean 1 and coefficient of variation cv (0 gives exactly 1).
inline double lognormal_multiplier(double cv, uint64_t seed, uint64_t a, uint64_t b) {
    if (cv <= 0.0) return 1.0;
    const double sigma2 = std::log1p(cv * cv);
    const double u1 = unit_uniform(seed, a, 2 * b);
    const double u2 = unit_uniform(seed, a, 2 * b + 1);
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    return std::exp(std::sqrt(sigma2) * z - 0.5 * sigma2);
}

}  // namespace eidola
