"""Rotation-axis (centre) finding for parallel-beam projections.

Two stages. A coarse estimate from the data themselves: where the angles
contain opposite pairs (θ, θ+180° within a step), the cross-correlation of a
projection with the mirrored opposite one; otherwise a least-squares fit of
the sinusoid ``c + a cos θ + b sin θ`` followed by the projections' centres of
mass (valid for any angular range). Then a refinement by reconstruction
quality: slices reconstructed for candidate centres around the estimate (1 px,
then 0.25 px steps, on one half-turn of views) are scored by their negative mass inside the fully sampled
disk (kept only where it has a minimum inside the search window; a centroid fit of a
sample that stays in the field is exact and kept as it is). Attenuation
is non-negative; a wrong centre turns every edge into arcs with negative lobes (the L1 norm or the entropy are less reliable when the
sample fills the field of view, the total variation or the energy fail on
real data; all were compared on a phantom and on the tooth scan). With a
missing wedge the coarse estimate is returned unrefined: its streaks have
negative lobes of their own that pull the criterion off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trixanes.pipeline import projector
from trixanes.pipeline.angles import angle_weights, choose_algorithm
from trixanes.pipeline.filters import fbp_filter, padded_size

__all__ = ["CenterEstimate", "check_center", "find_center"]

#: relative spread of the projections' mass below which the sample is taken to stay in the field
MASS_SPREAD = 0.02


@dataclass(frozen=True)
class CenterEstimate:
    """A rotation-axis estimate.

    Attributes
    ----------
    center_px : float
        Rotation axis, 0-based detector column.
    method : str
        How the coarse estimate was made and that it was refined.
    score : float
        Negative mass of the reconstructed slices at the best candidate
        relative to the worst candidate tried (lower is a clearer optimum).
    """

    center_px: float
    method: str
    score: float


def check_center(center_px, n_cols: int, source) -> float | None:
    """Refuse a rotation centre outside the detector, naming the file and the valid range.

    The centre is a 0-based detector column: a value outside ``[0, n_cols - 1]``
    puts the axis off the detector, where a reconstruction is garbage (or the
    filtered projections are padded out of range), however it ends.

    Parameters
    ----------
    center_px : float or None
        Requested centre; None (to be estimated) passes through.
    n_cols : int
        Detector columns of the grid the centre refers to.
    source : str or path-like
        The scan file, for the message.

    Returns
    -------
    float or None

    Examples
    --------
    >>> check_center(63.5, 128, "scan.h5")
    63.5
    >>> check_center(140, 128, "scan.h5")
    Traceback (most recent call last):
    ...
    ValueError: scan.h5: rotation centre 140 px is outside the detector: it is a 0-based detector column in [0, 127] (the scan has 128 columns)
    """
    if center_px is None:
        return None
    try:
        c = float(center_px)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: rotation centre must be a number, got {center_px!r}") from None
    if not (np.isfinite(c) and 0 <= c <= n_cols - 1):
        raise ValueError(f"{source}: rotation centre {center_px!r} px is outside the detector: it is a 0-based "
                         f"detector column in [0, {n_cols - 1}] (the scan has {n_cols} columns)")
    return c


def _parabola_peak(y_m: float, y_0: float, y_p: float) -> float:
    """Offset (in steps, within ±0.5) of the extremum of a parabola through 3 points."""
    den = y_m - 2.0 * y_0 + y_p
    if den == 0 or not np.isfinite(den):
        return 0.0
    return float(np.clip(0.5 * (y_m - y_p) / den, -0.5, 0.5))


def _mirror_pairs(theta: np.ndarray) -> list[tuple[int, int]]:
    t = np.mod(theta, 360.0)
    step = np.median(np.diff(np.sort(np.unique(np.mod(theta, 180.0))))) if theta.size > 2 else 1.0
    pairs = []
    for i, ti in enumerate(t):
        d = np.abs(np.mod(t - ti - 180.0 + 180.0, 360.0) - 180.0)
        j = int(np.argmin(d))
        if d[j] <= 0.5 * step and i < j:
            pairs.append((i, j))
    return pairs


def _center_from_pairs(profiles: np.ndarray, pairs) -> float:
    """Centre from the shift between each profile and its mirrored opposite.

    With the axis at c, ``p_opposite(c + u) = p(c - u)``; the mirrored opposite
    ``q(k) = p_opposite(n - 1 - k)`` equals ``p(k + 2c - (n - 1))``.
    """
    n = profiles.shape[1]
    m = 2 * n
    corr = np.zeros(m)
    for i, j in pairs:
        a = profiles[i] - profiles[i].mean()
        b = profiles[j, ::-1] - profiles[j].mean()
        corr += np.fft.irfft(np.fft.rfft(b, m) * np.conj(np.fft.rfft(a, m)), m)
    k = int(np.argmax(corr))
    lag = k + _parabola_peak(corr[k - 1], corr[k], corr[(k + 1) % m])
    if lag > m / 2:
        lag -= m
    # corr peaks at lag = -(2c - (n - 1))
    return (n - 1 - lag) / 2.0


def _center_from_centroids(profiles: np.ndarray, theta: np.ndarray) -> tuple[float, float]:
    """Offset of the sinusoid followed by each projection's centre of mass, and its standard error."""
    p = np.clip(profiles, 0.0, None)
    mass = p.sum(axis=1)
    ok = mass > 0.05 * mass.max()
    cols = np.arange(profiles.shape[1])
    com = (p[ok] @ cols) / mass[ok]
    t = np.deg2rad(theta[ok])
    design = np.stack([np.ones_like(t), np.cos(t), np.sin(t)], axis=1)
    coef, *_ = np.linalg.lstsq(design, com, rcond=None)
    dof = max(1, t.size - 3)
    resid = com - design @ coef
    cov = np.linalg.pinv(design.T @ design) * float(resid @ resid) / dof
    return float(coef[0]), float(np.sqrt(max(cov[0, 0], 0.0)))


