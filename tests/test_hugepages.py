"""When the `eidola` command starts itself again with glibc's malloc tunables, and when not."""

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


THRESHOLDS = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864"


def test_engine_commands_get_the_tunables_added_to_the_users(linux_glibc_madvise) -> None:
    env = hp.relaunch_env(["eidola", "run", "cfg.py"], {"PATH": "/bin"})
    assert env == {"PATH": "/bin", "GLIBC_TUNABLES": f"{THRESHOLDS}:glibc.malloc.hugetlb=1"}
    env = hp.relaunch_env(["eidola", "--help-free", "sweep", "s.yaml"],
                           {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert env["GLIBC_TUNABLES"] == f"glibc.malloc.arena_max=2:{THRESHOLDS}:glibc.malloc.hugetlb=1"
    # what the user set stays theirs; only the rest is added
    env = hp.relaunch_env(["eidola", "run"], {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"})
    assert env["GLIBC_TUNABLES"] == f"glibc.malloc.hugetlb=0:{THRESHOLDS}"
    env = hp.relaunch_env(["eidola", "run"], {"EIDOLA_HUGE_PAGES": "0"})
    assert env["GLIBC_TUNABLES"] == THRESHOLDS
    # the second start finds everything set and goes on
    assert hp.relaunch_env(["eidola", "run"], env) is None


@pytest.mark.parametrize("argv, environ", [
    (["eidola", "profile", "synth"], {}),                                  # no engine
    (["eidola", "run"], {"EIDOLA_MALLOC_TUNING": "0"}),                    # opted out
    (["eidola", "run"], {"GLIBC_TUNABLES": f"glibc.malloc.hugetlb=0:{THRESHOLDS}"}),  # all set
])
def test_no_relaunch(linux_glibc_madvise, argv, environ) -> None:
    assert hp.relaunch_env(argv, environ) is None


def test_huge_pages_only_where_they_can_help(linux_glibc_madvise, monkeypatch) -> None:
    linux_glibc_madvise.write_text("[always] madvise never\n")  # every page may be huge already
    assert hp.relaunch_env(["eidola", "run"], {})["GLIBC_TUNABLES"] == THRESHOLDS
    linux_glibc_madvise.write_text("always [madvise] never\n")
    monkeypatch.setattr(hp, "_glibc_version", lambda: (2, 34))  # no hugetlb tunable before 2.35
    assert hp.relaunch_env(["eidola", "run"], {})["GLIBC_TUNABLES"] == THRESHOLDS
    monkeypatch.setattr(hp, "_glibc_version", lambda: (2, 25))  # no tunables before 2.26
    assert hp.relaunch_env(["eidola", "run"], {}) is None
    monkeypatch.setattr(hp, "_glibc_version", lambda: None)  # musl and others
    assert hp.relaunch_env(["eidola", "run"], {}) is None
    monkeypatch.setattr(hp, "_glibc_version", lambda: (2, 36))
    monkeypatch.setattr(hp.sys, "platform", "darwin")
    assert hp.relaunch_env(["eidola", "run"], {}) is None


def test_the_relaunched_command_runs_and_gives_the_same_result(tmp_path) -> None:
    """Whatever this host decides, `python -m eidola run` works with and without it, alike."""
    outs = {}
    for flag in ("0", "1"):  # EIDOLA_MALLOC_TUNING
        out = tmp_path / f"o{flag}"
        proc = subprocess.run(
            [sys.executable, "-m", "eidola", "run", str(REPO / "configs" / "eidola_8gpu.py"),
             "--profile", str(REPO / "profiles" / "p2p_2gpu.h5"), "--topology", "fully_connected",
             "--gpus", "2", "--quiet", "--outdir", str(out)],
            capture_output=True, text=True, env={**_env(), "EIDOLA_MALLOC_TUNING": flag}, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        outs[flag] = (out / "summary.json").read_text()
    timing = ("seconds", "per_second", "outdir")  # wall-clock figures and where it wrote
    strip = lambda s: [ln for ln in s.splitlines() if not any(t in ln for t in timing)]
    assert len(strip(outs["0"])) > 20 and strip(outs["0"]) == strip(outs["1"])


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
