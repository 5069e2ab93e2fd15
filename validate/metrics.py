"""Scores of a Li map against the truth on the same grid.

Every function takes plain arrays on one grid (the truth already brought there by
:func:`validate.grid.truth_on_grid`) and returns a small frozen record; ``compare`` runs
them all. The statistics the pipeline reports (profiles, total Li) are computed for the
truth with the pipeline's own function (`trixanes.pipeline.analyze.analyze`) on the
result's grid, so truth and result are measured alike and a perfect map scores exactly
zero error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from trixanes.io.stats import Stats
from trixanes.pipeline.analyze import analyze
from trixanes.validate.grid import TruthOnGrid
from trixanes.validate.particles import ParticleMatch, match_particles

CLASS_NAMES = ("poor", "moderate", "rich")


def as_dict(record) -> dict:
    """A record's fields as plain Python (arrays become lists)."""
    out = {}
    for f in dataclasses.fields(record):
        v = getattr(record, f.name)
        out[f.name] = v.tolist() if isinstance(v, np.ndarray) else v
    return out


@dataclass(frozen=True)
class VoxelErrors:
    """Voxel-wise error of Li (result - truth) over a mask.

    Attributes
    ----------
    n_mask : int
        Voxels in the mask.
    n : int
        Of those, voxels where the result has a finite value (the ones scored).
    rmse, mae, bias : float
        Root-mean-square, mean absolute and mean error.
    missing_fraction : float
        Fraction of the mask where the result has no value.
    """

    n_mask: int
    n: int
    rmse: float
    mae: float
    bias: float
    missing_fraction: float


def voxel_errors(li_true, li_found, mask) -> VoxelErrors:
    """Voxel error of Li over ``mask`` where both maps are finite.

    Examples
    --------
    >>> t = np.array([0.5, 0.6, 0.7, np.nan]); f = np.array([0.55, 0.65, np.nan, 0.9])
    >>> e = voxel_errors(t, f, np.array([1, 1, 1, 0], bool))
    >>> round(e.bias, 6), round(e.rmse, 6), round(e.missing_fraction, 4)
    (0.05, 0.05, 0.3333)
    """
    li_true, li_found, mask = _same_shape(li_true=li_true, li_found=li_found, mask=mask)
    mask = mask.astype(bool) & np.isfinite(li_true)
    ok = mask & np.isfinite(li_found)
    n_mask, n = int(mask.sum()), int(ok.sum())
    d = li_found[ok].astype(np.float64) - li_true[ok]
    nan = float("nan")
    return VoxelErrors(
        n_mask=n_mask,
        n=n,
        rmse=float(np.sqrt(np.mean(d * d))) if n else nan,
        mae=float(np.mean(np.abs(d))) if n else nan,
        bias=float(np.mean(d)) if n else nan,
        missing_fraction=(n_mask - n) / n_mask if n_mask else nan,
    )


def li_classes(li, x_pristine, x_charged, thresholds=(0.6, 0.9)):
    """Class of each voxel by q = (li - x_c)/(x_p - x_c): 0 poor, 1 moderate, 2 rich.

    Poor is q <= t0, moderate t0 < q < t1, rich q >= t1; -1 where ``li`` is not finite.

    Examples
    --------
    >>> li_classes(np.array([0.38, 0.8, 1.0, np.nan]), 1.0, 0.38).tolist()
    [0, 1, 2, -1]
    """
    t0, t1 = _thresholds(thresholds)
    if not x_pristine > x_charged:
        raise ValueError(f"x_pristine ({x_pristine}) must exceed x_charged ({x_charged})")
    li = np.asarray(li, np.float64)
    q = (li - x_charged) / (x_pristine - x_charged)
    cls = np.where(q <= t0, 0, np.where(q >= t1, 2, 1)).astype(np.int8)
    cls[~np.isfinite(li)] = -1
    return cls


@dataclass(frozen=True)
class ClassConfusion:
    """Li-class confusion (rows: true class, columns: found class; poor, moderate, rich).

    Attributes
    ----------
    matrix : ndarray of int64, (3, 3)
        Voxel counts over voxels valid in both maps.
    accuracy : float
        Trace / total.
    fraction_true, fraction_found : ndarray of float, (3,)
        Volume fraction of each class, each over its own map's active material (the
        statistic the pipeline reports).
    fraction_error : ndarray of float, (3,)
        ``fraction_found - fraction_true``.
    thresholds : tuple of float
    """

    matrix: np.ndarray
    accuracy: float
    fraction_true: np.ndarray
    fraction_found: np.ndarray
    fraction_error: np.ndarray
    thresholds: tuple


