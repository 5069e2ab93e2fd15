"""Normalized edge jump and Li content from three registered volumes.

J = (μ_edge − μ_pre) / (μ_post − μ_pre): the edge absorption above the pre-edge
background as a fraction of the edge step. The paper prints the denominator as
(pre − post), which flips the sign; J here is ≈ 1 for pristine material at an
edge energy on the pristine white line. J is invariant to any affine change
μ → aμ + b (a > 0) applied to all three volumes, so reconstruction scale and
offset errors common to the energies cancel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EdgeJump", "edge_jump", "li_from_jump", "relative_lithiation"]

#: default minimum edge step, as a fraction of the median step over the mask
DEFAULT_MIN_JUMP_FRACTION = 0.05


@dataclass(frozen=True)
class EdgeJump:
    """Edge-jump map.

    Attributes
    ----------
    J : ndarray float32 (z, y, x)
        Normalized edge jump; NaN outside the mask and where invalid.
    n_valid : int
        Mask voxels with a finite J.
    n_invalid : int
        Mask voxels where the edge step μ_post − μ_pre was below ``min_jump``
        (including negative steps) or an input was not finite.
    min_jump : float
        The edge-step threshold used, 1/µm.
    """

    J: np.ndarray
    n_valid: int
    n_invalid: int
    min_jump: float


def edge_jump(mu_pre, mu_edge, mu_post, mask, *, min_jump: float | None = None) -> EdgeJump:
    """Normalized edge jump J inside a mask.

    Parameters
    ----------
    mu_pre, mu_edge, mu_post : ndarray (z, y, x)
        Registered attenuation volumes, 1/µm, on one grid.
    mask : ndarray of bool (z, y, x)
        Where to compute J (active material).
    min_jump : float, optional
        Smallest accepted edge step μ_post − μ_pre, 1/µm. Default: 5 % of the
        median step over the mask, which scales with the data and so keeps J
        invariant to an affine change of μ.

    Returns
    -------
    EdgeJump

    Examples
    --------
    >>> import numpy as np
    >>> m = np.ones((1, 1, 2), bool)
    >>> r = edge_jump(np.full((1, 1, 2), 1.0), np.array([[[2.0, 1.5]]]), np.full((1, 1, 2), 2.0), m)
    >>> r.J.ravel().tolist()
    [1.0, 0.5]
    """
    pre, edge, post = (np.asarray(a, dtype=np.float64) for a in (mu_pre, mu_edge, mu_post))
    m = np.asarray(mask)
    for name, a in (("mu_edge", edge), ("mu_post", post), ("mask", m)):
        if a.shape != pre.shape:
            raise ValueError(f"{name} has shape {a.shape}, expected mu_pre's shape {pre.shape}")
    if pre.ndim != 3:
        raise ValueError(f"mu_pre must be 3-D (z, y, x), got shape {pre.shape}")
    m = m.astype(bool)
    step = post - pre
    finite = np.isfinite(step) & np.isfinite(edge)
    if min_jump is None:
        good = step[m & finite]
        min_jump = DEFAULT_MIN_JUMP_FRACTION * float(np.median(np.abs(good))) if good.size else 0.0
    elif not (np.isfinite(min_jump) and min_jump >= 0):
        raise ValueError(f"min_jump must be a finite number >= 0, got {min_jump!r}")
    ok = m & finite & (step > min_jump)
    J = np.full(pre.shape, np.nan, dtype=np.float32)
    J[ok] = ((edge[ok] - pre[ok]) / step[ok]).astype(np.float32)
    n_valid = int(ok.sum())
    return EdgeJump(J, n_valid, int(m.sum()) - n_valid, float(min_jump))


def li_from_jump(J, J_pristine: float, J_charged: float, x_pristine: float = 1.0,
                 x_charged: float = 0.38, *, clip: bool = False) -> np.ndarray:
    """Li content by the linear calibration between two references.

    The line through (J_pristine, x_pristine) and (J_charged, x_charged).

    Parameters
    ----------
    J : array_like
        Edge jump (NaN propagates).
    J_pristine, J_charged : float
        Edge jumps of the references at the scan energies.
    x_pristine, x_charged : float
        Stoichiometries of the references.
    clip : bool
        Clip the result to [min(x), max(x)] of the references.

    Returns
    -------
    ndarray float32 (same shape as J)

    Examples
    --------
    >>> [round(float(v), 3) for v in li_from_jump([1.0, 0.5, 0.75], 1.0, 0.5)]
    [1.0, 0.38, 0.69]
    """
    Jp, Jc = float(J_pristine), float(J_charged)
    if not (np.isfinite(Jp) and np.isfinite(Jc)):
        raise ValueError(f"J_pristine and J_charged must be finite, got {J_pristine!r}, {J_charged!r}")
    if Jp == Jc:
        raise ValueError(f"J_pristine equals J_charged ({Jp:g}): the calibration is undefined")
    if not (np.isfinite(x_pristine) and np.isfinite(x_charged)) or x_pristine == x_charged:
        raise ValueError("x_pristine and x_charged must be finite and different")
    J = np.asarray(J, dtype=np.float64)
    li = x_pristine + (J - Jp) * ((x_charged - x_pristine) / (Jc - Jp))
    if clip:
        li = np.clip(li, min(x_pristine, x_charged), max(x_pristine, x_charged))
    return li.astype(np.float32)


def relative_lithiation(li, x_pristine: float = 1.0, x_charged: float = 0.38) -> np.ndarray:
    """Relative lithiation q = (li − x_charged)/(x_pristine − x_charged).

    q ≈ 1 for pristine and 0 for charged material: the design's "J ≈ 1 for
    pristine" quantity on which the Li-rich/moderate/poor classes are defined,
    independent of the edge energy.

    Parameters
    ----------
    li : array_like
        Li content (NaN propagates).
    x_pristine, x_charged : float
        Stoichiometries of the references.

    Returns
    -------
    ndarray float32

    Examples
    --------
    >>> [round(float(v), 3) for v in relative_lithiation([1.0, 0.38, 0.69])]
    [1.0, 0.0, 0.5]
    """
    if not (np.isfinite(x_pristine) and np.isfinite(x_charged)) or x_pristine == x_charged:
        raise ValueError("x_pristine and x_charged must be finite and different")
    li = np.asarray(li, dtype=np.float64)
    return ((li - x_charged) / (x_pristine - x_charged)).astype(np.float32)
