"""Simulated operando series: the [series] section, the states' Li fields and motions."""

from __future__ import annotations

import tomllib

import h5py
import numpy as np
import pytest

from trixanes.io.series_truth import read_series_truth
from trixanes.io.truth import read_truth
from trixanes.synth.config import Scenario, ScenarioError
from trixanes.synth.series import move_rigidly, simulate_series
from trixanes.synth.simulate import simulate
from trixanes.synth.states import rotation_matrix


def _tiny(states, **acq):
    return Scenario.preset("tiny").replace(
        seed=2, acquisition={"flux_photons": 0.0, "n_projections": 30, **acq},
        series={"rotation_axis": [1.0, 0.0, 0.0], "state": states})


def test_a_series_round_trips_through_toml():
    sc = _tiny([{"name": "I", "mean_soc": 0.2},
                {"name": "II", "mean_soc": 0.5, "translation_um": [0.1, 0.2, -0.1], "rotation_deg": 0.5,
                 "acquisition": {"dead_wedge_deg": 30.0}}])
    back = Scenario.from_dict(tomllib.loads(sc.to_toml()))
    assert back == sc
    st = back.state("II")
    assert st.series is None and st.lithium.mean_soc == 0.5 and st.acquisition.dead_wedge_deg == 30.0


@pytest.mark.parametrize("states, match", [
    ([{"name": "I", "mean_soc": 0.2, "rotation_deg": 1.0}], "first state"),
    ([{"name": "I", "mean_soc": 0.2}, {"name": "I", "mean_soc": 0.4}], "names must differ"),
    ([{"name": "I", "mean_soc": 1.4}], r"state\[0\].mean_soc"),
    ([{"name": "I", "mean_soc": 0.2, "speed": 1}], r"unknown field\(s\) \['speed'\]"),
    ([{"name": "I", "mean_soc": 0.2}, {"name": "II", "mean_soc": 0.3, "acquisition": {"pixel_size_um": -1}}],
     "series.state 'II': acquisition"),
    ([{"name": "a/b", "mean_soc": 0.2}], "folder name"),
    ([{"name": "I", "mean_soc": 0.2}, {"name": "II", "mean_soc": 0.3, "translation_um": [0.1, 0.2]}],
     r"state\[1\].translation_um must be 3 finite numbers"),
])
def test_an_invalid_series_is_refused_naming_the_field(states, match):
    with pytest.raises(ScenarioError, match=match):
        _tiny(states)


def test_rotation_matrix_is_a_rotation_and_move_rigidly_moves_a_voxel_as_the_matrix_says():
    r = rotation_matrix((1.0, 0.2, -0.1), 7.0)
    assert np.allclose(r @ r.T, np.eye(3)) and np.isclose(np.linalg.det(r), 1.0)
    a = np.zeros((9, 9, 9), np.uint8)
    a[4, 4, 7] = 1  # 3 voxels from the centre along x
    quarter = rotation_matrix((1.0, 0.0, 0.0), 90.0)
    moved = move_rigidly(a, quarter, (1, 0, 0), 0)
    want = np.rint(quarter @ np.array([0.0, 0.0, 3.0]) + [4, 4, 4] + [1, 0, 0]).astype(int)
    assert np.argwhere(moved).tolist() == [want.tolist()]


@pytest.fixture(scope="module")
def series_sim(tmp_path_factory):
    sc = _tiny([{"name": "I", "mean_soc": 0.2},
                {"name": "II", "mean_soc": 0.5, "translation_um": [0.0, 0.4, -0.2], "rotation_deg": 1.0},
                {"name": "III", "mean_soc": 0.8}])
    return sc, simulate_series(sc, tmp_path_factory.mktemp("series"), progress=False)


def test_the_first_state_is_simulate_of_that_state(series_sim, tmp_path):
    sc, res = series_sim
    single = simulate(sc.state("I"), tmp_path, progress=False)
    for p in single.scan_paths:
        with h5py.File(p) as a, h5py.File(res.state_dirs[0] / p.name) as b:
            assert np.array_equal(a["exchange/data"][()], b["exchange/data"][()])
    assert np.array_equal(read_truth(single.truth_path).li, read_truth(res.state_dirs[0] / "truth.h5").li,
                          equal_nan=True)


