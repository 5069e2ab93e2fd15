"""Tests of pipeline.limap."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from trixanes.pipeline.limap import edge_jump, li_from_jump, relative_lithiation


def _volumes(seed=0, shape=(6, 7, 8)):
    rng = np.random.default_rng(seed)
    pre = rng.uniform(0.5, 1.0, shape)
    step = rng.uniform(1.0, 2.0, shape)
    J = rng.uniform(0.3, 1.2, shape)
    return pre, pre + J * step, pre + step, J


def test_edge_jump_recovers_J_and_nan_outside_mask():
    pre, edge, post, J = _volumes()
    mask = np.zeros(J.shape, bool)
    mask[1:-1, 1:-1, 1:-1] = True
    r = edge_jump(pre, edge, post, mask)
    np.testing.assert_allclose(r.J[mask], J[mask], rtol=1e-5)
    assert np.isnan(r.J[~mask]).all()
    assert r.J.dtype == np.float32
    assert r.n_valid == mask.sum() and r.n_invalid == 0


def test_small_or_negative_step_is_invalid():
    pre, edge, post, _ = _volumes()
    post[0, 0, 0] = pre[0, 0, 0] - 0.1  # post-edge below pre-edge: unphysical
    post[0, 0, 1] = pre[0, 0, 1] + 1e-6
    pre[0, 0, 2] = np.nan
    mask = np.ones(pre.shape, bool)
    r = edge_jump(pre, edge, post, mask)
    assert r.n_invalid == 3 and np.isnan(r.J[0, 0, :3]).all()
    assert r.n_valid == mask.sum() - 3


@settings(max_examples=30, deadline=None)
@given(a=st.floats(0.01, 100), b=st.floats(-10, 10), seed=st.integers(0, 1000))
def test_J_invariant_to_affine_scale(a, b, seed):
    pre, edge, post, _ = _volumes(seed, (3, 4, 5))
    mask = np.ones(pre.shape, bool)
    J1 = edge_jump(pre, edge, post, mask).J
    J2 = edge_jump(a * pre + b, a * edge + b, a * post + b, mask).J
    np.testing.assert_allclose(J2, J1, rtol=1e-4, atol=1e-5)


def test_calibration_maps_references_onto_stoichiometries():
    Jp, Jc = 1.12, 0.61
    li = li_from_jump(np.array([Jp, Jc, np.nan]), Jp, Jc, 1.0, 0.38)
    np.testing.assert_allclose(li[:2], [1.0, 0.38], rtol=1e-6)
    assert np.isnan(li[2])
    # linear: midpoint J gives midpoint x
    assert li_from_jump((Jp + Jc) / 2, Jp, Jc) == pytest.approx(0.69, abs=1e-6)
    assert li_from_jump(2.0, Jp, Jc, clip=True) == pytest.approx(1.0)
    assert li_from_jump(-1.0, Jp, Jc, clip=True) == pytest.approx(0.38)


def test_relative_lithiation():
    q = relative_lithiation(np.array([1.0, 0.38, 0.69]), 1.0, 0.38)
    np.testing.assert_allclose(q, [1.0, 0.0, 0.5], atol=1e-6)
    # round trip through the calibration: q of li(J) is the fraction of the way from charged to pristine J
    Jp, Jc = 0.9, 0.4
    np.testing.assert_allclose(relative_lithiation(li_from_jump(0.65, Jp, Jc)), 0.5, atol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="J_pristine equals J_charged"):
        li_from_jump(0.5, 0.7, 0.7)
    z = np.zeros((2, 2, 2))
    with pytest.raises(ValueError, match="mu_edge"):
        edge_jump(z, np.zeros((2, 2, 3)), z, z > 0)
    with pytest.raises(ValueError, match="x_pristine"):
        relative_lithiation(0.5, 0.4, 0.4)
