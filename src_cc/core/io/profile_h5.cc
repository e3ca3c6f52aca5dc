#include "core/io/profile_h5.hh"

#include <hdf5.h>

#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>

namespace eidola {

namespace {

// Silence HDF5's own error stack printing while we probe; restore it afterwards (gem5's
// HDF5 stats output uses the same library).
class QuietHdf5 {
  public:
    QuietHdf5() {
        H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    }
    ~QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

  private:
    H5E_auto2_t func_ = nullptr;
    void* data_ = nullptr;
};

[[noreturn]] void fail(const std::string& path, const std::string& field, const std::string& what) {
    throw std::runtime_error(path + ": " + (field.empty() ? "" : "field '" + field + "': ") + what);
}

bool read_string_attr(hid_t obj, const char* name, std::string& out) {
    if (H5Aexists(obj, name) <= 0) return false;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0) return false;
    hid_t type = H5Aget_type(attr);
    bool ok = false;
    if (H5Tget_class(type) == H5T_STRING) {
        if (H5Tis_variable_str(type) > 0) {
            hid_t mem = H5Tcopy(H5T_C_S1);
            H5Tset_size(mem, H5T_VARIABLE);
            H5Tset_cset(mem, H5Tget_cset(type));
            char* s = nullptr;
            if (H5Aread(attr, mem, &s) >= 0 && s) {
                out = s;
                ok = true;
                hid_t space = H5Aget_space(attr);
                H5Dvlen_reclaim(mem, space, H5P_DEFAULT, &s);
                H5Sclose(space);
            }
            H5Tclose(mem);
        } else {
            const size_t n = H5Tget_size(type);
            std::string buf(n, '\0');
            hid_t mem = H5Tcopy(type);
            if (H5Aread(attr, mem, buf.data()) >= 0) {
                out = buf.substr(0, buf.find('\0'));
                ok = true;
            }
            H5Tclose(mem);
        }
    }
    H5Tclose(type);
    H5Aclose(attr);
    return ok;
}

template <typename T>
bool read_num_attr(hid_t obj, const char* name, T& out, hid_t memtype) {
    if (H5Aexists(obj, name) <= 0) return false;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0) return false;
    hid_t type = H5Aget_type(attr);
    const H5T_class_t cls = H5Tget_class(type);
    H5Tclose(type);
    bool ok = (cls == H5T_INTEGER || cls == H5T_FLOAT) && H5Aread(attr, memtype, &out) >= 0;
    H5Aclose(attr);
    return ok;
}

hid_t op_memtype() {
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(ProfileOp));
    H5Tinsert(t, "t_ns", offsetof(ProfileOp, t_ns), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "dur_ns", offsetof(ProfileOp, dur_ns), H5T_NATIVE_DOUBLE);
    H5Tinsert(t, "bytes", offsetof(ProfileOp, bytes), H5T_NATIVE_UINT64);
    H5Tinsert(t, "addr", offsetof(ProfileOp, addr), H5T_NATIVE_UINT64);
    H5Tinsert(t, "value", offsetof(ProfileOp, value), H5T_NATIVE_INT64);
    H5Tinsert(t, "peer", offsetof(ProfileOp, peer), H5T_NATIVE_INT32);
    H5Tinsert(t, "flag", offsetof(ProfileOp, flag), H5T_NATIVE_INT32);
    H5Tinsert(t, "stream", offsetof(ProfileOp, stream), H5T_NATIVE_UINT32);
    H5Tinsert(t, "kind", offsetof(ProfileOp, kind), H5T_NATIVE_UINT8);
    H5Tinsert(t, "iteration", offsetof(ProfileOp, iteration), H5T_NATIVE_UINT16);
    return t;
}

}  // namespace

