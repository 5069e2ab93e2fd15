"""Verdicts state only what their numbers support (synthetic rows, worked out by hand).

With one seed there is no σ, so no significance claim; with repeats a difference is
claimed only beyond 2 combined σ; every point is named, reversals of the order
included; the calibration bias is measured against the linear-combination control;
the verdict ends with the folder its files were written to.
"""

import math
import re

import numpy as np
import pytest

from trixanes.studies import study_module
from trixanes.studies.calibration import LI_BINS
from trixanes.studies.summary import Curve
from trixanes.studies.verdict import difference, order, order_sentence, split, ties, trend

# words that claim significance: they need an error bar (test_studies uses the same)
SIGMA_CLAIMS = re.compile(r"2σ|error bars \(|within error bars|significan")


def _row(study, seed, **values):
    return {"study": study, "status": "ok", "seed": seed, "repeat": seed, **values}


# -- the helpers ------------------------------------------------------------------
def test_order_claims_only_beyond_k_sigma():
    assert order((0.10, 0.01), (0.07, 0.01)).significant        # 3 / √2 σ = 2.1σ
    assert not order((0.10, 0.01), (0.075, 0.01)).significant   # 2.5 / √2 σ = 1.8σ
    single = order((0.10, math.nan), (0.01, math.nan))
    assert not single.known and not single.significant and single.delta == pytest.approx(-0.09)


def test_split_and_sentences_name_every_point():
    d = Curve(np.array([0.0, 10, 30, 60]), np.array([0.01, 0.001, -0.01, -0.03]),
              np.full(4, 0.002), np.full(4, 2))
    g = split(d)
    assert g["above"] == [0.0] and g["within"] == [10.0] and g["below"] == [30.0, 60.0]
    text = order_sentence(d, "B lower", "B higher", "{:g}°")
    assert text == "B lower by more than 2σ at 30°, 60°; B higher by more than 2σ at 0°; within 2σ at 10°"
    one = Curve(d.x, d.mean, np.full(4, np.nan), np.ones(4, int))
    text = order_sentence(one, "B lower", "B higher", "{:g}°")
    assert text == "B lower at 30°, 60°; B higher at 0°, 10° (one seed: no error bar)"
    assert not SIGMA_CLAIMS.search(text)


def test_difference_by_magnitude_and_common_points():
    a = Curve(np.array([0.0, 30]), np.array([-0.05, 0.02]), np.array([0.001, 0.001]), np.array([2, 3]))
    b = Curve(np.array([0.0, 30, 60]), np.array([0.03, -0.01, 0.0]), np.full(3, 0.001), np.full(3, 2))
    d = difference(a, b, magnitude=True)
    assert d.x.tolist() == [0.0, 30.0]
    assert d.mean == pytest.approx([0.03 - 0.05, 0.01 - 0.02])
    assert d.std == pytest.approx([math.sqrt(2) * 0.001] * 2) and d.n.tolist() == [2, 2]


def test_trend_and_ties_without_error_bars():
    c = Curve(np.array([1.0, 2, 4]), np.array([0.05, 0.051, 0.02]), np.full(3, np.nan), np.ones(3, int))
    assert trend(c, "e") == "e falls from 0.0500 at 1 to 0.0200 at 4 (one seed: no error bar)"
    assert ties(c, 2) == "one seed: no error bar, so how far it stands out is not known"
    with_sigma = Curve(c.x, c.mean, np.full(3, 0.02), np.full(3, 3))
    assert trend(with_sigma, "e").startswith("e stays within error bars (2σ")  # 0.03 < 2·0.028
    assert ties(with_sigma, 2) == "within 2σ of it: 1, 2"


# -- the studies on synthetic rows -------------------------------------------------
def _dead_angle_rows(rmse_sirt_0, spread):
    """FBP and SIRT at 0° and 60°, two seeds ±spread: SIRT wins the interior RMSE at 60°
    and loses it at 0° (rmse_sirt_0 > FBP's 0.040); SIRT's |AM bias| is larger at 60°."""
    rows = []
    for seed, sign in ((0, -1), (1, 1)):
        e = sign * spread
        for algo, w, rmse, bias in (("fbp", 0, 0.040, 0.0), ("fbp", 60, 0.110, -0.002),
                                    ("sirt", 0, rmse_sirt_0, 0.0), ("sirt", 60, 0.090, -0.020)):
            rows.append(_row("dead_angle", seed, **{
                "param.wedge_deg": w, "param.series": f"wedge, {algo}", "param.algorithm": algo,
                "voxel.interior.rmse": rmse + e, "voxel.am.bias": bias + e, "voxel.am.rmse": rmse + e,
                "particles.mean_li.mae": 0.01, "voxel.interior.bias": 0.0,
                "classes.fraction_error.poor": 0.0, "classes.fraction_error.moderate": 0.0,
                "classes.fraction_error.rich": 0.0}))
    return rows


