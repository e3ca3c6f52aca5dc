"""MLCommons Chakra execution traces (ASTRA-sim's workload format) -> profile.

One ET file per rank (``<prefix>.<rank>.et``). Mapping (docs/profile-format.md, "Chakra
importer"):
- COMP_NODE -> a compute op of ``duration_micros``.
- COMM_COLL_NODE (ALL_REDUCE, ALL_GATHER, REDUCE_SCATTER, ALL_TO_ALL, BROADCAST) -> the
  collective's writes/signals/waits from eidola.profile.collectives (ring for all-reduce,
  reduce-scatter, all-gather and broadcast, as ASTRA-sim's ring system configs; direct for
  all-to-all). ``comm_size`` is bytes; an ALL_GATHER's ``comm_size`` is each rank's input, as
  ASTRA-sim reads it, so its nccl-tests size is n x comm_size. The k-th collective of a
  (type, ``pg_name``) on every rank is one call (each rank issues its collectives in order);
  its group is every rank for ``pg_name`` "" or "0", the ranks a METADATA_NODE lists for it,
  else the ranks whose ETs issue collectives on that ``pg_name``.
- COMM_SEND_NODE / COMM_RECV_NODE -> a transfer from the sender to ``comm_dst``, matched with
  the receiver's node by (src, dst, ``comm_tag``) and order; the receiver waits for it.
- Data and control dependencies become stream order: compute nodes run on stream 0 and
  communication nodes on stream 1, each in the order of a nominal earliest start (a
  topological order of the ET); a dependency between the two streams becomes a local flag
  (the producer signals its own memory, the consumer waits).
- METADATA_NODE is read for process groups; MEM_LOAD/MEM_STORE, INVALID and the collectives
  not modelled (REDUCE, GATHER, SCATTER, REDUCE_SCATTER_BLOCK, BARRIER) are left out, their
  dependencies passed through, and reported by type and count.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eidola.errors import EidolaError
from eidola.profile import collectives as coll_ops
from eidola.profile.importers._common import source_files
from eidola.profile.importers.chakra.et import EtNode, read_et, rank_files, write_et
from eidola.profile.importers.chakra.schema import CommType, NodeType
from eidola.profile.model import Profile
from eidola.profile.schema import OpKind, empty_ops
from eidola.profile.table import OpTable
from eidola.profile.timeline import NOMINAL_LINK_GBPS, estimate_times

__all__ = ["import_chakra", "EtNode", "write_et", "read_et", "NodeType", "CommType"]

COMPUTE_STREAM = 0
COMM_STREAM = 1
_COLL_KINDS = {CommType.ALL_REDUCE: "allreduce", CommType.ALL_GATHER: "allgather",
               CommType.REDUCE_SCATTER: "reducescatter", CommType.ALL_TO_ALL: "alltoall",
               CommType.BROADCAST: "broadcast"}


@dataclass
class _Item:
    """A node kept for replay, in its rank's topological order."""

    node: EtNode
    lane: int
    what: str                  # "compute", "coll", "send", "recv"
    key: tuple = ()            # coll: (kind, pg, occurrence); send/recv: (src, dst, tag, occurrence)
    size: int = 0


