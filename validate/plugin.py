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

import abc
import contextlib
import dataclasses
import importlib
import importlib.util
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trixanes._shared.jsonio import to_jsonable
from trixanes._shared.provenance import sha256_of
from trixanes.io.limap import read_limap

if TYPE_CHECKING:
    from trixanes.pipeline.process import ProcessOptions

__all__ = ["Pipeline", "TrixanesPipeline", "CommandPipeline", "CallablePipeline", "PipelineRun",
           "PipelineFailed", "PLACEHOLDERS", "is_trixanes", "parse_pipeline", "run_pipeline"]

#: placeholders of a command template; ``{scans}`` is the three scans as three arguments
#: (the order given), ``{python}`` the interpreter running trixanes
PLACEHOLDERS = ("pre", "edge", "post", "scans", "references", "out", "scenario", "python")
#: how much of a failed pipeline's stderr a `PipelineRun` keeps, characters
STDERR_TAIL_CHARS = 2000
LIMAP_NAME = "limap.h5"
# ``{{`` and ``}}`` are literal braces (as in str.format); ``{name}`` a placeholder
_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_]\w*)\}")
# an entry point: dotted module or a .py file, then a function name (maybe empty: an error)
_ENTRY = re.compile(r"(?:[A-Za-z_][\w.]*|.+\.py):\w*")
# an argument that looks like a script's path (a name with an extension, no spaces)
_SCRIPT = re.compile(r"[\w./~+-]*\w\.[A-Za-z]\w*")


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


@dataclass(frozen=True)
class CommandPipeline(Pipeline):
    """An external command, run without a shell from a template.

    The template is split like a POSIX shell line (`shlex`), then each
    placeholder is replaced inside its own argument, so paths with spaces stay
    one argument. Placeholders (`PLACEHOLDERS`): ``{pre}``, ``{edge}``,
    ``{post}`` (the scans told apart by their recorded energies, as
    `trixanes.pipeline.process.order_scans` does), ``{scans}`` (all three, as
    three arguments, in the order given), ``{references}``, ``{out}`` (the
    folder where ``limap.h5`` must appear; required), ``{scenario}`` (the
    scenario TOML, when the caller has one) and ``{python}`` (the interpreter
    running trixanes). ``{{`` and ``}}`` are literal braces.

    Parameters
    ----------
    template : str
    timeout_s : float or None
        Seconds after which the command (and every process it started) is
        killed and the run fails; None waits for ever. Not part of `spec`.

    Examples
    --------
    >>> p = CommandPipeline("python my_pipe.py {pre} {edge} {post} --refs {references} --out {out}")
    >>> p.name
    'my_pipe.py'
    >>> p.argv({"pre": "/a b/pre.h5", "edge": "e.h5", "post": "p.h5", "references": "r.csv",
    ...         "out": "/o"})[:3]
    ['python', 'my_pipe.py', '/a b/pre.h5']
    >>> CommandPipeline("python my_pipe.py {pre} {output}")
    Traceback (most recent call last):
    ...
    ValueError: pipeline command 'python my_pipe.py {pre} {output}': unknown placeholder {output} (known: {pre}, {edge}, {post}, {scans}, {references}, {out}, {scenario}, {python})
    """

    template: str
    timeout_s: float | None = None
    tokens: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        where = f"pipeline command {self.template!r}"
        if not isinstance(self.template, str) or not self.template.strip():
            raise ValueError(f"{where}: the command template is empty")
        try:
            tokens = tuple(shlex.split(self.template))
        except ValueError as err:  # unbalanced quotes
            raise ValueError(f"{where}: cannot be split into arguments ({err})") from None
        used = {m.group(1) for t in tokens for m in _FIELD.finditer(t) if m.group(1)}
        unknown = sorted(used - set(PLACEHOLDERS))
        if unknown:
            raise ValueError(f"{where}: unknown placeholder {{{unknown[0]}}} (known: "
                             f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)})")
        if "out" not in used:
            raise ValueError(f"{where}: has no {{out}}, so the command cannot know where to write limap.h5")
        if self.timeout_s is not None and not (isinstance(self.timeout_s, (int, float))
                                               and math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise ValueError(f"timeout_s: must be a positive number of seconds or None, got {self.timeout_s!r}")
        object.__setattr__(self, "tokens", tokens)

    @property
    def uses(self) -> frozenset:
        """The placeholders the template uses."""
        return frozenset(m.group(1) for t in self.tokens for m in _FIELD.finditer(t) if m.group(1))

    @property
    def name(self) -> str:
        # the script it runs, else the program: "my_pipe.py", "python"
        files = [t for t in self.tokens[1:] if not _FIELD.search(t) and (_SCRIPT.fullmatch(t) or os.path.isfile(t))]
        return Path(files[0]).name if files else Path(_FIELD.sub(lambda m: m.group(1) or "", self.tokens[0])).name

    def describe(self) -> str:
        return f"command: {self.template}"

    @property
    def spec(self) -> dict:
        # a script named in the template is part of what decides the result
        files = {t: sha256_of(t) for t in self.tokens if not _FIELD.search(t) and os.path.isfile(t)}
        return {"kind": "command", "template": self.template, "files": files}

    def argv(self, values: dict) -> list[str]:
        """The argument list for placeholder ``values`` (``scans``: a sequence of paths)."""
        values = {"python": sys.executable, **values}
        argv = []
        for tok in self.tokens:
            if tok == "{scans}":
                argv.extend(str(s) for s in values["scans"])
                continue

            def fill(m):
                if m.group(0) in ("{{", "}}"):
                    return m.group(0)[0]
                v = values[m.group(1)]
                return " ".join(str(s) for s in v) if m.group(1) == "scans" else str(v)

            argv.append(_FIELD.sub(fill, tok))
        return argv

    def _execute(self, scans, references, out_dir, scenario_path) -> _Outcome:
        values = {"scans": [str(s) for s in scans], "references": str(references), "out": str(out_dir)}
        if self.uses & {"pre", "edge", "post"}:
            from trixanes.pipeline.process import order_scans

            try:
                roles = order_scans(scans)
            except ValueError as err:
                return _Outcome(None, error=f"the scans cannot be told apart by energy for {{pre}}/{{edge}}/"
                                            f"{{post}}: {err}")
            values.update({r: str(info.path) for r, info in roles.items()})
        if "scenario" in self.uses:
            if scenario_path is None:
                return _Outcome(None, error="the command uses {scenario} but no scenario file was given")
            values["scenario"] = str(Path(scenario_path).resolve())
        argv = self.argv(values)
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as err:
            return _Outcome(None, error=f"the command could not be started ({err})")
        try:
            _, err = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):  # the whole session: a script's own children too
                os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
            return _Outcome(None, stderr=_text(err),
                            error=f"timed out after {self.timeout_s:g} s (timeout_s) and was killed")
        if proc.returncode != 0:
            how = (f"was killed by signal {-proc.returncode}" if proc.returncode < 0
                   else f"exited with status {proc.returncode}")
            return _Outcome(None, proc.returncode, _text(err), f"the command {how}")
        return _Outcome(Path(out_dir) / LIMAP_NAME, 0, _text(err))


