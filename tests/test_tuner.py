"""The library tuner model (eidola.profile.tuner) against NCCL's own published estimates."""

from __future__ import annotations

import pytest

from eidola.errors import EidolaError
from eidola.profile import library as lib
from eidola.profile import tuner as tun
from eidola.profile.synth import synthesize

MiB = 1 << 20

#: NCCL 2.29.2's tuning table on 4x H100 (NCCL_DEBUG=INFO, latency us / algorithm bw GB/s),
#: waynehacking8/nccl-collectives-bench results/scaling_attributed/g4_auto.log (commit ec97f062)
PUBLISHED_4X_H100 = {
    ("allreduce", "tree", "ll"): (10.4, 43.6), ("allreduce", "tree", "ll128"): (21.5, 128.8),
    ("allreduce", "tree", "simple"): (32.4, 165.6), ("allreduce", "ring", "ll"): (10.2, 94.0),
    ("allreduce", "ring", "ll128"): (25.4, 220.8), ("allreduce", "ring", "simple"): (28.8, 240.0),
    ("allreduce", "nvls", "simple"): (25.0, 160.0),
    ("allgather", "ring", "ll"): (8.4, 188.0), ("allgather", "ring", "ll128"): (19.7, 441.6),
    ("allgather", "ring", "simple"): (18.6, 480.0), ("allgather", "nvls", "simple"): (25.0, 114.8),
    ("reducescatter", "ring", "simple"): (18.6, 480.0),
}


def _h100_graphs(gpus: int) -> dict[str, tun.Graph]:
    return lib.tuner_graphs(lib.NCCL_HOPPER, gpus, 18 * 20.6, switch=True, nvls=True)


@pytest.mark.parametrize("key", sorted(PUBLISHED_4X_H100))
def test_tuner_reproduces_nccls_logged_table_on_4_h100(key: tuple[str, str, str]) -> None:
    coll, algo, proto = key
    found = {(e.algo, e.proto): e for e in
             tun.estimates(tun.NCCL_HOPPER_TUNER, _h100_graphs(4), coll, 4, 1)}
    lat, bw = PUBLISHED_4X_H100[key]
    assert found[(algo, proto)].latency_us == pytest.approx(lat, abs=0.05)
    assert found[(algo, proto)].bw_gbps == pytest.approx(bw, abs=0.05)


def test_nvls_wins_large_allreduce_on_8_h100_but_not_on_4() -> None:
    # NCCL maintainers: 8x H100 all-reduce runs NVLink SHARP (nccl-tests#290); on 4 GPUs the
    # logged table above makes Ring/Simple (240 GB/s) beat NVLS (160 GB/s)
    for gpus, expected in ((8, "nvls"), (4, "ring")):
        c = tun.choose(tun.NCCL_HOPPER_TUNER, _h100_graphs(gpus), "allreduce", gpus, 1, 256 * MiB)
        assert (c.algo, c.proto) == (expected, "simple")


def test_small_messages_take_the_low_latency_protocol() -> None:
    c = tun.choose(tun.NCCL_HOPPER_TUNER, _h100_graphs(8), "allreduce", 8, 1, 64 * 1024)
    assert c.proto == "ll"
    assert c.time_us == min(c.estimates_us.values())


def test_rccl_never_offers_what_its_build_disables() -> None:
    graphs = lib.tuner_graphs(lib.RCCL_MI300, 8, 48.0, switch=False, nvls=False)
    pairs = {(e.algo, e.proto) for e in
             tun.estimates(tun.RCCL_MI300_TUNER, graphs, "allreduce", 8, 1, ll128=False)}
    assert ("tree", "simple") not in pairs  # gfx94 single node
    assert not any(p == "ll128" or a.startswith("nvls") for a, p in pairs)


def test_auto_records_the_choice_and_builds_that_algorithm() -> None:
    big = synthesize("allreduce", 8, 256 * MiB, algo="auto", library="nccl", system="h100")
    small = synthesize("allreduce", 8, 64 * 1024, algo="auto", library="nccl", system="h100")
    assert big.attrs["parameters"]["tuner"]["algo"] == "nvls"
    assert big.attrs["parameters"]["algo"] == "nvls"
    assert small.attrs["parameters"]["proto"] == "ll"
    assert big.attrs["name"].startswith("allreduce-auto")


def test_blackwell_systems_get_blackwell_constants() -> None:
    p = synthesize("allreduce", 8, 256 * MiB, algo="auto", library="nccl", system="b200")
    assert p.attrs["parameters"]["tuner"]["tuner"] == "nccl-blackwell"
    assert p.attrs["parameters"]["library_generation"] == "blackwell"
    forced = synthesize("allreduce", 8, 256 * MiB, algo="nvls", library="nccl", system="b200")
    hopper = synthesize("allreduce", 8, 256 * MiB, algo="nvls", library="nccl")
    # NVLS bytes on the wire scale with 1 / nvlsEfficiency: 0.74 on Blackwell, 0.85 on Hopper
    wire = lambda prof: sum(int(o["bytes"][o["peer"] == -2].sum()) for o in prof.ops)  # noqa: E731
    assert wire(forced) / wire(hopper) == pytest.approx(0.85 / 0.74, rel=1e-3)
    assert lib.library_model("nccl", "b200").nvls_efficiency == pytest.approx(0.74)


@pytest.mark.parametrize("kwargs, field", [
    (dict(algo="auto"), "library"),
    (dict(algo="auto", library="nccl", system="nope"), "system"),
    (dict(algo="ring", system="h100"), "system"),
    (dict(algo="ring", library="nccl", system="h999"), "system"),
    (dict(algo="auto", library="rccl", system="mi300x", gpus=9), "gpus"),
])
def test_auto_misuse_names_the_field(kwargs: dict, field: str) -> None:
    gpus = kwargs.pop("gpus", 8)
    with pytest.raises(EidolaError) as err:
        synthesize("allreduce", gpus, 64 * MiB, **kwargs)
    assert err.value.field == field
