"""Statistics of a Li map: the figures of the paper, as one `Stats` record.

:func:`analyze` works from a Li field, an AM mask and particle labels alone,
so the validator applies the very same function to the truth brought onto the
result's grid (`trixanes.validate.grid`): truth and result are measured alike,
and each statistic has this one definition.

Positions are voxel centres measured from the volume's first face,
``(index + 0.5) * voxel_size_um``, so that a volume binned by n gives the same
positions as the unbinned one.

Depth (the core-shell profile) is the depth below the **resolved AM surface**:
the surface of an AM mask on the map's own grid (the pipeline's segmentation;
for the truth, validate passes the result's mask, never the fine-grid truth with
internal pores no reconstruction resolves). It is the Euclidean distance from a
voxel centre to the nearest voxel centre outside that mask, minus half the
smallest voxel edge (``edt`` with the voxel anisotropy), i.e. the distance to
the boundary face: surface voxels lie at half a voxel. The edges of the volume
are not a particle surface. Depth bins are ``depth_bin_um`` wide from 0
(default the largest voxel edge).

Surface voxels (active surface, per-particle ``surface_active_fraction``) are
AM voxels with a face neighbour outside the AM; the volume's edges are not a
surface.
"""

from __future__ import annotations

import edt
import numpy as np
from scipy import ndimage as ndi

from trixanes.io.stats import CLASS_NAMES, DepthProfile, Histogram, ParticleStats, Stats, ZProfile
from trixanes.pipeline.binning import voxel_size3
from trixanes.pipeline.limap import relative_lithiation

__all__ = ["analyze", "z_profile", "depth_profile", "surface_depth_um", "CLASS_NAMES"]
#: fixed range of the q histogram, so that histograms of two results compare bin for bin
Q_HIST_RANGE = (-0.5, 1.5)


def _hist(values: np.ndarray, bins: int, rng) -> Histogram:
    counts, edges = np.histogram(values, bins=bins, range=rng)
    return Histogram(tuple(float(e) for e in edges), tuple(int(c) for c in counts))


def _classes(q: np.ndarray, lo: float, hi: float) -> dict:
    n = max(q.size, 1)
    rich = int((q >= hi).sum())
    poor = int((q <= lo).sum())
    return {"li_poor": poor / n, "li_moderate": (q.size - rich - poor) / n, "li_rich": rich / n}


def _ratio(num, den) -> float:
    return float(num / den) if den else float("nan")


