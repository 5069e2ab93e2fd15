"""Calibration: is the linear J -> Li calibration good enough?

The pipeline assumes the spectrum of partly delithiated NMC is a linear mix of
the two references. With the ``edge-shift`` spectral model (the pristine edge
shifted in proportion to the oxidation) J is no longer linear in x, and the map is
biased by an amount that depends on x. The sweep runs noise-free scenarios so the
bias is not drowned in noise, and reads found-against-true Li from the depth
(core-shell) and z profiles of the scorecard, which span the Li range of the sample.

The ``linear-combination`` scenarios are the control. Their spectra follow the
pipeline's own model, so whatever bias they show (a found/true slope well below 1 on
the small presets) is not calibration bias: it is resolution blur, partial volumes and
segmentation, which edge-shift scenarios of the same seed share. The bias the
calibration is to blame for is the difference, edge-shift minus control, taken seed
by seed; the verdict shows both rows and that difference, beside the bias the spectra
alone predict for a voxel of one Li content (`predicted_bias`: no imaging at all), the
independent number the measured curves are checked against.
"""

from __future__ import annotations

import numpy as np

from .scenarios import base_options, base_scenario, repeat_tasks
from .summary import Curve, Panel, curve_table, curves, fmt_pm, mean_std, panel_figure, value
from .verdict import K_SIGMA, NO_ERROR_BAR, paired, split

NAME = "calibration"
CONTROL = "linear-combination"
SHIFTS_EV = (1.0, 2.3, 4.0, 6.0)
SHIFTS_QUICK_EV = (2.3, 4.0)
LI_BINS = np.linspace(0.38, 1.0, 7)


def build_tasks(quick: bool, repeats: int, pipeline=None, geometry: str | None = None):
    """linear-combination (the pipeline's own assumption) and edge-shift at several shifts."""
    base = base_scenario(quick, geometry).replace(acquisition={"flux_photons": None})
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


def _ok(rows, series):
    return [r for r in rows if r.get("status") == "ok" and r.get("param.series") == series]


def _seed(row):
    return row.get("seed", row.get("repeat"))


def bin_bias(row) -> np.ndarray:
    """Mean bias (found − true) of one scenario in each bin of true Li (NaN where empty)."""
    t, f = pairs(row)
    # interior edges only: noisy values beyond [x_c, x_p] fall into the end bins
    k = np.digitize(t, LI_BINS[1:-1])
    return np.array([np.mean(f[k == i] - t[k == i]) if np.any(k == i) else np.nan
                     for i in range(LI_BINS.size - 1)])


def slope(row) -> float:
    """Slope of found against true Li of one scenario (1 for an unbiased map); NaN if undefined."""
    t, f = pairs(row)
    return float(np.polyfit(t, f, 1)[0]) if t.size >= 3 and np.ptp(t) > 0.02 else np.nan


def predicted_bias(shift_ev: float, energies_kev, x) -> np.ndarray:
    """Bias of the linear calibration at Li content ``x`` from the built-in edge-shift
    spectra alone (`trixanes.synth.xanes.linear_calibration_bias`; no imaging), with
    the scenarios' reference contents.

    Examples
    --------
    >>> b = predicted_bias(2.3, (8.30, 8.35, 8.43), [0.38, 0.74, 1.0])
    >>> [round(float(v), 3) for v in b]
    [0.0, 0.14, 0.0]
    """
    from trixanes.synth.lithium import LithiumParams
    from trixanes.synth.xanes import XanesModel, default_spectra, linear_calibration_bias

    pristine, charged = default_spectra(shift_ev)
    model = XanesModel("edge-shift", pristine, charged, x_pristine=LithiumParams.x_pristine,
                       x_charged=LithiumParams.x_charged, shift_ev=shift_ev)
    return linear_calibration_bias(model, energies_kev, x)


def predicted_curves(rows) -> dict:
    """{series: Curve} of `predicted_bias` at the Li bins' centres, for each edge-shift
    series, at the energies its scans were taken at."""
    centres = 0.5 * (LI_BINS[1:] + LI_BINS[:-1])
    out = {}
    for r in rows:
        label = r.get("param.series")
        if r.get("status") != "ok" or r.get("param.model") == CONTROL or label in out:
            continue
        energies = [value(r, f"process.energies_kev.{i}") for i in range(3)]
        if not np.all(np.isfinite(energies)):
            continue
        b = predicted_bias(float(r["param.edge_shift_ev"]), energies, centres)
        out[label] = Curve(centres, b, np.full(centres.size, np.nan), np.ones(centres.size, int))
    return out


def _curve(per_seed: list) -> Curve:
    """Mean ± std over seeds of per-bin values, kept where any seed has a value."""
    centres = 0.5 * (LI_BINS[1:] + LI_BINS[:-1])
    cols = np.array(per_seed, float).reshape(-1, centres.size).T
    stats = [mean_std(col) for col in cols]
    c = Curve(centres, np.array([s[0] for s in stats]), np.array([s[1] for s in stats]),
              np.array([s[2] for s in stats], int))
    keep = c.n > 0
    return Curve(c.x[keep], c.mean[keep], c.std[keep], c.n[keep])


def bias_curve(rows, series: str) -> Curve:
    """Bias (found − true) in bins of true Li, mean ± std over the repeats' bin means."""
    return _curve([bin_bias(r) for r in _ok(rows, series)])


def attributable_curve(rows, series: str, control: str = CONTROL) -> Curve:
    """Calibration-attributable bias in bins of true Li: the series minus the control,
    seed by seed (mean ± std over the seeds both have)."""
    ctrl = {_seed(r): bin_bias(r) for r in _ok(rows, control)}
    return _curve([bin_bias(r) - ctrl[_seed(r)] for r in _ok(rows, series) if _seed(r) in ctrl])


def fit_slope(rows, series: str) -> tuple[float, float]:
    """Slope of found against true Li (1 for an unbiased map), mean ± std over repeats."""
    m, s, _ = mean_std([slope(r) for r in _ok(rows, series)])
    return m, s


def _per_seed(rows, series, get) -> dict:
    return {_seed(r): get(r) for r in _ok(rows, series)}


def _pm(mean, std) -> str:
    return fmt_pm(mean, std) + ("" if np.isfinite(std) or not np.isfinite(mean) else f" ({NO_ERROR_BAR})")


def _span(c: Curve) -> str:
    """Bias at the lowest and highest Li bins and the largest |bias|."""
    if not c.x.size or not np.isfinite(c.mean).any():
        return "no profile pairs"
    lo, hi = 0, c.x.size - 1
    worst = int(np.nanargmax(np.abs(c.mean)))
    return (f"{fmt_pm(c.mean[lo], c.std[lo])} at x ≈ {c.x[lo]:.2f}, {fmt_pm(c.mean[hi], c.std[hi])} "
            f"at x ≈ {c.x[hi]:.2f}, largest |bias| {fmt_pm(abs(c.mean[worst]), c.std[worst])} at "
            f"x ≈ {c.x[worst]:.2f}")


def _row_line(rows, series, by_li) -> str:
    overall = mean_std([value(r, "voxel.am.bias") for r in _ok(rows, series)])
    return (f"AM bias {_pm(*overall[:2])}; bias against true Li {_span(by_li[series])}; "
            f"slope found/true {_pm(*fit_slope(rows, series))} (1 = unbiased)")


def _sign_words(d: Curve) -> str:
    """Where the attributable bias is negative, positive, or within the error bars."""
    g = split(d)
    xs = lambda v: ", ".join(f"{x:.2f}" for x in v)
    parts = [f"below 0 by more than {K_SIGMA:g}σ at x ≈ {xs(g['below'])}" if g["below"] else "",
             f"above 0 by more than {K_SIGMA:g}σ at x ≈ {xs(g['above'])}" if g["above"] else "",
             f"within {K_SIGMA:g}σ of 0 at x ≈ {xs(g['within'])}" if g["within"] else "",
             f"negative at x ≈ {xs(g['below?'])}" if g["below?"] else "",
             f"positive at x ≈ {xs(g['above?'])}" if g["above?"] else "",
             f"zero at x ≈ {xs(g['equal?'])}" if g["equal?"] else ""]
    text = "; ".join(p for p in parts if p)
    return text + (f" ({NO_ERROR_BAR})" if g["below?"] or g["above?"] or g["equal?"] else "")


def summarize(rows):
    """Both rows (control and edge-shift) and the calibration-attributable bias between them."""
    series = list(dict.fromkeys(r.get("param.series") for r in rows if r.get("status") == "ok"))
    shifted = [s for s in series if s != CONTROL]
    by_li = {s: bias_curve(rows, s) for s in series}
    attributable = {s: attributable_curve(rows, s) for s in shifted} if CONTROL in series else {}
    slopes = curves(rows, "param.edge_shift_ev", slope)
    panels = [
        Panel("bias against true Li (profiles)", "true Li x", "found − true", by_li, zero_line=True),
        Panel(f"calibration-attributable bias (minus {CONTROL})", "true Li x", "Δ(found − true)",
              {f"{s} − control": c for s, c in attributable.items()}, zero_line=True),
        Panel("AM Li bias", "edge shift (eV; 0 = linear-combination control)", "bias",
              curves(rows, "param.edge_shift_ev", "voxel.am.bias"), zero_line=True),
        Panel("slope found/true", "edge shift (eV; 0 = linear-combination control)", "slope", slopes),
        Panel("particle mean-Li bias", "edge shift (eV; 0 = linear-combination control)", "bias",
              curves(rows, "param.edge_shift_ev", "particles.mean_li.bias"), zero_line=True),
        Panel("interior Li RMSE", "edge shift (eV; 0 = linear-combination control)", "RMSE",
              curves(rows, "param.edge_shift_ev", "voxel.interior.rmse")),
    ]
    fig = panel_figure(panels, "Linear calibration against the spectral model (noise-free)", ncols=3)
    lines = ["## Verdict", ""]
    if not series:
        return fig, "\n".join(lines + ["No scenario finished."])
    if CONTROL in series:
        lines += [f"The **{CONTROL}** scenarios follow the pipeline's own spectral model, so their bias "
                  "is not calibration bias but what resolution blur, partial volumes and segmentation "
                  "leave; they are the control. The calibration-attributable bias is edge-shift minus "
                  "control, seed by seed"
                  + (f"; differences count as significant beyond {K_SIGMA:g} σ of the paired differences."
                     if len(_per_seed(rows, CONTROL, slope)) > 1 else "."), "",
                  f"- **{CONTROL} (control)**: {_row_line(rows, CONTROL, by_li)}."]
    else:
        lines += [f"No {CONTROL} scenario finished: without the control the bias below mixes "
                  "calibration with resolution blur and cannot be attributed to either.", ""]
    for s in shifted:
        lines.append(f"- **{s}**: {_row_line(rows, s, by_li)}.")
        if s not in attributable:
            continue
        d = attributable[s]
        am = paired(_per_seed(rows, CONTROL, lambda r: value(r, "voxel.am.bias")),
                    _per_seed(rows, s, lambda r: value(r, "voxel.am.bias")))
        ds = paired(_per_seed(rows, CONTROL, slope), _per_seed(rows, s, slope))
        if d.x.size and np.isfinite(d.mean).any():
            w = int(np.nanargmax(np.abs(d.mean)))
            worst = (f"largest |Δbias| {fmt_pm(abs(d.mean[w]), d.std[w])} at x ≈ {d.x[w]:.2f}; "
                     + _sign_words(d))
        else:
            worst = "no profile pairs in common with the control"
        lines.append(f"  Calibration-attributable ({s} − control, {am[2]} seed{'s' if am[2] != 1 else ''}): "
                     f"AM bias {_pm(*am[:2])}; slope change {_pm(*ds[:2])}; {worst}.")
    lines += ["", "## Bias (found − true) against true Li", "", curve_table(by_li, "true x")]
    predicted = predicted_curves(rows)
    if predicted:
        lines += ["", "## Predicted from the spectra alone (one voxel of content x, no imaging)", "",
                  "The linear calibration applied to the edge-shift spectra at the scans' energies: "
                  "zero at the references, largest between them. A measured profile bin averages "
                  "voxels of several contents, and blur mixes them, so it reads lower where the "
                  "predicted curve bends; its sign and shape are what to compare.", "",
                  curve_table(predicted, "x")]
    if attributable:
        lines += ["", f"## Calibration-attributable bias (edge-shift − {CONTROL}, seed by seed)", "",
                  curve_table(attributable, "true x")]
    return fig, "\n".join(lines)
