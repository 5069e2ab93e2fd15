"""Found when trixanes was tried as a new user would: each gets a clear error, not a traceback.

A centre off the detector, an output folder that cannot be one, work folders
left by killed runs, empty output folders left by failed ones.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from trixanes._shared.paths import OWNER_FILE, check_out_dir, remove_stale_work_dirs, work_dir
from trixanes.cli import app
from trixanes.pipeline.process import ProcessOptions, process
from trixanes.pipeline.volume import reconstruct_scan_file

runner = CliRunner()


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def tiny_scan(tmp_path_factory):
    """One small noise-free scan (16 rows x 48 columns) of a ball."""
    from trixanes.io.dataexchange import write_scan

    folder = tmp_path_factory.mktemp("scan")
    theta = np.linspace(0.0, 180.0, 36, endpoint=False)
    s = np.arange(48) - 23.5
    od = 0.05 * 2 * np.sqrt(np.clip(10.0**2 - s**2, 0, None))
    data = np.broadcast_to(1e4 * np.exp(-od), (36, 16, 48)).astype(np.float32)
    i0 = np.full((2, 16, 48), 1e4, np.float32)
    return write_scan(folder / "ball.h5", data, i0, np.zeros_like(i0), theta, 8.3, 0.1)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# --- 1. a rotation centre outside the detector -------------------------------------------------


@pytest.mark.parametrize("center", [500.0, 140.0, 96.0, -1.0, float("nan")])
def test_process_refuses_a_centre_off_the_detector_before_any_output(small_sim, tmp_path, center):
    out = tmp_path / "out"
    with pytest.raises(ValueError) as err:
        process(small_sim.scan_paths, small_sim.references_path, out, ProcessOptions(center_px=center),
                progress=False)
    msg = one_line(str(err.value))
    assert "[0, 95]" in msg and "96 columns" in msg and "scan_" in msg, msg
    assert not out.exists()


def test_process_cli_refuses_centre_500_with_the_range(small_sim, tmp_path):
    out = tmp_path / "out"
    r = runner.invoke(app, ["process", *map(str, small_sim.scan_paths), "--references",
                            str(small_sim.references_path), "--out", str(out), "--center", "500", "--quiet"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "[0, 95]" in one_line(r.output)
    assert not out.exists()


def test_reconstruct_refuses_centre_5000(tiny_scan, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"ball\.h5: rotation centre 5000.* \[0, 47\] .*48 columns"):
        reconstruct_scan_file(tiny_scan, out, center_px=5000.0, progress=False)
    assert not out.exists()
    r = runner.invoke(app, ["reconstruct", str(tiny_scan), "--out", str(out), "--center", "5000"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "[0, 47]" in one_line(r.output) and not out.exists()
    # the last column is still a centre
    res = reconstruct_scan_file(tiny_scan, out, center_px=47.0, progress=False)
    assert res.center_px == 47.0


# --- 2. an output folder that cannot be one ----------------------------------------------------


def test_out_that_is_a_file_is_refused_naming_it(small_sim, tiny_scan, tmp_path):
    afile = tmp_path / "taken"
    afile.write_text("x")
    with pytest.raises(ValueError, match=r"taken is a file, not a folder"):
        check_out_dir(afile)
    for argv in (["reconstruct", str(tiny_scan), "--out", str(afile)],
                 ["process", *map(str, small_sim.scan_paths), "--references", str(small_sim.references_path),
                  "--out", str(afile), "--quiet"],
                 ["validate", "--truth", str(small_sim.truth_path), "--result", str(tiny_scan),
                  "--out", str(afile)],
                 ["simulate", "--preset", "tiny", "--out", str(afile), "--quiet"]):
        r = runner.invoke(app, argv)
        said = one_line(r.output)
        assert r.exit_code == 2 and "Traceback" not in r.output, (argv[0], r.output)
        assert f"{afile} is a file, not a folder" in said and "Errno" not in said, (argv[0], said)
    assert afile.read_text() == "x"


def test_out_that_cannot_be_written_is_refused_naming_it(small_sim, tiny_scan, tmp_path):
    # tests run as root, for whom no folder is unwritable: a folder under a file cannot be created
    afile = tmp_path / "taken"
    afile.write_text("x")
    under = afile / "out"
    for argv in (["reconstruct", str(tiny_scan), "--out", str(under)],
                 ["process", *map(str, small_sim.scan_paths), "--references", str(small_sim.references_path),
                  "--out", str(under), "--quiet"]):
        r = runner.invoke(app, argv)
        said = one_line(r.output)
        assert r.exit_code == 2 and "Traceback" not in r.output, r.output
        assert f"{under} cannot be created: {afile} is a file" in said and "Errno" not in said, said


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_out_without_write_permission_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(ValueError, match="ro is not writable"):
            check_out_dir(ro)
        with pytest.raises(ValueError, match="ro is not writable"):
            check_out_dir(ro / "new")
    finally:
        ro.chmod(0o755)


# --- 3. work folders of killed runs, empty folders of failed ones ----------------------------------


_HOLDER = """
import sys, time
from trixanes._shared.paths import work_dir
with work_dir(sys.argv[1]) as w:
    (w / "big.bin").write_bytes(b"0" * 1000)
    print(w, flush=True)
    time.sleep(60)
