"""The ``trixanes`` commands that run many scenarios: study, regress, trust."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from trixanes.cli_app import _PIPELINE_HELP, _TIMEOUT_HELP, _fail, _pipeline, app


@app.command()
def study(
    name: str = typer.Argument(..., help="dead_angle, binning, edge_energy, dose, calibration or registration."),
    out: Path = typer.Option(..., "--out", help="Output folder (cache and results)."),
    scheduler: Optional[str] = typer.Option(None, help="Address of an existing Dask scheduler. A study with fewer "
                                                             "simulations than workers images each "
                                                             "simulation's bands on all of them."),
    workers: int = typer.Option(2, help="Local workers when no scheduler is given."),
    repeats: int = typer.Option(1, help="Seeds per scenario."),
    quick: bool = typer.Option(False, "--quick", help="Small, fast version of the study."),
    task_threads: Optional[int] = typer.Option(
        None, help="numba/SimpleITK threads per scenario (default: cores / workers)."),
    pipeline: Optional[str] = typer.Option(None, "--pipeline", help=_PIPELINE_HELP),
    pipeline_timeout: Optional[float] = typer.Option(None, "--pipeline-timeout", help=_TIMEOUT_HELP),
    geometry: Optional[str] = typer.Option(
        None, "--geometry", help="Preset the scenarios start from: tiny, quick (the default; tiny with "
                                 "--quick), default, paper-like (40 nm pixels, near the paper's 30 nm, "
                                 "its 4.7 µm particles and 721 projections over 240°, a 15 x 10 µm field) "
                                 "or paper."),
    sim_cache: Optional[Path] = typer.Option(
        None, "--sim-cache", help="Keep the simulations in this folder, so that the same study with "
                                  "another pipeline simulates nothing (default: OUT/simulations). Each "
                                  "distinct simulation is made once; wedges, angular steps and fluxes "
                                  "are derived from one noise-free scan."),
):
    """Run a parameter sweep (simulate -> process -> validate per scenario) on Dask."""
    from trixanes.studies import run_study

    try:
        res = run_study(name, out, scheduler=scheduler, workers=workers, repeats=repeats, quick=quick,
                        task_threads=task_threads, pipeline=_pipeline(pipeline, pipeline_timeout),
                        sim_cache=sim_cache, geometry=geometry)
    except (ValueError, OSError) as exc:
        _fail(exc)
    typer.echo(f"wrote {res.markdown_path}, {res.csv_path.name}, {res.figure_path.name} "
               f"({len(res.rows)} scenarios, {res.n_failed} failed, {res.seconds:.0f} s)")


@app.command()
def regress(
    out: Path = typer.Option(..., "--out", help="Output folder: regress.json, and per scenario what the "
                                                "pipeline wrote and its scorecard."),
    suite: str = typer.Option("quick", "--suite", help="quick (about half a minute), standard (minutes) "
                                                      "or a suite TOML file."),
    pipeline: Optional[str] = typer.Option(None, "--pipeline", help=_PIPELINE_HELP),
    pipeline_timeout: Optional[float] = typer.Option(None, "--pipeline-timeout", help=_TIMEOUT_HELP),
    baseline: Optional[Path] = typer.Option(None, "--baseline", help="Baseline JSON (default OUT/baseline.json)."),
    update_baseline: bool = typer.Option(False, "--update-baseline",
                                         help="Write the baseline from this run instead of comparing."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Also write JUnit XML here (for CI)."),
    cache: Optional[Path] = typer.Option(
        None, "--cache", help="Simulation cache (default $TRIXANES_CACHE or ~/.cache/trixanes/simulations); "
                              "a copied cache folder is used as it is."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
):
    """Is my pipeline still as good as it was? Run a suite, compare each score with the baseline.

    Exits 0 when no score got worse beyond its tolerance, 1 when one did or a
    pipeline run failed (both named), 2 on a usage error.
    """
    from trixanes.studies.regress import format_table, run_regress

    try:
        report = run_regress(suite, out, pipeline=_pipeline(pipeline, pipeline_timeout), baseline=baseline,
                             update_baseline=update_baseline, junit=junit, cache_dir=cache,
                             progress=not quiet)
    except (ValueError, OSError) as exc:
        _fail(exc)
    typer.echo(format_table(report))
    raise typer.Exit(code=report.exit_code)


@app.command()
def trust(
    scans: List[Path] = typer.Argument(..., help="The three scans the result was made from."),
    references: Path = typer.Option(..., "--references", help="references.csv"),
    result: Path = typer.Option(..., "--result", help="The result folder (limap.h5, stats.json)."),
    out: Path = typer.Option(..., "--out", help="Output folder: trust.json, trust.html, the twins."),
    twins: int = typer.Option(3, "--twins", help="Simulated twins of the scan."),
    pipeline: Optional[str] = typer.Option(None, "--pipeline", help=_PIPELINE_HELP),
    pipeline_timeout: Optional[float] = typer.Option(None, "--pipeline-timeout", help=_TIMEOUT_HELP),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Simulation cache (default $TRIXANES_CACHE or "
                                                               "~/.cache/trixanes/simulations)."),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address for the twins ('inline': this "
                                                       "process)."),
    workers: int = typer.Option(2, help="Local workers when no scheduler is given."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
):
    """How far to trust a real scan's numbers: expected bias and spread from simulated twins of it."""
    from trixanes.studies.trust import TwinFailed, run_trust
    from trixanes.trust_report import write_trust_html

    try:
        pipe = None if pipeline is None else _pipeline(pipeline, pipeline_timeout)  # None: the result's options
        rep = run_trust(scans, references, result, out, twins=twins, pipeline=pipe, cache_dir=cache,
                        scheduler=scheduler, workers=workers, progress=not quiet)
        page = write_trust_html(rep, out)
    except TwinFailed as exc:
        typer.echo(f"error: a twin did not run through: {exc}", err=True)
        raise typer.Exit(code=1)
    except (ValueError, OSError) as exc:
        _fail(exc)
    vox = rep.voxel["interior_rmse"]
    typer.echo(f"expected interior voxel Li RMSE {vox['mean']:.4f} (± {vox['sd']:.4f}, {vox['n']} twins)")
    for key, v in rep.statistics.items():
        typer.echo(f"  {key:<28} {v['verdict']}")
    for note in rep.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"wrote {out / 'trust.json'}, {page} ({rep.seconds:.0f} s)")
