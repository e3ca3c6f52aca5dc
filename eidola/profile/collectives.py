"""The op patterns of collectives, built vectorised for a group of GPUs.

Why shared: the synthetic generator (`eidola profile synth`) and the Kineto importer both turn
"an all-reduce of S bytes over these GPUs with this algorithm" into writes, signals and waits;
they must agree exactly. Every builder adds rows to an `OpTable` for the group `members`
(global GPU ids, in ring order), uses flag ids ``flag_base ..`` and streams
``stream_base ..``, and returns how many flag ids it used so callers can give the next
collective its own flag namespace.

Size conventions follow nccl-tests (PERFORMANCE.md): S is the per-GPU buffer as nccl-tests
reports "size": the all-reduce buffer; the reduce-scatter *input* (n shards of S/n); the
all-gather *output* (n shards of S/n); the all-to-all send buffer (n blocks of S/n); the
broadcast buffer. Bytes written summed over all GPUs are then exactly 2(n-1)S for all-reduce
and (n-1)S for reduce-scatter, all-gather, all-to-all and broadcast, for both algorithms.
Shards that do not divide evenly differ by one byte (larger ones first).
"""

from __future__ import annotations

import math

import numpy as np

from eidola.profile.schema import OpKind
from eidola.profile.table import OpTable, offsets_of, split_even

#: The phases a collective is made of, used by the ring and direct builders.
COLLECTIVE_PHASES = {
    "allreduce": ("reduce", "gather"),
    "reducescatter": ("reduce",),
    "allgather": ("gather",),
}


def _slices(nbytes: int, chunk: int | None) -> int:
    return 1 if not chunk or nbytes <= 0 else max(1, math.ceil(nbytes / chunk))


def _layout(size: int, n: int, channels: int, chunk: int | None):
    """How a buffer of `size` bytes splits: n shards, each into `channels` parts, each into m
    slices of at most `chunk` bytes; sizes and offsets: shard (n,), part (n, C), slice (n, C, m)."""
    shard = split_even(size, n)
    part = split_even(shard, channels)
    m = _slices(int(part.max()), chunk)
    sl = split_even(part, m)
    return shard, offsets_of(shard), part, offsets_of(part), sl, offsets_of(sl), m


def _wire(nbytes: np.ndarray, wire_factor: float) -> np.ndarray:
    """Bytes a write puts on the wire for `nbytes` of payload (protocol flags inline)."""
    if wire_factor == 1.0:
        return nbytes
    return np.ceil(nbytes * wire_factor).astype(np.int64)


def _launch(table: OpTable, gpu: np.ndarray, stream: np.ndarray, seq: int, launch_ns: float) -> None:
    """A compute of `launch_ns` first in every (gpu, stream): the collective's launch cost."""
    if launch_ns > 0:
        g, s = np.broadcast_arrays(gpu, stream)
        table.add(gpu=g, stream=s, seq=seq, kind=OpKind.COMPUTE, dur_ns=np.full(g.shape, float(launch_ns)))


