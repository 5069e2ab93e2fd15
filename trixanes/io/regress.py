"""``baseline.json`` and ``regress.json``: the files of `trixanes regress`.

A baseline holds, per scenario of a suite, the scores a pipeline reached once
(``--update-baseline``); a user keeps it beside their pipeline's code and
compares every later version with it. ``regress.json`` is one comparison:
each scenario's run and each metric's baseline, value now, change, tolerance
and verdict. Both are JSON objects with a ``format`` tag and a version; NaN
is ``null`` (`trixanes._shared.jsonio`). The layouts are in docs/formats.md.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from trixanes._shared.jsonio import nan_floats, read_json, to_jsonable, write_json
from trixanes.io._records import check_tagged, tagged_dict

__all__ = ["BASELINE_FORMAT", "REPORT_FORMAT", "VERDICTS", "Baseline", "Comparison", "RegressReport",
           "read_baseline", "write_baseline", "read_report", "write_report"]

BASELINE_FORMAT = "trixanes-regress-baseline"
REPORT_FORMAT = "trixanes-regress"
VERSION = 1
#: a metric's verdict: within tolerance, better or worse beyond it, not measured now
#: (but in the baseline), not in the baseline, or its scenario's pipeline run failed
VERDICTS = ("ok", "better", "worse", "missing", "new", "failed")
#: the verdicts that make `trixanes regress` exit 1
BAD_VERDICTS = ("worse", "missing", "failed")


def _number(v) -> float:
    return float(nan_floats([v])[0]) if v is None or isinstance(v, (int, float)) else math.nan


@dataclass(frozen=True)
class Baseline:
    """The scores of a pipeline on a suite, to compare later versions with.

    Attributes
    ----------
    suite : str
        The suite's name.
    suite_sha256 : str
        SHA-256 of the suite's TOML (a changed suite is said when comparing).
    pipeline : dict
        ``name``, ``describe`` and ``spec`` of the pipeline that made it.
    generator : str
        `trixanes.studies.simcache.generator_version` of the simulations.
    trixanes_version : str
    created_utc : str
        ISO 8601 time of writing.
    scenarios : dict
        ``{scenario name: {"simulation_key": str, "metrics": {metric: float}}}``.
    """

    suite: str
    suite_sha256: str
    pipeline: Mapping
    generator: str
    trixanes_version: str
    created_utc: str
    scenarios: Mapping

    def to_dict(self) -> dict:
        return tagged_dict(self, BASELINE_FORMAT, VERSION)

    @classmethod
    def from_dict(cls, d) -> "Baseline":
        check_tagged(d, cls, BASELINE_FORMAT, VERSION, "trixanes regress baseline")
        scenarios = d["scenarios"]
        if not isinstance(scenarios, Mapping):
            raise ValueError("\"scenarios\" must be an object of scenario name -> {simulation_key, metrics}")
        out = {}
        for name, s in scenarios.items():
            if not isinstance(s, Mapping) or not isinstance(s.get("metrics"), Mapping):
                raise ValueError(f"scenario {name!r}: expected {{\"simulation_key\": ..., \"metrics\": {{...}}}}")
            out[name] = {"simulation_key": s.get("simulation_key"),
                         "metrics": {k: _number(v) for k, v in s["metrics"].items()}}
        return cls(str(d["suite"]), str(d["suite_sha256"]), dict(d["pipeline"]), str(d["generator"]),
                   str(d["trixanes_version"]), str(d["created_utc"]), out)


@dataclass(frozen=True)
class Comparison:
    """One metric of one scenario against the baseline.

    Attributes
    ----------
    scenario, metric : str
        The metric as a dotted scorecard key, e.g. ``"voxel.interior.rmse"``.
    baseline, now : float
        NaN where not measured.
    change : float
        ``now − baseline``.
    tolerance : float
        The change allowed in the bad direction (absolute, after a relative one
        is applied to the baseline).
    better : str
        ``"lower"``, ``"higher"`` or ``"zero"`` (a bias: the smaller magnitude).
    verdict : str
        One of `VERDICTS`.
    """

    scenario: str
    metric: str
    baseline: float
    now: float
    change: float
    tolerance: float
    better: str
    verdict: str

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict: one of {', '.join(VERDICTS)}, got {self.verdict!r}")

    def to_dict(self) -> dict:
        return to_jsonable(dataclasses.asdict(self))


@dataclass(frozen=True)
class RegressReport:
    """What one `trixanes regress` run found (``regress.json``).

    Attributes
    ----------
    suite : str
    pipeline : dict
        ``name``, ``describe``, ``spec``.
    baseline_path : str or None
        The baseline compared with (None when it was written instead).
    updated_baseline : bool
        True for ``--update-baseline`` runs.
    exit_code : int
        0: nothing worse beyond tolerance; 1: something is (or a run failed).
    seconds : float
    scenarios : tuple of dict
        Per scenario: ``name``, ``hazard``, ``simulation`` (key, cached, seconds),
        ``run`` (the `~trixanes.validate.plugin.PipelineRun`), ``scorecard_path``,
        ``notes``.
    comparisons : tuple of Comparison
    notes : tuple of str
        What the reader should know (a suite or generator changed since the baseline).
    """

    suite: str
    pipeline: Mapping
    baseline_path: str | None
    updated_baseline: bool
    exit_code: int
    seconds: float
    scenarios: tuple
    comparisons: tuple
    notes: tuple = ()

    def worse(self) -> list[Comparison]:
        """The comparisons that make the run fail."""
        return [c for c in self.comparisons if c.verdict in BAD_VERDICTS]

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["comparisons"] = [c.to_dict() for c in self.comparisons]
        return {"format": REPORT_FORMAT, "version": VERSION, **to_jsonable(d)}

    @classmethod
    def from_dict(cls, d) -> "RegressReport":
        if not isinstance(d, Mapping) or d.get("format") != REPORT_FORMAT:
            raise ValueError(f"not a trixanes regress report (no \"format\": \"{REPORT_FORMAT}\")")
        try:
            comps = tuple(Comparison(**{**c, **{k: _number(c[k]) for k in ("baseline", "now", "change",
                                                                             "tolerance")}})
                          for c in d["comparisons"])
            return cls(d["suite"], d["pipeline"], d["baseline_path"], bool(d["updated_baseline"]),
                       int(d["exit_code"]), float(d["seconds"]), tuple(d["scenarios"]), comps,
                       tuple(d.get("notes", ())))
        except (KeyError, TypeError) as err:
            raise ValueError(f"malformed regress report ({type(err).__name__}: {err})") from None


def _read(path, record, what):
    d = read_json(path)
    try:
        return record.from_dict(d)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def write_baseline(path: str | os.PathLike, baseline: Baseline) -> Path:
    """Write a baseline atomically."""
    return write_json(path, baseline.to_dict())


def read_baseline(path: str | os.PathLike) -> Baseline:
    """Read a baseline; ValueError naming the file and what is wrong.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "baseline.json"
    >>> b = Baseline("quick", "ab", {"name": "mine"}, "0+1", "0.5", "2026-12-03T00:00:00Z",
    ...              {"full-angle": {"simulation_key": "k", "metrics": {"voxel.am.bias": float("nan")}}})
    >>> _ = write_baseline(p, b)
    >>> read_baseline(p).scenarios["full-angle"]["metrics"]
    {'voxel.am.bias': nan}
    """
    return _read(path, Baseline, "baseline")


def write_report(path: str | os.PathLike, report: RegressReport) -> Path:
    """Write ``regress.json`` atomically."""
    return write_json(path, report.to_dict())


def read_report(path: str | os.PathLike) -> RegressReport:
    """Read ``regress.json``; ValueError naming the file and what is wrong."""
    return _read(path, RegressReport, "regress report")