def _int_attr(path: Path, n: EtNode, name: str, default: int | None = None) -> int | None:
    v = n.attrs.get(name, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
        raise EidolaError(f"node {n.id} ({n.name!r}): expected an integer, got {v!r}", path=path,
                          field=name)
    if v < 0:
        raise EidolaError(f"node {n.id} ({n.name!r}): must not be negative, got {v}", path=path,
                          field=name)
    return int(v)


def _topological(path: Path, nodes: list[EtNode]) -> list[EtNode]:
    """Kahn's algorithm over data + control deps, ties broken by node id."""
    by_id = {n.id: n for n in nodes}
    indeg = {n.id: 0 for n in nodes}
    users: dict[int, list[int]] = defaultdict(list)
    for n in nodes:
        for d in set(n.data_deps) | set(n.ctrl_deps):
            if d not in by_id:
                raise EidolaError(f"node {n.id} ({n.name!r}) depends on node {d}, which is not in "
                                  "the file", path=path, field="data_deps")
            users[d].append(n.id)
            indeg[n.id] += 1
    ready = [i for i, k in indeg.items() if k == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        i = heapq.heappop(ready)
        out.append(by_id[i])
        for u in users[i]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(ready, u)
    if len(out) != len(nodes):
        stuck = sorted(i for i, k in indeg.items() if k > 0)[:5]
        raise EidolaError(f"dependency cycle among nodes {stuck}", path=path, field="data_deps")
    return out


def _pg_metadata(nodes: list[EtNode]) -> dict[str, tuple[int, ...]]:
    """Process groups a METADATA_NODE lists (PyTorch's pg config JSON in inputs.values)."""
    out: dict[str, tuple[int, ...]] = {}
    for n in nodes:
        if n.type != NodeType.METADATA_NODE or not n.inputs_values:
            continue
        try:
            doc = json.loads(n.inputs_values)
        except ValueError:
            continue
        for pg in doc if isinstance(doc, list) else [doc]:
            if isinstance(pg, dict) and isinstance(pg.get("ranks"), list):
                out[str(pg.get("pg_name"))] = tuple(int(r) for r in pg["ranks"])
    return out


def _items(path: Path, rank: int, nodes: list[EtNode], defaults: dict[str, int],
           unsupported: Counter) -> tuple[list[_Item], dict[int, set[int]]]:
    """The replayed nodes in order, and each one's dependencies on other replayed nodes."""
    order = _topological(path, nodes)
    by_id = {n.id: n for n in nodes}
    kept: dict[int, _Item] = {}
    items: list[_Item] = []
    coll_count: Counter = Counter()
    p2p_count: Counter = Counter()
    for n in order:
        t = n.type
        if t == NodeType.COMP_NODE:
            it = _Item(n, COMPUTE_STREAM, "compute")
        elif t == NodeType.COMM_COLL_NODE:
            ct = _int_attr(path, n, "comm_type")
            if ct is None:
                raise EidolaError(f"node {n.id} ({n.name!r}): collective without comm_type",
                                  path=path, field="comm_type")
            kind = _COLL_KINDS.get(ct)  # type: ignore[call-overload]
            if kind is None:
                name = CommType(ct).name if ct in CommType._value2member_map_ else f"comm_type {ct}"
                unsupported[f"COMM_COLL_NODE {name}"] += 1
                continue
            size = _int_attr(path, n, "comm_size")
            if not size:
                size = defaults.get(kind, defaults.get("*"))
                if size is None:
                    raise EidolaError(f"node {n.id} ({n.name!r}, {kind}): no comm_size; pass "
                                      f"--default-size {kind}=SIZE", path=path, field="comm_size")
            pg = str(n.attrs.get("pg_name", "") or "")
            k = (kind, pg)
            it = _Item(n, COMM_STREAM, "coll", (kind, pg, coll_count[k]), int(size))
            coll_count[k] += 1
        elif t in (NodeType.COMM_SEND_NODE, NodeType.COMM_RECV_NODE):
            send = t == NodeType.COMM_SEND_NODE
            peer = _int_attr(path, n, "comm_dst" if send else "comm_src")
            if peer is None:
                raise EidolaError(f"node {n.id} ({n.name!r}): {'send' if send else 'recv'} without "
                                  f"{'comm_dst' if send else 'comm_src'}", path=path,
                                  field="comm_dst" if send else "comm_src")
            tag = _int_attr(path, n, "comm_tag", 0)
            size = _int_attr(path, n, "comm_size")
            if size is None:
                raise EidolaError(f"node {n.id} ({n.name!r}): no comm_size", path=path, field="comm_size")
            src, dst = (rank, peer) if send else (peer, rank)
            k = (src, dst, tag)
            it = _Item(n, COMM_STREAM, "send" if send else "recv", (*k, p2p_count[(k, send)]), size)
            p2p_count[(k, send)] += 1
        else:
            if t != NodeType.METADATA_NODE:
                unsupported[n.type_name] += 1
            continue
        kept[n.id] = it
        items.append(it)
    # dependencies on replayed nodes, passing through the nodes left out
    memo: dict[int, set[int]] = {}

    def eff(i: int) -> set[int]:
        if i in memo:
            return memo[i]
        n = by_id[i]
        out: set[int] = set()
        for d in set(n.data_deps) | set(n.ctrl_deps):
            out |= {d} if d in kept else eff(d)
        memo[i] = out
        return out

    deps = {it.node.id: eff(it.node.id) for it in items}
    return _by_earliest_start(items, deps), deps


def _by_earliest_start(items: list[_Item], deps: dict[int, set[int]]) -> list[_Item]:
    """`items` (topologically ordered) reordered by a nominal earliest start.

    Why: a stream runs its ops one after another, so a topological order alone can queue an
    independent compute node behind one that waits for a long collective. Ordering each stream
    by when its nodes could start (compute: recorded duration; communication: bytes at
    timeline.NOMINAL_LINK_GBPS) keeps such nodes ahead. Dependencies stay satisfied: a node
    never starts before its dependencies end, and ties keep the topological order.
    """
    finish: dict[int, float] = {}
    keyed = []
    for idx, it in enumerate(items):
        start = max((finish[d] for d in deps[it.node.id]), default=0.0)
        cost = (it.node.duration_micros * 1000.0 if it.what == "compute"
                else it.size / NOMINAL_LINK_GBPS)
        finish[it.node.id] = start + cost
        keyed.append((start, idx, it))
    keyed.sort(key=lambda x: (x[0], x[1]))
    return [it for _, _, it in keyed]


def import_chakra(paths: list[Path], *, default_size: int | dict[str, int] | None = None,
                  gpus: int | None = None, name: str | None = None) -> Profile:
    """Import the ET files of one workload (see the module docstring)."""
    files = rank_files([Path(p) for p in paths])
    ranks = list(files)
    n_ranks = max(ranks) + 1
    missing = sorted(set(range(n_ranks)) - set(ranks))
    if missing:
        raise EidolaError(f"ranks {missing[:8]} of 0..{n_ranks - 1} have no ET file",
                          path=files[ranks[0]])
    N = gpus or n_ranks
    if N < n_ranks:
        raise EidolaError(f"--gpus {N} is fewer than the {n_ranks} ranks of the ETs", field="gpus")
    defaults = ({"*": int(default_size)} if isinstance(default_size, int)
                else dict(default_size or {}))
    unsupported: Counter = Counter()
    per_rank: dict[int, tuple[list[_Item], dict[int, set[int]]]] = {}
    pg_meta: dict[str, tuple[int, ...]] = {}
    versions: set[str] = set()
    for r, p in files.items():
        meta, nodes = read_et(p)
        versions.add(str(meta.get("version", "")))
        pg_meta.update(_pg_metadata(nodes))
        per_rank[r] = _items(p, r, nodes, defaults, unsupported)

    instances = _collective_instances(files, per_rank, pg_meta, n_ranks, N)
    transfers = _transfers(files, per_rank, N)
    flag = _FlagCounter(sum(i["flags"] for i in instances.values()) + len(transfers))
    ops = []
    for g in range(N):
        ops.append(_assemble(g, per_rank.get(g), instances, transfers, flag) if g in per_rank
                   else empty_ops(0))
    counts = Counter(v["kind"] for v in instances.values())
    comp = sum(1 for items, _ in per_rank.values() for it in items if it.what == "compute")
    params: dict[str, Any] = {
        "files": [p.name for p in files.values()],
        "ranks": n_ranks,
        "gpus": N,
        "et_versions": sorted(versions),
        "collective_counts": dict(sorted(counts.items())),
        "transfers": len(transfers),
        "compute_nodes": comp,
        "unsupported_nodes": dict(sorted(unsupported.items())),
        "process_groups": {pg: list(m) for pg, m in sorted(
            {v["pg"]: v["members"] for v in instances.values()}.items())},
        "default_size": default_size,
        "streams": {"compute": COMPUTE_STREAM, "communication": COMM_STREAM},
        "all_gather_size": "ASTRA-sim convention: comm_size is each rank's input; the "
                           "nccl-tests size is n x comm_size",
        "bytes_by_collective": [int(v["size"]) for v in instances.values()],
    }
    attrs = {
        "name": name or files[ranks[0]].name.rsplit(".", 2)[0],
        "kind": "chakra",
        "importer": "chakra",
        "source_files": source_files(list(files.values())),
        "collectives": len(instances),
        "num_iterations": 1,
        "parameters": params,
    }
    return Profile(num_gpus=N, ops=ops, attrs=attrs, variability={})


class _FlagCounter:
    """Flag ids: collectives and transfers first, then local dependency flags."""

    def __init__(self, start: int):
        self.next = start

    def take(self) -> int:
        self.next += 1
        return self.next - 1


def _collective_instances(files: dict[int, Path], per_rank, pg_meta, n_ranks: int, N: int
                          ) -> dict[tuple, dict[str, Any]]:
    """(kind, pg, occurrence) -> {"kind", "pg", "members", "size", "ops": {gpu: ops}, "flags"}."""
    issued: dict[tuple, dict[int, _Item]] = defaultdict(dict)
    on_pg: dict[str, set[int]] = defaultdict(set)
    for r, (items, _) in per_rank.items():
        for it in items:
            if it.what == "coll":
                issued[it.key][r] = it
                on_pg[it.key[1]].add(r)
    out: dict[tuple, dict[str, Any]] = {}
    flag = 0
    for key in sorted(issued, key=lambda k: (k[1], k[0], k[2])):
        kind, pg, occ = key
        if pg in ("", "0"):
            members = tuple(range(n_ranks))
        elif pg in pg_meta:
            members = pg_meta[pg]
        else:
            members = tuple(sorted(on_pg[pg]))
        recs = issued[key]
        absent = [m for m in members if m not in recs]
        if absent:
            some = next(iter(recs.values())).node
            raise EidolaError(f"{kind} number {occ + 1} on process group {pg or '(all ranks)'} "
                              f"(node {some.id} {some.name!r} on rank {min(recs)}) is not issued by "
                              f"ranks {absent[:8]} of its group {list(members)[:16]}",
                              path=files[min(recs)], field="pg_name")
        sizes = {r: it.size for r, it in recs.items()}
        if kind != "alltoall" and len(set(sizes.values())) > 1:
            what = ", ".join(f"rank {r}: node {recs[r].node.id} {s} B" for r, s in sorted(sizes.items())[:6])
            raise EidolaError(f"{kind} number {occ + 1} on process group {pg or '(all ranks)'} has "
                              f"different comm_size on its ranks ({what})",
                              path=files[min(recs)], field="comm_size")
        m = np.array(members, dtype=np.int64)
        n = len(members)
        size = recs[members[0]].size
        table = OpTable()
        if n >= 2:
            if kind == "allgather":
                used = coll_ops.ring(table, m, size * n, kind, flag_base=flag)
            elif kind in ("allreduce", "reducescatter"):
                used = coll_ops.ring(table, m, size, kind, flag_base=flag)
            elif kind == "alltoall":
                used = coll_ops.direct(table, m, np.array([recs[x].size for x in members]), kind,
                                       flag_base=flag)
            else:
                used = coll_ops.broadcast(table, m, size, "ring", flag_base=flag)
        else:
            used = 0
        flag += used
        built = table.build(N)
        out[key] = {"kind": kind, "pg": pg, "members": members,
                    "size": size * n if kind == "allgather" else size,
                    "ops": {int(g): built[int(g)] for g in members}, "flags": used}
    return out


def _transfers(files: dict[int, Path], per_rank, N: int) -> dict[tuple, dict[str, Any]]:
    """(src, dst, tag, occurrence) -> {"size", "src_ops", "dst_ops"}; every recv has its send."""
    sends: dict[tuple, _Item] = {}
    recvs: dict[tuple, tuple[int, _Item]] = {}
    for r, (items, _) in per_rank.items():
        for it in items:
            if it.what == "send":
                sends[it.key] = it
            elif it.what == "recv":
                recvs[it.key] = (r, it)
    for key, (r, it) in recvs.items():
        s = sends.get(key)
        if s is None:
            raise EidolaError(f"recv node {it.node.id} ({it.node.name!r}) from rank {key[0]} with "
                              f"tag {key[2]} has no matching send node in rank {key[0]}'s ET",
                              path=files[r], field="comm_src")
        if s.size != it.size:
            raise EidolaError(f"recv node {it.node.id} expects {it.size} B but the matching send "
                              f"node {s.node.id} on rank {key[0]} sends {s.size} B",
                              path=files[r], field="comm_size")
    out = {}
    for i, (key, s) in enumerate(sorted(sends.items())):
        src, dst = key[0], key[1]
        if dst >= N or src == dst:
            raise EidolaError(f"send node {s.node.id} ({s.node.name!r}) to rank {dst}: outside "
                              f"0..{N - 1} or to itself", path=files[src], field="comm_dst")
        table = OpTable()
        coll_ops.p2p(table, src, dst, s.size)  # its flag id is set per transfer in _assemble
        built = table.build(N)
        out[key] = {"size": s.size, "src_ops": built[src], "dst_ops": built[dst],
                    "received": key in recvs, "index": i}
    return out


def _assemble(g: int, rank_items, instances, transfers, flags: _FlagCounter) -> np.ndarray:
    """GPU g's ops: its items in order on their streams, cross-stream deps as local flags."""
    items, deps = rank_items
    lane = {it.node.id: it.lane for it in items}
    needs_signal = {d for it in items for d in deps[it.node.id] if lane[d] != it.lane}
    done_flag: dict[int, int] = {}
    blocks: list[np.ndarray] = []
    transfer_flag_base = sum(i["flags"] for i in instances.values())
    for it in items:
        for d in sorted(deps[it.node.id]):
            if lane[d] != it.lane:
                w = empty_ops(1)
                w["kind"], w["flag"], w["value"] = OpKind.WAIT, done_flag[d], 1
                w["stream"] = it.lane
                blocks.append(w)
        if it.what == "compute":
            c = empty_ops(1)
            c["kind"], c["dur_ns"] = OpKind.COMPUTE, it.node.duration_micros * 1000.0
            c["stream"] = it.lane
            blocks.append(c)
        elif it.what == "coll":
            part = instances[it.key]["ops"].get(g)
            if part is not None and len(part):
                part = part.copy()
                part["stream"] = it.lane
                blocks.append(part)
        else:
            t = transfers.get(it.key)
            if t is not None and (it.what == "send" or t["received"]):
                part = (t["src_ops"] if it.what == "send" else t["dst_ops"]).copy()
                sig_or_wait = np.isin(part["kind"], (OpKind.SIGNAL, OpKind.WAIT))
                part["flag"][sig_or_wait] = transfer_flag_base + t["index"]
                if it.what == "send" and not t["received"]:
                    part = part[part["kind"] != OpKind.SIGNAL]
                part["stream"] = it.lane
                blocks.append(part)
        if it.node.id in needs_signal:
            f = flags.take()
            done_flag[it.node.id] = f
            s = empty_ops(1)
            s["kind"], s["peer"], s["flag"], s["value"] = OpKind.SIGNAL, g, f, 1
            s["stream"] = it.lane
            blocks.append(s)
    if not blocks:
        return empty_ops(0)
    ops = np.concatenate(blocks)
    ops = ops[np.argsort(ops["stream"], kind="stable")]
    estimate_times(ops)
    return ops
