"""Fused GEMM + collective kernels: compute tiles that feed (or are fed by) P2P traffic.

Why these two: they are the pattern Eidola exists to study. Unlike a bulk collective, writes
leave a GPU tile by tile while the GEMM is still computing, and the receivers wait on per-tile
flags from many concurrent workgroups (streams), which is what stresses polling versus SyncMon.

Both builders split the S-byte buffer into n row blocks (split_even, GPU b owns block b) and
each block into `tps` tiles of at most `tile` bytes (every block gets the same count, tile
sizes differ by at most one byte).
"""

from __future__ import annotations

import math

import numpy as np

from eidola.profile.schema import OpKind
from eidola.profile.table import OpTable, offsets_of, split_even

#: How a GEMM + reduce-scatter visits its tiles (see gemm_rs).
TILE_ORDERS = ("staggered", "aligned")


def _tiles(size: int, n: int, tile: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    shard = split_even(size, n)
    tps = max(1, math.ceil(int(shard.max()) / tile))
    tiles = split_even(shard, tps)            # (n, tps)
    return shard, offsets_of(shard), tiles, tps


def _push_grid(n: int, items: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(G, I, D, P) broadcast over (GPU g, item i, distance d = 1..n-1): g pushes item i to
    peer P = g + d (mod n), peers taken in the staggered order g+1, g+2, ..."""
    g = np.arange(n)[:, None, None]
    i = np.arange(items)[None, :, None]
    d = np.arange(1, n)[None, None, :]
    shp = np.broadcast_shapes(g.shape, i.shape, d.shape)
    G, I, D = (np.broadcast_to(x, shp) for x in (g, i, d))
    return G, I, D, (G + D) % n


def gemm_rs(table: OpTable, n: int, size: int, *, tile: int, compute_ns: float, streams: int,
            reduce_ns_per_byte: float = 0.0, signal: OpKind = OpKind.SIGNAL,
            order: str = "staggered") -> int:
    """GEMM whose output is reduce-scattered as it is produced (every GPU holds a partial sum
    of the whole S-byte output; GPU b ends with the reduced row block b).

    GPU g computes every tile (b, i) of its partial output, visiting i-major and, for each i,
    the owners b = g+1, g+2, ..., g (its own block last) so GPUs do not all feed the same owner
    at once. Tile (i, k) runs on stream (i(n+1) + k) mod streams: round-robin over the
    persistent kernel's workgroups, shifted one further per tile index so that the own tiles
    (k = n-1), whose owners wait, spread over the workgroups instead of landing on one.
    Per tile: compute (`compute_ns`), then, unless g owns it, write the tile to owner b (into
    b's staging area at ``g * max_shard + tile offset``) and add 1 to b's flag i. After its
    tile loop, each stream handles the own-block tiles it computed: wait until flag i reaches
    n-1 (every other GPU's contribution) and reduce (compute of (n-1) * tile bytes *
    reduce_ns_per_byte; zero by default, kept as a marker). Total bytes (n-1)S, like a
    reduce-scatter of S. Flags: 0..tps-1.

    `order="aligned"` instead visits tiles in the same order on every GPU (tile (b, i) at
    position b * tps + i, on stream position mod streams), as a plain persistent loop
    ``for tile in range(pid, tiles, workgroups)`` does (ROCm/iris's fused examples), and the
    owner waits for the partials and reduces right after computing its own tile, blocking that
    workgroup: synchronization then sits on the critical path.
    """
    K = max(1, int(streams))
    shard, _, tiles, tps = _tiles(size, n, tile)
    _gemm_rs_ops(table, n, shard, tiles, tps, K, compute_ns, reduce_ns_per_byte, signal, order)
    return tps


def _gemm_rs_ops(table: OpTable, n: int, shard: np.ndarray, tiles: np.ndarray, tps: int, K: int,
                 compute_ns: float, reduce_ns_per_byte: float, signal: OpKind,
                 order: str = "staggered", slot: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The ops of `gemm_rs`. Each visited tile takes `slot` consecutive seq numbers; returns
    (stream, seq) of every own tile's reduce, shape (n, tps), so that a caller can put up to
    ``slot - 3`` more ops right after each reduce (the two-shot all-reduce's pushes)."""
    if order not in TILE_ORDERS:
        raise ValueError(f"tile order {order!r}")
    tile_off = offsets_of(tiles)
    g = np.arange(n)[:, None, None]
    i = np.arange(tps)[None, :, None]
    k = np.arange(n)[None, None, :]
    if order == "staggered":
        b = (g + 1 + k) % n
        q = i * n + k                                  # visiting order, same on every stream
        stream = (i * (n + 1) + k) % K                 # round-robin over the persistent WGs
    else:                                              # aligned: tile (b, i) is the same
        b = k + 0 * g                                  # position b * tps + i on every GPU
        q = k * tps + i
        stream = q % K
    nbytes = tiles[b, i]
    shp = np.broadcast_shapes(g.shape, i.shape, k.shape)
    G, S_, Q, B, NB = (np.broadcast_to(x, shp) for x in (g, stream, q, b, nbytes))
    I = np.broadcast_to(i, shp)
    table.add(gpu=G, stream=S_, seq=Q * slot, kind=OpKind.COMPUTE, dur_ns=compute_ns)
    remote = (B != G) & (NB > 0)
    addr = G * int(shard.max()) + tile_off[B, I]
    table.add(gpu=G[remote], stream=S_[remote], seq=Q[remote] * slot + 1, kind=OpKind.WRITE,
              peer=B[remote], nbytes=NB[remote], addr=addr[remote])
    sig = B != G
    table.add(gpu=G[sig], stream=S_[sig], seq=Q[sig] * slot + 2, kind=signal, peer=B[sig],
              flag=I[sig], value=1)
    # own tiles: wait until flag i reaches n-1 (every other GPU's partial), then reduce.
    # staggered: after the stream's tile loop; aligned: right after computing the own tile.
    gg = np.broadcast_to(np.arange(n)[:, None], (n, tps))
    ii = np.broadcast_to(np.arange(tps)[None, :], (n, tps))
    if order == "staggered":
        own_stream = (ii * (n + 1) + n - 1) % K        # the stream that computed own tile i
        wait_seq = slot * n * tps + ii * slot
    else:
        q_own = gg * tps + ii
        own_stream = q_own % K
        wait_seq = q_own * slot + 1
    table.add(gpu=gg, stream=own_stream, seq=wait_seq, kind=OpKind.WAIT, flag=ii, value=n - 1)
    table.add(gpu=gg, stream=own_stream, seq=wait_seq + 1, kind=OpKind.COMPUTE,
              dur_ns=(n - 1) * tiles[gg, ii] * reduce_ns_per_byte)
    return own_stream, wait_seq + 1


def gemm_ag(table: OpTable, n: int, size: int, *, tile: int, compute_ns: float,
            streams: int, signal: OpKind = OpKind.SIGNAL) -> int:
    """All-gather of a sharded GEMM input, consumed tile by tile as it arrives.

    S is the gathered input (GPU b holds row block b). Producer part: own tile i is pushed by
    stream i mod streams: write it to every peer g+1, g+2, ... (at offset(block g) + tile
    offset), then add 1 to each peer's flag ``g * tps + i``. Consumer part (after the pushes):
    GPU g computes one GEMM tile per input tile (b, i), own block first, then blocks g+1,
    g+2, ...; the q-th one runs on stream q mod streams and, for b != g, first waits until
    flag ``b * tps + i`` >= 1. Total bytes (n-1)S, like an all-gather of S. Flags:
    0..n*tps-1.
    """
    K = max(1, int(streams))
    shard, shard_off, tiles, tps = _tiles(size, n, tile)
    tile_off = offsets_of(tiles)
    G, I, D, P = _push_grid(n, tps)  # producer: (g, i, d) with d = 1..n-1
    g = G[:, :1, :1]
    stream = I % K
    NB = tiles[G, I]
    keep = NB > 0
    table.add(gpu=G[keep], stream=stream[keep], seq=((I * 2) * n + D)[keep], kind=OpKind.WRITE,
              peer=P[keep], nbytes=NB[keep], addr=(shard_off[G] + tile_off[G, I])[keep])
    table.add(gpu=G, stream=stream, seq=(I * 2 + 1) * n + D, kind=signal, peer=P,
              flag=G * tps + I, value=1)
    # consumer: (g, k, i), q = k * tps + i
    base = 2 * n * tps + n
    k = np.arange(n)[None, :, None]
    i2 = np.arange(tps)[None, None, :]
    shp = np.broadcast_shapes(g.shape, k.shape, i2.shape)
    G, Kk, I2 = (np.broadcast_to(x, shp) for x in (g, k, i2))
    B = (G + Kk) % n
    q = Kk * tps + I2
    st = q % K
    remote = Kk > 0
    table.add(gpu=G[remote], stream=st[remote], seq=base + q[remote] * 2, kind=OpKind.WAIT,
              flag=(B * tps + I2)[remote], value=1)
    table.add(gpu=G, stream=st, seq=base + q * 2 + 1, kind=OpKind.COMPUTE, dur_ns=compute_ns)
    return n * tps


def _ag_of_reduced_tiles(table: OpTable, n: int, tiles: np.ndarray, tps: int, K: int,
                         own_stream: np.ndarray, own_seq: np.ndarray, shard_bytes: int,
                         flag_base: int, signal: OpKind, wait_seq_base: int) -> None:
    """All-gather half of a two-shot all-reduce: after reducing its own tile i (on
    `own_stream[i]` at `own_seq[i]`), GPU b writes it to every peer b+1, b+2, ... (into the
    peer's result buffer at ``b * shard_bytes + tile offset``) and adds 1 to the peer's flag
    ``flag_base + b * tps + i``. Every GPU then waits for each remote reduced tile, the q-th
    on stream q mod K (after that stream's other work)."""
    tile_off = offsets_of(tiles)
    G, I, D, P = _push_grid(n, tps)
    st = np.broadcast_to(own_stream[:, :, None], G.shape)
    base = np.broadcast_to(own_seq[:, :, None], G.shape)
    nb = tiles[G, I]
    keep = nb > 0
    table.add(gpu=G[keep], stream=st[keep], seq=(base + D)[keep], kind=OpKind.WRITE, peer=P[keep],
              nbytes=nb[keep], addr=(G * shard_bytes + tile_off[G, I])[keep])
    table.add(gpu=G, stream=st, seq=base + n - 1 + D, kind=signal, peer=P,
              flag=flag_base + G * tps + I, value=1)
    # consumers: (g, b, i) with b != g
    gg = np.arange(n)[:, None, None]
    k = np.arange(1, n)[None, :, None]
    ii = np.arange(tps)[None, None, :]
    shp = np.broadcast_shapes(gg.shape, k.shape, ii.shape)
    G2, K2, I2 = (np.broadcast_to(x, shp) for x in (gg, k, ii))
    B = (G2 + K2) % n
    q = (K2 - 1) * tps + I2
    table.add(gpu=G2, stream=q % K, seq=wait_seq_base + q, kind=OpKind.WAIT,
              flag=flag_base + B * tps + I2, value=1)


def gemm_ar_two_shot(table: OpTable, n: int, size: int, *, tile: int, compute_ns: float,
                     streams: int, reduce_ns_per_byte: float = 0.0,
                     signal: OpKind = OpKind.SIGNAL, order: str = "staggered") -> int:
    """GEMM + all-reduce as reduce-scatter then all-gather of tiles (two-shot).

    The reduce-scatter half is `gemm_rs` (flags 0..tps-1): every GPU ends with its reduced row
    block. Then each owner pushes every reduced tile to all peers with a flag per tile
    (``tps + b * tps + i``), and every GPU waits for all the tiles it does not own. Bytes per
    GPU: (n-1)S/n in each half, 2(n-1)S/n in all, like a ring all-reduce of S. Flags:
    0..tps-1 (reduce-scatter), tps..tps+n*tps-1 (all-gather)."""
    K = max(1, int(streams))
    shard, _, tiles, tps = _tiles(size, n, tile)
    slot = 2 * n + 2  # a tile's compute, write, signal; or wait, reduce, n-1 pushes, n-1 flags
    own_stream, own_seq = _gemm_rs_ops(table, n, shard, tiles, tps, K, compute_ns,
                                       reduce_ns_per_byte, signal, order, slot)
    _ag_of_reduced_tiles(table, n, tiles, tps, K, own_stream, own_seq, int(shard.max()), tps,
                         signal, wait_seq_base=(n + 1) * tps * slot + 1)
    return tps


def gemm_ar_one_shot(table: OpTable, n: int, size: int, *, tile: int, compute_ns: float,
                     streams: int, reduce_ns_per_byte: float = 0.0,
                     signal: OpKind = OpKind.SIGNAL) -> int:
    """GEMM + all-reduce, one-shot: every GPU computes all T tiles of its partial output, pushes
    each to every peer (into the peer's staging area for this sender, ``g * S + offset``) and
    adds 1 to the peer's flag t; then reduces every tile locally after waiting for flag t to
    reach n-1. Tile t runs on stream t mod streams. Bytes: (n-1)S per GPU (the price of one
    step instead of two). Flags: 0..T-1."""
    K = max(1, int(streams))
    shard, _, tiles2d, tps = _tiles(size, n, tile)
    tiles = tiles2d.reshape(-1)                      # all T = n * tps tiles, block-major
    T = len(tiles)
    offs = offsets_of(tiles2d).reshape(-1) + np.repeat(offsets_of(shard), tps)
    G, Tt, D, P = _push_grid(n, T)
    stream = Tt % K
    slot = (Tt // K) * (2 * n)                       # this stream's k-th tile
    gg = np.broadcast_to(np.arange(n)[:, None], (n, T))
    tt = np.broadcast_to(np.arange(T)[None, :], (n, T))
    table.add(gpu=gg, stream=tt % K, seq=(tt // K) * (2 * n), kind=OpKind.COMPUTE, dur_ns=compute_ns)
    nb = tiles[Tt]
    keep = nb > 0
    table.add(gpu=G[keep], stream=stream[keep], seq=(slot + D)[keep], kind=OpKind.WRITE,
              peer=P[keep], nbytes=nb[keep], addr=(G * size + offs[Tt])[keep])
    table.add(gpu=G, stream=stream, seq=slot + n - 1 + D, kind=signal, peer=P, flag=Tt, value=1)
    tail = (T // K + 1) * 2 * n
    table.add(gpu=gg, stream=tt % K, seq=tail + 2 * tt, kind=OpKind.WAIT, flag=tt, value=n - 1)
    table.add(gpu=gg, stream=tt % K, seq=tail + 2 * tt + 1, kind=OpKind.COMPUTE,
              dur_ns=(n - 1) * tiles[tt] * reduce_ns_per_byte)
    return T