def _scores(proj: np.ndarray, theta: np.ndarray, ref: float, candidates: np.ndarray) -> np.ndarray:
    """Negative mass of the FBP slices for each candidate centre, in one backprojection.

    A candidate c is reconstructed with the axis at ``ref`` from data shifted
    by ``c - ref`` (a Fourier phase ramp, exact for sub-pixel shifts and
    applied together with the ramp filter), so all candidates and rows stack
    along z.
    """
    n_ang, nrow, ncols = proj.shape
    p = padded_size(ncols)
    spec = np.fft.rfft(proj, n=p, axis=-1) * fbp_filter(ncols, "ramp")
    f = np.fft.rfftfreq(p)
    ramps = np.exp(2j * np.pi * f[None, :] * (candidates - ref)[:, None])  # (cand, freq)
    q = np.fft.irfft(spec[:, None, :, :] * ramps[None, :, None, :], n=p, axis=-1)[..., :ncols]
    q = q.reshape(n_ang, candidates.size * nrow, ncols).astype(np.float32)
    cos_t, sin_t = projector.angle_tables(theta)
    vol = projector.backproject(q, cos_t, sin_t, angle_weights(theta), ref, ncols)
    # only pixels every view sees, for the worst candidate
    radius = (ncols - 1) / 2.0 - np.max(np.abs(candidates - (ncols - 1) / 2.0)) - 2.0
    yy, xx = np.mgrid[:ncols, :ncols] - (ncols - 1) / 2.0
    inside = (xx**2 + yy**2) <= max(radius, 4.0) ** 2
    neg = -np.minimum(vol[:, inside], 0.0).sum(axis=1, dtype=np.float64)
    return neg.reshape(candidates.size, nrow).sum(axis=1)


