"""The HDF5 layout: round trips, chunked access, atomic writes, and refusing bad files."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from eidola.errors import EidolaError
from eidola.profile.io import GZIP_LEVEL
from eidola.profile import (OP_DTYPE, OpKind, Profile, ProfileReader, ProfileWriter, empty_ops,
                            profile_header, profile_info, read_profile, write_profile)
from eidola.profile.synth import synthesize

MiB = 1 << 20


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_round_trip_keeps_ops_attrs_and_variability(tmp_path: Path) -> None:
    prof = synthesize("gemm-rs", gpus=4, size_bytes=4 * MiB, jitter=0.1, straggler_prob=0.25,
                      straggler_slowdown=1.5)
    path = write_profile(prof, tmp_path / "g.h5")
    back = read_profile(path)
    assert back.num_gpus == 4
    for a, b in zip(prof.ops, back.ops):
        assert a.dtype == b.dtype == OP_DTYPE
        assert np.array_equal(a, b)
    for key in ("name", "kind", "importer", "collectives", "num_iterations", "parameters",
                "source_files"):
        assert back.attrs[key] == prof.attrs[key], key
    assert back.variability == {"compute_cv": 0.1, "straggler_prob": 0.25, "straggler_slowdown": 1.5}
    assert back.attrs["format"] == "eidola-profile" and back.attrs["version"] == 1


def test_on_disk_layout_is_plain_for_the_c_api(tmp_path: Path) -> None:
    prof = synthesize("allreduce", gpus=3, size_bytes=MiB)
    prof.ops[2] = empty_ops(0)  # a GPU without ops still gets its dataset
    path = write_profile(prof, tmp_path / "a.h5")
    with h5py.File(path, "r") as f:
        for key in ("format", "time_unit", "name", "kind", "importer", "source_files",
                    "eidola_version", "created_utc", "parameters"):
            t = f.attrs.get_id(key).get_type()
            assert isinstance(t, h5py.h5t.TypeStringID) and not t.is_variable_str(), key
            assert t.get_strpad() == h5py.h5t.STR_NULLPAD
        assert f.attrs["format"] == b"eidola-profile"
        assert f.attrs["time_unit"] == b"ns"
        for key in ("version", "num_gpus", "num_iterations", "collectives"):
            assert f.attrs[key].dtype == np.int64, key
        assert int(f.attrs["version"]) == 1 and int(f.attrs["num_gpus"]) == 3
        assert json.loads(f.attrs["parameters"])["size_bytes"] == MiB
        assert json.loads(f.attrs["source_files"]) == []
        var = f["variability"].attrs
        assert (float(var["compute_cv"]), float(var["straggler_prob"]),
                float(var["straggler_slowdown"])) == (0.0, 0.0, 1.0)
        for g in range(3):
            ds = f[f"gpus/{g}/ops"]
            assert ds.dtype == OP_DTYPE
            assert ds.compression == "gzip" and ds.compression_opts == GZIP_LEVEL
            assert ds.chunks is not None and ds.maxshape == (None,)
            assert int(f[f"gpus/{g}"].attrs["num_streams"]) == (1 if g < 2 else 0)
        assert f["gpus/2/ops"].shape == (0,)


def test_chunked_iter_ops_equals_full_read(tmp_path: Path) -> None:
    prof = synthesize("allreduce", gpus=4, size_bytes=64 * MiB, chunk_bytes=256 * 1024)
    path = write_profile(prof, tmp_path / "a.h5")
    with ProfileReader(path) as r:
        for g in range(4):
            parts = list(r.iter_ops(g, chunk_rows=37))
            assert all(len(p) <= 37 for p in parts)
            assert np.array_equal(np.concatenate(parts), r.read_ops(g))
            assert np.array_equal(r.read_ops(g), prof.ops[g])


def test_writer_appends_in_chunks_and_counts_streams(tmp_path: Path) -> None:
    ops = empty_ops(200_000)
    ops["kind"] = OpKind.COMPUTE
    ops["dur_ns"] = 1.0
    ops["t_ns"] = np.arange(len(ops), dtype=float)
    ops["stream"] = np.repeat(np.arange(4), 50_000)
    path = tmp_path / "big.h5"
    with ProfileWriter(path, num_gpus=2, attrs={"name": "big"}) as w:
        for i in range(0, len(ops), 30_000):
            w.append(0, ops[i:i + 30_000])
        assert not path.exists()  # nothing visible until the block ends
    with ProfileReader(path) as r:
        assert r.num_ops(0) == 200_000 and r.num_ops(1) == 0
        assert r.num_streams(0) == 4
        assert np.array_equal(r.read_ops(0), ops)
    info = profile_info(path)
    assert info["num_ops"] == 200_000 and info["ops_by_kind"]["compute"] == 200_000


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "x.h5"
    with pytest.raises(RuntimeError):
        with ProfileWriter(out, num_gpus=1) as w:
            w.append(0, empty_ops(10))
            raise RuntimeError("boom")
    assert _leftovers(tmp_path) == []


def test_overwrite_is_atomic_and_keeps_old_file_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "p.h5"
    write_profile(synthesize("p2p", gpus=2, size_bytes=MiB), out)
    before = out.read_bytes()
    bad = Profile(num_gpus=1, ops=[empty_ops(1)], attrs={"name": "x", "weird": object()})
    with pytest.raises(TypeError):
        write_profile(bad, out)
    assert out.read_bytes() == before
    assert _leftovers(tmp_path) == ["p.h5"]


def test_header_without_ops(tmp_path: Path) -> None:
    path = write_profile(synthesize("allreduce", gpus=8, size_bytes=MiB), tmp_path / "a.h5")
    h = profile_header(path)
    assert h["num_gpus"] == 8 and h["kind"] == "allreduce" and h["num_iterations"] == 1
    assert h["variability"]["straggler_slowdown"] == 1.0


def _assert_one_line(err: EidolaError, *needles: str) -> None:
    msg = str(err)
    assert "\n" not in msg
    for n in needles:
        assert n in msg, (n, msg)


def test_bad_files_are_clear_errors(tmp_path: Path) -> None:
    good = write_profile(synthesize("p2p", gpus=2, size_bytes=MiB), tmp_path / "good.h5")
    cases: dict[str, tuple[bytes | None, tuple[str, ...]]] = {
        "missing.h5": (None, ("no such file",)),
        "empty.h5": (b"", ("empty file",)),
        "text.h5": (b"gpu,stream\n0,0\n", ("not an HDF5 file",)),
        "truncated.h5": (good.read_bytes()[:2000], ("truncated or corrupt",)),
    }
    for name, (data, needles) in cases.items():
        p = tmp_path / name
        if data is not None:
            p.write_bytes(data)
        with pytest.raises(EidolaError) as err:
            read_profile(p)
        _assert_one_line(err.value, str(p), *needles)


def _edit(path: Path, fn) -> Path:
    with h5py.File(path, "r+") as f:
        fn(f)
    return path


def test_wrong_format_future_version_and_missing_dataset(tmp_path: Path) -> None:
    def fresh(name: str) -> Path:
        return write_profile(synthesize("p2p", gpus=2, size_bytes=MiB), tmp_path / name)

    p = _edit(fresh("fmt.h5"), lambda f: f.attrs.modify("format", np.bytes_(b"other-thing")))
    with pytest.raises(EidolaError) as err:
        read_profile(p)
    _assert_one_line(err.value, str(p), "field 'format'", "other-thing")

    p = _edit(fresh("v2.h5"), lambda f: f.attrs.modify("version", np.int64(2)))
    with pytest.raises(EidolaError) as err:
        read_profile(p)
    _assert_one_line(err.value, "field 'version'", "newer than this eidola supports")

    p = _edit(fresh("nods.h5"), lambda f: f.__delitem__("gpus/1/ops"))
    with pytest.raises(EidolaError) as err:
        read_profile(p)
    _assert_one_line(err.value, "field 'gpus/1/ops'", "missing")

    # GPU 0 is fine, so GPU 1's dataset is held against GPU 0's type, not only checked alone
    def fieldless(f: h5py.File) -> None:
        del f["gpus/1/ops"]
        f["gpus/1/ops"] = np.zeros(3, dtype=[("t_ns", "<f8"), ("kind", "u1")])
    p = _edit(fresh("fields.h5"), fieldless)
    with pytest.raises(EidolaError) as err:
        read_profile(p)
    _assert_one_line(err.value, "field 'gpus/1/ops'", "lacks the op field(s) dur_ns")

    p = _edit(fresh("group.h5"), lambda f: (f.__delitem__("gpus/1/ops"), f.create_group("gpus/1/ops")))
    with pytest.raises(EidolaError) as err:
        read_profile(p)
    _assert_one_line(err.value, "field 'gpus/1/ops'", "1-D dataset of op records")

    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["x"] = [1, 2, 3]
    with pytest.raises(EidolaError) as err:
        read_profile(tmp_path / "plain.h5")
    _assert_one_line(err.value, "field 'format'", "not an eidola profile")


def test_float_integer_fields_written_by_another_tool_are_checked_not_truncated(tmp_path) -> None:
    import h5py

    from eidola.errors import EidolaError
    from eidola.profile import read_profile, write_profile
    from eidola.profile.synth import synthesize

    path = write_profile(synthesize("p2p", 2, 4096), tmp_path / "p.h5")
    with h5py.File(path, "a") as f:
        ops = f["gpus/0/ops"][()]
        dt = [(n, "<f8" if n in ("bytes", "peer") else ops.dtype.fields[n][0]) for n in ops.dtype.names]
        new = np.zeros(len(ops), dtype=dt)
        for n in ops.dtype.names:
            new[n] = ops[n]
        del f["gpus/0/ops"]
        f["gpus/0/ops"] = new
    assert read_profile(path).ops[0]["bytes"][0] == 4096  # integral floats read exactly
    with h5py.File(path, "a") as f:
        f["gpus/0/ops"][0, "bytes"] = 100.7
    with pytest.raises(EidolaError, match="field 'bytes'.*op 0 has bytes = 100.7, not an integer"):
        read_profile(path)


def test_atomic_outputs_get_normal_file_permissions(tmp_path) -> None:
    import os
    import stat

    from eidola.results import atomic_write_bytes

    old = os.umask(0o022)
    try:
        target = tmp_path / "summary.json"
        atomic_write_bytes(target, b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary left


# Each layout a file may store ops in: (h5py create_dataset options, decoded off the main
# thread by eidola.profile.chunks?). Every one must read back exactly as h5py reads it.
_LAYOUTS = [
    ({"chunks": (1000,), "compression": "gzip", "compression_opts": 1, "shuffle": True}, True),
    ({"chunks": (1000,), "shuffle": True}, True),
    ({"chunks": (1000,), "compression": "gzip"}, True),
    ({"chunks": (1000,)}, True),
    ({}, False),  # contiguous
    ({"chunks": (1000,), "compression": "gzip", "fletcher32": True}, False),
    ({"chunks": (1000,), "compression": "lzf"}, False),
]


def test_read_ahead_decodes_every_layout_like_h5py(tmp_path: Path) -> None:
    from eidola.profile.chunks import layout_of

    prof = synthesize("allreduce", gpus=len(_LAYOUTS), size_bytes=16 * MiB, chunk_bytes=4096)
    path = write_profile(prof, tmp_path / "layouts.h5")
    with h5py.File(path, "r+") as f:
        for g, (opts, _) in enumerate(_LAYOUTS):
            ops = f[f"gpus/{g}/ops"][()]
            assert len(ops) > 2500  # several chunks, the last one partly filled
            del f[f"gpus/{g}/ops"]
            f.create_dataset(f"gpus/{g}/ops", data=ops, **opts)
    with h5py.File(path) as f:
        assert [layout_of(f[f"gpus/{g}/ops"]) is not None for g in range(len(_LAYOUTS))] == \
            [fast for _, fast in _LAYOUTS]
        expected = [f[f"gpus/{g}/ops"][()] for g in range(len(_LAYOUTS))]
    for order in (range(len(_LAYOUTS)), [3, 0, 6, 1, 5, 2, 4]):  # in order, and not
        with ProfileReader(path) as r:
            for g in order:
                got = r.read_ops(g)
                assert got.dtype == OP_DTYPE and got.tobytes() == expected[g].tobytes(), g
                assert np.array_equal(got, prof.ops[g])


def test_corrupt_chunk_is_a_one_line_error_naming_the_dataset(tmp_path: Path) -> None:
    prof = synthesize("allreduce", gpus=4, size_bytes=16 * MiB, chunk_bytes=4096)
    path = write_profile(prof, tmp_path / "bad.h5")
    with h5py.File(path) as f:
        info = f["gpus/2/ops"].id.get_chunk_info(0)
    raw = bytearray(path.read_bytes())
    for i in range(info.byte_offset + 8, info.byte_offset + info.size - 8):
        raw[i] ^= 0x5A  # garble the deflate stream of GPU 2's first chunk
    path.write_bytes(bytes(raw))
    with ProfileReader(path) as r:
        assert np.array_equal(r.read_ops(0), prof.ops[0])
        assert np.array_equal(r.read_ops(1), prof.ops[1])  # GPU 2 was decoded ahead meanwhile
        with pytest.raises(EidolaError) as err:
            r.read_ops(2)
    msg = str(err.value)
    assert "bad.h5" in msg and "gpus/2/ops" in msg and "corrupt" in msg and "\n" not in msg


def test_writer_stores_whole_gpus_in_hdf5s_own_chunk_layout(tmp_path: Path) -> None:
    """A GPU's first ops are compressed off the main thread and stored as raw chunks: HDF5
    (h5py's filter pipeline) must read them back exactly, and later appends must extend them."""
    prof = synthesize("allreduce", gpus=3, size_bytes=16 * MiB, chunk_bytes=4096)
    path = tmp_path / "direct.h5"
    with ProfileWriter(path, num_gpus=3, chunk_rows=1000) as w:
        w.append(0, prof.ops[0])  # several whole chunks and a padded edge chunk
        w.append(1, prof.ops[1][:1500])
        w.append(1, prof.ops[1][1500:])  # extends a stored edge chunk through HDF5
        w.append(2, prof.ops[2][:0])
        w.append(2, prof.ops[2])
    with h5py.File(path) as f:
        for g in range(3):
            ds = f[f"gpus/{g}/ops"]
            assert ds.compression == "gzip" and ds.shuffle and ds.chunks == (1000,)
            assert ds.id.get_num_chunks() == -(-len(prof.ops[g]) // 1000)
            assert ds[()].tobytes() == prof.ops[g].tobytes(), g
