"""The raw-result contract both hosts fill (eidola.raw): the schema holds hosts to it, gem5's
per-object series fold to one bin width, results.h5 is one layout however it is stored, and a
run cut short by its event limit is refused rather than reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eidola import raw as raw_schema
from eidola.engine import run
from eidola.errors import EidolaError
from eidola.params import RunParams
from eidola.profile.schema import OpKind
from eidola.profile.synth import synthesize
from eidola.results import results_layout, write_series_h5
from eidola.topology import build_topology


@pytest.fixture(scope="module")
def ring_run():
    prof = synthesize("allreduce", gpus=4, size_bytes=1 << 20, algo="ring")
    topo = build_topology("ring", 4, link_bw_gbps=50.0)
    return run(prof, topo, RunParams(packet_bytes=64 << 10, sync="syncmon")), topo


def test_builtin_raw_result_meets_the_schema_and_series_add_up(ring_run) -> None:
    res, topo = ring_run
    raw_schema.check(res.raw, num_gpus=4, num_channels=len(topo.channels()), backend="builtin")
    # every byte that crossed a channel is in that channel's series
    assert np.array_equal(res.raw["link_bytes_series"].sum(axis=1), res.raw["channel_bytes"])
    assert res.summary["bytes_read"] == 0 and res.summary["bytes_written"] > 0


def test_schema_names_the_missing_field_and_the_host(ring_run) -> None:
    res, topo = ring_run
    broken = {k: v for k, v in res.raw.items() if k != "gpu_packets"}
    with pytest.raises(RuntimeError, match="gem5 raw result: missing field 'gpu_packets'"):
        raw_schema.check(broken, num_gpus=4, num_channels=len(topo.channels()), backend="gem5")
    short = dict(res.raw, channel_bytes=res.raw["channel_bytes"][:-1])
    with pytest.raises(RuntimeError, match="channel_bytes"):
        raw_schema.check(short, num_gpus=4, num_channels=len(topo.channels()), backend="builtin")


def test_series_at_different_widths_fold_to_the_widest() -> None:
    fine = np.array([1, 2, 3, 4, 5], dtype=np.uint64)     # 10 ns bins
    coarse = np.array([7, 8], dtype=np.uint64)            # 40 ns bins
    rows, width = raw_schema.fold_series([fine, coarse], [10.0, 40.0])
    assert width == 40.0
    assert rows.tolist() == [[10, 5], [7, 8]]
    assert rows.sum() == fine.sum() + coarse.sum()
    with pytest.raises(RuntimeError, match="does not divide"):
        raw_schema.fold_series([fine, coarse], [30.0, 40.0])


def test_results_h5_is_one_layout_whatever_stores_it(ring_run, tmp_path: Path) -> None:
    res, topo = ring_run
    stored: dict = {}

    def store(path, attrs, entries):  # what gem5's C writer receives
        stored.update(attrs=attrs, names=[name for name, _, _ in entries])
        from eidola.results import _store_h5py

        _store_h5py(path, attrs, entries)

    write_series_h5(tmp_path / "results.h5", res.raw, topo, res.summary, store=store)
    attrs, entries = results_layout(res.raw, topo, res.summary)
    assert stored["names"] == [name for name, _, _ in entries]
    import h5py

    with h5py.File(tmp_path / "results.h5") as f:
        assert f.attrs["time_bin_ns"] == attrs["time_bin_ns"]
        assert int(f["write_latency"].attrs["samples"]) == res.raw["write_latency"]["count"]
        assert f["link_bytes"][()].sum() == res.raw["channel_bytes"].sum()
    # every array the C writer may be handed has a dtype it stores
    ok = {("f", 8), ("u", 8), ("u", 4), ("u", 1), ("b", 1), ("i", 8), ("i", 4)}
    for name, data, _ in entries:
        if data is not None:
            assert (data.dtype.kind, data.dtype.itemsize) in ok, name


def test_a_run_stopped_by_its_event_limit_is_refused_not_reported() -> None:
    prof = synthesize("allreduce", gpus=4, size_bytes=1 << 20, algo="ring")
    topo = build_topology("ring", 4, link_bw_gbps=50.0)
    with pytest.raises(EidolaError, match="max_events"):
        run(prof, topo, RunParams(packet_bytes=64 << 10), max_events=100)


# -- the run specification: one definition read by argparse, the core and gem5 ------------------


def test_every_run_parameter_with_a_flag_is_parsed_back_to_itself() -> None:
    import argparse
    from dataclasses import fields

    from eidola.params import RunParams

    p = argparse.ArgumentParser()
    RunParams.add_arguments(p, {})
    assert RunParams.from_args(p.parse_args([])) == RunParams()
    args = p.parse_args(["--poll-interval", "20", "--packet-size", "64KiB", "--no-series",
                         "--sync", "syncmon", "--max-outstanding-bytes", "auto", "--flag-stride", "8"])
    got = RunParams.from_args(args)
    assert (got.poll_interval_ns, got.packet_bytes, got.series, got.sync, got.max_outstanding_bytes,
            got.flag_stride_bytes) == (20.0, 65536, False, "syncmon", None, 8)
    flagged = [f.name for f in fields(RunParams) if f.metadata]
    assert len(flagged) >= 15 and all(RunParams.__dataclass_fields__[n].metadata["help"] for n in flagged)


def test_the_core_has_no_defaults_of_its_own_for_run_parameters() -> None:
    from eidola import _engine

    prof = synthesize("p2p", gpus=2, size_bytes=1 << 16)
    topo = build_topology("ring", 2, link_bw_gbps=50.0)
    from eidola.engine.run import _network

    params = RunParams()
    cfg = {**params.to_dict(), "max_outstanding_bytes": 1 << 20, "num_gpus": 2, "num_iterations": 1,
           "compute_cv": 0.0, "straggler_prob": 0.0, "straggler_slowdown": 1.0, "time_origin_ns": 0.0,
           "max_events": 0}
    del cfg["poll_bytes"]
    with pytest.raises(ValueError, match="run parameter 'poll_bytes' is missing"):
        _engine.run(iter(prof.ops), _network(topo, params), cfg)


def test_gem5_parameters_named_by_the_run_spec_exist_without_defaults_in_gem5() -> None:
    import re

    from eidola.params import RunParams

    text = (Path(__file__).resolve().parents[1] / "src_cc" / "gem5" / "Eidola.py").read_text()
    body = text[text.index("class EidolonGPU("):text.index("class EidolaWire(")]
    declared = dict(re.findall(r"^\s+(\w+) = Param\.\w+\((.*)\)$", body, re.M))
    for name in RunParams().gem5_params():
        assert name in declared, name
        first = declared[name].split(",")[0].strip()
        assert len(declared[name].split('", "')) == 1 and first.startswith('"'), \
            f"{name} has a default in Eidola.py: {declared[name]}"


def _core_inputs(gpus: int):
    from eidola.engine.run import _network

    prof = synthesize("allreduce", gpus=gpus, size_bytes=1 << 16, algo="ring")
    topo = build_topology("ring", gpus, link_bw_gbps=50.0)
    params = RunParams()
    cfg = {**params.to_dict(), "max_outstanding_bytes": 1 << 20, "num_gpus": gpus, "num_iterations": 1,
           "compute_cv": 0.0, "straggler_prob": 0.0, "straggler_slowdown": 1.0, "time_origin_ns": 0.0,
           "max_events": 0}
    return prof, _network(topo, params), cfg


def test_programs_built_beside_the_feed_report_the_core_refusal_of_a_late_gpu() -> None:
    """Programs are built on a worker thread while the next GPUs are fed: a bad op of GPU 11
    still fails the call with the core's one-line message for that GPU and op."""
    from eidola import _engine

    prof, net, cfg = _core_inputs(12)
    ops = [o.copy() for o in prof.ops]
    bad = int(np.flatnonzero(ops[11]["kind"] == OpKind.WRITE)[0])
    ops[11]["peer"][bad] = 99
    with pytest.raises(ValueError, match=rf"^gpu 11 op {bad}: field 'peer': 99 is outside 0..11"):
        _engine.run(iter(ops), net, cfg)
    assert _engine.run(iter(prof.ops), net, cfg)["finished"]  # and the module is usable after


def test_a_feed_that_fails_midway_stops_the_run_with_its_own_error() -> None:
    from eidola import _engine

    prof, net, cfg = _core_inputs(12)

    class FeedBroke(RuntimeError):
        pass

    def feed():
        for g, o in enumerate(prof.ops):
            if g == 10:  # several GPUs are still being built on the worker by now
                raise FeedBroke("gpu 10 could not be read")
            yield o

    with pytest.raises(FeedBroke, match="gpu 10 could not be read"):
        _engine.run(feed(), net, cfg)
