"""Profile files (HDF5, format version 1): the only code that writes or opens them.

Why its own module: the on-disk layout is a contract with the C++ reader
(``src_cc/core/profile_h5.cc``) and with gem5 runs on other machines, so it lives in one place.
Writes are atomic (temp file in the same directory, fsync, rename) so an interrupted or failed
write never leaves a partial profile; reads turn every HDF5 failure into a one-line
EidolaError naming the file and the field. The layout is documented in docs/profile-format.md.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from eidola import __version__
from eidola.errors import EidolaError
from eidola.profile.chunks import ChunkEncoder, OpsSummary, ReadAhead, summarize
from eidola.profile.model import DEFAULT_VARIABILITY, JSON_ATTRS, Profile
from eidola.profile.schema import FORMAT_NAME, FORMAT_VERSION, OP_DTYPE, TIME_UNIT, empty_ops

#: Rows per HDF5 chunk of a growing dataset (and the largest chunk we ever use).
CHUNK_ROWS = 65536
#: gzip level (plus the shuffle filter): level 1 writes a 1024-GPU ring all-reduce (6.3 M ops)
#: in 6.2 s against 7.1-8.6 s at level 4, for a file 7% larger (20.8 against 19.3 MB)
#: (`eidola profile synth allreduce --gpus 1024 --size 1GiB --algo ring`, pairs interleaved).
GZIP_LEVEL = 1
#: Root attributes the writer always sets itself.
_INT_ATTRS = ("version", "num_gpus", "num_iterations", "collectives")
_STR_ATTRS = ("format", "time_unit", "name", "kind", "importer", "eidola_version", "created_utc")


def _ops_path(gpu: int) -> str:
    return f"gpus/{gpu}/ops"


def _encode_str(value: str) -> tuple[np.bytes_, Any]:
    """Fixed-length, NUL-padded string attribute (ASCII unless the text needs UTF-8)."""
    raw = value.encode("utf-8")
    try:
        value.encode("ascii")
        cset = "ascii"
    except UnicodeEncodeError:
        cset = "utf-8"
    return np.bytes_(raw), h5py.string_dtype(cset, max(1, len(raw)))


def _json_default(obj: Any) -> Any:
    """numpy scalars and arrays inside parameters become plain JSON numbers and lists."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _set_attr(obj: h5py.HLObject, key: str, value: Any) -> None:
    if key in JSON_ATTRS or isinstance(value, (dict, list, tuple)):
        value = json.dumps(value, sort_keys=True, ensure_ascii=True, default=_json_default)
    if isinstance(value, str):
        data, dtype = _encode_str(value)
        obj.attrs.create(key, data, dtype=dtype)
    elif isinstance(value, (bool, np.bool_)):
        obj.attrs[key] = np.int64(int(value))
    elif isinstance(value, (int, np.integer)):
        obj.attrs[key] = np.int64(value)
    elif isinstance(value, (float, np.floating)):
        obj.attrs[key] = np.float64(value)
    elif value is None:
        data, dtype = _encode_str("")
        obj.attrs.create(key, data, dtype=dtype)
    else:
        raise TypeError(f"profile attribute {key!r} has unsupported type {type(value).__name__}")


