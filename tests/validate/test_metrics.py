"""Tests of validate.metrics and validate.particles on synthetic spheres."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

from trixanes.validate.grid import truth_on_grid
from trixanes.validate.metrics import (
    class_confusion,
    compare,
    li_classes,
    segmentation_scores,
    voxel_errors,
)
from trixanes.validate.particles import contingency, match_particles

XP, XC = 1.0, 0.38
VOX = 0.25
SPHERES = [((10, 10, 10), 6, 0.45), ((10, 26, 12), 6.5, 0.75), ((26, 12, 24), 7, 1.0),
           ((26, 27, 27), 5.5, 0.6)]


@pytest.fixture(scope="module")
def fine_truth():
    """Four separate spheres on a 36^3 grid, Li rising from surface to core."""
    shape = (36, 36, 36)
    zz, yy, xx = np.indices(shape)
    phase = np.ones(shape, np.uint8)
    labels = np.zeros(shape, np.int32)
    core = np.zeros(shape)
    for i, (c, r, x_core) in enumerate(SPHERES, start=1):
        inside = (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 <= r * r
        phase[inside], labels[inside], core[inside] = 3, i, x_core
    depth = ndi.distance_transform_edt(phase == 3) * VOX
    li = core - (core - XC) * np.exp(-depth / 0.3)
    li = np.where(phase == 3, li, np.nan).astype(np.float32)
    return li, phase, labels


def on_grid(fine_truth, k):
    li, phase, labels = fine_truth
    shape = tuple(n // k for n in li.shape)
    return truth_on_grid(li, phase, labels, VOX, (0, 0, 0), shape, VOX * k, (0, 0, 0))


def result_from(truth, shift=None, offset=0.0):
    """A limap made from the truth on its grid, optionally shifted or offset."""
    li = np.where(truth.am_mask, truth.li + offset, np.nan).astype(np.float32)
    am, lab = truth.am_mask.copy(), truth.labels.copy()
    if shift is not None:
        li, am, lab = (np.roll(a, 1, axis=shift) for a in (li, am, lab))
    return li, am, lab


def score(truth, res, k):
    return compare(truth, *res, VOX * k, 0.0, x_pristine=XP, x_charged=XC)


@pytest.mark.parametrize("k", [1, 2])
def test_truth_against_itself_is_perfect(fine_truth, k):
    t = on_grid(fine_truth, k)
    s = score(t, result_from(t), k)
    for v in (s.voxel_am, s.voxel_interior):
        assert v.n > 0 and v.rmse == 0 and v.mae == 0 and v.bias == 0
        assert v.missing_fraction == 0
    assert s.segmentation.dice == 1 and s.segmentation.jaccard == 1
    p = s.particles
    assert (p.n_true, p.n_found, p.n_matched) == (4, 4, 4)
    assert p.f1 == 1 and p.n_merged == 0 and p.n_split == 0 and np.all(p.iou == 1)
    assert p.to_dict()["mean_li"]["mae"] == 0
    m = s.classes.matrix
    assert np.all(m == np.diag(np.diag(m))) and s.classes.accuracy == 1
    assert np.all(np.diag(m) > 0), "phantom should populate all three classes"
    assert np.all(s.classes.fraction_error == 0)
    assert s.z.rmse == 0 and s.z.n > 0 and s.depth.rmse == 0 and s.depth.n > 2
    assert s.total.error == 0


def test_li_offset_moves_li_metrics_only(fine_truth):
    t = on_grid(fine_truth, 2)
    s = score(t, result_from(t, offset=0.05), 2)
    for v in (s.voxel_am, s.voxel_interior):
        assert v.bias == pytest.approx(0.05, abs=1e-6)
        assert v.rmse == pytest.approx(0.05, abs=1e-6)
        assert v.mae == pytest.approx(0.05, abs=1e-6)
    assert s.total.error == pytest.approx(0.05, abs=1e-6)
    assert s.segmentation.dice == 1 and s.particles.f1 == 1
    d = s.particles.to_dict()["mean_li"]
    assert d["mae"] == pytest.approx(0.05, abs=1e-6)
    assert d["bias"] == pytest.approx(0.05, abs=1e-6)
    assert d["max_abs"] == pytest.approx(0.05, abs=1e-6)
    assert s.z.rmse == pytest.approx(0.05, abs=1e-6)
    assert s.depth.rmse == pytest.approx(0.05, abs=1e-6)


def test_one_voxel_shift_moves_exactly_the_spatial_metrics(fine_truth):
    t = on_grid(fine_truth, 1)
    s = score(t, result_from(t, shift=2), 1)  # along x
    # Moves: overlap-based scores and voxel errors.
    assert 0.7 < s.segmentation.dice < 0.95
    assert s.segmentation.jaccard < s.segmentation.dice
    assert s.voxel_am.rmse > 0.02 and s.voxel_interior.rmse > 0
    assert s.voxel_am.missing_fraction > 0
    assert np.all(s.particles.iou < 1) and s.classes.accuracy < 1
    # Does not move: content is the same, only displaced.
    assert s.particles.f1 == 1
    assert s.particles.to_dict()["mean_li"]["max_abs"] < 1e-6
    assert abs(s.total.error) < 1e-6
    assert np.abs(s.classes.fraction_error).max() < 1e-12
    assert s.z.rmse < 1e-6  # the shift is within each z slice
    # both depth profiles measure from the result's resolved surface: a displaced map
    # puts true Li at the wrong depth, as it puts it in the wrong voxel
    assert s.depth.rmse > 1e-3
    # A shift along z does move the z-profile.
    assert score(t, result_from(t, shift=0), 1).z.rmse > 1e-3


def test_total_li_exact_equals_fine_mean(fine_truth):
    li, phase, _ = fine_truth
    t = on_grid(fine_truth, 3)
    s = score(t, result_from(t), 3)
    assert s.total.true_exact == pytest.approx(float(np.mean(li[phase == 3], dtype=np.float64)),
                                               rel=1e-6)


def test_voxel_errors_missing_and_mask():
    t = np.array([0.5, 0.6, 0.7, 0.8, np.nan])
    f = np.array([0.6, 0.5, np.nan, 0.8, 0.1])
    e = voxel_errors(t, f, np.ones(5, bool))
    assert (e.n_mask, e.n) == (4, 3)
    assert e.missing_fraction == pytest.approx(0.25)
    assert e.rmse == pytest.approx(np.sqrt(0.02 / 3))
    assert e.mae == pytest.approx(0.2 / 3) and e.bias == pytest.approx(0.0, abs=1e-15)
    assert np.isnan(voxel_errors(t, f, np.zeros(5, bool)).rmse)
    with pytest.raises(ValueError, match="li_found"):
        voxel_errors(t, f[:3], np.ones(5, bool))


def test_li_classes_thresholds_and_boundaries():
    # q = 0.6 and 0.9 exactly: x = 0.38 + 0.62 q.
    x = XC + (XP - XC) * np.array([0.0, 0.6, 0.6001, 0.8999, 0.9, 1.2])
    assert li_classes(x, XP, XC).tolist() == [0, 0, 1, 1, 2, 2]
    assert li_classes(x, XP, XC, thresholds=(0.3, 0.7)).tolist() == [0, 1, 1, 2, 2, 2]
    with pytest.raises(ValueError, match="thresholds"):
        li_classes(x, XP, XC, thresholds=(0.9, 0.6))
    with pytest.raises(ValueError, match="x_pristine"):
        li_classes(x, 0.3, XC)


def test_class_confusion_counts_and_fraction_error():
    q_true = np.array([0.1, 0.1, 0.7, 0.7, 0.95, 0.95, 0.95, 0.95])
    q_found = np.array([0.1, 0.7, 0.7, 0.95, 0.95, 0.95, 0.95, np.nan])
    to_x = lambda q: XC + (XP - XC) * q  # noqa: E731
    c = class_confusion(to_x(q_true), to_x(q_found), np.ones(8, bool), XP, XC)
    np.testing.assert_array_equal(c.matrix, [[1, 1, 0], [0, 1, 1], [0, 0, 3]])
    assert c.accuracy == pytest.approx(5 / 7)
    np.testing.assert_allclose(c.fraction_true, [2 / 8, 2 / 8, 4 / 8])
    np.testing.assert_allclose(c.fraction_found, [1 / 7, 2 / 7, 4 / 7])
    np.testing.assert_allclose(c.fraction_error, c.fraction_found - c.fraction_true)


def test_segmentation_scores():
    a = np.zeros((4, 4), bool)
    b = a.copy()
    a[:2] = True  # 8 voxels
    b[1:3] = True  # 8 voxels, 4 shared
    s = segmentation_scores(a, b)
    assert s.dice == pytest.approx(0.5) and s.jaccard == pytest.approx(1 / 3)
    assert segmentation_scores(a & False, b & False).dice == 1


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 300))
def test_contingency_matches_brute_force(seed, n):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 5, n), rng.integers(0, 7, n)
    t, f, c = contingency(a, b)
    expect = {(i, j): int(np.sum((a == i) & (b == j))) for i in range(1, 5) for j in range(1, 7)}
    expect = {key: v for key, v in expect.items() if v}
    assert dict(zip(zip(t.tolist(), f.tolist()), c.tolist())) == expect


def test_merged_split_and_missed_particles():
    t = np.zeros((1, 1, 40), np.int32)
    t[..., 0:10], t[..., 10:20], t[..., 22:32], t[..., 34:38] = 1, 2, 3, 4
    f = np.zeros_like(t)
    f[..., 0:21] = 7  # merges true 1 and 2 (IoU 10/21 with each: no match)
    f[..., 22:26], f[..., 26:32] = 8, 9  # split true 3 (IoU 0.4 and 0.6)
    li_t = np.full(t.shape, 0.5)
    li_f = np.full(t.shape, 0.6)
    m = match_particles(t, f, li_t, li_f)
    assert (m.n_true, m.n_found) == (4, 3)
    assert (m.n_merged, m.n_split) == (1, 1)
    assert m.n_matched == 1 and m.found_ids.tolist() == [9] and m.true_ids.tolist() == [3]
    assert m.precision == pytest.approx(1 / 3) and m.recall == pytest.approx(1 / 4)
    assert m.f1 == pytest.approx(2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4))
    assert m.to_dict()["mean_li"]["bias"] == pytest.approx(0.1)
    assert match_particles(t, f, li_t, li_f, iou_threshold=0.65).n_matched == 0
    assert match_particles(t, f, li_t, li_f, iou_threshold=0.4).n_matched == 2


def test_particle_mean_uses_each_sides_own_voxels():
    t = np.zeros((1, 1, 10), np.int32)
    t[..., 1:9] = 1
    f = np.zeros_like(t)
    f[..., 2:9] = 3  # IoU 7/8
    li_t = np.linspace(0.4, 1.0, 10)[None, None]
    m = match_particles(t, f, li_t, li_t)
    assert m.li_true[0] == pytest.approx(li_t[0, 0, 1:9].mean())
    assert m.li_found[0] == pytest.approx(li_t[0, 0, 2:9].mean())
    with pytest.raises(ValueError, match="iou_threshold"):
        match_particles(t, f, li_t, li_t, iou_threshold=0)


def test_profiles_and_total_come_from_the_pipelines_statistics(fine_truth):
    """One definition: the scores' profiles are analyze()'s, the truth's depth from the result's surface."""
    from trixanes.pipeline.analyze import analyze

    t = on_grid(fine_truth, 2)
    li, am, lab = result_from(t, offset=0.03)
    am[:, :, :2] = False  # the result misses a face: its surface differs from the truth's
    li[~am] = np.nan
    s = score(t, (li, am, lab), 2)
    ts = analyze(np.where(t.am_mask, t.li, np.nan), t.am_mask, t.labels, 2 * VOX, x_pristine=XP,
                 x_charged=XC, depth_mask=am)
    rs = analyze(li, am, lab, 2 * VOX, x_pristine=XP, x_charged=XC)
    np.testing.assert_array_equal(s.truth_stats.depth_profile.mean_li, ts.depth_profile.mean_li)
    np.testing.assert_array_equal(s.result_stats.z_profile.mean_li, rs.z_profile.mean_li)
    n = len(rs.depth_profile.mean_li)
    np.testing.assert_array_equal(s.depth.found[:n], rs.depth_profile.mean_li)
    np.testing.assert_array_equal(s.z.true, ts.z_profile.mean_li)
    assert s.total.true == ts.total_li and s.total.found == rs.total_li
    assert s.total.error == pytest.approx(rs.total_li - ts.total_li)
