"""The built-in engine against closed forms, and its behaviour on the shipped profiles."""

from __future__ import annotations

import numpy as np
import pytest

from eidola.engine import run
from eidola.engine.run import DeadlockError
from eidola.errors import EidolaError
from eidola.params import RunParams
from eidola.profile import Profile
from eidola.profile.schema import OpKind, empty_ops
from eidola.profile.synth import synthesize
from eidola.topology import build_topology

GiB = 1 << 30
MiB = 1 << 20


def profile_of(*gpu_ops: np.ndarray) -> Profile:
    return Profile(num_gpus=len(gpu_ops), ops=list(gpu_ops), attrs={"name": "hand-made"}, variability={})


def write_op(peer: int, size: int, stream: int = 0) -> np.ndarray:
    o = empty_ops(1)
    o["kind"], o["peer"], o["bytes"], o["stream"] = OpKind.WRITE, peer, size, stream
    return o


def test_uncontended_p2p_write_takes_size_over_bandwidth_plus_latency() -> None:
    size, bw, lat = 256 * MiB, 100.0, 1000.0
    topo = build_topology("fully_connected", 2, link_bw_gbps=bw, link_latency_ns=lat, mem_latency_ns=0)
    res = run(profile_of(write_op(1, size), empty_ops(0)), topo, RunParams(packet_bytes=4096))
    # The writer finishes when its last packet is acknowledged: S/B + latency out, latency back.
    expected = size / bw + 2 * lat
    assert res.summary["makespan_ns"] == pytest.approx(expected, rel=0.01)
    assert res.summary["bytes_written"] == size


def test_synthesized_p2p_matches_alpha_beta_within_one_percent() -> None:
    size, bw, lat = 64 * MiB, 64.0, 500.0
    topo = build_topology("fully_connected", 2, link_bw_gbps=bw, link_latency_ns=lat)
    res = run(synthesize("p2p", gpus=2, size_bytes=size), topo, RunParams(sync="syncmon"))
    assert res.summary["makespan_ns"] == pytest.approx(size / bw + lat, rel=0.01)


def test_two_flows_sharing_a_link_get_half_its_bandwidth_each() -> None:
    size, bw = 64 * MiB, 100.0
    topo = build_topology("switch", 3, link_bw_gbps=bw, link_latency_ns=100, switch_latency_ns=0,
                          mem_latency_ns=0)
    res = run(profile_of(write_op(2, size), write_op(2, size), empty_ops(0)), topo, RunParams())
    alone = size / bw
    for finish in res.summary["gpu_finish_ns"][:2]:
        assert finish == pytest.approx(2 * alone, rel=0.02)
    # the switch->GPU2 channel carried both flows
    ch = topo.channels()
    into2 = np.flatnonzero(ch["dst"] == 2)[0]
    assert res.raw["channel_bytes"][into2] == 2 * size


def test_ring_allreduce_reaches_link_bandwidth_as_bus_bandwidth() -> None:
    n, size, bw = 8, GiB, 100.0
    prof = synthesize("allreduce", gpus=n, size_bytes=size, algo="ring")
    topo = build_topology("ring", n, link_bw_gbps=bw, link_latency_ns=500)
    res = run(prof, topo, RunParams(packet_bytes=MiB, sync="syncmon"))
    busbw = 2 * (n - 1) / n * size / res.summary["makespan_ns"]
    assert busbw == pytest.approx(bw, rel=0.05)
    assert res.summary["bytes_written"] == 2 * (n - 1) * size


def test_syncmon_removes_polling_and_is_no_slower_on_fused_gemm_rs() -> None:
    prof = synthesize("gemm-rs", gpus=8, size_bytes=16 * MiB)
    topo = build_topology("mi300x")
    polling = run(prof, topo, RunParams(sync="polling")).summary
    syncmon = run(prof, topo, RunParams(sync="syncmon")).summary
    assert polling["polling_reads"] > 0
    assert syncmon["polling_reads"] == 0
    assert syncmon["syncmon_notifications"] > 0
    assert syncmon["makespan_ns"] <= polling["makespan_ns"]
    assert syncmon["bytes_written"] == polling["bytes_written"]


