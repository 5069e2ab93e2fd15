"""The calibration check: the linear calibration's own error from the references alone."""

import numpy as np
import pytest
from typer.testing import CliRunner

from trixanes.cli import app
from trixanes.studies.calibration_check import check_calibration
from trixanes.synth.xanes import default_spectra, linear_calibration_bias, XanesModel

runner = CliRunner()


def test_built_in_references():
    p, c = default_spectra(2.3)
    chk = check_calibration(p, c, (8.30, 8.35, 8.43))
    assert chk.shift_ev == pytest.approx(2.3, abs=0.05)  # measured from the spectra, not given
    assert chk.li[0] == 0.38 and chk.li[-1] == 1.0
    assert np.abs(chk.bias_mixing).max() < 0.002
    # the edge-shift row is linear_calibration_bias of that model at the same contents
    model = XanesModel("edge-shift", p, c, shift_ev=chk.shift_ev)
    np.testing.assert_allclose(chk.bias_shift, linear_calibration_bias(model, (8.30, 8.35, 8.43), chk.li))
    # 8.35 keV is the white line's top, the worst place for an edge that shifts
    at_edge = int(np.argmin(np.abs(chk.edges_kev - 8.35)))
    assert chk.worst_shift[at_edge] == pytest.approx(np.abs(chk.bias_shift).max())
    assert np.abs(chk.bias_shift).max() > 5 * chk.worst_shift.min()
    assert 8.33 < chk.best_edge_kev < 8.37 and chk.best_edge_kev != 8.35


def test_bad_arguments():
    p, c = default_spectra()
    with pytest.raises(ValueError, match="energies_kev"):
        check_calibration(p, c, (8.35, 8.30, 8.43))
    with pytest.raises(ValueError, match="x_charged"):
        check_calibration(p, c, (8.30, 8.35, 8.43), x_pristine=0.3)


def test_command_line(tmp_path):
    e = np.linspace(8.27, 8.55, 561)
    p, c = default_spectra(2.3)
    f = tmp_path / "refs.csv"
    f.write_text("energy_kev,pristine,charged\n" + "".join(
        f"{x:.6f},{2 + 0.8 * a:.8f},{2 + 0.8 * b:.8f}\n" for x, a, b in zip(e, p.evaluate(e), c.evaluate(e))))
    r = runner.invoke(app, ["calibration-check", str(f), "--energies", "8.30,8.35,8.43"])
    assert r.exit_code == 0, r.output
    assert "edge shift from pristine to charged +2.3" in r.output
    assert "if the edge shifts in proportion to the Li:  +0.14" in r.output
    bad = tmp_path / "bad.csv"
    bad.write_text("energy_kev,a,b\n8.3,1,1\n")
    r = runner.invoke(app, ["calibration-check", str(bad)])
    assert r.exit_code == 2 and "bad.csv" in r.output and "Traceback" not in r.output
