"""Shared fixtures: paths to the repo, the shared real traces and the shipped profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_TRACES = REPO.parent / "shared" / "traces"
PROFILES = REPO / "profiles"


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def shared_traces() -> Path:
    if not SHARED_TRACES.is_dir():
        pytest.skip(f"shared traces not found at {SHARED_TRACES} (CI clones the repo beside shared/)")
    return SHARED_TRACES