def test_same_inputs_and_seed_give_identical_results() -> None:
    prof = synthesize("gemm-rs", gpus=8, size_bytes=8 * MiB, compute_cv=0.2)
    topo = build_topology("mi300x")
    a = run(prof, topo, RunParams(seed=3)).summary
    b = run(prof, topo, RunParams(seed=3)).summary
    c = run(prof, topo, RunParams(seed=4)).summary
    for key in ("makespan_ns", "gpu_finish_ns", "events", "polling_reads", "packets"):
        assert a[key] == b[key]
    assert a["makespan_ns"] != c["makespan_ns"]  # jitter is drawn from the seed


def test_profile_with_fewer_gpus_leaves_the_rest_idle() -> None:
    prof = synthesize("p2p", gpus=2, size_bytes=MiB)
    res = run(prof, build_topology("mi300x"), RunParams())
    assert len(res.summary["gpu_finish_ns"]) == 2
    assert res.raw["gpu_packets"][2:].sum() == 0


def test_more_gpus_than_the_topology_is_an_error() -> None:
    prof = synthesize("allreduce", gpus=8, size_bytes=MiB, algo="ring")
    with pytest.raises(EidolaError, match="8 GPUs but topology 'ring' has only 4"):
        run(prof, build_topology("ring", 4), RunParams())


def test_deadlock_names_every_stuck_wait() -> None:
    # each GPU waits for a flag the other sets only after its own wait: every signal exists
    # (the static checks pass), but the waits form a cycle only the replay can find
    def side(peer: int, mine: int, theirs: int) -> np.ndarray:
        ops = empty_ops(2)
        ops["kind"] = [OpKind.WAIT, OpKind.SIGNAL]
        ops["flag"] = [mine, theirs]
        ops["value"] = [1, 1]
        ops["peer"] = [-1, peer]
        return ops

    prof = profile_of(side(1, 7, 8), side(0, 8, 7))
    for sync in ("polling", "syncmon"):
        with pytest.raises(DeadlockError) as err:
            run(prof, build_topology("fully_connected", 2), RunParams(sync=sync))
        assert "gpu 1 stream 0 waits for flag 8 >= 1 (value 0)" in str(err.value)
        assert "gpu 0 stream 0 waits for flag 7 >= 1 (value 0)" in str(err.value)


def test_a_wait_no_signal_can_satisfy_is_refused_before_running() -> None:
    waiter = empty_ops(1)
    waiter["kind"], waiter["flag"], waiter["value"] = OpKind.WAIT, 7, 2
    with pytest.raises(EidolaError, match="gpu 1 stream 0 op 0: waits for flag 7 >= 2, but no "
                                          "signal ever targets gpu 1 flag 7"):
        run(profile_of(empty_ops(0), waiter), build_topology("fully_connected", 2), RunParams())


def test_timed_replay_never_starts_an_op_before_its_recorded_time() -> None:
    w = write_op(1, 4096)
    w["t_ns"] = 50_000.0
    first = empty_ops(1)
    first["kind"], first["dur_ns"], first["t_ns"] = OpKind.COMPUTE, 10.0, 0.0
    prof = profile_of(np.concatenate([first, w]), empty_ops(0))
    topo = build_topology("fully_connected", 2)
    dependent = run(prof, topo, RunParams(replay="dependent")).summary["makespan_ns"]
    timed = run(prof, topo, RunParams(replay="timed")).summary["makespan_ns"]
    assert dependent < 10_000
    assert timed > 50_000


def test_series_account_for_every_byte_and_poll() -> None:
    prof = synthesize("gemm-rs", gpus=8, size_bytes=8 * MiB)
    res = run(prof, build_topology("mi300x"), RunParams(time_bin_ns=10))
    raw = res.raw
    assert raw["link_bytes_series"].sum() == raw["channel_bytes"].sum()
    assert raw["polling_series"].sum() == res.summary["polling_reads"]
    assert raw["link_bytes_series"].shape[1] <= 1024


def test_nvls_allreduce_moves_s_plus_s_over_n_each_way_per_switch_port() -> None:
    n, size, streams = 8, 64 * MiB, 4
    prof = synthesize("allreduce", gpus=n, size_bytes=size, algo="nvls", chunk_bytes=MiB, streams=streams)
    topo = build_topology("h100")
    res = run(prof, topo, RunParams(sync="syncmon", packet_bytes=64 * 1024))
    ch = topo.channels()
    carried = res.raw["channel_bytes"]
    barrier = 8 * streams  # one 8-byte multicast signal per stream
    for g in range(n):
        up = np.flatnonzero((ch["src"] == g) & (ch["dst"] == n))[0]
        down = np.flatnonzero((ch["src"] == n) & (ch["dst"] == g))[0]
        assert carried[up] == size + size // n + barrier
        assert carried[down] == size + size // n + n * barrier


