"""Tests of validate.grid: the truth brought onto the result grid."""

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trixanes.validate.grid import truth_on_grid


def random_truth(shape, seed, am_prob=0.6):
    rng = np.random.default_rng(seed)
    phase = np.where(rng.random(shape) < am_prob, 3, rng.integers(0, 3, shape)).astype(np.uint8)
    li = np.where(phase == 3, rng.uniform(0.38, 1.0, shape), np.nan).astype(np.float32)
    labels = np.where(phase == 3, rng.integers(1, 4, shape), 0).astype(np.int32)
    return li, phase, labels


def brute_force(li, phase, labels, k, off=(0, 0, 0)):
    """Coarse voxel by coarse voxel, with explicit loops: the reference."""
    shape = tuple(s // k for s in li.shape)
    frac = np.zeros(shape)
    mean = np.full(shape, np.nan)
    lab = np.zeros(shape, int)
    for idx in np.ndindex(shape):
        sl = tuple(slice(o + k * i, o + k * (i + 1)) for i, o in zip(idx, off))
        am = phase[sl] == 3
        frac[idx] = am.sum() / k**3
        if am.any():
            mean[idx] = li[sl][am].astype(np.float64).mean()
            ids, n = np.unique(labels[sl][am], return_counts=True)
            lab[idx] = ids[np.argmax(n)] if frac[idx] >= 0.5 else 0  # argmax: lowest on ties
    return frac, mean, lab


@pytest.mark.parametrize("k", [1, 2, 3])
def test_block_mean_matches_brute_force(k):
    li, phase, labels = random_truth((9, 6, 12), seed=k)
    g = truth_on_grid(li, phase, labels, 0.1, (0, 0, 0), (9 // k, 6 // k, 12 // k),
                      0.1 * k, (0, 0, 0))
    frac, mean, lab = brute_force(li, phase, labels, k)
    assert "block mean" in g.method
    np.testing.assert_allclose(g.am_fraction, frac, atol=1e-6)
    np.testing.assert_allclose(g.li, mean, rtol=1e-5, equal_nan=True)
    np.testing.assert_array_equal(g.labels, lab)
    np.testing.assert_array_equal(g.am_mask, frac >= 0.5)
    assert g.li.dtype == np.float32 and g.labels.dtype == np.int32


@settings(max_examples=15, deadline=None)
@given(k=st.integers(1, 4), n=st.tuples(*[st.integers(1, 4)] * 3), seed=st.integers(0, 10**6),
       p=st.floats(0.0, 1.0))
def test_block_average_conserves_am_volume_and_li(k, n, seed, p):
    shape = tuple(k * m for m in n)
    li, phase, labels = random_truth(shape, seed, am_prob=p)
    g = truth_on_grid(li, phase, labels, 0.2, (1.0, -2.0, 0.5), n, 0.2 * k, (1.0, -2.0, 0.5))
    am = phase == 3
    assert np.all((g.am_fraction >= 0) & (g.am_fraction <= 1))
    # Li weighted by AM volume is conserved: sum(li * fraction) * k^3 = sum over fine AM.
    assert g.am_fraction.sum() * k**3 == pytest.approx(am.sum(), abs=1e-3)
    total = np.nansum(g.li.astype(np.float64) * g.am_fraction) * k**3
    assert total == pytest.approx(li[am].astype(np.float64).sum(), rel=1e-5, abs=1e-5)
    assert np.isnan(g.li[g.am_fraction == 0]).all()
    assert np.isfinite(g.li[g.am_fraction > 0]).all()


def test_offset_origin_integer_and_beyond_truth():
    li, phase, labels = random_truth((8, 8, 8), seed=3)
    # Shift by one truth voxel (0.1 µm) along x: still the block path, with an offset.
    g = truth_on_grid(li, phase, labels, 0.1, (0, 0, 0), (4, 4, 4), 0.2, (0, 0, 0.1))
    assert "block mean" in g.method and "(0, 0, 1)" in g.method
    padded = [np.pad(a, ((0, 0), (0, 0), (0, 1)), constant_values=c)
              for a, c in ((li, np.nan), (phase, 0), (labels, 0))]
    frac, mean, lab = brute_force(*padded, 2, off=(0, 0, 1))
    np.testing.assert_allclose(g.am_fraction, frac, atol=1e-6)
    np.testing.assert_allclose(g.li, mean, rtol=1e-5, equal_nan=True)
    np.testing.assert_array_equal(g.labels, lab)


def test_volume_weighted_half_voxel_offset_is_analytic():
    # AM in x >= 4 truth voxels; a result grid of the same voxel size shifted by half a
    # voxel sees a 50 % AM voxel at the edge, and means of neighbour pairs for Li.
    phase = np.zeros((2, 2, 8), np.uint8)
    phase[..., 4:] = 3
    li = np.where(phase == 3, np.linspace(0.4, 1.0, 8), np.nan).astype(np.float32)
    g = truth_on_grid(li, phase, (phase == 3).astype(np.int32), 1.0, (0, 0, 0),
                      (2, 2, 7), 1.0, (0, 0, 0.5))
    assert "volume-weighted" in g.method
    np.testing.assert_allclose(g.am_fraction[0, 0], [0, 0, 0, 0.5, 1, 1, 1], atol=1e-6)
    x = np.linspace(0.4, 1.0, 8)
    expect = [np.nan] * 3 + [x[4]] + list((x[4:7] + x[5:8]) / 2)
    np.testing.assert_allclose(g.li[0, 0], expect, rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(g.labels[0, 0], [0, 0, 0, 1, 1, 1, 1])


@pytest.mark.parametrize("eps", [1e-3, -1e-3])
def test_general_path_is_continuous_with_block_path(eps):
    li, phase, labels = random_truth((12, 12, 12), seed=5)
    block = truth_on_grid(li, phase, labels, 0.1, (0, 0, 0), (6, 6, 6), 0.2, (0, 0, 0))
    near = truth_on_grid(li, phase, labels, 0.1, (0, 0, 0), (6, 6, 6), 0.2 * (1 + eps),
                         (0, 0, 0))
    assert "volume-weighted" in near.method
    np.testing.assert_allclose(near.am_fraction, block.am_fraction, atol=0.03)
    ok = block.am_fraction > 0.25
    np.testing.assert_allclose(near.li[ok], block.li[ok], atol=0.03)


@settings(max_examples=10, deadline=None)
@given(ratio=st.floats(1.1, 3.7), shift=st.floats(-0.5, 0.5), seed=st.integers(0, 1000))
def test_volume_weighted_conserves_li_when_grid_covers_truth(ratio, shift, seed):
    li, phase, labels = random_truth((7, 5, 6), seed)
    tv = 0.1
    rv = tv * ratio
    origin = (shift * tv - rv, -rv, 0.0)  # starts before the truth, so it covers it all
    shape = tuple(int(np.ceil((n * tv - o) / rv)) + 1 for n, o in zip(li.shape, origin))
    g = truth_on_grid(li, phase, labels, tv, (0, 0, 0), shape, rv, origin)
    am = phase == 3
    assert np.all((g.am_fraction >= 0) & (g.am_fraction <= 1 + 1e-6))
    assert g.am_fraction.sum() * ratio**3 == pytest.approx(am.sum(), rel=1e-5)
    total = np.nansum(g.li.astype(np.float64) * g.am_fraction) * ratio**3
    assert total == pytest.approx(li[am].astype(np.float64).sum(), rel=1e-5)


def test_interior_is_cube_eroded_by_one_voxel():
    phase = np.zeros((20, 20, 20), np.uint8)
    phase[2:14, 4:16, 2:18] = 3  # coarse (k=2): [1:7, 2:8, 1:9]
    li = np.where(phase == 3, 0.9, np.nan).astype(np.float32)
    g = truth_on_grid(li, phase, (phase == 3).astype(np.int32), 1, (0, 0, 0), (10, 10, 10),
                      2, (0, 0, 0))
    expect = np.zeros((10, 10, 10), bool)
    expect[2:6, 3:7, 2:8] = True
    np.testing.assert_array_equal(g.interior, expect)
    # An AM block touching the volume edge is not interior there (unknown beyond).
    phase[:] = 3
    g = truth_on_grid(np.full(phase.shape, 0.9, np.float32), phase, np.ones_like(phase, np.int32),
                      1, (0, 0, 0), (10, 10, 10), 2, (0, 0, 0))
    assert g.interior.sum() == 8**3


def test_majority_label_ignores_non_am_and_low_fraction():
    phase = np.full((2, 2, 4), 3, np.uint8)
    labels = np.array([[[1, 2, 5, 5], [2, 2, 5, 5]], [[1, 2, 5, 5], [1, 2, 5, 5]]], np.int32)
    phase[:, :, 3] = 1  # right block: 4 of 8 voxels AM -> fraction 0.5, label 5
    phase[0, 0, 2] = 1  # now 3 of 8 -> fraction < 0.5 -> label 0
    li = np.where(phase == 3, 0.5, np.nan).astype(np.float32)
    g = truth_on_grid(li, phase, labels, 1, (0, 0, 0), (1, 1, 2), 2, (0, 0, 0))
    assert g.labels[0, 0].tolist() == [2, 0]
    assert g.am_fraction[0, 0].tolist() == [1.0, 0.375]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(truth_voxel_um=0), "truth_voxel_um"),
        (dict(result_voxel_um=-1), "result_voxel_um"),
        (dict(result_origin_um=(0, 0)), "result_origin_um"),
        (dict(result_shape=(2, 2, 0)), "result_shape"),
        (dict(phase=np.zeros((4, 4, 3), np.uint8)), "phase"),
        (dict(labels=np.zeros((4, 4, 4), np.float32)), "labels"),
        (dict(li=np.full((4, 4, 4), np.nan, np.float32)), "li must be finite"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, match):
    args = dict(li=np.full((4, 4, 4), 0.5, np.float32), phase=np.full((4, 4, 4), 3, np.uint8),
                labels=np.ones((4, 4, 4), np.int32), truth_voxel_um=1.0,
                truth_origin_um=(0, 0, 0), result_shape=(2, 2, 2), result_voxel_um=2.0,
                result_origin_um=(0, 0, 0))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        truth_on_grid(**args)


def test_speed_of_block_path():
    li, phase, labels = random_truth((128, 128, 128), seed=0)
    truth_on_grid(li[:8, :8, :8], phase[:8, :8, :8], labels[:8, :8, :8], 1, (0, 0, 0),
                  (2, 2, 2), 4, (0, 0, 0))  # compile
    t0 = time.perf_counter()
    truth_on_grid(li, phase, labels, 1, (0, 0, 0), (32, 32, 32), 4, (0, 0, 0))
    assert time.perf_counter() - t0 < 5.0
