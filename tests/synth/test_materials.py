"""Phase attenuation against xraylib; the XANES Ni K-edge of NMC; projection basis."""

import numpy as np
import pytest
import xraylib
from hypothesis import given, settings
from hypothesis import strategies as st

from trixanes.synth.materials import (
    CBD,
    ELECTROLYTE,
    NMC,
    PHASE_MATERIALS,
    VOID,
    attenuation_basis,
    attenuation_map,
    hat_weights,
    mu_nmc,
    mu_phase,
    ni_k_jump,
    reference_spectra_raw,
)
from trixanes.synth.xanes import XanesModel

MODELS = [XanesModel("linear-combination"), XanesModel("edge-shift")]


def _xraylib_mu(formula, density, e):
    return np.array([xraylib.CS_Total_CP(formula, x) for x in e]) * density * 1e-4


def test_mu_phase_matches_xraylib_per_formula():
    e = np.array([7.0, 8.30, 8.35, 8.43, 10.0])
    np.testing.assert_allclose(mu_phase(NMC, e), _xraylib_mu("LiNi0.5Mn0.3Co0.2O2", 4.75, e), rtol=1e-9)
    expect = sum(w * _xraylib_mu(f, ELECTROLYTE.density_g_cm3, e) for f, w in ELECTROLYTE.components)
    np.testing.assert_allclose(mu_phase(ELECTROLYTE, e), expect, rtol=1e-9)
    assert np.all(mu_phase(VOID, e) == 0)
    assert PHASE_MATERIALS[2] is CBD and PHASE_MATERIALS[3] is NMC


def test_compositions_are_consistent():
    for m in (ELECTROLYTE, CBD, NMC):
        assert sum(w for _, w in m.components) == pytest.approx(1.0)
    # 1.2 mol/L LiPF6 (151.9 g/mol) in 1.30 g/cm3 electrolyte
    assert dict(ELECTROLYTE.components)["LiPF6"] == pytest.approx(1.2 * 151.9 / 1300, rel=0.01)
    # crystallographic density of LiNi0.5Mn0.3Co0.2O2: a = 2.868 A, c = 14.24 A, Z = 3
    v_cm3 = np.sqrt(3) / 2 * 2.868**2 * 14.24 * 1e-24
    rho = 3 * xraylib.CompoundParser("LiNi0.5Mn0.3Co0.2O2")["molarMass"] / (6.02214e23 * v_cm3)
    assert NMC.density_g_cm3 == pytest.approx(rho, rel=0.01)
    assert ELECTROLYTE.density_g_cm3 < CBD.density_g_cm3 < 1.8


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.kind)
def test_nmc_equals_xraylib_away_from_xanes_window(model):
    e = np.concatenate([np.linspace(5.0, 8.2499, 20), np.linspace(8.7001, 12.0, 20)])
    expect = _xraylib_mu("LiNi0.5Mn0.3Co0.2O2", NMC.density_g_cm3, e)
    mu = mu_nmc(e, np.array([0.38, 0.6, 1.0]), model)
    np.testing.assert_allclose(mu, np.repeat(expect[:, None], 3, 1), rtol=1e-6)


def test_k_jump_is_xraylibs_step_and_smooth():
    edge = xraylib.EdgeEnergy(28, xraylib.K_SHELL)
    # the step of Ni's tabulated photo cross section across the edge
    below, above = xraylib.CS_Photo(28, edge - 1e-4), xraylib.CS_Photo(28, edge + 2e-3)
    sigma, tab = ni_k_jump([edge - 1e-4, edge + 2e-3])
    assert tab[0] == 0 and sigma[1] == pytest.approx(above - below, rel=0.01)
    # within 3 % of xraylib's K-shell partial photoionization cross section
    e = np.linspace(edge + 0.002, 9.5, 30)
    partial = np.array([xraylib.CS_Photo_Partial(28, xraylib.K_SHELL, x) for x in e])
    np.testing.assert_allclose(ni_k_jump(e)[0], partial, rtol=0.03)
    # continued smoothly below the edge: no kink in the log-log slope
    ef = np.linspace(edge - 0.08, edge + 0.08, 161)
    slope = np.diff(np.log(ni_k_jump(ef)[0])) / np.diff(np.log(ef))
    assert np.ptp(slope) < 0.5 and np.all(slope < 0)


