"""The photon-noise σ of a Li map from two half-dose scans: gain, split, σ, its correlation, its coverage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from helpers import small_scenario
from trixanes.io.limap import read_limap
from trixanes.io.stats import read_stats
from trixanes.pipeline.process import ProcessOptions, process
from trixanes.pipeline.uncertainty import (NoiseEstimate, estimate_gain, half_difference_sigma, noise_fields,
                                           split_photons)
from trixanes.studies.simcache import cached_simulation
from trixanes.validate.uncertainty import coverage


def test_gain_from_flats_ignores_a_drifting_beam_and_the_dark():
    rng = np.random.default_rng(3)
    beam = np.linspace(0.8, 1.2, 12)[:, None, None]  # the source drifts by ±20 % between frames
    dark = rng.poisson(300.0, (8, 32, 32)).astype(float)
    flats = 2.5 * rng.poisson(4000.0 * beam * np.ones((12, 32, 32))) + rng.poisson(300.0, (12, 32, 32))
    assert estimate_gain(flats, dark) == pytest.approx(2.5, rel=0.05)
    with pytest.raises(ValueError, match="at least 2 flat frames, the scan has 1"):
        estimate_gain(flats[:1], dark)


def test_split_halves_are_independent_half_dose_exposures():
    rng = np.random.default_rng(0)
    gain, dark = 3.0, 200.0
    counts = (gain * rng.poisson(2000.0, 400_000) + dark).astype(np.float32)
    a, b = split_photons(counts, dark, gain, np.random.default_rng(1))
    np.testing.assert_allclose(a + b, counts, rtol=1e-6)
    half_var = gain * gain * 1000.0  # a half-dose exposure's variance
    assert a.var() == pytest.approx(half_var, rel=0.02) and b.var() == pytest.approx(half_var, rel=0.02)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.01
    assert a.mean() == pytest.approx(gain * 1000.0 + dark / 2, rel=1e-3)


def test_local_sigma_and_correlation_of_correlated_noise():
    rng = np.random.default_rng(2)
    shape = (40, 40, 40)
    level = np.where(np.arange(40)[None, None, :] < 20, 0.02, 0.06)  # σ changes across the volume

    def half():  # noise smoothed over ~1 voxel: correlated between neighbours
        n = ndi.gaussian_filter(rng.standard_normal(shape), 1.0)
        return 0.7 + np.sqrt(2) * level * n / n.std()

    est = half_difference_sigma(half(), half(), np.ones(shape, bool))
    assert np.median(est.sigma[:, :, 3:17]) == pytest.approx(0.02, rel=0.1)
    assert np.median(est.sigma[:, :, 23:37]) == pytest.approx(0.06, rel=0.1)
    assert est.correlation[3, 3, 3] == pytest.approx(1.0)
    # a Gaussian of width 1 voxel: the correlation at lag 1 is exp(-1/4)
    assert est.correlation[3, 3, 4] == pytest.approx(np.exp(-0.25), abs=0.03)
    assert est.correlation_volume_vox > 5


def test_noise_fields_have_the_measured_sigma_and_correlation():
    rng = np.random.default_rng(4)
    shape = (32, 32, 32)
    n = ndi.gaussian_filter(rng.standard_normal(shape), 1.0)
    sample = n / n.std()
    est = half_difference_sigma(0.5 + 0.05 * sample, 0.5 - 0.05 * sample, np.ones(shape, bool))
    assert est.median_sigma == pytest.approx(0.05, rel=0.05)
    fields = list(noise_fields(est, 8, seed=5))
    assert np.std(fields) == pytest.approx(0.05, rel=0.05)
    again = half_difference_sigma(0.5 + fields[0], 0.5 - fields[0], np.ones(shape, bool))
    for lag in (1, 2):  # along each axis (beyond the measured radius the field is cut off)
        for axis in range(3):
            at = [3, 3, 3]
            at[axis] += lag
            assert again.correlation[tuple(at)] == pytest.approx(est.correlation[tuple(at)], abs=0.06)
    # the σ of a block mean follows the correlation: much larger than for white noise
    means = [f[8:24, 8:24, 8:24].mean() for f in fields]
    assert np.std(means) > 3 * 0.05 / np.sqrt(16 ** 3)
    white = NoiseEstimate(np.full(shape, 0.05, np.float32), np.pad([[[1.0]]], 3), 32 ** 3)
    assert np.std([f.mean() for f in noise_fields(white, 16, seed=6)]) == pytest.approx(0.05 / np.sqrt(32 ** 3),
                                                                                        rel=0.5)


@pytest.fixture(scope="module")
def noisy_and_clean(tmp_path_factory):
    """One phantom imaged noise-free and at 3e4 photons; processed with one centre, no registration."""
    cache = tmp_path_factory.mktemp("sims")
    base = small_scenario()
    runs = {}
    for name, flux in (("clean", 0.0), ("noisy", 3e4)):
        sim = cached_simulation(base.replace(acquisition={"flux_photons": flux}), cache)
        opts = ProcessOptions(figures=False, center_px=47.5, register=False, uncertainty=name == "noisy")
        runs[name] = (sim, process(sim.scan_paths, sim.references_path, tmp_path_factory.mktemp(name), opts,
                                   progress=False))
    return runs


def test_sigma_covers_the_photon_noise(noisy_and_clean):
    """σ against the actual noise error: the same phantom's Li map without photon noise."""
    clean = read_limap(noisy_and_clean["clean"][1].limap_path)
    res = noisy_and_clean["noisy"][1]
    noisy = read_limap(res.limap_path)
    assert noisy.li_sigma is not None and noisy.li_sigma.shape == noisy.li.shape
    assert np.isnan(noisy.li_sigma[~noisy.am_mask]).all()
    both = noisy.am_mask & clean.am_mask & np.isfinite(noisy.li) & np.isfinite(clean.li)
    c = coverage((noisy.li - clean.li)[both], noisy.li_sigma[both])
    assert c["n"] > 1000
    assert 0.88 <= c["coverage_2sigma"] <= 0.99, c
    assert 0.8 <= c["error_over_sigma"] <= 1.25, c
    assert any("half-dose scans" in line and "gain" in line for line in res.log)


