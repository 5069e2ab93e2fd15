"""Binning: n×n×n block averaging trades resolution for noise; where does it stop paying?

The same noisy scans are processed with binning 1..10. Noise falls roughly as
n^(-3/2) while the partial-volume error at particle surfaces and the blur of the
core-shell profile grow with n: the interior RMSE measures the first, the
depth-profile RMSE and the AM-minus-interior RMSE the second.
"""

from __future__ import annotations

import math

import numpy as np

from trixanes.validate.plugin import is_trixanes

from .scenarios import base_options, base_scenario, repeat_tasks
from .summary import Panel, curve_table, curves, fmt_point, panel_figure, value
from .verdict import K_SIGMA, NO_ERROR_BAR, order, ties, trend

NAME = "binning"
FACTORS = (1, 2, 3, 4, 5, 6, 7, 8, 10)  # 7: the paper's 210 nm from 30 nm pixels
FACTORS_QUICK = (1, 2, 4)
SATURATION = 0.10  # a step that improves the interior RMSE by less than this is "saturated"


def build_tasks(quick: bool, repeats: int, pipeline=None, geometry: str | None = None):
    """One scenario per seed, processed at every binning factor (trixanes' own pipeline only)."""
    if not is_trixanes(pipeline):
        raise ValueError(f"study binning sweeps the binning option of trixanes' own pipeline; "
                         f"pipeline {pipeline.name!r} has no such option (run dead_angle, edge_energy, "
                         f"dose, calibration or registration with it)")
    base = base_scenario(quick, geometry)
    tasks = []
    for n in FACTORS_QUICK if quick else FACTORS:
        tasks += repeat_tasks(NAME, f"binning {n}", base, base_options(quick, binning=n),
                              {"binning": n}, repeats)
    return tasks


def _surface_excess(row):
    return value(row, "voxel.am.rmse") - value(row, "voxel.interior.rmse")


METRICS = (
    ("interior Li RMSE (noise)", "voxel.interior.rmse"),
    ("depth-profile RMSE (resolution)", "profiles.depth.rmse"),
    ("AM − interior RMSE (surfaces)", _surface_excess),
    ("AM segmentation Dice", "segmentation.dice"),
)


def saturation_point(curve, tol: float = SATURATION) -> float:
    """First factor after which the next step improves the mean by less than ``tol`` (relative)
    or, where there are error bars, by no more than ``K_SIGMA`` combined σ; NaN if every
    step still helps. Without error bars (one seed) only ``tol`` decides.

    Examples
    --------
    >>> from trixanes.studies.summary import Curve
    >>> c = Curve(np.array([1., 2, 4]), np.array([0.1, 0.05, 0.048]), np.full(3, np.nan), np.ones(3, int))
    >>> saturation_point(c)
    2.0
    """
    for i in range(len(curve.x) - 1):
        a, b = curve.at(curve.x[i]), curve.at(curve.x[i + 1])
        if not (math.isfinite(a[0]) and math.isfinite(b[0])):
            continue
        gain = (a[0] - b[0]) / a[0] if a[0] else 0.0
        o = order(a, b)
        if gain < tol or (o.known and not o.significant):
            return float(curve.x[i])
    return math.nan


def _why_saturated(curve, knee) -> str:
    i = int(np.flatnonzero(curve.x == knee)[0])
    a, b = curve.at(curve.x[i]), curve.at(curve.x[i + 1])
    gain = (a[0] - b[0]) / a[0] if a[0] else 0.0
    o = order(a, b)
    if o.known and not o.significant:
        return (f"changes the interior RMSE by {-gain:+.0%} ({fmt_point(curve, i)} to "
                f"{fmt_point(curve, i + 1)}), within {K_SIGMA:g}σ")
    return (f"improves the interior RMSE by {gain:.0%} ({fmt_point(curve, i)} to {fmt_point(curve, i + 1)}), "
            f"less than {SATURATION:.0%}" + ("" if o.known else f"; {NO_ERROR_BAR}"))


def summarize(rows):
    """Panels against the binning factor; verdict on noise, resolution and saturation."""
    panels = [Panel(t, "binning factor n", t, curves(rows, "param.binning", m)) for t, m in METRICS]
    fig = panel_figure(panels, "Binning: noise against resolution")
    noise, res, surf = (panels[i].curves.get("") for i in range(3))
    lines = ["## Verdict", ""]
    if noise is None:
        return fig, "\n".join(lines + ["No scenario finished."])
    best = int(np.nanargmin(noise.mean)) if np.isfinite(noise.mean).any() else None
    lines.append(f"- {trend(noise, 'Interior Li RMSE', '', 'binning {:g}')}.")
    if res is not None:
        lines.append(f"- {trend(res, 'Depth-profile RMSE', '', 'binning {:g}')}.")
    if surf is not None:
        lines.append(f"- {trend(surf, 'The surface excess (AM − interior RMSE)', '', 'binning {:g}')}.")
    if best is not None:
        lines.append(f"- Lowest interior RMSE at binning {noise.x[best]:g}: {fmt_point(noise, best)}; "
                     f"{ties(noise, best)}.")
    if res is not None and np.isfinite(res.mean).any():
        # the resolution metric may prefer another binning than the noise metric: say so
        k = int(np.nanargmin(res.mean))
        lines.append(f"- Lowest depth-profile RMSE at binning {res.x[k]:g}: {fmt_point(res, k)}; "
                     f"{ties(res, k)}.")
    knee = saturation_point(noise)
    defined = noise.x[np.isfinite(noise.mean)]
    if defined.size and defined.max() < noise.x.max():
        # coarse voxels larger than a particle's core leave no interior voxel to score
        lines.append(f"- Interior voxels exist only up to binning {defined.max():g} at this pixel "
                     f"size; beyond it only the AM-wide and profile errors are defined.")
    lines.append(f"- The noise gain saturates at binning {knee:g}: the next step "
                 + _why_saturated(noise, knee) + "." if math.isfinite(knee)
                 else "- Every binning step still improves the interior RMSE by more than "
                      f"{SATURATION:.0%}" + (f" and beyond {K_SIGMA:g}σ" if np.isfinite(noise.std).any()
                                             else f" ({NO_ERROR_BAR})")
                      + f": no saturation up to binning {(defined.max() if defined.size else noise.x.max()):g}.")
    voxel = curves(rows, "param.binning", "process.voxel_size_um").get("")
    if voxel is not None and math.isfinite(knee):
        lines.append(f"  That is a voxel of {voxel.at(knee)[0]:.3f} µm.")
    table = {t: c for (t, _), p in zip(METRICS, panels) for c in p.curves.values()}
    lines += ["", curve_table(table, "binning")]
    return fig, "\n".join(lines)
