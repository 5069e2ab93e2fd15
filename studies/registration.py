"""Registration: how much Li error does sample drift between energies leave?

The sample drifts by up to ``drift_px`` (each axis, random) between the three
energies. The pipeline registers edge and post-edge onto the pre-edge volume; what
it misses misaligns the energies, and the edge jump is wrong first where μ changes
fast: at particle surfaces. So the AM RMSE (surfaces included) grows faster than
the interior RMSE. Without registration (full sweep) is the control.
"""

from __future__ import annotations

import numpy as np

from trixanes.validate.plugin import is_trixanes

from .scenarios import base_options, base_scenario, repeat_tasks
from .summary import Panel, curve_table, curves, fmt_point, panel_figure, value
from .verdict import K_SIGMA, NO_ERROR_BAR, difference, order, order_sentence, trend

NAME = "registration"
DRIFTS_PX = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
DRIFTS_QUICK_PX = (0.0, 2.0, 6.0)


def build_tasks(quick: bool, repeats: int, pipeline=None, geometry: str | None = None):
    """Drift with registration on; registration off as control (full sweep, and the
    largest drift in the quick one). Another pipeline than trixanes' own: one series,
    named after it (its registration is its own)."""
    base = base_scenario(quick, geometry)
    if not is_trixanes(pipeline):
        return [t for d in (DRIFTS_QUICK_PX if quick else DRIFTS_PX)
                for t in repeat_tasks(NAME, f"drift {d:g} px, {pipeline.name}",
                                      base.replace(acquisition={"drift_px": d}), {},
                                      {"drift_px": d, "register": None, "series": pipeline.name}, repeats)]
    drifts = DRIFTS_QUICK_PX if quick else DRIFTS_PX
    tasks = []
    for d in drifts:
        sc = base.replace(acquisition={"drift_px": d})
        for reg in (True, False):
            if not reg and quick and d != drifts[-1]:
                continue
            name = "registered" if reg else "not registered"
            tasks += repeat_tasks(NAME, f"drift {d:g} px, {name}", sc, base_options(quick, register=reg),
                                  {"drift_px": d, "register": reg, "series": name}, repeats)
    return tasks


def _surface_excess(row):
    return value(row, "voxel.am.rmse") - value(row, "voxel.interior.rmse")


def _found_shift(row):
    """Largest translation the registration found (edge or post-edge onto pre-edge), voxels."""
    shifts = [np.linalg.norm([value(row, f"process.registration.{r}.translation_vox_zyx.{i}")
                              for i in range(3)]) for r in ("edge", "post")]
    return float(np.nanmax(shifts)) if np.isfinite(shifts).any() else np.nan


METRICS = (
    ("AM Li RMSE (with surfaces)", "voxel.am.rmse"),
    ("interior Li RMSE", "voxel.interior.rmse"),
    ("surface excess: AM − interior RMSE", _surface_excess),
    ("largest registration shift found (vox)", _found_shift),
)


def summarize(rows):
    """Panels against the drift; verdict on the surface excess with and without registration."""
    panels = [Panel(t, "maximum drift (px)", t, curves(rows, "param.drift_px", m, "param.series"))
              for t, m in METRICS]
    fig = panel_figure(panels, "Drift between energies and registration")
    lines = ["## Verdict", ""]
    am, interior, excess = (panels[i].curves for i in range(3))
    if not am:
        return fig, "\n".join(lines + ["No scenario finished."])
    for s in am:
        lines.append(f"- **{s}**: {trend(am[s], 'AM Li RMSE', ' px')}; "
                     f"{trend(interior[s], 'interior Li RMSE', ' px')}; "
                     f"{trend(excess[s], 'surface excess', ' px')}.")
    reg, raw = excess.get("registered"), excess.get("not registered")
    if reg is not None and raw is not None:
        common = sorted(set(reg.x.tolist()) & set(raw.x.tolist()))
        for d in common[-1:]:
            a, b = reg.at(d), raw.at(d)
            o = order(b, a)  # registered minus not registered
            if not o.known:
                verdict = (f"lower registered in this run ({NO_ERROR_BAR})" if o.delta < 0 else
                           f"not lower registered in this run ({NO_ERROR_BAR})")
            elif o.significant and o.delta < 0:
                verdict = (f"registration removes most of it (beyond {K_SIGMA:g}σ)" if a[0] < 0.5 * b[0]
                           else f"registration reduces it (beyond {K_SIGMA:g}σ)")
            elif o.significant:
                verdict = f"registration increases it (beyond {K_SIGMA:g}σ)"
            else:
                verdict = f"registration does not change it beyond {K_SIGMA:g}σ"
            lines.append(f"- At {d:g} px drift the surface excess is {fmt_point(reg, int(np.argmin(abs(reg.x - d))))} "
                         f"registered against {fmt_point(raw, int(np.argmin(abs(raw.x - d))))} without: "
                         f"{verdict}.")
        # every metric at every drift both have, the ones where registration does worse included
        for (title, _), p in zip(METRICS[:3], panels[:3]):
            a, b = p.curves.get("not registered"), p.curves.get("registered")
            if a is not None and b is not None:
                diff = difference(a, b)
                if diff.x.size:
                    lines.append(f"- {title}, registered against not: "
                                 + order_sentence(diff, "lower registered", "higher registered", "{:g} px") + ".")
    lines += ["", "## AM Li RMSE", "", curve_table(am, "drift (px)"),
              "", "## Surface excess (AM − interior RMSE)", "", curve_table(excess, "drift (px)")]
    return fig, "\n".join(lines)
