"""Particles that moved on their own between the states of a series (detached ones).

After a later state is registered rigidly onto the first, a particle that came
loose (the paper's Fig. S1) is no longer where the sample's motion puts it: its
first-state content and the registered state's disagree. `find_detached`
measures that agreement for every particle (normalized cross-correlation of
the post-edge attenuation over the particle), searches each one that lost it
for its own translation (masked normalized cross-correlation, Padfield's
method as `skimage.registration.phase_cross_correlation` does it) and keeps
the move when the agreement comes back. `move_labels` puts such particles'
labels where they went, so that the series follows them under their label.

Translations only, to a whole voxel: a detached particle's own rotation is
not searched (it lowers the agreement after the move, which is reported).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["DetachedParticle", "find_detached", "move_labels", "particle_agreement"]

#: agreement (NCC) below which a particle is searched for its own motion
LOST_NCC = 0.5
#: the agreement after the move must reach this, and gain at least `MIN_GAIN`: particles
#: that stayed agree at 0.85-1.0, a detached one that the segmentation merged with
#: neighbours that stayed gets part of the way back (0.21-0.39 -> 0.48-0.63 measured on
#: 3 tiny series and a default one; no particle that stayed was a candidate in any)
FOUND_NCC = 0.4
MIN_GAIN = 0.05
#: how far a particle is searched for, µm (on top of the sample's motion)
MAX_SHIFT_UM = 2.0


@dataclass(frozen=True)
class DetachedParticle:
    """A particle found away from where the sample's motion puts it.

    Attributes
    ----------
    label : int
        Its label in the first state.
    shift_vox : tuple of 3 int
        Its own displacement (z, y, x) on the first state's grid, voxels.
    ncc_before, ncc_after : float
        Agreement of its first-state attenuation with the registered state's
        at the sample's motion and after its own move.
    """

    label: int
    shift_vox: tuple
    ncc_before: float
    ncc_after: float

    def to_dict(self, voxel_size_um) -> dict:
        return {"label": self.label, "shift_vox": list(self.shift_vox),
                "shift_um": [float(s * v) for s, v in zip(self.shift_vox, voxel_size_um)],
                "ncc_before": self.ncc_before, "ncc_after": self.ncc_after}


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 8:
        return float("nan")
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def particle_agreement(first, registered, labels) -> np.ndarray:
    """NCC of ``first`` and ``registered`` over each particle, grown by one voxel.

    Parameters
    ----------
    first, registered : ndarray (z, y, x)
        The first state's attenuation and a later state's registered onto it
        (NaN where it has no data).
    labels : ndarray of int (z, y, x)
        The first state's particles, 1..n.

    Returns
    -------
    ndarray (n,)
        NaN for a particle with no data.

    Examples
    --------
    >>> v = np.random.default_rng(0).random((12, 12, 12)).astype(np.float32)
    >>> lab = np.zeros(v.shape, int); lab[2:6, 2:6, 2:6] = 1; lab[7:11, 7:11, 7:11] = 2
    >>> moved = v.copy(); moved[6:12, 6:12, 6:12] = np.roll(v, 1, 0)[6:12, 6:12, 6:12]
    >>> particle_agreement(v, moved, lab).round(2).tolist()[0]
    1.0
    """
    n = int(labels.max())
    out = np.full(n, np.nan)
    for k, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        grown = tuple(slice(max(0, s.start - 1), s.stop + 1) for s in box)
        mask = ndimage.binary_dilation(labels[grown] == k)
        out[k - 1] = _ncc(np.where(mask, first[grown], np.nan), registered[grown])
    return out


def find_detached(first, registered, labels, voxel_size_um, *, max_shift_um: float = MAX_SHIFT_UM,
                  agreement=None) -> list:
    """The particles that moved on their own, with their own displacement.

    Parameters
    ----------
    first, registered : ndarray (z, y, x)
        As for `particle_agreement`.
    labels : ndarray of int (z, y, x)
    voxel_size_um : 3 floats
    max_shift_um : float
        Largest own displacement searched, µm.
    agreement : ndarray (n,), optional
        `particle_agreement` when already computed.

    Returns
    -------
    list of DetachedParticle
        Those whose agreement was below `LOST_NCC` and reached `FOUND_NCC`
        (gaining `MIN_GAIN`) after their own move.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> z, y, x = np.mgrid[:40, :40, :40]
    >>> balls = [((z - 12) ** 2 + (y - 12) ** 2 + (x - 12) ** 2 < 30), ((z - 26) ** 2 + (y - 26) ** 2 + (x - 26) ** 2 < 30)]
    >>> lab = np.zeros(z.shape, int); lab[balls[0]] = 1; lab[balls[1]] = 2
    >>> first = np.where(lab > 0, 1 + 0.3 * rng.random(z.shape), 0).astype(np.float32)
    >>> later = first.copy(); later[lab == 2] = 0
    >>> later[np.roll(lab == 2, (0, 3, -2), (0, 1, 2))] = first[lab == 2]
    >>> [(d.label, d.shift_vox) for d in find_detached(first, later, lab, (0.25, 0.25, 0.25))]
    [(2, (0, 3, -2))]
    """
    from skimage.registration import phase_cross_correlation

    vox = np.asarray(voxel_size_um, float)
    ncc = particle_agreement(first, registered, labels) if agreement is None else np.asarray(agreement)
    margin = np.ceil(max_shift_um / vox).astype(int)
    boxes = ndimage.find_objects(labels)
    found = []
    for k in np.flatnonzero(ncc < LOST_NCC) + 1:
        box = boxes[k - 1]
        wide = tuple(slice(max(0, s.start - m), min(n, s.stop + m)) for s, m, n in zip(box, margin, labels.shape))
        mask = ndimage.binary_dilation(labels[wide] == k)
        ref = np.nan_to_num(first[wide], nan=0.0)
        mov = registered[wide]
        have = np.isfinite(mov)
        if have.sum() < mask.sum():
            continue
        with np.errstate(all="ignore"):
            # a large overlap: small ones let chance correlations win, far outside the margin
            shift = phase_cross_correlation(ref, np.nan_to_num(mov, nan=0.0), reference_mask=mask,
                                            moving_mask=have, overlap_ratio=0.9)[0]
        d = tuple(int(-round(float(s))) for s in shift)  # the particle's move: the inverse of the match
        if any(abs(di) > mi for di, mi in zip(d, margin)):
            continue
        after = _ncc(np.where(mask, ref, np.nan), _shifted(mov, d))
        if after >= FOUND_NCC and after >= ncc[k - 1] + MIN_GAIN:
            found.append(DetachedParticle(int(k), d, float(ncc[k - 1]), after))
    return found


def _shifted(a: np.ndarray, d) -> np.ndarray:
    """``a`` sampled at ``p + d`` (NaN off the array): the content a move by ``d`` took away."""
    out = np.full(a.shape, np.nan, a.dtype if a.dtype.kind == "f" else np.float32)
    src = tuple(slice(max(0, di), n + min(0, di)) for di, n in zip(d, a.shape))
    dst = tuple(slice(max(0, -di), n - max(0, di)) for di, n in zip(d, a.shape))
    out[dst] = a[src]
    return out


def move_labels(labels: np.ndarray, moves) -> np.ndarray:
    """The first state's labels with each `DetachedParticle` of ``moves`` moved by its shift.

    A moved particle's old place becomes background; where it lands it takes the
    background only (two particles cannot share space: where the labels say
    otherwise, the segmentation had merged it with neighbours that stayed).

    Examples
    --------
    >>> lab = np.zeros((1, 1, 8), int); lab[0, 0, 1:3] = 4
    >>> move_labels(lab, [DetachedParticle(4, (0, 0, 3), 0.1, 0.9)]).tolist()
    [[[0, 0, 0, 0, 4, 4, 0, 0]]]
    """
    out = np.array(labels, copy=True)
    for m in moves:
        out[labels == m.label] = 0
    for m in moves:
        landed = np.nan_to_num(_shifted((labels == m.label).astype(np.float32), tuple(-d for d in m.shift_vox)))
        out[(landed > 0.5) & (out == 0)] = m.label
    return out
