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

hid_t intermediate_groups() {
    const hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    return lcpl;
}

void write_attr(const std::string& path, hid_t obj, const H5Attr& a) {
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t type = -1;
    if (a.is_text) {
        type = H5Tcopy(H5T_C_S1);
        H5Tset_size(type, a.text.empty() ? 1 : a.text.size());
        H5Tset_strpad(type, H5T_STR_NULLPAD);
    }
    const hid_t t = a.is_text ? type : (a.integral ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE);
    const hid_t id = H5Acreate2(obj, a.name.c_str(), t, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t ok = -1;
    if (id >= 0) {
        if (a.is_text) {
            const std::string text = a.text.empty() ? std::string(1, '\0') : a.text;
            ok = H5Awrite(id, type, text.data());
        } else if (a.integral) {
            const int64_t v = static_cast<int64_t>(a.number);
            ok = H5Awrite(id, H5T_NATIVE_INT64, &v);
        } else {
            ok = H5Awrite(id, H5T_NATIVE_DOUBLE, &a.number);
        }
        H5Aclose(id);
    }
    if (type >= 0) H5Tclose(type);
    H5Sclose(space);
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
    const hid_t lcpl = intermediate_groups();
    const hid_t g = H5Gcreate2(file_, path.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    if (g < 0) fail(path_, "group '" + path + "'");
    H5Gclose(g);
}

void H5Writer::attr(const std::string& object, const H5Attr& a) {
    const hid_t obj = H5Oopen(file_, object.c_str(), H5P_DEFAULT);
    if (obj < 0) fail(path_, "attribute '" + a.name + "' of missing '" + object + "'");
    try {
        write_attr(path_, obj, a);
    } catch (...) {
        H5Oclose(obj);
        throw;
    }
    H5Oclose(obj);
}

void H5Writer::dataset(const H5Dataset& d) {
    std::vector<hsize_t> dims(d.shape.begin(), d.shape.end());
    const hid_t space = dims.empty() ? H5Screate(H5S_SCALAR)
                                     : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    const hid_t lcpl = intermediate_groups();
    const hid_t ds = H5Dcreate2(file_, d.path.c_str(), native(d.type), space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    uint64_t n = 1;
    for (uint64_t x : d.shape) n *= x;
    herr_t ok = ds < 0 ? -1 : (n == 0 ? 0 : H5Dwrite(ds, native(d.type), H5S_ALL, H5S_ALL, H5P_DEFAULT, d.data));
    H5Sclose(space);
    if (ok < 0) {
        if (ds >= 0) H5Dclose(ds);
        fail(path_, "dataset '" + d.path + "'");
    }
    for (const H5Attr& a : d.attrs) {
        try {
            write_attr(path_, ds, a);
        } catch (...) {
            H5Dclose(ds);
            throw;
        }
    }
    H5Dclose(ds);
}

}  // namespace eidola