def ring(table: OpTable, members: np.ndarray, size: int, coll: str, *, chunk: int | None = None,
         channels: int = 1, reduce_ns_per_byte: float = 0.0, flag_base: int = 0,
         stream_base: int = 0, seq_base: int = 0, rings: np.ndarray | None = None,
         wire_factor: float = 1.0, launch_ns: float = 0.0, step_ns: float = 0.0,
         produce_ns_per_byte: float = 0.0, inline_flags: bool = False,
         gpus_per_node: int | None = None, relays: np.ndarray | None = None,
         only: np.ndarray | None = None) -> int:
    """Ring all-reduce / reduce-scatter / all-gather over `members`.

    The rank at ring position p sends to position p+1. Step s (0-based) sends shard
    (p - s + shift) mod n: all-reduce runs n-1 reduce-scatter steps then n-1 all-gather steps
    (2(n-1) in all), reduce-scatter and all-gather n-1 steps each. Each step's shard is cut
    into `channels` parts (one stream each, an independent ring with its own flags) and each
    part into slices of at most `chunk` bytes. Per slice j of step s a stream: waits until its
    step-(s-1) flag reaches j+1 (the slice it forwards has arrived), pays `step_ns` once per
    step (j == 0: the library's per-step cost), reduces the received slice if that step reduced
    (compute of bytes * reduce_ns_per_byte, only when > 0), writes the slice to p+1 and adds 1
    to p+1's step-s flag. At the end it waits for all slices of the last step. Flags:
    ``flag_base + channel * steps + step``.

    `rings` (channels x n, indices into `members`) gives each channel its own ring order; by
    default every channel uses `members` in order. Shards are named by the GPU that owns them
    after a reduce-scatter, so that stays true for any order. `wire_factor` scales the bytes
    each write puts on the wire (protocol flags carried inline, eidola.profile.library);
    `launch_ns` is a compute at the start of every stream (the collective's launch cost);
    `produce_ns_per_byte` a compute before every write (slice bytes x it), which caps what one
    stream can send per ns (a protocol's GPU-side limit, e.g. LL's 8-byte stores);
    `inline_flags` makes the per-slice signals SIGNAL_NBI (the flag travels with the data, as in
    LL/LL128: ordered behind the write, no fence). With `gpus_per_node` (GPU ids node-major),
    hops between nodes always signal that way: the network transport delivers a channel's
    data and its flag in order over one connection (InfiniBand/RoCE reliable connections), so
    the sender never waits for a remote acknowledgement. `relays` (channels x n, indices into
    `members`, -1: none) sends the hop from ring position p through a relay GPU, as NCCL's PXN
    does across rails: the sender writes each slice to the relay (a GPU of its own node, over
    NVLink) and signals it; the relay's own stream per channel waits for the slice, writes it
    on to p+1 over its NIC and signals p+1 there (flags ``flag_base + C*steps ..``).
    `only` (indices into `members`) builds the
    ops of those GPUs alone, identical to their part of the full build: generators stream huge
    rings to disk a slice of GPUs at a time.
    """
    n = len(members)
    if n < 2:
        return 0
    phases = COLLECTIVE_PHASES[coll]
    steps = (n - 1) * len(phases)
    reduce_steps = n - 1 if phases[0] == "reduce" else 0  # received data of steps < this is reduced
    shift = -1 if coll == "reducescatter" else 0  # reduce-scatter: rank r ends owning shard r
    C = max(1, int(channels))
    order = np.broadcast_to(np.arange(n), (C, n)) if rings is None else np.asarray(rings, dtype=np.int64)
    if order.shape != (C, n):
        raise ValueError(f"rings must be {C} x {n}, got {order.shape}")
    shard, shard_off, part, part_off, sl, sl_off, m = _layout(size, n, C, chunk)

    if only is None:
        p = np.arange(n)[:, None, None, None]
    else:  # ring position of each requested GPU on each channel
        inv = np.argsort(order, axis=1)
        p = inv[np.arange(C)[None, :], np.asarray(only, dtype=np.int64)[:, None]][:, :, None, None]
    c = np.arange(C)[None, :, None, None]
    s = np.arange(steps)[None, None, :, None]
    j = np.arange(m)[None, None, None, :]
    k = order[c, (p - s + shift) % n]
    nbytes = sl[k, c, j]
    addr = shard_off[k] + part_off[k, c] + sl_off[k, c, j]
    gpu = members[order[c, p]]
    nxt = members[order[c, (p + 1) % n]]
    stream = stream_base + c
    seq = seq_base + 1 + (s * m + j) * 6
    my_flag = flag_base + c * steps + s

    relay_flag_base = flag_base + C * steps
    R = None if relays is None else np.asarray(relays, dtype=np.int64)
    if R is not None:
        if R.shape != (C, n):
            raise ValueError(f"relays must be {C} x {n}, got {R.shape}")
        via = R[c, p]  # the relay of this GPU's outgoing hop, or -1
        relayed = via >= 0
        nxt = np.where(relayed, members[np.maximum(via, 0)], nxt)
        sent_flag = np.where(relayed, relay_flag_base + c * steps + s, my_flag)
        _relay_ops(table, members, order, R, only, c, s, j, sl, shard_off, part_off, sl_off,
                   shift, n, steps, m, stream_base + C, seq_base, my_flag_base=flag_base,
                   relay_flag_base=relay_flag_base, wire_factor=wire_factor)

    else:
        sent_flag = my_flag
    b = np.broadcast_arrays(gpu, stream, seq, nxt, nbytes, addr, my_flag, sent_flag)
    keep = b[4] > 0  # zero-byte slices (tiny buffers) keep their signal but write nothing
    table.add(gpu=b[0][keep], stream=b[1][keep], seq=b[2][keep] + 4, kind=OpKind.WRITE,
              peer=b[3][keep], nbytes=_wire(b[4][keep], wire_factor), addr=b[5][keep])
    signal: OpKind | np.ndarray = OpKind.SIGNAL_NBI if inline_flags else OpKind.SIGNAL
    if gpus_per_node is not None and not inline_flags:
        crosses = (b[0] // int(gpus_per_node)) != (b[3] // int(gpus_per_node))
        signal = np.where(crosses, int(OpKind.SIGNAL_NBI), int(OpKind.SIGNAL)).astype(np.int64)
    table.add(gpu=b[0], stream=b[1], seq=b[2] + 5, kind=signal, peer=b[3], flag=b[7], value=1)
    if produce_ns_per_byte > 0:
        table.add(gpu=b[0][keep], stream=b[1][keep], seq=b[2][keep] + 3, kind=OpKind.COMPUTE,
                  dur_ns=b[4][keep] * produce_ns_per_byte)
    if steps > 1:
        w = (slice(None), slice(None), slice(1, None), slice(None))
        table.add(gpu=b[0][w], stream=b[1][w], seq=b[2][w], kind=OpKind.WAIT,
                  flag=(b[6] - 1)[w], value=np.broadcast_to(j + 1, b[0].shape)[w])
        if reduce_ns_per_byte > 0 and reduce_steps > 0:
            upto = min(steps, reduce_steps + 1)  # steps 1..reduce_steps reduce what s-1 brought
            w = (slice(None), slice(None), slice(1, upto), slice(None))
            table.add(gpu=b[0][w], stream=b[1][w], seq=b[2][w] + 2, kind=OpKind.COMPUTE,
                      dur_ns=b[4][w] * reduce_ns_per_byte)
    first = (slice(None), slice(None), slice(None), slice(0, 1))
    if step_ns > 0:
        table.add(gpu=b[0][first], stream=b[1][first], seq=b[2][first] + 1, kind=OpKind.COMPUTE,
                  dur_ns=np.full(b[0][first].shape, float(step_ns)))
    cc = np.arange(C)[None, :]
    rr = np.arange(n)[:, None] if only is None else p[:, :, 0, 0]
    gpu_at = members[order[cc, rr]]  # the GPU at ring position rr of channel cc
    _launch(table, gpu_at, stream_base + cc, seq_base, launch_ns)
    # tail: the last step's slices must all have arrived (and be reduced, for reduce-scatter)
    tail_seq = seq_base + 1 + steps * m * 6
    table.add(gpu=gpu_at, stream=stream_base + cc, seq=tail_seq, kind=OpKind.WAIT,
              flag=flag_base + cc * steps + steps - 1, value=m)
    if reduce_ns_per_byte > 0 and reduce_steps >= steps:
        k_last = order[cc, (rr - steps + shift) % n]
        table.add(gpu=gpu_at, stream=stream_base + cc, seq=tail_seq + 1,
                  kind=OpKind.COMPUTE, dur_ns=part[k_last, cc] * reduce_ns_per_byte)
    return C * steps * (2 if R is not None else 1)


def _relay_ops(table: OpTable, members: np.ndarray, order: np.ndarray, R: np.ndarray,
               only: np.ndarray | None, c, s, j, sl, shard_off, part_off, sl_off, shift: int,
               n: int, steps: int, m: int, stream0: int, seq_base: int, *, my_flag_base: int,
               relay_flag_base: int, wire_factor: float) -> None:
    """The relays' ops of `ring` (PXN): per relayed hop and slice, wait for the slice from the
    sender, write it to the hop's receiver, signal the receiver (in order behind the data)."""
    C = R.shape[0]
    inv = np.full((C, len(members)), -1, dtype=np.int64)  # member -> ring position it relays
    cc, pp = np.nonzero(R >= 0)
    inv[cc, R[cc, pp]] = pp
    who = np.arange(len(members)) if only is None else np.asarray(only, dtype=np.int64)
    pr = inv[:, who].T[:, :, None, None]  # (who, C, 1, 1): position relayed, or -1
    mine = np.broadcast_to(pr >= 0, (len(who), C, 1, 1))
    if not mine.any():
        return
    pos = np.maximum(pr, 0)
    k = order[c, (pos - s + shift) % n]
    nbytes = sl[k, c, j]
    addr = shard_off[k] + part_off[k, c] + sl_off[k, c, j]
    relay_gpu = members[who][:, None, None, None]
    to = members[order[c, (pos + 1) % n]]
    seq = seq_base + 1 + (s * m + j) * 3
    b = np.broadcast_arrays(relay_gpu, stream0 + c, seq, to, nbytes, addr,
                            relay_flag_base + c * steps + s, my_flag_base + c * steps + s,
                            j + 1, mine)
    on = b[9]
    table.add(gpu=b[0][on], stream=b[1][on], seq=b[2][on], kind=OpKind.WAIT, flag=b[6][on],
              value=b[8][on])
    w = on & (b[4] > 0)
    table.add(gpu=b[0][w], stream=b[1][w], seq=b[2][w] + 1, kind=OpKind.WRITE, peer=b[3][w],
              nbytes=_wire(b[4][w], wire_factor), addr=b[5][w])
    table.add(gpu=b[0][on], stream=b[1][on], seq=b[2][on] + 2, kind=OpKind.SIGNAL_NBI,
              peer=b[3][on], flag=b[7][on], value=1)


def direct(table: OpTable, members: np.ndarray, size: int | np.ndarray, coll: str, *,
           chunk: int | None = None, streams: int = 1, reduce_ns_per_byte: float = 0.0,
           flag_base: int = 0, stream_base: int = 0, seq_base: int = 0) -> int:
    """One-shot (direct) all-reduce / reduce-scatter / all-gather / all-to-all over `members`.

    Peers of rank r are visited in the order r+1, r+2, ... (staggered so that not every GPU
    writes to the same peer at once) and dealt round-robin over `streams` streams.
    - reduce phase (all-reduce, reduce-scatter): r writes shard p of its buffer to every peer
      p (into p's staging area at ``S + r * max_shard``), then adds 1 to p's flag;
      every stream then waits until its own flag reaches n-1 and reduces its share
      ((n-1) * shard_r * reduce_ns_per_byte / streams, when > 0).
    - gather phase (all-reduce, all-gather): r writes its (reduced) shard r to every peer at
      offset(shard r), adds 1 to the peer's next flag, and every stream waits for n-1.
    - all-to-all: r writes block p of its send buffer to p (at p's receive slot for r) and
      signals; every stream waits for n-1. `size` may be one value per rank (uneven
      all-to-all): rank r then sends split(size[r], n)[p] bytes to p; or an (n, n) matrix
      of bytes [sender, receiver] (recorded per-peer splits).
    Writes are cut into slices of at most `chunk` bytes; each phase signals each peer once,
    after all of that stream's writes of the phase.
    """
    n = len(members)
    if n < 2:
        return 0
    K = max(1, min(int(streams), n - 1))
    size_arr = np.asarray(size, dtype=np.int64)
    matrix = size_arr if size_arr.ndim == 2 else None   # all-to-all bytes [sender, receiver]
    if matrix is not None and (coll != "alltoall" or matrix.shape != (n, n)):
        raise ValueError(f"a byte matrix needs all-to-all over {n} ranks, got {coll} {matrix.shape}")
    sizes = matrix.sum(axis=1) if matrix is not None else np.broadcast_to(size_arr, (n,))
    S = int(sizes.max())
    shard = split_even(S, n)
    shard_off = offsets_of(shard)
    r = np.arange(n)[:, None]
    d = np.arange(1, n)[None, :]
    p = (r + d) % n
    w = (d - 1) % K
    q = (d - 1) // K
    Q = (n - 1) // K + 1
    gpu = members[r]
    peer = members[p]
    stream = stream_base + w
    if coll == "alltoall":
        phases = ("a2a",)
    else:
        phases = COLLECTIVE_PHASES[coll]
    nflags = 0
    base = seq_base
    for ph_i, phase in enumerate(phases):
        flag = flag_base + ph_i
        nflags += 1
        if phase == "reduce":
            blk = shard[p]                       # r sends shard p
            addr = S + r * int(shard.max())      # p's staging slot for r
        elif phase == "gather":
            blk = shard[np.broadcast_to(r, p.shape)]  # r sends its shard r
            addr = shard_off[np.broadcast_to(r, p.shape)]
        elif matrix is not None:  # recorded per-peer splits: r sends matrix[r, p] to p
            rb = np.broadcast_to(r, p.shape)
            blk = matrix[rb, p]
            addr = offsets_of(matrix.T)[p, rb]   # p's receive buffer holds senders in rank order
        else:  # all-to-all: r sends block p of its own buffer into p's slot for r
            blk = split_even(sizes, n)[np.broadcast_to(r, p.shape), p]
            addr = shard_off[np.broadcast_to(r, p.shape)]
        m = _slices(int(np.max(blk)), chunk)
        pieces = split_even(blk, m)              # (n, n-1, m)
        piece_off = offsets_of(pieces)
        jj = np.arange(m)[None, None, :]
        wb = np.broadcast_arrays(gpu[..., None], stream[..., None], peer[..., None],
                                 pieces, np.asarray(addr)[..., None] + piece_off,
                                 (base + q * m)[..., None] + jj)
        keep = wb[3] > 0
        table.add(gpu=wb[0][keep], stream=wb[1][keep], seq=wb[5][keep], kind=OpKind.WRITE,
                  peer=wb[2][keep], nbytes=wb[3][keep], addr=wb[4][keep])
        sb = np.broadcast_arrays(gpu, stream, peer, base + Q * m + q)
        table.add(gpu=sb[0], stream=sb[1], seq=sb[3], kind=OpKind.SIGNAL, peer=sb[2], flag=flag,
                  value=1)
        rr = np.arange(n)[:, None]
        ww = np.arange(K)[None, :]
        table.add(gpu=members[rr], stream=stream_base + ww, seq=base + 2 * Q * m, kind=OpKind.WAIT,
                  flag=flag, value=n - 1)
        if phase == "reduce" and reduce_ns_per_byte > 0:
            table.add(gpu=members[rr], stream=stream_base + ww, seq=base + 2 * Q * m + 1,
                      kind=OpKind.COMPUTE,
                      dur_ns=(n - 1) * shard[rr] * reduce_ns_per_byte / K + 0 * ww)
        base += 2 * Q * m + 2
    return nflags


def p2p_alltoall(table: OpTable, members: np.ndarray, size: int | np.ndarray, *,
                 op_shape, concurrent_ops, wire_factor: dict[str, float],
                 inline_flags: dict[str, bool], gpus_per_node: int | None = None,
                 fifo_steps: int = 0, flag_base: int = 0, stream_base: int = 0,
                 seq_base: int = 0) -> int:
    """All-to-all as a library runs it: one send per peer, all peers at once (eidola.profile.p2p).

    Rank r sends block p of its buffer to every peer p (sizes as in `direct`: one value, one
    per rank, or an (n, n) byte matrix), peers in the library's schedule order r+1, r+2, ...
    `op_shape(nbytes, network) -> (channels, protocol, chunk)` says how one send is striped
    (`network`: it crosses nodes of `gpus_per_node`): `channels`
    parts, each its own stream, moved in chunks of at most `chunk` payload bytes, each chunk a
    write followed by +1 on the receiver's flag for that (sender, part): a fenced SIGNAL under
    Simple, SIGNAL_NBI when `inline_flags[protocol]` (LL) or when the chunk crosses nodes
    (network transport: data and flag in order on one connection); the write carries
    `wire_factor[protocol]` wire bytes per payload byte. `concurrent_ops(channels)` caps how
    many sends run at once (NCCL: p2p channels / channels x 8); sends beyond that queue behind
    earlier ones on the same lane of streams. On the receiving side one stream per (lane, part)
    waits for each chunk in turn, as the library's receiving thread block spins on its FIFO.
    With `fifo_steps` > 0 the FIFO has that many chunk slots (NCCL_STEPS): the receiver hands
    each slot back (SIGNAL_NBI +1 on the sender's credit flag for that send and part) and the
    sender waits for the slot before writing chunk j >= fifo_steps, so a send has at most
    `fifo_steps` chunks in flight, as in the library.
    Streams: senders ``stream_base + lane * P + part``, receivers after them (P = most parts
    of any send). Flags: ``flag_base + (d - 1) * P + part`` for data from the sender d ranks
    back, ``flag_base + (n - 1 + d - 1) * P + part`` for slots returned by the receiver d ranks
    ahead. Returns the flags used.
    """
    n = len(members)
    if n < 2:
        return 0
    size_arr = np.asarray(size, dtype=np.int64)
    if size_arr.ndim == 2:
        if size_arr.shape != (n, n):
            raise ValueError(f"a byte matrix must be {n} x {n}, got {size_arr.shape}")
        matrix = size_arr
    else:
        matrix = split_even(np.broadcast_to(size_arr, (n,)), n)
    recv_off = offsets_of(matrix.T)                # p's buffer holds its senders in rank order
    r = np.arange(n)[:, None]
    d = np.arange(1, n)[None, :]
    p = (r + d) % n
    B = matrix[np.broadcast_to(r, p.shape), p]     # (n, n-1): bytes r sends to r+d
    if gpus_per_node is None:
        X = np.zeros(B.shape, dtype=bool)
    else:                                           # sends that cross nodes
        X = members[np.broadcast_to(r, p.shape)] // int(gpus_per_node) != members[p] // int(gpus_per_node)
    kinds = np.unique(np.stack([B[B > 0], X[B > 0]], axis=1), axis=0)
    shapes = {(int(b), bool(x)): op_shape(int(b), bool(x)) for b, x in kinds}
    if not shapes:
        return 0
    P = max(s[0] for s in shapes.values())
    lanes = max(1, min(n - 1, int(concurrent_ops(P))))
    M = max(math.ceil(math.ceil(b / s[0]) / s[2]) for (b, _), s in shapes.items())  # chunks/part
    lane = (d - 1) % lanes
    pos = (d - 1) // lanes
    rb = np.broadcast_to(r, p.shape)
    for (b, x), (ch, proto, chunk) in shapes.items():
        rr, dd = np.nonzero((B == b) & (X == x))
        if not len(rr):
            continue
        part = split_even(b, ch)                   # (ch,)
        m = max(1, math.ceil(int(part.max()) / chunk))
        pieces = split_even(part, m)               # (ch, m)
        addr = (recv_off[p[rr, dd], rb[rr, dd]][:, None, None]
                + offsets_of(part)[None, :, None] + offsets_of(pieces)[None, :, :])
        c = np.arange(ch)[None, :, None]
        j = np.arange(m)[None, None, :]
        gpu = members[rr][:, None, None]
        peer = members[p[rr, dd]][:, None, None]
        ln = lane[0, dd][:, None, None]
        ps = pos[0, dd][:, None, None]
        send_stream = stream_base + ln * P + c
        seq = seq_base + (ps * M + j) * 3 + 1
        flag = flag_base + dd[:, None, None] * P + c   # dd is d - 1
        credit = flag_base + (n - 1 + dd[:, None, None]) * P + c
        if fifo_steps > 0 and m > fifo_steps:          # wait for a free FIFO slot
            f = np.broadcast_arrays(gpu, send_stream, seq - 1, credit, j - fifo_steps + 1,
                                    pieces[None])
            late = (f[4] > 0) & (f[5] > 0)
            table.add(gpu=f[0][late], stream=f[1][late], seq=f[2][late], kind=OpKind.WAIT,
                      flag=f[3][late], value=f[4][late])
        w = np.broadcast_arrays(gpu, send_stream, seq, peer, pieces[None], addr, flag)
        keep = w[4] > 0
        table.add(gpu=w[0][keep], stream=w[1][keep], seq=w[2][keep], kind=OpKind.WRITE,
                  peer=w[3][keep], nbytes=_wire(w[4][keep], wire_factor[proto]),
                  addr=w[5][keep])
        kind = OpKind.SIGNAL_NBI if inline_flags[proto] or x else OpKind.SIGNAL  # x: crosses nodes
        table.add(gpu=w[0][keep], stream=w[1][keep], seq=w[2][keep] + 1, kind=kind,
                  peer=w[3][keep], flag=w[6][keep], value=1)
        recv_stream = stream_base + lanes * P + ln * P + c
        v = np.broadcast_arrays(peer, recv_stream, (ps * M + j) * 2 + seq_base, flag, j + 1,
                                pieces[None], gpu, credit)
        keep = v[5] > 0
        table.add(gpu=v[0][keep], stream=v[1][keep], seq=v[2][keep], kind=OpKind.WAIT,
                  flag=v[3][keep], value=v[4][keep])
        if fifo_steps > 0 and m > fifo_steps:          # hand the slot back
            table.add(gpu=v[0][keep], stream=v[1][keep], seq=v[2][keep] + 1,
                      kind=OpKind.SIGNAL_NBI, peer=v[6][keep], flag=v[7][keep], value=1)
    return 2 * (n - 1) * P


def broadcast(table: OpTable, members: np.ndarray, size: int, algo: str, *, root: int = 0,
              chunk: int | None = None, flag_base: int = 0, stream_base: int = 0,
              seq_base: int = 0) -> int:
    """Broadcast S bytes from local rank `root`.

    ring: a pipelined chain root -> root+1 -> ... -> root+n-1; each non-root rank waits for
    slice j (flag >= j+1) before forwarding it. direct: the root writes S to every other rank
    and signals each once; every other rank waits for flag >= 1. Either way (n-1)S bytes.
    """
    n = len(members)
    if n < 2:
        return 0
    m = _slices(size, chunk)
    sl = split_even(size, m)
    sl_off = offsets_of(sl)
    if algo == "ring":
        pos = np.arange(n - 1)[:, None]              # positions that send
        rank = members[(root + pos) % n]
        nxt = members[(root + pos + 1) % n]
        j = np.arange(m)[None, :]
        seq = seq_base + j * 4
        b = np.broadcast_arrays(rank, nxt, seq, sl[j], sl_off[j], j)
        keep = b[3] > 0
        table.add(gpu=b[0][keep], seq=b[2][keep] + 2, stream=stream_base, kind=OpKind.WRITE,
                  peer=b[1][keep], nbytes=b[3][keep], addr=b[4][keep])
        table.add(gpu=b[0], seq=b[2] + 3, stream=stream_base, kind=OpKind.SIGNAL, peer=b[1],
                  flag=flag_base, value=1)
        table.add(gpu=b[0][1:], seq=b[2][1:], stream=stream_base, kind=OpKind.WAIT,
                  flag=flag_base, value=b[5][1:] + 1)
        table.add(gpu=members[(root + n - 1) % n], seq=seq_base, stream=stream_base,
                  kind=OpKind.WAIT, flag=flag_base, value=m)
        return 1
    others = members[(root + np.arange(1, n)) % n]
    src = members[root]
    pe = others[:, None]
    j = np.arange(m)[None, :]
    seq = seq_base + (np.arange(n - 1)[:, None] * m + j)
    b = np.broadcast_arrays(pe, seq, sl[j], sl_off[j])
    keep = b[2] > 0
    table.add(gpu=src, seq=b[1][keep], stream=stream_base, kind=OpKind.WRITE, peer=b[0][keep],
              nbytes=b[2][keep], addr=b[3][keep])
    table.add(gpu=src, seq=seq_base + (n - 1) * m + np.arange(n - 1), stream=stream_base,
              kind=OpKind.SIGNAL, peer=others, flag=flag_base, value=1)
    table.add(gpu=others, seq=seq_base, stream=stream_base, kind=OpKind.WAIT, flag=flag_base,
              value=1)
    return 1


def sendrecv(table: OpTable, members: np.ndarray, size: int, *, chunk: int | None = None,
             flag_base: int = 0, stream_base: int = 0, seq_base: int = 0) -> int:
    """Ring shift: every rank writes S bytes to rank+1, signals it, then waits for its own data.

    Stands in for NCCL send/recv pairs whose peers a trace does not name; with two ranks it is
    a symmetric exchange. Total bytes n*S.
    """
    n = len(members)
    if n < 2:
        return 0
    m = _slices(size, chunk)
    sl = split_even(size, m)
    sl_off = offsets_of(sl)
    r = np.arange(n)[:, None]
    j = np.arange(m)[None, :]
    b = np.broadcast_arrays(members[r], members[(r + 1) % n], seq_base + j, sl[j], sl_off[j])
    keep = b[3] > 0
    table.add(gpu=b[0][keep], seq=b[2][keep], stream=stream_base, kind=OpKind.WRITE,
              peer=b[1][keep], nbytes=b[3][keep], addr=b[4][keep])
    table.add(gpu=members, seq=seq_base + m, stream=stream_base, kind=OpKind.SIGNAL,
              peer=members[(np.arange(n) + 1) % n], flag=flag_base, value=1)
    table.add(gpu=members, seq=seq_base + m + 1, stream=stream_base, kind=OpKind.WAIT,
              flag=flag_base, value=1)
    return 1


def p2p(table: OpTable, src: int, dst: int, size: int, *, chunk: int | None = None,
        flag_base: int = 0, stream_base: int = 0, seq_base: int = 0) -> int:
    """GPU `src` writes S bytes to `dst` (in slices of at most `chunk`), then signals once;
    `dst` waits for the signal."""
    m = _slices(size, chunk)
    sl = split_even(size, m)
    keep = sl > 0
    table.add(gpu=src, seq=seq_base + np.arange(m)[keep], stream=stream_base, kind=OpKind.WRITE,
              peer=dst, nbytes=sl[keep], addr=offsets_of(sl)[keep])
    table.add(gpu=src, seq=seq_base + m, stream=stream_base, kind=OpKind.SIGNAL, peer=dst,
              flag=flag_base, value=1)
    table.add(gpu=dst, seq=seq_base, stream=stream_base, kind=OpKind.WAIT, flag=flag_base, value=1)
    return 1


#: Peer id of multicast ops (NVLS): the switch the GPU hangs off fans the op out to all GPUs.
MULTICAST_PEER = -2


def nvls(table: OpTable, members: np.ndarray, size: int, *, chunk: int | None = None,
         channels: int = 1, flag_base: int = 0, stream_base: int = 0, seq_base: int = 0,
         wire_factor: float = 1.0, launch_ns: float = 0.0) -> int:
    """NVLS-style all-reduce with in-switch reduction (NVSwitch multimem), over `members`.

    Rank r owns shard r (S/n). Each of `channels` streams takes a part of it and, per slice,
    (1) multicast-reads it: the switch reads the same bytes from every GPU, reduces them and
    returns the sum to r (multimem.ld_reduce), then (2) multicast-writes the sum: the switch
    copies it to every GPU (multimem.st). Finally each stream adds 1 to its barrier flag on
    every GPU (a multicast signal, ordered after its writes) and waits until all n * channels
    streams have done so. Per GPU this puts S + S/n bytes on each direction of its switch
    port, against 2(n-1)S/n for a ring. Needs a topology where GPUs sit on a switch.
    `wire_factor` scales the bytes of every multimem op (1 / the library's NVLS efficiency),
    `launch_ns` is a compute at the start of every stream.
    """
    n = len(members)
    if n < 2:
        return 0
    C = max(1, int(channels))
    shard, shard_off, _, part_off, sl, sl_off, m = _layout(size, n, C, chunk)
    r = np.arange(n)[:, None, None]
    c = np.arange(C)[None, :, None]
    j = np.arange(m)[None, None, :]
    nbytes = sl[r, c, j]
    addr = shard_off[r] + part_off[r, c] + sl_off[r, c, j]
    gpu = members[r]
    stream = stream_base + c
    seq = seq_base + 1 + j * 2
    b = np.broadcast_arrays(gpu, stream, seq, nbytes, addr)
    keep = b[3] > 0
    wire = _wire(b[3][keep], wire_factor)
    table.add(gpu=b[0][keep], stream=b[1][keep], seq=b[2][keep], kind=OpKind.READ,
              peer=MULTICAST_PEER, nbytes=wire, addr=b[4][keep])
    table.add(gpu=b[0][keep], stream=b[1][keep], seq=b[2][keep] + 1, kind=OpKind.WRITE,
              peer=MULTICAST_PEER, nbytes=wire, addr=b[4][keep])
    rr = np.arange(n)[:, None]
    cc = np.arange(C)[None, :]
    _launch(table, members[rr], stream_base + cc, seq_base, launch_ns)
    tail = seq_base + 1 + m * 2
    table.add(gpu=members[rr], stream=stream_base + cc, seq=tail, kind=OpKind.SIGNAL,
              peer=MULTICAST_PEER, flag=flag_base, value=1)
    table.add(gpu=members[rr], stream=stream_base + cc, seq=tail + 1, kind=OpKind.WAIT,
              flag=flag_base, value=n * C)
    return 1


def hierarchical_allreduce(table: OpTable, n: int, gpus_per_node: int, size: int, *,
                           chunk: int | None = None, channels: int = 1,
                           reduce_ns_per_byte: float = 0.0, only: np.ndarray | None = None) -> int:
    """All-reduce over nodes of `gpus_per_node` GPUs (GPU ids node-major), as libraries run it
    across nodes: a ring reduce-scatter inside each node (GPU at local index k ends owning
    shard k of S/g), a ring all-reduce of that shard among the GPUs of local index k of every
    node (one rail), then a ring all-gather inside each node. Per GPU, the three phases follow
    each other on its streams. `only`: build these GPUs' ops alone (streaming generators).
    Returns the flag ids used.
    """
    g = int(gpus_per_node)
    nodes = n // g
    want = None if only is None else set(int(x) for x in np.asarray(only))
    shard = int(split_even(size, g).max())  # the rail phase moves the largest shard

    def pick(members: np.ndarray) -> np.ndarray | None:
        if want is None:
            return None
        return np.array([i for i, m in enumerate(members) if int(m) in want], dtype=np.int64)

    used = 0
    seq = 0
    step = 1 << 40  # seq space of one phase: far more than any ring's ops per stream
    groups_node = [np.arange(k * g, (k + 1) * g) for k in range(nodes)]
    groups_rail = [np.arange(j, n, g) for j in range(g)]
    for phase, (groups, coll, nbytes) in enumerate(((groups_node, "reducescatter", size),
                                                    (groups_rail, "allreduce", shard),
                                                    (groups_node, "allgather", size))):
        phase_flags = 0
        for members in groups:
            sub = pick(members)
            if sub is not None and len(sub) == 0:
                continue
            if len(members) < 2:
                continue
            phase_flags = max(phase_flags, ring(
                table, members, nbytes, coll, chunk=chunk, channels=channels,
                reduce_ns_per_byte=reduce_ns_per_byte, flag_base=used, seq_base=seq, only=sub))
        # every group of a phase uses the same flag ids (their GPUs differ); the next phase
        # starts after the largest count any group could use
        C = max(1, int(channels))
        size_of_group = len(groups[0])
        steps = (size_of_group - 1) * len(COLLECTIVE_PHASES[coll])
        used += max(phase_flags, C * steps if size_of_group > 1 else 0)
        seq += step
    return used


def binary_tree(n: int, rank: int) -> tuple[int, list[int]]:
    """(parent, children) of `rank` in NCCL's in-order binary tree over n ranks rooted at 0
    (nccl src/graph/trees.cc, ncclGetBtree): a rank's lowest set bit b sets its level; its
    parent is (rank ^ b) | 2b, or rank ^ b when that is out of range; its children are
    rank -/+ b/2, the upper one halved further until it is in range. -1: none."""
    if n <= 1:
        return -1, []
    bit = 1
    while bit < n and not bit & rank:
        bit <<= 1
    if rank == 0:
        return -1, [bit >> 1]
    up = (rank ^ bit) | (bit << 1)
    if up >= n:
        up = rank ^ bit
    low = bit >> 1
    if low == 0:
        return up, []
    kids = [rank - low]
    while low and rank + low >= n:
        low >>= 1
    if low:
        kids.append(rank + low)
    return up, kids


def double_binary_tree(n: int) -> list[tuple[list[int], list[list[int]]]]:
    """NCCL's two complementary trees over n ranks (ncclGetDtree): the binary tree, and its
    mirror (n even) or its shift by one rank (n odd), so that a rank that is interior in one
    tree is a leaf in the other. Returns per tree (parent per rank, children per rank)."""
    first = [binary_tree(n, r) for r in range(n)]
    if n % 2:
        src = [binary_tree(n, (r - 1) % n) for r in range(n)]
        second = [(-1 if u < 0 else (u + 1) % n, [(c + 1) % n for c in kids]) for u, kids in src]
    else:
        src = [binary_tree(n, n - 1 - r) for r in range(n)]
        second = [(-1 if u < 0 else n - 1 - u, [n - 1 - c for c in kids]) for u, kids in src]
    return [([u for u, _ in t], [k for _, k in t]) for t in (first, second)]


def _tree_arrays(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """`double_binary_tree(nodes)` as arrays: parent (2, nodes) and children (2, nodes, 2),
    -1 where there is none."""
    trees = double_binary_tree(nodes)
    parent = np.array([t[0] for t in trees], dtype=np.int64).reshape(2, nodes)
    kids = np.full((2, nodes, 2), -1, dtype=np.int64)
    for t, (_, kl) in enumerate(trees):
        for k, ks in enumerate(kl):
            kids[t, k, :len(ks)] = ks
    return parent, kids


def _masked_adder(table: OpTable, full: tuple[int, ...]):
    """add(mask, kind, **columns): the rows of `table` where `mask` holds, every argument
    broadcast to the builder's grid `full` (kind may be one kind or an array of them)."""
    def add(mask, kind, **cols) -> None:
        mask = np.broadcast_to(mask, full)
        if mask.any():
            k = np.broadcast_to(kind, full)[mask] if isinstance(kind, np.ndarray) else kind
            table.add(kind=k, **{c: np.broadcast_to(v, full)[mask] for c, v in cols.items()})
    return add


def nvls_tree_allreduce(table: OpTable, n: int, gpus_per_node: int, size: int, *,
                        chunk: int | None = None, channels: int = 1, flag_base: int = 0,
                        stream_base: int = 0, seq_base: int = 0, wire_factor: float = 1.0,
                        launch_ns: float = 0.0, max_busbw_gbps: float = 0.0,
                        only: np.ndarray | None = None) -> int:
    """All-reduce across nodes as NCCL's NVLS tree runs it (GPU ids node-major).

    Every GPU heads the shard of its local index r (S/g): per slice it (1) reduces the slice
    over its node with one multicast read through the node switch (multimem.ld_reduce), (2)
    joins the tree of rail r across nodes: waits for its children's partial sums, sends its
    sum to its parent, and (3) once the total comes down from the root, forwards it to its
    children and writes it to every GPU of its node with one multicast write (multimem.st).
    The shard is split over `channels` parts and each part in two halves, one per tree of
    NCCL's double binary tree over the nodes; the up and down halves of a tree run on their
    own streams so slices pipeline through the tree. Network hops signal behind their data
    (in-order delivery). The end is a node-wide multicast barrier. `wire_factor` scales
    multimem bytes (1 / NVLS efficiency), `launch_ns` is paid first on every stream.
    `max_busbw_gbps` (> 0) caps what the GPUs can drive, as bus bandwidth (the library's
    measured per-channel NVLS tree limit, eidola.profile.library): a pacing stream next to
    every down stream spends slice bytes x its share of the cap as compute per slice and
    releases the slice's node write, so the cap overlaps with the transfers instead of adding
    to them. `only`: build these GPUs' ops alone (streaming generators); built vectorised over
    GPUs, parts, trees and slices. Returns the flag ids used.
    """
    g = int(gpus_per_node)
    nodes = n // g
    C = max(1, int(channels))
    shard = split_even(size, g)                      # (g,)
    part = split_even(shard, C)                      # (g, C)
    half = split_even(part, 2)                       # (g, C, 2)
    m = _slices(int(half.max()), chunk)
    sl = split_even(half, m)                         # (g, C, 2, m)
    off = (offsets_of(shard)[:, None, None, None] + offsets_of(part)[:, :, None, None]
           + offsets_of(half)[:, :, :, None] + offsets_of(sl))
    barrier = flag_base + 6 * C
    # busbw = 2(n-1)/n * S / t and each GPU moves S/g over its 2C down streams
    produce = (2.0 * (n - 1) / n * g * 2 * C / max_busbw_gbps) if max_busbw_gbps > 0 else 0.0

    parent, kids = _tree_arrays(nodes)
    nkids = (kids >= 0).sum(axis=2)                                     # (2, nodes)

    gpus = np.arange(n, dtype=np.int64) if only is None else np.asarray(only, dtype=np.int64)
    G = gpus[:, None, None, None]                    # axes: gpu, part, tree, slice
    P = np.arange(C)[None, :, None, None]
    T = np.arange(2)[None, None, :, None]
    J = np.arange(m)[None, None, None, :]
    node, r = G // g, G % g
    nbytes, addr = sl[r, P, T, J], off[r, P, T, J]
    wire = _wire(nbytes, wire_factor)
    par = parent[T, node]                            # (G, 1, 2, 1)
    nk = nkids[T, node]
    up_flag = flag_base + (P * 2 + T) * 3
    down_flag, pace_flag = up_flag + 1, up_flag + 2
    up_s = stream_base + (P * 2 + T) * 3
    down_s, pace_s = up_s + 1, up_s + 2
    per = 8                                          # seq slots per slice on a down stream
    sq_up = seq_base + 1 + J * 4
    sq_dn = seq_base + 1 + J * per
    full = (len(gpus), C, 2, m)
    add = _masked_adder(table, full)

    has_data = nbytes > 0
    nonroot, root = par >= 0, par < 0
    # up streams (non-roots): node reduce, children's sums, on to the parent
    add(nonroot & has_data, kind=OpKind.READ, gpu=G, stream=up_s, seq=sq_up, peer=MULTICAST_PEER,
        nbytes=wire, addr=addr)
    add(nonroot & (nk > 0), kind=OpKind.WAIT, gpu=G, stream=up_s, seq=sq_up + 1, flag=up_flag,
        value=(J + 1) * nk)
    to_parent = np.maximum(par, 0) * g + r
    add(nonroot & has_data, kind=OpKind.WRITE, gpu=G, stream=up_s, seq=sq_up + 2, peer=to_parent,
        nbytes=nbytes, addr=addr)
    add(nonroot, kind=OpKind.SIGNAL_NBI, gpu=G, stream=up_s, seq=sq_up + 3, peer=to_parent,
        flag=up_flag, value=1)
    # down streams: non-roots wait for the total; roots reduce their node and gather children
    add(nonroot, kind=OpKind.WAIT, gpu=G, stream=down_s, seq=sq_dn, flag=down_flag, value=J + 1)
    add(root & has_data, kind=OpKind.READ, gpu=G, stream=down_s, seq=sq_dn, peer=MULTICAST_PEER,
        nbytes=wire, addr=addr)
    add(root & (nk > 0), kind=OpKind.WAIT, gpu=G, stream=down_s, seq=sq_dn + 1, flag=up_flag,
        value=(J + 1) * nk)
    for i in range(2):  # the total to each child
        kid = kids[T, node, i]
        to_kid = np.maximum(kid, 0) * g + r
        add((kid >= 0) & has_data, kind=OpKind.WRITE, gpu=G, stream=down_s, seq=sq_dn + 2 + 2 * i,
            peer=to_kid, nbytes=nbytes, addr=addr)
        add(kid >= 0, kind=OpKind.SIGNAL_NBI, gpu=G, stream=down_s, seq=sq_dn + 3 + 2 * i,
            peer=to_kid, flag=down_flag, value=1)
    if produce > 0:  # the GPU-side limit, overlapped: pace, then release the node write
        sq_p = seq_base + 1 + J * 2
        add(True, kind=OpKind.COMPUTE, gpu=G, stream=pace_s, seq=sq_p, dur_ns=nbytes * produce)
        add(True, kind=OpKind.SIGNAL_NBI, gpu=G, stream=pace_s, seq=sq_p + 1, peer=G,
            flag=pace_flag, value=1)
        add(True, kind=OpKind.WAIT, gpu=G, stream=down_s, seq=sq_dn + per - 2, flag=pace_flag,
            value=J + 1)
    add(has_data, kind=OpKind.WRITE, gpu=G, stream=down_s, seq=sq_dn + per - 1,
        peer=MULTICAST_PEER, nbytes=wire, addr=addr)
    # launch costs and the node-wide barrier, once per stream
    first = (slice(None), slice(None), slice(None), slice(0, 1))
    gg, uu, dd = (np.broadcast_to(x, full)[first] for x in (G, up_s, down_s))
    nr = np.broadcast_to(nonroot, full)[first]
    _launch(table, gg[nr], uu[nr], seq_base, launch_ns)
    _launch(table, gg, dd, seq_base, launch_ns)
    tail = seq_base + 1 + m * per
    table.add(gpu=gg, stream=dd, seq=tail, kind=OpKind.SIGNAL, peer=MULTICAST_PEER, flag=barrier,
              value=1)
    table.add(gpu=gg, stream=dd, seq=tail + 1, kind=OpKind.WAIT, flag=barrier, value=g * 2 * C)
    return 6 * C + 1


def tree_allreduce(table: OpTable, n: int, gpus_per_node: int, size: int, *,
                   chunk: int | None = None, channels: int = 2, flag_base: int = 0,
                   stream_base: int = 0, seq_base: int = 0, wire_factor: float = 1.0,
                   launch_ns: float = 0.0, inline_flags: bool = False,
                   only: np.ndarray | None = None) -> int:
    """All-reduce as NCCL's Tree algorithm runs it across nodes (GPU ids node-major).

    Inside a node the GPUs form a chain from its head (local GPU c mod g for channel c, so the
    channels' heads and their NICs rotate) through the others; across nodes the heads form one
    of NCCL's two binary trees (`double_binary_tree`), channel c using tree c mod 2 for its
    part of the buffer (S / channels). Per slice, partial sums flow up (each
    GPU waits for its children's slices, then writes its sum to its parent: the chain's next
    GPU towards the head, or for a head its parent node's head) and the total flows back down
    the same edges. Up and down run on their own streams per channel so slices pipeline.
    Hops between nodes signal behind their data (in-order delivery); NVLink hops signal with a
    release unless `inline_flags` (LL/LL128). Returns the flag ids used.
    """
    g = int(gpus_per_node)
    nodes = n // g
    C = max(1, int(channels))
    part = split_even(size, C)                       # (C,)
    m = _slices(int(part.max()), chunk)
    sl = split_even(part, m)                         # (C, m)
    off = offsets_of(part)[:, None] + offsets_of(sl)
    parent_node, kid_nodes = _tree_arrays(nodes)

    gpus = np.arange(n, dtype=np.int64) if only is None else np.asarray(only, dtype=np.int64)
    G = gpus[:, None, None]                          # axes: gpu, channel, slice
    Cc = np.arange(C)[None, :, None]
    J = np.arange(m)[None, None, :]
    T = Cc % 2
    node, i = G // g, G % g
    nbytes, addr = sl[Cc, J], off[Cc, J]
    # channel c's chain starts at local GPU h = c mod g (its NIC joins the tree), so the
    # channels' inter-node traffic spreads over every NIC, as NCCL's tree channels do
    h = Cc % g
    pos = (i - h) % g
    head = pos == 0
    at = lambda nd, q: nd * g + (h + q) % g  # noqa: E731 - GPU at chain position q of node nd
    # parent: the previous GPU of the chain, or (heads) the parent node's head; -1 at the root
    pnode = parent_node[T, node]
    parent = np.where(head, np.where(pnode >= 0, at(np.maximum(pnode, 0), 0), -1),
                      at(node, pos - 1))
    # children: the next GPU of the chain, and (heads) the child nodes' heads
    chain_kid = np.where(pos < g - 1, at(node, pos + 1), -1)
    ka, kb = kid_nodes[T, node, 0], kid_nodes[T, node, 1]
    kid_a = np.where(head & (ka >= 0), at(np.maximum(ka, 0), 0), -1)
    kid_b = np.where(head & (kb >= 0), at(np.maximum(kb, 0), 0), -1)
    kids = (chain_kid, kid_a, kid_b)
    nk = sum((k >= 0).astype(np.int64) for k in kids)
    up_flag, down_flag = flag_base + Cc * 2, flag_base + Cc * 2 + 1
    up_s, down_s = stream_base + Cc * 2, stream_base + Cc * 2 + 1
    full = (len(gpus), C, m)

    def sig_kind(to):
        if inline_flags:
            return np.full(full, int(OpKind.SIGNAL_NBI))
        cross = np.broadcast_to(to // g != G // g, full)
        return np.where(cross, int(OpKind.SIGNAL_NBI), int(OpKind.SIGNAL))

    add = _masked_adder(table, full)
    has = nbytes > 0
    sq_up = seq_base + 1 + J * 3
    nonroot, root = parent >= 0, parent < 0
    add(nonroot & (nk > 0), kind=OpKind.WAIT, gpu=G, stream=up_s, seq=sq_up, flag=up_flag,
        value=(J + 1) * nk)
    add(nonroot & has, kind=OpKind.WRITE, gpu=G, stream=up_s, seq=sq_up + 1,
        peer=np.maximum(parent, 0), nbytes=_wire(np.broadcast_to(nbytes, full), wire_factor),
        addr=addr)
    add(nonroot, kind=sig_kind(parent), gpu=G, stream=up_s, seq=sq_up + 2,
        peer=np.maximum(parent, 0), flag=up_flag, value=1)
    sq_dn = seq_base + 1 + J * 8
    add(nonroot, kind=OpKind.WAIT, gpu=G, stream=down_s, seq=sq_dn, flag=down_flag, value=J + 1)
    add(root & (nk > 0), kind=OpKind.WAIT, gpu=G, stream=down_s, seq=sq_dn, flag=up_flag,
        value=(J + 1) * nk)
    for q, kid in enumerate(kids):
        add((kid >= 0) & has, kind=OpKind.WRITE, gpu=G, stream=down_s, seq=sq_dn + 1 + 2 * q,
            peer=np.maximum(kid, 0), nbytes=_wire(np.broadcast_to(nbytes, full), wire_factor),
            addr=addr)
        add(kid >= 0, kind=sig_kind(kid), gpu=G, stream=down_s, seq=sq_dn + 2 + 2 * q,
            peer=np.maximum(kid, 0), flag=down_flag, value=1)
    first = (slice(None), slice(None), slice(0, 1))
    gg, uu, dd = (np.broadcast_to(x, full)[first] for x in (G, up_s, down_s))
    nr = np.broadcast_to(nonroot, full)[first]
    _launch(table, gg[nr], uu[nr], seq_base, launch_ns)
    _launch(table, gg, dd, seq_base, launch_ns)
    return 2 * C
