"""The sentences of a verdict that compare numbers, saying what the error bars support.

One rule for every study. A difference is called significant only where it exceeds
``K_SIGMA`` combined standard deviations (over the repeats, √(σa² + σb²)); with one
repeat there is no σ, so a comparison gives the order of the numbers and says
"one seed: no error bar", never "beyond 2σ". A comparison over a sweep names every
point, those where the order reverses included, not only the ones that favour a
conclusion.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .summary import Curve, fmt_point, fmt_pm

K_SIGMA = 2.0
NO_ERROR_BAR = "one seed: no error bar"

__all__ = ["K_SIGMA", "NO_ERROR_BAR", "Order", "order", "difference", "split", "order_sentence",
           "trend", "ties", "paired"]


@dataclass(frozen=True)
class Order:
    """How a value b compares with a value a.

    Attributes
    ----------
    delta : float
        b − a.
    sigma : float
        Combined standard deviation; NaN when either side has fewer than two repeats.
    k : float
        The multiple of ``sigma`` a difference must exceed to be called significant.
    """

    delta: float
    sigma: float
    k: float = K_SIGMA

    @property
    def known(self) -> bool:
        """Whether there is an error bar to judge the difference by."""
        return math.isfinite(self.sigma)

    @property
    def significant(self) -> bool:
        """``|delta| > k σ``; False without an error bar (nothing to claim)."""
        return self.known and math.isfinite(self.delta) and abs(self.delta) > self.k * self.sigma


def order(a: tuple[float, float], b: tuple[float, float], k: float = K_SIGMA) -> Order:
    """b against a, each ``(mean, std)`` (std NaN for a single repeat).

    Examples
    --------
    >>> order((0.10, 0.01), (0.05, 0.01)).significant
    True
    >>> o = order((0.10, float("nan")), (0.05, float("nan")))
    >>> o.delta, o.known, o.significant
    (-0.05, False, False)
    """
    sigma = math.hypot(a[1], b[1]) if math.isfinite(a[1]) and math.isfinite(b[1]) else math.nan
    return Order(float(b[0]) - float(a[0]), sigma, k)


def difference(a: Curve, b: Curve, *, magnitude: bool = False) -> Curve:
    """b − a at the x values both curves have (|b| − |a| with ``magnitude``, for biases).

    The std is the combined one, NaN where either point lacks repeats; ``n`` the
    smaller count.

    Examples
    --------
    >>> a = Curve(np.array([0., 30.]), np.array([0.02, 0.05]), np.array([0.001, 0.001]), np.array([2, 2]))
    >>> b = Curve(np.array([30., 60.]), np.array([0.04, 0.07]), np.array([0.001, 0.001]), np.array([2, 2]))
    >>> d = difference(a, b)
    >>> d.x.tolist(), np.round(d.mean, 6).tolist()
    ([30.0], [-0.01])
    """
    common = sorted(set(a.x.tolist()) & set(b.x.tolist()))
    ia = [int(np.flatnonzero(a.x == x)[0]) for x in common]
    ib = [int(np.flatnonzero(b.x == x)[0]) for x in common]
    ma, mb = a.mean[ia], b.mean[ib]
    if magnitude:
        ma, mb = np.abs(ma), np.abs(mb)
    sa, sb = a.std[ia], b.std[ib]
    return Curve(np.array(common, float), mb - ma, np.hypot(sa, sb), np.minimum(a.n[ia], b.n[ib]))


def split(diff: Curve, k: float = K_SIGMA) -> dict[str, list[float]]:
    """The x values of a difference curve by what its error bars say.

    Returns
    -------
    dict
        ``"below"``/``"above"``: beyond ``k σ`` below/above zero; ``"within"``: within
        ``k σ``; ``"below?"``/``"above?"``/``"equal?"``: no error bar, by the sign of
        the mean alone. Points without a finite mean are left out.
    """
    out = {key: [] for key in ("below", "above", "within", "below?", "above?", "equal?")}
    for x, m, s in zip(diff.x.tolist(), diff.mean.tolist(), diff.std.tolist()):
        if not math.isfinite(m):
            continue
        o = Order(m, s, k)
        if o.significant:
            out["below" if m < 0 else "above"].append(x)
        elif o.known:
            out["within"].append(x)
        else:
            out["below?" if m < 0 else "above?" if m > 0 else "equal?"].append(x)
    return out


def _xs(xs: Sequence[float], xfmt: str) -> str:
    return ", ".join(xfmt.format(x) for x in xs)


def order_sentence(diff: Curve, below: str, above: str, xfmt: str = "{:g}", k: float = K_SIGMA) -> str:
    """Where a difference (b − a) lies below zero, above it, or within the error bars.

    Every point of the sweep is named, so a reversal of the order is reported too.

    Parameters
    ----------
    diff : Curve
        From :func:`difference`.
    below, above : str
        What a negative / positive difference means, e.g. ``"SIRT lower"``.
    xfmt : str
        Format of an x value, e.g. ``"{:g}°"``.
    k : float
        Significance in combined standard deviations.

    Examples
    --------
    >>> d = Curve(np.array([0., 30, 60]), np.array([0.001, -0.01, -0.03]), np.full(3, 0.002), np.full(3, 2))
    >>> order_sentence(d, "SIRT lower", "SIRT higher", "{:g}°")
    'SIRT lower by more than 2σ at 30°, 60°; within 2σ at 0°'
    >>> one = Curve(d.x, d.mean, np.full(3, np.nan), np.ones(3, int))
    >>> order_sentence(one, "SIRT lower", "SIRT higher", "{:g}°")
    'SIRT lower at 30°, 60°; SIRT higher at 0° (one seed: no error bar)'
    """
    g = split(diff, k)
    known = [f"{below} by more than {k:g}σ at {_xs(g['below'], xfmt)}" if g["below"] else "",
             f"{above} by more than {k:g}σ at {_xs(g['above'], xfmt)}" if g["above"] else "",
             f"within {k:g}σ at {_xs(g['within'], xfmt)}" if g["within"] else ""]
    unknown = [f"{below} at {_xs(g['below?'], xfmt)}" if g["below?"] else "",
               f"{above} at {_xs(g['above?'], xfmt)}" if g["above?"] else "",
               f"equal at {_xs(g['equal?'], xfmt)}" if g["equal?"] else ""]
    known, unknown = [t for t in known if t], [t for t in unknown if t]
    parts = known + ([("; ".join(unknown)) + f" ({NO_ERROR_BAR})"] if unknown else [])
    return "; ".join(parts) if parts else "no common point"


def trend(curve: Curve, what: str, xunit: str = "", xfmt: str = "{:g}", k: float = K_SIGMA) -> str:
    """One sentence on how a metric changes from the first to the last x.

    "rises"/"falls" with error bars only beyond ``k`` combined σ, else "stays within
    error bars"; with one seed the direction of the means, marked as such.

    Examples
    --------
    >>> c = Curve(np.array([0., 60.]), np.array([0.02, 0.08]), np.array([0.002, 0.01]), np.array([3, 3]))
    >>> trend(c, "interior Li RMSE", "°")
    'interior Li RMSE rises from 0.020 ± 0.002 at 0° to 0.080 ± 0.010 at 60°'
    >>> trend(Curve(c.x, c.mean, np.full(2, np.nan), np.ones(2, int)), "interior Li RMSE", "°")
    'interior Li RMSE rises from 0.0200 at 0° to 0.0800 at 60° (one seed: no error bar)'
    """
    finite = np.flatnonzero(np.isfinite(curve.mean))
    if finite.size == 0:
        return f"{what}: no finished scenario"
    i, j = int(finite[0]), int(finite[-1])
    at = lambda n: xfmt.format(curve.x[n]) + xunit
    if i == j:
        return f"{what} is {fmt_point(curve, i)} at {at(i)}"
    o = order(curve.at(curve.x[i]), curve.at(curve.x[j]), k)
    if o.known and not o.significant:
        return (f"{what} stays within error bars ({k:g}σ: {fmt_point(curve, i)} at {at(i)}, "
                f"{fmt_point(curve, j)} at {at(j)})")
    if o.delta == 0:
        return f"{what} is {fmt_point(curve, i)} at both {at(i)} and {at(j)}" + (
            "" if o.known else f" ({NO_ERROR_BAR})")
    verb = "rises" if o.delta > 0 else "falls"
    return (f"{what} {verb} from {fmt_point(curve, i)} at {at(i)} to {fmt_point(curve, j)} at {at(j)}"
            + ("" if o.known else f" ({NO_ERROR_BAR})"))


def ties(curve: Curve, i: int, xfmt: str = "{:g}", k: float = K_SIGMA) -> str:
    """Which other points are within ``k σ`` of point ``i`` (e.g. an optimum), in words.

    Examples
    --------
    >>> c = Curve(np.array([1., 2, 4]), np.array([0.05, 0.03, 0.032]), np.full(3, 0.001), np.full(3, 2))
    >>> ties(c, 1)
    'within 2σ of it: 4'
    >>> ties(Curve(c.x, c.mean, np.full(3, np.nan), np.ones(3, int)), 1)
    'one seed: no error bar, so how far it stands out is not known'
    """
    best = curve.at(curve.x[i])
    others = [n for n in range(curve.x.size) if n != i and math.isfinite(curve.mean[n])]
    orders = {n: order(best, curve.at(curve.x[n]), k) for n in others}
    if not others:
        return "no other point"
    if not any(o.known for o in orders.values()):
        return f"{NO_ERROR_BAR}, so how far it stands out is not known"
    tied = [curve.x[n] for n, o in orders.items() if o.known and not o.significant]
    unknown = [curve.x[n] for n, o in orders.items() if not o.known]
    text = f"within {k:g}σ of it: {_xs(tied, xfmt)}" if tied else f"no other point within {k:g}σ of it"
    return text + (f"; {NO_ERROR_BAR} at {_xs(unknown, xfmt)}" if unknown else "")


def paired(values_a: dict, values_b: dict) -> tuple[float, float, int]:
    """Mean ± std of b − a over the keys (seeds) both have: the paired difference.

    Scenarios of one seed share their phantom, so differences taken seed by seed
    cancel what the two share; the std is over seeds (NaN for one).

    Examples
    --------
    >>> d, sd, n = paired({0: 0.10, 1: 0.12, 2: 0.2}, {0: 0.05, 1: 0.08})
    >>> round(d, 6), round(sd, 6), n
    (-0.045, 0.007071, 2)
    """
    keys = [s for s in values_a if s in values_b]
    d = np.array([values_b[s] - values_a[s] for s in keys], float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return math.nan, math.nan, 0
    return float(d.mean()), float(d.std(ddof=1)) if d.size > 1 else math.nan, int(d.size)


def pm_or_single(mean: float, std: float) -> str:
    """``fmt_pm`` plus the no-error-bar mark where there is no std."""
    return fmt_pm(mean, std) + ("" if math.isfinite(std) else f" ({NO_ERROR_BAR})")
