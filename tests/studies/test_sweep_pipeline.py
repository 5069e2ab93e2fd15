"""A sweep runs any pipeline: keys name it, failures are rows, simulations are shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trixanes.studies.sweep import Task, run_sweep, task_key
from trixanes.synth.config import Scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pipelines"
MINIMAL = f'{{python}} "{EXAMPLES}/minimal_iradon.py" {{scans}} --refs {{references}} --out {{out}}'
SCENARIO = Scenario.preset("tiny").replace(acquisition={"detector_cols": 56, "detector_rows": 24,
                                                        "n_projections": 40, "flux_photons": None})


def _tasks():
    return [Task("t", f"wedge {w}", SCENARIO.replace(acquisition={"dead_wedge_deg": float(w)}),
                 {"bspline": False}, params={"wedge_deg": w}) for w in (0, 40)]


def test_foreign_pipeline_rows_and_shared_simulations(tmp_path, monkeypatch):
    sims = tmp_path / "sims"
    own = run_sweep(_tasks(), tmp_path / "own", scheduler="inline", progress=False, sim_cache=sims)
    assert [r["status"] for r in own] == ["ok", "ok"] and {r["pipeline"] for r in own} == {"trixanes"}
    # both wedges derive from one noise-free simulation, made by the first
    assert [r["simulation.cached"] for r in own] == [False, True]
    assert own[0]["simulation.key"] == own[1]["simulation.key"] and all(r["simulation.derived"] for r in own)

    import trixanes.synth.simulate as sim_mod

    monkeypatch.setattr(sim_mod, "simulate", lambda *a, **k: pytest.fail("simulated again"))
    other = run_sweep(_tasks(), tmp_path / "other", scheduler="inline", progress=False,
                      sim_cache=sims, pipeline=MINIMAL)
    assert [r["status"] for r in other] == ["ok", "ok"], [r.get("error") for r in other]
    assert {r["pipeline"] for r in other} == {"minimal_iradon.py"}
    assert all(r["simulation.cached"] for r in other)
    # the same simulations, another pipeline: another (worse) Li map, scored on the same truth
    assert [r["simulation.key"] for r in other] == [r["simulation.key"] for r in own]
    assert other[0]["voxel.interior.rmse"] > own[0]["voxel.interior.rmse"]
    stored = json.loads((tmp_path / "other" / other[0]["key"] / "result.json").read_text())
    assert stored["pipeline"]["name"] == "minimal_iradon.py"
    assert stored["pipeline"]["spec"]["files"]  # the script's SHA-256 is part of the key
    assert not (tmp_path / "other" / other[0]["key"] / "pipeline").exists()  # large files removed


def test_keys_differ_by_pipeline():
    t = _tasks()[0]
    assert task_key(t) == task_key(t, None) == task_key(t, "trixanes")
    assert task_key(t, MINIMAL) != task_key(t)
    assert task_key(t, MINIMAL) != task_key(t, MINIMAL.replace("{scans}", "{pre} {edge} {post}"))


def test_failing_pipeline_is_an_error_row_with_its_stderr(tmp_path):
    crash = "{python} -c 'import sys; sys.stderr.write(\"bad calibration\\n\"); sys.exit(4)' {out}"
    rows = run_sweep(_tasks()[:1], tmp_path / "s", scheduler="inline", progress=False,
                     sim_cache=tmp_path / "sims", pipeline=crash)
    assert rows[0]["status"] == "error" and rows[0]["pipeline"] == "python"
    assert "exited with status 4" in rows[0]["error"] and "bad calibration" in rows[0]["error"]
    err = json.loads((tmp_path / "s" / rows[0]["key"] / "error.json").read_text())
    assert "bad calibration" in err["error"]


def test_study_with_a_foreign_pipeline_names_it(tmp_path):
    from typer.testing import CliRunner

    from trixanes.cli import app

    out = tmp_path / "dead angle"
    r = CliRunner().invoke(app, ["study", "dead_angle", "--quick", "--out", str(out), "--scheduler", "inline",
                                 "--sim-cache", str(tmp_path / "sims"), "--pipeline", MINIMAL,
                                 "--pipeline-timeout", "300"])
    assert r.exit_code == 0, r.output
    md = (out / "dead_angle.md").read_text()
    assert "Pipeline: `minimal_iradon.py` (command: " in md and "3 scenarios, 3 finished" in md
    assert "**wedge, minimal_iradon.py**" in md and "SIRT against FBP" not in md


def test_studies_collapse_processing_options_for_a_foreign_pipeline():
    from trixanes.studies import study_module
    from trixanes.validate.plugin import parse_pipeline

    pipe = parse_pipeline(MINIMAL)
    dead = study_module("dead_angle").build_tasks(True, 1, pipe)
    assert len(dead) == len(study_module("dead_angle").build_tasks(True, 1)) // 2
    assert {t.params["algorithm"] for t in dead} == {"minimal_iradon.py"} and all(not t.options for t in dead)
    reg = study_module("registration").build_tasks(True, 2, pipe)
    assert {t.params["series"] for t in reg} == {"minimal_iradon.py"} and len(reg) == 2 * len(
        {t.params["drift_px"] for t in reg})
    with pytest.raises(ValueError, match="binning option of trixanes' own pipeline"):
        study_module("binning").build_tasks(True, 1, pipe)
    for name in ("edge_energy", "dose", "calibration"):  # scenario sweeps: the same tasks
        assert len(study_module(name).build_tasks(True, 1, pipe)) == len(study_module(name).build_tasks(True, 1))
