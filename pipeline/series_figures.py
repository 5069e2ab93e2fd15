"""Figures of an operando series (the paper's Figs. 3, 4b, 4c, S2a, S3), on one colour scale.

Every Li map of a series sits on the first state's grid, so one slice index is
the same place in every state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trixanes.io.series import SeriesStats

from .figures import CLASS_LABELS, LI_CMAP, _figure, _save, slice_title

__all__ = ["save_series_figures"]


def _slice_index(lis) -> int:
    """The z slice with the most AM in the first state."""
    return int(np.argmax(np.isfinite(lis[0]).sum(axis=(1, 2))))


def plot_state_slices(stats: SeriesStats, lis, voxel_um, path, *, vmin=0.38, vmax=1.0) -> Path:
    """The same z slice of every state, one colour scale; below, the change between consecutive states."""
    k = _slice_index(lis)
    n = len(lis)
    fig = _figure(2.6 * n, 5.0 if n > 1 else 2.8)
    rows = 2 if n > 1 else 1
    top, bottom = [], []
    im = dim = None
    for s, li in enumerate(lis):
        ax = fig.add_subplot(rows, n, s + 1)
        im = ax.imshow(li[k], cmap=LI_CMAP, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(f"{stats.states[s]}", fontsize=9)
        ax.set_axis_off()
        top.append(ax)
    for s in range(1, n):
        ax = fig.add_subplot(rows, n, n + s + 1)
        dim = ax.imshow(lis[s][k] - lis[s - 1][k], cmap="coolwarm", vmin=-0.3, vmax=0.3,
                        interpolation="nearest")
        ax.set_title(f"{stats.states[s]} − {stats.states[s - 1]}", fontsize=9)
        ax.set_axis_off()
        bottom.append(ax)
    fig.colorbar(im, ax=top, shrink=0.8, label="Li content x")
    if bottom:
        fig.colorbar(dim, ax=bottom, shrink=0.8, label="Δx")
    fig.suptitle(f"Li maps per state, {slice_title('z', k, voxel_um)}", fontsize=10)
    return _save(fig, path)


def plot_trajectories(stats: SeriesStats, path) -> Path:
    """Each particle's mean Li and Li-rich fraction against state (Fig. 4b)."""
    fig = _figure(8.0, 3.4)
    x = np.arange(len(stats.states))
    for j, (values, name) in enumerate(((stats.mean_li, "mean Li content x"),
                                        (stats.li_rich_fraction, "Li-rich fraction"))):
        ax = fig.add_subplot(1, 2, j + 1)
        sigmas = stats.mean_li_sigma if j == 0 and stats.mean_li_sigma is not None else [None] * len(values)
        for row, inside, sig in zip(values, stats.inside, sigmas):
            style = dict(ms=2.5, lw=0.8, alpha=0.8 if inside else 0.3, color="C0" if inside else "0.5")
            if sig is None:
                ax.plot(x, row, "-o", **style)
            else:  # ±2σ of photon noise (series --uncertainty)
                ax.errorbar(x, row, yerr=2 * sig, fmt="-o", capsize=2, elinewidth=0.6, **style)
        ax.plot(x, np.nanmedian(values, axis=0), "k-", lw=2.0, label="median")
        ax.set_xticks(x, stats.states)
        ax.set_xlabel("state")
        ax.set_ylabel(name)
        ax.legend(frameon=False, fontsize=8)
    bars = "; bars: ±2σ of photon noise" if stats.mean_li_sigma is not None else ""
    fig.suptitle(f"{stats.labels.size} particles (grey: cut by the field of view{bars})", fontsize=10)
    return _save(fig, path)


def plot_state_summary(stats: SeriesStats, path) -> Path:
    """Class fractions (Fig. 4c) and total Li (Fig. S2a) per state."""
    fig = _figure(8.0, 3.2)
    x = np.arange(len(stats.states))
    ax = fig.add_subplot(1, 2, 1)
    bottom = np.zeros(x.size)
    for key, label in CLASS_LABELS.items():
        f = np.array([s["class_fractions"].get(key, np.nan) for s in stats.summary], float)
        ax.bar(x, f, bottom=bottom, label=label)
        bottom += np.nan_to_num(f)
    ax.set_xticks(x, stats.states)
    ax.set_ylabel("volume fraction of AM")
    ax.legend(frameon=False, fontsize=8)
    ax = fig.add_subplot(1, 2, 2)
    err = [2 * s["sigma"]["total_li"] if "sigma" in s else np.nan for s in stats.summary]
    ax.errorbar(x, [s["total_li"] for s in stats.summary], yerr=None if np.all(np.isnan(err)) else err,
                fmt="o-", capsize=3)
    ax.set_xticks(x, stats.states)
    ax.set_ylabel("total Li content x")
    ax.set_xlabel("state")
    return _save(fig, path)


def plot_state_z_profiles(stats: SeriesStats, path) -> Path:
    """The Li profile along z of every state (Fig. S3)."""
    fig = _figure(4.5, 3.4)
    ax = fig.add_subplot()
    for s, summ in zip(stats.states, stats.summary):
        z = summ["z_profile"]
        ax.plot(np.array(z["mean_li"], float), np.array(z["z_um"], float), label=s)
    ax.set_xlabel("mean Li content x")
    ax.set_ylabel("z (µm)")
    ax.legend(frameon=False, fontsize=8)
    return _save(fig, path)


def save_series_figures(stats: SeriesStats, lis, voxel_size_um, out_dir) -> list:
    """All series figures into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    v = float(voxel_size_um[0]) if np.ndim(voxel_size_um) else float(voxel_size_um)
    return [plot_state_slices(stats, lis, v, out_dir / "li_per_state.png"),
            plot_trajectories(stats, out_dir / "particle_trajectories.png"),
            plot_state_summary(stats, out_dir / "state_summary.png"),
            plot_state_z_profiles(stats, out_dir / "z_profiles.png")]
