"""Statistics of a Li map: the figures of the paper, as one JSON-ready dict.

:func:`analyze` works from a Li field, an AM mask and particle labels alone,
so the validator applies the very same function to the true Li field.

Positions are voxel centres measured from the volume's first face,
``(index + 0.5) * voxel_size_um``, so that a volume binned by n gives the same
positions as the unbinned one. Depth below the particle surface is the
Euclidean distance from a voxel centre to the nearest non-AM voxel centre
minus half a voxel (``edt`` with the voxel anisotropy), i.e. the distance to
the boundary face; surface voxels lie at half a voxel. The edges of the
volume are not a particle surface.
"""

from __future__ import annotations

import edt
import numpy as np
from scipy import ndimage as ndi

from trixanes.pipeline.binning import voxel_size3
from trixanes.pipeline.limap import relative_lithiation

__all__ = ["analyze", "CLASS_NAMES"]

CLASS_NAMES = ("li_poor", "li_moderate", "li_rich")
#: fixed range of the q histogram, so that histograms of two results compare bin for bin
Q_HIST_RANGE = (-0.5, 1.5)


def _f(x) -> float | None:
    """A JSON-safe float: None for NaN/inf."""
    x = float(x)
    return x if np.isfinite(x) else None


def _flist(a) -> list:
    return [_f(x) for x in np.asarray(a, dtype=float).ravel()]


def _hist(values: np.ndarray, bins: int, rng) -> dict:
    counts, edges = np.histogram(values, bins=bins, range=rng)
    return {"edges": _flist(edges), "counts": counts.astype(int).tolist()}


def _classes(q: np.ndarray, lo: float, hi: float) -> dict:
    n = max(q.size, 1)
    rich = int((q >= hi).sum())
    poor = int((q <= lo).sum())
    return {"li_poor": poor / n, "li_moderate": (q.size - rich - poor) / n, "li_rich": rich / n}


def _particles(li, valid, labels, rich, vs) -> list[dict]:
    lab = labels.ravel()
    n = int(lab.max()) if lab.size else 0
    if n == 0:
        return []
    size = np.bincount(lab, minlength=n + 1)
    vlab = np.where(valid.ravel(), lab, 0)
    nvalid = np.bincount(vlab, minlength=n + 1)
    sum_li = np.bincount(vlab, weights=np.where(valid, li, 0).ravel(), minlength=n + 1)
    nrich = np.bincount(vlab, weights=rich.ravel().astype(float), minlength=n + 1)
    idx = np.flatnonzero(size[1:]) + 1  # truth labels need not be consecutive
    cents = np.array(ndi.center_of_mass(np.ones(labels.shape, np.float32), labels, idx)).reshape(-1, 3)
    vvox = vs[0] * vs[1] * vs[2]
    out = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, c in zip(idx, cents):
            vol = size[k] * vvox
            out.append({
                "label": int(k),
                "volume_um3": float(vol),
                "equivalent_diameter_um": float(np.cbrt(6 * vol / np.pi)),
                "mean_li": _f(sum_li[k] / nvalid[k]) if nvalid[k] else None,
                "li_rich_fraction": _f(nrich[k] / nvalid[k]) if nvalid[k] else None,
                "centroid_um": [float((ci + 0.5) * v) for ci, v in zip(c, vs)],
            })
    return out


def _binned_stats(x: np.ndarray, y: np.ndarray, edges: np.ndarray) -> tuple:
    idx = np.digitize(x, edges) - 1
    nb = edges.size - 1
    ok = (idx >= 0) & (idx < nb)
    cnt = np.bincount(idx[ok], minlength=nb)
    s1 = np.bincount(idx[ok], weights=y[ok], minlength=nb)
    s2 = np.bincount(idx[ok], weights=y[ok] ** 2, minlength=nb)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / cnt
        std = np.sqrt(np.maximum(s2 / cnt - mean**2, 0))
    return mean, std, cnt


