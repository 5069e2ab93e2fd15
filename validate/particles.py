"""Particle matching between true and found labels, and per-particle Li errors.

Overlaps of every (true, found) label pair come from one pass over the paired labels
(a sparse contingency table by ``np.unique`` on a combined key), never from a dense
n_true x n_found loop over the volume.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True)
class ParticleMatch:
    """Matched particles and the scores derived from them.

    Attributes
    ----------
    n_true, n_found, n_matched : int
        Particles in the truth, in the result, and matched (IoU >= threshold).
    precision, recall, f1 : float
        Matching scores (1 when both sides have no particle).
    n_merged : int
        Found particles each covering at least two true particles (more than half of
        each of them).
    n_split : int
        True particles each covering at least two found particles (more than half of
        each of them).
    iou_threshold : float
        IoU a pair needs to be matched.
    true_ids, found_ids : ndarray of int
        Matched pairs.
    iou : ndarray of float
        Their IoU.
    li_true, li_found : ndarray of float
        Mean Li of each matched particle, each over its own voxels.
    """

    n_true: int
    n_found: int
    n_matched: int
    precision: float
    recall: float
    f1: float
    n_merged: int
    n_split: int
    iou_threshold: float
    true_ids: np.ndarray
    found_ids: np.ndarray
    iou: np.ndarray
    li_true: np.ndarray
    li_found: np.ndarray

    def to_dict(self) -> dict:
        """Scalars for the scorecard, with the per-particle mean-Li errors."""
        err = self.li_found - self.li_true
        ok = np.isfinite(err)
        e = err[ok]
        return {
            "n_true": self.n_true,
            "n_found": self.n_found,
            "n_matched": self.n_matched,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "n_merged": self.n_merged,
            "n_split": self.n_split,
            "iou_threshold": self.iou_threshold,
            "mean_iou_matched": float(self.iou.mean()) if self.iou.size else float("nan"),
            "matched": [[int(t), int(f)] for t, f in zip(self.true_ids, self.found_ids)],
            "mean_li": {
                "n": int(e.size),
                "mae": float(np.abs(e).mean()) if e.size else float("nan"),
                "max_abs": float(np.abs(e).max()) if e.size else float("nan"),
                "bias": float(e.mean()) if e.size else float("nan"),
            },
        }


def contingency(labels_true, labels_found):
    """Overlap (voxel count) of every true/found label pair that meets.

    Parameters
    ----------
    labels_true, labels_found : ndarray of int, same shape
        Label volumes, 0 = background.

    Returns
    -------
    t, f, n : ndarray of int64
        True id, found id and number of shared voxels of each overlapping pair
        (both ids > 0).

    Examples
    --------
    >>> a = np.array([1, 1, 2, 2, 0]); b = np.array([5, 5, 5, 0, 5])
    >>> [x.tolist() for x in contingency(a, b)]
    [[1, 2], [5, 5], [2, 1]]
    """
    lt = np.asarray(labels_true).ravel()
    lf = np.asarray(labels_found).ravel()
    if lt.shape != lf.shape:
        raise ValueError("labels_true and labels_found must have the same shape")
    both = (lt > 0) & (lf > 0)
    lt = lt[both].astype(np.int64)
    lf = lf[both].astype(np.int64)
    if lt.size == 0:
        e = np.zeros(0, np.int64)
        return e, e, e
    key = lt * (int(lf.max()) + 1) + lf
    keys, n = np.unique(key, return_counts=True)
    return keys // (int(lf.max()) + 1), keys % (int(lf.max()) + 1), n.astype(np.int64)


def particle_means(labels, li):
    """Mean of ``li`` over each label's voxels where ``li`` is finite.

    Returns an array indexed by label id (NaN for ids without a finite voxel).
    """
    labels = np.asarray(labels).ravel()
    li = np.asarray(li, np.float64).ravel()
    ok = (labels > 0) & np.isfinite(li)
    size = int(labels.max(initial=0)) + 1
    s = np.bincount(labels[ok], weights=li[ok], minlength=size)
    n = np.bincount(labels[ok], minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / n, np.nan)


def match_particles(labels_true, labels_found, li_true, li_found, *, iou_threshold=0.5):
    """Match particles by IoU and compare their mean Li.

    Parameters
    ----------
    labels_true, labels_found : ndarray of int, (z, y, x)
        True (on the result grid) and found particle labels, 0 = background.
    li_true, li_found : ndarray of float, (z, y, x)
        Li maps; each particle's mean is taken over its own labels' voxels.
    iou_threshold : float, optional
        IoU a pair needs to match (0.5: then a particle has at most one candidate,
        and the Hungarian assignment only settles exact ties at 0.5).

    Returns
    -------
    ParticleMatch

    Examples
    --------
    >>> t = np.zeros((1, 1, 8), int); t[..., :4] = 1; t[..., 4:] = 2
    >>> f = t.copy(); f[..., 3] = 2
    >>> li = np.full(t.shape, 0.5)
    >>> m = match_particles(t, f, li, li)
    >>> m.n_matched, m.f1, m.iou.round(2).tolist()
    (2, 1.0, [0.75, 0.8])
    """
    lt = np.asarray(labels_true)
    lf = np.asarray(labels_found)
    if lt.shape != lf.shape:
        raise ValueError(f"labels_found shape {lf.shape} differs from labels_true {lt.shape}")
    for name, arr in (("li_true", li_true), ("li_found", li_found)):
        if np.shape(arr) != lt.shape:
            raise ValueError(f"{name} shape {np.shape(arr)} differs from labels {lt.shape}")
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")

    size_t = np.bincount(lt[lt > 0].ravel(), minlength=1)
    size_f = np.bincount(lf[lf > 0].ravel(), minlength=1)
    n_true = int(np.count_nonzero(size_t))
    n_found = int(np.count_nonzero(size_f))
    t, f, n = contingency(lt, lf)
    iou = n / (size_t[t] + size_f[f] - n)

    cand = iou >= iou_threshold
    rows, ri = np.unique(t[cand], return_inverse=True)
    cols, ci = np.unique(f[cand], return_inverse=True)
    if rows.size:
        m = np.zeros((rows.size, cols.size))
        m[ri, ci] = iou[cand]
        r, c = linear_sum_assignment(m, maximize=True)
        keep = m[r, c] >= iou_threshold
        true_ids, found_ids, miou = rows[r[keep]], cols[c[keep]], m[r[keep], c[keep]]
    else:
        true_ids = found_ids = np.zeros(0, np.int64)
        miou = np.zeros(0)

    covers_true = n / size_t[t] > 0.5
    covers_found = n / size_f[f] > 0.5
    n_merged = _count_repeats(f[covers_true])
    n_split = _count_repeats(t[covers_found])

    k = true_ids.size
    precision = k / n_found if n_found else float(n_true == 0)
    recall = k / n_true if n_true else float(n_found == 0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    mt = particle_means(lt, li_true)
    mf = particle_means(lf, li_found)
    return ParticleMatch(
        n_true=n_true,
        n_found=n_found,
        n_matched=int(k),
        precision=float(precision),
        recall=float(recall),
        f1=float(f1),
        n_merged=n_merged,
        n_split=n_split,
        iou_threshold=float(iou_threshold),
        true_ids=true_ids,
        found_ids=found_ids,
        iou=miou,
        li_true=mt[true_ids] if k else np.zeros(0),
        li_found=mf[found_ids] if k else np.zeros(0),
    )


def _count_repeats(ids) -> int:
    """How many distinct ids occur at least twice."""
    if ids.size == 0:
        return 0
    _, counts = np.unique(ids, return_counts=True)
    return int(np.count_nonzero(counts >= 2))
