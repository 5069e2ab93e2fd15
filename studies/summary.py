"""Shared helpers of the studies: flat rows, CSV, mean ± std over repeats, figures, tables.

pandas is not a dependency: rows are plain ``dict`` objects (one per scenario) and
columns are pulled out as float arrays where needed. Every sentence a study writes
is built from these numbers, never typed in by hand; the sentences that compare
numbers (and what their error bars allow them to claim) are in :mod:`.verdict`.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from trixanes._shared.atomic import atomic_path

_SCALAR = (int, float, str, bool, type(None))

# Columns that lead the CSV, in this order, when present; the rest follow sorted.
LEAD_COLUMNS = ("study", "label", "repeat", "seed", "status", "cached", "key")


# -- flat rows ---------------------------------------------------------------
def flatten(obj: Mapping, *, prefix: str = "", skip: Iterable[str] = (), max_list: int = 3) -> dict:
    """Flatten nested dicts to dotted keys, keeping scalars and short vectors.

    Parameters
    ----------
    obj : mapping
        Nested dicts of scalars and lists (a scorecard, a stats section).
    prefix : str
        Prepended to every key (with a dot).
    skip : iterable of str
        Keys to leave out, matched against the key itself or its full dotted path.
    max_list : int
        Lists of at most this many scalars become ``key.0``, ``key.1``, ...;
        longer lists (profiles, histograms) are dropped. A list beside a
        ``names`` list of the same length is suffixed by those names instead.

    Returns
    -------
    dict
        ``{"voxel.interior.rmse": 0.02, "classes.fraction_error.poor": -0.01, ...}``.

    Examples
    --------
    >>> flatten({"voxel": {"am": {"rmse": 0.1}}, "classes": {"names": ["poor", "rich"],
    ...          "fraction_error": [0.1, -0.1]}, "shape": [2, 3]}, skip=["names"])
    {'voxel.am.rmse': 0.1, 'classes.fraction_error.poor': 0.1, 'classes.fraction_error.rich': -0.1, 'shape.0': 2, 'shape.1': 3}
    """
    if not isinstance(obj, Mapping):
        raise ValueError(f"obj: expected a mapping, got {type(obj).__name__}")
    skip = set(skip)
    out: dict = {}
    names = obj.get("names")
    names = names if isinstance(names, list) and all(isinstance(n, str) for n in names) else None
    for key, val in obj.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if key in skip or path in skip:
            continue
        if isinstance(val, Mapping):
            out.update(flatten(val, prefix=path, skip=skip, max_list=max_list))
        elif isinstance(val, (list, tuple)):
            if not all(isinstance(v, _SCALAR) and not isinstance(v, str) for v in val):
                continue
            if names is not None and len(val) == len(names) and val is not names:
                out.update({f"{path}.{n}": v for n, v in zip(names, val)})
            elif len(val) <= max_list:
                out.update({f"{path}.{i}": v for i, v in enumerate(val)})
        elif isinstance(val, _SCALAR):
            out[path] = val
    return out


def write_csv(rows: Sequence[Mapping], path) -> Path:
    """Write rows (dicts) as CSV, one column per key seen in any row; atomic.

    Lead columns (study, label, repeat, seed, status, ...) come first, then the
    rest sorted; missing values and None are empty cells, non-scalars are skipped.

    Parameters
    ----------
    rows : sequence of mapping
    path : path-like

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_csv([{"label": "a", "x": 1.5, "curves": {}}], pathlib.Path(tempfile.mkdtemp()) / "r.csv")
    >>> p.read_text().splitlines()
    ['label,x', 'a,1.5']
    >>> read_csv(p)
    [{'label': 'a', 'x': 1.5}]
    """
    columns = sorted({k for r in rows for k, v in r.items() if isinstance(v, _SCALAR)})
    lead = [c for c in LEAD_COLUMNS if c in columns]
    params = [c for c in columns if c.startswith("param.")]
    columns = lead + params + [c for c in columns if c not in lead and c not in params]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow({c: ("" if r.get(c) is None else r.get(c)) for c in columns})
    return Path(path)


def read_csv(path) -> list[dict]:
    """Read a study CSV back: numbers as float, empty cells as None, text kept."""
    with open(path, newline="") as fh:
        return [{k: _parse(v) for k, v in r.items()} for r in csv.DictReader(fh)]


def _parse(text: str):
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    try:
        return float(text)
    except ValueError:
        return text


def ok_rows(rows: Iterable[Mapping]) -> list[Mapping]:
    """The rows of scenarios that finished (``status == "ok"``)."""
    return [r for r in rows if r.get("status") == "ok"]


def value(row: Mapping, name: str) -> float:
    """A row's value as float; NaN when missing, None or not a number."""
    v = row.get(name)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return math.nan
    return float(v)


# -- aggregation -------------------------------------------------------------
@dataclass(frozen=True)
class Curve:
    """Mean ± sample standard deviation of a metric over repeats, per x value.

    Attributes
    ----------
    x, mean, std : ndarray
        Sorted by x; ``std`` is NaN where fewer than two finite repeats exist.
    n : ndarray of int
        Finite repeats behind each point.
    """

    x: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    n: np.ndarray

    def at(self, x) -> tuple[float, float]:
        """(mean, std) at the point closest to ``x``."""
        i = int(np.argmin(np.abs(self.x - x)))
        return float(self.mean[i]), float(self.std[i])


