"""Property tests of a Li-mapping pipeline with trixanes.testing: the worked example of docs/testing.md.

Run it against your pipeline (trixanes' own when ``--trixanes-pipeline`` is not given)::

    pytest examples/test_my_pipeline.py \\
        --trixanes-pipeline 'python examples/pipelines/minimal_iradon.py {pre} {edge} {post} --refs {references} --out {out}'

hypothesis draws small scenarios (a few seconds each to simulate and process);
trixanes simulates each once (cached in ``$TRIXANES_CACHE`` when set), runs the
pipeline, scores its limap.h5 against the truth and checks the bounds. The
bounds here are a floor that the minimal example pipeline (no registration, no
binning) passes with a margin; tighten them for yours.
"""

from hypothesis import HealthCheck, Phase, given, settings

from trixanes.testing import assert_scores, scenarios

# a few examples, the same ones every run (derandomize), no per-example deadline and no
# shrinking of a failure: each example simulates and runs a whole pipeline (seconds)
FEW = settings(max_examples=2, deadline=None, derandomize=True, database=None,
               phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow])


@FEW
@given(scenario=scenarios(max_wedge_deg=30, max_drift_um=0.0, noise_free=True, magnification=False,
                          spectra="linear-combination"))
def test_li_map_within_bounds(scenario, trixanes_run_and_score):
    card = trixanes_run_and_score(scenario)
    assert_scores(card, am_dice=0.85, total_li_error=0.1, interior_rmse=0.25)


@FEW
@given(scenario=scenarios(max_wedge_deg=30, max_drift_um=0.0, min_flux=1e6, noise_free=False,
                          magnification=False, spectra="linear-combination"))
def test_li_map_with_photon_noise(scenario, trixanes_run_and_score):
    card = trixanes_run_and_score(scenario)
    assert_scores(card, am_dice=0.8, total_li_error=0.15)
