"""Pipelines from outside trixanes: a command template, or a Python entry point.

* `CommandPipeline`: a command template run without a shell, e.g.
  ``python my_pipe.py {pre} {edge} {post} --refs {references} --out {out}``;
* `CallablePipeline`: ``module:function`` or ``path/to/file.py:function``,
  called as ``function(scans, references, out_dir)`` and returning the path of
  the limap.h5 it wrote.

Both follow the contract of `trixanes.validate.contract`;
`trixanes.validate.plugin.parse_pipeline` makes them from what a user types.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import os
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from trixanes._shared.provenance import sha256_of
from trixanes.validate.contract import LIMAP_NAME, Pipeline, _Outcome

__all__ = ["CommandPipeline", "CallablePipeline", "PLACEHOLDERS", "ENTRY_POINT"]

#: placeholders of a command template; ``{scans}`` is the three scans as three arguments
#: (the order given), ``{python}`` the interpreter running trixanes
PLACEHOLDERS = ("pre", "edge", "post", "scans", "references", "out", "scenario", "python")
# ``{{`` and ``}}`` are literal braces (as in str.format); ``{name}`` a placeholder
_FIELD = re.compile(r"\{\{|\}\}|\{([A-Za-z_]\w*)\}")
#: an entry point: dotted module or a .py file, then a function name (maybe empty: an error)
ENTRY_POINT = re.compile(r"(?:[A-Za-z_][\w.]*|.+\.py):\w*")
# an argument that looks like a script's path (a name with an extension, no spaces)
_SCRIPT = re.compile(r"[\w./~+-]*\w\.[A-Za-z]\w*")


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
