"""Traffic profiles: what each GPU's streams compute, write, signal and wait for.

The public face of the profile part. Generators (`eidola.profile.synth`) and importers
(`eidola.profile.importers`) return a `Profile`; `write_profile` / `read_profile` store and load
it (HDF5, docs/profile-format.md); `profile_info` and `validate_profile` inspect files in
bounded memory. `parse_size` is the one parser of user-typed sizes.
"""

# Imported on first use (PEP 562): inside gem5 an h5py wheel must not be loaded, yet the
# configs there still need `parse_size` and the schema, which do not touch HDF5.
_WHERE = {
    "format_info": "info", "profile_info": "info",
    "ProfileReader": "io", "ProfileWriter": "io", "open_profile": "io", "profile_header": "io",
    "read_profile": "io", "write_profile": "io",
    "DEFAULT_VARIABILITY": "model", "Profile": "model",
    "OP_DTYPE": "schema", "OpKind": "schema", "empty_ops": "schema",
    "format_ns": "units", "format_size": "units", "parse_size": "units",
    "validate_ops": "validate", "validate_profile": "validate",
}


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'eidola.profile' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"eidola.profile.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_VARIABILITY", "OP_DTYPE", "OpKind", "Profile", "ProfileReader", "ProfileWriter",
    "empty_ops", "format_info", "format_ns", "format_size", "open_profile", "parse_size",
    "profile_header", "profile_info", "read_profile", "validate_ops", "validate_profile",
    "write_profile",
]
