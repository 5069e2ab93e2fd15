"""`process_series` and `validate_series` on small simulated series."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from trixanes.cli import app
from trixanes.io.dataexchange import ScanError
from trixanes.io.limap import read_limap
from trixanes.io.series import read_series
from trixanes.io.series_scorecard import read_series_scorecard
from trixanes.io.series_truth import read_series_truth, write_series_truth
from trixanes.pipeline.process import ProcessOptions
from trixanes.pipeline.series import find_state_scans, process_series
from trixanes.synth.config import Scenario
from trixanes.synth.series import simulate_series
from trixanes.validate.series import validate_series

pytestmark = pytest.mark.slow

runner = CliRunner()


def _series(states, **acq):
    return Scenario.preset("tiny").replace(seed=3, acquisition={"n_projections": 60, **acq},
                                           series={"rotation_axis": [1.0, 0.0, 0.0], "state": states})


@pytest.fixture(scope="module")
def moving(tmp_path_factory):
    """Three states, the sample moved by up to 0.45 µm (2.2 pixels) and 1°, Li rising."""
    base = tmp_path_factory.mktemp("moving")
    sc = _series([{"name": "I", "mean_soc": 0.2},
                  {"name": "II", "mean_soc": 0.45, "translation_um": [0.1, 0.3, -0.2], "rotation_deg": 0.6},
                  {"name": "III", "mean_soc": 0.7, "translation_um": [-0.1, 0.4, 0.2], "rotation_deg": 1.0}])
    sim = simulate_series(sc, base / "sim", progress=False)
    res = process_series(sim.state_dirs, sim.out_dir / "references.csv", base / "out", progress=False)
    return sim, res


def test_every_state_has_a_result_with_the_series_labels(moving):
    sim, res = moving
    stats = read_series(res.out_dir)
    assert stats.states == ("I", "II", "III")
    first = read_limap(res.out_dir / "I" / "limap.h5")
    later = read_limap(res.out_dir / "III" / "limap.h5")
    assert set(np.unique(later.labels)) - {0} <= set(np.unique(first.labels)) - {0}
    assert stats.mean_li.shape == (stats.labels.size, 3)
    rows = (res.out_dir / "particles.csv").read_text().splitlines()
    assert rows[0] == "label,state,volume_um3,mean_li,li_rich_fraction,followed,mean_li_sigma"
    assert stats.mean_li_sigma is None and rows[1].endswith(",")  # no estimate asked for
    assert len(rows) == 1 + 3 * stats.labels.size
    assert {p.name for p in res.figures} == {"li_per_state.png", "particle_trajectories.png",
                                              "state_summary.png", "z_profiles.png"}
    # Li rises state by state in the followed particles, as it does in the truth
    ok = stats.followed.all(axis=1)
    assert ok.sum() >= 3 and np.nanmedian(np.diff(stats.mean_li[ok], axis=1)) > 0.03


def test_the_motion_is_found_and_particles_are_followed(moving, tmp_path):
    sim, res = moving
    card = validate_series(sim.out_dir, res.out_dir, tmp_path, figures=False)
    # measured here (tiny: 48 x 64 x 64 voxels, few particles): translation within 0.04 voxel,
    # rotation 0.48 deg off for 0.6 (a spurious tilt); a sign or axis error would be >= 1.2 deg
    for m in card["motions"]:
        assert m["translation_error_vox"] < 0.25, m
        assert m["rotation_error_deg"] < 0.7, m
    tr = card["tracking"]
    assert tr["n_segmented"] >= 3
    assert tr["followed_fraction"] >= 0.9, tr
    assert tr["li_change"]["mae"] <= 0.03, tr
    assert read_series_scorecard(tmp_path)["tracking"]["n_followed"] == tr["n_followed"]
    assert all(m["detached"] == [] for m in res.stats.motions)  # nothing moved on its own
    assert (tmp_path / "II" / "scorecard.json").is_file()


def test_the_scores_do_not_depend_on_the_order_the_truth_lists_particles_in(moving, tmp_path):
    sim, res = moving
    truth = read_series_truth(sim.out_dir)
    other = tmp_path / "truth"
    shutil.copytree(sim.out_dir, other)
    order = np.random.default_rng(0).permutation(truth.labels.size)
    shuffled = type(truth)(truth.states, truth.voxel_size_um, truth.labels[order], truth.volume_um3[order],
                           truth.li[order], truth.progress[order], truth.inside[order], truth.motions)
    write_series_truth(other / "series_truth.json", shuffled)
    a = validate_series(sim.out_dir, res.out_dir, tmp_path / "a", figures=False)["tracking"]
    b = validate_series(other, res.out_dir, tmp_path / "b", figures=False)["tracking"]
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_no_motion_and_no_change_gives_zero_change_for_every_particle(tmp_path):
    sc = _series([{"name": "a", "mean_soc": 0.4}, {"name": "b", "mean_soc": 0.4}], flux_photons=0.0)
    sim = simulate_series(sc, tmp_path / "sim", progress=False)
    res = process_series(sim.state_dirs, sim.out_dir / "references.csv", tmp_path / "out",
                         ProcessOptions(figures=False), progress=False)
    st = res.stats
    assert st.followed.all()
    assert np.nanmax(np.abs(np.diff(st.mean_li, axis=1))) < 1e-3
    m = st.motions[0]
    assert np.abs(m["translation_vox"]).max() < 0.05 and m["rotation_deg"] < 0.05


def test_error_bars_of_a_series_without_change_cover_its_noise(tmp_path):
    # the same Li and position in both states, a new photon draw: every per-particle change
    # is photon noise, so the changes in units of their own sigma have a spread of about 1
    # (measured 1.5 on 24 particles; a motion of 0.2 um adds resampling error: 10)
    sc = _series([{"name": "a", "mean_soc": 0.4}, {"name": "b", "mean_soc": 0.4}])
    sim = simulate_series(sc, tmp_path / "sim", progress=False)
    out = tmp_path / "out"
    cli = runner.invoke(app, ["series", *map(str, sim.state_dirs), "--references",
                              str(sim.out_dir / "references.csv"), "--out", str(out), "--uncertainty", "--quiet"])
    assert cli.exit_code == 0, cli.output
    assert "total Li" in cli.output and " ± " in cli.output and "2 sigma of photon noise" in cli.output
    st = read_series(out)
    assert st.mean_li_sigma is not None
    ok = st.followed.all(axis=1)
    assert ok.sum() >= 10
    assert np.all(st.mean_li_sigma[ok] > 0)
    z = np.diff(st.mean_li[ok], axis=1)[:, 0] / st.change_sigma()[ok, 0]
    assert 0.4 < np.sqrt(np.mean(z**2)) < 2.5, z
    assert "sigma" in st.summary[1] and st.summary[1]["sigma"]["total_li"] > 0
    # each state's stats.json carries sigmas for the series' labels
    state_b = json.loads((out / "b" / "stats.json").read_text())
    assert {p["label"] for p in state_b["sigma"]["particles"]} == {p["label"] for p in state_b["particles"]}
    rows = (out / "particles.csv").read_text().splitlines()
    assert all(r.split(",")[-1] for r in rows[1:] if r.split(",")[5] == "1")


def test_a_detached_particle_is_found_and_followed_where_it_went(tmp_path):
    # the sample moves and turns; one particle also moves 0.8 µm (4 voxels) in y and -0.6 in x
    sc = _series([{"name": "I", "mean_soc": 0.2},
                  {"name": "II", "mean_soc": 0.5, "translation_um": [0.0, 0.2, 0.2], "rotation_deg": 0.5},
                  {"name": "III", "mean_soc": 0.7, "translation_um": [0.1, 0.3, -0.1], "rotation_deg": 0.8}])
    sc = sc.replace(series={**sc.series.to_dict(),
                            "detach": [{"rank": 2, "state": "II", "translation_um": [0.0, 0.8, -0.6]}]})
    sim = simulate_series(sc, tmp_path / "sim", progress=False)
    res = process_series(sim.state_dirs, sim.out_dir / "references.csv", tmp_path / "out",
                         ProcessOptions(figures=False), progress=False)
    for m in res.stats.motions:  # found in both later states, alone, about where it went
        (d,) = m["detached"]
        assert np.abs(np.subtract(d["shift_um"], [0.0, 0.8, -0.6])).max() <= 0.21, d  # a voxel: 0.2 µm
        assert d["ncc_after"] > d["ncc_before"] + 0.15
    assert any("moved on its own" in n for n in res.stats.notes)
    card = validate_series(sim.out_dir, res.out_dir, tmp_path / "val", figures=False)
    assert card["detached"]["found"] == card["detached"]["labels"]


def test_a_state_with_a_missing_scan_is_refused_naming_its_folder(moving, tmp_path):
    sim, _ = moving
    broken = tmp_path / "II"
    shutil.copytree(sim.state_dirs[1], broken)
    next(broken.glob("scan_8350eV.h5")).unlink()
    with pytest.raises(ScanError, match=r"II: a state needs three scans .* found 2"):
        process_series([sim.state_dirs[0], broken], sim.out_dir / "references.csv", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert len(find_state_scans(sim.state_dirs[0])) == 3  # truth.h5 beside the scans is no scan


def test_a_state_at_other_energies_is_refused(moving, tmp_path):
    import h5py

    sim, _ = moving
    other = tmp_path / "II"
    shutil.copytree(sim.state_dirs[1], other)
    with h5py.File(other / "scan_8350eV.h5", "r+") as f:
        f["measurement/instrument/monochromator/energy"][()] = 8.36
    r = runner.invoke(app, ["series", str(sim.state_dirs[0]), str(other), "--references",
                            str(sim.out_dir / "references.csv"), "--out", str(tmp_path / "out"), "--quiet"])
    assert r.exit_code == 2
    assert "edge energy 8.3600 keV" in r.output and "scan_8350eV.h5" in r.output


def test_the_series_report_shows_scores_tracking_motions_and_figures(moving, tmp_path):
    from trixanes import series_demo

    sim, res = moving
    card = validate_series(sim.out_dir, res.out_dir, tmp_path / "score", figures=False)
    sc = series_demo.demo_scenario("tiny", 3)
    page = series_demo._write_report(tmp_path / "series_report.html", sc, res, card, {"simulate": 1.0})
    text = page.read_text()
    assert "followed with the right identity in every state" in text and "rotation error" in text
    assert text.count("<img") == 4 and "Fig. 4b" in text


def test_the_series_demo_runs_trixanes_own_pipeline_only(tmp_path):
    r = runner.invoke(app, ["demo", "--series", "--pipeline", "x.py:run", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "--pipeline is not taken" in r.output

