"""Projection angles: FBP quadrature weights and the choice of algorithm they imply.

Angles are in degrees and taken mod 180° (a view at θ+180° is the mirror image
of the one at θ).
"""

from __future__ import annotations

import numpy as np

_GAP_FACTOR = 3.0  # a gap above this many median steps is a missing wedge


def _sorted_mod180(theta_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Angles reduced to [0, 180) and the order that sorts them."""
    t = np.mod(np.asarray(theta_deg, dtype=np.float64), 180.0)
    order = np.argsort(t, kind="stable")
    return t, order


def _circular_gaps(ts: np.ndarray) -> np.ndarray:
    """Gap from each sorted angle (mod 180) to the next, wrapping around."""
    return np.diff(np.append(ts, ts[0] + 180.0))


def angle_weights(theta_deg: np.ndarray) -> np.ndarray:
    """FBP quadrature weight of each projection, in radians.

    Angles are taken mod 180° (a view at θ+180° is the mirror image of the one
    at θ and backprojects onto the same lines). Each distinct direction gets
    half the gaps to its neighbours on the 180° circle; views at the same
    direction share it. A gap wider than a few median steps is a missing wedge:
    it is not credited to the views at its edges (which would smear them over
    the wedge as streaks); they get half a median step on that side instead.

    Parameters
    ----------
    theta_deg : array (angle,)
        Projection angles, degrees.

    Returns
    -------
    w : float64 array (angle,)
        Sums to π for a complete, uniformly sampled set.

    Examples
    --------
    >>> w = angle_weights(np.arange(0, 180, 45.0))
    >>> np.allclose(w, np.pi / 4)
    True
    """
    t, order = _sorted_mod180(theta_deg)
    ts = t[order]
    if ts.size == 1:
        return np.array([np.pi])
    gaps = _circular_gaps(ts)
    tol = 1e-6 * 180.0
    distinct = gaps > tol
    if not distinct.any():
        return np.full(ts.size, np.pi / ts.size)
    step = np.median(gaps[distinct])
    g = np.where(gaps > _GAP_FACTOR * step, step, gaps)
    g = np.where(distinct, g, 0.0)
    # views closer than `tol` form one group that shares one direction's weight
    group = np.concatenate(([0], np.cumsum(distinct[:-1])))
    if not distinct[-1]:  # the last group wraps onto the first
        group[group == group[-1]] = 0
    n_groups = group.max() + 1
    after = np.zeros(n_groups)
    np.add.at(after, group, g)
    before = np.roll(after, 1)
    share = 0.5 * (before + after)
    counts = np.bincount(group, minlength=n_groups)
    w_sorted = np.deg2rad(share[group] / counts[group])
    w = np.empty_like(w_sorted)
    w[order] = w_sorted
    return w


def choose_algorithm(theta_deg) -> tuple[str, str]:
    """Pick FBP for complete angular coverage, OS-SIRT for a dead angle.

    Parameters
    ----------
    theta_deg : array-like
        Projection angles, degrees.

    Returns
    -------
    name : {"fbp", "os-sirt"}
    reason : str
        One sentence saying why.

    Examples
    --------
    >>> choose_algorithm(np.linspace(0, 180, 181, endpoint=False))[0]
    'fbp'
    >>> choose_algorithm(np.linspace(0, 150, 151))[0]
    'os-sirt'
    """
    theta = check_theta(theta_deg)
    t, order = _sorted_mod180(theta)
    ts = np.unique(np.round(t[order], 9))
    if ts.size < 2:
        return "os-sirt", "a single projection direction cannot support filtered backprojection."
    gaps = _circular_gaps(ts)
    step = float(np.median(gaps))
    widest = float(gaps.max())
    if widest <= _GAP_FACTOR * step:
        return "fbp", (
            f"the angles cover 180° (mod 180) with a largest gap of {widest:.3g}° "
            f"<= {_GAP_FACTOR:g} x the median step {step:.3g}°, so FBP is appropriate."
        )
    return "os-sirt", (
        f"the angles leave a {widest:.3g}° gap (mod 180), more than {_GAP_FACTOR:g} x the "
        f"median step {step:.3g}°: a missing wedge, for which non-negative SIRT gives "
        "fewer streaks than FBP (ordered subsets: the accuracy of 100 SIRT iterations in 10 passes)."
    )


def check_theta(theta_deg) -> np.ndarray:
    theta = np.asarray(theta_deg, dtype=np.float64)
    if theta.ndim != 1 or theta.size == 0:
        raise ValueError(f"theta_deg must be a non-empty 1-D array, got shape {theta.shape}")
    if not np.all(np.isfinite(theta)):
        raise ValueError("theta_deg contains NaN or inf")
    return theta
