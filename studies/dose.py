"""Dose: at a fixed photon budget, many noisy projections or few clean ones?

Total dose D = flux_photons × n_projections stays fixed (the preset's flux times
its projection count); the projection count sweeps from under- to over-sampled.
Few projections give angular undersampling (streaks), many give photon-starved
frames; the interior Li RMSE shows where the optimum lies.
"""

from __future__ import annotations

import numpy as np

from trixanes.synth.acquisition import resolved_projections

from .scenarios import base_options, base_scenario, repeat_tasks
from .summary import Panel, curve_table, curves, fmt_point, panel_figure
from .verdict import ties, trend

NAME = "dose"
# n - 1 divides 360 (ends included): every count's angles are among the 361 of the largest,
# so the sweep derives all of them from one noise-free simulation per seed
N_PROJ = (31, 41, 46, 61, 91, 121, 181, 361)
N_PROJ_QUICK = (46, 91, 181)
DEFAULT_FLUX = 2e4


def build_tasks(quick: bool, repeats: int, pipeline=None, geometry: str | None = None):
    """Projection counts at flux = D / n, D fixed by the base scenario."""
    base = base_scenario(quick, geometry)
    acq = base.acquisition
    flux0 = acq.flux_photons or DEFAULT_FLUX
    dose = flux0 * resolved_projections(acq)
    tasks = []
    for n in N_PROJ_QUICK if quick else N_PROJ:
        flux = dose / n
        sc = base.replace(acquisition={"n_projections": n, "flux_photons": flux})
        tasks += repeat_tasks(NAME, f"{n} projections × {flux:.3g} photons", sc, base_options(quick),
                              {"n_projections": n, "flux_photons": flux, "dose_photons": dose}, repeats)
    return tasks


METRICS = (
    ("interior Li RMSE", "voxel.interior.rmse"),
    ("AM Li RMSE", "voxel.am.rmse"),
    ("particle mean-Li MAE", "particles.mean_li.mae"),
    ("AM Li bias", "voxel.am.bias"),
)


def summarize(rows):
    """Panels against the projection count (log axis); optimum with error bars."""
    panels = [Panel(t, "projections (fixed total dose)", t, curves(rows, "param.n_projections", m),
                    zero_line="bias" in t, logx=True) for t, m in METRICS]
    dose = next((r.get("param.dose_photons") for r in rows if r.get("param.dose_photons")), None)
    title = "Fixed dose" + (f": {dose:.3g} photons per pixel per energy" if dose else "")
    fig = panel_figure(panels, title)
    rmse = panels[0].curves.get("")
    lines = ["## Verdict", ""]
    if rmse is None or not np.isfinite(rmse.mean).any():
        return fig, "\n".join(lines + ["No scenario finished."])
    best = int(np.nanargmin(rmse.mean))
    worst = int(np.nanargmax(rmse.mean))
    lines.append(f"- {trend(rmse, 'Interior Li RMSE', ' projections')}.")
    lines.append(f"- Optimum at {rmse.x[best]:g} projections: {fmt_point(rmse, best)}, against "
                 f"{fmt_point(rmse, worst)} at {rmse.x[worst]:g}"
                 + (f" ({rmse.mean[worst] / rmse.mean[best]:.2f}× worse)" if rmse.mean[best] else "")
                 + f"; {ties(rmse, best, '{:g} projections')}.")
    # every metric's own optimum: where one metric prefers another projection count, say so
    for (title, _), p in zip(METRICS[1:], panels[1:]):
        c = p.curves.get("")
        if c is None or not np.isfinite(c.mean).any():
            continue
        k = int(np.nanargmin(np.abs(c.mean)) if "bias" in title else np.nanargmin(c.mean))
        lines.append(f"- {'Smallest |' + title + '|' if 'bias' in title else 'Lowest ' + title} at "
                     f"{c.x[k]:g} projections: {fmt_point(c, k)}; {ties(c, k, '{:g} projections')}.")
    mae = panels[2].curves.get("")
    if mae is not None:
        lines.append(f"- {trend(mae, 'Per-particle mean-Li MAE', ' projections')}.")
    lines += ["", curve_table({t: p.curves[""] for (t, _), p in zip(METRICS, panels) if "" in p.curves},
                              "projections")]
    return fig, "\n".join(lines)
