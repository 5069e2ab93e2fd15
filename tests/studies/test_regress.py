"""trixanes regress: suites, verdicts, baselines, exit codes, JUnit XML."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trixanes.cli import app
from trixanes.io.regress import read_baseline, read_report
from trixanes.studies.regress import SUITES, Tolerance, judge, load_suite, run_regress

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pipelines"
MINIMAL = f'{{python}} "{EXAMPLES}/minimal_iradon.py" {{scans}} --refs {{references}} --out {{out}}'

# two small scenarios: the machinery, not the hazards (the built-in suites are measured in the note)
SUITE = """
[suite]
name = "mini"
preset = "tiny"

[tolerances]
"voxel.interior.rmse" = { better = "lower", abs = 0.005, rel = 0.1 }
"voxel.am.bias" = { better = "zero", abs = 0.01 }
"segmentation.dice" = { better = "higher", abs = 0.02 }

[[scenario]]
name = "full-angle"
seed = 1
acquisition = { detector_cols = 56, detector_rows = 24, n_projections = 40 }

[[scenario]]
name = "wedge-40"
seed = 2
acquisition = { detector_cols = 56, detector_rows = 24, n_projections = 40, dead_wedge_deg = 40.0 }
"""

# minimal_iradon.py, then +0.05 on every Li value: what a broken calibration does
BIASED = """
import subprocess, sys, h5py
subprocess.run([sys.executable, sys.argv[1], *sys.argv[2:]], check=True)
with h5py.File(sys.argv[-1] + "/limap.h5", "r+") as f:
    f["li"][...] = f["li"][...] + 0.05
