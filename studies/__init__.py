"""Studies: parameter sweeps that answer the users' questions with numbers.

Each study module has ``build_tasks(quick, repeats, pipeline, geometry) -> list[Task]`` and
``summarize(rows) -> (Figure, markdown)``. :func:`run_study` runs a study's
scenarios on Dask (cached per scenario, see :mod:`studies.sweep`) and writes
``<name>.csv``, ``<name>.png`` and ``<name>.md`` into the output folder;
:func:`resummarize` rewrites the figure and the verdict from the CSV alone, without
running a scenario. What a verdict may claim is fixed in :mod:`studies.verdict`.
"""

from __future__ import annotations

import importlib
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from trixanes._shared.atomic import write_text

from .scenarios import base_scenario, describe_geometry
from .summary import read_csv, save_figure, value, write_csv
from .sweep import Task, run_sweep

# name -> (module, the question it answers)
STUDIES = {
    "dead_angle": "How much does a dead angle (missing wedge) or a limited range bias the Li map?",
    "binning": "Which binning: where does the noise gain stop paying for the lost resolution?",
    "edge_energy": "Which edge energy: Li precision and calibration slope across the Ni K-edge.",
    "dose": "At a fixed photon dose, many noisy projections or few clean ones?",
    "calibration": "Is the linear calibration good enough when the edge shifts instead of mixing?",
    "registration": "How much Li error does sample drift between energies leave after registration?",
}

__all__ = ["STUDIES", "StudyResult", "Task", "resummarize", "run_study", "run_sweep", "study_module",
           "write_summary"]


@dataclass(frozen=True)
class StudyResult:
    """What :func:`run_study` wrote.

    Attributes
    ----------
    name : str
    csv_path, figure_path, markdown_path : Path
    rows : tuple of dict
        One row per scenario (flattened scorecard, timings, parameters).
    n_failed : int
        Scenarios that raised (their ``error.json`` is in the cache).
    seconds : float
        Wall time of the whole study, cached scenarios included.
    """

    name: str
    csv_path: Path
    figure_path: Path
    markdown_path: Path
    rows: tuple
    n_failed: int
    seconds: float


def study_module(name: str):
    """The module of a study; ValueError listing the known ones for an unknown name."""
    if name not in STUDIES:
        raise ValueError(f"name: unknown study {name!r}; known studies: {', '.join(STUDIES)}")
    return importlib.import_module(f"{__name__}.{name}")


def run_study(name: str, out_dir, *, scheduler: str | None = None, workers: int = 2,
              repeats: int = 1, quick: bool = False, threads_per_worker: int = 1,
              task_threads: int | None = None,
              progress: bool = True, keep_files: bool = False, fn=None, pipeline=None,
              sim_cache=None, geometry: str | None = None) -> StudyResult:
    """Run a study's sweep and write its CSV, figure and Markdown verdict.

    Parameters
    ----------
    name : str
        One of :data:`STUDIES`.
    out_dir : path-like
        Output folder; scenario results are cached in ``out_dir/cache`` so a rerun
        (after an interruption, or with more repeats) computes only what is missing.
    scheduler : str, optional
        Address of a running Dask scheduler; None starts a local cluster;
        ``"inline"`` runs in this process.
    workers : int
        Local worker processes (ignored with a scheduler address).
    repeats : int
        Seeds per scenario; the figure and the verdict show mean ± std over them.
    quick : bool
        A few scenarios (of the ``tiny`` preset unless ``geometry`` says) instead of the full sweep.
    threads_per_worker : int
        Dask threads per local worker.
    task_threads : int, optional
        numba/SimpleITK threads per scenario (default: the cores shared out
        between the local workers).
    progress : bool
        Show the progress bar.
    keep_files : bool
        Keep each scenario's scans, truth and limap.h5 in the cache (large).
    fn : callable, optional
        Replacement of the simulate -> process -> validate chain (tests).
    pipeline : Pipeline or str, optional
        The pipeline under study (`trixanes.validate.plugin.parse_pipeline`):
        default trixanes' own. Another one gets the scans and references only,
        so a study's processing options (SIRT against FBP, registration off)
        collapse to one series named after it; ``binning`` needs trixanes' own.
        The verdict names the pipeline.
    sim_cache : path-like, optional
        Keep the simulations in this `trixanes.studies.simcache` folder, so that
        the same study with another pipeline simulates nothing; default
        ``out_dir/simulations``. Each distinct simulation is made once
        (`run_sweep`): the summary says how many.
    geometry : str, optional
        The preset every scenario starts from (`scenarios.GEOMETRIES`: ``paper-like``
        is the paper's pixels, particles and angles); default ``quick`` (``tiny``
        with ``quick``). The summary states it.

    Returns
    -------
    StudyResult

    Examples
    --------
    >>> res = run_study("dead_angle", "out/dead_angle", quick=True)  # doctest: +SKIP
    >>> print(res.markdown_path.read_text())  # doctest: +SKIP
    """
    from trixanes.validate.plugin import parse_pipeline

    module = study_module(name)
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats: must be an integer >= 1, got {repeats!r}")
    pipe = parse_pipeline(pipeline)
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    tasks = module.build_tasks(quick, repeats, pipe, geometry)
    rows = run_sweep(tasks, out_dir / "cache", scheduler=scheduler, workers=workers,
                     threads_per_worker=threads_per_worker, task_threads=task_threads,
                     progress=progress, fn=fn, keep_files=keep_files, pipeline=pipe,
                     sim_cache=out_dir / "simulations" if sim_cache is None else sim_cache)
    where = describe_geometry(base_scenario(quick, geometry))
    rows = [{**r, "geometry": where} for r in rows]  # in the CSV: resummarize states it too
    csv_path = write_csv(rows, out_dir / f"{name}.csv")
    figure_path, md_path = write_summary(name, rows, out_dir, repeats=repeats, quick=quick)
    return StudyResult(name, csv_path, figure_path, md_path, tuple(rows),
                       sum(r.get("status") != "ok" for r in rows), time.perf_counter() - t0)


