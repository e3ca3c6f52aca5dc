"""One point of a sweep: every setting comes from the command line (no preset beyond the
runner's defaults) and nothing is printed but errors. `eidola sweep` runs this file by default.

    eidola sweep configs/eidola_sweep_point.py --profile p.h5 --grid link-bw=50,100 --out sweep/
"""

import sys
from pathlib import Path

try:  # an installed Eidola wins; a plain checkout works without one (see eidola_8gpu.py)
    import eidola.runner  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eidola.runner import config_main  # noqa: E402

if __name__ in ("__main__", "__m5_main__"):
    config_main({"topology": "mi300x"}, argv=[*sys.argv[1:], "--quiet"])
