"""Builds the built-in engine's C++ extension (eidola._engine) from the gem5-free core.

The same core sources are listed in src_cc/SConscript (gem5) and SConstruct.extras (unit tests).
"""

from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

core_sources = sorted(str(p) for p in Path("src_cc/core").glob("*.cc") if p.name != "profile_h5.cc")

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