def write_summary(name: str, rows, out_dir, *, repeats: int, quick: bool,
                  geometry: str | None = None) -> tuple[Path, Path]:
    """Write a study's figure ``<name>.png`` and verdict ``<name>.md`` from its rows.

    Parameters
    ----------
    name : str
        One of :data:`STUDIES`.
    rows : sequence of dict
        One row per scenario (as :func:`run_study` collects them, or read back from
        ``<name>.csv``).
    out_dir : path-like
        The study's folder; the verdict ends by naming it.
    repeats : int
        Seeds per scenario.
    quick : bool
        Whether the rows come from the quick sweep.
    geometry : str, optional
        The study geometry in words (`scenarios.describe_geometry`), stated in the verdict;
        default the rows' ``geometry`` column.

    Returns
    -------
    (Path, Path)
        The figure and the Markdown verdict.
    """
    out_dir = Path(out_dir)
    geometry = geometry or next((str(r["geometry"]) for r in rows if r.get("geometry")), None)
    fig, text = study_module(name).summarize(rows)
    figure_path = save_figure(fig, out_dir / f"{name}.png")
    failed = [r for r in rows if r.get("status") != "ok"]
    # what processed the scans, in words, as the rows say (a CSV of an older run says nothing)
    said = sorted({(str(r.get("pipeline")), str(r.get("pipeline.describe") or ""))
                   for r in rows if r.get("pipeline")})
    pipeline = "; ".join(f"`{n}`" + (f" ({d})" if d else "") for n, d in said) or "not recorded"
    md_path = write_text(out_dir / f"{name}.md",
                         _markdown(name, text, rows, failed, repeats, quick, out_dir, pipeline, geometry))
    return figure_path, md_path


def resummarize(name: str, out_dir, *, quick: bool | None = None) -> tuple[Path, Path]:
    """Rewrite a study's figure and verdict from ``out_dir/<name>.csv``, running nothing.

    The CSV holds every flat metric; profile arrays (``curves``) are not in it, so a
    study that reads them (calibration's bias against true Li) says it has no profile
    pairs.

    Parameters
    ----------
    name : str
    out_dir : path-like
        Folder holding ``<name>.csv``.
    quick : bool, optional
        Whether it was the quick sweep; default: when the CSV has as many scenarios as
        the quick sweep at its number of repeats.

    Returns
    -------
    (Path, Path)

    Examples
    --------
    >>> resummarize("dead_angle", "studies/results/dead_angle")  # doctest: +SKIP
    """
    module = study_module(name)
    path = Path(out_dir) / f"{name}.csv"
    if not path.is_file():
        raise ValueError(f"{path}: no such study CSV (run the study first)")
    rows = read_csv(path)
    if not rows or "repeat" not in rows[0]:
        raise ValueError(f"{path}: not a study CSV (no rows, or no 'repeat' column)")
    repeats = int(max(r["repeat"] for r in rows if r.get("repeat") is not None)) + 1
    if quick is None:
        quick = len(rows) == len(module.build_tasks(True, repeats, _pipeline_of(rows)))
    return write_summary(name, rows, out_dir, repeats=repeats, quick=quick)