def find_center(projections, theta_deg, *, rows=None, search_px: float = 8.0) -> CenterEstimate:
    """Estimate the rotation axis of a parallel-beam scan.

    Parameters
    ----------
    projections : array (angle, row, col) or (angle, col)
        Line integrals (-log transmission).
    theta_deg : array (angle,)
        Projection angles, degrees.
    rows : sequence of int or slice, optional
        Detector rows to use (default: up to 3 rows around the middle).
    search_px : float
        Half-width of the refinement search around the coarse estimate. A
        centroid fit of a sample that every view holds whole (projection mass
        constant within `MASS_SPREAD`) is exact and is not refined. The refinement is kept only where its criterion has
        a minimum inside the window.

    Returns
    -------
    CenterEstimate

    Examples
    --------
    >>> from skimage.transform import radon
    >>> img = np.zeros((65, 65)); img[20:30, 35:45] = 1; img[40:50, 25:30] = 2
    >>> theta = np.linspace(0, 180, 90, endpoint=False)
    >>> sino = np.roll(radon(img, theta), 3, axis=0).T  # axis moved to column 35
    >>> round(find_center(sino, theta).center_px)
    35
    """
    proj = np.asarray(projections, dtype=np.float32)
    if proj.ndim == 2:
        proj = proj[:, None, :]
    if proj.ndim != 3 or min(proj.shape) == 0:
        raise ValueError(f"projections must be a non-empty (angle, row, col) array, got shape {proj.shape}")
    theta = np.asarray(theta_deg, dtype=np.float64)
    if theta.ndim != 1 or theta.size != proj.shape[0] or not np.all(np.isfinite(theta)):
        raise ValueError(f"theta_deg must be {proj.shape[0]} finite angles, got shape {theta.shape}")
    if theta.size < 3:
        raise ValueError("theta_deg needs at least 3 angles to find the centre")
    if not (search_px > 0):
        raise ValueError(f"search_px must be positive, got {search_px!r}")
    nrow, ncols = proj.shape[1:]
    if rows is None:
        mid = nrow // 2
        rows = slice(max(0, mid - 1), min(nrow, mid + 2))
    sel = proj[:, rows, :] if isinstance(rows, slice) else proj[:, np.asarray(rows, dtype=int), :]
    if sel.shape[1] == 0:
        raise ValueError(f"rows selects no detector row: {rows!r}")
    if not np.all(np.isfinite(sel)):
        raise ValueError("projections contain NaN or inf in the selected rows")

    profiles = sel.sum(axis=1, dtype=np.float64)
    pairs = _mirror_pairs(theta)
    if len(pairs) >= 3:
        coarse, how = _center_from_pairs(profiles, pairs), f"mirrored 180° pairs ({len(pairs)})"
    else:
        (coarse, se), how = _center_from_centroids(profiles, theta), "centre-of-mass sinusoid fit"
        mass = np.clip(profiles, 0.0, None).sum(axis=1)
        if mass.min() > (1.0 - MASS_SPREAD) * mass.max():
            # every view sees the whole sample: the centroids follow the sinusoid exactly; the
            # FBP criterion only adds its own errors (at 23 views per half-turn it moved one
            # energy of three by 0.3-9 px, and energies that disagree spoil the edge jump)
            return CenterEstimate(
                center_px=float(coarse),
                method=f"{how} (sample within the field of view: ±{se:.2g} px); not refined",
                score=float("nan"),
            )
    mid = (ncols - 1) / 2.0
    if not np.isfinite(coarse) or abs(coarse - mid) > 0.45 * ncols:
        coarse, how = mid, "detector middle (coarse estimate failed)"

    # Refine on one half-turn: with views at both θ and θ+180° a wrong centre
    # blurs points into rings rather than arcs, with no negative lobes.
    rel = np.mod(theta - theta.min(), 360.0)
    half = rel < 180.0 - 1e-9
    if choose_algorithm(theta[half])[0] != "fbp":
        return CenterEstimate(
            center_px=float(coarse),
            method=f"{how}; not refined: the angles leave a missing wedge, where FBP "
            "artefacts mislead reconstruction-quality criteria",
            score=float("nan"),
        )
    sel, theta = sel[half], theta[half]
    coarse_grid = np.round(coarse) + np.arange(-np.ceil(search_px), np.ceil(search_px) + 1)
    s1 = _scores(sel, theta, coarse, coarse_grid)
    k1 = int(np.argmin(s1))
    if k1 in (0, coarse_grid.size - 1):
        # the criterion falls all the way to the window's edge: no optimum to refine to
        # (seen with 23 views per half-turn, whose undersampling streaks outweigh the centre's)
        return CenterEstimate(
            center_px=float(coarse),
            method=f"{how}; not refined: the negative mass of FBP slices has no minimum within "
            f"±{search_px:g} px ({half.sum()} views per half-turn)",
            score=float("nan"),
        )
    best = coarse_grid[k1]
    fine_grid = best + np.arange(-4, 5) * 0.25
    s2 = _scores(sel, theta, best, fine_grid)
    k = int(np.clip(np.argmin(s2), 1, fine_grid.size - 2))
    center = fine_grid[k] + 0.25 * _parabola_peak(s2[k - 1], s2[k], s2[k + 1])
    if abs(center - coarse) > search_px:
        return CenterEstimate(
            center_px=float(coarse),
            method=f"{how}; not refined: the negative mass of FBP slices is least {center - coarse:+.2f} px "
            f"away, outside ±{search_px:g} px ({half.sum()} views per half-turn)",
            score=float("nan"),
        )
    score = float(s2.min() / max(s1.max(), s2.max()))
    return CenterEstimate(center_px=float(center), method=f"{how}, refined by minimum negative mass of FBP slices", score=score)
