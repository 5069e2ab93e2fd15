"""Paper-style figures of a Li map and its statistics (matplotlib, Agg).

Figures are built on :class:`matplotlib.figure.Figure` directly, not through
pyplot, so nothing is registered in pyplot's global figure list: a figure is
freed when the function returns, in any backend and any thread. Each plot of
statistics accepts a second stats dict (e.g. from the truth) drawn as
"truth" against the "pipeline" result. PNGs are written atomically.

Slice positions, one convention for every figure of trixanes (validate's too): a
slice is named by the position of its voxel centres in µm from the volume's first
face, ``(index + 0.5) * voxel_um`` (:func:`slice_position_um`), the same number as
``z_um`` of the z profile in ``stats.json``; image axes run from 0 at that face.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from trixanes.pipeline.binning import voxel_size3
from trixanes._shared.atomic import atomic_path

__all__ = ["slice_position_um", "slice_title", "plot_orthoslices", "plot_histogram", "plot_class_fractions", "plot_particles",
           "plot_z_profile", "plot_depth_profile", "save_all"]

DPI = 150
LI_CMAP = "RdYlBu_r"  # red = Li-rich, as in the paper's maps
CLASS_LABELS = {"li_poor": "Li-poor", "li_moderate": "Li-moderate", "li_rich": "Li-rich"}


def slice_position_um(index, voxel_um):
    """Position of slice ``index`` in µm from the volume's first face: ``(index + 0.5) * voxel``.

    The convention of every figure title and label, and of ``stats.json``'s z profile.

    Examples
    --------
    >>> slice_position_um(0, 0.2), slice_position_um(12, 0.2)
    (0.1, 2.5)
    """
    pos = (np.asarray(index, dtype=float) + 0.5) * float(voxel_um)
    return pos if pos.ndim else float(pos)


def slice_title(axis: str, index: int, voxel_um: float) -> str:
    """``"z = 2.50 µm"``: the name of a slice in every figure (see :func:`slice_position_um`).

    Examples
    --------
    >>> slice_title("z", 12, 0.2)
    'z = 2.50 µm'
    """
    return f"{axis} = {slice_position_um(index, voxel_um):.2f} µm"


def _figure(w=5.0, h=3.6) -> Figure:
    fig = Figure(figsize=(w, h), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        # the temporary name does not end in .png: name the format
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")
    fig.clear()
    return path


def _arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _series(stats, ref):
    """(stats, label, style) pairs: the result, then the reference if any."""
    out = [(stats, "pipeline" if ref is not None else None, {"color": "C0", "lw": 1.6})]
    if ref is not None:
        out.append((ref, "truth", {"color": "k", "lw": 1.2, "ls": "--"}))
    return out


def _sigma(st, *keys):
    """σ of a statistic from the ``sigma`` section (`pipeline.uncertainty`), or None without one."""
    v = st.get("sigma") if hasattr(st, "get") else None
    for k in keys:
        v = v.get(k) if isinstance(v, dict) else None
    return v


def _legend(ax, ref):
    if ax.get_legend_handles_labels()[1]:  # the truth, or the error bars' meaning
        ax.legend(frameon=False, fontsize=8)


def plot_orthoslices(li, grey, voxel_size_um, path, *, index=None, vmin: float = 0.38,
                     vmax: float = 1.0) -> Path:
    """Three orthogonal slices of Li over the grey-level volume.

    Parameters
    ----------
    li : ndarray (z, y, x)
        Li content, NaN outside the active material (drawn transparent).
    grey : ndarray (z, y, x)
        Grey-level background, e.g. the post-edge volume, 1/µm.
    voxel_size_um : float or 3 floats
    path : path-like
        PNG to write.
    index : (iz, iy, ix), optional
        Slice indices; default the volume's middle (``n // 2`` on each axis). Titles
        give each slice's position from the first face (:func:`slice_position_um`).
    vmin, vmax : float
        Li colour range (default the charged and pristine stoichiometries).

    Returns
    -------
    Path

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> v = np.random.default_rng(0).random((8, 8, 8)).astype(np.float32)
    >>> p = plot_orthoslices(v, v, 0.2, pathlib.Path(tempfile.mkdtemp()) / "o.png")
    >>> p.exists()
    True
    """
    li = np.asarray(li, dtype=float)
    grey = np.asarray(grey, dtype=float)
    if li.ndim != 3 or grey.shape != li.shape:
        raise ValueError(f"li and grey must be 3-D of one shape, got {li.shape} and {grey.shape}")
    vz, vy, vx = voxel_size3(voxel_size_um)
    nz, ny, nx = li.shape
    iz, iy, ix = index if index is not None else (nz // 2, ny // 2, nx // 2)
    finite = grey[np.isfinite(grey)]
    g_lo, g_hi = np.percentile(finite, [1, 99]) if finite.size else (0, 1)
    panels = [
        (li[iz], grey[iz], (0, nx * vx, 0, ny * vy), "x (µm)", "y (µm)", slice_title("z", iz, vz)),
        (li[:, iy], grey[:, iy], (0, nx * vx, 0, nz * vz), "x (µm)", "z (µm)", slice_title("y", iy, vy)),
        (li[:, :, ix], grey[:, :, ix], (0, ny * vy, 0, nz * vz), "y (µm)", "z (µm)", slice_title("x", ix, vx)),
    ]
    fig = _figure(12, 4.2)
    axes = fig.subplots(1, 3)
    cmap = matplotlib.colormaps[LI_CMAP].with_extremes(bad=(0, 0, 0, 0))
    for ax, (l2, g2, ext, xl, yl, title) in zip(axes, panels):
        ax.imshow(g2, cmap="gray", vmin=g_lo, vmax=g_hi, extent=ext, origin="lower", interpolation="nearest")
        im = ax.imshow(np.ma.masked_invalid(l2), cmap=cmap, vmin=vmin, vmax=vmax, extent=ext, origin="lower",
                       interpolation="nearest")
        ax.set(xlabel=xl, ylabel=yl, title=title)
    fig.colorbar(im, ax=list(axes), label="Li content x in LiₓNMC", shrink=0.85)
    return _save(fig, path)


def plot_histogram(stats: dict, path, reference_stats: dict | None = None) -> Path:
    """Histogram of the relative lithiation q over the active material.

    Parameters
    ----------
    stats : dict
        Output of :func:`pipeline.analyze.analyze`.
    path : path-like
    reference_stats : dict, optional
        A second result (e.g. the truth) overlaid.

    Returns
    -------
    Path

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from trixanes.pipeline.analyze import analyze
    >>> m = np.ones((4, 4, 4), bool)
    >>> s = analyze(np.full(m.shape, 0.8), m, m.astype(np.int32), 0.2)
    >>> plot_histogram(s, pathlib.Path(tempfile.mkdtemp()) / "h.png").suffix
    '.png'
    """
    fig = _figure()
    ax = fig.subplots()
    for st, label, style in _series(stats, reference_stats):
        h = st["histograms"]["q"]
        edges, counts = np.asarray(h["edges"]), np.asarray(h["counts"], float)
        dens = counts / max(counts.sum(), 1) / np.diff(edges)
        ax.stairs(dens, edges, label=label, **style)
    for t in stats["thresholds"]:
        ax.axvline(t, color="0.5", lw=0.8, ls=":")
    ax.set(xlabel="relative lithiation q = (x − x_charged)/(x_pristine − x_charged)",
           ylabel="volume fraction density", title="Li distribution in the active material")
    _legend(ax, reference_stats)
    return _save(fig, path)


def plot_class_fractions(stats: dict, path, reference_stats: dict | None = None) -> Path:
    """Volume fractions of Li-poor, Li-moderate and Li-rich active material.

    Parameters
    ----------
    stats : dict
    path : path-like
    reference_stats : dict, optional

    Returns
    -------
    Path

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from trixanes.pipeline.analyze import analyze
    >>> m = np.ones((4, 4, 4), bool)
    >>> s = analyze(np.full(m.shape, 0.8), m, m.astype(np.int32), 0.2)
    >>> plot_class_fractions(s, pathlib.Path(tempfile.mkdtemp()) / "c.png").exists()
    True
    """
    fig = _figure()
    ax = fig.subplots()
    names = list(CLASS_LABELS)
    series = _series(stats, reference_stats)
    width = 0.8 / len(series)
    x = np.arange(len(names))
    for k, (st, label, style) in enumerate(series):
        vals = [100 * st["class_fractions"][n] for n in names]
        sig = _sigma(st, "class_fractions")
        err = [200 * sig[n] for n in names] if sig else None  # ±2σ
        ax.bar(x + (k - (len(series) - 1) / 2) * width, vals, width, label=label, color=style["color"],
               alpha=0.85 if k == 0 else 0.4, edgecolor="k", lw=0.5, yerr=err, capsize=3 if err else 0)
    lo, hi = stats["thresholds"]
    ax.set_xticks(x, [f"Li-poor\nq ≤ {lo:g}", f"Li-moderate\n{lo:g} < q < {hi:g}", f"Li-rich\nq ≥ {hi:g}"])
    ax.set(ylabel="volume fraction of AM (%)", ylim=(0, 100),
           title="Li classes" + (" (±2σ photon noise)" if _sigma(stats, "class_fractions") else ""))
    _legend(ax, reference_stats)
    return _save(fig, path)


def plot_particles(stats: dict, path, reference_stats: dict | None = None) -> Path:
    """Per-particle mean Li against equivalent diameter, coloured by Li-rich fraction.

    Parameters
    ----------
    stats : dict
    path : path-like
    reference_stats : dict, optional
        Drawn as open black circles.

    Returns
    -------
    Path

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from trixanes.pipeline.analyze import analyze
    >>> m = np.ones((4, 4, 4), bool)
    >>> s = analyze(np.full(m.shape, 0.8), m, m.astype(np.int32), 0.2)
    >>> plot_particles(s, pathlib.Path(tempfile.mkdtemp()) / "p.png").exists()
    True
    """
    fig = _figure(5.4, 3.8)
    ax = fig.subplots()
    rows = stats["particles"]
    d = _arr([r["equivalent_diameter_um"] for r in rows])
    li = _arr([r["mean_li"] for r in rows])
    fr = _arr([r["li_rich_fraction"] for r in rows])
    sig = _sigma(stats, "particles")
    if sig:
        ax.errorbar(d, li, yerr=2 * _arr([p["mean_li"] for p in sig]), fmt="none", ecolor="0.4",
                    elinewidth=0.8, capsize=2, zorder=1, label="±2σ photon noise")
    sc = ax.scatter(d, li, c=fr, cmap=LI_CMAP, vmin=0, vmax=1, s=22, edgecolors="k", linewidths=0.3,
                    label="pipeline" if reference_stats is not None else None, zorder=2)
    fig.colorbar(sc, ax=ax, label="Li-rich volume fraction")
    if reference_stats is not None:
        rr = reference_stats["particles"]
        ax.scatter(_arr([r["equivalent_diameter_um"] for r in rr]), _arr([r["mean_li"] for r in rr]),
                   facecolors="none", edgecolors="k", s=30, linewidths=0.8, label="truth")
    ax.set(xlabel="equivalent diameter (µm)", ylabel="mean Li content x", title="Particles")
    _legend(ax, reference_stats)
    return _save(fig, path)


def plot_z_profile(stats: dict, path, reference_stats: dict | None = None) -> Path:
    """Mean Li of the active material in each z slice (through the electrode).

    Parameters
    ----------
    stats : dict
    path : path-like
    reference_stats : dict, optional

    Returns
    -------
    Path

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from trixanes.pipeline.analyze import analyze
    >>> m = np.ones((4, 4, 4), bool)
    >>> s = analyze(np.full(m.shape, 0.8), m, m.astype(np.int32), 0.2)
    >>> plot_z_profile(s, pathlib.Path(tempfile.mkdtemp()) / "z.png").exists()
    True
    """
    fig = _figure()
    ax = fig.subplots()
    for st, label, style in _series(stats, reference_stats):
        z, m = _arr(st["z_profile"]["z_um"]), _arr(st["z_profile"]["mean_li"])
        ax.plot(z, m, label=label, **style)
        sig = _sigma(st, "z_profile", "mean_li")
        if sig:
            e = _arr(sig)
            ax.fill_between(z, m - 2 * e, m + 2 * e, color=style["color"], alpha=0.25, lw=0,
                            label="±2σ photon noise")
    ax.set(xlabel="z from the first face (µm)", ylabel="mean Li content x", title="Li profile along z")
    _legend(ax, reference_stats)
    return _save(fig, path)


def plot_depth_profile(stats: dict, path, reference_stats: dict | None = None) -> Path:
    """Mean Li (± standard deviation) against depth below the particle surface.

    Parameters
    ----------
    stats : dict
    path : path-like
    reference_stats : dict, optional

    Returns
    -------
    Path

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from trixanes.pipeline.analyze import analyze
    >>> m = np.ones((4, 4, 4), bool)
    >>> s = analyze(np.full(m.shape, 0.8), m, m.astype(np.int32), 0.2)
    >>> plot_depth_profile(s, pathlib.Path(tempfile.mkdtemp()) / "d.png").exists()
    True
    """
    fig = _figure()
    ax = fig.subplots()
    for st, label, style in _series(stats, reference_stats):
        dp = st["depth_profile"]
        d, m, s = _arr(dp["depth_um"]), _arr(dp["mean_li"]), _arr(dp["std_li"])
        ax.plot(d, m, marker="o", ms=3, label=label, **style)
        ax.fill_between(d, m - s, m + s, color=style["color"], alpha=0.15, lw=0)
        sig = _sigma(st, "depth_profile", "mean_li")
        if sig:  # the band is the spread of the voxels; the bars the error of the mean
            ax.errorbar(d, m, yerr=2 * _arr(sig), fmt="none", ecolor=style["color"], capsize=2,
                        label="±2σ photon noise of the mean")
    ax.set(xlabel="depth below particle surface (µm)", ylabel="mean Li content x",
           title="Core-shell profile")
    _legend(ax, reference_stats)
    return _save(fig, path)


def save_all(stats: dict, li, grey, voxel_size_um, out_dir, *, reference_stats: dict | None = None) -> list[Path]:
    """Write every figure as a PNG into ``out_dir``.

    Parameters
    ----------
    stats : dict
        Output of :func:`pipeline.analyze.analyze`.
    li, grey : ndarray (z, y, x)
        Li map and grey-level (post-edge) volume for the orthoslices.
    voxel_size_um : float or 3 floats
    out_dir : path-like
        Created if missing.
    reference_stats : dict, optional
        A second result (e.g. the truth) overlaid on the statistics plots.

    Returns
    -------
    list of Path

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from trixanes.pipeline.analyze import analyze
    >>> m = np.ones((4, 4, 4), bool); li = np.full(m.shape, 0.8, np.float32)
    >>> s = analyze(li, m, m.astype(np.int32), 0.2)
    >>> len(save_all(s, li, li, 0.2, tempfile.mkdtemp()))
    6
    """
    out = Path(os.fspath(out_dir))
    out.mkdir(parents=True, exist_ok=True)
    ref = reference_stats
    return [
        plot_orthoslices(li, grey, voxel_size_um, out / "li_orthoslices.png",
                         vmin=min(stats["x_charged"], stats["x_pristine"]),
                         vmax=max(stats["x_charged"], stats["x_pristine"])),
        plot_histogram(stats, out / "li_histogram.png", ref),
        plot_class_fractions(stats, out / "li_class_fractions.png", ref),
        plot_particles(stats, out / "li_particles.png", ref),
        plot_z_profile(stats, out / "li_z_profile.png", ref),
        plot_depth_profile(stats, out / "li_depth_profile.png", ref),
    ]