def _files(name, out_dir: Path) -> list[str]:
    """Where the results are: the study's own files and the per-scenario scorecards."""
    cache = out_dir / "cache"
    cards = (f"one `scorecard.json` per scenario in `{cache}/<key>/` (`key` column of the CSV)"
             if cache.is_dir() else
             f"the per-scenario `scorecard.json` files were in `cache/<key>/` where the study ran "
             f"(`key` column of the CSV); that cache is not in `{out_dir}`")
    return ["", "## Files", "",
            f"Written to `{out_dir}`: `{name}.csv` (one row per scenario), `{name}.png` (the figure), "
            f"`{name}.md` (this verdict); {cards}."]


def _pipeline_of(rows):
    """A stand-in for the pipeline a study CSV names (for counting its tasks): None for trixanes'."""
    from trixanes.validate.plugin import CommandPipeline

    names = sorted({str(r.get("pipeline")) for r in rows} - {"None", "", "trixanes"})
    return CommandPipeline(f"{shlex.quote(names[0])} {{out}}") if names else None


def _simulations(rows) -> str:
    """How many simulations the rows came from, in words ("" when they do not say)."""
    keys = {r.get("simulation.key") for r in rows if r.get("simulation.key") not in (None, "")}
    if not keys:
        return ""
    keyed = [r for r in rows if r.get("simulation.key") not in (None, "")]
    derived = sum(str(r.get("simulation.derived")).lower() == "true" for r in keyed)
    seconds = {}  # each simulation's own time (recorded when it was made), once
    for r in rows:
        if r.get("simulation.key"):
            seconds.setdefault(r["simulation.key"], value(r, "simulation.seconds"))
    spent = [t for t in seconds.values() if t == t]  # NaN where a row does not say
    made = f"; the simulations took {sum(spent):.0f} s when they were made" if spent else ""
    text = f"Simulations: {len(keys)} for {len(rows)} scenarios"
    if derived:
        text += (f"; the scans of {derived} were derived from a shared noise-free simulation (a subset "
                 f"of its angles, their own photon draw)")
    if derived < len(keyed):
        text += f"; {len(keyed) - derived} share one simulation per distinct scenario"
    return text + made + "."


def _markdown(name, text, rows, failed, repeats, quick, out_dir, pipeline, geometry=None) -> str:
    spread = (f"numbers are mean ± standard deviation over {repeats} seeds" if repeats > 1 else
              "one seed per point, so no error bars: rerun with `--repeats 3` or more")
    if len(failed) == len(rows):
        text = "## Verdict\n\nNo scenario finished, so there is nothing to conclude yet."
    head = [f"# Study `{name}`{' (quick)' if quick else ''}", "", f"*{STUDIES[name]}*", "",
            f"Pipeline: {pipeline}.", "", *([f"Geometry: {geometry}.", ""] if geometry else []),
            f"{len(rows)} scenarios, {len(rows) - len(failed)} finished; {spread}.", ""]
    sims = _simulations(rows)
    if sims:
        head += [sims, ""]
    tail = []
    if failed:
        tail = ["", "## Failed scenarios", "",
                "These are left out above and retried on the next run "
                "(traceback in `cache/<key>/error.json`):", ""]
        for r in failed:
            first, *more = str(r.get("error")).splitlines() or [""]
            tail.append(f"- {r.get('label')} (seed {r.get('seed')}, key {str(r.get('key'))[:12]}): {first}")
            if more:  # a pipeline's stderr tail: its last lines, as code
                tail += ["", "  ```", *(f"  {line}" for line in more[-12:]), "  ```"]
    tail += _files(name, Path(out_dir))
    return "\n".join(head) + "\n" + text.rstrip() + "\n" + "\n".join(tail) + "\n"
