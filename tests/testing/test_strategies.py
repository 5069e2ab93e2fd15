"""trixanes.testing: the scenario strategy draws only valid small scenarios within its bounds;
assert_scores names each broken bound with its value."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trixanes.synth.acquisition import projection_angles
from trixanes.synth.config import Scenario
from trixanes.testing import BOUNDS, assert_scores, check_scores, scenarios, score
from trixanes.validate.plugin import PipelineRun

FAST = settings(max_examples=60, deadline=None)


@FAST
@given(scenario=scenarios())
def test_every_drawn_scenario_is_valid_small_and_round_trips(scenario):
    acq = scenario.acquisition
    # Scenario validation again, from its plain data (as a TOML file would give it)
    assert Scenario.from_dict(scenario.to_dict()) == scenario
    assert acq.detector_cols <= 128 and acq.detector_rows <= 64
    assert len(projection_angles(acq)) >= 2  # the dead wedge leaves projections to simulate
    assert acq.n_projections <= 240


@FAST
@given(scenario=scenarios(max_wedge_deg=30, min_flux=2e5, max_flux=3e6, max_drift_um=0.1,
                          magnification=False, spectra="edge-shift", seed=7, cols=(50, 60)))
def test_bounds_are_honoured(scenario):
    acq = scenario.acquisition
    assert 0 <= acq.dead_wedge_deg <= 30
    assert 2e5 <= acq.flux_photons <= 3e6  # max_flux excludes noise-free scans
    assert acq.drift_px * acq.pixel_size_um <= 0.1 + 1e-12
    assert acq.zone_plate_magnification is False
    assert scenario.spectra.model == "edge-shift" and 1.5 <= scenario.spectra.edge_shift_ev <= 3.0
    assert scenario.seed == 7 and 50 <= acq.detector_cols <= 60


@FAST
@given(scenario=scenarios(noise_free=True, max_drift_um=0.0))
def test_noise_free_and_no_drift(scenario):
    assert scenario.acquisition.noise_free and scenario.acquisition.drift_px == 0


def test_defaults_draw_every_kind():
    # over many draws both spectra models, both magnification settings, noisy and noise-free appear
    seen = set()

    @settings(max_examples=80, deadline=None, derandomize=True, database=None)
    @given(scenario=scenarios())
    def collect(scenario):
        acq = scenario.acquisition
        seen.update({scenario.spectra.model, ("mag", acq.zone_plate_magnification),
                     ("noisy", not acq.noise_free), ("wedge", acq.dead_wedge_deg > 0),
                     ("drift", acq.drift_px > 0), scenario.lithium.mode})

    collect()
    assert {"linear-combination", "edge-shift", ("mag", True), ("mag", False), ("noisy", True),
            ("noisy", False), ("wedge", True), ("drift", True), "lithiation", "delithiation"} <= seen


@pytest.mark.parametrize("bounds, message", [
    ({"min_wedge_deg": 40, "max_wedge_deg": 30}, "wedge_deg: the low bound 40 is above the high bound 30"),
    ({"max_wedge_deg": 200}, "wedge_deg: (0, 200) leaves the range"),
    ({"min_flux": 1e7, "max_flux": 1e6}, "flux: the low bound"),
    ({"noise_free": True, "max_flux": 1e6}, "max_flux=1e+06 excludes"),
    ({"spectra": "xanes"}, "spectra: unknown 'xanes'"),
    ({"spectra": []}, "spectra: expected one of"),
    ({"cols": (10, 1000)}, "cols: (10, 1000) leaves the range"),
    ({"cols": (50.2, 50.8)}, "cols: no whole number"),
    ({"mean_soc": (0.5,)}, "mean_soc: expected a (low, high) pair"),
    ({"seed": -1}, "seed must be in"),
    ({"magnification": "on"}, "magnification: unknown 'on'"),
])
def test_impossible_bounds_are_refused_naming_the_bound(bounds, message):
    with pytest.raises(ValueError, match="^scenarios: ") as err:
        scenarios(**bounds)
    assert message in str(err.value)


CARD = {"voxel": {"interior": {"rmse": 0.131}, "am": {"rmse": 0.2, "bias": -0.07, "missing_fraction": 0.03}},
        "segmentation": {"dice": 0.956}, "total": {"error": -0.055}, "classes": {"accuracy": 0.5},
        "particles": {"f1": math.nan, "mean_li": {"mae": 0.04}}, "result_path": "o/limap.h5",
        "truth_path": "t/truth.h5"}


@given(limit=st.floats(0.0, 1.0))
def test_check_scores_directions(limit):
    (_, _, rmse, ok_max), = check_scores(CARD, interior_rmse=limit)
    assert rmse == 0.131 and ok_max == (0.131 <= limit)
    (*_, ok_min), = check_scores(CARD, am_dice=limit)
    assert ok_min == (0.956 >= limit)
    (*_, ok_abs), = check_scores(CARD, total_li_error=limit)  # the magnitude of -0.055
    assert ok_abs == (0.055 <= limit)


def test_assert_scores_message_lists_each_bound_with_its_value():
    assert_scores(CARD, interior_rmse=0.2, am_dice=0.9, total_li_error=0.06)  # all within: silent
    with pytest.raises(AssertionError) as err:
        assert_scores(CARD, interior_rmse=0.05, am_dice=0.99, total_li_error=0.06, particle_f1=0.5)
    text = str(err.value)
    lines = text.splitlines()
    assert lines[0] == "3 of 4 score bounds failed for o/limap.h5"
    assert lines[-1] == "truth: t/truth.h5"
    rows = {line.split()[0] + " " + line.split()[1]: line for line in lines[2:-1]}
    assert "<= 0.0500" in rows["interior Li"] and "0.1310" in rows["interior Li"] \
        and rows["interior Li"].endswith("FAIL")
    assert ">= 0.990" in rows["AM Dice"] and "0.956" in rows["AM Dice"] and rows["AM Dice"].endswith("FAIL")
    assert rows["total Li"].endswith("ok") and "-0.0550" in rows["total Li"]
    assert "n/a" in rows["particle F1"] and rows["particle F1"].endswith("FAIL")  # not measured: fails


def test_every_bound_reads_a_number_of_a_real_scorecard_layout():
    values = dict((name, v) for name, _, v, _ in check_scores(CARD, **{k: 1.0 for k in BOUNDS}))
    assert values["am_bias"] == -0.07 and values["particle_mae"] == 0.04 and values["class_accuracy"] == 0.5
    assert math.isnan(values["particle_f1"])


@pytest.mark.parametrize("bounds, message", [
    ({}, "give at least one bound"), ({"dice": 0.9}, "unknown bound 'dice'"),
    ({"am_dice": math.nan}, "am_dice must be a finite number")])
def test_assert_scores_usage_errors(bounds, message):
    with pytest.raises(ValueError, match=message):
        assert_scores(CARD, **bounds)


def test_score_of_a_failed_run_is_an_assertion_with_its_stderr():
    run = PipelineRun("my_pipe.py", False, None, 1.0, 2, "Traceback\nKeyError: 'li'\n", "the command exited 2")
    with pytest.raises(AssertionError, match=r"pipeline 'my_pipe.py' failed: the command exited 2\n"
                                             r"stderr \(tail\):\nTraceback\nKeyError: 'li'$"):
        score(run, "truth.h5")