def test_stats_carry_a_sigma_for_every_statistic(noisy_and_clean):
    res = noisy_and_clean["noisy"][1]
    st = read_stats(res.stats_path)
    sg = st.sigma
    assert sg["n_realizations"] == 16 and 0 < sg["total_li"] < 0.05
    assert set(sg["class_fractions"]) == set(st.class_fractions)
    assert len(sg["z_profile"]["mean_li"]) == len(st.z_profile.mean_li)
    assert len(sg["depth_profile"]["mean_li"]) == len(st.depth_profile.mean_li)
    assert [p["label"] for p in sg["particles"]] == [p.label for p in st.particles]
    # a particle's mean over many voxels is known far better than one voxel
    assert max(p["mean_li"] for p in sg["particles"]) < sg["median_voxel_sigma"]
    assert read_stats(noisy_and_clean["clean"][1].stats_path).sigma is None


def test_the_li_map_does_not_depend_on_asking_for_error_bars(noisy_and_clean, tmp_path):
    sim, res = noisy_and_clean["noisy"]
    off = process(sim.scan_paths, sim.references_path, tmp_path,
                  ProcessOptions(figures=False, center_px=47.5, register=False), progress=False)
    a, b = read_limap(off.limap_path), read_limap(res.limap_path)
    assert np.array_equal(a.li, b.li, equal_nan=True) and a.li_sigma is None


def test_a_scan_with_one_flat_is_refused_by_name(tmp_path):
    sim = cached_simulation(small_scenario(flux_photons=3e4, n_flats=1, detector_rows=16), tmp_path / "c")
    with pytest.raises(ValueError, match=r"scan_8300eV\.h5: no noise estimate.*at least 2 flat frames"):
        process(sim.scan_paths, sim.references_path, tmp_path / "out",
                ProcessOptions(figures=False, uncertainty=True), progress=False)
    assert not (tmp_path / "out").exists()


def test_volume_file_holds_the_two_halves(noisy_and_clean, tmp_path):
    import h5py

    from trixanes.io.volume import HALVES, read_volume_file
    from trixanes.pipeline.volume import reconstruct_scan_file

    sim = noisy_and_clean["noisy"][0]
    res = reconstruct_scan_file(sim.scan_paths[1], tmp_path, center_px=47.5, progress=False, halves=True)
    with h5py.File(res.path, "r") as f:
        full, a, b = f["volume"][()], f[HALVES[0]][()], f[HALVES[1]][()]
    assert a.shape == b.shape == full.shape
    noise = np.std(a - b) / 2
    assert noise > 0 and np.std((a + b) / 2 - full) < 0.3 * noise  # the full scan is their mean
    assert read_volume_file(res.path).volume.shape == full.shape
    assert any(n.startswith("half-dose scans for the noise estimate: gain") for n in res.notes)
