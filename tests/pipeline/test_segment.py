"""Tests of pipeline.segment."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from trixanes.pipeline.segment import label_particles, segment_phases


def _spheres(shape, spheres):
    zz, yy, xx = np.indices(shape)
    lab = np.zeros(shape, np.int32)
    for k, (c, r) in enumerate(spheres, 1):
        lab[(zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 <= r * r] = k
    return lab


def _random_spheres(seed=3, n=64, count=40):
    rng = np.random.default_rng(seed)
    placed = []
    for _ in range(count):
        c, r = rng.uniform(8, n - 8, 3), rng.uniform(4, 7)
        # keep a gap of >= 2 voxels so the spheres are truly separate
        if all(np.linalg.norm(c - c2) > r + r2 + 2 for c2, r2 in placed):
            placed.append((c, r))
    return _spheres((n, n, n), placed), len(placed)


def test_segmentation_robust_to_noise():
    truth, _ = _random_spheres()
    am = truth > 0
    rng = np.random.default_rng(0)
    cbd = ndi.binary_dilation(am, iterations=2) & ~am & (rng.random(am.shape) < 0.5)
    # AM ~10x more attenuating than CBD and electrolyte at the post-edge; noise 20 % of AM
    v = np.where(am, 10.0, np.where(cbd, 1.5, 0.5)) + rng.normal(0, 2.0, am.shape)
    for method in ("multiotsu", "otsu"):
        s = segment_phases(v.astype(np.float32), method=method)
        dice = 2 * (s.am_mask & am).sum() / (s.am_mask.sum() + am.sum())
        assert dice > 0.97, (method, dice)
        assert 0.5 < s.thresholds[0] < s.thresholds[1] < 10
        assert not (s.am_mask & s.cbd_mask).any() and not (s.am_mask & s.pore_mask).any()
        assert (s.am_mask | s.cbd_mask | s.pore_mask).all()
    # without denoising, thresholding alone leaves specks that the clean-up must remove
    s = segment_phases(v, denoise=None)
    assert ndi.label(s.am_mask)[1] == ndi.label(am)[1]


def test_nan_voxels_belong_to_no_phase():
    truth, _ = _random_spheres(n=40, count=10)
    v = np.where(truth > 0, 10.0, 1.0).astype(np.float32)
    v[:, :, :5] = np.nan
    s = segment_phases(v)
    none = ~(s.am_mask | s.cbd_mask | s.pore_mask)
    np.testing.assert_array_equal(none, np.isnan(v))


@pytest.mark.parametrize("method", ["watershed", "snow"])
def test_separated_spheres_count(method):
    truth, n = _random_spheres()
    lab = label_particles(truth > 0, 0.2, min_diameter_um=1.0, method=method)
    assert lab.dtype == np.int32
    assert lab.max() == n
    np.testing.assert_array_equal(np.unique(lab), np.arange(n + 1))  # consecutive
    # each true sphere is one label
    for k in range(1, n + 1):
        assert np.unique(lab[truth == k]).size == 1


@pytest.mark.parametrize("method", ["watershed", "snow"])
def test_two_touching_spheres_are_split(method):
    r1, r2 = 10, 9
    d = 0.85 * (r1 + r2)  # overlapping by 15 % of the diameters
    truth = _spheres((32, 32, 56), [((16, 16, 12), r1), ((16, 16, 12 + d), r2)])
    am = truth > 0
    assert ndi.label(am)[1] == 1
    lab = label_particles(am, 0.2, min_diameter_um=1.0, method=method)
    assert lab.max() == 2
    # the cut lies near the neck: each sphere's core belongs to one label
    assert lab[16, 16, 12] != lab[16, 16, int(12 + d)]
    agree = max(((lab == 1) & (truth == 1)).sum() + ((lab == 2) & (truth == 2)).sum(),
                ((lab == 2) & (truth == 1)).sum() + ((lab == 1) & (truth == 2)).sum())
    assert agree / am.sum() > 0.95


def test_small_bumps_and_min_diameter():
    # a sphere with a small bump must stay one particle; an isolated speck smaller than
    # min_diameter is still labelled (no AM voxel is left unlabelled)
    truth = _spheres((40, 40, 40), [((20, 20, 20), 10), ((20, 20, 31), 2.5), ((5, 5, 5), 1.5)])
    lab = label_particles(truth > 0, 0.2, min_diameter_um=2.0)
    assert lab.max() == 2
    assert (lab > 0).sum() == (truth > 0).sum()


def test_anisotropic_and_errors():
    truth = _spheres((30, 30, 60), [((15, 15, 15), 8), ((15, 15, 45), 8)])
    assert label_particles(truth > 0, (0.2, 0.2, 0.2)).max() == 2
    assert label_particles(np.zeros((4, 4, 4), bool), 0.2).max() == 0
    with pytest.raises(ValueError, match="method"):
        label_particles(truth > 0, 0.2, method="x")
    with pytest.raises(ValueError, match="voxel_size_um"):
        label_particles(truth > 0, 0)
    with pytest.raises(ValueError, match="post_volume"):
        segment_phases(np.ones((4, 4, 4)))


def test_median_option_and_bad_denoise():
    truth, _ = _random_spheres(n=40, count=10)
    v = np.where(truth > 0, 10.0, 1.0) + np.random.default_rng(2).normal(0, 1.0, truth.shape)
    s = segment_phases(v, denoise="median")
    assert 2 * (s.am_mask & (truth > 0)).sum() / (s.am_mask.sum() + (truth > 0).sum()) > 0.9
    with pytest.raises(ValueError, match="denoise"):
        segment_phases(v, denoise="bilateral")


def _ellipsoids(shape, ellipsoids):
    """Label each voxel with the ellipsoid of largest radial depth 1 - |A(x - c)|."""
    zz, yy, xx = np.indices(shape, dtype=float)
    best = np.zeros(shape)
    lab = np.zeros(shape, np.int32)
    for k, (c, axes) in enumerate(ellipsoids, 1):
        rho = np.sqrt(sum(((g - ci) / a) ** 2 for g, ci, a in zip((zz, yy, xx), c, axes)))
        depth = 1 - rho
        take = (depth >= 0) & ((lab == 0) | (depth > best))
        lab[take], best[take] = k, depth[take]
    return lab


def _agreement(lab, truth):
    """Fraction of the mask in the found label that is each true label's majority.

    A label serving as majority for two true particles counts once (a merge scores
    below 1).
    """
    best = {}
    for k in range(1, truth.max() + 1):
        counts = np.bincount(lab[truth == k])
        f = int(counts.argmax())
        best[f] = max(best.get(f, 0), counts[f])
    return sum(best.values()) / (truth > 0).sum()


@pytest.mark.parametrize("small, overlap", [((5.0, 6.0, 6.0), 0.15), ((6.0, 7.0, 7.0), 0.25)])
def test_overlapping_ellipsoids_of_different_sizes(small, overlap):
    # a big ellipsoid and a smaller one pressed into it by ``overlap`` of the sum of
    # their semi-axes along the line of centres: the smaller one's distance peak rises
    # less than a voxel above the saddle (an h of one voxel merged both)
    a1 = (11.0, 9.0, 12.0)
    d = (1 - overlap) * (a1[2] + small[2])
    truth = _ellipsoids((32, 32, 50), [((16, 16, 14), a1), ((16, 16, 14 + d), small)])
    am = truth > 0
    assert ndi.label(am)[1] == 1
    lab = label_particles(am, 0.2, min_diameter_um=1.0)
    assert lab.max() == 2
    assert lab[16, 16, 14] != lab[16, 16, int(round(14 + d))]
    assert _agreement(lab, truth) > 0.9


@pytest.mark.parametrize("r_mid", [7.0, 5.0])
def test_chain_of_three_overlapping_spheres(r_mid):
    # centres 0.85 (r_i + r_j) apart; with a small middle sphere (r = 5) its peak is
    # within a voxel of both saddles
    r = (9.0, r_mid, 8.0)
    x1 = 11.0
    x2 = x1 + 0.85 * (r[0] + r[1])
    x3 = x2 + 0.85 * (r[1] + r[2])
    truth = _spheres((26, 26, int(x3 + r[2] + 3)),
                     [((13, 13, x1), r[0]), ((13, 13, x2), r[1]), ((13, 13, x3), r[2])])
    am = truth > 0
    assert ndi.label(am)[1] == 1
    lab = label_particles(am, 0.2, min_diameter_um=1.0)
    assert lab.max() == 3
    assert len({lab[13, 13, int(round(x))] for x in (x1, x2, x3)}) == 3
    assert _agreement(lab, truth) > 0.9


def test_internal_pore_does_not_split_a_particle():
    # an enclosed pore off-centre makes two distance maxima in the raw mask
    truth = _spheres((34, 34, 34), [((17, 17, 17), 13)])
    am = truth > 0
    am[15:20, 15:20, 15:20] = False
    assert label_particles(am, 0.2).max() == 1


def _cut_chain():
    # a chain of overlapping spheres whose centres lie on the top face of the
    # volume: the face cuts every particle through its middle
    r = (9.0, 6.0, 8.0, 7.0)
    x = [10.0]
    for a, b in zip(r, r[1:]):
        x.append(x[-1] + 0.8 * (a + b))
    truth = _spheres((14, 22, int(x[-1] + r[-1] + 3)), [((0, 11, xi), ri) for xi, ri in zip(x, r)])
    return truth, x


def test_unmeasured_end_slabs_are_not_particle_surfaces():
    # registration and binning leave a few rows at the z ends without data (NaN, so
    # outside every phase): the cut they make is not a surface, and the labels are
    # those of the volume without these rows (the array faces are not surfaces either)
    truth, _ = _cut_chain()
    am = truth > 0
    ref = label_particles(am, 0.2, min_diameter_um=1.0)
    for lo, hi in ((1, 0), (2, 1), (3, 3)):
        padded = np.pad(am, ((lo, hi), (0, 0), (0, 0)))
        lab = label_particles(padded, 0.2, min_diameter_um=1.0)
        np.testing.assert_array_equal(lab[lo:padded.shape[0] - hi], ref)
        # the same when the measured region is given explicitly
        measured = np.zeros(padded.shape, bool)
        measured[lo:padded.shape[0] - hi] = True
        lab = label_particles(padded, 0.2, min_diameter_um=1.0, measured=measured)
        np.testing.assert_array_equal(lab[lo:padded.shape[0] - hi], ref)


def test_thick_empty_slab_and_measured_volume_are_void():
    # a void thicker than MAX_UNMEASURED_SLAB_VOX above the sample, or one declared
    # measured, is a real surface: its particles' distance maps stop there
    from trixanes.pipeline.segment import MAX_UNMEASURED_SLAB_VOX, _unmeasured_end_slabs

    truth, _ = _cut_chain()
    am = np.pad(truth > 0, ((MAX_UNMEASURED_SLAB_VOX + 1, 0), (0, 0), (0, 0)))
    assert not _unmeasured_end_slabs(am).any()
    thin = np.pad(truth > 0, ((2, 0), (0, 0), (0, 0)))
    assert _unmeasured_end_slabs(thin)[:2].all() and not _unmeasured_end_slabs(thin)[2:].any()
    lab = label_particles(thin, 0.2, measured=np.ones(thin.shape, bool))
    lab_void = label_particles(am, 0.2)
    np.testing.assert_array_equal(lab, lab_void[MAX_UNMEASURED_SLAB_VOX - 1:])
    with pytest.raises(ValueError, match="measured"):
        label_particles(thin, 0.2, measured=np.ones((2, 2, 2), bool))


def test_particles_cut_by_the_field_of_view_keep_their_own_label():
    truth, x = _cut_chain()
    am = np.pad(truth > 0, ((2, 0), (0, 0), (0, 0)))
    lab = label_particles(am, 0.2, min_diameter_um=1.0)
    assert lab.max() == len(x)
    assert len({lab[2, 11, int(round(xi))] for xi in x}) == len(x)
    assert _agreement(lab[2:], truth) > 0.9