def _particles(li, valid, labels, rich, surface, vs) -> tuple[ParticleStats, ...]:
    lab = labels.ravel()
    n = int(lab.max()) if lab.size else 0
    if n == 0:
        return ()
    size = np.bincount(lab, minlength=n + 1)
    vlab = np.where(valid.ravel(), lab, 0)
    nvalid = np.bincount(vlab, minlength=n + 1)
    sum_li = np.bincount(vlab, weights=np.where(valid, li, 0).ravel(), minlength=n + 1)
    nrich = np.bincount(vlab, weights=rich.ravel().astype(float), minlength=n + 1)
    slab = np.where((surface & valid).ravel(), lab, 0)
    nsurf = np.bincount(slab, minlength=n + 1)
    nsurf_rich = np.bincount(slab, weights=rich.ravel().astype(float), minlength=n + 1)
    idx = np.flatnonzero(size[1:]) + 1  # truth labels need not be consecutive
    cents = np.array(ndi.center_of_mass(np.ones(labels.shape, np.float32), labels, idx)).reshape(-1, 3)
    vvox = vs[0] * vs[1] * vs[2]
    out = []
    for k, c in zip(idx, cents):
        vol = float(size[k] * vvox)
        out.append(ParticleStats(
            label=int(k),
            n_voxels=int(size[k]),
            volume_um3=vol,
            equivalent_diameter_um=float(np.cbrt(6 * vol / np.pi)),
            centroid_um=tuple(float((ci + 0.5) * v) for ci, v in zip(c, vs)),
            mean_li=_ratio(sum_li[k], nvalid[k]),
            li_rich_fraction=_ratio(nrich[k], nvalid[k]),
            surface_active_fraction=_ratio(nsurf_rich[k], nsurf[k]),
        ))
    return tuple(out)


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
            n_hist_bins: int = 50, depth_mask=None) -> Stats:
    """Statistics of a Li map.

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
    depth_mask : ndarray of bool (z, y, x), optional
        The AM whose surface the depth profile measures from (default
        ``am_mask``); validate passes the result's mask for the truth.

    Returns
    -------
    Stats
        ``total_li``, ``class_fractions``, ``histograms``, ``particles``,
        ``z_profile``, ``depth_profile``, ``active_surface_fraction`` and the
        parameters; NaN where a statistic has no voxel.

    Examples
    --------
    >>> import numpy as np
    >>> li = np.full((4, 4, 4), 0.9, np.float32); m = np.ones((4, 4, 4), bool)
    >>> s = analyze(li, m, m.astype(np.int32), 0.2)
    >>> round(s.total_li, 3), s.class_fractions["li_moderate"], s.particles[0].n_voxels
    (0.9, 1.0, 64)
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

    z = z_profile(li, valid, vs[0])
    dm = am if depth_mask is None else _same_shape("depth_mask", np.asarray(depth_mask).astype(bool), li.shape)
    dp = depth_profile(li, valid, dm, vs, depth_bin_um)

    # surface voxels: AM with a face neighbour outside the AM (the volume edge is not a surface)
    padded = np.pad(am, 1, mode="edge")
    surface = am & ~ndi.binary_erosion(padded, structure=ndi.generate_binary_structure(3, 1))[1:-1, 1:-1, 1:-1]
    surf_valid = surface & valid
    n_surf = int(surf_valid.sum())

    return Stats(
        voxel_size_um=tuple(vs),
        x_pristine=float(x_pristine),
        x_charged=float(x_charged),
        thresholds=(lo, hi),
        n_am_voxels=int(am.sum()),
        n_valid_voxels=int(valid.sum()),
        am_volume_um3=float(am.sum() * vs[0] * vs[1] * vs[2]),
        total_li=float(li[valid].mean()) if valid.any() else float("nan"),
        mean_q=float(q.mean()) if q.size else float("nan"),
        class_fractions=_classes(q, lo, hi),
        histograms=hists,
        n_particles=int(np.count_nonzero(np.bincount(lab.ravel())[1:])) if lab.size else 0,
        particles=_particles(li, valid, lab.astype(np.int64), rich, surface, vs),
        z_profile=z,
        depth_profile=dp,
        n_surface_voxels=n_surf,
        active_surface_fraction=_ratio((surf_valid & rich).sum(), n_surf),
    )


def _same_shape(name, a, shape):
    if a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}, expected li's shape {shape}")
    return a


def z_profile(li, valid, voxel_z_um: float) -> ZProfile:
    """Mean Li of each z slice over its ``valid`` voxels (NaN where a slice has none).

    Examples
    --------
    >>> li = np.stack([np.full((2, 2), 0.5), np.full((2, 2), 0.9)])
    >>> p = z_profile(li, np.isfinite(li), 0.2)
    >>> p.z_um, p.mean_li, p.n_voxels
    ((0.1, 0.30000000000000004), (0.5, 0.9), (4, 4))
    """
    li = np.asarray(li, np.float64)
    valid = np.asarray(valid, bool)
    n = valid.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(valid, li, 0).sum(axis=(1, 2)) / n
    return ZProfile(tuple(float(v) for v in (np.arange(li.shape[0]) + 0.5) * voxel_z_um),
                    tuple(float(v) for v in mean), tuple(int(c) for c in n))


def surface_depth_um(surface_of, voxel_size_um) -> np.ndarray:
    """Depth of each voxel centre below the surface of the mask ``surface_of``, µm.

    The Euclidean distance to the nearest voxel centre outside the mask, less
    half the smallest voxel edge: the distance to the face between them, so a
    surface voxel lies half a voxel deep. The volume's edges are not a
    surface; outside the mask, and where the mask fills the whole volume, the
    depth is NaN.

    Examples
    --------
    >>> m = np.zeros((1, 1, 7), bool); m[0, 0, 1:6] = True
    >>> surface_depth_um(m, 1.0)[0, 0].tolist()
    [nan, 0.5, 1.5, 2.5, 1.5, 0.5, nan]
    """
    m = np.ascontiguousarray(surface_of, dtype=np.uint8)
    vs = voxel_size3(voxel_size_um)
    d = edt.edt(m, anisotropy=vs, black_border=False)
    with np.errstate(invalid="ignore"):
        return np.where((m > 0) & np.isfinite(d), d - 0.5 * min(vs), np.nan)


def depth_profile(li, valid, surface_of, voxel_size_um, bin_um: float | None = None) -> DepthProfile:
    """Mean and spread of Li against depth below the surface of ``surface_of``.

    Parameters
    ----------
    li : ndarray (z, y, x)
        Li content.
    valid : ndarray of bool
        Voxels to count (AM with a finite Li).
    surface_of : ndarray of bool
        The AM mask whose surface the depth is measured from (`surface_depth_um`);
        valid voxels outside it have no depth and are left out.
    voxel_size_um : float or 3 floats
    bin_um : float, optional
        Bin width, µm; default the largest voxel edge. Bins start at depth 0.

    Returns
    -------
    DepthProfile

    Examples
    --------
    >>> m = np.zeros((1, 1, 7), bool); m[0, 0, 1:6] = True
    >>> li = np.where(m, [[[0, 1.0, 0.5, 0.4, 0.5, 1.0, 0]]], np.nan)
    >>> p = depth_profile(li, m, m, 1.0)
    >>> p.depth_um, p.mean_li, p.count
    ((0.5, 1.5, 2.5), (1.0, 0.5, 0.4), (2, 2, 1))
    """
    vs = voxel_size3(voxel_size_um)
    width = float(bin_um) if bin_um else max(vs)
    if not (np.isfinite(width) and width > 0):
        raise ValueError(f"depth_bin_um must be positive, got {bin_um!r}")
    depth = surface_depth_um(surface_of, vs)
    has = np.asarray(valid, bool) & np.isfinite(depth)
    d = depth[has]
    dmax = float(d.max()) if d.size else width
    edges = np.arange(0.0, dmax + width, width)
    if edges.size < 2:
        edges = np.array([0.0, width])
    m, sd, c = _binned_stats(d, np.asarray(li, np.float64)[has], edges)
    return DepthProfile(tuple(float(v) for v in 0.5 * (edges[1:] + edges[:-1])), tuple(float(v) for v in m),
                        tuple(float(v) for v in sd), tuple(int(v) for v in c), width)
