"""Scans derived from a noise-free simulation are the scans simulated directly, bit for bit."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from trixanes.io.truth import read_truth
from trixanes.studies.simcache import plan_sources
from trixanes.synth.config import Scenario
from trixanes.synth.derive import angle_indices, derive_scans, source_scenario
from trixanes.synth.simulate import simulate

# drift, an off-centre axis and a deformation: every per-angle and per-energy path of the imaging
BASE = Scenario.preset("tiny").replace(acquisition={
    "detector_cols": 32, "detector_rows": 12, "n_projections": 31, "drift_px": 1.0,
    "center_offset_px": 0.6, "deformation_um": 0.2})
DATASETS = ("exchange/data", "exchange/data_white", "exchange/data_dark", "exchange/theta")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return simulate(source_scenario(BASE), tmp_path_factory.mktemp("source"), progress=False)


def _same_files(a_paths, b_paths):
    for a, b in zip(a_paths, b_paths, strict=True):
        with h5py.File(a) as fa, h5py.File(b) as fb:
            for k in DATASETS:
                x, y = fa[k][()], fb[k][()]
                assert x.dtype == y.dtype and np.array_equal(x, y), f"{a.name}: {k}"


@pytest.mark.parametrize("change", [
    {"dead_wedge_deg": 40.0, "flux_photons": 3e3},                 # a wedge and another flux
    {"n_projections": 16, "dark_counts": 20.0, "n_flats": 3},      # every other angle
    {"angle_range_deg": (-72.0, 72.0), "n_projections": 19},       # a limited range on the grid
])
def test_derived_scan_is_the_direct_simulation(source, tmp_path, change):
    sc = BASE.replace(acquisition=change)
    derived = derive_scans(source.out_dir, sc, tmp_path / "derived")
    direct = simulate(sc, tmp_path / "direct", progress=False)
    _same_files(direct.scan_paths, derived.scan_paths)
    truth = read_truth(derived.truth_path)
    assert Scenario.from_toml(derived.scenario_path).to_toml() == sc.to_toml()
    assert truth.scenario == sc.to_toml()
    np.testing.assert_array_equal(truth.labels, read_truth(direct.truth_path).labels)


def test_refused_sources_say_why(source, tmp_path):
    with pytest.raises(ValueError, match="seed"):
        derive_scans(source.out_dir, BASE.replace(seed=3), tmp_path / "a")
    with pytest.raises(ValueError, match="energies_kev"):
        derive_scans(source.out_dir, BASE.replace(acquisition={"energies_kev": (8.3, 8.34, 8.43)}), tmp_path / "b")
    renamed = BASE.replace(name="renamed", acquisition={"dead_wedge_deg": 20.0})  # a name changes no physics
    assert len(derive_scans(source.out_dir, renamed, tmp_path / "renamed").scan_paths) == 3
    with pytest.raises(ValueError, match="overwrite their source"):
        derive_scans(source.out_dir, BASE, source.out_dir)
    off_grid = BASE.replace(acquisition={"n_projections": 20})
    with pytest.raises(ValueError, match="does not hold every projection angle"):
        derive_scans(source.out_dir, off_grid, tmp_path / "c")
    assert not any((tmp_path / "c").glob("scan_*.h5"))  # refused before any file
    partial = tmp_path / "partial"  # the last energy's scan missing: nothing written for the first two
    shutil.copytree(source.out_dir, partial)
    sorted(partial.glob("scan_*.h5"))[-1].unlink()
    with pytest.raises(ValueError, match="scan_8430eV.h5"):
        derive_scans(partial, BASE.replace(acquisition={"dead_wedge_deg": 20.0}), tmp_path / "f")
    assert not any((tmp_path / "f").glob("scan_*.h5"))
    small = BASE.replace(acquisition={"detector_rows": 4, "n_projections": 4, "deformation_um": 0.0})
    noisy = simulate(small, tmp_path / "noisy", progress=False)
    with pytest.raises(ValueError, match="noise-free"):  # a noisy scan is no source
        derive_scans(noisy.out_dir, small, tmp_path / "e")


def test_angle_indices_tolerate_rounding_only():
    grid = np.linspace(-120, 120, 361)
    sub = np.linspace(-120, 120, 181)
    assert angle_indices(grid, sub).tolist() == list(range(0, 361, 2))
    assert angle_indices(grid, sub + 1e-11) is not None and angle_indices(grid, sub + 1e-6) is None
    assert angle_indices([10.0], [10.0, 10.0]).tolist() == [0, 0] and angle_indices([10.0], [11.0]) is None


def test_plan_shares_sources_only_on_a_common_grid():
    dose = [BASE.replace(acquisition={"n_projections": n, "flux_photons": 3e4 / n}) for n in (7, 11, 16, 31)]
    plan = plan_sources(dose)
    assert len({p.to_toml() for p in plan}) == 1 and plan[0].acquisition.n_projections == 31
    odd = plan_sources([BASE.replace(acquisition={"n_projections": n}) for n in (20, 31)])
    assert odd == [None, None]  # 20 angles are not on the 31-angle grid: each simulated as it is
    seeds = plan_sources([BASE, BASE.replace(acquisition={"dead_wedge_deg": 30.0}), BASE.replace(seed=1)])
    assert seeds[0] is not None and seeds[0].to_toml() == seeds[1].to_toml() and seeds[2] is None
