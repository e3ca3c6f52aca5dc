"""Sweep points: the cartesian product of profiles and grid values, each with a stable id.

The id hashes everything that determines the result (config, backend, profile path, every
argument), so rerunning the same sweep finds its finished points and a changed grid value
makes a new point instead of reusing a stale one.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from eidola.errors import EidolaError


@dataclass(frozen=True)
class Point:
    config: str
    profile: str
    args: dict[str, str]  # grid and fixed arguments, without the leading dashes
    backend: str = "builtin"
    point_id: str = field(default="", compare=False)

    def argv(self) -> list[str]:
        out = ["--profile", self.profile]
        for key, value in self.args.items():
            out += [f"--{key}", value]
        return out


def parse_grid(items: list[str]) -> dict[str, list[str]]:
    """`KEY=V1,V2` strings -> {KEY: [V1, V2]} (keys as the config spells its options)."""
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip().lstrip("-")
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not key or not vals:
            raise EidolaError(f"'{item}' is not KEY=V1,V2,...", field="grid")
        if key in ("profile", "outdir", "trace"):
            raise EidolaError(f"'{key}' cannot be a grid key (sweeps set it)", field="grid")
        if key in grid:  # a second --grid for the same key would silently replace the first
            raise EidolaError(f"'{key}' is given twice; list all its values in one KEY=V1,V2,...",
                              field="grid")
        repeated = sorted({v for v in vals if vals.count(v) > 1})
        if repeated:  # the same value twice would be one point run twice into one directory
            raise EidolaError(f"'{key}' lists {repeated[0]!r} more than once", field="grid")
        grid[key] = vals
    return grid


def make_points(config: str, profiles: list[str], grid: dict[str, list[str]],
                fixed: dict[str, str] | None = None, backend: str = "builtin") -> list[Point]:
    if not profiles:
        raise EidolaError("no profile given (use --profile, repeatable)", field="profile")
    for p in profiles:
        if not Path(p).is_file():
            raise EidolaError("no such profile file", path=p, field="profile")
    keys = list(grid)
    points = []
    seen: set[str] = set()
    for profile in profiles:
        for values in itertools.product(*(grid[k] for k in keys)):
            args = {**(fixed or {}), **dict(zip(keys, values))}
            canon = json.dumps({"config": str(Path(config).resolve()), "backend": backend,
                                "profile": str(Path(profile).resolve()), "args": args}, sort_keys=True)
            pid = hashlib.sha256(canon.encode()).hexdigest()[:12]
            if pid in seen:
                raise EidolaError(f"profile {profile} with {args or 'the same arguments'} is "
                                  "given twice (each point of a sweep must differ)", field="profile")
            seen.add(pid)
            points.append(Point(config=config, profile=str(profile), args=args, backend=backend,
                                point_id=pid))
    return points
