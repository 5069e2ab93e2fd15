"""Tests of pipeline.binning."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from trixanes.pipeline.binning import bin_mask, bin_volume, suggest_binning, voxel_size3


@settings(max_examples=25, deadline=None)
@given(
    f=st.integers(1, 4),
    blocks=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)),
    data=st.data(),
)
def test_binning_keeps_the_mean(f, blocks, data):
    shape = tuple(b * f for b in blocks)
    v = data.draw(arrays(np.float64, shape, elements=st.floats(-100, 100)))
    b = bin_volume(v, f)
    assert b.shape == blocks
    assert b.dtype == np.float32
    np.testing.assert_allclose(b.mean(), v.mean(), rtol=1e-5, atol=1e-4)


def test_block_values_and_remainder_cropped():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(7, 9, 5))
    b = bin_volume(v, 2)
    assert b.shape == (3, 4, 2)
    np.testing.assert_allclose(b[1, 2, 0], v[2:4, 4:6, 0:2].mean(), rtol=1e-6)
    np.testing.assert_array_equal(bin_volume(v, 1), v.astype(np.float32))


def test_nan_handling_and_weights():
    v = np.ones((2, 2, 4))
    v[0, 0, 0] = np.nan
    v[:, :, 2:] = np.nan
    assert np.isnan(bin_volume(v, 2)).all()
    b = bin_volume(v, 2, ignore_nan=True)
    assert b[0, 0, 0] == 1.0 and np.isnan(b[0, 0, 1])
    w = np.zeros((2, 2, 2)); w[0, 0, 0] = 1
    v2 = np.arange(8.0).reshape(2, 2, 2)
    assert bin_volume(v2, 2, weights=w)[0, 0, 0] == 0.0
    assert np.isnan(bin_volume(v2, 2, weights=np.zeros_like(v2))[0, 0, 0])


def test_bin_mask_fraction():
    m = np.zeros((2, 2, 4), bool)
    m[:, :, :2].flat[:4] = True  # exactly half of the first block
    m[:, :, 2:].flat[:3] = True
    out = bin_mask(m, 2)
    assert out[0, 0, 0] and not out[0, 0, 1]
    assert not bin_mask(m, 2, min_fraction=0.6)[0, 0, 0]


def test_suggest_binning_rule():
    assert suggest_binning(0.030) == 7  # the paper: 7 x 30 nm = 210 nm
    assert suggest_binning(0.020) == 10
    assert suggest_binning(1.0) == 1
    assert suggest_binning(0.001, max_factor=16) == 16


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_factor(bad):
    with pytest.raises(ValueError, match="factor"):
        bin_volume(np.zeros((4, 4, 4)), bad)


def test_bad_inputs():
    with pytest.raises(ValueError, match="exceeds"):
        bin_volume(np.zeros((2, 4, 4)), 3)
    with pytest.raises(ValueError, match="voxel_size_um"):
        voxel_size3(-1)
    with pytest.raises(ValueError, match="min_fraction"):
        bin_mask(np.zeros((2, 2, 2), bool), 2, min_fraction=0)
