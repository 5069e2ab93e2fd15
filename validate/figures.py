"""Figures of a validation: truth and result side by side.

Figures are built on ``matplotlib.figure.Figure`` (Agg canvas, no pyplot state), so they
are safe in workers and tests, and written atomically as PNG at 150 dpi.

Slice positions follow the one convention of :mod:`trixanes.pipeline.figures`: a slice
is named by its position in µm from the volume's first face, ``(index + 0.5) * voxel``
(``slice_position_um``), the number ``stats.json``'s z profile gives it as ``z_um``; image
axes and the z profile's axis run from 0 at that face. The grid origin (where the volume
sits in the scan frame) is stated once, in the slice figure's title, not mixed into
positions, so the pipeline's figures and these name the same slice with the same number.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
import matplotlib

from trixanes._shared.atomic import atomic_path
from trixanes.pipeline.figures import slice_position_um, slice_title
from trixanes.validate.metrics import CLASS_NAMES

DPI = 150
_AXES = ("z", "y", "x")


def _save(fig: Figure, path) -> Path:
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return Path(path)


def _cmap(name, bad="0.85"):
    return matplotlib.colormaps[name].with_extremes(bad=bad)


def slice_figure(li_true, li_found, voxel_um, origin_um, path, *, x_range=None) -> Path:
    """Truth, result and error (result - truth) on the three orthogonal mid-planes.

    Parameters
    ----------
    li_true, li_found : ndarray of float, (z, y, x)
        Li maps on one grid, NaN outside AM (shown grey).
    voxel_um : float
        Voxel size, µm.
    origin_um : sequence of 3 float
        Corner of voxel [0, 0, 0] in the scan frame, µm: stated in the title; slice
        positions and axes count from the volume's first face (module docstring).
    path : path-like
        PNG to write.
    x_range : (float, float), optional
        Colour range of Li shared by truth and result (default: their 1-99 %
        percentiles together).

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> li = np.full((4, 5, 6), 0.7, np.float32)
    >>> p = slice_figure(li, li + 0.01, 0.5, (0, 0, 0), pathlib.Path(tempfile.mkdtemp()) / "s.png")
    >>> p.stat().st_size > 0
    True
    """
    t = np.asarray(li_true, np.float64)
    f = np.asarray(li_found, np.float64)
    if t.ndim != 3 or t.shape != f.shape:
        raise ValueError(f"li_true {t.shape} and li_found {f.shape} must be equal 3-D shapes")
    err = f - t
    if x_range is None:
        both = np.concatenate([t[np.isfinite(t)], f[np.isfinite(f)]])
        x_range = tuple(np.percentile(both, [1, 99])) if both.size else (0.0, 1.0)
    lo, hi = float(x_range[0]), float(x_range[1])
    if hi <= lo:
        hi = lo + 1e-3
    finite = np.abs(err[np.isfinite(err)])
    emax = max(float(np.percentile(finite, 99)) if finite.size else 0.0, 1e-3)

    fig = Figure(figsize=(11, 10), layout="constrained")
    axes = fig.subplots(3, 3, squeeze=False)
    edges = [(0.0, n * voxel_um) for n in t.shape]
    for row, axis in enumerate(range(3)):
        mid = t.shape[axis] // 2
        take = [slice(None)] * 3
        take[axis] = mid
        # Remaining axes in (z, y, x) order: the later one runs horizontally.
        v_ax, h_ax = [a for a in range(3) if a != axis]
        extent = (*edges[h_ax], *edges[v_ax])
        for col, (img, title) in enumerate(((t, "truth"), (f, "result"), (err, "error"))):
            ax = axes[row, col]
            kw = (dict(cmap=_cmap("RdBu_r"), norm=TwoSlopeNorm(0.0, -emax, emax))
                  if col == 2 else dict(cmap=_cmap("viridis"), vmin=lo, vmax=hi))
            im = ax.imshow(img[tuple(take)], origin="lower", extent=extent,
                           interpolation="nearest", **kw)
            ax.set_title(f"{title}, {slice_title(_AXES[axis], mid, voxel_um)}", fontsize=9)
            ax.set_xlabel(f"{_AXES[h_ax]} (µm)")
            ax.set_ylabel(f"{_AXES[v_ax]} (µm)")
            if col == 1:
                li_im = im
            elif col == 2:
                err_im = im
    fig.colorbar(li_im, ax=axes[:, :2], shrink=0.6, label="Li content x")
    fig.colorbar(err_im, ax=axes[:, 2], shrink=0.6, label="error x (result − truth)")
    corner = ", ".join(f"{float(o):.2f}" for o in origin_um)
    fig.suptitle(f"positions from the volume's first face; its corner (z, y, x) = ({corner}) µm "
                 "in the scan frame", fontsize=9)
    return _save(fig, path)


def particle_figure(li_true, li_found, path) -> Path:
    """Scatter of per-particle mean Li, found against true, with the identity line.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = particle_figure([0.5, 0.8], [0.52, 0.77], pathlib.Path(tempfile.mkdtemp()) / "p.png")
    >>> p.suffix
    '.png'
    """
    t = np.asarray(li_true, np.float64)
    f = np.asarray(li_found, np.float64)
    if t.shape != f.shape or t.ndim != 1:
        raise ValueError(f"li_true {t.shape} and li_found {f.shape} must be equal 1-D shapes")
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.subplots()
    ok = np.isfinite(t) & np.isfinite(f)
    vals = np.concatenate([t[ok], f[ok]])
    lo, hi = (vals.min(), vals.max()) if vals.size else (0.0, 1.0)
    pad = 0.05 * max(hi - lo, 0.02)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=1, label="identity")
    ax.scatter(t[ok], f[ok], s=14, alpha=0.8, label=f"{ok.sum()} matched particles")
    if ok.any():
        mae = np.mean(np.abs(f[ok] - t[ok]))
        ax.set_title(f"per-particle mean Li (MAE {mae:.3f})", fontsize=10)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")
    ax.set_xlabel("true mean Li content x")
    ax.set_ylabel("found mean Li content x")
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def profile_figure(z, depth, path, *, voxel_z_um=None) -> Path:
    """z-profile and depth-below-surface profile of mean Li, truth and result.

    Parameters
    ----------
    z, depth : validate.metrics.Profile
        The two profiles (``centres_um``, ``true``, ``found``, ``rmse``).
    path : path-like
        PNG to write.
    voxel_z_um : float, optional
        z voxel size: the z profile (one value per slice) is then drawn at each slice's
        position from the volume's first face, as the pipeline's z-profile figure draws
        it; without it at ``z.centres_um`` as given.

    Returns
    -------
    Path
    """
    z_um = (np.asarray(z.centres_um, np.float64) if voxel_z_um is None
            else slice_position_um(np.arange(len(z.true)), voxel_z_um))
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, prof, xs, xlabel, title in ((axes[0], z, z_um, "z from the first face (µm)",
                                         "through-plane (z) profile"),
                                        (axes[1], depth, depth.centres_um,
                                         "depth below AM surface (µm)", "core-shell (depth) profile")):
        ax.plot(xs, prof.true, "-o", ms=3, label="truth")
        ax.plot(xs, prof.found, "--s", ms=3, label="result")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("mean Li content x")
        rmse = "n/a" if not np.isfinite(prof.rmse) else f"{prof.rmse:.4f}"
        ax.set_title(f"{title}, RMSE {rmse}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def confusion_figure(matrix, path, names=CLASS_NAMES) -> Path:
    """Heat map of the Li-class confusion matrix, counts and percent of each true class.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> m = np.array([[5, 1, 0], [0, 7, 2], [0, 0, 9]])
    >>> confusion_figure(m, pathlib.Path(tempfile.mkdtemp()) / "c.png").exists()
    True
    """
    m = np.asarray(matrix, np.int64)
    if m.shape != (len(names), len(names)):
        raise ValueError(f"matrix must be {len(names)}x{len(names)}, got {m.shape}")
    rows = m.sum(axis=1, keepdims=True)
    pct = np.divide(100.0 * m, rows, out=np.zeros(m.shape), where=rows > 0)
    fig = Figure(figsize=(5.2, 4.4), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(pct, cmap="Blues", vmin=0, vmax=100)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{m[i, j]}\n{pct[i, j]:.1f} %", ha="center", va="center",
                    fontsize=8, color="white" if pct[i, j] > 60 else "black")
    ax.set_xticks(range(len(names)), [f"Li-{n}" for n in names])
    ax.set_yticks(range(len(names)), [f"Li-{n}" for n in names])
    ax.set_xlabel("found class")
    ax.set_ylabel("true class")
    ax.set_title("Li-class confusion (voxels)", fontsize=10)
    fig.colorbar(im, ax=ax, label="% of true class")
    return _save(fig, path)


def write_figures(out_dir, truth, li_found, scores, voxel_um, origin_um, *, x_range=None):
    """Write all validation figures into ``out_dir``; return their paths.

    Parameters
    ----------
    out_dir : path-like
        Destination folder.
    truth : validate.grid.TruthOnGrid
        The truth on the result grid.
    li_found : ndarray
        The result's Li map.
    scores : validate.metrics.Scores
        The metrics (profiles, matched particles, confusion matrix).
    voxel_um : float
        Result voxel size, µm.
    origin_um : sequence of 3 float
        Result grid origin, µm.
    x_range : (float, float), optional
        Colour range of Li.

    Returns
    -------
    list of Path
    """
    out = Path(out_dir)
    li_true = np.where(truth.am_mask, truth.li, np.nan)
    return [
        slice_figure(li_true, li_found, voxel_um, origin_um, out / "slices.png", x_range=x_range),
        particle_figure(scores.particles.li_true, scores.particles.li_found, out / "particles.png"),
        profile_figure(scores.z, scores.depth, out / "profiles.png", voxel_z_um=voxel_um),
        confusion_figure(scores.classes.matrix, out / "confusion.png"),
    ]
