"""Edge energy: where on the Ni K-edge to put the middle energy.

Pre-edge (8.30 keV) and post-edge (8.43 keV) stay fixed; the edge energy moves
across the edge. The calibration maps the edge jump J to Li linearly between the
references' jumps, ``x = x_c + (x_p − x_c)(J − J_c)/(J_p − J_c)``: its slope
dx/dJ = (x_p − x_c)/(J_p − J_c) multiplies the noise of J, and its sign flips
where the pristine and charged spectra cross. Noise stays on at the preset's flux,
so the interior RMSE is the Li precision at that dose.
"""

from __future__ import annotations

import math

import numpy as np

from .scenarios import base_options, base_scenario, repeat_tasks
from .summary import Panel, curve_table, curves, fmt_point, panel_figure, value
from .verdict import ties, trend

NAME = "edge_energy"
PRE_KEV, POST_KEV = 8.30, 8.43
EDGES_KEV = tuple(np.round(np.linspace(8.338, 8.360, 8), 4).tolist())
EDGES_QUICK_KEV = (8.340, 8.350, 8.360)
X_PRISTINE, X_CHARGED = 1.0, 0.38


def build_tasks(quick: bool, repeats: int, pipeline=None, geometry: str | None = None):
    """One scenario per edge energy."""
    base = base_scenario(quick, geometry)
    tasks = []
    for e in EDGES_QUICK_KEV if quick else EDGES_KEV:
        sc = base.replace(acquisition={"energies_kev": (PRE_KEV, float(e), POST_KEV)})
        tasks += repeat_tasks(NAME, f"edge {e:.4f} keV", sc,
                              base_options(quick, x_pristine=X_PRISTINE, x_charged=X_CHARGED),
                              {"edge_kev": float(e)}, repeats)
    return tasks


def calibration_slope(row) -> float:
    """dx/dJ of the linear calibration, from the reference jumps the pipeline used."""
    dj = value(row, "process.reference_jumps.pristine") - value(row, "process.reference_jumps.charged")
    return (X_PRISTINE - X_CHARGED) / dj if dj else math.nan


def _contrast(row) -> float:
    return value(row, "process.reference_jumps.pristine") - value(row, "process.reference_jumps.charged")


def summarize(rows):
    """Panels of contrast, slope, RMSE and bias against the edge energy; best energy."""
    x = "param.edge_kev"
    jp = curves(rows, x, "process.reference_jumps.pristine").get("")
    jc = curves(rows, x, "process.reference_jumps.charged").get("")
    panels = [
        Panel("reference edge jumps", "edge energy (keV)", "J",
              {k: c for k, c in (("pristine", jp), ("charged", jc)) if c is not None}),
        Panel("calibration slope dx/dJ", "edge energy (keV)", "dx/dJ",
              curves(rows, x, calibration_slope), zero_line=True),
        Panel("interior Li RMSE (precision)", "edge energy (keV)", "RMSE", curves(rows, x, "voxel.interior.rmse")),
        Panel("AM Li bias", "edge energy (keV)", "bias", curves(rows, x, "voxel.am.bias"), zero_line=True),
    ]
    fig = panel_figure(panels, f"Edge energy (pre {PRE_KEV} keV, post {POST_KEV} keV)")
    lines = ["## Verdict", ""]
    contrast = curves(rows, x, _contrast).get("")
    slope, rmse, bias = (panels[i].curves.get("") for i in (1, 2, 3))
    if rmse is None:
        return fig, "\n".join(lines + ["No scenario finished."])
    best = int(np.nanargmin(rmse.mean)) if np.isfinite(rmse.mean).any() else None
    if best is not None:
        worst = int(np.nanargmax(rmse.mean))
        lines.append(f"- Best Li precision at {rmse.x[best]:.4f} keV: interior RMSE {fmt_point(rmse, best)} "
                     f"(worst {fmt_point(rmse, worst)} at {rmse.x[worst]:.4f} keV); "
                     f"{ties(rmse, best, '{:.4f} keV')}.")
    if contrast is not None:
        lines.append(f"- {trend(contrast, 'Reference contrast J_p − J_c', ' keV', '{:.4f}')}.")
        lines.append("- " + _sign_sentence(contrast))
    if slope is not None:
        lines.append(f"- {trend(slope, 'Calibration slope dx/dJ', ' keV', '{:.4f}')}; "
                     "noise in J is multiplied by |dx/dJ|.")
    if bias is not None:
        lines.append(f"- {trend(bias, 'AM Li bias', ' keV', '{:.4f}')}.")
    table = {"J pristine": jp, "J charged": jc, "dx/dJ": slope, "interior RMSE": rmse, "AM bias": bias}
    lines += ["", curve_table({k: c for k, c in table.items() if c is not None}, "edge (keV)")]
    return fig, "\n".join(lines)


def _sign_sentence(contrast) -> str:
    m = contrast.mean
    ok = np.isfinite(m)
    if not ok.any():
        return "The reference jumps were not recorded."
    signs = np.sign(m[ok])
    xs = contrast.x[ok]
    if np.all(signs > 0):
        return (f"J_p > J_c at every edge energy from {xs[0]:.4f} to {xs[-1]:.4f} keV: the calibration "
                "keeps its sign (more Li, larger jump).")
    if np.all(signs < 0):
        return "J_p < J_c at every edge energy swept: the calibration slope is negative throughout."
    k = int(np.flatnonzero(np.diff(signs) != 0)[0])
    # linear interpolation of the zero crossing of the contrast
    e0 = xs[k] - m[ok][k] * (xs[k + 1] - xs[k]) / (m[ok][k + 1] - m[ok][k])
    return (f"The contrast changes sign near {e0:.4f} keV (between {xs[k]:.4f} and {xs[k + 1]:.4f} keV): "
            "there the calibration is undefined and Li cannot be measured; stay well away from it.")