def test_edge_free_background_is_continuous():
    # mu_NMC with s = 0 everywhere is xraylib without the Ni K step: no jump at the table edge
    class Flat(XanesModel):
        def evaluate(self, energies_kev, li):
            return np.zeros(np.shape(energies_kev) + np.shape(li))

    e = np.linspace(8.32, 8.345, 251)
    base = mu_nmc(e, np.array(1.0), Flat())
    assert np.max(np.abs(np.diff(base))) / base.mean() < 1e-4


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.kind)
def test_edge_absorption_and_jump(model):
    mu = mu_nmc([8.30, 8.35, 8.43], np.array([0.38, 1.0]), model)
    assert mu[1, 1] > mu[1, 0]  # lithiated absorbs more at the edge
    np.testing.assert_allclose(mu[0, 0], mu[0, 1], rtol=1e-6)  # pre-edge independent of Li
    jump = mu[2] - mu[0]
    w_ni = 0.5 * 58.6934 / xraylib.CompoundParser("LiNi0.5Mn0.3Co0.2O2")["molarMass"]
    sig = xraylib.CS_Photo_Partial(28, xraylib.K_SHELL, 8.43)
    # the edge jump is the Ni K-shell cross section times Ni content, within the
    # post-edge wiggles (~1 %) and the smooth background slope (~5 %)
    np.testing.assert_allclose(jump, NMC.density_g_cm3 * w_ni * sig * 1e-4, rtol=0.08)


def test_reference_spectra_raw_keep_sloped_background():
    e = np.linspace(8.25, 8.32, 8)
    p, c = reference_spectra_raw(e, MODELS[0])
    np.testing.assert_allclose(p, _xraylib_mu("LiNi0.5Mn0.3Co0.2O2", 4.75, e), rtol=5e-3)
    assert np.all(np.diff(p) < 0)  # pre-edge falls with energy, as measured raw spectra do
    p2, c2 = reference_spectra_raw([8.35], MODELS[1], x_pristine=0.9, x_charged=0.5)
    assert p2[0] > c2[0]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.kind)
def test_basis_reproduces_mu(model):
    e = np.array([8.30, 8.35, 8.43])
    nodes, w = attenuation_basis(e, model)
    assert w.shape == (3, 2 + nodes.size)
    np.testing.assert_allclose(w[:, 0], mu_phase(ELECTROLYTE, e))
    x = np.linspace(0.38, 1.0, 50)
    approx = w[:, 2:] @ hat_weights(x, nodes).astype(np.float64)
    exact = mu_nmc(e, x, model)
    tol = 1e-6 if model.kind == "linear-combination" else 2e-3
    np.testing.assert_allclose(approx, exact, rtol=tol)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.38, 1.0), min_size=1, max_size=20), st.integers(2, 12))
def test_hat_weights_partition_of_unity(xs, n):
    nodes = np.linspace(0.38, 1.0, n)
    h = hat_weights(np.array(xs), nodes)
    np.testing.assert_allclose(h.sum(0), 1.0, atol=1e-6)
    np.testing.assert_allclose(nodes @ h, xs, atol=1e-6)  # linear precision
    assert np.all(h >= 0) and np.all((h > 0).sum(0) <= 2)


def test_hat_weights_nan_and_range():
    h = hat_weights(np.array([[np.nan, 1.0]]), [0.38, 1.0])
    assert h.shape == (2, 1, 2) and h[:, 0, 0].tolist() == [0, 0]
    with pytest.raises(ValueError, match="li"):
        hat_weights([1.5], [0.38, 1.0])


def test_attenuation_map_by_phase():
    phase = np.array([[0, 1, 2, 3, 3]], np.uint8)
    li = np.array([[np.nan, np.nan, np.nan, 1.0, 0.38]])
    m = attenuation_map(phase, li, 8.35, MODELS[1])
    assert m.dtype == np.float32 and m[0, 0] == 0
    np.testing.assert_allclose(m[0, 3:], mu_nmc(8.35, [1.0, 0.38], MODELS[1])[0], rtol=1e-6)
    with pytest.raises(ValueError, match="li"):
        attenuation_map(phase, np.full(phase.shape, np.nan), 8.35, MODELS[1])