def _decode_attr(key: str, value: Any) -> Any:
    if isinstance(value, (bytes, np.bytes_)):
        value = bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, str) and key in JSON_ATTRS:
        try:
            return json.loads(value) if value else ({} if key == "parameters" else [])
        except ValueError:
            raise EidolaError(f"is not valid JSON: {value[:60]!r}", field=key) from None
    return value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _utc_now() -> str:
    """Creation time for `created_utc`; SOURCE_DATE_EPOCH (if set) makes files reproducible."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        when = _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc)
    else:
        when = _dt.datetime.now(_dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class ProfileWriter:
    """Writes a profile GPU by GPU in chunks, atomically.

    ::

        with ProfileWriter(path, num_gpus=8, attrs={...}) as w:
            w.append(0, ops_chunk)      # any number of times, any GPU order
        # the file appears at `path` only here, complete

    On any exception inside the block the temporary file is removed and `path` is untouched.
    """

    def __init__(self, path: str | Path, num_gpus: int, attrs: dict[str, Any] | None = None,
                 variability: dict[str, float] | None = None, chunk_rows: int = CHUNK_ROWS):
        if int(num_gpus) < 1:
            raise EidolaError(f"a profile needs at least one GPU, got {num_gpus}", field="num_gpus")
        self.path = Path(path)
        self.num_gpus = int(num_gpus)
        self.attrs = dict(attrs or {})
        self.variability = {**DEFAULT_VARIABILITY, **(variability or {})}
        self.chunk_rows = max(1, min(int(chunk_rows), CHUNK_ROWS))
        self._tmp: Path | None = None
        self._file: h5py.File | None = None
        self._datasets: list[h5py.Dataset] = []
        self._groups: list[h5py.Group] = []
        self._streams: list[set[int]] = [set() for _ in range(self.num_gpus)]
        self._max_iteration = -1
        self._encoder = ChunkEncoder(GZIP_LEVEL)
        self._encoded = [False] * self.num_gpus  # first ops handed to the encoder

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> ProfileWriter:
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def open(self) -> None:
        parent = self.path.parent
        if self.path.is_dir():
            raise EidolaError("is a directory; give a file name for the profile", path=self.path)
        try:
            parent.mkdir(parents=True, exist_ok=True)
            from eidola.results import sibling_temp  # a private name, normal permissions

            fd, tmp = sibling_temp(self.path)
            os.close(fd)
        except OSError as exc:
            raise EidolaError(f"cannot create the output file: {exc.strerror or exc}",
                              path=self.path) from None
        self._tmp = Path(tmp)
        try:
            # no chunk cache: every GPU's dataset would otherwise keep its last chunk in memory
            # until the file closes (GBs at thousands of GPUs); writes go straight to disk
            f = h5py.File(self._tmp, "w", libver="earliest", rdcc_nbytes=0)
            self._file = f
            grp = f.create_group("gpus")
            empty = h5py.h5s.create_simple((0,), (h5py.h5s.UNLIMITED,))
            dcpl = type_id = None
            for g in range(self.num_gpus):
                gg = grp.create_group(str(g))
                self._groups.append(gg)
                if dcpl is None:
                    ds = gg.create_dataset("ops", shape=(0,), maxshape=(None,), dtype=OP_DTYPE,
                                           chunks=(self.chunk_rows,), compression="gzip",
                                           compression_opts=GZIP_LEVEL, shuffle=True)
                    # the rest alike from the first one's type and creation properties:
                    # h5py's per-dataset setup cost seconds at thousands of GPUs
                    dcpl, type_id = ds.id.get_create_plist(), ds.id.get_type()
                else:
                    ds = h5py.Dataset(h5py.h5d.create(gg.id, b"ops", type_id, empty, dcpl=dcpl))
                self._datasets.append(ds)
        except OSError as exc:
            self.abort()
            raise EidolaError(f"cannot write the profile: {_first_line(exc)}", path=self.path) from None
        except BaseException:
            self.abort()
            raise

    def append(self, gpu: int, ops: np.ndarray, *, handed_over: bool = False) -> None:
        """Add `ops` (OP_DTYPE) after the ops already written for `gpu`.

        `handed_over`: the caller will not change `ops` again, so a GPU's first ops need not be
        copied before they are compressed in the background.
        """
        if self._file is None:
            raise RuntimeError("ProfileWriter is not open")
        if not 0 <= gpu < self.num_gpus:
            raise EidolaError(f"GPU {gpu} is outside 0..{self.num_gpus - 1}", field="gpu")
        if ops.dtype != OP_DTYPE:
            ops = _convert_ops(ops, where=f"ops of GPU {gpu}")
        n = len(ops)
        if n == 0:
            return
        ds = self._datasets[gpu]
        old = ds.shape[0]
        try:
            if old == 0 and not self._encoded[gpu]:
                # a GPU's first ops: compressed on a worker while the caller makes the next GPU
                # (chunks.py); they must not change meanwhile, hence the copy
                self._encoded[gpu] = True
                self._encoder.submit(ds, ops if handed_over and ops.flags.c_contiguous
                                     else np.array(ops, copy=True),
                                     partial(self._note, gpu))
                return
            else:
                self._encoder.drain()  # HDF5 may read back a stored edge chunk to extend it
                ds.resize((old + n,))
                ds[old:old + n] = ops
        except OSError as exc:  # e.g. disk full: the caller's `with` block then aborts
            raise EidolaError(f"cannot write the profile: {_first_line(exc)}", path=self.path) from None
        self._note(gpu, summarize(ops))

    def _note(self, gpu: int, summary: OpsSummary) -> None:
        """Keep what the root and per-GPU attributes need of ops written for `gpu`."""
        self._streams[gpu].update(summary.streams.tolist())
        self._max_iteration = max(self._max_iteration, summary.max_iteration)

    def commit(self) -> None:
        """Write the attributes, flush, fsync and move the file into place."""
        if self._file is None or self._tmp is None:
            raise RuntimeError("ProfileWriter is not open")
        try:
            self._encoder.drain()
            self._encoder.close()
            f = self._file
            for g, group in enumerate(self._groups):
                group.attrs["num_streams"] = np.int64(len(self._streams[g]))
            self._write_root_attrs(f)
            var = f.create_group("variability")
            for k, v in self.variability.items():
                var.attrs[k] = np.float64(v)
            f.flush()
            f.close()
            self._file = None
            with open(self._tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            from eidola import interrupts

            interrupts.raise_if_requested()  # stopped while writing: the temp file goes, not in
            os.replace(self._tmp, self.path)
            self._tmp = None
            with contextlib.suppress(OSError):  # make the rename durable where supported
                dfd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
        except OSError as exc:
            self.abort()
            raise EidolaError(f"cannot write the profile: {_first_line(exc)}", path=self.path) from None
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop everything written so far; `path` is left as it was."""
        self._encoder.close()
        if self._file is not None:
            with contextlib.suppress(Exception):
                self._file.close()
            self._file = None
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.unlink()
            self._tmp = None

    def _write_root_attrs(self, f: h5py.File) -> None:
        a = dict(self.attrs)
        num_iterations = int(a.get("num_iterations") or max(1, self._max_iteration + 1))
        fixed: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "num_gpus": self.num_gpus,
            "time_unit": TIME_UNIT,
            "num_iterations": num_iterations,
            "collectives": int(a.get("collectives") or 0),
            "name": str(a.get("name") or self.path.stem),
            "kind": str(a.get("kind") or "custom"),
            "importer": str(a.get("importer") or "python"),
            "source_files": list(a.get("source_files") or []),
            "eidola_version": __version__,
            "created_utc": _utc_now(),
            "parameters": dict(a.get("parameters") or {}),
        }
        for k, v in fixed.items():
            _set_attr(f, k, v)
        for k, v in a.items():  # extra metadata the caller added, kept as is
            if k not in fixed:
                _set_attr(f, k, v)