def analyze(li, am_mask, labels, voxel_size_um, *, x_pristine: float = 1.0, x_charged: float = 0.38,
            thresholds=(0.6, 0.9), edge_jump=None, depth_bin_um: float | None = None,
            n_hist_bins: int = 50) -> dict:
    """Statistics of a Li map, JSON-serializable.

    Parameters
    ----------
    li : ndarray (z, y, x)
        Li content x; NaN voxels are left out of every statistic.
    am_mask : ndarray of bool (z, y, x)
        Active material.
    labels : ndarray of int (z, y, x)
        Particle labels, 0 = background (need not be consecutive).
    voxel_size_um : float or 3 floats
        Voxel size (z, y, x), µm.
    x_pristine, x_charged : float
        Stoichiometries of the references; define q = (x − x_c)/(x_p − x_c).
    thresholds : (float, float)
        (low, high) q thresholds: Li-poor q ≤ low, moderate low < q < high,
        Li-rich q ≥ high (the paper's 0.6 and 0.9).
    edge_jump : ndarray (z, y, x), optional
        Edge-jump map; adds its histogram over the AM.
    depth_bin_um : float, optional
        Bin width of the depth profile; default the largest voxel edge.
    n_hist_bins : int
        Bins of the histograms (q on the fixed range [-0.5, 1.5]).

    Returns
    -------
    dict
        ``total_li``, ``class_fractions``, ``histograms``, ``particles``,
        ``z_profile``, ``depth_profile``, ``active_surface_fraction`` and the
        parameters; NaN is written as None.

    Examples
    --------
    >>> import numpy as np
    >>> li = np.full((4, 4, 4), 0.9, np.float32); m = np.ones((4, 4, 4), bool)
    >>> s = analyze(li, m, m.astype(np.int32), 0.2)
    >>> round(s["total_li"], 3), s["class_fractions"]["li_moderate"]
    (0.9, 1.0)
    """
    li = np.asarray(li, dtype=np.float64)
    am = np.asarray(am_mask).astype(bool)
    lab = np.asarray(labels)
    for name, a in (("am_mask", am), ("labels", lab)):
        if a.shape != li.shape:
            raise ValueError(f"{name} has shape {a.shape}, expected li's shape {li.shape}")
    if li.ndim != 3:
        raise ValueError(f"li must be 3-D (z, y, x), got shape {li.shape}")
    if not np.issubdtype(lab.dtype, np.integer) or (lab.size and lab.min() < 0):
        raise ValueError("labels must be non-negative integers")
    lo, hi = (float(t) for t in thresholds)
    if not lo < hi:
        raise ValueError(f"thresholds must be (low, high) with low < high, got {thresholds!r}")
    if n_hist_bins < 1:
        raise ValueError(f"n_hist_bins must be >= 1, got {n_hist_bins!r}")
    vs = voxel_size3(voxel_size_um)
    valid = am & np.isfinite(li)
    q_all = relative_lithiation(li, x_pristine, x_charged).astype(np.float64)
    q = q_all[valid]
    rich = valid & (q_all >= hi)

    hists = {"q": _hist(q, n_hist_bins, Q_HIST_RANGE)}
    span = abs(x_pristine - x_charged)
    hists["li"] = _hist(li[valid], n_hist_bins,
                        (min(x_pristine, x_charged) - 0.25 * span, max(x_pristine, x_charged) + 0.25 * span))
    if edge_jump is not None:
        J = np.asarray(edge_jump, dtype=np.float64)
        if J.shape != li.shape:
            raise ValueError(f"edge_jump has shape {J.shape}, expected li's shape {li.shape}")
        j = J[am & np.isfinite(J)]
        rng = tuple(np.percentile(j, [0.5, 99.5])) if j.size else (0.0, 1.0)
        hists["edge_jump"] = _hist(j, n_hist_bins, rng if rng[1] > rng[0] else (rng[0] - 0.5, rng[0] + 0.5))

    # z-profile: one value per slice
    nz_slice = valid.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_z = np.where(valid, li, 0).sum(axis=(1, 2)) / nz_slice
    z_profile = {"z_um": _flist((np.arange(li.shape[0]) + 0.5) * vs[0]), "mean_li": _flist(mean_z),
                 "n_voxels": nz_slice.astype(int).tolist()}

    # depth below the surface of the AM
    depth = edt.edt(am, anisotropy=vs, black_border=False)
    # with no non-AM voxel in the volume the depth is undefined (edt gives inf)
    has_depth = valid & np.isfinite(depth)
    depth_um = depth[has_depth] - 0.5 * min(vs)
    width = float(depth_bin_um) if depth_bin_um else max(vs)
    if not width > 0:
        raise ValueError(f"depth_bin_um must be positive, got {depth_bin_um!r}")
    dmax = float(depth_um.max()) if depth_um.size else width
    edges = np.arange(0.0, dmax + width, width)
    if edges.size < 2:
        edges = np.array([0.0, width])
    m_d, s_d, c_d = _binned_stats(depth_um, li[has_depth], edges)
    depth_profile = {"depth_um": _flist(0.5 * (edges[1:] + edges[:-1])), "mean_li": _flist(m_d),
                     "std_li": _flist(s_d), "count": c_d.astype(int).tolist(), "bin_um": width}

    # surface voxels: AM with a face neighbour outside the AM (the volume edge is not a surface)
    padded = np.pad(am, 1, mode="edge")
    surface = am & ~ndi.binary_erosion(padded, structure=ndi.generate_binary_structure(3, 1))[1:-1, 1:-1, 1:-1]
    surf_valid = surface & valid
    n_surf = int(surf_valid.sum())

    return {
        "voxel_size_um": list(vs),
        "x_pristine": float(x_pristine),
        "x_charged": float(x_charged),
        "thresholds": [lo, hi],
        "n_am_voxels": int(am.sum()),
        "n_valid_voxels": int(valid.sum()),
        "am_volume_um3": float(am.sum() * vs[0] * vs[1] * vs[2]),
        "total_li": _f(li[valid].mean()) if valid.any() else None,
        "mean_q": _f(q.mean()) if q.size else None,
        "class_fractions": _classes(q, lo, hi),
        "histograms": hists,
        "n_particles": int(np.count_nonzero(np.bincount(lab.ravel())[1:])) if lab.size else 0,
        "particles": _particles(li, valid, lab.astype(np.int64), rich, vs),
        "z_profile": z_profile,
        "depth_profile": depth_profile,
        "n_surface_voxels": n_surf,
        "active_surface_fraction": _f((surf_valid & rich).sum() / n_surf) if n_surf else None,
    }