def class_confusion(li_true, li_found, am_true, x_pristine, x_charged, thresholds=(0.6, 0.9)):
    """Confusion matrix of Li classes and the error of each class's volume fraction.

    Parameters
    ----------
    li_true, li_found : ndarray of float
        Li maps on one grid (NaN outside each one's AM).
    am_true : ndarray of bool
        True AM mask; the true fractions are taken over it.
    x_pristine, x_charged : float
        Stoichiometries that define q = 0 and q = 1.
    thresholds : (float, float)
        q thresholds poor/moderate and moderate/rich.

    Returns
    -------
    ClassConfusion
    """
    li_true, li_found, am_true = _same_shape(li_true=li_true, li_found=li_found, am_true=am_true)
    ct = li_classes(np.where(am_true, li_true, np.nan), x_pristine, x_charged, thresholds)
    cf = li_classes(li_found, x_pristine, x_charged, thresholds)
    both = (ct >= 0) & (cf >= 0)
    matrix = np.bincount(3 * ct[both] + cf[both], minlength=9).reshape(3, 3).astype(np.int64)
    total = matrix.sum()
    ft, ff = _fractions(ct), _fractions(cf)
    return ClassConfusion(
        matrix=matrix,
        accuracy=float(np.trace(matrix) / total) if total else float("nan"),
        fraction_true=ft,
        fraction_found=ff,
        fraction_error=ff - ft,
        thresholds=_thresholds(thresholds),
    )


@dataclass(frozen=True)
class Segmentation:
    """Overlap of the AM masks: Dice and Jaccard (1 when both are empty)."""

    dice: float
    jaccard: float
    n_true: int
    n_found: int


def segmentation_scores(am_true, am_found) -> Segmentation:
    """Dice and Jaccard index of two AM masks.

    Examples
    --------
    >>> s = segmentation_scores(np.array([1, 1, 0, 0], bool), np.array([0, 1, 1, 0], bool))
    >>> s.dice, round(s.jaccard, 4)
    (0.5, 0.3333)
    """
    a, b = _same_shape(am_true=am_true, am_found=am_found)
    a, b = a.astype(bool), b.astype(bool)
    na, nb = int(a.sum()), int(b.sum())
    inter = int(np.count_nonzero(a & b))
    if na + nb == 0:
        return Segmentation(1.0, 1.0, 0, 0)
    return Segmentation(2 * inter / (na + nb), inter / (na + nb - inter), na, nb)


@dataclass(frozen=True)
class Profile:
    """Mean Li against a coordinate (z or depth), truth and result side by side.

    Attributes
    ----------
    centres_um : ndarray
        Slice positions or depth-bin centres, µm.
    true, found : ndarray
        Mean Li there (NaN where that side has no AM).
    rmse : float
        RMSE of ``found - true`` over the positions where both have a value.
    n : int
        Number of such positions.
    """

    centres_um: np.ndarray
    true: np.ndarray
    found: np.ndarray
    rmse: float
    n: int


def _profile(centres, true, found) -> Profile:
    ok = np.isfinite(true) & np.isfinite(found)
    d = found[ok] - true[ok]
    rmse = float(np.sqrt(np.mean(d * d))) if ok.any() else float("nan")
    return Profile(centres, true, found, rmse, int(ok.sum()))


def profiles(truth_stats: Stats, result_stats: Stats, origin_z_um: float = 0.0) -> tuple[Profile, Profile]:
    """The z and depth profiles of truth and result, both from `trixanes.pipeline.analyze`.

    Both `Stats` come from the same function on the same grid (the truth brought
    onto the result's), and both depth profiles measure depth below the result's
    resolved AM surface, so a perfect map scores exactly 0.

    Returns
    -------
    (Profile, Profile)
        z (slice centres from ``origin_z_um``) and depth (bin centres).
    """
    zt, zf = truth_stats.z_profile, result_stats.z_profile
    z = _profile(origin_z_um + np.asarray(zf.z_um), np.asarray(zt.mean_li), np.asarray(zf.mean_li))
    dt, df = truth_stats.depth_profile, result_stats.depth_profile
    n = max(len(dt.depth_um), len(df.depth_um))

    def pad(v):
        return np.concatenate([np.asarray(v, np.float64), np.full(n - len(v), np.nan)])

    width = df.bin_um
    depth = _profile((np.arange(n) + 0.5) * width, pad(dt.mean_li), pad(df.mean_li))
    return z, depth


@dataclass(frozen=True)
class TotalLi:
    """Mean Li over AM: truth and result with one definition, and the exact truth.

    ``true`` is the mean over the true AM mask on the result grid (the pipeline's
    definition), ``true_exact`` the AM-volume-weighted mean of the fine truth.
    """

    true: float
    found: float
    error: float
    true_exact: float


