"""Sizes and durations as people type and read them.

Why one module: the CLI, the importers and the other parts of Eidola (runner, sweeps) all accept
sizes like ``64MiB``; parsing them in one place keeps the accepted spellings and the error
messages identical everywhere.
"""

from __future__ import annotations

import math
import re

from eidola.errors import EidolaError

#: Accepted unit suffixes (case-insensitive). Binary units and the one-letter shorthands
#: (``64M``, as dd and numfmt read them) are powers of 1024; ``KB``/``MB``/``GB``/``TB`` are
#: powers of 1000 (design.md, "Units").
_UNITS: dict[str, int] = {
    "": 1, "b": 1,
    "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20,
    "g": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tib": 1 << 40,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*$")


def parse_size(text: str | int, field: str = "size") -> int:
    """Bytes from ``4096``, ``4KiB``, ``64MiB``, ``1GiB``, ``1GB`` or ``1.5MB``.

    Raises EidolaError naming `field` for negatives, unknown units, garbage and sizes that are
    not a whole number of bytes (``0.3B``).
    """
    if isinstance(text, bool):
        raise EidolaError(f"expected a size such as 64MiB, got {text!r}", field=field)
    if isinstance(text, int):
        if text < 0:
            raise EidolaError(f"size must not be negative, got {text}", field=field)
        return text
    s = str(text)
    if s.strip().startswith("-"):
        raise EidolaError(f"size must not be negative, got {s.strip()!r}", field=field)
    m = _SIZE_RE.match(s)
    if not m:
        raise EidolaError(f"expected a size such as 4096, 64KiB, 1MiB, 1GiB or 1GB, got {s!r}",
                          field=field)
    number, unit = m.group(1), m.group(2).lower()
    if unit not in _UNITS:
        raise EidolaError(f"unknown size unit {m.group(2)!r} in {s!r} (use B, KiB, MiB, GiB, TiB, "
                          "KB, MB, GB or TB)", field=field)
    scale = _UNITS[unit]
    if "." in number:
        whole, _, frac = number.partition(".")
        # exact decimal arithmetic: 1.5MB must be 1500000, not 1499999.9999
        num = int(whole or "0") * 10 ** len(frac) + int(frac or "0")
        den = 10 ** len(frac)
        value, rest = divmod(num * scale, den)
        if rest:
            raise EidolaError(f"{s!r} is not a whole number of bytes", field=field)
        return value
    return int(number) * scale


def format_size(n: float) -> str:
    """``939524096`` -> ``'896 MiB'``: the largest binary unit that keeps the number >= 1."""
    n = float(n)
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= scale:
            v = n / scale
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.2f} {unit}"
    return f"{n:.0f} B"


def format_ns(ns: float) -> str:
    """A duration in ns as ``812 ns``, ``3.21 us``, ``4.5 ms`` or ``2.00 s``."""
    if not math.isfinite(ns):
        return str(ns)
    a = abs(ns)
    if a >= 1e9:
        return f"{ns / 1e9:.3g} s"
    if a >= 1e6:
        return f"{ns / 1e6:.4g} ms"
    if a >= 1e3:
        return f"{ns / 1e3:.4g} us"
    return f"{ns:.4g} ns"
