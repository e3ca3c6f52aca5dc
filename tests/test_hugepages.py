"""When the `eidola` command starts itself again with glibc's huge-page tunable, and when not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import eidola.hugepages as hp

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def linux_glibc_madvise(monkeypatch, tmp_path):
    """A host where the relaunch applies: Linux, glibc 2.36, transparent huge pages on request."""
    mode = tmp_path / "enabled"
    mode.write_text("always [madvise] never\n")
    monkeypatch.setattr(hp, "_THP_MODE", mode)
    monkeypatch.setattr(hp, "_glibc_version", lambda: (2, 36))
    monkeypatch.setattr(hp.sys, "platform", "linux")
    return mode


def test_engine_commands_get_the_tunable_added_to_the_users(linux_glibc_madvise) -> None:
    env = hp.relaunch_env(["eidola", "run", "cfg.py"], {"PATH": "/bin"})
    assert env == {"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    env = hp.relaunch_env(["eidola", "--help-free", "sweep", "s.yaml"],
                           {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"


@pytest.mark.parametrize("argv, environ", [
    (["eidola", "profile", "synth"], {}),                                  # no engine
    (["eidola", "run"], {"EIDOLA_HUGE_PAGES": "0"}),                       # opted out
    (["eidola", "run"], {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}),     # the user's choice
    (["eidola", "run"], {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}),     # the second start
])
def test_no_relaunch(linux_glibc_madvise, argv, environ) -> None:
    assert hp.relaunch_env(argv, environ) is None


def test_no_relaunch_where_it_cannot_help(linux_glibc_madvise, monkeypatch) -> None:
    linux_glibc_madvise.write_text("[always] madvise never\n")  # every page may be huge already
    assert hp.relaunch_env(["eidola", "run"], {}) is None
    linux_glibc_madvise.write_text("always [madvise] never\n")
    monkeypatch.setattr(hp, "_glibc_version", lambda: (2, 34))  # no such tunable before 2.35
    assert hp.relaunch_env(["eidola", "run"], {}) is None
    monkeypatch.setattr(hp, "_glibc_version", lambda: None)  # musl and others
    assert hp.relaunch_env(["eidola", "run"], {}) is None
    monkeypatch.setattr(hp, "_glibc_version", lambda: (2, 36))
    monkeypatch.setattr(hp.sys, "platform", "darwin")
    assert hp.relaunch_env(["eidola", "run"], {}) is None


def test_the_relaunched_command_runs_and_gives_the_same_result(tmp_path) -> None:
    """Whatever this host decides, `python -m eidola run` works with and without it, alike."""
    outs = {}
    for flag in ("0", "1"):
        out = tmp_path / f"o{flag}"
        proc = subprocess.run(
            [sys.executable, "-m", "eidola", "run", str(REPO / "configs" / "eidola_8gpu.py"),
             "--profile", str(REPO / "profiles" / "p2p_2gpu.h5"), "--topology", "fully_connected",
             "--gpus", "2", "--quiet", "--outdir", str(out)],
            capture_output=True, text=True, env={**_env(), "EIDOLA_HUGE_PAGES": flag}, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        outs[flag] = (out / "summary.json").read_text()
    timing = ("seconds", "per_second", "outdir")  # wall-clock figures and where it wrote
    strip = lambda s: [ln for ln in s.splitlines() if not any(t in ln for t in timing)]
    assert len(strip(outs["0"])) > 20 and strip(outs["0"]) == strip(outs["1"])


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
