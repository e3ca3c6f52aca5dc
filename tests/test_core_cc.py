"""The C++ core's own unit tests (GoogleTest) and the gem5-side HDF5 reader, built standalone
with SConstruct.extras, run from pytest so the README's one test command covers them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from eidola.profile import profile_info

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "src_cc" / "build"


def _have_toolchain() -> str | None:
    if shutil.which("scons") is None:
        return "scons is not installed (it comes with the 'test' extra)"
    if not Path("/usr/include/gtest/gtest.h").exists():
        return "GoogleTest headers missing (Debian: libgtest-dev; .ci/run installs them)"
    if subprocess.run(["pkg-config", "--exists", "hdf5-serial"]).returncode and \
            subprocess.run(["pkg-config", "--exists", "hdf5"]).returncode:
        return "HDF5 C library missing (Debian: libhdf5-dev; .ci/run installs it)"
    return None


@pytest.fixture(scope="module")
def built() -> Path:
    reason = _have_toolchain()
    if reason:
        pytest.skip(reason)
    proc = subprocess.run(["scons", "-Q", "-f", "SConstruct.extras", "-j2"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return BUILD


def test_core_unit_tests_pass(built: Path) -> None:
    proc = subprocess.run([str(built / "core_test")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[  PASSED  ]" in proc.stdout
    assert "FAILED" not in proc.stdout


@pytest.mark.parametrize("name", ["allreduce_8gpu.h5", "gemm_rs_8gpu.h5", "p2p_2gpu.h5"])
def test_cpp_reader_sees_what_h5py_sees(built: Path, name: str) -> None:
    path = REPO / "profiles" / name
    proc = subprocess.run([str(built / "eidola-profile-dump"), str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    cpp = json.loads(proc.stdout)
    py = profile_info(path)
    assert cpp["format"] == "eidola-profile"
    assert cpp["num_gpus"] == py["num_gpus"]
    assert cpp["num_ops"] == py["num_ops"]
    assert cpp["bytes_written"] == py["bytes_written"]


def test_cpp_reader_rejects_non_profiles(built: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    proc = subprocess.run([str(built / "eidola-profile-dump"), str(junk)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and str(junk) in proc.stderr
    assert proc.stderr.count("\n") == 1
