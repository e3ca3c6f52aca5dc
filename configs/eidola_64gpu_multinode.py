"""Sixty-four GPUs in eight nodes: NVSwitch-like switch inside each node, one NIC per GPU on a
leaf switch between nodes. Same arguments as configs/eidola_8gpu.py.

    python configs/eidola_64gpu_multinode.py --profile ar64.h5
    gem5.opt configs/eidola_64gpu_multinode.py --profile ar64.h5
"""

import sys
from pathlib import Path

try:  # an installed Eidola wins; a plain checkout works without one (see eidola_8gpu.py)
    import eidola.runner  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eidola.runner import config_main  # noqa: E402

if __name__ in ("__main__", "__m5_main__"):
    config_main({"topology": "multinode", "gpus": 64, "gpus_per_node": 8, "link_bw": 450.0,
                 "link_latency": 150.0, "switch_latency": 200.0, "nic_bw": 50.0, "nic_latency": 1000.0})
