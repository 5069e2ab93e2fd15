"""trixanes.validate.plugin: the pipeline contract, on tiny hand-made scans and fake pipelines."""

from __future__ import annotations

import json
import pickle
import sys
import textwrap

import numpy as np
import pytest

from trixanes.io.dataexchange import write_scan
from trixanes.validate.plugin import (CallablePipeline, CommandPipeline, PipelineRun, TrixanesPipeline,
                                      parse_pipeline, run_pipeline)

# a pipeline of someone else: records its arguments, writes a limap.h5 (or, on request, a bad one)
FAKE = textwrap.dedent("""
    import json, sys, pathlib
    import h5py, numpy as np
    args = sys.argv[1:]
    out = pathlib.Path(args[args.index("--out") + 1])
    (out / "argv.json").write_text(json.dumps(args))
    if "--nothing" in args:
        sys.exit(0)
    with h5py.File(out / "limap.h5", "w") as f:
        f["li"] = np.full((2, 3, 4), 0.7, np.float32)
        if "--no-mask" not in args:
            f["am_mask"] = np.ones((2, 3, 4), np.uint8)
        f.attrs["voxel_size_um"] = 0.5
""")

PLUGIN = textwrap.dedent("""
    import h5py, numpy as np

    def run(scans, references, out_dir):
        with h5py.File(out_dir / "limap.h5", "w") as f:
            f["li"] = np.full((2, 2, 2), 0.5, np.float32)
            f["am_mask"] = np.ones((2, 2, 2), np.uint8)
            f.attrs["voxel_size_um"] = 1.0
            f.attrs["n_scans"] = len(scans)
        return str(out_dir / "limap.h5")

    def broken(scans, references, out_dir):
        raise RuntimeError("no luck")

    def quits(scans, references, out_dir):
        raise SystemExit(2)

    def elsewhere(scans, references, out_dir):
        return out_dir / "not_here.h5"
""")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Three scans named out of energy order, a references file and the fake pipelines, under a space."""
    root = tmp_path_factory.mktemp("plugin") / "a folder with spaces"
    root.mkdir()
    frames = np.full((2, 4, 5), 50.0, np.float32)
    energies = {"a.h5": 8.43, "b.h5": 8.30, "c.h5": 8.35}  # post, pre, edge
    for name, e in energies.items():
        write_scan(root / name, frames, frames * 2, frames * 0, [0.0, 90.0], e, 0.1)
    (root / "references.csv").write_text("energy_kev,pristine,charged\n")
    (root / "fake pipe.py").write_text(FAKE)
    (root / "plug.py").write_text(PLUGIN)
    return root


def _scans(root):
    return [root / "a.h5", root / "b.h5", root / "c.h5"]


def _fake(root, extra=""):
    return f'{{python}} "{root}/fake pipe.py" {{pre}} {{edge}} {{post}} --scans {{scans}} ' \
           f"--refs {{references}} --out {{out}} {extra}"


def test_command_gets_the_scans_by_energy_and_paths_with_spaces_stay_whole(files):
    out = files / "out dir"
    run = run_pipeline(parse_pipeline(_fake(files)), _scans(files), files / "references.csv", out)
    assert run.ok, run.error
    assert (run.returncode, run.error, run.limap_path) == (0, None, out / "limap.h5")
    argv = json.loads((out / "argv.json").read_text())
    a, b, c = (str(p) for p in _scans(files))
    # pre, edge, post by energy (b 8.30, c 8.35, a 8.43); {scans} in the order given
    assert argv[:3] == [b, c, a]
    assert argv[3:] == ["--scans", a, b, c, "--refs", str(files / "references.csv"), "--out", str(out)]
    assert run.pipeline == "fake pipe.py"
    json.dumps(run.to_dict())


def test_a_crashing_command_is_a_failed_run_with_its_status_and_stderr_tail(files):
    code = "import sys; sys.stderr.write('x' * 5000 + 'THE END'); sys.exit(3)"
    run = run_pipeline(f'{{python}} -c "{code}" {{out}}', _scans(files), files / "references.csv",
                       files / "crash")
    assert not run.ok and run.limap_path is None
    assert run.returncode == 3
    assert "exited with status 3" in run.error
    assert run.stderr_tail.endswith("THE END") and 1000 < len(run.stderr_tail) <= 2000
    plain = run_pipeline("{python} -c 'import sys; sys.exit(3)' {out}", _scans(files),
                         files / "references.csv", files / "crash")
    assert (plain.ok, plain.returncode) == (False, 3)


def test_a_command_that_runs_too_long_is_killed_and_named_a_timeout(files):
    p = CommandPipeline("{python} -c 'import time; time.sleep(60)' {out}", timeout_s=0.5)
    run = run_pipeline(p, _scans(files), files / "references.csv", files / "slow")
    assert not run.ok
    assert "timed out after 0.5 s" in run.error
    assert run.seconds < 20


def test_a_pipeline_that_writes_nothing_fails_even_over_an_old_limap(files):
    out = files / "nothing"
    first = run_pipeline(_fake(files), _scans(files), files / "references.csv", out)
    assert first.ok  # an old, valid limap.h5 is there now
    run = run_pipeline(_fake(files, "--nothing"), _scans(files), files / "references.csv", out)
    assert not run.ok and run.returncode == 0
    assert "wrote no" in run.error and "limap.h5" in run.error


def test_a_limap_without_am_mask_fails_naming_the_dataset(files):
    run = run_pipeline(_fake(files, "--no-mask"), _scans(files), files / "references.csv", files / "nomask")
    assert not run.ok
    assert "missing dataset /am_mask" in run.error
    assert run.limap_path is not None  # the file that was refused


def test_scenario_placeholder(files):
    p = CommandPipeline(_fake(files, "--scenario {scenario}"))
    run = run_pipeline(p, _scans(files), files / "references.csv", files / "sc")
    assert not run.ok and "{scenario}" in run.error and "no scenario" in run.error
    toml = files / "scenario.toml"
    toml.write_text("seed = 0\n")
    run = run_pipeline(p, _scans(files), files / "references.csv", files / "sc", scenario_path=toml)
    assert run.ok, run.error
    assert json.loads((files / "sc" / "argv.json").read_text())[-1] == str(toml)


def test_scans_that_cannot_be_ordered_by_energy_fail_the_run(files):
    same = [files / "a.h5", files / "a.h5", files / "c.h5"]
    run = run_pipeline(_fake(files), same, files / "references.csv", files / "dup")
    assert not run.ok and "energy" in run.error and "duplicate energies" in run.error


def test_python_entry_point_from_a_file(files):
    ok = run_pipeline(f"{files}/plug.py:run", _scans(files), files / "references.csv", files / "py")
    assert ok.ok, ok.error
    assert ok.limap_path == files / "py" / "limap.h5" and ok.returncode is None
    bad = run_pipeline(CallablePipeline(f"{files}/plug.py:broken"), _scans(files),
                       files / "references.csv", files / "py")
    assert not bad.ok and bad.error.endswith("raised RuntimeError: no luck")
    assert "Traceback" in bad.stderr_tail and "no luck" in bad.stderr_tail
    quits = run_pipeline(f"{files}/plug.py:quits", _scans(files), files / "references.csv", files / "py")
    assert not quits.ok and "raised SystemExit: 2" in quits.error  # sys.exit in a plug-in stops no sweep
    gone = run_pipeline(CallablePipeline(f"{files}/plug.py:elsewhere"), _scans(files),
                        files / "references.csv", files / "py")
    assert not gone.ok and "not_here.h5" in gone.error


def test_a_callable_pipeline_survives_pickling(files):
    """Dask sends pipelines to its workers by pickle."""
    p = pickle.loads(pickle.dumps(CallablePipeline(f"{files}/plug.py:run")))
    assert p.name == "plug.py:run" and callable(p.function())


@pytest.mark.parametrize("spec, message", [
    ("nomodule:", "expected module:function"),
    ("no_such_module_xyz:run", "cannot import no_such_module_xyz"),
    ("os.path:no_such_function", "has no function 'no_such_function'"),
    ("missing_file.py:run", "no such file"),
    ("python pipe.py {pre} {edge} {post}", "has no {out}"),
    ("python pipe.py {pre} --out {output}", "unknown placeholder {output}"),
    ("python 'pipe.py --out {out}", "cannot be split"),
    ("   ", "empty"),
])
def test_bad_specs_are_value_errors_when_parsed(spec, message):
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("}", r"\}")):
        parse_pipeline(spec)


def test_bad_timeout_is_refused():
    with pytest.raises(ValueError, match="timeout_s"):
        CommandPipeline("python p.py --out {out}", timeout_s=-1)


def test_spec_kinds_names_and_cache_keys(files, tmp_path):
    assert isinstance(parse_pipeline(None), TrixanesPipeline)
    assert isinstance(parse_pipeline("trixanes"), TrixanesPipeline)
    assert isinstance(parse_pipeline("os.path:join"), CallablePipeline)
    script = tmp_path / "pipe.py"
    script.write_text("print(1)\n")
    cmd = parse_pipeline(f"{sys.executable} {script} {{scans}} --out {{out}}")
    assert isinstance(cmd, CommandPipeline) and cmd.name == "pipe.py"
    for p in (parse_pipeline(None), cmd, parse_pipeline(f"{files}/plug.py:run")):
        json.dumps(p.spec)
        assert p.describe()
    before = cmd.spec
    script.write_text("print(2)\n")  # a changed script is another pipeline for a cache
    assert cmd.spec != before
    assert "{{literal}}" in parse_pipeline("python -c '{{literal}}' {out}").template
    assert parse_pipeline("python -c 'print({{1: 2}})' {out}").argv({"out": "o"})[2] == "print({1: 2})"


def test_wrong_scan_count_is_a_usage_error(files):
    with pytest.raises(ValueError, match="three scans"):
        run_pipeline(_fake(files), _scans(files)[:2], files / "references.csv", files / "two")


def test_run_record_is_plain():
    r = PipelineRun("p", False, None, 1.0, 3, "tail", "why")
    assert r.to_dict() == {"pipeline": "p", "ok": False, "limap_path": None, "seconds": 1.0,
                           "returncode": 3, "stderr_tail": "tail", "error": "why"}


def test_a_command_that_cannot_start_is_a_failed_run(files):
    run = run_pipeline("no_such_program_xyz --out {out}", _scans(files), files / "references.csv", files / "ns")
    assert not run.ok and "could not be started" in run.error and run.returncode is None
