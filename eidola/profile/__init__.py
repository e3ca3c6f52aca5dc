"""Traffic profiles: what each GPU's streams compute, write, signal and wait for.

The public face of the profile part. Generators (`eidola.profile.synth`) and importers
(`eidola.profile.importers`) return a `Profile`; `write_profile` / `read_profile` store and load
it (HDF5, docs/profile-format.md); `profile_info` and `validate_profile` inspect files in
bounded memory. `parse_size` is the one parser of user-typed sizes.
"""

from eidola.profile.info import format_info, profile_info
from eidola.profile.io import (ProfileReader, ProfileWriter, open_profile, profile_header,
                               read_profile, write_profile)
from eidola.profile.model import DEFAULT_VARIABILITY, Profile
from eidola.profile.schema import OP_DTYPE, OpKind, empty_ops
from eidola.profile.units import format_ns, format_size, parse_size
from eidola.profile.validate import validate_ops, validate_profile

__all__ = [
    "DEFAULT_VARIABILITY", "OP_DTYPE", "OpKind", "Profile", "ProfileReader", "ProfileWriter",
    "empty_ops", "format_info", "format_ns", "format_size", "open_profile", "parse_size",
    "profile_header", "profile_info", "read_profile", "validate_ops", "validate_profile",
    "write_profile",
]
