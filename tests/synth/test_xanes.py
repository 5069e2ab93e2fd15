"""XANES spectral models: shape of the built-in spectra, monotonic edge, measured data."""


from helpers import SHARED_DATA, needs

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trixanes.synth.xanes import (
    XANES_WINDOW_KEV,
    XanesModel,
    XanesSpectrum,
    default_spectra,
    edge_position_kev,
    linear_calibration_bias,
    measured_spectra,
    normalize_spectrum,
)

NMC622 = SHARED_DATA / "nmc622_nmc721_NiK_xanes.csv"


def test_default_pristine_edge_and_white_line():
    p, c = default_spectra()
    e = np.arange(8.33, 8.37, 1e-5)
    v = p.evaluate(e)
    assert 8.3494 <= e[np.argmax(v)] <= 8.3506  # at or just above the edge energy 8.35
    assert 1.4 <= v.max() <= 1.6
    assert abs(edge_position_kev(p) - 8.3435) < 0.0005
    shift = edge_position_kev(c) - edge_position_kev(p)
    assert 0.0022 <= shift <= 0.0024
    # decaying post-edge wiggles that end exactly at 1
    far = p.evaluate(np.array([8.40, 8.45, 8.60, 8.70, 9.0]))
    assert np.all(np.abs(far - 1) <= [0.05, 0.02, 0.005, 0, 0])


@pytest.mark.parametrize("kind", ["linear-combination", "edge-shift"])
def test_exact_zero_and_one_outside_window(kind):
    m = XanesModel(kind)
    x = np.linspace(0.38, 1.0, 7)
    lo = m.evaluate(np.linspace(7.0, XANES_WINDOW_KEV[0], 50), x)
    hi = m.evaluate(np.linspace(XANES_WINDOW_KEV[1], 11.0, 50), x)
    assert np.all(lo == 0.0) and np.all(hi == 1.0)


@pytest.mark.parametrize("kind", ["linear-combination", "edge-shift"])
def test_edge_value_monotonic_in_li(kind):
    m = XanesModel(kind)
    x = np.linspace(0.38, 1.0, 400)
    v = m.evaluate(8.35, x)
    assert np.all(np.diff(v) > 0)
    # lithiated absorbs more at the edge than delithiated
    assert v[-1] - v[0] > 0.1


def test_models_agree_at_references_differ_between():
    lc, es = XanesModel("linear-combination"), XanesModel("edge-shift")
    e = np.linspace(8.32, 8.40, 200)
    for x in (0.38, 1.0):
        np.testing.assert_allclose(lc.evaluate(e, x), es.evaluate(e, x), atol=2e-3)
    assert np.max(np.abs(lc.evaluate(e, 0.69) - es.evaluate(e, 0.69))) > 0.02


@settings(max_examples=20, deadline=None)
@given(st.floats(0.38, 1.0), st.floats(8.30, 8.45))
def test_linear_combination_is_linear(x, e):
    m = XanesModel("linear-combination")
    w = (x - 0.38) / 0.62
    expect = w * m.evaluate(e, 1.0) + (1 - w) * m.evaluate(e, 0.38)
    assert m.evaluate(e, x) == pytest.approx(expect, abs=1e-12)


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="kind"):
        XanesModel("spline")
    with pytest.raises(ValueError, match="x_charged"):
        XanesModel(x_charged=1.2)
    with pytest.raises(ValueError, match="shift_ev"):
        XanesModel(shift_ev=50.0)


def test_normalize_recovers_step_with_sloped_background():
    e = np.linspace(8.25, 8.55, 301)
    true = default_spectra()[0].evaluate(e)
    raw = 2.0 + 3.0 * (e - 8.25) + 0.7 * true  # offset, slope, scale
    norm = normalize_spectrum(e, raw)
    np.testing.assert_allclose(norm, true, atol=0.02)


def test_measured_spectra_read_through_the_one_table_reader(tmp_path):
    e = np.linspace(8.27, 8.55, 281)
    true = default_spectra()[0].evaluate(e)
    raw = 2.0 + 3.0 * (e - 8.25) + 0.7 * true
    f = tmp_path / "r.csv"
    # eV, decreasing, a comment: the io reader's conventions
    f.write_text("# comment\nenergy_ev,charged,pristine\n" + "".join(
        f"{x * 1e3!r},{r!r},{r!r}\n" for x, r in zip(e[::-1].tolist(), raw[::-1].tolist())))
    p, c = measured_spectra(f)
    np.testing.assert_allclose(p.evaluate(e), true, atol=0.02)
    assert "eV" in p.note and "reversed" in p.note and p.note == c.note
    bad = tmp_path / "bad.csv"
    bad.write_text("energy_kev,a,b\n8.3,1,1\n")
    with pytest.raises(ValueError, match="bad.csv"):
        measured_spectra(bad)


