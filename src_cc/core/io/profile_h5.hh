// Read profile files with the HDF5 C API alone.
//
// Inside a gem5 built with HDF5, gem5 links the system libhdf5 and an h5py wheel (with its own
// HDF5) fails to load ("Not a datatype"), so the gem5 host reads profiles here, through the
// library gem5 already links. Fields are matched by name, so the file's field order and
// padding do not matter. Errors are std::runtime_error with a one-line message naming the
// file, the field and the problem.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/replay/types.hh"

namespace eidola {

struct ProfileHeader {
    std::string format;
    int64_t version = 0;
    uint32_t num_gpus = 0;
    uint32_t num_iterations = 1;
    std::string kind;
    std::string name;
    std::string parameters_json;  // generator/import options (JSON text), may be empty
    double compute_cv = 0.0;
    double straggler_prob = 0.0;
    double straggler_slowdown = 1.0;
};

constexpr int64_t kProfileFormatVersion = 1;

class ProfileFile {
  public:
    explicit ProfileFile(const std::string& path);
    ~ProfileFile();
    ProfileFile(const ProfileFile&) = delete;
    ProfileFile& operator=(const ProfileFile&) = delete;

    const ProfileHeader& header() const { return header_; }
    // All ops of one GPU, in file order.
    std::vector<ProfileOp> read_gpu(uint32_t gpu) const;
    // Earliest t_ns of a GPU's ops in `iteration` (all ops when num_iterations <= 1); NaN if none.
    double earliest_start_ns(uint32_t gpu, uint32_t iteration) const;

  private:
    std::string path_;
    int64_t file_ = -1;  // hid_t
    ProfileHeader header_;
};

}  // namespace eidola
