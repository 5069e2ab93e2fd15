"""Pipelines as plug-ins: anything that turns three scans and references into a limap.h5.

trixanes validates any pipeline, not only its own. A pipeline is given three
Data Exchange scan files and a ``references.csv`` and must write
``{out}/limap.h5`` in the layout of ``docs/formats.md``. Three kinds:

* `TrixanesPipeline` (the default): `trixanes.pipeline.process.process`;
* `CommandPipeline`: a command template run without a shell, e.g.
  ``python my_pipe.py {pre} {edge} {post} --refs {references} --out {out}``;
* `CallablePipeline`: a Python entry point ``module:function`` or
  ``path/to/file.py:function``, called as ``function(scans, references, out_dir)``
  and returning the path of the limap.h5 it wrote.

`parse_pipeline` makes one from the string a user types (``--pipeline``);
`run_pipeline` runs one and returns a `PipelineRun` record. A pipeline that
fails (non-zero exit, an exception, a timeout, no limap.h5 or one the reader
refuses) gives ``ok=False`` with the reason in one sentence and the tail of its
stderr: it never raises into a sweep. Only usage errors (a bad spec string, a
template without ``{out}``) raise `ValueError`, when the pipeline is made.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trixanes._shared.jsonio import to_jsonable
from trixanes.io.limap import read_limap
from trixanes.validate.contract import (LIMAP_NAME, STDERR_TAIL_CHARS, Pipeline, PipelineFailed, PipelineRun,
                                        _Outcome)
from trixanes.validate.external import ENTRY_POINT, PLACEHOLDERS, CallablePipeline, CommandPipeline

if TYPE_CHECKING:
    from trixanes.pipeline.process import ProcessOptions

__all__ = ["Pipeline", "TrixanesPipeline", "CommandPipeline", "CallablePipeline", "PipelineRun",
           "PipelineFailed", "PLACEHOLDERS", "is_trixanes", "parse_pipeline", "run_pipeline"]


@dataclass(frozen=True)
class TrixanesPipeline(Pipeline):
    """trixanes' own pipeline, `trixanes.pipeline.process.process` (the default).

    Examples
    --------
    >>> p = TrixanesPipeline()
    >>> p.name, p.spec["kind"], p.spec["options"]["binning"]
    ('trixanes', 'trixanes', None)
    """

    options: ProcessOptions | None = None  # None: the defaults without figures (a validated run needs none)

    def __post_init__(self):
        from trixanes.pipeline.process import ProcessOptions

        if self.options is not None and not isinstance(self.options, ProcessOptions):
            raise ValueError(f"options: expected a ProcessOptions or None, got {type(self.options).__name__}")

    @property
    def name(self) -> str:
        return "trixanes"

    def describe(self) -> str:
        return "trixanes' own pipeline (trixanes.pipeline.process)"

    @property
    def spec(self) -> dict:
        from trixanes.pipeline.process import ProcessOptions

        return {"kind": "trixanes", "options": to_jsonable(self.resolved_options())}

    def resolved_options(self) -> ProcessOptions:
        """The options it runs with: ``options``, or the defaults with ``figures=False``."""
        from trixanes.pipeline.process import ProcessOptions

        return self.options or ProcessOptions(figures=False)

    def _execute(self, scans, references, out_dir, scenario_path) -> _Outcome:
        from trixanes.pipeline.process import process

        result = process(scans, references, out_dir, options=self.resolved_options(), progress=False)
        return _Outcome(Path(result.limap_path))


def parse_pipeline(spec: str | Pipeline | None, *, timeout_s: float | None = None) -> Pipeline:
    """The pipeline a user named (``--pipeline``).

    Parameters
    ----------
    spec : str, Pipeline or None
        None or ``"trixanes"``: trixanes' own; ``module:function`` or
        ``path/to/file.py:function`` (the path may hold spaces): a
        `CallablePipeline`; anything else: a `CommandPipeline` template. A `Pipeline` is returned
        as it is.
    timeout_s : float, optional
        The timeout of a command (``--pipeline-timeout``).

    Returns
    -------
    Pipeline

    Raises
    ------
    ValueError
        A spec that names no importable function, or a command template
        that is empty, has an unknown placeholder or no ``{out}``.

    Examples
    --------
    >>> parse_pipeline(None).name
    'trixanes'
    >>> type(parse_pipeline("os.path:join")).__name__
    'CallablePipeline'
    >>> parse_pipeline("python pipe.py {scans} --out {out}", timeout_s=60).timeout_s
    60
    >>> parse_pipeline("nomodule:")
    Traceback (most recent call last):
    ...
    ValueError: pipeline 'nomodule:': expected module:function or path/to/file.py:function
    """
    if isinstance(spec, Pipeline):
        return spec
    if spec is None or (isinstance(spec, str) and spec.strip() == "trixanes"):
        return TrixanesPipeline()
    if not isinstance(spec, str):
        raise ValueError(f"pipeline: expected a string, a Pipeline or None, got {type(spec).__name__}")
    text = spec.strip()
    # module:function or file.py:function (its path may hold spaces); a command has {out}
    if "{" not in text and ENTRY_POINT.fullmatch(text):
        return CallablePipeline(text)
    return CommandPipeline(text, timeout_s=timeout_s)


def is_trixanes(pipeline) -> bool:
    """Whether ``pipeline`` (a `Pipeline` or a spec) is trixanes' own, which takes processing options.

    Examples
    --------
    >>> is_trixanes(None), is_trixanes("trixanes"), is_trixanes("python other.py {scans} --out {out}")
    (True, True, False)
    """
    return isinstance(parse_pipeline(pipeline), TrixanesPipeline)


def run_pipeline(pipeline: Pipeline | str | None, scans, references, out_dir, *,
                 scenario_path=None) -> PipelineRun:
    """Run a pipeline on three scans; check the limap.h5 it wrote.

    Parameters
    ----------
    pipeline : Pipeline, str or None
        A pipeline, or a spec for `parse_pipeline`.
    scans : sequence of 3 path-like
        The scans, in any order.
    references : path-like
        ``references.csv``.
    out_dir : path-like
        Created if missing; a ``limap.h5`` already in it is removed first, so
        that a pipeline that writes nothing cannot pass with an old file.
    scenario_path : path-like, optional
        The scenario TOML, for ``{scenario}``.

    Returns
    -------
    PipelineRun
        ``ok=False`` with ``error`` (and ``stderr_tail``, ``returncode``) for
        a pipeline that fails, times out, or writes no or an invalid limap.h5.

    Raises
    ------
    ValueError
        Usage errors only: a bad spec, not three scans, an output folder that
        is a file.

    Examples
    --------
    >>> import tempfile
    >>> crash = CommandPipeline("{python} -c 'import sys; sys.exit(3)' {out}")
    >>> run = run_pipeline(crash, ["a.h5", "b.h5", "c.h5"], "r.csv", tempfile.mkdtemp())
    >>> run.ok, run.returncode, run.error
    (False, 3, "pipeline 'python': the command exited with status 3")
    """
    from trixanes._shared.paths import check_out_dir

    pipeline = parse_pipeline(pipeline)
    scans = [Path(s).resolve() for s in scans]
    if len(scans) != 3:
        raise ValueError(f"scans: a pipeline takes three scans (pre-edge, edge, post-edge), got {len(scans)}")
    out_dir = check_out_dir(Path(out_dir).resolve())
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / LIMAP_NAME).unlink(missing_ok=True)
    who = f"pipeline {pipeline.name!r}"
    t0 = time.perf_counter()
    try:
        got = pipeline._execute(scans, Path(references).resolve(), out_dir,
                                None if scenario_path is None else Path(scenario_path))
    except (Exception, SystemExit) as err:  # a user's pipeline may raise (or exit): a failed run, not a crash
        tail = traceback.format_exc()[-STDERR_TAIL_CHARS:]
        return PipelineRun(pipeline.name, False, None, time.perf_counter() - t0, None, tail,
                           f"{who} raised {type(err).__name__}: {err}")
    seconds = time.perf_counter() - t0
    tail = got.stderr[-STDERR_TAIL_CHARS:]
    if got.error is not None:
        return PipelineRun(pipeline.name, False, None, seconds, got.returncode, tail, f"{who}: {got.error}")
    path = got.limap_path
    if not path.is_file():
        return PipelineRun(pipeline.name, False, None, seconds, got.returncode, tail,
                           f"{who} finished but wrote no {path}")
    try:
        read_limap(path)
    except ValueError as err:
        return PipelineRun(pipeline.name, False, path, seconds, got.returncode, tail,
                           f"{who} wrote a limap.h5 that does not follow docs/formats.md: {err}")
    return PipelineRun(pipeline.name, True, path, seconds, got.returncode, tail)