def _measured_nmc622():
    table = np.genfromtxt(NMC622, delimiter=",", comments="#", skip_header=3)
    e = table[:, 0] * 1e-3
    return e, table[:, 1], table[:, 2]  # pristine, 4.3 V


def _measured_nmc622_spectra():
    """Normalized NMC622 pristine and 4.3 V spectra and the measured half-maximum shift, eV."""
    e, raw_p, raw_c = _measured_nmc622()
    p = XanesSpectrum.from_normalized(e, normalize_spectrum(e, raw_p), "NMC622 pristine")
    c = XanesSpectrum.from_normalized(e, normalize_spectrum(e, raw_c), "NMC622 4.3 V")
    return p, c, (edge_position_kev(c) - edge_position_kev(p)) * 1e3


@needs('nmc622_nmc721_NiK_xanes.csv')
def test_model_from_measured_nmc622():
    e, raw_p, _ = _measured_nmc622()
    p, c, shift_ev = _measured_nmc622_spectra()
    # measured shift of the half maximum: +2.2 to +2.4 eV (data README)
    assert 1.8 < shift_ev < 2.8
    m = XanesModel("linear-combination", p, c)
    v = m.evaluate(8.35, np.linspace(0.38, 1.0, 100))
    assert np.all(np.diff(v) > 0)
    # the narrow measured range is extended to exact 0 / 1 outside the window
    assert m.evaluate(8.2, 0.7) == 0.0 and m.evaluate(8.8, 0.7) == 1.0
    # inside the measured range the model reproduces the normalized data
    np.testing.assert_allclose(m.evaluate(e, 1.0), normalize_spectrum(e, raw_p), atol=1e-12)
    es = XanesModel("edge-shift", p, c, shift_ev=shift_ev)
    assert es.evaluate(8.37, 0.38) == pytest.approx(p.evaluate(8.37 - shift_ev * 1e-3))


def _spectrum(profile):
    """A spectrum on a fine grid: 0 below 8.33 keV, ``profile`` up to 8.37, 1 above."""
    e = np.linspace(8.25, 8.45, 20001)
    v = np.where(e < 8.33, 0.0, np.where(e > 8.37, 1.0, profile(e)))
    return XanesSpectrum(e, v, "test")


def test_calibration_bias_limits():
    x = np.linspace(0.38, 1.0, 11)
    w = (x - 0.38) / 0.62
    energies = (8.30, 8.35, 8.43)
    # an edge that rises linearly through the edge energy: a shift moves J linearly, no bias
    ramp = _spectrum(lambda e: (e - 8.33) / 0.04)
    b = linear_calibration_bias(XanesModel("edge-shift", ramp, ramp, shift_ev=2.3), energies, x)
    np.testing.assert_allclose(b, 0.0, atol=1e-9)
    # a maximum at the edge energy: J quadratic in the shift, the line misses by
    # (x_p - x_c) w (1 - w), the chord of a parabola, for any shift
    peak = _spectrum(lambda e: 0.5 + 0.5 * (1 - ((e - 8.35) / 0.02) ** 2) * (np.abs(e - 8.35) < 0.02))
    for shift in (0.5, 2.3):
        b = linear_calibration_bias(XanesModel("edge-shift", peak, peak, shift_ev=shift), energies, x)
        np.testing.assert_allclose(b, 0.62 * w * (1 - w), atol=1e-6)
    # mixing spectra: the line is right up to the ratio's small curvature
    assert np.max(np.abs(linear_calibration_bias(XanesModel(), energies, x))) < 0.002
    with pytest.raises(ValueError, match="energies_kev"):
        linear_calibration_bias(XanesModel(), (8.35, 8.30, 8.43), x)


@needs('nmc622_nmc721_NiK_xanes.csv')
def test_calibration_bias_of_the_measured_nmc622():
    p, c, shift_ev = _measured_nmc622_spectra()
    x = np.linspace(0.38, 1.0, 11)
    for model in (XanesModel("linear-combination", p, c), XanesModel("edge-shift", p, c, shift_ev=shift_ev)):
        b = linear_calibration_bias(model, (8.30, 8.35, 8.43), x)
        assert abs(b[0]) < 1e-9 and abs(b[-1]) < 1e-9 and np.all(np.isfinite(b))