def test_nvls_beats_the_ring_bound_as_in_switch_reduction_should() -> None:
    n, size = 8, GiB
    topo = build_topology("h100")
    bw = float(topo.links["bw_gbps"][0])
    prof = synthesize("allreduce", gpus=n, size_bytes=size, algo="nvls", chunk_bytes=MiB, streams=4)
    res = run(prof, topo, RunParams(sync="syncmon", packet_bytes=64 * 1024, series=False))
    # each port carries S + S/n each way: bus bandwidth tends to 2(n-1)/(n+1) x link bandwidth
    assert res.summary["bus_bandwidth_gbps"] == pytest.approx(2 * (n - 1) / (n + 1) * bw, rel=0.05)


def test_multicast_without_a_switch_is_a_clear_error() -> None:
    prof = synthesize("allreduce", gpus=4, size_bytes=MiB, algo="nvls")
    with pytest.raises(EidolaError, match="multicast .* not attached to a switch"):
        run(prof, build_topology("ring", 4), RunParams())


def chunks_then_signals(signal_kind: OpKind, chunks: int, size: int) -> Profile:
    """GPU 0 writes `chunks` pieces to GPU 1, each followed by a signal; GPU 1 waits for all."""
    g0 = empty_ops(2 * chunks)
    g0["kind"][0::2], g0["peer"][0::2], g0["bytes"][0::2] = OpKind.WRITE, 1, size
    g0["addr"][0::2] = np.arange(chunks) * size
    g0["kind"][1::2], g0["peer"][1::2], g0["flag"][1::2], g0["value"][1::2] = signal_kind, 1, 0, 1
    g1 = empty_ops(1)
    g1["kind"], g1["flag"], g1["value"] = OpKind.WAIT, 0, chunks
    return profile_of(g0, g1)


def test_signal_nbi_skips_the_fence_but_still_lands_after_its_data() -> None:
    chunks, size, bw, lat = 8, MiB, 100.0, 500.0
    topo = build_topology("fully_connected", 2, link_bw_gbps=bw, link_latency_ns=lat)
    params = RunParams(sync="syncmon", packet_bytes=64 * 1024, max_outstanding=4096)
    fenced = run(chunks_then_signals(OpKind.SIGNAL, chunks, size), topo, params).summary
    nbi = run(chunks_then_signals(OpKind.SIGNAL_NBI, chunks, size), topo, params).summary
    # the release fence costs a round trip (out and back) per chunk; nbi streams back to back
    assert fenced["makespan_ns"] - nbi["makespan_ns"] >= (chunks - 1) * 2 * lat * 0.9
    # ordered: the last flag update cannot be seen before all the data has crossed the link
    assert nbi["gpu_finish_ns"][1] >= chunks * size / bw + lat
    assert nbi["bytes_written"] == fenced["bytes_written"] == chunks * size


def test_validation_and_the_core_accept_signal_nbi() -> None:
    from eidola.profile.validate import validate_ops

    prof = chunks_then_signals(OpKind.SIGNAL_NBI, 2, 4096)
    assert validate_ops(prof) == []
    broken = chunks_then_signals(OpKind.SIGNAL_NBI, 2, 4096)
    broken.ops[0]["value"][1] = -1
    assert any("negative" in issue for issue in validate_ops(broken))


def test_gemm_rs_tile_flags_without_a_fence_finish_sooner_with_the_same_bytes() -> None:
    topo = build_topology("mi300x")
    params = RunParams(sync="syncmon")
    release = run(synthesize("gemm-rs", 8, 64 * MiB), topo, params).summary
    nbi = run(synthesize("gemm-rs", 8, 64 * MiB, signal="nbi"), topo, params).summary
    assert nbi["bytes_written"] == release["bytes_written"]
    assert nbi["makespan_ns"] < release["makespan_ns"]


def test_signal_mode_is_for_gemm_kinds_only() -> None:
    with pytest.raises(EidolaError, match="'signal'"):
        synthesize("allreduce", 8, MiB, signal="nbi")
    with pytest.raises(EidolaError, match="'signal'"):
        synthesize("gemm-rs", 8, MiB, signal="relaxed")