def test_every_particle_gains_li_state_by_state_and_the_truth_says_so(series_sim):
    sc, res = series_sim
    truth = read_series_truth(res.out_dir)
    assert truth.states == ("I", "II", "III") and truth.labels.size == res.n_particles
    ok = truth.inside.all(axis=1)
    assert ok.sum() >= 5
    dli = np.diff(truth.li[ok], axis=1)
    assert (dli >= -1e-6).all() and dli.mean() > 0.05  # lithiation: fronts move inward
    assert (np.diff(truth.progress, axis=1) >= -1e-12).all()
    # the per-particle truth is what the state's truth.h5 holds
    t3 = read_truth(res.state_dirs[2] / "truth.h5")
    k = int(truth.labels[ok][0])
    assert np.isclose(np.nanmean(t3.li[t3.labels == k]), truth.li[truth.labels == k, 2][0], atol=1e-5)
    assert all((d / "references.csv").read_bytes() == (res.out_dir / "references.csv").read_bytes()
               for d in res.state_dirs)


def test_a_moved_state_is_the_first_state_moved(series_sim):
    sc, res = series_sim
    truth = read_series_truth(res.out_dir)
    motion = truth.motions[0]
    assert motion["state"] == "II" and motion["rotation_deg"] == 1.0
    first, second = read_truth(res.state_dirs[0] / "truth.h5"), read_truth(res.state_dirs[1] / "truth.h5")
    v = first.voxel_size_um
    want = move_rigidly(first.phase, np.array(motion["rotation_matrix_zyx"]),
                        np.array(motion["translation_um"]) / v, 0)
    assert np.array_equal(want, second.phase)
    # the unmoved third state has the first state's microstructure
    assert np.array_equal(read_truth(res.state_dirs[2] / "truth.h5").labels, first.labels)


def test_the_example_series_file_is_a_valid_scenario():
    from pathlib import Path

    sc = Scenario.from_toml(Path(__file__).resolve().parents[2] / "examples" / "series.toml")
    assert [s.name for s in sc.series.states] == ["I", "II", "III"]
    assert sc.state("III").lithium.mean_soc > sc.state("I").lithium.mean_soc


@pytest.mark.parametrize("detach, match", [
    ({"rank": 1, "state": "I"}, "a state after the first"),
    ({"rank": 0, "state": "II"}, r"detach\[0\].rank"),
    ({"rank": 1, "state": "II", "spin": 1}, r"detach\[0\]: expected a table"),
])
def test_an_invalid_detachment_is_refused(detach, match):
    with pytest.raises(ScenarioError, match=match):
        Scenario.preset("tiny").replace(series={"state": [{"name": "I", "mean_soc": 0.2},
                                                          {"name": "II", "mean_soc": 0.4}],
                                                "detach": [detach]})


def test_a_particle_that_detaches_moves_on_its_own_and_stops_reacting(tmp_path):
    sc = _tiny([{"name": "I", "mean_soc": 0.2},
                {"name": "II", "mean_soc": 0.6, "translation_um": [0.0, 0.2, 0.2], "rotation_deg": 0.5}])
    sc = sc.replace(series={**sc.series.to_dict(),
                            "detach": [{"rank": 1, "state": "II", "translation_um": [0.0, 0.8, -0.6]}]})
    res = simulate_series(sc, tmp_path, progress=False)
    truth = read_series_truth(res.out_dir)
    (k,) = truth.detached
    row = int(np.nonzero(truth.labels == k)[0][0])
    assert truth.progress[row, 1] == truth.progress[row, 0]  # it stopped reacting
    assert np.median(np.diff(np.delete(truth.progress, row, axis=0), axis=1)) > 0.2
    inside = truth.inside[:, 0]
    assert truth.volume_um3[row] == truth.volume_um3[inside].max()  # rank 1: the largest inside
    a, b = read_truth(res.state_dirs[0] / "truth.h5"), read_truth(res.state_dirs[1] / "truth.h5")
    assert (a.labels == k).sum() == (b.labels == k).sum()  # moved whole, on top of its neighbours
    shift = (np.argwhere(b.labels == k).mean(axis=0) - np.argwhere(a.labels == k).mean(axis=0)) * a.voxel_size_um
    # its own (0, 0.8, -0.6) µm plus the sample's (0, 0.2, 0.2) and the sample's 0.5° turn
    assert np.abs(shift - [0.0, 1.0, -0.4]).max() < 0.05, shift
