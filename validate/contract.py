"""The plug-in contract: what a pipeline is, and what a run of one gives.

A pipeline turns three Data Exchange scans and a ``references.csv`` into
``{out}/limap.h5`` (docs/formats.md). `Pipeline` is the base of the kinds
(`trixanes.validate.plugin` for trixanes' own, `trixanes.validate.external` for
commands and Python entry points); `PipelineRun` is the record of one run and
`PipelineFailed` the error that carries it.
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from trixanes._shared.jsonio import to_jsonable

__all__ = ["Pipeline", "PipelineRun", "PipelineFailed", "STDERR_TAIL_CHARS", "LIMAP_NAME"]

#: how much of a failed pipeline's stderr a `PipelineRun` keeps, characters
STDERR_TAIL_CHARS = 2000
LIMAP_NAME = "limap.h5"


@dataclass(frozen=True)
class PipelineRun:
    """What running a pipeline gave.

    Attributes
    ----------
    pipeline : str
        The pipeline's `~Pipeline.name`.
    ok : bool
        A limap.h5 was written and `trixanes.io.limap.read_limap` accepts it.
    limap_path : Path or None
        The limap.h5 (None when none was written).
    seconds : float
        Wall time of the pipeline.
    returncode : int or None
        Exit status of a command (negative: killed by that signal); None for
        Python pipelines and commands that never started or timed out.
    stderr_tail : str
        The last `STDERR_TAIL_CHARS` characters of a command's stderr, or of
        the traceback of a Python pipeline that raised.
    error : str or None
        Why it failed, in one sentence; None when ``ok``.
    """

    pipeline: str
    ok: bool
    limap_path: Path | None
    seconds: float
    returncode: int | None = None
    stderr_tail: str = ""
    error: str | None = None

    def to_dict(self) -> dict:
        return to_jsonable({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})


class PipelineFailed(RuntimeError):
    """A pipeline run failed; ``run`` is its `PipelineRun`, the message its error and stderr tail.

    Examples
    --------
    >>> err = PipelineFailed(PipelineRun("mine", False, None, 0.1, 1, "boom", "it exited with status 1"))
    >>> print(err)
    it exited with status 1
    stderr (tail):
    boom
    """

    def __init__(self, run: PipelineRun):
        self.run = run
        tail = run.stderr_tail.rstrip()
        super().__init__(f"{run.error}" + (f"\nstderr (tail):\n{tail}" if tail else ""))

    def __reduce__(self):  # Dask sends it back from a worker
        return (type(self), (self.run,))


@dataclass(frozen=True)
class _Outcome:
    """What one execution left: the claimed limap path, or why there is none."""

    limap_path: Path | None
    returncode: int | None = None
    stderr: str = ""
    error: str | None = None


class Pipeline(abc.ABC):
    """Base of the pipeline kinds: ``name``, ``describe()``, ``spec`` and an execution."""

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """Short name for tables and summaries."""

    @abc.abstractmethod
    def describe(self) -> str:
        """One line saying what runs."""

    @property
    @abc.abstractmethod
    def spec(self) -> dict:
        """A JSON-able description of what determines the result (for cache keys)."""

    @abc.abstractmethod
    def _execute(self, scans, references: Path, out_dir: Path, scenario_path: Path | None) -> _Outcome:
        """Run once; may raise (run_pipeline turns that into a failed run)."""
