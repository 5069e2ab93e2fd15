"""Shared fixtures: small simulated scans, made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

#: a small, noise-free scenario whose particles are ~30 pixels across, so that
#: interior voxels exist after 2x binning (the tiny preset's are too small)
SMALL = {"sample": {"d50_um": 3.0},
         "acquisition": {"detector_cols": 96, "detector_rows": 48, "pixel_size_um": 0.1,
                         "n_projections": 120, "flux_photons": 0.0}}


def small_scenario(**acq):
    from synth.config import Scenario

    sc = Scenario.preset("tiny").replace(**SMALL)
    return sc.replace(acquisition=acq) if acq else sc


@pytest.fixture(scope="session")
def small_sim(tmp_path_factory):
    """Noise-free, full-angle, drift-free scans of the small scenario."""
    from synth.simulate import simulate

    return simulate(small_scenario(), tmp_path_factory.mktemp("small"), progress=False)


@pytest.fixture(scope="session")
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA
