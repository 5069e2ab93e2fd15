"""Calibration: is the linear J -> Li calibration good enough?

The pipeline assumes the spectrum of partly delithiated NMC is a linear mix of
the two references. With the ``edge-shift`` spectral model (the pristine edge
shifted in proportion to the oxidation) J is no longer linear in x, and the map is
biased by an amount that depends on x. The sweep runs noise-free scenarios so the
bias is not drowned in noise, and reads found-against-true Li from the depth
(core-shell) and z profiles of the scorecard, which span the Li range of the sample.
"""

from __future__ import annotations

import numpy as np

from .summary import Curve, Panel, curve_table, curves, fmt_pm, mean_std, panel_figure
from .sweep import base_options, base_scenario, repeat_tasks

NAME = "calibration"
SHIFTS_EV = (1.0, 2.3, 4.0, 6.0)
SHIFTS_QUICK_EV = (2.3, 4.0)
LI_BINS = np.linspace(0.38, 1.0, 7)


def build_tasks(quick: bool, repeats: int):
    """linear-combination (the pipeline's own assumption) and edge-shift at several shifts."""
    base = base_scenario(quick).replace(acquisition={"flux_photons": None})
    models = [("linear-combination", None)] + [("edge-shift", s) for s in
                                               (SHIFTS_QUICK_EV if quick else SHIFTS_EV)]
    tasks = []
    for model, shift in models:
        spectra = {"model": model} if shift is None else {"model": model, "edge_shift_ev": shift}
        label = model if shift is None else f"{model} {shift:g} eV"
        tasks += repeat_tasks(NAME, label, base.replace(spectra=spectra), base_options(quick),
                              {"model": model, "edge_shift_ev": 0.0 if shift is None else shift,
                               "series": label}, repeats)
    return tasks


def pairs(row) -> tuple[np.ndarray, np.ndarray]:
    """(true, found) Li pairs of one scenario from its depth and z profiles."""
    t, f = [], []
    for prof in (row.get("curves") or {}).values():
        a = np.asarray([np.nan if v is None else v for v in prof.get("true") or []], float)
        b = np.asarray([np.nan if v is None else v for v in prof.get("found") or []], float)
        if a.shape == b.shape:
            t.append(a)
            f.append(b)
    if not t:
        return np.empty(0), np.empty(0)
    t, f = np.concatenate(t), np.concatenate(f)
    ok = np.isfinite(t) & np.isfinite(f)
    return t[ok], f[ok]


def bias_curve(rows, series: str) -> Curve:
    """Bias (found − true) in bins of true Li, mean ± std over the repeats' bin means."""
    centres = 0.5 * (LI_BINS[1:] + LI_BINS[:-1])
    per_repeat = []
    for r in rows:
        if r.get("status") != "ok" or r.get("param.series") != series:
            continue
        t, f = pairs(r)
        # interior edges only: noisy values beyond [x_c, x_p] fall into the end bins
        k = np.digitize(t, LI_BINS[1:-1])
        per_repeat.append([np.mean(f[k == i] - t[k == i]) if np.any(k == i) else np.nan
                           for i in range(centres.size)])
    stats = [mean_std(col) for col in np.array(per_repeat, float).reshape(-1, centres.size).T]
    c = Curve(centres, np.array([s[0] for s in stats]), np.array([s[1] for s in stats]),
              np.array([s[2] for s in stats], int))
    keep = c.n > 0
    return Curve(c.x[keep], c.mean[keep], c.std[keep], c.n[keep])


def fit_slope(rows, series: str) -> tuple[float, float]:
    """Slope of found against true Li (1 for an unbiased calibration), mean ± std over repeats."""
    slopes = []
    for r in rows:
        if r.get("status") == "ok" and r.get("param.series") == series:
            t, f = pairs(r)
            if t.size >= 3 and np.ptp(t) > 0.02:
                slopes.append(np.polyfit(t, f, 1)[0])
    m, s, _ = mean_std(slopes)
    return m, s


def summarize(rows):
    """Bias against true Li per spectral model; slope and overall bias against the shift."""
    series = list(dict.fromkeys(r.get("param.series") for r in rows if r.get("status") == "ok"))
    by_li = {s: bias_curve(rows, s) for s in series}
    panels = [
        Panel("bias against true Li (profiles)", "true Li x", "found − true", by_li, zero_line=True),
        Panel("AM Li bias", "edge shift (eV; 0 = linear-combination)", "bias",
              curves(rows, "param.edge_shift_ev", "voxel.am.bias"), zero_line=True),
        Panel("particle mean-Li bias", "edge shift (eV; 0 = linear-combination)", "bias",
              curves(rows, "param.edge_shift_ev", "particles.mean_li.bias"), zero_line=True),
        Panel("interior Li RMSE", "edge shift (eV; 0 = linear-combination)", "RMSE",
              curves(rows, "param.edge_shift_ev", "voxel.interior.rmse")),
    ]
    fig = panel_figure(panels, "Linear calibration against the spectral model (noise-free)")
    lines = ["## Verdict", ""]
    if not series:
        return fig, "\n".join(lines + ["No scenario finished."])
    am_bias = panels[1].curves.get("")
    for s in series:
        c = by_li[s]
        slope = fit_slope(rows, s)
        shift = next(r.get("param.edge_shift_ev") for r in rows if r.get("param.series") == s)
        overall = am_bias.at(shift) if am_bias is not None else (np.nan, np.nan)
        if c.x.size:
            lo, hi = 0, c.x.size - 1
            worst = int(np.nanargmax(np.abs(c.mean))) if np.isfinite(c.mean).any() else lo
            span = (f"bias {fmt_pm(c.mean[lo], c.std[lo])} at x ≈ {c.x[lo]:.2f}, "
                    f"{fmt_pm(c.mean[hi], c.std[hi])} at x ≈ {c.x[hi]:.2f}, largest |bias| "
                    f"{fmt_pm(abs(c.mean[worst]), c.std[worst])} at x ≈ {c.x[worst]:.2f}")
        else:
            span = "no profile pairs"
        lines.append(f"- **{s}**: overall AM bias {fmt_pm(*overall)}; {span}; "
                     f"slope found/true {fmt_pm(*slope)} (1 = unbiased).")
    lines += ["", "## Bias (found − true) against true Li", "", curve_table(by_li, "true x")]
    return fig, "\n".join(lines)