"""


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("suite") / "mini.toml"
    p.write_text(SUITE)
    return p


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("sims")


def _cli(*args):
    return CliRunner().invoke(app, ["regress", "--quiet", *map(str, args)])


def test_built_in_suites_cover_the_hazards():
    for name in SUITES:
        s = load_suite(name)
        acq = [sc.scenario.acquisition for sc in s.scenarios]
        assert any(a.dead_wedge_deg == 0 and a.drift_px == 0 for a in acq)
        assert {30.0, 60.0} <= {a.dead_wedge_deg for a in acq}
        assert any(a.drift_px > 0 and a.zone_plate_magnification for a in acq)
        assert min(a.flux_photons for a in acq) < 0.1 * max(a.flux_photons for a in acq)  # low dose
        assert any(sc.scenario.spectra.model == "edge-shift" for sc in s.scenarios)
        assert any(sc.scenario.sample.am_fraction >= 0.75 and sc.scenario.sample.geometry == "plate"
                   for sc in s.scenarios)
        assert len({sc.scenario.seed for sc in s.scenarios}) == len(s.scenarios)  # fixed, distinct seeds
    assert {sc.scenario.acquisition.detector_cols for sc in load_suite("quick").scenarios} == {64}


def test_judge_directions_and_tolerances():
    lower = Tolerance("lower", abs=0.005, rel=0.1)
    assert judge("s", "m", 0.10, 0.109, lower).verdict == "ok"  # within 10 %
    assert judge("s", "m", 0.10, 0.111, lower).verdict == "worse"
    assert judge("s", "m", 0.10, 0.08, lower).verdict == "better"
    assert judge("s", "m", 0.01, 0.0149, lower).verdict == "ok"  # the absolute floor applies
    higher = Tolerance("higher", abs=0.02)
    assert judge("s", "m", 0.95, 0.92, higher).verdict == "worse"
    zero = Tolerance("zero", abs=0.01)
    assert judge("s", "m", 0.004, -0.015, zero).verdict == "worse"  # the magnitude grew by 0.011
    assert judge("s", "m", 0.004, -0.012, zero).verdict == "ok"
    assert judge("s", "m", -0.05, 0.01, zero).verdict == "better"
    assert judge("s", "m", 0.1, math.nan, lower).verdict == "missing"
    assert judge("s", "m", math.nan, 0.1, lower).verdict == "new"
    with pytest.raises(ValueError, match="better: one of lower, higher, zero"):
        Tolerance("smaller")
    with pytest.raises(ValueError, match="abs: must be a finite number >= 0"):
        Tolerance("lower", abs=-1)


@pytest.mark.parametrize("text, message", [
    ("[suite]\n", "needs a \\[suite\\] table with a name"),
    ('[suite]\nname = "x"\n[[scenario]]\nname = "a"\n', "names no metric"),
    ('[suite]\nname = "x"\n[tolerances]\n"a.b" = { better = "lower" }\n', "no \\[\\[scenario\\]\\] entries"),
    ('[suite]\nname = "x"\n[tolerances]\n"a.b" = { better = "lower", tol = 1 }\n[[scenario]]\nname = "a"\n',
     "tolerances\\]\\.a\\.b: expected"),
    ('[suite]\nname = "x"\n[tolerances]\n"a.b" = { better = "lower" }\n[[scenario]]\nname = "a"\n'
     '[[scenario]]\nname = "a"\n', "the name 'a' is used twice"),
    ('[suite]\nname = "x"\n[tolerances]\n"a.b" = { better = "lower" }\n[[scenario]]\nname = "a"\nwedge = 3\n',
     "scenario 'a': unknown key\\(s\\) \\['wedge'\\]"),
    ('[suite]\nname = "x"\n[tolerances]\n"a.b" = { better = "lower" }\n[[scenario]]\nname = "a"\n'
     'acquisition = { detector_cols = -3 }\n', "scenario 'a': acquisition"),
    ("[suite\n", "not valid TOML"),
])
def test_bad_suite_files_are_named(tmp_path, text, message):
    p = tmp_path / "s.toml"
    p.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        load_suite(p)
    assert str(p) in str(err.value)
    with pytest.raises(ValueError, match="neither a built-in suite"):
        load_suite("quik")


def test_baseline_then_compare_then_a_biased_pipeline_fails(tmp_path, suite_file, cache):
    out = tmp_path / "out"
    r = _cli("--suite", suite_file, "--out", out, "--cache", cache, "--pipeline", MINIMAL, "--update-baseline")
    assert r.exit_code == 0, r.output
    base = read_baseline(out / "baseline.json")
    assert base.suite == "mini" and set(base.scenarios) == {"full-angle", "wedge-40"}
    assert base.pipeline["name"] == "minimal_iradon.py"

    r = _cli("--suite", suite_file, "--out", out, "--cache", cache, "--pipeline", MINIMAL,
             "--junit", tmp_path / "ok.xml")
    assert r.exit_code == 0, r.output
    assert "nothing worse beyond tolerance (6 scores)" in r.output
    rep = read_report(out / "regress.json")
    assert all(s["simulation"]["cached"] for s in rep.scenarios)  # the changed pipeline re-simulates nothing
    assert {c.verdict for c in rep.comparisons} == {"ok"}

    wrapper = tmp_path / "biased.py"
    wrapper.write_text(BIASED)
    biased = f'{{python}} "{wrapper}" "{EXAMPLES}/minimal_iradon.py" {{scans}} --refs {{references}} --out {{out}}'
    r = _cli("--suite", suite_file, "--out", tmp_path / "biased", "--baseline", out / "baseline.json",
             "--cache", cache, "--pipeline", biased, "--junit", tmp_path / "bad.xml")
    assert r.exit_code == 1, r.output
    assert "voxel.am.bias of full-angle" in r.output and "voxel.am.bias of wedge-40" in r.output
    rep = read_report(tmp_path / "biased" / "regress.json")
    bias = {c.scenario: c for c in rep.comparisons if c.metric == "voxel.am.bias"}
    assert all(c.verdict == "worse" and c.change == pytest.approx(0.05, abs=0.005) for c in bias.values())
    suite = ET.parse(tmp_path / "bad.xml").getroot().find("testsuite")
    assert int(suite.get("failures")) >= 2 and suite.get("errors") == "0"
    failed = [c.get("classname") + "/" + c.get("name") for c in suite if c.find("failure") is not None]
    assert "regress.mini.full-angle/voxel.am.bias" in failed


def test_a_crashing_pipeline_is_reported_not_raised(tmp_path, suite_file, cache):
    out = tmp_path / "out"
    assert _cli("--suite", suite_file, "--out", out, "--cache", cache, "--pipeline", MINIMAL,
                "--update-baseline").exit_code == 0
    crash = "{python} -c 'import sys; sys.exit(\"segmentation found no particle\")' {out}"
    r = _cli("--suite", suite_file, "--out", out, "--cache", cache, "--pipeline", crash,
             "--junit", tmp_path / "j.xml")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "full-angle: the pipeline failed" in r.output and "exited with status 1" in r.output
    assert r.output.count("    segmentation found no particle") == 1  # its stderr, once for both
    assert "the pipeline failed on 2 of 2 scenarios (6 scores not measured)" in r.output
    rep = json.loads((out / "regress.json").read_text())
    assert {c["verdict"] for c in rep["comparisons"]} == {"failed"}
    assert "segmentation found no particle" in rep["scenarios"][0]["run"]["stderr_tail"]
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite.get("errors") == "6"
    assert read_baseline(out / "baseline.json").pipeline["name"] == "minimal_iradon.py"  # kept
    # a baseline is never made of failed runs
    r = _cli("--suite", suite_file, "--out", tmp_path / "new", "--cache", cache, "--pipeline", crash,
             "--update-baseline")
    assert r.exit_code == 1 and "baseline not written" in r.output
    assert not (tmp_path / "new" / "baseline.json").exists()


def test_usage_errors_exit_2(tmp_path, suite_file):
    r = _cli("--suite", suite_file, "--out", tmp_path / "o")
    assert r.exit_code == 2 and "no baseline to compare with; run once with --update-baseline" in r.output
    r = _cli("--suite", "nosuch", "--out", tmp_path / "o")
    assert r.exit_code == 2 and "neither a built-in suite" in r.output
    r = _cli("--suite", suite_file, "--out", tmp_path / "o", "--pipeline", "python p.py {scans}")
    assert r.exit_code == 2 and "has no {out}" in r.output
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "trixanes-regress-baseline", "version": 1, "suite": "quick",
                                 "suite_sha256": "", "pipeline": {}, "generator": "", "trixanes_version": "",
                                 "created_utc": "", "scenarios": {}}))
    r = _cli("--suite", suite_file, "--out", tmp_path / "o", "--baseline", other)
    assert r.exit_code == 2 and "a baseline of suite 'quick', not 'mini'" in r.output
    other.write_text("{}")
    r = _cli("--suite", suite_file, "--out", tmp_path / "o", "--baseline", other)
    assert r.exit_code == 2 and "not a trixanes regress baseline" in r.output and str(other) in r.output


def test_python_api_takes_a_pipeline_object(tmp_path, suite_file, cache):
    from trixanes.validate.plugin import CallablePipeline

    pipe = CallablePipeline(f"{EXAMPLES}/swap_segmentation.py:run")
    rep = run_regress(suite_file, tmp_path, pipeline=pipe, update_baseline=True, cache_dir=cache, progress=False)
    assert rep.exit_code == 0 and rep.pipeline["name"] == "swap_segmentation.py:run"
    dice = [c.now for c in rep.comparisons if c.metric == "segmentation.dice"]
    assert all(d > 0.8 for d in dice)
