"""Helpers of a pipeline's property test: simulate (cached), run, score, assert bounds.

`simulated_scan` gives the cached scans, references and truth of a scenario
(`trixanes.studies.simcache`); `score` scores a result against its truth;
`run_and_score` does both around a pipeline; `assert_scores` checks a
scorecard against bounds and, when any is broken, raises an `AssertionError`
whose message is a table of every bound with its measured value.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BOUNDS", "Bound", "simulated_scan", "score", "run_and_score", "check_scores", "assert_scores"]


@dataclass(frozen=True)
class Bound:
    """A bound of `assert_scores`: which score, its label, and which way is good.

    ``direction`` is ``"max"`` (the value must not exceed the bound), ``"min"``
    (must not fall below it) or ``"abs"`` (its magnitude must not exceed it).
    """

    keys: tuple
    label: str
    direction: str
    fmt: str = "{:.4f}"


#: the keywords of `assert_scores`: the scorecard entry each bounds (docs/formats.md)
BOUNDS = {
    "interior_rmse": Bound(("voxel", "interior", "rmse"), "interior Li RMSE", "max"),
    "am_rmse": Bound(("voxel", "am", "rmse"), "AM Li RMSE", "max"),
    "am_bias": Bound(("voxel", "am", "bias"), "AM Li bias", "abs", "{:+.4f}"),
    "missing_fraction": Bound(("voxel", "am", "missing_fraction"), "AM voxels without Li", "max"),
    "total_li_error": Bound(("total", "error"), "total Li error", "abs", "{:+.4f}"),
    "particle_mae": Bound(("particles", "mean_li", "mae"), "particle mean-Li MAE", "max"),
    "am_dice": Bound(("segmentation", "dice"), "AM Dice", "min", "{:.3f}"),
    "class_accuracy": Bound(("classes", "accuracy"), "class accuracy", "min", "{:.3f}"),
    "particle_f1": Bound(("particles", "f1"), "particle F1", "min", "{:.3f}"),
}


def simulated_scan(scenario, cache_dir=None, *, progress=False):
    """The scans, references and truth of ``scenario``, simulated once and cached.

    Parameters
    ----------
    scenario : trixanes.synth.config.Scenario
    cache_dir : path-like, optional
        The cache; default ``$TRIXANES_CACHE`` or ``~/.cache/trixanes/simulations``.
    progress : bool, optional

    Returns
    -------
    trixanes.studies.simcache.CachedSimulation
        ``scan_paths``, ``references_path``, ``truth_path``, ``scenario_path``,
        ``key``, ``cached`` (True when nothing was simulated).

    Examples
    --------
    >>> from trixanes.synth.config import Scenario
    >>> sim = simulated_scan(Scenario.preset("tiny"), "cache")  # doctest: +SKIP
    >>> len(sim.scan_paths), sim.truth_path.name  # doctest: +SKIP
    (3, 'truth.h5')
    """
    from trixanes.studies.simcache import cached_simulation

    return cached_simulation(scenario, cache_dir, progress=progress)


def _truth_path(truth) -> Path:
    # a simulation record (cached or not) or the truth.h5 itself
    return Path(getattr(truth, "truth_path", truth))


def score(result, truth, out_dir=None, *, figures=False):
    """Score a result against the truth; a failed pipeline run is an `AssertionError`.

    Parameters
    ----------
    result : path-like or trixanes.validate.plugin.PipelineRun
        A limap.h5, or the run that wrote one.
    truth : path-like or a simulation record
        truth.h5, or anything with a ``truth_path`` (`simulated_scan`'s result).
    out_dir : path-like, optional
        Where scorecard.json goes; default a new temporary folder.
    figures : bool, optional
        Also write validate's figures.

    Returns
    -------
    trixanes.io.scorecard.Scorecard

    Raises
    ------
    AssertionError
        ``result`` is a run that failed: its error and stderr tail.

    Examples
    --------
    >>> from trixanes.validate.plugin import PipelineRun
    >>> score(PipelineRun("mine", False, None, 0.1, 1, "Traceback ...", "it crashed"), "truth.h5")
    Traceback (most recent call last):
    ...
    AssertionError: pipeline 'mine' failed: it crashed
    stderr (tail):
    Traceback ...
    """
    from trixanes.validate.plugin import PipelineFailed
    from trixanes.validate.scorecard import validate

    if hasattr(result, "ok") and hasattr(result, "limap_path"):
        if not result.ok:
            raise AssertionError(f"pipeline {result.pipeline!r} failed: {PipelineFailed(result)}")
        result = result.limap_path
    if out_dir is None:
        out_dir = tempfile.mkdtemp(prefix="trixanes-score-")
    return validate(_truth_path(truth), result, out_dir, figures=figures)


def run_and_score(pipeline, scenario, tmp_dir, *, cache_dir=None):
    """Simulate ``scenario`` (cached), run ``pipeline`` on it, score the result.

    Parameters
    ----------
    pipeline : Pipeline, str or None
        A `trixanes.validate.plugin` pipeline or its spec (None: trixanes' own).
    scenario : trixanes.synth.config.Scenario
    tmp_dir : path-like
        The run's folder: ``tmp_dir/<key>/out`` (limap.h5) and ``.../score``
        (scorecard.json), one per scenario.
    cache_dir : path-like, optional
        The simulation cache (`simulated_scan`).

    Returns
    -------
    trixanes.io.scorecard.Scorecard

    Raises
    ------
    AssertionError
        The pipeline failed (its error and stderr tail).

    Examples
    --------
    >>> from trixanes.synth.config import Scenario
    >>> card = run_and_score("trixanes", Scenario.preset("tiny"), "runs")  # doctest: +SKIP
    >>> assert_scores(card, am_dice=0.9)  # doctest: +SKIP
    """
    from trixanes.validate.plugin import run_pipeline

    sim = simulated_scan(scenario, cache_dir)
    where = Path(tmp_dir) / str(getattr(sim, "key", "run"))[:16]
    run = run_pipeline(pipeline, sim.scan_paths, sim.references_path, where / "out",
                       scenario_path=sim.scenario_path)
    return score(run, sim, where / "score")


def _value(card, keys):
    v = card
    for k in keys:
        v = v.get(k) if isinstance(v, Mapping) else None
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def check_scores(card, **bounds) -> list[tuple[str, float, float, bool]]:
    """Each bound with its value: ``(keyword, bound, value, ok)``, in `BOUNDS` order.

    A value that was not measured (NaN, missing) breaks its bound.

    Examples
    --------
    >>> card = {"voxel": {"interior": {"rmse": 0.03}}, "segmentation": {"dice": 0.8}}
    >>> check_scores(card, am_dice=0.9, interior_rmse=0.05)
    [('interior_rmse', 0.05, 0.03, True), ('am_dice', 0.9, 0.8, False)]
    """
    unknown = sorted(set(bounds) - set(BOUNDS))
    if unknown:
        raise ValueError(f"assert_scores: unknown bound {unknown[0]!r}; known: {', '.join(BOUNDS)}")
    if not bounds:
        raise ValueError(f"assert_scores: give at least one bound ({', '.join(BOUNDS)})")
    rows = []
    for name, b in BOUNDS.items():
        if name not in bounds:
            continue
        limit = bounds[name]
        if not (isinstance(limit, (int, float)) and math.isfinite(limit)) or isinstance(limit, bool):
            raise ValueError(f"assert_scores: {name} must be a finite number, got {limit!r}")
        v = _value(card, b.keys)
        ok = math.isfinite(v) and (v <= limit if b.direction == "max" else
                                   v >= limit if b.direction == "min" else abs(v) <= limit)
        rows.append((name, float(limit), v, ok))
    return rows


def assert_scores(card, **bounds) -> None:
    """Raise `AssertionError` with a table when a score breaks its bound.

    Parameters
    ----------
    card : Scorecard or mapping
        From `score`, `run_and_score`, `trixanes.validate.scorecard.validate`
        or a read scorecard.json.
    **bounds : float
        Keywords of `BOUNDS`: ``interior_rmse``, ``am_rmse``, ``missing_fraction``,
        ``particle_mae`` (upper bounds), ``am_bias``, ``total_li_error`` (on the
        magnitude), ``am_dice``, ``class_accuracy``, ``particle_f1`` (lower bounds).

    Raises
    ------
    AssertionError
        One line per bound (metric, keyword, bound, value, verdict), the
        failed ones marked FAIL; then the scored files.
    ValueError
        No bound, an unknown keyword, or a bound that is not a finite number.

    Examples
    --------
    >>> card = {"voxel": {"interior": {"rmse": 0.131}}, "segmentation": {"dice": 0.956},
    ...         "total": {"error": -0.055}, "result_path": "out/limap.h5"}
    >>> assert_scores(card, interior_rmse=0.2, am_dice=0.9)
    >>> assert_scores(card, interior_rmse=0.05, am_dice=0.9, total_li_error=0.1)
    Traceback (most recent call last):
    ...
    AssertionError: 1 of 3 score bounds failed for out/limap.h5
    metric                keyword                    bound     value  verdict
    interior Li RMSE      interior_rmse          <= 0.0500    0.1310  FAIL
    total Li error        total_li_error     |x| <= 0.1000   -0.0550  ok
    AM Dice               am_dice                 >= 0.900     0.956  ok
    """
    __tracebackhide__ = True  # pytest shows the caller's line and the table, not this function
    rows = check_scores(card, **bounds)
    failed = [r for r in rows if not r[3]]
    if not failed:
        return
    op = {"max": "<=", "min": ">=", "abs": "|x| <="}
    lines = [f"{'metric':<22}{'keyword':<18}{'bound':>14}{'value':>10}  verdict"]
    for name, limit, value, ok in rows:
        b = BOUNDS[name]
        shown = "n/a" if not math.isfinite(value) else b.fmt.format(value)
        bound = f"{op[b.direction]} {b.fmt.replace('+', '').format(limit)}"
        lines.append(f"{b.label:<22}{name:<18}{bound:>14}{shown:>10}  {'ok' if ok else 'FAIL'}")
    head = f"{len(failed)} of {len(rows)} score bounds failed"
    where = card.get("result_path") if isinstance(card, Mapping) else None
    if where:
        head += f" for {where}"
    truth = card.get("truth_path") if isinstance(card, Mapping) else None
    raise AssertionError("\n".join([head, *lines] + ([f"truth: {truth}"] if truth else [])))