def total_li(truth: TruthOnGrid, truth_stats: Stats, result_stats: Stats) -> TotalLi:
    """Total (mean) Li content error, result - truth, from the two `Stats` (one definition)."""
    true, found = truth_stats.total_li, result_stats.total_li
    w = np.where(truth.am_fraction > 0, truth.am_fraction, 0.0)
    num = np.nansum(w * truth.li, dtype=np.float64)
    exact = float(num / w.sum()) if w.sum() > 0 else float("nan")
    return TotalLi(true, found, found - true, exact)


@dataclass(frozen=True)
class Scores:
    """All metrics of one result."""

    voxel_am: VoxelErrors
    voxel_interior: VoxelErrors
    classes: ClassConfusion
    segmentation: Segmentation
    particles: ParticleMatch
    z: Profile
    depth: Profile
    total: TotalLi
    truth_stats: Stats
    result_stats: Stats


def compare(truth: TruthOnGrid, li, am_mask, labels, voxel_um, origin_z_um, *,
            x_pristine, x_charged, thresholds=(0.6, 0.9), iou_threshold=0.5) -> Scores:
    """Run every metric on a result already on the truth's grid.

    Parameters
    ----------
    truth : TruthOnGrid
        The truth on the result grid.
    li, am_mask, labels : ndarray, (z, y, x)
        The result's Li map (NaN outside AM), AM mask and particle labels.
    voxel_um : float
        Result voxel size, µm.
    origin_z_um : float
        z of the corner of voxel [0, 0, 0], µm (for the z-profile axis).
    x_pristine, x_charged : float
        Reference stoichiometries.
    thresholds : (float, float)
        Li-class q thresholds.
    iou_threshold : float
        IoU a particle pair needs to match.

    Returns
    -------
    Scores

    Examples
    --------
    >>> from trixanes.validate.grid import truth_on_grid
    >>> phase = np.zeros((6, 6, 6), np.uint8); phase[1:5, 1:5, 1:5] = 3
    >>> li = np.where(phase == 3, 0.8, np.nan).astype(np.float32)
    >>> t = truth_on_grid(li, phase, (phase == 3).astype(np.int32), 1, (0, 0, 0),
    ...                   phase.shape, 1, (0, 0, 0))
    >>> s = compare(t, t.li, t.am_mask, t.labels, 1.0, 0.0, x_pristine=1, x_charged=0.38)
    >>> s.voxel_am.rmse, s.segmentation.dice, s.particles.f1
    (0.0, 1.0, 1.0)
    """
    li, am_mask, labels = _same_shape(li=li, am_mask=am_mask, labels=labels, truth=truth.li)[:3]
    am_mask = am_mask.astype(bool)
    li_true = np.where(truth.am_mask, truth.li, np.nan).astype(np.float32)
    kw = dict(x_pristine=x_pristine, x_charged=x_charged, thresholds=tuple(thresholds))
    # one definition of every statistic: the pipeline's, on both sides, depth below the
    # result's resolved AM surface for both (see trixanes.pipeline.analyze)
    ts = analyze(li_true, truth.am_mask, truth.labels, voxel_um, depth_mask=am_mask, **kw)
    rs = analyze(li, am_mask, labels, voxel_um, **kw)
    z, depth = profiles(ts, rs, origin_z_um)
    return Scores(
        voxel_am=voxel_errors(truth.li, li, truth.am_mask),
        voxel_interior=voxel_errors(truth.li, li, truth.interior),
        classes=class_confusion(truth.li, li, truth.am_mask, x_pristine, x_charged, thresholds),
        segmentation=segmentation_scores(truth.am_mask, am_mask),
        particles=match_particles(truth.labels, labels, truth.li, li, iou_threshold=iou_threshold),
        z=z,
        depth=depth,
        total=total_li(truth, ts, rs),
        truth_stats=ts,
        result_stats=rs,
    )


def _same_shape(**arrays):
    items = [(k, np.asarray(v)) for k, v in arrays.items()]
    name0, a0 = items[0]
    for name, a in items[1:]:
        if a.shape != a0.shape:
            raise ValueError(f"{name} shape {a.shape} differs from {name0} shape {a0.shape}")
    return [a for _, a in items]


def _thresholds(thresholds):
    t0, t1 = (float(t) for t in thresholds)
    if not t0 < t1:
        raise ValueError(f"thresholds must be increasing (t0 < t1), got {thresholds}")
    return (t0, t1)


def _fractions(cls):
    n = np.bincount(cls[cls >= 0].ravel(), minlength=3).astype(np.float64)
    return n / n.sum() if n.sum() else np.full(3, np.nan)
