"""Dead angle: how much a missing wedge of projections biases the Li map.

Two ways of losing the same directions: a *blocked wedge* (the scan keeps its
[-120°, 120°] range, but projections within w/2 of 90° + k·180° are unusable,
e.g. where a flat electrode is seen edge-on) and a *limited range* (the scan only
covers 180° − w, with the same angular step). Each is reconstructed with FBP and
with SIRT (non-negative, iterative, 100 iterations) and with OS-SIRT (10 passes of
10 ordered subsets: `auto`'s choice for gaps).
"""

from __future__ import annotations

import numpy as np

from trixanes.synth.acquisition import resolved_projections
from trixanes.validate.plugin import is_trixanes

from .scenarios import base_options, base_scenario, repeat_tasks
from .summary import Panel, curve_table, curves, fmt_pm, panel_figure, value
from .verdict import NO_ERROR_BAR, K_SIGMA, difference, order, order_sentence, split, trend

NAME = "dead_angle"
WEDGES_DEG = (0, 10, 20, 30, 40, 50, 60)
WEDGES_QUICK_DEG = (0, 30, 60)
ALGORITHMS = ("fbp", "sirt", "os-sirt")
ALGORITHMS_QUICK = ("fbp", "os-sirt")  # FBP against auto's choice for a gap
_ITERATIVE = {"sirt": "SIRT", "os-sirt": "OS-SIRT"}
CENTER_DEG = 90.0


def build_tasks(quick: bool, repeats: int, pipeline=None, geometry: str | None = None):
    """Wedge widths × {blocked wedge, limited range (full sweep only)} × {FBP, SIRT (full sweep
    only), OS-SIRT}.

    Another pipeline than trixanes' own has no algorithm option: one series per
    variant, named after it.
    """
    algorithms = (ALGORITHMS_QUICK if quick else ALGORITHMS) if is_trixanes(pipeline) else (pipeline.name,)
    base = base_scenario(quick, geometry)
    acq = base.acquisition
    lo, hi = acq.angle_range_deg
    n_full = resolved_projections(acq)
    step = (hi - lo) / max(n_full - 1, 1)
    variants = ("wedge",) if quick else ("wedge", "limited")
    tasks = []
    for w in WEDGES_QUICK_DEG if quick else WEDGES_DEG:
        for variant in variants:
            if variant == "wedge":
                change = {"dead_wedge_deg": float(w), "dead_wedge_center_deg": CENTER_DEG}
            else:
                # the same missing directions as the wedge at 90°: keep (-90 + w/2, 90 - w/2),
                # on the full scan's grid (so the sweep derives it from that scan)
                half = (180.0 - w) / 2
                i0, i1 = int(np.ceil((-half - lo) / step - 1e-9)), int(np.floor((half - lo) / step + 1e-9))
                change = {"angle_range_deg": (lo + i0 * step, lo + i1 * step), "dead_wedge_deg": 0.0,
                          "n_projections": max(2, i1 - i0 + 1)}
            scenario = base.replace(acquisition=change)
            for algo in algorithms:
                tasks += repeat_tasks(NAME, f"{variant} {w}° {algo}", scenario,
                                      base_options(quick, algorithm=algo) if algo in ALGORITHMS else {},
                                      {"wedge_deg": w, "variant": variant, "algorithm": algo,
                                       "series": f"{variant}, {algo}"}, repeats)
    return tasks


def _max_class_error(row):
    errs = [abs(value(row, f"classes.fraction_error.{c}")) for c in ("poor", "moderate", "rich")]
    return max(errs) if errs else float("nan")


METRICS = (
    ("interior Li RMSE", "voxel.interior.rmse", False),
    ("AM Li bias", "voxel.am.bias", True),
    ("AM Li RMSE", "voxel.am.rmse", False),
    ("particle mean-Li MAE", "particles.mean_li.mae", False),
    ("max |class fraction error|", _max_class_error, False),
    ("interior Li bias", "voxel.interior.bias", True),
)


