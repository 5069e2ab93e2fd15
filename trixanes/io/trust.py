"""``trust.json``: what `trixanes trust` expects of a real scan's numbers.

One JSON object with a ``format`` tag and a version; NaN is ``null``
(`trixanes._shared.jsonio`). The layout is in docs/formats.md.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from trixanes._shared.jsonio import nan_nulls, read_json, write_json
from trixanes.io._records import check_tagged, tagged_dict

__all__ = ["TRUST_FORMAT", "TrustReport", "write_trust", "read_trust"]

TRUST_FORMAT = "trixanes-trust"
VERSION = 1


@dataclass(frozen=True)
class TrustReport:
    """Expected bias and spread of a real scan's statistics, from simulated twins.

    Attributes
    ----------
    scans : list of str
    result : str
        The folder of the result judged (``limap.h5``, ``stats.json``).
    twins : int
    acquisition : dict
        What the scans say (`trixanes.studies.trust.ScanAcquisition`).
    sample_fit : dict
        The scenario sections fitted from the result.
    pipeline : dict
        ``name``, ``describe``.
    statistics : dict
        Dotted stats.json key -> ``value`` (the scan's), ``expected_bias``,
        ``spread``, ``noise_sigma``, ``corrected``, ``interval`` (±2 σ of
        spread and noise combined), ``n_twins``, ``verdict``; for
        ``particles.mean_li``: ``expected_error`` (the twins' MAE).
    voxel : dict
        ``interior_rmse`` and ``am_rmse``: ``mean``, ``sd``, ``n`` over the twins.
    runs : list of dict
        Per twin: seed, simulation key, scorecard path, truth and found statistics.
    notes : tuple of str
    seconds : float
    """

    scans: list
    result: str
    twins: int
    acquisition: Mapping
    sample_fit: Mapping
    pipeline: Mapping
    statistics: Mapping
    voxel: Mapping
    runs: list
    notes: tuple = ()
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return tagged_dict(self, TRUST_FORMAT, VERSION)

    @classmethod
    def from_dict(cls, d) -> "TrustReport":
        check_tagged(d, cls, TRUST_FORMAT, VERSION, "trixanes trust report")
        kw = {f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d}
        for name in ("statistics", "voxel"):
            kw[name] = nan_nulls(kw[name])
        kw["notes"] = tuple(kw.get("notes", ()))
        return cls(**kw)


def write_trust(path: str | os.PathLike, report: TrustReport) -> Path:
    """Write ``trust.json`` atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> r = TrustReport(["a.h5"], "res", 1, {}, {}, {"name": "trixanes"},
    ...                 {"total_li": {"expected_bias": float("nan")}}, {}, [])
    >>> p = write_trust(pathlib.Path(tempfile.mkdtemp()) / "trust.json", r)
    >>> read_trust(p).statistics["total_li"]["expected_bias"]
    nan
    """
    return write_json(path, report.to_dict())


def read_trust(path: str | os.PathLike) -> TrustReport:
    """Read ``trust.json``; ValueError naming the file and what is wrong."""
    try:
        return TrustReport.from_dict(read_json(path))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