def write_profile(profile: Profile, path: str | Path) -> Path:
    """Write `profile` to `path` atomically; returns the path."""
    path = Path(path)
    biggest = max((len(o) for o in profile.ops), default=0)
    attrs = dict(profile.attrs)
    attrs.setdefault("num_iterations", profile.num_iterations)
    with ProfileWriter(path, profile.num_gpus, attrs=attrs, variability=profile.variability,
                       chunk_rows=max(1, min(biggest, CHUNK_ROWS))) as w:
        for g, ops in enumerate(profile.ops):
            for i in range(0, len(ops), CHUNK_ROWS * 16):
                w.append(g, ops[i:i + CHUNK_ROWS * 16])
    return path


def _convert_ops(arr: np.ndarray, where: str, path: str | Path | None = None) -> np.ndarray:
    """Copy a structured array with the OP_DTYPE fields (any order/widths) into OP_DTYPE."""
    names = arr.dtype.names or ()
    missing = [n for n in OP_DTYPE.names if n not in names]
    if missing:
        raise EidolaError(f"{where} lack the field(s) {', '.join(missing)}", path=path,
                          field=missing[0])
    out = empty_ops(len(arr))
    for n in OP_DTYPE.names:
        src, dst = arr[n], OP_DTYPE.fields[n][0]
        if dst.kind in "iu" and src.dtype.kind not in "iub":
            # a float or other column stored by another tool: every value must be an integer
            # the field can hold, or the cast would silently truncate or wrap it
            info = np.iinfo(dst)
            with np.errstate(invalid="ignore"):
                vals = np.asarray(src, dtype=np.float64)
                bad = ~(np.isfinite(vals) & (vals == np.round(vals)) & (vals >= info.min)
                        & (vals <= info.max))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise EidolaError(f"{where}: op {i} has {n} = {float(src[i])!r}, not an integer of "
                                  f"{dst.name}", path=path, field=n)
        elif dst.kind in "iu" and src.dtype.kind in "iu" and len(src):
            info = np.iinfo(dst)
            lo, hi = int(src.min()), int(src.max())
            if lo < info.min or hi > info.max:
                raise EidolaError(f"{where}: {n} values {lo}..{hi} do not fit {dst.name}",
                                  path=path, field=n)
        out[n] = src
    return out