def _text(b: bytes | None) -> str:
    return (b or b"").decode("utf-8", "replace")


@dataclass(frozen=True)
class CallablePipeline(Pipeline):
    """A Python function ``function(scans, references, out_dir) -> path of limap.h5``.

    ``target`` is ``module:function`` (a module importable from ``sys.path``)
    or ``path/to/file.py:function`` (loaded from the file, its folder on
    ``sys.path`` while it loads). The function gets the three scan paths in
    the order given, the references path and the output folder (all `Path`);
    it returns the path it wrote (a result with a ``limap_path``, or None for
    ``out_dir/limap.h5``, is accepted too). It runs in this process, so it has
    no timeout.

    Raises
    ------
    ValueError
        When made: a target without ``:function``, a module or file that does
        not import, or a name that is not a callable in it.

    Examples
    --------
    >>> p = CallablePipeline("os.path:join")
    >>> p.name, p.spec["kind"]
    ('os.path:join', 'callable')
    >>> CallablePipeline("nomodule:")
    Traceback (most recent call last):
    ...
    ValueError: pipeline 'nomodule:': expected module:function or path/to/file.py:function
    """

    target: str
    file: Path | None = field(init=False, default=None, compare=False)

    def __post_init__(self):
        mod, sep, func = self.target.rpartition(":")
        if not (sep and mod and func.isidentifier()):
            raise ValueError(f"pipeline {self.target!r}: expected module:function or path/to/file.py:function")
        if mod.endswith(".py"):
            path = Path(mod).expanduser().resolve()
            if not path.is_file():
                raise ValueError(f"pipeline {self.target!r}: no such file {path}")
            object.__setattr__(self, "file", path)
        self.function()  # a typo is said now, not in the middle of a sweep

    def function(self):
        """The function itself (imported on first use in each process)."""
        mod, _, func = self.target.rpartition(":")
        try:
            module = _load_file(self.file) if self.file else importlib.import_module(mod)
        except Exception as err:
            raise ValueError(f"pipeline {self.target!r}: cannot import {mod} ({type(err).__name__}: {err})") \
                from None
        fn = getattr(module, func, None)
        if not callable(fn):
            raise ValueError(f"pipeline {self.target!r}: {mod} has no function {func!r}")
        return fn

    @property
    def name(self) -> str:
        mod, _, func = self.target.rpartition(":")
        return f"{self.file.name}:{func}" if self.file else self.target

    def describe(self) -> str:
        return f"Python entry point {self.target}"

    @property
    def spec(self) -> dict:
        mod = self.target.rpartition(":")[0]
        source = self.file or getattr(sys.modules.get(mod), "__file__", None)
        return {"kind": "callable", "target": self.target,
                "sha256": sha256_of(source) if source and os.path.isfile(source) else None}

    def _execute(self, scans, references, out_dir, scenario_path) -> _Outcome:
        got = self.function()([Path(s) for s in scans], Path(references), Path(out_dir))
        got = getattr(got, "limap_path", got)
        return _Outcome(Path(out_dir) / LIMAP_NAME if got is None else Path(got))


def _load_file(path: Path):
    """Import a pipeline's .py file once per process, under a name of its own."""
    stem = re.sub(r"\W", "_", path.stem)
    name = f"_trixanes_pipeline_{sha256_of(path)[:12]}_{stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    sys.path.insert(0, str(path.parent))  # its own helper modules beside it
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.path.remove(str(path.parent))
    return module


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
    if "{" not in text and _ENTRY.fullmatch(text):
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