def mean_std(values) -> tuple[float, float, int]:
    """Mean, sample std (NaN below two values) and count of the finite values.

    Examples
    --------
    >>> mean_std([1.0, 3.0, float("nan")])
    (2.0, 1.4142135623730951, 2)
    """
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan, int(v.size)


def curves(rows: Iterable[Mapping], x: str, metric, series: str | None = None) -> dict[str, Curve]:
    """Group finished rows by ``series`` and ``x``; mean ± std of ``metric`` over repeats.

    Parameters
    ----------
    rows : iterable of dict
    x : str
        Column of the swept parameter (numeric).
    metric : str or callable
        Column name, or ``f(row) -> float`` for a derived quantity.
    series : str, optional
        Column whose values split the rows into separate curves.

    Returns
    -------
    dict
        ``{series value: Curve}``, in order of first appearance (``""`` without series).

    Examples
    --------
    >>> rows = [{"status": "ok", "w": w, "e": e} for w, e in [(0, 1.0), (0, 3.0), (30, 5.0)]]
    >>> c = curves(rows, "w", "e")[""]
    >>> c.x.tolist(), c.mean.tolist(), c.n.tolist()
    ([0.0, 30.0], [2.0, 5.0], [2, 1])
    """
    get = metric if callable(metric) else (lambda r: value(r, metric))
    groups: dict[str, dict[float, list]] = {}
    for r in ok_rows(rows):
        xv = value(r, x)
        if not math.isfinite(xv):
            continue
        name = "" if series is None else str(r.get(series, ""))
        groups.setdefault(name, {}).setdefault(xv, []).append(get(r))
    out = {}
    for name, by_x in groups.items():
        xs = sorted(by_x)
        stats = [mean_std(by_x[k]) for k in xs]
        out[name] = Curve(np.array(xs, float), np.array([s[0] for s in stats]),
                          np.array([s[1] for s in stats]), np.array([s[2] for s in stats], int))
    return out


# -- words -------------------------------------------------------------------
def fmt_pm(mean: float, std: float = math.nan) -> str:
    """``mean ± std`` rounded to the precision of the std (1-2 significant digits).

    Examples
    --------
    >>> fmt_pm(0.02134, 0.0021), fmt_pm(0.0812, 0.013), fmt_pm(0.5, float("nan"))
    ('0.021 ± 0.002', '0.081 ± 0.013', '0.500')
    """
    if not math.isfinite(mean):
        return "n/a"
    # a spread at rounding level (identical repeats) is no spread
    if math.isfinite(std) and std > 1e-9 * max(abs(mean), 1e-300):
        exp = math.floor(math.log10(std))
        lead = int(round(std / 10 ** exp))
        digits = min(6, max(0, -exp + (1 if lead == 1 else 0)))
        return f"{mean:.{digits}f} ± {std:.{digits}f}"
    if mean == 0:
        return "0"
    digits = min(6, max(0, 2 - math.floor(math.log10(abs(mean)))))
    return f"{mean:.{digits}f}"


def fmt_point(curve: Curve, i: int) -> str:
    """The i-th point of a curve as ``mean ± std``."""
    return fmt_pm(float(curve.mean[i]), float(curve.std[i]))


def md_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def curve_table(named: Mapping[str, Curve], xname: str) -> str:
    """Markdown table with one row per x and one column per named curve."""
    xs = sorted({float(x) for c in named.values() for x in c.x})
    body = []
    for x in xs:
        row = [f"{x:.4g}"]
        for c in named.values():
            k = np.flatnonzero(c.x == x)
            row.append(fmt_point(c, int(k[0])) if k.size else "")
        body.append(row)
    return md_table([xname, *named], body)


# -- figures -----------------------------------------------------------------
@dataclass(frozen=True)
class Panel:
    """One axes of a study figure: curves with error bars against the swept parameter."""

    title: str
    xlabel: str
    ylabel: str
    curves: Mapping[str, Curve]
    zero_line: bool = False
    logx: bool = False


def panel_figure(panels: Sequence[Panel], suptitle: str, *, ncols: int = 2) -> Figure:
    """A figure of error-bar panels (mean ± std over repeats), one legend per panel."""
    n = max(1, len(panels))
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(4.6 * ncols, 3.4 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, p in zip(axes, panels):
        for name, c in p.curves.items():
            err = np.where(np.isfinite(c.std), c.std, 0.0)
            ax.errorbar(c.x, c.mean, yerr=err, marker="o", ms=4, capsize=3, label=name or None)
        if p.zero_line:
            ax.axhline(0.0, color="0.5", lw=0.8, ls="--")
        if p.logx:
            ax.set_xscale("log")
        ax.set(title=p.title, xlabel=p.xlabel, ylabel=p.ylabel)
        ax.grid(alpha=0.3)
        if any(p.curves) and len(p.curves) > 1:
            ax.legend(fontsize="small")
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(suptitle)
    return fig


def save_figure(fig: Figure, path) -> Path:
    """Save a figure as PNG atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=130)
    return Path(path)
