"""Shared fixtures: small simulated scans, made once per session."""

from __future__ import annotations

import pytest
from helpers import SHARED_DATA, small_scenario


@pytest.fixture(scope="session")
def small_sim(tmp_path_factory):
    """Noise-free, full-angle, drift-free scans of the small scenario."""
    from trixanes.synth.simulate import simulate

    return simulate(small_scenario(), tmp_path_factory.mktemp("small"), progress=False)


@pytest.fixture(scope="session")
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the measured data in ../shared/data, not found at {SHARED_DATA}")
    return SHARED_DATA
