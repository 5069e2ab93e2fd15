"""trixanes trust: the acquisition read back from scans, the sample fitted, twins run, trust.json/html."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import small_scenario
from trixanes.cli import app
from trixanes.io.trust import read_trust
from trixanes.pipeline.process import ProcessOptions, process
from trixanes.studies.simcache import cached_simulation
from trixanes.studies.trust import STATISTICS, read_acquisition, run_trust

REAL = dict(flux_photons=2e5, dead_wedge_deg=30.0, detector_rows=16, n_projections=90)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """A simulated scan treated as a real one: its truth is never shown to trust."""
    cache = tmp_path_factory.mktemp("sims")
    sim = cached_simulation(small_scenario(**REAL).replace(seed=21), cache)
    res = process(sim.scan_paths, sim.references_path, tmp_path_factory.mktemp("result"),
                  ProcessOptions(figures=False), progress=False)
    return sim, res, cache


def test_acquisition_is_read_from_the_scans(real):
    sim, _, _ = real
    acq = read_acquisition(sim.scan_paths)
    sc = small_scenario(**REAL)
    assert acq.energies_kev == pytest.approx(sc.acquisition.energies_kev)
    assert (acq.detector_rows, acq.detector_cols) == (16, 96)
    assert acq.n_projections == 90 and acq.angle_range_deg == pytest.approx((-120.0, 120.0))
    assert acq.n_angles < 90  # the wedge took some
    assert acq.dead_wedge_deg == pytest.approx(30.0, abs=acq.step_deg)
    assert acq.dead_wedge_center_deg == pytest.approx(90.0, abs=acq.step_deg / 2)
    assert acq.flux_photons == pytest.approx(2e5, rel=0.02) and acq.gain == pytest.approx(1.0, rel=0.05)
    assert acq.pixel_sizes_um[0] == pytest.approx(0.1) and acq.pixel_sizes_um[2] < acq.pixel_sizes_um[0]


@pytest.fixture(scope="module")
def trusted(real, tmp_path_factory):
    """``trixanes trust`` run once on the scan, with two twins."""
    sim, res, cache = real
    out = tmp_path_factory.mktemp("trust")
    r = CliRunner().invoke(app, ["trust", *map(str, sim.scan_paths), "--references", str(sim.references_path),
                                 "--cache", str(cache), "--result", str(res.limap_path.parent), "--out", str(out),
                                 "--twins", "2", "--scheduler", "inline", "--quiet"])
    assert r.exit_code == 0, r.output
    return out, r.output


def test_twins_give_a_bias_and_spread_for_every_statistic(real, trusted):
    _, res, _ = real
    out, printed = trusted
    rep = read_trust(out / "trust.json")
    assert set(rep.statistics) == set(STATISTICS) and rep.twins == 2 and len(rep.runs) == 2
    total = rep.statistics["total_li"]
    assert total["value"] == pytest.approx(res.stats.total_li) and total["n_twins"] == 2
    assert total["corrected"] == pytest.approx(total["value"] - total["expected_bias"])
    assert total["interval"][0] < total["corrected"] < total["interval"][1]
    assert rep.voxel["am_rmse"]["n"] == 2 and rep.voxel["am_rmse"]["mean"] > 0
    assert rep.acquisition["dead_wedge_deg"] > 20 and "mean_soc" in rep.sample_fit["lithium"]
    assert any("pilot twin" in n for n in rep.notes)
    assert any("fewer than 3 whole particles" in n for n in rep.notes)  # a volume 1.6 µm high
    # the twins repeat the scan's acquisition and processing: the same voxel
    twin = json.loads(Path(rep.runs[0]["scorecard"]).read_text())
    assert twin["grid"]["result_voxel_um"] == pytest.approx(res.stats.voxel_size_um[0])
    assert "expected interior voxel Li RMSE" in printed and "total_li" in printed
    page = (out / "trust.html").read_text()
    assert "How far to trust this Li map" in page and "data:image/png;base64" in page


def test_a_missing_result_is_refused_by_name(real, tmp_path):
    sim, _, _ = real
    r = CliRunner().invoke(app, ["trust", *map(str, sim.scan_paths), "--references", str(sim.references_path),
                                 "--result", str(tmp_path), "--out", str(tmp_path / "u"), "--quiet"])
    assert r.exit_code == 2 and "no limap.h5" in r.output
    with pytest.raises(ValueError, match="twins: need at least 1"):
        run_trust(sim.scan_paths, sim.references_path, tmp_path, tmp_path / "v", twins=0)


def test_a_twin_whose_pipeline_fails_is_named(real, tmp_path):
    sim, res, cache = real
    broken = tmp_path / "broken.py"
    broken.write_text("import sys\nsys.exit('no Li map today')\n")
    r = CliRunner().invoke(app, ["trust", *map(str, sim.scan_paths), "--references", str(sim.references_path),
                                 "--cache", str(cache), "--result", str(res.limap_path.parent),
                                 "--out", str(tmp_path / "t"), "--pipeline", f"{{python}} {broken} {{out}}",
                                 "--twins", "1", "--scheduler", "inline", "--quiet"])
    assert r.exit_code == 1, r.output
    assert "a twin did not run through: pilot 1" in r.output and "no Li map today" in r.output
    assert not (tmp_path / "t" / "trust.json").exists()
