"""``trixanes regress``: is my pipeline still as good as it was?

A *suite* is a fixed list of small scenarios with fixed seeds, each one of the
method's hazards (full angle, dead wedges, drift and magnification, low dose,
edge-shift spectra, a dense electrode), and, per metric of the scorecard, a
tolerance: which way is better and how much worse a score may get. `run_regress`
runs a pipeline on every scenario (simulations come from
`trixanes.studies.simcache`, so a changed pipeline re-simulates nothing),
validates each result and compares each metric with a baseline: the scores of
an earlier version, written by ``update_baseline=True``.

The built-in suites are ``quick`` (the tiny geometry, about half a minute) and
``standard`` (the quick geometry, two seeds per hazard, a few minutes); a
user's own is a TOML file of the same layout (``studies/suites/quick.toml`` is
the documented example). The files written are owned by `trixanes.io.regress`
(``baseline.json``, ``regress.json``) and `trixanes.io.junit`.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from trixanes._shared.provenance import trixanes_version
from trixanes.io.junit import JUnitCase, write_junit
from trixanes.io.regress import (BAD_VERDICTS, Baseline, Comparison, RegressReport, read_baseline,
                                 write_baseline, write_report)

from .simcache import cached_simulation, generator_version
from .summary import flatten

__all__ = ["SUITES", "BETTER", "Tolerance", "SuiteScenario", "Suite", "load_suite", "judge", "run_regress",
           "format_table"]

SUITE_DIR = Path(__file__).resolve().parent / "suites"
#: the built-in suites: name -> TOML file
SUITES = {"quick": SUITE_DIR / "quick.toml", "standard": SUITE_DIR / "standard.toml"}
BETTER = ("lower", "higher", "zero")
_SECTIONS = ("sample", "lithium", "spectra", "acquisition")


@dataclass(frozen=True)
class Tolerance:
    """How much worse a metric may get: ``max(abs, rel · |baseline|)`` in the bad direction.

    Examples
    --------
    >>> Tolerance("lower", abs=0.005, rel=0.1).allowance(0.13)
    0.013000000000000001
    """

    better: str
    abs: float = 0.0
    rel: float = 0.0

    def __post_init__(self):
        if self.better not in BETTER:
            raise ValueError(f"better: one of {', '.join(BETTER)}, got {self.better!r}")
        for name in ("abs", "rel"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name}: must be a finite number >= 0, got {v!r}")

    def allowance(self, baseline: float) -> float:
        return max(self.abs, self.rel * abs(baseline)) if math.isfinite(baseline) else self.abs


@dataclass(frozen=True)
class SuiteScenario:
    """One scenario of a suite: a name, the hazard it covers, the scenario, its own tolerances."""

    name: str
    hazard: str
    scenario: object
    tolerances: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    """A regression suite (see the module docstring).

    Attributes
    ----------
    name, description : str
    path : Path
        The TOML file.
    sha256 : str
        Of the file's bytes: a baseline says which suite it was made on.
    scenarios : tuple of SuiteScenario
    tolerances : dict
        Metric (dotted scorecard key) -> `Tolerance`; the metrics compared.
    """

    name: str
    description: str
    path: Path
    sha256: str
    scenarios: tuple
    tolerances: Mapping

    def tolerance(self, scenario: SuiteScenario, metric: str) -> Tolerance:
        return scenario.tolerances.get(metric, self.tolerances[metric])


def _tolerances(table, where: str) -> dict:
    if not isinstance(table, Mapping):
        raise ValueError(f"{where}: expected a table of metric = {{ better = ..., abs = ..., rel = ... }}")
    out = {}
    for metric, t in table.items():
        if not isinstance(t, Mapping) or set(t) - {"better", "abs", "rel"} or "better" not in t:
            raise ValueError(f"{where}.{metric}: expected {{ better = \"lower\"|\"higher\"|\"zero\", "
                             f"abs = number, rel = number }}, got {t!r}")
        try:
            out[metric] = Tolerance(t["better"], t.get("abs", 0.0), t.get("rel", 0.0))
        except ValueError as err:
            raise ValueError(f"{where}.{metric}: {err}") from None
    return out


def load_suite(spec) -> Suite:
    """A suite by name (`SUITES`) or from a TOML file.

    Parameters
    ----------
    spec : str or path-like
        ``"quick"``, ``"standard"`` or the path of a suite TOML.

    Returns
    -------
    Suite

    Raises
    ------
    ValueError
        Unknown name, unreadable or invalid file (named, with the field at fault).

    Examples
    --------
    >>> s = load_suite("quick")
    >>> [sc.name for sc in s.scenarios][:3], s.tolerances["segmentation.dice"].better
    (['full-angle', 'wedge-30', 'wedge-60'], 'higher')
    """
    from trixanes.synth.config import Scenario, ScenarioError

    path = SUITES.get(str(spec), Path(spec))
    if str(spec) not in SUITES and not str(spec).endswith(".toml"):
        raise ValueError(f"suite: {spec!r} is neither a built-in suite ({', '.join(SUITES)}) nor a .toml file")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ValueError(f"{path}: cannot read the suite ({err.strerror or err})") from None
    try:
        data = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid TOML: {err}") from None
    head = data.get("suite", {})
    if not isinstance(head, Mapping) or not head.get("name"):
        raise ValueError(f"{path}: needs a [suite] table with a name")
    tolerances = _tolerances(data.get("tolerances", {}), f"{path}: [tolerances]")
    if not tolerances:
        raise ValueError(f"{path}: [tolerances] names no metric to compare")
    entries = data.get("scenario", [])
    if not entries:
        raise ValueError(f"{path}: no [[scenario]] entries")
    scenarios, seen = [], set()
    for i, e in enumerate(entries):
        where = f"{path}: scenario {i + 1}"
        name = e.get("name") if isinstance(e, Mapping) else None
        if not name or not isinstance(name, str):
            raise ValueError(f"{where}: needs a name")
        if name in seen:
            raise ValueError(f"{where}: the name {name!r} is used twice")
        seen.add(name)
        where = f"{path}: scenario {name!r}"
        unknown = set(e) - {"name", "hazard", "seed", "preset", "tolerances", *_SECTIONS}
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}; expected name, hazard, seed, preset, "
                             f"tolerances, {', '.join(_SECTIONS)}")
        try:
            sc = Scenario.preset(e.get("preset", head.get("preset", "tiny"))).replace(
                name=f"{head['name']}-{name}", seed=e.get("seed", 0), **{s: e[s] for s in _SECTIONS if s in e})
        except ScenarioError as err:
            raise ValueError(f"{where}: {err}") from None
        own = _tolerances(e.get("tolerances", {}), f"{where}: tolerances")
        if set(own) - set(tolerances):
            raise ValueError(f"{where}: tolerances for metric(s) the suite does not compare: "
                             f"{sorted(set(own) - set(tolerances))}")
        scenarios.append(SuiteScenario(name, str(e.get("hazard", "")), sc, own))
    return Suite(str(head["name"]), str(head.get("description", "")), path,
                 hashlib.sha256(raw).hexdigest(), tuple(scenarios), tolerances)


def judge(scenario: str, metric: str, baseline: float, now: float, tol: Tolerance) -> Comparison:
    """Compare one metric with its baseline.

    Worse means a change in the bad direction beyond ``tol.allowance(baseline)``
    (for ``better="zero"``, a magnitude that grew by more); better, one beyond it
    the other way. A value not measured now that was measured is ``missing``.

    Examples
    --------
    >>> judge("s", "voxel.am.bias", 0.004, 0.054, Tolerance("zero", abs=0.01)).verdict
    'worse'
    >>> judge("s", "segmentation.dice", 0.95, 0.94, Tolerance("higher", abs=0.02)).verdict
    'ok'
    """
    change = now - baseline
    allowed = tol.allowance(baseline)
    if not math.isfinite(baseline):
        verdict = "new"
    elif not math.isfinite(now):
        verdict = "missing"
    else:
        gain = {"lower": -change, "higher": change, "zero": abs(baseline) - abs(now)}[tol.better]
        verdict = "worse" if gain < -allowed else "better" if gain > allowed else "ok"
    return Comparison(scenario, metric, baseline, now, change, allowed, tol.better, verdict)


def _utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_regress(suite, out_dir, *, pipeline=None, baseline=None, update_baseline: bool = False,
                junit=None, cache_dir=None, progress: bool = True) -> RegressReport:
    """Run a pipeline on a suite, score it and compare with (or write) the baseline.

    Parameters
    ----------
    suite : Suite, str or path-like
        A `Suite`, or what `load_suite` takes.
    out_dir : path-like
        Per scenario ``<name>/out`` (what the pipeline wrote) and ``<name>/score``
        (scorecard.json); ``regress.json``.
    pipeline : Pipeline or str, optional
        `trixanes.validate.plugin.parse_pipeline`'s argument; default trixanes' own.
    baseline : path-like, optional
        Default ``out_dir/baseline.json``.
    update_baseline : bool
        Write the baseline instead of comparing (refused when a run failed).
    junit : path-like, optional
        Also write JUnit XML there.
    cache_dir : path-like, optional
        The simulation cache (`trixanes.studies.simcache.default_cache_dir`).
    progress : bool

    Returns
    -------
    RegressReport
        ``exit_code`` 0 when nothing got worse beyond tolerance, else 1.

    Raises
    ------
    ValueError
        Usage errors: a bad suite or pipeline spec, no baseline to compare with,
        a baseline of another suite.

    Examples
    --------
    >>> rep = run_regress("quick", "regress-out", update_baseline=True)  # doctest: +SKIP
    >>> run_regress("quick", "regress-out").exit_code  # doctest: +SKIP
    0
    """
    from trixanes._shared.paths import check_out_dir
    from trixanes.validate.plugin import parse_pipeline, run_pipeline
    from trixanes.validate.scorecard import validate

    t0 = time.perf_counter()
    suite = suite if isinstance(suite, Suite) else load_suite(suite)
    pipe = parse_pipeline(pipeline)
    out_dir = check_out_dir(out_dir)
    baseline_path = Path(baseline) if baseline is not None else out_dir / "baseline.json"
    base = None
    if not update_baseline:
        if not baseline_path.is_file():
            raise ValueError(f"{baseline_path}: no baseline to compare with; run once with --update-baseline "
                             f"(or give --baseline FILE)")
        base = read_baseline(baseline_path)
        if base.suite != suite.name:
            raise ValueError(f"{baseline_path}: a baseline of suite {base.suite!r}, not {suite.name!r}")
    notes = []
    if base is not None:
        if base.suite_sha256 != suite.sha256:
            notes.append(f"the suite file changed since the baseline was written ({suite.path})")
        if base.generator != generator_version():
            notes.append(f"the simulations were made by another generator than the baseline's "
                         f"({base.generator} then, {generator_version()} now): a change may come "
                         f"from trixanes' simulation, not from the pipeline")
    pipeline_info = {"name": pipe.name, "describe": pipe.describe(), "spec": pipe.spec}
    scenarios, comparisons, measured = [], [], {}
    bar = tqdm(suite.scenarios, desc=f"regress {suite.name}", unit="scenario", disable=not progress)
    for entry in bar:
        bar.set_postfix_str(entry.name)
        folder = out_dir / entry.name
        t1 = time.perf_counter()
        sim = cached_simulation(entry.scenario, cache_dir)
        t_sim = time.perf_counter() - t1
        run = run_pipeline(pipe, sim.scan_paths, sim.references_path, folder / "out",
                           scenario_path=sim.scenario_path)
        info = {"name": entry.name, "hazard": entry.hazard,
                "simulation": {"key": sim.key, "cached": sim.cached, "seconds": t_sim,
                               "folder": str(sim.folder)},
                "run": run.to_dict(), "scorecard_path": None}
        now = {m: math.nan for m in suite.tolerances}
        if run.ok:
            try:
                card = validate(sim.truth_path, run.limap_path, folder / "score", figures=False)
            except ValueError as err:  # a limap.h5 that reads but cannot be scored (another grid)
                run_failed = f"validate refused its limap.h5: {err}"
            else:
                run_failed = None
                flat = flatten(card)
                now = {m: float(flat.get(m, math.nan)) if isinstance(flat.get(m), (int, float))
                       else math.nan for m in suite.tolerances}
                info["scorecard_path"] = str(folder / "score" / "scorecard.json")
        else:
            run_failed = run.error
        info["error"] = run_failed
        measured[entry.name] = now
        old = (base.scenarios.get(entry.name) if base else None) or {}
        if base is not None and old and old.get("simulation_key") != sim.key:
            info["notes"] = ["simulated anew since the baseline (another scenario or generator)"]
        for metric in suite.tolerances:
            b = old.get("metrics", {}).get(metric, math.nan)
            c = judge(entry.name, metric, b, now[metric], suite.tolerance(entry, metric))
            if run_failed is not None:
                c = Comparison(c.scenario, c.metric, c.baseline, math.nan, math.nan, c.tolerance, c.better,
                               "failed")
            comparisons.append(c)
        scenarios.append(info)
    bar.close()
    failed = [s for s in scenarios if s["error"]]
    if update_baseline:
        if failed:
            notes.append(f"baseline not written: {len(failed)} scenario(s) failed "
                         f"({', '.join(s['name'] for s in failed)})")
        else:
            write_baseline(baseline_path, Baseline(
                suite.name, suite.sha256, pipeline_info, generator_version(), trixanes_version(), _utc_now(),
                {s["name"]: {"simulation_key": s["simulation"]["key"], "metrics": measured[s["name"]]}
                 for s in scenarios}))
            notes.append(f"baseline written to {baseline_path}")
        comparisons = [c if c.verdict == "failed" else
                       Comparison(c.scenario, c.metric, math.nan, c.now, math.nan, c.tolerance, c.better, "new")
                       for c in comparisons]
    bad = any(c.verdict in BAD_VERDICTS for c in comparisons)
    report = RegressReport(suite.name, pipeline_info, None if update_baseline else str(baseline_path),
                           update_baseline, 1 if bad else 0, time.perf_counter() - t0, tuple(scenarios),
                           tuple(comparisons), tuple(notes))
    write_report(out_dir / "regress.json", report)
    if junit is not None:
        write_junit(junit, f"trixanes regress {suite.name}", _junit_cases(report), seconds=report.seconds)
    return report


def _junit_cases(report: RegressReport) -> list[JUnitCase]:
    runs = {s["name"]: s for s in report.scenarios}
    cases, timed = [], set()
    for c in report.comparisons:
        s = runs[c.scenario]
        # the run's time on its scenario's first case only, so that the cases add up to the suite's
        seconds = 0.0 if c.scenario in timed else float(s["run"].get("seconds") or 0.0)
        timed.add(c.scenario)
        line = f"{c.metric} of {c.scenario}: {_cell(c.baseline)} -> {_cell(c.now)} ({c.verdict})"
        if c.verdict == "failed":
            cases.append(JUnitCase(f"regress.{report.suite}.{c.scenario}", c.metric, seconds,
                                   error=f"the pipeline failed: {s['error']}",
                                   details=s["run"].get("stderr_tail") or ""))
        elif c.verdict in BAD_VERDICTS:
            cases.append(JUnitCase(f"regress.{report.suite}.{c.scenario}", c.metric, seconds,
                                   failure=f"{line}: worse by more than {c.tolerance:.4g} "
                                           f"({c.better} is better)", details=line))
        else:
            cases.append(JUnitCase(f"regress.{report.suite}.{c.scenario}", c.metric, seconds))
    return cases


def _cell(v: float) -> str:
    return "n/a" if not math.isfinite(v) else f"{v:.4f}"


def format_table(report: RegressReport) -> str:
    """The comparison as a text table: scenario × metric, baseline, now, change, verdict.

    Examples
    --------
    >>> c = judge("wedge-30", "voxel.am.bias", 0.004, 0.054, Tolerance("zero", abs=0.01))
    >>> rep = RegressReport("quick", {"name": "mine"}, "b.json", False, 1, 3.0,
    ...                     ({"name": "wedge-30", "error": None},), (c,))
    >>> print(format_table(rep))  # doctest: +NORMALIZE_WHITESPACE
    scenario   metric           baseline      now    change  tolerance  verdict
    wedge-30   voxel.am.bias      0.0040   0.0540   +0.0500     0.0100  WORSE
    <BLANKLINE>
    regress quick, pipeline mine: 1 of 1 scores worse beyond tolerance: voxel.am.bias of wedge-30
    """
    w1 = max([8] + [len(c.scenario) for c in report.comparisons]) + 2
    w2 = max([6] + [len(c.metric) for c in report.comparisons]) + 2
    lines = [f"{'scenario':<{w1}}{'metric':<{w2}}{'baseline':>9}{'now':>9}{'change':>10}{'tolerance':>11}  verdict"]
    for c in report.comparisons:
        change = "n/a" if not math.isfinite(c.change) else f"{c.change:+.4f}"
        verdict = c.verdict.upper() if c.verdict in BAD_VERDICTS else c.verdict
        lines.append(f"{c.scenario:<{w1}}{c.metric:<{w2}}{_cell(c.baseline):>9}{_cell(c.now):>9}{change:>10}"
                     f"{c.tolerance:>11.4f}  {verdict}")
    lines.append("")
    who = f"regress {report.suite}, pipeline {report.pipeline.get('name')}"
    failed = [s for s in report.scenarios if s.get("error")]
    shown = set()
    for s in failed:
        lines.append(f"{s['name']}: the pipeline failed: {s['error']}")
        tail = (s.get("run") or {}).get("stderr_tail") or ""
        if tail.strip() and tail not in shown:  # the same crash on every scenario is shown once
            shown.add(tail)
            lines += ["    " + ln for ln in tail.rstrip().splitlines()[-12:]]
    bad = report.worse()
    worse = [c for c in bad if c.verdict != "failed"]
    n_fail = len(bad) - len(worse)
    if report.updated_baseline:
        lines.append(f"{who}: " + "; ".join(report.notes))
    elif bad:
        parts = []
        if worse:
            parts.append(f"{len(worse)} of {len(report.comparisons)} scores worse beyond tolerance: "
                         + ", ".join(f"{c.metric} of {c.scenario}" for c in worse))
        if n_fail:
            parts.append(f"the pipeline failed on {len(failed)} of {len(report.scenarios)} scenarios "
                         f"({n_fail} scores not measured)")
        lines.append(f"{who}: " + "; ".join(parts))
    else:
        lines.append(f"{who}: nothing worse beyond tolerance ({len(report.comparisons)} scores)")
    if not report.updated_baseline:
        lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines)
