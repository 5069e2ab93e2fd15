"""validate checks a result's σ: coverage of the 2σ band over voxels and particles, in words."""

from __future__ import annotations

import numpy as np
import pytest

from trixanes.io.limap import LiMap, write_limap
from trixanes.io.scorecard import read_scorecard
from trixanes.io.stats import write_stats
from trixanes.io.truth import PHASE_AM, read_truth
from trixanes.pipeline.analyze import analyze
from trixanes.validate.scorecard import summary_table, validate
from trixanes.validate.uncertainty import GAUSSIAN_2SIGMA, coverage


def _noisy_map(truth, folder, sigma_true, sigma_said, *, with_stats=True, seed=0):
    """The truth itself plus Gaussian noise of ``sigma_true``, claiming ``sigma_said``."""
    am = truth.phase == PHASE_AM
    rng = np.random.default_rng(seed)
    li = np.where(am, truth.li + rng.normal(0, sigma_true, am.shape), np.nan).astype(np.float32)
    sig = np.where(am, sigma_said, np.nan).astype(np.float32)
    labels = np.where(am, truth.labels, 0).astype(np.int32)
    folder.mkdir(parents=True, exist_ok=True)
    write_limap(folder / "limap.h5", LiMap(li=li, am_mask=am, labels=labels, li_sigma=sig,
                                            voxel_size_um=truth.voxel_size_um, origin_um=truth.origin_um))
    if with_stats:
        st = analyze(li, am, labels, truth.voxel_size_um)
        parts = [{"label": p.label, "mean_li": sigma_said / np.sqrt(p.n_voxels)} for p in st.particles]
        write_stats(folder / "stats.json", st.replace(sigma={"total_li": sigma_said / np.sqrt(am.sum()),
                                                             "particles": parts}))
    return folder / "limap.h5"


def test_coverage_of_gaussian_errors():
    rng = np.random.default_rng(1)
    c = coverage(rng.normal(0, 1, 50_000), np.ones(50_000))
    assert c["coverage_2sigma"] == pytest.approx(GAUSSIAN_2SIGMA, abs=0.005)
    assert coverage([np.nan], [1.0])["n"] == 0


def test_a_right_sigma_covers_95_percent(small_sim, tmp_path):
    truth = read_truth(small_sim.truth_path)
    card = validate(small_sim.truth_path, _noisy_map(truth, tmp_path / "r", 0.03, 0.03), tmp_path / "s",
                    figures=False)
    u = card.uncertainty
    assert u["interior"]["coverage_2sigma"] == pytest.approx(GAUSSIAN_2SIGMA, abs=0.01)
    assert u["interior"]["error_over_sigma"] == pytest.approx(1.0, abs=0.03)
    assert u["particles"]["n"] >= 3 and 0.5 <= u["particles"]["coverage_2sigma"] <= 1.0
    assert np.isfinite(u["total"]["error_over_sigma"])
    assert "σ describes the error" in u["verdict"]
    back = read_scorecard(tmp_path / "s" / "scorecard.json")
    assert back.uncertainty["interior"]["n"] == u["interior"]["n"]
    assert "2σ coverage" in summary_table(back)


def test_too_small_a_sigma_is_called_systematic_not_hidden(small_sim, tmp_path):
    truth = read_truth(small_sim.truth_path)
    card = validate(small_sim.truth_path, _noisy_map(truth, tmp_path / "r", 0.06, 0.02, with_stats=False),
                    tmp_path / "s", figures=False)
    u = card.uncertainty
    assert u["interior"]["coverage_2sigma"] < 0.5
    assert u["interior"]["error_over_sigma"] == pytest.approx(3.0, rel=0.05)
    assert "mostly systematic" in u["verdict"] and "particles" not in u
    assert any("particle and total-Li σ not checked" in n for n in card.notes)


def test_no_sigma_no_section(small_sim, tmp_path):
    truth = read_truth(small_sim.truth_path)
    path = _noisy_map(truth, tmp_path / "r", 0.01, 0.01, with_stats=False)
    import h5py

    with h5py.File(path, "r+") as f:
        del f["li_sigma"]
    card = validate(small_sim.truth_path, path, tmp_path / "s", figures=False)
    assert card.uncertainty is None and "uncertainty" not in read_scorecard(tmp_path / "s" / "scorecard.json")
