"""`eidola profile ...` through click: outputs, exit codes, one-line errors, no partial files."""

from __future__ import annotations

import json

import numpy as np
from pathlib import Path

import pytest
from click.testing import CliRunner

from eidola.cli import main
from eidola.profile import OpKind, read_profile, write_profile
from eidola.profile.synth import synthesize

MiB = 1 << 20


def invoke(*args: str):
    return CliRunner().invoke(main, ["profile", *args])


def test_synth_then_info_json(tmp_path: Path) -> None:
    out = tmp_path / "ar.h5"
    r = invoke("synth", "allreduce", "--gpus", "8", "--size", "64MiB", "--chunk", "4MiB", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and out.exists()
    r = invoke("info", str(out), "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["num_gpus"] == 8
    assert info["bytes_written"] == 2 * 7 * 64 * MiB
    assert info["collectives"] == 1
    assert info["ops_by_kind"]["write"] == 8 * 14 * 2  # 2 slices of 4 MiB per 8 MiB step
    assert info["ops_by_kind"]["signal"] == info["ops_by_kind"]["write"]
    assert info["num_ops"] == sum(info["ops_by_kind"].values())
    assert info["duration_ns"] > 0 and info["num_streams"] == 8
    assert info["num_iterations"] == 1 and info["format_version"] == 1
    assert info["importer"] == "synth" and info["parameters"]["size_bytes"] == 64 * MiB
    assert info["eidola_version"] and info["created_utc"].endswith("Z")


def test_info_human_form_has_units(tmp_path: Path) -> None:
    out = tmp_path / "g.h5"
    assert invoke("synth", "gemm-rs", "--gpus", "4", "--size", "16MiB", "--jitter", "0.1",
                  "--straggler-prob", "0.05", "--straggler-slowdown", "1.5", "-o", str(out)).exit_code == 0
    r = invoke("info", str(out))
    assert r.exit_code == 0
    assert "48 MiB (50,331,648 B)" in r.output  # (n-1) S
    assert "compute_cv 0.1, straggler_prob 0.05, straggler_slowdown 1.5" in r.output
    assert " ms" in r.output or " us" in r.output


def test_synth_all_options(tmp_path: Path) -> None:
    out = tmp_path / "x.h5"
    r = invoke("synth", "gemm-rs", "--gpus", "4", "--size", "8MiB", "--tile", "256KiB",
               "--compute-ns", "2000", "--streams", "3", "--jitter", "0.2", "--iterations", "2",
               "--seed", "7", "-o", str(out))
    assert r.exit_code == 0, r.output
    prof = read_profile(out)
    assert prof.attrs["num_iterations"] == 2 and set(prof.ops[0]["stream"]) == {0, 1, 2}
    assert prof.attrs["parameters"]["tile_bytes"] == 256 * 1024
    assert invoke("validate", str(out)).exit_code == 0


def test_validate_ok_and_broken(tmp_path: Path) -> None:
    good = tmp_path / "good.h5"
    assert invoke("synth", "allreduce", "--gpus", "4", "--size", "1MiB", "-o", str(good)).exit_code == 0
    r = invoke("validate", str(good))
    assert r.exit_code == 0 and r.output.startswith("ok: ")
    prof = read_profile(good)
    waits = prof.ops[3]["kind"] == OpKind.WAIT
    idx = int(waits.nonzero()[0][-1])
    prof.ops[3]["value"][idx] = 9
    flag = int(prof.ops[3]["flag"][idx])
    bad = write_profile(prof, tmp_path / "bad.h5")
    r = invoke("validate", str(bad))
    assert r.exit_code == 1
    assert f"gpu 3 stream 0 op {idx}: waits for flag {flag} >= 9" in r.output
    assert "1 problem(s)" in r.output


def test_import_kineto(shared_traces: Path, tmp_path: Path) -> None:
    out = tmp_path / "k.h5"
    r = invoke("import", "kineto", str(shared_traces / "kineto/allreduce_broadcast_2rank_rank0.json.gz"),
               "-o", str(out))
    assert r.exit_code == 0, r.output
    assert "7 collectives per iteration, 3 recorded iterations" in r.output
    info = json.loads(invoke("info", str(out), "--json").output)
    assert info["num_gpus"] == 2 and info["collectives"] == 7 and info["importer"] == "kineto"
    # per-iteration spans (ProfilerStep#4..#6) and how much they vary
    spans = info["iteration_spans_ns"]
    assert len(spans) == 3 and all(s > 0 for s in spans)
    assert info["iteration_span_cv"] == pytest.approx(np.std(spans, ddof=1) / np.mean(spans))
    text = invoke("info", str(out)).output
    assert "iteration spans" in text and "CV" in text


def test_import_iris_and_csv(tmp_path: Path) -> None:
    out = tmp_path / "i.h5"
    fixture = Path(__file__).parent / "data" / "iris_gemm_rs_2rank.json"
    assert invoke("import", "iris", str(fixture), "-o", str(out)).exit_code == 0
    assert invoke("validate", str(out)).exit_code == 0
    csv = tmp_path / "a.csv"
    csv.write_text("gpu,stream,kind,t_ns,dur_ns,peer,bytes,flag,value\n0,0,write,0,,1,64,,\n")
    r = invoke("import", "csv", str(csv), "-o", str(tmp_path / "c.h5"), "--gpus", "3")
    assert r.exit_code == 0, r.output
    assert read_profile(tmp_path / "c.h5").num_gpus == 3


def _bad_inputs(tmp: Path) -> list[tuple[list[str], str]]:
    import shutil

    import h5py

    (tmp / "empty.h5").write_bytes(b"")
    (tmp / "text.h5").write_text("hello")
    (tmp / "broken.json").write_text('{"traceEvents": [')
    (tmp / "empty.json").write_text("")
    (tmp / "nocoll.json").write_text(json.dumps({"traceEvents": [
        {"ph": "X", "cat": "kernel", "name": "sgemm", "ts": 0, "dur": 1, "pid": 0, "tid": 0}]}))
    good = tmp / "good.h5"
    write_profile(synthesize("p2p", 2, MiB), good)
    (tmp / "trunc.h5").write_bytes(good.read_bytes()[:1500])
    shutil.copy(good, tmp / "future.h5")
    with h5py.File(tmp / "future.h5", "r+") as f:
        f.attrs.modify("version", 99)
    shutil.copy(good, tmp / "other.h5")
    with h5py.File(tmp / "other.h5", "r+") as f:
        f.attrs.modify("format", b"not-eidola")
    (tmp / "adir").mkdir()
    out = str(tmp / "out.h5")
    return [
        (["synth", "allreduce", "--size", "1MiB", "-o", out], "field 'gpus': missing option --gpus"),
        (["synth", "allreduce", "--gpus", "2", "--size", "1MiB"], "missing option -o/--output"),
        (["synth", "allreduce", "--gpus", "2", "--size", "1MiB", "-o", str(tmp / "adir")],
         "adir: is a directory"),
        (["import", "csv", "-o", out], "field 'input': no input files given"),
        (["synth", "allreducex", "--gpus", "8", "--size", "1MiB", "-o", out], "field 'kind'"),
        (["synth", "allreduce", "--gpus", "8", "--size", "lots", "-o", out], "field 'size'"),
        (["synth", "allreduce", "--gpus", "8", "--size", "-1MiB", "-o", out], "field 'size'"),
        (["synth", "allreduce", "--gpus", "8", "--size", "1MiB", "--algo", "butterfly", "-o", out], "field 'algo'"),
        (["synth", "allreduce", "--gpus", "eight", "--size", "1MiB", "-o", out], "field 'gpus'"),
        (["synth", "allreduce", "--gpus", "8", "--size", "1MiB", "--chunk", "0", "-o", out], "field 'chunk'"),
        (["import", "pcap", str(tmp / "broken.json"), "-o", out], "field 'format'"),
        (["import", "kineto", str(tmp / "broken.json"), "-o", out], "broken.json: not valid JSON"),
        (["import", "kineto", str(tmp / "empty.json"), "-o", out], "empty.json: empty file"),
        (["import", "kineto", str(tmp / "nocoll.json"), "-o", out], "no NCCL/RCCL collective kernels"),
        (["import", "kineto", str(tmp / "missing.json"), "-o", out], "missing.json: no such file"),
        (["import", "kineto", str(tmp / "broken.json"), "--default-size", "x", "-o", out],
         "field 'default_size'"),
        (["info", str(tmp / "empty.h5")], "empty.h5: empty file"),
        (["info", str(tmp / "text.h5")], "text.h5: not an HDF5 file"),
        (["info", str(tmp / "trunc.h5")], "trunc.h5: cannot read the file: truncated"),
        (["info", str(tmp / "future.h5")], "future.h5: field 'version': format version 99 is newer"),
        (["validate", str(tmp / "other.h5")], "other.h5: field 'format'"),
        (["validate", str(tmp / "trunc.h5")], "trunc.h5"),
    ]


def test_bad_inputs_exit_2_with_one_line_and_no_output_file(tmp_path: Path) -> None:
    for args, needle in _bad_inputs(tmp_path):
        before = sorted(p.name for p in tmp_path.iterdir())
        r = invoke(*args)
        assert r.exit_code == 2, (args, r.output)
        err = r.stderr
        assert err.startswith("error: ") and err.count("\n") == 1, (args, err)
        assert needle in err, (args, err)
        assert "Traceback" not in r.output
        assert not (tmp_path / "out.h5").exists(), args
        assert sorted(p.name for p in tmp_path.iterdir()) == before, args  # no temp files either


@pytest.mark.parametrize("kind", ["p2p", "allreduce", "reducescatter", "allgather", "alltoall",
                                  "broadcast", "gemm-rs", "gemm-ag"])
def test_every_kind_from_the_cli_validates(tmp_path: Path, kind: str) -> None:
    out = tmp_path / f"{kind}.h5"
    r = invoke("synth", kind, "--gpus", "4", "--size", "4MiB", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert invoke("validate", str(out)).exit_code == 0