def test_dead_angle_reports_where_the_order_reverses():
    _, md = study_module("dead_angle").summarize(_dead_angle_rows(0.046, 0.001))
    # σ of each point 0.0014, combined 0.002: 0.006 at 0° and 0.020 at 60° exceed 2σ
    assert ("wedge, interior Li RMSE: SIRT lower by more than 2σ at 60°; "
            "SIRT higher by more than 2σ at 0°.") in md
    assert "wedge, |AM Li bias|: SIRT higher by more than 2σ at 60°; within 2σ at 0°." in md
    reverses = next(ln for ln in md.splitlines() if "the order reverses" in ln)
    assert "interior Li RMSE at 0° (beyond 2σ)" in reverses and "|AM Li bias| at 60° (beyond 2σ)" in reverses


def test_dead_angle_claims_nothing_within_two_sigma():
    # SIRT 0.043 against FBP 0.040 at 0°: 0.003 < 2 · 0.002 · √2 · ... (σ 0.0028 each, combined 0.004)
    _, md = study_module("dead_angle").summarize(_dead_angle_rows(0.043, 0.002))
    assert "SIRT higher by more than 2σ at 0°" not in md
    assert re.search(r"wedge, interior Li RMSE: SIRT lower by more than 2σ at 60°; within 2σ at 0°\.", md)


def test_one_seed_dead_angle_orders_without_claims():
    rows = [r for r in _dead_angle_rows(0.046, 0.001) if r["seed"] == 0]
    _, md = study_module("dead_angle").summarize(rows)
    assert "wedge, interior Li RMSE: SIRT lower at 60°; SIRT higher at 0° (one seed: no error bar)." in md
    assert "interior Li RMSE at 0° (one seed: no error bar)" in md
    assert "by more than" not in md and "beyond" not in md


def _calibration_rows(seeds=(0, 1)):
    """A blurred control (found = 0.7 + 0.445 (t − 0.7): the pipeline's own model, slope
    0.445) and an edge shift adding a calibration bias −k (t − 0.38)(1 − t) on top."""
    t = np.linspace(0.4, 1.0, 13)
    blur = 0.7 + 0.445 * (t - 0.7)
    k = 0.5
    rows = []
    for seed in seeds:
        jitter = 0.001 * seed
        for model, shift, found in (("linear-combination", 0.0, blur + jitter),
                                    ("edge-shift", 4.0, blur + jitter - k * (t - 0.38) * (1 - t))):
            label = model if shift == 0 else f"{model} {shift:g} eV"
            rows.append(_row("calibration", seed, **{
                "param.series": label, "param.model": model, "param.edge_shift_ev": shift,
                "voxel.am.bias": float(np.mean(found - t)), "particles.mean_li.bias": 0.0,
                "voxel.interior.rmse": 0.05,
                "curves": {"profiles.depth": {"true": t.tolist(), "found": found.tolist()}}}))
    return rows, t, k


def test_calibration_bias_is_measured_against_the_control():
    rows, t, k = _calibration_rows()
    _, md = study_module("calibration").summarize(rows)
    control = next(ln for ln in md.splitlines() if ln.startswith("- **linear-combination (control)**"))
    assert "slope found/true 0.445" in control  # both rows shown, the control's blur as it is
    attributable = next(ln for ln in md.splitlines() if "Calibration-attributable (edge-shift 4 eV" in ln)
    # the difference is the calibration term alone: mean of −k (t − 0.38)(1 − t) over the profile
    am = -k * np.mean((t - 0.38) * (1 - t))
    assert f"AM bias {am:.4f}" in attributable or f"AM bias {am:.3f}" in attributable
    # its largest |Δbias| sits in the bin [0.69, 0.79) (t = 0.70, 0.75), not the control's blur
    centres = 0.5 * (LI_BINS[1:] + LI_BINS[:-1])
    in_bin = (t >= LI_BINS[3]) & (t < LI_BINS[4])
    worst = k * np.mean((t[in_bin] - 0.38) * (1 - t[in_bin]))
    assert f"largest |Δbias| {worst:.3f}" in attributable and f"x ≈ {centres[3]:.2f}" in attributable
    assert "below 0 by more than 2σ" in attributable
    # the control's own bias (blur: up to 0.7 − 0.445·0.3 − 1 ≈ −0.17 at x = 1) is not called calibration bias
    assert "calibration bias" not in control


def test_calibration_without_repeats_says_so():
    rows, _, _ = _calibration_rows(seeds=(0,))
    _, md = study_module("calibration").summarize(rows)
    attributable = next(ln for ln in md.splitlines() if "Calibration-attributable" in ln)
    assert "one seed: no error bar" in attributable and "2σ" not in attributable


def test_dead_angle_compares_each_iterative_method_with_fbp():
    rows = _dead_angle_rows(0.046, 0.001)
    rows += [{**r, "param.series": "wedge, os-sirt", "param.algorithm": "os-sirt"}
             for r in rows if r["param.algorithm"] == "sirt"]
    _, md = study_module("dead_angle").summarize(rows)
    assert "SIRT against FBP, metric by metric" in md and "OS-SIRT against FBP, metric by metric" in md
    assert "wedge, interior Li RMSE: OS-SIRT lower by more than 2σ at 60°" in md
