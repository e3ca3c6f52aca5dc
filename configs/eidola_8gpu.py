"""Eight GPUs replaying a profile: the config every user starts from.

    python configs/eidola_8gpu.py --profile profiles/allreduce_8gpu.h5       # built-in engine
    eidola run configs/eidola_8gpu.py --profile profiles/allreduce_8gpu.h5   # same
    gem5.opt configs/eidola_8gpu.py --profile profiles/allreduce_8gpu.h5     # gem5 backend

Defaults: the MI300X preset (8 GPUs, full xGMI mesh); every argument can be changed, see --help.
"""

import sys
from pathlib import Path

# An installed Eidola (pip install . or -e .) wins; a plain checkout works without one (gem5's
# Python may not see site-packages). Putting the checkout first would hide an installed
# package's compiled engine behind a source tree that has none.
try:
    import eidola.runner  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eidola.runner import config_main  # noqa: E402

if __name__ in ("__main__", "__m5_main__"):
    config_main({"topology": "mi300x"})
