"""Builds the built-in engine's C++ extension (eidola._engine) from the gem5-free core.

The core is split by role, and every build takes whole folders of it:
- src_cc/core/replay/   the replay rules and timing models both hosts share
- src_cc/core/network/  the built-in host's discrete-event network (this extension, unit tests)
- src_cc/core/io/       HDF5 profile reader and results writer (gem5, the dump tool; Python uses h5py)
"""

from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

core_sources = sorted(str(p) for role in ("replay", "network") for p in Path("src_cc/core", role).glob("*.cc"))

setup(
    ext_modules=[
        Pybind11Extension(
            "eidola._engine",
            core_sources + ["src_cc/python/engine_module.cc"],
            include_dirs=["src_cc"],
            cxx_std=17,
            extra_compile_args=["-O3"],
        )
    ],
    cmdclass={"build_ext": build_ext},
)
