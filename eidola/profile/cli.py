"""`eidola profile ...`: make, import, inspect and check profiles from the shell.

A thin click layer over the library (synthesize, importers, profile_info, validate_profile):
every user mistake becomes an EidolaError, which the group prints as one ``error: ...`` line
with exit status 2 (no traceback), and no command ever leaves a partial output file because
all of them write through the atomic `write_profile`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from eidola.cli_support import OneLineErrorGroup
from eidola.errors import EidolaError
from eidola.profile.info import format_info, profile_info
from eidola.profile.io import ProfileReader, write_profile
from eidola.profile.units import parse_size, format_size
from eidola.profile.validate import validate_profile


def _require(**values: object) -> None:
    """Missing required options as one-line errors (click's usage errors span several lines)."""
    for field, value in values.items():
        if value is None:
            flag = "-o/--output" if field == "output" else f"--{field}"
            raise EidolaError(f"missing option {flag}", field=field)


def _opt_size(value: str | None, field: str) -> int | None:
    return None if value is None else parse_size(value, field=field)


def _opt_int(value: str | None, field: str, lo: int | None = None) -> int | None:
    if value is None:
        return None
    try:
        v = int(value)
    except ValueError:
        raise EidolaError(f"expected an integer, got {value!r}", field=field) from None
    if lo is not None and v < lo:
        raise EidolaError(f"must be >= {lo}, got {v}", field=field)
    return v


def _opt_float(value: str | None, field: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise EidolaError(f"expected a number, got {value!r}", field=field) from None


@click.group(name="profile", cls=OneLineErrorGroup)
def profile_group() -> None:
    """Make, import, inspect and check traffic profiles (.h5)."""


@profile_group.command("synth")
@click.argument("kind")
@click.option("--gpus", default=None, metavar="N", help="number of GPUs (required)")
@click.option("--size", default=None, metavar="SIZE",
              help="bytes per GPU buffer, nccl-tests convention, e.g. 64MiB, 1GB (required)")
@click.option("--algo", default=None, metavar="ALGO",
              help="ring (default), direct, nvls (all-reduce on a switch), hierarchical or nvls-tree "
                   "(all-reduce across nodes: --gpus-per-node) or auto (what --library's tuner "
                   "picks on --system)")
@click.option("--gpus-per-node", "gpus_per_node", default=None, metavar="G",
              help="GPUs per node for collectives across nodes: --algo hierarchical / nvls-tree "
                   "(default 8), ring (channels spread over the NICs), auto; alltoall with --library")
@click.option("--pxn", is_flag=True, default=False,
              help="--algo ring across nodes: relay rail-changing node crossings through the GPU "
                   "on the receiver's rail (NCCL's PXN; keeps a rail-optimized fabric on its rails)")
@click.option("--system", default=None, metavar="PRESET",
              help="with --library: the system whose library constants apply (b200: NCCL's "
                   "Blackwell figures); with --algo auto also what the tuner picks for "
                   "(h100, h200, b200, mi300x, ...; default h100 for nccl, mi300x for rccl)")
@click.option("--library", default=None, metavar="LIB",
              help="nccl or rccl: add the library's launch/step latencies, channels and ring layout; "
                   "alltoall: the library's send/recv schedule (channels, chunks, LL or Simple per send)")
@click.option("--proto", default=None, metavar="PROTO",
              help="simple, ll128 or ll: bytes on the wire per payload byte and chunk size "
                   "(alltoall: simple only, turning LL off)")
@click.option("--signal", "signal", default="release", show_default=True, metavar="MODE",
              help="gemm kinds: release (fence, then flag) or nbi (flag ordered behind the tile, "
                   "no fence: NVSHMEM putmem_signal_nbi)")
@click.option("--seed", default="0", show_default=True, metavar="S",
              help="seed of the jitter baked into recorded iterations")
@click.option("--chunk", default=None, metavar="SIZE", help="slice size of collective writes")
@click.option("--tile", default=None, metavar="SIZE|MxN",
              help="GEMM tile: bytes with --size, or MxN elements with a shape (default 256x256)")
@click.option("--gpu", default=None, metavar="GPU",
              help="gemm kinds from a shape: mi300x, mi325x, mi355x, h100, h200 or b200")
@click.option("--m", "gemm_m", default=None, metavar="M", help="GEMM output rows (shape form)")
@click.option("--n", "gemm_n", default=None, metavar="N", help="GEMM output columns (shape form)")
@click.option("--k", "gemm_k", default=None, metavar="K", help="GEMM reduction length per GPU (shape form)")
@click.option("--dtype", default="bf16", show_default=True, metavar="DTYPE", help="bf16, fp16 or fp8 (shape form)")
@click.option("--tile-order", default=None, metavar="ORDER",
              help="gemm-rs / gemm-ar two-shot: aligned (same tile order on every GPU, owner reduces at once; "
                   "default with a shape) or staggered (own tiles last; default with --size)")
@click.option("--comm-m", default=None, metavar="ROWS", help="concurrent: rows of each GPU's collective block (fp16)")
@click.option("--comm-n", default=None, metavar="COLS", help="concurrent: columns of the collective block")
@click.option("--gemm-workgroups", default=None, metavar="G",
              help="concurrent: workgroups that start on the GEMM's queue (default 3/4)")
@click.option("--workgroups", default=None, metavar="W",
              help="persistent workgroups = streams per GPU (shape form; default: the GPU's CUs/SMs)")
@click.option("--compute-ns", default=None, metavar="NS", help="GEMM compute time per tile")
@click.option("--streams", default=None, metavar="K",
              help="channels (ring), peer streams (direct) or workgroups (GEMM, default 4)")
@click.option("--reduce-ns-per-byte", default="0", show_default=True, metavar="NS",
              help="cost of reducing received data")
@click.option("--jitter", default="0", show_default=True, metavar="CV",
              help="coefficient of variation of compute durations")
@click.option("--jitter-from", default=None, type=click.Path(path_type=Path), metavar="PROFILE",
              help="take --jitter from the compute-gap CV fitted on an imported trace's profile")
@click.option("--straggler-prob", default="0", show_default=True, metavar="P",
              help="probability that a GPU is a straggler in a run")
@click.option("--straggler-slowdown", default="1", show_default=True, metavar="X",
              help="compute multiplier of a straggler")
@click.option("--iterations", default="1", show_default=True, metavar="K",
              help="recorded iterations (jitter baked into each when K > 1)")
@click.option("--name", default=None, help="profile name (default: derived from the options)")
@click.option("-o", "--output", default=None, type=click.Path(path_type=Path),
              help="output .h5 file (required)")
def synth_command(kind: str, gpus: str | None, size: str | None, algo: str | None,
                  gpus_per_node: str | None, pxn: bool, system: str | None,
                  library: str | None, proto: str | None, signal: str, seed: str, chunk: str | None,
                  tile: str | None, gpu: str | None, gemm_m: str | None, gemm_n: str | None,
                  gemm_k: str | None, dtype: str, tile_order: str | None, comm_m: str | None,
                  comm_n: str | None, gemm_workgroups: str | None, workgroups: str | None,
                  compute_ns: str | None, streams: str | None,
                  reduce_ns_per_byte: str, jitter: str, jitter_from: Path | None, straggler_prob: str,
                  straggler_slowdown: str, iterations: str, name: str | None,
                  output: Path | None) -> None:
    """Generate a synthetic profile of KIND: p2p, allreduce, reducescatter, allgather,
    alltoall, broadcast, gemm-rs, gemm-ag, gemm-ar (--algo two-shot|one-shot) or concurrent
    (a GEMM next to --algo allreduce|allgather|reducescatter|broadcast, --comm-m/--comm-n,
    --gemm-workgroups, in one persistent kernel). GEMM kinds
    take --size (with --tile bytes, --compute-ns, --streams) or a shape: --gpu --m --n --k
    [--dtype] [--tile MxN] [--workgroups]."""
    from eidola.profile.synth import write_synthesized

    shaped = any(v is not None for v in (gpu, gemm_m, gemm_n, gemm_k))
    _require(gpus=gpus, output=output, **({} if shaped else {"size": size}))
    tile_is_shape = tile is not None and "x" in tile.lower()
    jitter_cv = _opt_float(jitter, "jitter")
    if jitter_from is not None:
        from eidola.profile.variability_fit import recorded_compute_cv
        jitter_cv = recorded_compute_cv(jitter_from)

    profile, num_ops = write_synthesized(
        output, kind, _opt_int(gpus, "gpus"), None if size is None else parse_size(str(size), field="size"),
        algo=algo, gpu=gpu, gemm_m=_opt_int(gemm_m, "m", lo=1), gemm_n=_opt_int(gemm_n, "n", lo=1),
        gemm_k=_opt_int(gemm_k, "k", lo=1), dtype=dtype, workgroups=_opt_int(workgroups, "workgroups", lo=1),
        gemm_tile=tile if tile_is_shape else None, tile_order=tile_order,
        comm_m=_opt_int(comm_m, "comm-m", lo=1), comm_n=_opt_int(comm_n, "comm-n", lo=1),
        gemm_workgroups=_opt_int(gemm_workgroups, "gemm-workgroups", lo=0),
        seed=_opt_int(seed, "seed", lo=0), chunk_bytes=_opt_size(chunk, "chunk"),
        tile_bytes=None if tile_is_shape else _opt_size(tile, "tile"), compute_ns_per_tile=_opt_float(compute_ns, "compute_ns"),
        streams=_opt_int(streams, "streams", lo=1),
        reduce_ns_per_byte=_opt_float(reduce_ns_per_byte, "reduce_ns_per_byte"),
        jitter=jitter_cv, straggler_prob=_opt_float(straggler_prob, "straggler_prob"),
        straggler_slowdown=_opt_float(straggler_slowdown, "straggler_slowdown"),
        iterations=_opt_int(iterations, "iterations"), name=name, library=library, proto=proto,
        signal=signal, gpus_per_node=_opt_int(gpus_per_node, "gpus-per-node", lo=1),
        system=system, pxn=pxn)
    w = profile.attrs["parameters"]["bytes_written_per_iteration"]
    tuned = profile.attrs["parameters"].get("tuner")
    if tuned:
        click.echo(f"{tuned['tuner']} tuner on {tuned['system']}: {tuned['algo']}/{tuned['proto']} "
                   f"(estimated {tuned['estimated_us']:g} us)"
                   + (f"; its favourite {tuned['tuner_favourite_not_generated']} is not generated"
                      if "tuner_favourite_not_generated" in tuned else ""))
    click.echo(f"wrote {output}: {profile.attrs['name']}, {profile.num_gpus} GPUs, "
               f"{num_ops:,} ops, {format_size(w)} written per iteration")


@profile_group.command("import")
@click.argument("fmt", metavar="FORMAT")
@click.argument("inputs", metavar="INPUT...", nargs=-1, type=click.Path(path_type=Path))
@click.option("-o", "--output", default=None, type=click.Path(path_type=Path),
              help="output .h5 file (required)")
@click.option("--default-size", default=None, metavar="[KIND=]SIZE[,...]",
              help="kineto/chakra: size of collectives the trace does not size, for every kind "
                   "(64MiB) or per kind (alltoall=1MiB,allreduce=64MiB)")
@click.option("--gpus", default=None, metavar="N",
              help="number of GPUs of the profile (caps or overrides the traced world size)")
@click.option("--align", "align_mode", default="auto", show_default=True, metavar="RULE",
              help="kineto, several rank files: how records of one call are matched across "
                   "ranks: auto, seq (process-group sequence numbers), time (overlapping "
                   "kernels) or order")
@click.option("--allow-rank-mismatch", is_flag=True,
              help="kineto: import even when rank files disagree on a call's size")
@click.option("--name", default=None, help="profile name (default: the first input's name)")
def import_command(fmt: str, inputs: tuple[Path, ...], output: Path | None,
                   default_size: str | None, gpus: str | None, align_mode: str,
                   allow_rank_mismatch: bool, name: str | None) -> None:
    """Import FORMAT (kineto, chakra, iris or csv) traces INPUT... into a profile.

    kineto: one or more rank files of one job, or a directory of them. chakra: a directory of
    <prefix>.<rank>.et files or their common prefix.
    """
    from eidola.profile.importers import import_profile

    _require(output=output)
    if not inputs:
        raise EidolaError("no input files given (eidola profile import FORMAT INPUT... -o OUT.h5)",
                          field="input")

    profile = import_profile(fmt, list(inputs), default_size=_default_sizes(default_size),
                             gpus=_opt_int(gpus, "gpus", lo=1), name=name, align=align_mode,
                             allow_rank_mismatch=allow_rank_mismatch)
    write_profile(profile, output)
    params = profile.attrs.get("parameters") or {}
    iters = profile.num_iterations
    click.echo(f"wrote {output}: {profile.attrs.get('name')}, {profile.num_gpus} GPUs, "
               f"{profile.num_ops:,} ops, {profile.attrs.get('collectives', 0)} collectives"
               + (f" per iteration, {iters} recorded iterations" if iters > 1 else ""))
    for note in _import_notes(params):
        click.echo(f"note: {note}")


def _default_sizes(value: str | None) -> int | dict[str, int] | None:
    """'64MiB' -> bytes; 'alltoall=1MiB,allreduce=64MiB' -> {kind: bytes} ('*' for a bare size)."""
    if value is None:
        return None
    if "=" not in value:
        return parse_size(value, field="default_size")
    out: dict[str, int] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        kind, eq, size = part.partition("=")
        kind = kind.strip().lower().replace("_", "").replace("-", "")
        if not eq:
            out["*"] = parse_size(part, field="default_size")
        elif not kind:
            raise EidolaError(f"missing kind before '=' in {part!r}", field="default_size")
        else:
            out[kind] = parse_size(size, field=f"default_size.{kind}")
    return out


def _import_notes(params: dict) -> list[str]:
    """What a user should know about an import: guesses, fills, left-out kernels."""
    notes = []
    if params.get("skipped_kernels"):
        notes.append("left out (not modelled): " + ", ".join(
            f"{v} {k}" for k, v in params["skipped_kernels"].items()))
    if params.get("unsupported_nodes"):
        notes.append("unsupported node types left out: " + ", ".join(
            f"{v} {k}" for k, v in params["unsupported_nodes"].items()))
    if params.get("filled_records"):
        notes.append(f"{params['filled_records']} GPU records filled from the nearest recorded "
                     f"rank (recorded ranks: {params.get('ranks')})")
    if params.get("rank_mismatch_count"):
        notes.append(f"{params['rank_mismatch_count']} calls on which the rank files disagree "
                     "(kept each rank's own size): " + params["rank_mismatches"][0])
    if (params.get("size_sources") or {}).get("--default-size"):
        notes.append(f"{params['size_sources']['--default-size']} calls sized by --default-size")
    return notes


@profile_group.command("info")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def info_command(file: Path, as_json: bool) -> None:
    """Summarise a profile: GPUs, ops by kind, bytes, time span, provenance."""
    info = profile_info(file)
    if as_json:
        click.echo(json.dumps(info, indent=2, sort_keys=True))
    else:
        click.echo(format_info(info))


@profile_group.command("validate")
@click.argument("file", type=click.Path(path_type=Path))
def validate_command(file: Path) -> None:
    """Check a profile statically; exit 1 if there are problems."""
    problems = validate_profile(file)
    if problems:
        for p in problems:
            click.echo(f"problem: {p}")
        click.echo(f"{file}: {len(problems)} problem(s)")
        sys.exit(1)
    with ProfileReader(file) as r:  # header-only summary: the ops were just read once
        ops = sum(r.num_ops(g) for g in range(r.num_gpus))
        streams = sum(r.num_streams(g) or 0 for g in range(r.num_gpus))
        click.echo(f"ok: {file}: {r.num_gpus} GPUs, {ops:,} ops, {streams} streams, "
                   "no problems found (peers, sizes, durations, times, flags)")