def summarize(rows):
    """Error-bar panels against the wedge width; verdict per variant and algorithm."""
    panels = [Panel(title, "missing wedge (°)", title, curves(rows, "param.wedge_deg", m, "param.series"),
                    zero_line=zero) for title, m, zero in METRICS]
    fig = panel_figure(panels, "Dead angle: Li error against the missing wedge", ncols=3)
    rmse = panels[0].curves
    lines = ["## Verdict", ""]
    for series, c in rmse.items():
        bias = panels[1].curves.get(series)
        lines.append(f"- **{series}**: {trend(c, 'interior Li RMSE', '°')}"
                     + (f"; {trend(bias, 'AM Li bias', '°')}" if bias is not None else "") + ".")
    sigma = any(np.isfinite(c.std).any() for c in rmse.values())
    for algo, name in _ITERATIVE.items():  # none for a pipeline without the algorithm option
        comparison = _algorithm_comparison(panels, algo, name)
        if comparison:
            lines += ["", f"{name} against FBP, metric by metric (biases by magnitude; "
                      + (f"significant only beyond {K_SIGMA:g} combined σ):" if sigma else
                         f"{NO_ERROR_BAR}, so the order of the numbers only):"), ""]
            lines += comparison
    lines += ["", "## Interior Li RMSE", "", curve_table(rmse, "wedge (°)"),
              "", "## Per-particle mean-Li MAE", "", curve_table(panels[3].curves, "wedge (°)")]
    return fig, "\n".join(lines)


def _algorithm_comparison(panels, algo="sirt", method="SIRT") -> list[str]:
    """An iterative method against FBP on every metric, at every wedge: where it helps, where not.

    Error metrics compare as they are, biases by magnitude; every wedge is named, the
    ones where the iterative method does worse included.
    """
    out = []
    for variant in ("wedge", "limited"):
        fbp, sirt = (f"{variant}, fbp", f"{variant}, {algo}")
        if fbp not in panels[0].curves or sirt not in panels[0].curves:
            continue
        worse = []
        for (title, _, signed), p in zip(METRICS, panels):
            a, b = p.curves.get(fbp), p.curves.get(sirt)
            if a is None or b is None:
                continue
            d = difference(a, b, magnitude=signed)
            if not d.x.size or not np.isfinite(d.mean).any():
                continue
            name = f"|{title}|" if signed else title
            out.append(f"- {variant}, {name}: "
                       + order_sentence(d, f"{method} lower", f"{method} higher", "{:g}°") + ".")
            g = split(d)
            if g["above"]:
                worse.append(f"{name} at {_deg(g['above'])} (beyond {K_SIGMA:g}σ)")
            if g["above?"]:
                worse.append(f"{name} at {_deg(g['above?'])} ({NO_ERROR_BAR})")
        rmse_f, rmse_s = panels[0].curves[fbp], panels[0].curves[sirt]
        common = sorted(set(rmse_f.x.tolist()) & set(rmse_s.x.tolist()))
        if common:
            wmax = common[-1]
            f, s = rmse_f.at(wmax), rmse_s.at(wmax)
            ratio = s[0] / f[0] if f[0] else float("nan")
            o = order(f, s)
            claim = ("" if not o.known else f", a difference beyond {K_SIGMA:g}σ" if o.significant
                     else f", within {K_SIGMA:g}σ")
            out.append(f"- {variant}: at {wmax:g}° {method} gives an interior Li RMSE of {fmt_pm(*s)} against "
                       f"FBP {fmt_pm(*f)} (ratio {ratio:.2f}{claim}"
                       + ("" if o.known else f"; {NO_ERROR_BAR}") + ").")
        if worse:
            out.append(f"- {variant}: the order reverses ({method} worse than FBP) for " + "; ".join(worse) + ".")
        else:
            basis = (f"beyond {K_SIGMA:g}σ" if np.isfinite(rmse_s.std).any()
                     else f"in the means; {NO_ERROR_BAR}")
            out.append(f"- {variant}: {method} is worse than FBP on no metric at any wedge ({basis}).")
    return out


def _deg(xs) -> str:
    return ", ".join(f"{x:g}°" for x in xs)
