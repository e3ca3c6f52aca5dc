#include "core/io/h5_writer.hh"

#include <hdf5.h>

#include <stdexcept>

namespace eidola {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
    throw std::runtime_error(path + ": cannot write " + what);
}

hid_t native(H5Type t) {
    switch (t) {
    case H5Type::U8: return H5T_NATIVE_UINT8;
    case H5Type::U32: return H5T_NATIVE_UINT32;
    case H5Type::U64: return H5T_NATIVE_UINT64;
    case H5Type::I32: return H5T_NATIVE_INT32;
    case H5Type::I64: return H5T_NATIVE_INT64;
    case H5Type::F64: return H5T_NATIVE_DOUBLE;
    }
    return H5T_NATIVE_DOUBLE;
}

// Closes an HDF5 handle when it goes out of scope, whatever threw.
struct Handle {
    hid_t id;
    herr_t (*close)(hid_t);
    ~Handle() {
        if (id >= 0) close(id);
    }
};

hid_t intermediate_groups() {
    const hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    return lcpl;
}

void write_attr(const std::string& path, hid_t obj, const H5Attr& a) {
    const Handle space{H5Screate(H5S_SCALAR), H5Sclose};
    const Handle text{a.is_text ? H5Tcopy(H5T_C_S1) : -1, H5Tclose};
    if (a.is_text) {
        H5Tset_size(text.id, a.text.empty() ? 1 : a.text.size());
        H5Tset_strpad(text.id, H5T_STR_NULLPAD);
    }
    const hid_t type = a.is_text ? text.id : (a.integral ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE);
    const Handle attr{H5Acreate2(obj, a.name.c_str(), type, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose};
    herr_t ok = -1;
    if (attr.id >= 0) {
        const std::string padded = a.text.empty() ? std::string(1, '\0') : a.text;
        const int64_t integral = static_cast<int64_t>(a.number);
        const void* data = a.is_text ? static_cast<const void*>(padded.data())
                           : a.integral ? static_cast<const void*>(&integral)
                                        : static_cast<const void*>(&a.number);
        ok = H5Awrite(attr.id, type, data);
    }
    if (ok < 0) fail(path, "attribute '" + a.name + "'");
}

}  // namespace

H5Writer::H5Writer(const std::string& path) : path_(path) {
    file_ = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file_ < 0) fail(path, "the file");
}

H5Writer::~H5Writer() {
    if (file_ >= 0) H5Fclose(file_);
}

void H5Writer::close() {
    if (file_ >= 0 && H5Fclose(file_) < 0) fail(path_, "the file (close)");
    file_ = -1;
}

void H5Writer::group(const std::string& path) {
    const Handle lcpl{intermediate_groups(), H5Pclose};
    const Handle g{H5Gcreate2(file_, path.c_str(), lcpl.id, H5P_DEFAULT, H5P_DEFAULT), H5Gclose};
    if (g.id < 0) fail(path_, "group '" + path + "'");
}

void H5Writer::attr(const std::string& object, const H5Attr& a) {
    const Handle obj{H5Oopen(file_, object.c_str(), H5P_DEFAULT), H5Oclose};
    if (obj.id < 0) fail(path_, "attribute '" + a.name + "' of missing '" + object + "'");
    write_attr(path_, obj.id, a);
}

void H5Writer::dataset(const H5Dataset& d) {
    std::vector<hsize_t> dims(d.shape.begin(), d.shape.end());
    const Handle space{dims.empty() ? H5Screate(H5S_SCALAR)
                                    : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                       H5Sclose};
    const Handle lcpl{intermediate_groups(), H5Pclose};
    const Handle ds{H5Dcreate2(file_, d.path.c_str(), native(d.type), space.id, lcpl.id, H5P_DEFAULT,
                               H5P_DEFAULT),
                    H5Dclose};
    uint64_t n = 1;
    for (uint64_t x : d.shape) n *= x;
    const herr_t ok = ds.id < 0 ? -1
                      : n == 0  ? 0
                                : H5Dwrite(ds.id, native(d.type), H5S_ALL, H5S_ALL, H5P_DEFAULT, d.data);
    if (ok < 0) fail(path_, "dataset '" + d.path + "'");
    for (const H5Attr& a : d.attrs) write_attr(path_, ds.id, a);
}

}  // namespace eidola
