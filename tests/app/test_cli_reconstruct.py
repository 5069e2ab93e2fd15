"""`trixanes reconstruct`: missing metadata said once, --pixel-size-um / --energy-kev, bad values refused."""

import warnings

import h5py
import numpy as np
from helpers import SHARED_DATA, needs
from typer.testing import CliRunner

from trixanes.cli import app
from trixanes.io.dataexchange import write_scan

runner = CliRunner()
TOOTH = SHARED_DATA / "tooth_dataexchange.h5"
CENTER = ["--center", "296"]  # the tooth's axis (TomoPy's value): no centre search, same volume


def _run(*args):
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        r = runner.invoke(app, ["reconstruct", *map(str, args), "--quiet"])
    return r, [str(w.message) for w in escaped]


def _recorded(path) -> str:
    """Every text attribute of volume.h5 (notes, or a provenance record), JSON escapes undone."""
    with h5py.File(path) as f:
        texts = [v for obj in (f, f["volume"]) for v in obj.attrs.values() if isinstance(v, str)]
    return "\n".join(texts).replace("\\u00b5", "µ")


@needs("tooth_dataexchange.h5")
def test_missing_metadata_warnings_appear_once_as_plain_lines(tmp_path):
    r, escaped = _run(TOOTH, "--out", tmp_path, *CENTER)
    assert r.exit_code == 0, r.output
    assert r.output.count("no photon energy") == 1, r.output
    assert r.output.count("no pixel size") == 1, r.output
    lines = [line.strip() for line in r.output.splitlines()]
    assert any(line.startswith("warning: no photon energy recorded") for line in lines)
    assert any(line.startswith("warning: no pixel size recorded") for line in lines)
    assert "UserWarning" not in r.output and "cli.py" not in r.output
    assert not [m for m in escaped if "recorded" in m]  # none left for Python to print again


@needs("tooth_dataexchange.h5")
def test_pixel_size_and_energy_options_are_used_and_recorded(tmp_path):
    r0, _ = _run(TOOTH, "--out", tmp_path / "plain", *CENTER)
    r, _ = _run(TOOTH, "--out", tmp_path / "given", *CENTER, "--pixel-size-um", 0.5, "--energy-kev", 8.35)
    assert r0.exit_code == 0 and r.exit_code == 0, r.output
    assert "no photon energy" not in r.output and "no pixel size" not in r.output
    assert r.output.count("energy 8.35 keV from the option") == 1
    assert r.output.count("pixel size 0.5 µm from the option") == 1
    with h5py.File(tmp_path / "plain" / "volume.h5") as f:
        per_pixel = f["volume"][()]
    with h5py.File(tmp_path / "given" / "volume.h5") as f:
        attrs, vol = dict(f["volume"].attrs), f["volume"][()]
    assert attrs["voxel_size_um"] == 0.5 and attrs["energy_kev"] == 8.35 and attrs["units"] == "1/um"
    # the pixel size is applied, not only written down: 1/µm = (1/pixel) / (0.5 µm per pixel)
    np.testing.assert_allclose(vol, per_pixel / 0.5, rtol=1e-4, atol=1e-6 * np.abs(per_pixel).max())
    recorded = _recorded(tmp_path / "given" / "volume.h5")
    assert "energy 8.35 keV from the option" in recorded
    assert "pixel size 0.5 µm from the option" in recorded


def test_an_option_that_contradicts_the_file_wins_and_is_said_once(tmp_path):
    rng = np.random.default_rng(0)
    n, rows, cols = 36, 2, 24
    theta = np.linspace(0, 180, n, endpoint=False)
    scan = write_scan(tmp_path / "scan.h5", rng.poisson(2e3, (n, rows, cols)), np.full((2, rows, cols), 4e3),
                      np.zeros((2, rows, cols)), theta, 8.43, 0.08)
    r, _ = _run(scan, "--out", tmp_path / "o", "--center", (cols - 1) / 2, "--energy-kev", 8.35)
    assert r.exit_code == 0, r.output
    assert r.output.count("overrides the file's") == 1
    assert "energy 8.35 keV from the option overrides the file's 8.43 keV" in r.output
    assert "pixel size 0.08 µm from /measurement/instrument/detection_system/objective/resolution" in r.output
    with h5py.File(tmp_path / "o" / "volume.h5") as f:
        assert f["volume"].attrs["energy_kev"] == 8.35 and f["volume"].attrs["voxel_size_um"] == 0.08


@needs("tooth_dataexchange.h5")
def test_bad_values_are_refused_with_a_clear_message(tmp_path):
    for option, value, unit in (("--pixel-size-um", "-0.5", "µm"), ("--pixel-size-um", "0", "µm"),
                                ("--energy-kev", "nan", "keV"), ("--energy-kev", "-8.35", "keV")):
        r, _ = _run(TOOTH, "--out", tmp_path, f"{option}={value}")
        assert r.exit_code == 2, r.output
        assert "Traceback" not in r.output
        said = " ".join(r.output.split())
        assert f"{option}: must be a positive, finite number of {unit}, got {float(value)!r}" in said
    assert not (tmp_path / "volume.h5").exists()
    help_text = runner.invoke(app, ["reconstruct", "--help"]).output
    assert "--pixel-size-um" in help_text and "--energy-kev" in help_text