"""


def test_work_folder_of_a_sigkilled_run_is_removed_by_the_next(tmp_path):
    out = tmp_path / "out"
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    stale = child.stdout.readline().strip()
    assert stale, "the holder did not start"
    # alive: never removed
    assert remove_stale_work_dirs(out) == [] and os.path.isdir(stale)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert os.path.isdir(stale)  # what SIGKILL leaves
    with work_dir(out) as mine:
        assert not os.path.exists(stale)
        assert json.loads((mine / OWNER_FILE).read_text()) == {"pid": os.getpid(), "host": socket.gethostname()}
    assert list(out.iterdir()) == []


def test_only_dead_owners_on_this_host_are_swept(tmp_path):
    def fake(name, **owner):
        d = tmp_path / name
        d.mkdir()
        if owner:
            (d / OWNER_FILE).write_text(json.dumps(owner))
        return d

    host = socket.gethostname()
    dead = fake(".work-dead", pid=_dead_pid(), host=host)
    alive = fake(".work-alive", pid=os.getpid(), host=host)
    other = fake(".work-other", pid=_dead_pid(), host=host + "-elsewhere")
    unknown = fake(".work-unknown")
    assert remove_stale_work_dirs(tmp_path) == [dead]
    assert alive.is_dir() and other.is_dir() and unknown.is_dir()


def test_process_sweeps_a_stale_work_folder(small_sim, tmp_path):
    stale = tmp_path / ".work-killed"
    stale.mkdir()
    (stale / OWNER_FILE).write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname()}))
    (stale / "pre").mkdir()
    res = process(small_sim.scan_paths, small_sim.references_path, tmp_path,
                  ProcessOptions(binning=2, figures=False), progress=False)
    assert res.limap_path.exists()
    assert not list(tmp_path.glob(".work-*"))


def test_failed_runs_leave_no_output_folder(small_sim, tiny_scan, tmp_path, monkeypatch):
    import trixanes.pipeline.process as proc_mod
    import trixanes.pipeline.volume as vol_mod

    out = tmp_path / "a" / "b"
    bad_refs = tmp_path / "refs.csv"  # no edge step between the energies: refused before any work
    bad_refs.write_text("energy_kev,pristine,charged\n" + "\n".join(
        f"{e:.3f},{1 + e},{1 + e}" for e in np.arange(8.32, 8.40, 0.01)))
    r = runner.invoke(app, ["process", *map(str, small_sim.scan_paths), "--references", str(bad_refs),
                            "--out", str(out), "--quiet"])
    assert r.exit_code == 2 and not (tmp_path / "a").exists()

    def fails(*a, **k):
        raise ValueError("unreadable projections")

    # failures after the output (and work) folder were made, before anything was written
    monkeypatch.setattr(proc_mod, "reconstruct_scan_file", fails)
    with pytest.raises(ValueError, match="unreadable"):
        process(small_sim.scan_paths, small_sim.references_path, out, progress=False)
    assert not (tmp_path / "a").exists()
    monkeypatch.setattr(vol_mod, "find_center", fails)
    with pytest.raises(ValueError, match="unreadable"):
        reconstruct_scan_file(tiny_scan, out, progress=False)
    assert not (tmp_path / "a").exists()
    # a folder that existed before stays, emptied of the run's work folder
    out.mkdir(parents=True)
    with pytest.raises(ValueError, match="unreadable"):
        process(small_sim.scan_paths, small_sim.references_path, out, progress=False)
    assert out.is_dir() and list(out.iterdir()) == []


# --- 4. the version ---------------------------------------------------------------------------


def test_version_option_prints_the_version():
    from trixanes._shared.provenance import trixanes_version

    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0, r.output
    assert r.output.strip() == f"trixanes {trixanes_version()}"


def test_version_from_the_installed_command():
    exe = os.path.join(os.path.dirname(sys.executable), "trixanes")
    if not os.path.exists(exe):
        pytest.skip(f"no trixanes command beside {sys.executable}")
    from trixanes._shared.provenance import trixanes_version

    t0 = time.perf_counter()
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert trixanes_version() in out.stdout
    assert time.perf_counter() - t0 < 60