@pytest.mark.parametrize("topology", ["mi300x", "h100", "ring", "switch"])
def test_an_uncontended_transfer_does_not_depend_on_the_packet_size(topology: str) -> None:
    # the default window counts bytes (twice the GPU's bandwidth-delay product), not packets
    prof = synthesize("p2p", gpus=2, size_bytes=16 * MiB)
    topo = build_topology(topology)
    t = [run(prof, topo, RunParams(packet_bytes=pk, series=False)).summary["makespan_ns"]
         for pk in (64, 4096)]
    assert t[0] == pytest.approx(t[1], rel=0.02)
    s = run(prof, topo, RunParams(series=False)).summary
    assert s["params"]["max_outstanding_bytes"] > 0  # auto, resolved and shown in the summary


def test_a_progress_callback_sees_time_and_ops_advance() -> None:
    seen: list[tuple[float, int, int, int]] = []
    prof = synthesize("allreduce", gpus=8, size_bytes=256 * MiB, algo="ring")
    res = run(prof, build_topology("ring", 8), RunParams(series=False),
              progress=lambda t, ev, done, total: seen.append((t, ev, done, total)))
    assert len(seen) >= 2  # the run has several 2^20-event periods
    times, events, done, total = zip(*seen)
    assert list(times) == sorted(times) and list(done) == sorted(done)
    assert all(0 < d <= tot == prof.num_ops for d, tot in zip(done, total))
    assert events[-1] <= res.summary["events"]


def test_a_progress_callback_that_raises_stops_the_run() -> None:
    def stop(*_):
        raise RuntimeError("enough")

    prof = synthesize("allreduce", gpus=8, size_bytes=256 * MiB, algo="ring")
    with pytest.raises(RuntimeError, match="enough"):
        run(prof, build_topology("ring", 8), RunParams(series=False), progress=stop)



def bulk_and_small(n: int, a: int, b: int, bulk: int, small: int) -> Profile:
    """GPU 0 stream 0 writes `bulk` bytes to GPU a and signals it; stream 1 writes `small`
    bytes to GPU b and signals it; a and b wait for their flag, so each finishes when its
    data (and the flag behind it) is in."""
    g0 = empty_ops(4)
    g0["stream"] = [0, 0, 1, 1]
    g0["kind"] = [OpKind.WRITE, OpKind.SIGNAL, OpKind.WRITE, OpKind.SIGNAL]
    g0["peer"] = [a, a, b, b]
    g0["bytes"] = [bulk, 0, small, 0]
    g0["flag"] = [-1, 0, -1, 0]
    g0["value"] = [0, 1, 0, 1]
    ops = [g0] + [empty_ops(0) for _ in range(n - 1)]
    for peer in (a, b):
        w = empty_ops(1)
        w["kind"], w["flag"], w["value"] = OpKind.WAIT, 0, 1
        ops[peer] = w
    return profile_of(*ops)


def test_a_nic_serves_its_gpus_streams_in_turn_and_a_gpu_port_in_issue_order() -> None:
    # windows wide enough that stream 0 issues its whole bulk write before stream 1 issues
    params = RunParams(sync="syncmon", series=False, max_outstanding_bytes=64 << 20)
    # across nodes: GPU 0's NIC alternates between the flows, so the small one is in early
    multi = build_topology("multinode", 16, gpus_per_node=8)
    fin = run(bulk_and_small(16, 8, 9, 4 << 20, 64 << 10), multi, params).summary["gpu_finish_ns"]
    assert fin[9] < 0.2 * fin[8]
    # inside a node (a GPU's NVSwitch port is one FIFO): the small write waits for the bulk
    one = build_topology("switch", 3)
    fin = run(bulk_and_small(3, 1, 2, 4 << 20, 64 << 10), one, params).summary["gpu_finish_ns"]
    assert fin[2] > 0.9 * fin[1]


def test_summary_splits_engine_time_into_loading_and_simulating() -> None:
    prof = synthesize("allreduce", gpus=4, size_bytes=4 << 20, algo="ring")
    s = run(prof, build_topology("ring", 4), RunParams(packet_bytes=4096)).summary
    assert s["load_seconds"] > 0 and s["simulate_seconds"] > 0
    assert s["load_seconds"] + s["simulate_seconds"] <= s["wall_seconds"]
    assert s["events_per_second"] == pytest.approx(s["events"] / s["simulate_seconds"])
    assert s["units"]["simulate_seconds"] == "s"