ProfileFile::ProfileFile(const std::string& path) : path_(path) {
    QuietHdf5 quiet;
    if (H5Fis_hdf5(path.c_str()) <= 0) fail(path, "", "not an HDF5 file (or unreadable)");
    file_ = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file_ < 0) fail(path, "", "cannot open as HDF5");
    const hid_t f = static_cast<hid_t>(file_);
    if (!read_string_attr(f, "format", header_.format) || header_.format != "eidola-profile")
        fail(path, "format", "not an eidola profile (expected format 'eidola-profile')");
    if (!read_num_attr(f, "version", header_.version, H5T_NATIVE_INT64))
        fail(path, "version", "missing");
    if (header_.version > kProfileFormatVersion || header_.version < 1)
        fail(path, "version", "version " + std::to_string(header_.version) +
                                  " is not supported (this build reads up to " +
                                  std::to_string(kProfileFormatVersion) + ")");
    int64_t n = 0;
    if (!read_num_attr(f, "num_gpus", n, H5T_NATIVE_INT64) || n < 1)
        fail(path, "num_gpus", "missing or not positive");
    header_.num_gpus = static_cast<uint32_t>(n);
    int64_t iters = 1;
    if (read_num_attr(f, "num_iterations", iters, H5T_NATIVE_INT64) && iters >= 1)
        header_.num_iterations = static_cast<uint32_t>(iters);
    read_string_attr(f, "kind", header_.kind);
    read_string_attr(f, "name", header_.name);
    read_string_attr(f, "parameters", header_.parameters_json);
    if (H5Lexists(f, "variability", H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(f, "variability", H5P_DEFAULT);
        if (g >= 0) {
            read_num_attr(g, "compute_cv", header_.compute_cv, H5T_NATIVE_DOUBLE);
            read_num_attr(g, "straggler_prob", header_.straggler_prob, H5T_NATIVE_DOUBLE);
            read_num_attr(g, "straggler_slowdown", header_.straggler_slowdown, H5T_NATIVE_DOUBLE);
            H5Gclose(g);
        }
    }
}

ProfileFile::~ProfileFile() {
    if (file_ >= 0) H5Fclose(static_cast<hid_t>(file_));
}

std::vector<ProfileOp> ProfileFile::read_gpu(uint32_t gpu) const {
    QuietHdf5 quiet;
    const std::string name = "gpus/" + std::to_string(gpu) + "/ops";
    const hid_t f = static_cast<hid_t>(file_);
    if (gpu >= header_.num_gpus) fail(path_, name, "GPU out of range");
    if (H5Lexists(f, "gpus", H5P_DEFAULT) <= 0 ||
        H5Lexists(f, ("gpus/" + std::to_string(gpu)).c_str(), H5P_DEFAULT) <= 0 ||
        H5Lexists(f, name.c_str(), H5P_DEFAULT) <= 0)
        fail(path_, name, "missing dataset");
    hid_t ds = H5Dopen2(f, name.c_str(), H5P_DEFAULT);
    if (ds < 0) fail(path_, name, "cannot open dataset");
    hid_t space = H5Dget_space(ds);
    hssize_t rows = H5Sget_simple_extent_npoints(space);
    std::vector<ProfileOp> ops(rows > 0 ? static_cast<size_t>(rows) : 0);
    hid_t mem = op_memtype();
    herr_t st = ops.empty() ? 0 : H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, ops.data());
    H5Tclose(mem);
    H5Sclose(space);
    H5Dclose(ds);
    if (st < 0) fail(path_, name, "cannot read ops (wrong field types or a damaged file)");
    return ops;
}

double ProfileFile::earliest_start_ns(uint32_t gpu, uint32_t iteration) const {
    double best = std::numeric_limits<double>::quiet_NaN();
    for (const ProfileOp& op : read_gpu(gpu)) {
        if (header_.num_iterations > 1 && op.iteration != iteration) continue;
        if (std::isnan(best) || op.t_ns < best) best = op.t_ns;
    }
    return best;
}

}  // namespace eidola