@contextlib.contextmanager
def _h5_errors(path: Path, what: str) -> Iterator[None]:
    """Turn an HDF5 failure into "<path>: <what>: truncated or corrupt HDF5 file (...)"."""
    try:
        yield
    except EidolaError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise EidolaError(f"cannot read {what}: truncated or corrupt HDF5 file ({_first_line(exc)})",
                          path=path) from None


class ProfileReader:
    """An open profile file: header at once, ops per GPU on demand or in bounded chunks."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        p = self.path
        if not p.exists():
            raise EidolaError("no such file", path=p)
        if p.is_dir():
            raise EidolaError("is a directory, not a profile file", path=p)
        if p.stat().st_size == 0:
            raise EidolaError("empty file, not an HDF5 profile", path=p)
        with _h5_errors(p, "the file"):
            is_h5 = h5py.is_hdf5(p)
        if not is_h5:
            raise EidolaError("not an HDF5 file (an eidola profile is HDF5; see "
                              "docs/profile-format.md)", path=p)
        self._ahead: ReadAhead | None = None
        with _h5_errors(p, "the file"):
            self._file = h5py.File(p, "r")
        try:
            self._read_header()
        except BaseException:
            self.close()
            raise

    def _read_header(self) -> None:
        p, f = self.path, self._file
        with _h5_errors(p, "the root attributes"):
            raw = {k: f.attrs[k] for k in f.attrs.keys()}
        attrs = {k: _decode_attr(k, v) for k, v in raw.items()}
        fmt = attrs.get("format")
        if fmt is None:
            raise EidolaError(f"missing; not an eidola profile (expected '{FORMAT_NAME}')",
                              path=p, field="format")
        if fmt != FORMAT_NAME:
            raise EidolaError(f"is {fmt!r}, expected '{FORMAT_NAME}': not an eidola profile",
                              path=p, field="format")
        version = attrs.get("version")
        if not isinstance(version, int):
            raise EidolaError(f"must be an integer, found {version!r}", path=p, field="version")
        if version > FORMAT_VERSION:
            raise EidolaError(f"format version {version} is newer than this eidola supports "
                              f"({FORMAT_VERSION}); upgrade eidola", path=p, field="version")
        if version < 1:
            raise EidolaError(f"unknown format version {version}", path=p, field="version")
        num_gpus = attrs.get("num_gpus")
        if not isinstance(num_gpus, int) or num_gpus < 1:
            raise EidolaError(f"must be a positive integer, found {num_gpus!r}", path=p,
                              field="num_gpus")
        for k in ("num_iterations", "collectives"):
            if k in attrs and not isinstance(attrs[k], int):
                raise EidolaError(f"must be an integer, found {attrs[k]!r}", path=p, field=k)
        if int(attrs.get("num_iterations", 1)) < 1:
            raise EidolaError("must be at least 1", path=p, field="num_iterations")
        unit = attrs.get("time_unit", TIME_UNIT)
        if unit != TIME_UNIT:
            raise EidolaError(f"is {unit!r}; version {FORMAT_VERSION} profiles use "
                              f"'{TIME_UNIT}'", path=p, field="time_unit")
        self.num_gpus: int = num_gpus
        self.attrs: dict[str, Any] = attrs
        var = dict(DEFAULT_VARIABILITY)
        with _h5_errors(p, "/variability"):
            if "variability" in f:
                for k in f["variability"].attrs.keys():
                    v = _decode_attr(k, f["variability"].attrs[k])
                    if not isinstance(v, (int, float)):
                        raise EidolaError(f"must be a number, found {v!r}", path=p,
                                          field=f"variability/{k}")
                    var[k] = float(v)
        self.variability: dict[str, float] = var
        # Row counts only: an open h5py Dataset keeps its own chunk cache, and holding one per
        # GPU made reading a 512-GPU profile cost ~90 MB more than its ops.
        self._rows: list[int] = []
        checked_type: h5py.h5t.TypeID | None = None  # a record type that passed the checks below
        for g in range(num_gpus):
            name = _ops_path(g)
            # Fast path: a 1-D dataset whose stored type equals one already checked (HDF5
            # compares the types; making numpy's dtype of each one cost ~0.4 ms a GPU).
            try:
                dsid = h5py.h5d.open(f.id, name.encode())
                if checked_type is not None and dsid.rank == 1 and dsid.get_type() == checked_type:
                    self._rows.append(int(dsid.shape[0]))
                    continue
            except Exception:  # noqa: BLE001 - missing or not a dataset: the checks below say which
                dsid = None
            with _h5_errors(p, name):
                if name not in f:
                    raise EidolaError(f"missing (the profile has num_gpus={num_gpus})", path=p,
                                      field=name)
                ds = f[name]
                if not isinstance(ds, h5py.Dataset) or ds.ndim != 1 or ds.dtype.names is None:
                    raise EidolaError("must be a 1-D dataset of op records", path=p, field=name)
                missing = [n for n in OP_DTYPE.names if n not in ds.dtype.names]
                if missing:
                    raise EidolaError(f"lacks the op field(s) {', '.join(missing)}", path=p,
                                      field=name)
            if checked_type is None and dsid is not None:
                checked_type = dsid.get_type()
            self._rows.append(int(ds.shape[0]))

    # -- context manager -------------------------------------------------------------------
    def __enter__(self) -> ProfileReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        ahead = getattr(self, "_ahead", None)
        if ahead is not None:
            ahead.close()
            self._ahead = None
        f = getattr(self, "_file", None)
        if f is not None:
            with contextlib.suppress(Exception):
                f.close()
            self._file = None

    # -- access ----------------------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        """Root attributes (decoded) plus `variability`, without reading any op."""
        return {**self.attrs, "num_gpus": self.num_gpus, "variability": dict(self.variability)}

    def num_ops(self, gpu: int) -> int:
        return self._rows[gpu]

    def num_streams(self, gpu: int) -> int | None:
        """The stored `num_streams` attribute of GPU `gpu` (None if absent)."""
        with _h5_errors(self.path, f"gpus/{gpu}"):
            v = self._file[f"gpus/{gpu}"].attrs.get("num_streams")
        return None if v is None else int(v)

    def iter_ops(self, gpu: int, chunk_rows: int = 1 << 20) -> Iterator[np.ndarray]:
        """Yield GPU `gpu`'s ops in file order, at most `chunk_rows` at a time (bounded memory)."""
        if not 0 <= gpu < self.num_gpus:
            raise EidolaError(f"GPU {gpu} is outside 0..{self.num_gpus - 1}", path=self.path,
                              field="gpu")
        n = self._rows[gpu]
        step = max(1, int(chunk_rows))
        name = _ops_path(gpu)
        with _h5_errors(self.path, name):
            ds = self._file[name]
        for start in range(0, n, step):
            with _h5_errors(self.path, name):
                chunk = ds[start:min(n, start + step)]
            if chunk.dtype != OP_DTYPE:
                chunk = _convert_ops(chunk, where=name, path=self.path)
            yield chunk

    def read_ops(self, gpu: int) -> np.ndarray:
        """All ops of GPU `gpu`. Reading GPUs in order decodes the next ones on a worker
        thread meanwhile (eidola.profile.chunks); other layouts are read by h5py."""
        if not 0 <= gpu < self.num_gpus:
            raise EidolaError(f"GPU {gpu} is outside 0..{self.num_gpus - 1}", path=self.path,
                              field="gpu")
        if self._ahead is None:
            fid = self._file.id
            self._ahead = ReadAhead(lambda g: h5py.Dataset(h5py.h5d.open(fid, _ops_path(g).encode())),
                                    self.num_gpus)
        with _h5_errors(self.path, _ops_path(gpu)):
            ops = self._ahead.get(gpu)
        if ops is not None:
            return ops
        parts = list(self.iter_ops(gpu, chunk_rows=max(1, self.num_ops(gpu))))
        return parts[0] if len(parts) == 1 else (np.concatenate(parts) if parts else empty_ops(0))

    def to_profile(self) -> Profile:
        ops = [self.read_ops(g) for g in range(self.num_gpus)]
        attrs = {k: v for k, v in self.attrs.items() if k != "num_gpus"}
        return Profile(num_gpus=self.num_gpus, ops=ops, attrs=attrs,
                       variability=dict(self.variability))


def open_profile(path: str | Path) -> ProfileReader:
    """Open a profile for reading (use as a context manager)."""
    return ProfileReader(path)


def read_profile(path: str | Path) -> Profile:
    """The whole profile in memory."""
    with ProfileReader(path) as r:
        return r.to_profile()


def profile_header(path: str | Path) -> dict[str, Any]:
    """Root attributes, `num_gpus` and `variability` of a profile, without reading its ops."""
    with ProfileReader(path) as r:
        return r.header()
