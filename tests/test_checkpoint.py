"""gem5 checkpoint options, checked without gem5: what is refused and what a restore compares.

The checkpoints themselves (drain, save, restore, identical results) are tested under gem5 in
tests/test_gem5.py; the core's state round trips in src_cc/tests/core_test.cc.
"""

from __future__ import annotations

import json
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import pytest

from eidola.errors import EidolaError
from eidola.gem5 import checkpoint as ckpt
from eidola.runner import build_parser, params_from_args, topology_from_args

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "p2p_2gpu.h5"


def args_of(*argv: str) -> Namespace:
    return build_parser().parse_args(["--profile", str(PROFILE), *argv])


def identity_of(*argv: str, profile: Path = PROFILE) -> dict:
    args = build_parser().parse_args(["--profile", str(profile), *argv])
    return ckpt.run_identity(args, topology_from_args(args, 2), params_from_args(args))


def fake_checkpoint(path: Path, identity: dict, fmt: int = ckpt.CHECKPOINT_FORMAT) -> Path:
    path.mkdir(parents=True)
    (path / ckpt.GEM5_FILE).write_text("[root]\n")
    (path / ckpt.IDENTITY_FILE).write_text(json.dumps({"format": fmt, "model": identity}))
    return path


@pytest.mark.parametrize("option", [["--checkpoint-at", "1000"], ["--restore", "."]])
def test_builtin_engine_refuses_checkpoint_options_in_one_line(tmp_path: Path, option: list[str]) -> None:
    if option[0] == "--restore":
        option = ["--restore", str(fake_checkpoint(tmp_path / "c", {}))]
    proc = subprocess.run([sys.executable, str(REPO / "configs" / "eidola_8gpu.py"), "--profile", str(PROFILE),
                           "--outdir", str(tmp_path / "out"), *option], capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "gem5.opt" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, field, words", [
    (["--checkpoint-at", "0"], "checkpoint_at", "after 0 ns"),
    (["--checkpoint-at", "nan"], "checkpoint_at", "after 0 ns"),
    (["--checkpoint-at", "1e17"], "checkpoint_at", "beyond gem5's last tick"),
    (["--checkpoint-dir", "x"], "checkpoint_dir", "needs --checkpoint-at"),
    (["--restore", "/nonexistent/ckpt"], "restore", "no such checkpoint"),
])
def test_bad_checkpoint_options_are_refused_naming_the_option(argv: list[str], field: str, words: str) -> None:
    with pytest.raises(EidolaError) as err:
        ckpt.request_from_args(args_of(*argv))
    assert err.value.field == field and words in str(err.value)


def test_a_users_directory_is_never_replaced_by_a_checkpoint(tmp_path: Path) -> None:
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "thesis.tex").write_text("mine")
    with pytest.raises(EidolaError, match="not an Eidola checkpoint"):
        ckpt.request_from_args(args_of("--checkpoint-at", "5", "--checkpoint-dir", str(mine)))
    old = fake_checkpoint(tmp_path / "old", {})  # an earlier checkpoint may be replaced
    assert ckpt.request_from_args(args_of("--checkpoint-at", "5", "--checkpoint-dir", str(old))).active


def test_a_directory_without_the_gem5_file_is_not_a_checkpoint(tmp_path: Path) -> None:
    half = fake_checkpoint(tmp_path / "c", {})
    (half / ckpt.GEM5_FILE).unlink()
    with pytest.raises(EidolaError, match=r"m5\.cpt is missing"):
        ckpt.request_from_args(args_of("--restore", str(half)))


def test_restore_compares_the_resolved_system_and_the_profile(tmp_path: Path) -> None:
    saved = identity_of("--sync", "syncmon", "--outdir", "a")
    c = fake_checkpoint(tmp_path / "c", saved)
    # Output options may differ, and an option given at the value it resolves to anyway is the
    # same system (mi300x links are 48 GB/s).
    ckpt.check_restore(c, identity_of("--sync", "syncmon", "--outdir", "b", "--quiet", "--link-bw", "48"))
    with pytest.raises(EidolaError) as err:
        ckpt.check_restore(c, identity_of("--sync", "polling"))
    assert "params.sync = 'syncmon'" in str(err.value) and "'polling'" in str(err.value)
    with pytest.raises(EidolaError) as err:  # the rate the user set, not the window derived from it
        ckpt.check_restore(c, identity_of("--sync", "syncmon", "--link-bw", "50"))
    assert "topology.link_bw_gbps = [48.0]" in str(err.value) and "[50.0]" in str(err.value)
    other = tmp_path / "other.h5"
    other.write_bytes(PROFILE.read_bytes() + b"\0")
    with pytest.raises(EidolaError, match="another profile"):
        ckpt.check_restore(c, identity_of("--sync", "syncmon", profile=other))
    broken = tmp_path / "broken"
    fake_checkpoint(broken, saved)
    (broken / ckpt.IDENTITY_FILE).write_text(json.dumps({"format": ckpt.CHECKPOINT_FORMAT, "model": [1]}))
    with pytest.raises(EidolaError, match="no run description"):
        ckpt.check_restore(broken, saved)


def test_a_checkpoint_of_another_format_is_refused(tmp_path: Path) -> None:
    ident = identity_of()
    c = fake_checkpoint(tmp_path / "c", ident, fmt=ckpt.CHECKPOINT_FORMAT + 1)
    with pytest.raises(EidolaError, match="checkpoint format"):
        ckpt.check_restore(c, ident)


def test_install_replaces_an_older_checkpoint_whole(tmp_path: Path, capsys) -> None:
    final = fake_checkpoint(tmp_path / "ckpt", {"old": True})
    (final / "stale").write_text("from the old one")
    new = fake_checkpoint(tmp_path / ".partial", {"old": False})
    ckpt.install(new, final)
    assert "replacing the earlier checkpoint" in capsys.readouterr().err
    assert not new.exists() and not (final / "stale").exists()
    assert json.loads((final / ckpt.IDENTITY_FILE).read_text())["model"] == {"old": False}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


class FakeM5:
    """What `take` uses of gem5's m5 module: a checkpoint writer, the tick, the outdir."""

    def __init__(self, outdir: Path, tick: int = 5_000_000) -> None:
        self.options = Namespace(outdir=str(outdir))
        self.tick = tick

    def checkpoint(self, where: str) -> None:
        Path(where).mkdir(parents=True)
        (Path(where) / ckpt.GEM5_FILE).write_text("[root]\n")

    def curTick(self) -> int:  # noqa: N802 (gem5's name)
        return self.tick


def test_take_writes_gem5s_default_directory_and_never_replaces_a_users(tmp_path: Path) -> None:
    m5 = FakeM5(tmp_path / "m5out")
    info = ckpt.take(m5, None, {"x": 1}, 4000.0)
    assert info == {"dir": str(tmp_path / "m5out" / "cpt.5000000"), "requested_at_ns": 4000.0,
                    "taken_at_ns": 5000.0}
    assert ckpt.is_checkpoint(Path(info["dir"]))
    mine = tmp_path / "m5out" / "cpt.6000000"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(EidolaError, match="not an Eidola checkpoint"):
        ckpt.take(FakeM5(tmp_path / "m5out", tick=6_000_000), None, {"x": 1}, 5500.0)
    assert (mine / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "m5out").iterdir()) == ["cpt.5000000", "cpt.6000000"]
