"""Validated arguments of the forward projector, shared by its numba and CuPy backends."""

from __future__ import annotations

import numpy as np


def checked_inputs(components, angles_deg, n_s, center_s):
    """`forward_project`'s arguments, validated: (float32 maps, angles in radians, n_s, center_s)."""
    vol = np.asarray(components)
    if vol.ndim != 4:
        raise ValueError(f"components: need (n_components, z, y, x), got shape {vol.shape}")
    vol = vol.astype(np.float32, copy=False)
    a = np.deg2rad(np.asarray(angles_deg, np.float64).ravel())
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError("angles_deg: need finite angles")
    n_s = vol.shape[3] if n_s is None else int(n_s)
    if n_s < 1:
        raise ValueError("n_s: must be >= 1")
    center_s = 0.5 * (n_s - 1) if center_s is None else float(center_s)
    if not np.isfinite(center_s):
        raise ValueError("center_s: must be finite")
    return vol, a, n_s, center_s
