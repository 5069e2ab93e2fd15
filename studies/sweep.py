"""The sweep runner: scenarios (simulate -> process -> validate) as cached Dask tasks.

Each scenario lives in ``<cache>/<key>/`` where the key hashes the resolved scenario,
the processing options and the code version, so a sweep that was interrupted, or
extended by new scenarios, recomputes only what is missing. ``result.json`` is
written last and atomically: its presence means "done". A failing scenario leaves
``error.json`` (with the traceback) instead, is reported, and is retried next time.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import shutil
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from trixanes._shared.atomic import write_text
from trixanes._shared.jsonio import write_json
from trixanes.validate.plugin import is_trixanes

from .cluster import run_on_dask
from .simcache import cached_simulation, plan_sources, simulation_key, source_version
from .summary import flatten

CODE_PACKAGES = ("trixanes.synth", "trixanes.io", "trixanes.pipeline", "trixanes.validate")
# Scorecard parts that are not per-scenario numbers (paths, notes) or are long
# arrays (profiles go to "curves", the statistics stay in scorecard.json).
_CARD_SKIP = ("truth_path", "result_path", "figures", "notes", "names", "matrix",
              "truth_stats", "result_stats", "centres_um", "true", "found")
_LARGE_FILES = ("limap.h5",)

Chain = Callable[["Task", Path, bool], dict]


@dataclass(frozen=True)
class Task:
    """One scenario of a study.

    Attributes
    ----------
    study : str
        Study name (a CSV column).
    label : str
        Human-readable scenario label, e.g. ``"wedge 30° fbp"``.
    scenario : synth.config.Scenario
        The fully specified experiment (its seed included).
    options : mapping
        Keyword arguments of ``pipeline.process.ProcessOptions``.
    repeat : int
        Repeat index (the seeds differ between repeats).
    params : mapping
        The swept parameters, written as ``param.<name>`` columns for the summaries.
    source : synth.config.Scenario, optional
        The noise-free simulation the scans are derived from (`trixanes.synth.derive`,
        planned by `run_sweep`); None: the scenario is simulated as it is. Not part of
        the key: a derived scan is the one simulated directly.
    """

    study: str
    label: str
    scenario: object
    options: Mapping = field(default_factory=dict)
    repeat: int = 0
    params: Mapping = field(default_factory=dict)
    source: object = None

    def __post_init__(self):
        if not self.study or not isinstance(self.study, str):
            raise ValueError(f"study: must be a non-empty string, got {self.study!r}")
        if not isinstance(self.repeat, int) or self.repeat < 0:
            raise ValueError(f"repeat: must be a non-negative integer, got {self.repeat!r}")
        if not hasattr(self.scenario, "to_toml"):
            raise ValueError(f"scenario: expected a synth.config.Scenario, got {type(self.scenario).__name__}")
        for name in ("options", "params"):
            val = getattr(self, name)
            if not isinstance(val, Mapping):
                raise ValueError(f"{name}: expected a mapping, got {type(val).__name__}")
            object.__setattr__(self, name, dict(val))

    def identity(self) -> dict:
        """The row columns that say which scenario this is."""
        row = {"study": self.study, "label": self.label, "repeat": self.repeat,
               "seed": getattr(self.scenario, "seed", None)}
        row.update({f"param.{k}": v for k, v in self.params.items()})
        row.update({f"option.{k}": _plain(v) for k, v in self.options.items()})
        return row


def _plain(v):
    return list(v) if isinstance(v, tuple) else v


def code_version() -> str:
    """``trixanes.__version__`` plus a hash of the synth, io, pipeline and validate sources.

    Computed once per process: a cached result is only reused by the same code.
    """
    return source_version(CODE_PACKAGES)


def task_key(task: Task, pipeline=None) -> str:
    """sha256 of the scenario TOML, the processing options, the pipeline and :func:`code_version`.

    The label, study and swept-parameter names are not part of it: the same
    experiment reached from two studies is computed once. trixanes' own
    pipeline with its default options adds nothing, any other pipeline its
    `~trixanes.validate.plugin.Pipeline.spec` (a script's SHA-256 included).

    Parameters
    ----------
    task : Task
    pipeline : Pipeline or str, optional
        What processes the scans (`trixanes.validate.plugin.parse_pipeline`).

    Returns
    -------
    str
        64 hexadecimal digits, the name of the scenario's cache folder.

    Examples
    --------
    >>> from trixanes.synth.config import Scenario
    >>> a = Task("s", "a", Scenario.preset("tiny"))
    >>> task_key(a) == task_key(Task("other", "b", Scenario.preset("tiny"), params={"w": 1}))
    True
    >>> task_key(a) == task_key(Task("s", "a", Scenario.preset("tiny").replace(seed=1)))
    False
    >>> task_key(a) == task_key(a, "trixanes"), task_key(a) == task_key(a, "python p.py {scans} --out {out}")
    (True, False)
    """
    from trixanes.validate.plugin import parse_pipeline

    pipe = parse_pipeline(pipeline)
    what = {"scenario": task.scenario.to_toml(),
            "options": {k: _plain(v) for k, v in sorted(task.options.items())},
            "code": code_version()}
    if not (is_trixanes(pipe) and getattr(pipe, "options", None) is None):
        what["pipeline"] = pipe.spec
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


# -- one scenario --------------------------------------------------------------
def _process_options(task: Task, pipeline):
    """trixanes' ProcessOptions of a task: the pipeline's own (or the defaults), then the task's."""
    from trixanes.pipeline.process import ProcessOptions

    opts = {"figures": False, **task.options}
    if "thresholds" in opts:
        opts["thresholds"] = tuple(opts["thresholds"])
    return dataclasses.replace(getattr(pipeline, "options", None) or ProcessOptions(), **opts)


def run_chain(task: Task, folder: Path, keep_files: bool = False, *, pipeline=None,
              sim_cache=None) -> dict:
    """simulate -> process -> validate in ``folder``; flat metrics plus ``curves``.

    Parameters
    ----------
    task : Task
    folder : Path
        The scenario's cache folder.
    keep_files : bool
        Keep the large files (scans, limap.h5, a foreign pipeline's output folder).
    pipeline : Pipeline or str, optional
        What processes the scans; default trixanes' own with the task's options.
        Any other pipeline gets the scans and references only (the task's
        processing options do not reach it) and writes into ``folder/pipeline``.
    sim_cache : path-like, optional
        A `trixanes.studies.simcache` folder: the simulation is taken from there
        or made there once (and never removed); a task with a ``source`` derives
        its scans into ``folder/sim`` from the source's simulation there. Default:
        simulated into ``folder/sim`` and removed unless ``keep_files``.

    Raises
    ------
    trixanes.validate.plugin.PipelineFailed
        A foreign pipeline failed (its error and stderr tail): the sweep records it.
    """
    from trixanes.pipeline.process import process
    from trixanes.synth.derive import derive_scans
    from trixanes.synth.simulate import simulate
    from trixanes.validate.plugin import PipelineFailed, parse_pipeline, run_pipeline
    from trixanes.validate.scorecard import validate

    pipe = parse_pipeline(pipeline)
    options = _process_options(task, pipe)
    own = is_trixanes(pipe)
    shutil.rmtree(folder / "sim", ignore_errors=True)  # leftovers of an interrupted run
    derived = sim_cache is not None and task.source is not None
    made = None  # the cached simulation the scans come from
    t0 = time.perf_counter()
    try:
        if derived:
            made = cached_simulation(task.source, sim_cache)
            sim = derive_scans(made.folder, task.scenario, folder / "sim", copy_truth_file=False)
        elif sim_cache is not None:
            sim = made = cached_simulation(task.scenario, sim_cache)
        else:
            sim = simulate(task.scenario, folder / "sim", progress=False)
        t_simulate = time.perf_counter() - t0
        if own:
            proc = process(sim.scan_paths, sim.references_path, folder, options=options, progress=False)
            limap, stats, t_process = proc.limap_path, proc.stats, proc.seconds
        else:
            run = run_pipeline(pipe, sim.scan_paths, sim.references_path, folder / "pipeline",
                               scenario_path=sim.scenario_path)
            if not run.ok:
                raise PipelineFailed(run)
            limap, stats, t_process = run.limap_path, {}, run.seconds
        t0 = time.perf_counter()
        card = validate(sim.truth_path, limap, folder, thresholds=options.thresholds,
                        figures=options.figures)
        t_validate = time.perf_counter() - t0
    finally:
        if not keep_files:  # success or failure: the cache keeps only the small files
            shutil.rmtree(folder / "sim", ignore_errors=True)
            shutil.rmtree(folder / "pipeline", ignore_errors=True)
            for name in _LARGE_FILES:
                (folder / name).unlink(missing_ok=True)
    acquisition = {k: v for k, v in stats.get("acquisition", {}).items() if k != "files"}
    metrics = flatten(card, skip=_CARD_SKIP)
    metrics.update(flatten(acquisition, prefix="process"))
    metrics.update({"time.simulate": t_simulate, "time.process": t_process,
                    "time.validate": t_validate})
    metrics.update({"simulation.cached": bool(getattr(made, "cached", False)),
                    "simulation.key": getattr(made, "key", None), "simulation.derived": derived,
                    "simulation.seconds": getattr(made, "seconds", None)})
    metrics["curves"] = {f"profiles.{p}": {k: card["profiles"][p].get(k) for k in ("centres_um", "true", "found")}
                         for p in ("z", "depth") if p in card.get("profiles", {})}
    return metrics


def load_result(task: Task, folder: Path) -> dict | None:
    """The row of a finished scenario from ``folder/result.json``; None if absent or unreadable."""
    try:
        stored = json.loads((folder / "result.json").read_text())
        metrics = stored["metrics"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {**task.identity(), "status": "ok", "cached": True, "key": folder.name,
            "seconds": stored.get("seconds"), **metrics}


def run_scenario(task: Task, cache_dir, *, cache_key: str | None = None, chain: Chain | None = None,
                 keep_files: bool = False, threads: int | None = None, pipeline=None) -> dict:
    """Run one scenario in ``cache_dir/<key>/`` unless its ``result.json`` is there.

    Parameters
    ----------
    task : Task
    cache_dir : path-like
        Parent of the per-scenario folders.
    cache_key : str, optional
        :func:`task_key` of the task (computed if not given).
    chain : callable, optional
        ``chain(task, folder, keep_files) -> dict`` of flat metrics (and an optional
        nested ``curves`` entry); default :func:`run_chain`. Tests inject a fake.
    keep_files : bool
        Keep scans, truth and limap.h5 (otherwise only the small JSON files stay).
    threads : int, optional
        Cap numba's threads in this process (a Dask worker shares the cores).
    pipeline : Pipeline or str, optional
        The pipeline the chain runs: part of the key, named in ``result.json``.

    Returns
    -------
    dict
        The row: task identity, ``status`` ("ok" or "error"), ``cached``, ``key``,
        ``seconds`` and the metrics (or ``error``).

    Examples
    --------
    >>> row = run_scenario(task, "out/cache")  # doctest: +SKIP
    >>> row["voxel.interior.rmse"]  # doctest: +SKIP
    0.021
    """
    from trixanes.validate.plugin import parse_pipeline

    pipe = parse_pipeline(pipeline)
    key = cache_key or task_key(task, pipe)
    folder = Path(cache_dir) / key
    done = load_result(task, folder)
    if done is not None:
        return done
    if threads:
        _limit_threads(threads)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "error.json").unlink(missing_ok=True)
    write_text(folder / "scenario.toml", task.scenario.to_toml())
    t0 = time.perf_counter()
    try:
        metrics = (chain or run_chain)(task, folder, keep_files)
    except Exception as exc:  # a scenario's failure must not stop the sweep
        return record_error(task, folder, exc, traceback.format_exc(), time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    write_json(folder / "result.json", {
        "key": key, "code": code_version(), "study": task.study, "label": task.label,
        "pipeline": {"name": pipe.name, "describe": pipe.describe(), "spec": pipe.spec},
        "scenario": task.scenario.to_dict(), "options": {k: _plain(v) for k, v in task.options.items()},
        "seconds": seconds, "metrics": metrics})
    return {**task.identity(), "status": "ok", "cached": False, "key": key, "seconds": seconds, **metrics}


def record_error(task: Task, folder: Path, exc: BaseException, tb: str, seconds: float | None = None) -> dict:
    """Write ``folder/error.json`` and return the error row."""
    message = f"{type(exc).__name__}: {exc}"
    write_json(folder / "error.json", {"key": folder.name, "label": task.label, "error": message,
                                       "traceback": tb, "seconds": seconds})
    return {**task.identity(), "status": "error", "cached": False, "key": folder.name,
            "seconds": seconds, "error": message}


def _limit_threads(n: int) -> None:
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    import SimpleITK as sitk  # registration threads too: workers must not oversubscribe

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(max(1, n))


# -- many scenarios -----------------------------------------------------------
def run_sweep(tasks: Sequence[Task], out_dir, *, scheduler: str | None = None, workers: int = 2,
              threads_per_worker: int = 1, task_threads: int | None = None, progress: bool = True,
              fn: Chain | None = None, keep_files: bool = False, pipeline=None,
              sim_cache=None, share_simulations: bool | None = None,
              band_simulations: bool | None = None) -> list[dict]:
    """Run the tasks that are not cached yet on Dask; return every task's row, in order.

    Parameters
    ----------
    tasks : sequence of Task
    out_dir : path-like
        Cache folder: one sub-folder per scenario key.
    scheduler : str, optional
        Address of a running Dask scheduler (e.g. ``tcp://host:8786`` from
        dask-jobqueue); ``"inline"`` runs the tasks one by one in this process
        (debugging); None starts a ``LocalCluster`` of ``workers`` processes.
    workers, threads_per_worker : int
        Size of the local cluster. Each worker process gets
        ``NUMBA_NUM_THREADS = OMP_NUM_THREADS = cores // (workers * threads_per_worker)``
        so the workers do not oversubscribe the cores.
    task_threads : int, optional
        numba/SimpleITK threads per task instead of that share (local cluster
        only): 1 makes every worker single-threaded, which is how the speed-up
        of more workers is measured.
    progress : bool
        Show "scenarios done / total".
    fn : callable, optional
        Replaces the simulate -> process -> validate chain (see :func:`run_scenario`).
    keep_files : bool
        Keep the large intermediate files of each scenario.
    pipeline : Pipeline or str, optional
        What processes the scans (`trixanes.validate.plugin.parse_pipeline`):
        default trixanes' own with each task's options. Part of every key; each
        row names it in its ``pipeline`` and ``pipeline.describe`` columns.
    sim_cache : path-like, optional
        Take the simulations from this `trixanes.studies.simcache` folder (made
        there once), so that another pipeline on the same scenarios simulates
        nothing. Each distinct simulation is then made once: scenarios that share
        one (processing options) use it, and scenarios that differ only in a dead
        wedge, the angular grid or the photon flux derive their scans from one
        noise-free source (`simcache.plan_sources`, `trixanes.synth.derive`),
        identical to the scans simulated directly. Default: each scenario
        simulates into its own folder and removes the files.
    share_simulations : bool, optional
        Plan the shared sources and make every simulation before its scenarios
        (with ``sim_cache``); default: when trixanes' own chain runs (not ``fn``,
        which may not read them).
    band_simulations : bool, optional
        Make the shared simulations one after another, each imaging its bands of
        detector rows on all the workers (`simcache.cached_simulation` with the
        sweep's cluster), instead of one simulation per worker. Default: when
        there are fewer simulations to make than workers, as when a few
        simulations feed many scenarios on a cluster.

    Returns
    -------
    list of dict
        One row per task (see :func:`run_scenario`), cached ones included.

    Examples
    --------
    >>> rows = run_sweep(tasks, "out/cache", workers=2)  # doctest: +SKIP
    >>> sum(r["status"] == "error" for r in rows)  # doctest: +SKIP
    0
    """
    tasks = list(tasks)
    if not all(isinstance(t, Task) for t in tasks):
        raise ValueError("tasks: expected a sequence of studies.sweep.Task")
    checks = [("workers", workers), ("threads_per_worker", threads_per_worker)]
    for name, val in checks + ([("task_threads", task_threads)] if task_threads is not None else []):
        if not isinstance(val, int) or val < 1:
            raise ValueError(f"{name}: must be an integer >= 1, got {val!r}")
    from trixanes.validate.plugin import parse_pipeline

    pipe = parse_pipeline(pipeline)
    # shared simulations are planned and made for the chain that reads them (or when asked)
    share = (fn is None if share_simulations is None else share_simulations) and sim_cache is not None
    if fn is None and (pipeline is not None or sim_cache is not None):
        fn = functools.partial(run_chain, pipeline=pipe, sim_cache=sim_cache)
    if share:
        tasks = [t if s is None else dataclasses.replace(t, source=s)
                 for t, s in zip(tasks, plan_sources([t.scenario for t in tasks]))]
    one = functools.partial(run_scenario, pipeline=pipe)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = [task_key(t, pipe) for t in tasks]
    rows: list[dict | None] = [load_result(t, out_dir / k) for t, k in zip(tasks, keys)]
    pending: dict[str, int] = {}
    for i, (row, k) in enumerate(zip(rows, keys)):
        if row is None:
            pending.setdefault(k, i)
    n_cached = sum(r is not None for r in rows)
    bar = tqdm(total=n_cached + len(pending), initial=n_cached, desc="scenarios",
               unit="scenario", disable=not progress)
    done: dict[str, dict] = {}
    try:
        if scheduler == "inline":
            for k, i in pending.items():
                done[k] = one(tasks[i], out_dir, cache_key=k, chain=fn, keep_files=keep_files)
                bar.update(1)
        elif pending:
            made = {}  # each simulation the pending tasks need, made once before them
            if share:
                for k, i in pending.items():
                    sc = tasks[i].source or tasks[i].scenario
                    made[k] = (simulation_key(sc), functools.partial(cached_simulation, sc, sim_cache))
            done = run_on_dask(tasks, pending, out_dir, scheduler, workers, threads_per_worker,
                               task_threads, fn, keep_files, bar, run_scenario=one,
                               record_error=record_error, prerequisites=made,
                               band_prerequisites=band_simulations)
    finally:
        bar.close()
    result = []
    for t, k, row in zip(tasks, keys, rows):
        if row is None:
            # a duplicate scenario shares the computation but keeps its own label
            row = {**done[k], **t.identity()}
        result.append({**row, "pipeline": pipe.name, "pipeline.describe": pipe.describe()})
    return result
