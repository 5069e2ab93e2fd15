import json

import h5py
from typer.testing import CliRunner

from trixanes.cli import app

runner = CliRunner()


def test_simulate_process_validate_from_the_command_line(tmp_path):
    sim = tmp_path / "sim"
    r = runner.invoke(app, ["simulate", "--preset", "tiny", "--seed", "3", "--out", str(sim), "--quiet"])
    assert r.exit_code == 0, r.output
    scans = sorted(str(p) for p in sim.glob("scan_*.h5"))
    assert len(scans) == 3
    proc = tmp_path / "proc"
    r = runner.invoke(app, ["process", *scans[::-1], "--references", str(sim / "references.csv"),
                            "--out", str(proc), "--quiet"])
    assert r.exit_code == 0, r.output
    assert "energies: pre 8.3000 keV" in r.output and (proc / "limap.h5").exists()
    r = runner.invoke(app, ["validate", "--truth", str(sim / "truth.h5"), "--result",
                            str(proc / "limap.h5"), "--out", str(tmp_path / "val")])
    assert r.exit_code == 0, r.output
    assert "interior Li RMSE" in r.output
    card = json.loads((tmp_path / "val" / "scorecard.json").read_text())
    assert card["segmentation"]["dice"] > 0.8


def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path):
    bogus = tmp_path / "scan.h5"
    bogus.write_text("not hdf5")
    refs = tmp_path / "references.csv"
    refs.write_text("energy_kev,pristine,charged\n8.3,1,1\n")
    r = runner.invoke(app, ["process", str(bogus), str(bogus), str(bogus), "--references", str(refs),
                            "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "scan.h5" in r.output and "Traceback" not in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[acquisition]\npixel_size_um = -1.0\n")
    r = runner.invoke(app, ["simulate", "--config", str(bad), "--out", str(tmp_path / "s")])
    assert r.exit_code == 2 and "acquisition.pixel_size_um" in r.output
    # the paper preset's phantom (3334³ fine voxels) fits no machine this runs on whole: refused up front
    r = runner.invoke(app, ["simulate", "--preset", "paper", "--phantom", "whole",
                            "--out", str(tmp_path / "p")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    said = " ".join(r.output.split())
    assert "phantom (3334 x 3334 x 3334 fine voxels) needs about 667" in said
    assert "--phantom tiled" in said
    assert not (tmp_path / "p").exists()


def test_reconstruct_a_real_beamline_scan(tmp_path, shared_data):
    r = runner.invoke(app, ["reconstruct", str(shared_data / "tooth_dataexchange.h5"), "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "no photon energy" in r.output or "no pixel size" in r.output
    with h5py.File(tmp_path / "volume.h5") as f:
        vol = f["volume"]
        assert vol.shape == (2, 640, 640)
        assert abs(vol.attrs["rotation_center"] - 296.0) < 1.0


def test_gpu_backend_without_a_gpu_is_a_clear_error(tmp_path, shared_data):
    from trixanes._shared.cuda import cupy_available

    if cupy_available():
        import pytest

        pytest.skip("CuPy and a CUDA GPU are available here")
    r = runner.invoke(app, ["reconstruct", str(shared_data / "tooth_dataexchange.h5"), "--out", str(tmp_path),
                            "--backend", "cupy"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "backend='cupy' needs CuPy" in r.output
    assert not (tmp_path / "volume.h5").exists()
    r = runner.invoke(app, ["process", "a.h5", "b.h5", "c.h5", "--references", "r.csv",
                            "--out", str(tmp_path / "o"), "--backend", "gpu"])
    assert r.exit_code == 2 and "backend: must be one of" in r.output
    # checked before the scans are read or anything is written
    r = runner.invoke(app, ["process", "a.h5", "b.h5", "c.h5", "--references", "r.csv",
                            "--out", str(tmp_path / "o"), "--backend", "cupy"])
    assert r.exit_code == 2 and "backend='cupy' needs CuPy" in r.output
    assert not (tmp_path / "o").exists()
    r = runner.invoke(app, ["simulate", "--preset", "tiny", "--out", str(tmp_path / "s"), "--backend", "cupy"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "backend='cupy' needs CuPy" in r.output and not (tmp_path / "s").exists()


def _cli_defaults(command: str) -> dict:
    import typer

    group = typer.main.get_command(app)
    return {p.name: p.default for p in group.commands[command].params}


def test_one_set_of_defaults_for_the_same_operation():
    import dataclasses
    import inspect

    from trixanes.pipeline import defaults
    from trixanes.pipeline.process import ProcessOptions
    from trixanes.pipeline.register import register_volume
    from trixanes.pipeline.volume import reconstruct_scan_file

    opts = {f.name: f.default for f in dataclasses.fields(ProcessOptions)}
    recon = {k: p.default for k, p in inspect.signature(reconstruct_scan_file).parameters.items()}
    reg = {k: p.default for k, p in inspect.signature(register_volume).parameters.items()}
    cli_p, cli_r = _cli_defaults("process"), _cli_defaults("reconstruct")
    # the CLI says what the functions do
    for cli_name, field in (("algorithm", "algorithm"), ("bspline", "bspline"), ("filter_name", "filter_name"),
                            ("ring_filter", "ring_filter"), ("backend", "backend"),
                            ("max_memory_gb", "max_memory_gb"), ("li_pristine", "x_pristine"),
                            ("li_charged", "x_charged"), ("center", "center_px"), ("bin", "binning")):
        assert cli_p[cli_name] == opts[field], cli_name
    for name in ("algorithm", "ring_filter", "filter_name", "backend"):
        assert cli_r[name] == recon[name], name
    assert cli_r["center"] is recon["center_px"] is None
    # the same operation, one default, whichever way it is called
    for name in ("algorithm", "ring_filter", "backend"):
        assert recon[name] == opts[name] == getattr(defaults, name.upper()), name
    assert reg["bspline"] == opts["bspline"] == defaults.BSPLINE is False
    # the one deliberate difference: process bins its volumes afterwards, reconstruct does not
    assert (recon["filter_name"], opts["filter_name"]) == (defaults.FBP_FILTER, defaults.FBP_FILTER_BINNED)
