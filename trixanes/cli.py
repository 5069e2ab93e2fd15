"""The ``trixanes`` command: a thin layer over the packages' functions.

`cli_app` holds the app, `cli_studies` the commands that run many scenarios.
"""

from __future__ import annotations

import sys
from pathlib import Path
from enum import Enum
from typing import List, Optional

import typer

from trixanes.cli_app import _BACKEND_HELP, _PIPELINE_HELP, _TIMEOUT_HELP, _fail, _pipeline, app
from trixanes.pipeline import defaults as _defaults


class PhantomMode(str, Enum):
    """How `simulate` builds the ground truth (`synth.simulate.simulate`'s ``phantom``)."""

    auto = "auto"
    whole = "whole"
    tiled = "tiled"


_OPT_BIN = typer.Option(None, "--bin", help="Binning factor (default: chosen from the voxel size).")
_OPT_ALGORITHM = typer.Option(_defaults.ALGORITHM, help="auto, fbp, sirt, os-sirt or cgls.")
_OPT_LI_PRISTINE = typer.Option(1.0, help="Li stoichiometry of the pristine reference.")
_OPT_LI_CHARGED = typer.Option(0.38, help="Li stoichiometry of the charged reference.")
_OPT_MAX_MEMORY_GB = typer.Option(4.0, help="Bin while reading when full volumes exceed this.")
_OPT_BACKEND = typer.Option(_defaults.BACKEND, help=_BACKEND_HELP)
_OPT_FILTER = typer.Option(
    _defaults.FBP_FILTER_BINNED, "--filter",
    help="FBP filter: ramp, shepp-logan, cosine, hamming, hann (hann: the volumes are binned).")
_OPT_COMPOSITION = typer.Option(
    None, "--composition",
    help="Sample formula (e.g. LiNi0.5Mn0.3Co0.2O2): restores the raw absorption of edge-step "
         "normalized references, which are refused without it.")


@app.command()
def simulate(
    out: Path = typer.Option(..., "--out", help="Output folder."),
    config: Optional[Path] = typer.Option(None, "--config", help="Scenario TOML file."),
    preset: str = typer.Option("default", help="Preset when no --config: default, quick, tiny, paper, paper-like."),
    seed: Optional[int] = typer.Option(None, help="Random seed (overrides the scenario's)."),
    band_memory_mb: float = typer.Option(
        512.0, "--band-memory-mb", min=1.0,
        help="Working memory of the imaging, which projects and writes the scans band of "
             "detector rows by band (a whole phantom is held besides; a tiled one is read from "
             "truth.h5 a slab per band). Never changes the files."),
    backend: str = typer.Option(
        "numba", help="Projector: numba (CPU threads), or cupy: project on a CUDA GPU (needs CuPy); "
                      "the files then differ from numba's at float32 rounding (with photon noise, "
                      "the draws may differ: another, equally likely noise realization)."),
    phantom: PhantomMode = typer.Option(
        PhantomMode.auto, help="Build the ground truth whole in memory (fastest), or tiled: slab by slab and "
                     "particle by particle into truth.h5, for phantoms beyond memory (same files, "
                     "several times slower). auto: whole when it fits the free memory."),
    phantom_memory_mb: float = typer.Option(
        256.0, "--phantom-memory-mb", min=1.0,
        help="Working memory of one slab of the tiled phantom. Never changes the files."),
    scratch_dir: Optional[Path] = typer.Option(
        None, "--scratch-dir", help="Where the tiled phantom keeps its uncompressed Li field "
                                    "(4 B per fine voxel) until truth.h5 is written; default --out."),
    no_memory_check: bool = typer.Option(
        False, "--no-memory-check", help="Try even when the phantom looks too big for the free memory."),
    scheduler: Optional[str] = typer.Option(
        None, "--scheduler", help="Image the bands of detector rows on the workers of this Dask "
                                  "scheduler (tcp://host:8786): they read truth.h5 and write their bands "
                                  "in --out, which must be on a file system they share. Same files."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
):
    """Build a ground truth and write three Data Exchange scans, references.csv, truth.h5.

    A scenario with a series section writes one folder of those per state and series_truth.json.
    """
    from trixanes.synth.config import Scenario, ScenarioError
    from trixanes.synth.simulate import simulate as run

    try:
        sc = Scenario.from_toml(config) if config else Scenario.preset(preset)
        if seed is not None:
            sc = sc.replace(seed=seed)
        if sc.series is not None:
            from trixanes.synth.series import simulate_series

            if scheduler is not None:
                raise ValueError("--scheduler: a series is imaged here (one state after another); "
                                 "leave --scheduler out")

            ser = simulate_series(sc, out, progress=not quiet, band_bytes=int(band_memory_mb * 2**20),
                                  backend=backend, check_memory=not no_memory_check)
            typer.echo(f"wrote {len(ser.state_dirs)} states ({', '.join(p.name for p in ser.state_dirs)}) "
                       f"and {ser.series_truth_path.name} to {out} ({ser.seconds:.1f} s)")
            return
        res = run(sc, out, progress=not quiet, band_bytes=int(band_memory_mb * 2**20), backend=backend,
                  check_memory=not no_memory_check, phantom=phantom.value,
                  phantom_bytes=int(phantom_memory_mb * 2**20), scratch_dir=scratch_dir, scheduler=scheduler)
    except (ScenarioError, ValueError, OSError) as exc:
        _fail(exc)
    typer.echo(f"wrote {len(res.scan_paths)} scans, references and truth to {out} "
               f"({res.seconds:.1f} s)")


@app.command()
def process(
    scans: List[Path] = typer.Argument(..., help="Three Data Exchange scans (any order)."),
    references: Path = typer.Option(..., "--references", help="references.csv"),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    bin: Optional[int] = _OPT_BIN,
    algorithm: str = _OPT_ALGORITHM,
    center: Optional[float] = typer.Option(
        None, help="Rotation centre for all scans: 0-based column of the pre-edge detector, in [0, ncols-1]."),
    li_pristine: float = _OPT_LI_PRISTINE,
    li_charged: float = _OPT_LI_CHARGED,
    no_register: bool = typer.Option(False, "--no-register", help="Skip registration."),
    bspline: bool = typer.Option(_defaults.BSPLINE, "--bspline/--no-bspline",
                                 help="Add a B-spline stage (samples that deform)."),
    filter_name: str = _OPT_FILTER,
    ring_filter: bool = typer.Option(_defaults.RING_FILTER, "--ring-filter/--no-ring-filter",
                                     help="Suppress ring artifacts (beamline data with rings)."),
    max_memory_gb: float = _OPT_MAX_MEMORY_GB,
    scheduler: Optional[str] = typer.Option(
        None, help="Dask scheduler address: its workers reconstruct the chunks of rows (shared files)."),
    backend: str = _OPT_BACKEND,
    composition: Optional[str] = _OPT_COMPOSITION,
    uncertainty: bool = typer.Option(
        _defaults.UNCERTAINTY, "--uncertainty/--no-uncertainty",
        help="Estimate the photon-noise error of the Li map from the two halves of the projections: "
             "/li_sigma in limap.h5, a sigma for every statistic in stats.json (about doubles the "
             "reconstruction time)."),
    export_to: Optional[str] = typer.Option(
        None, "--export", help="Also export the result into OUT: tiff, zarr, csv (comma-separated)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
):
    """Process three scans into limap.h5, stats.json and figures."""
    from trixanes.export import export as run_export, parse_formats
    from trixanes.pipeline.process import ProcessOptions, process as run

    try:
        formats = parse_formats(export_to) if export_to is not None else ()  # refused before any work
        opts = ProcessOptions(binning=bin, algorithm=algorithm, center_px=center,
                              x_pristine=li_pristine, x_charged=li_charged,
                              register=not no_register, bspline=bspline, filter_name=filter_name,
                              ring_filter=ring_filter, max_memory_gb=max_memory_gb, scheduler=scheduler,
                              backend=backend, composition=composition, uncertainty=uncertainty)
        res = run(scans, references, out, opts, progress=not quiet)
    except (ValueError, OSError) as exc:
        _fail(exc)
    for line in res.log:
        typer.echo(line)
    typer.echo(f"wrote {res.limap_path} ({res.seconds:.1f} s)")
    if formats:
        try:
            written = run_export(res.limap_path, formats, out)
        except (ValueError, OSError) as exc:
            _fail(exc)
        for path in written:
            typer.echo(f"wrote {path}")


@app.command()
def export(
    limap: Path = typer.Argument(..., help="limap.h5 (stats.json beside it for the CSV)."),
    to: List[str] = typer.Option(..., "--to", help="tiff, zarr or csv; repeat or comma-separate."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    arrays: str = typer.Option("li,labels", "--arrays",
                               help="Volumes of the tiff/zarr exports: li, labels (comma-separated)."),
):
    """Export a result: TIFF stacks (Fiji), OME-Zarr (napari), per-particle CSV."""
    from trixanes.export import export as run

    try:
        written = run(limap, to, out, arrays=arrays.split(","))
    except (ValueError, OSError) as exc:
        _fail(exc)
    for path in written:
        typer.echo(f"wrote {path}")


@app.command()
def validate(
    result: Path = typer.Option(..., "--result", help="limap.h5 from process (a series: the folder of `series`)."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    truth: Optional[Path] = typer.Option(None, "--truth", help="truth.h5 from simulate."),
    series_truth: Optional[Path] = typer.Option(
        None, "--series-truth", help="A simulated series' folder (series_truth.json): scores every state "
                                     "and the tracking of particles through the series."),
):
    """Score a pipeline result against the ground truth: scorecard.json and figures."""
    from trixanes.validate.scorecard import summary_table, validate as run

    if (truth is None) == (series_truth is None):
        _fail(ValueError("give either --truth (one result) or --series-truth (a series)"))
    try:
        if series_truth is not None:
            from trixanes.validate.series import validate_series

            card = validate_series(series_truth, result, out)
        else:
            card = run(truth, result, out)
    except (ValueError, OSError) as exc:
        _fail(exc)
    if series_truth is None:
        typer.echo(summary_table(card))
        return
    for st in card["states"]:
        typer.echo(f"{st['state']:>8}: interior Li RMSE {st['interior_rmse']:.4f}, total-Li error "
                   f"{st['total_li_error']:+.4f}, particle F1 {st['particle_f1']:.2f}")
    tr = card["tracking"]
    typer.echo(f"tracking: {tr['n_followed']} of {tr['n_segmented']} particles segmented in the first state "
               f"followed in every state ({tr['n_eligible']} wholly inside the field of view); Li change "
               f"MAE {tr['li_change']['mae']:.4f}, max {tr['li_change']['max_abs']:.4f}")
    for m in card["motions"]:
        if m.get("found"):
            typer.echo(f"motion {m['state']}: translation error {m['translation_error_um']:.4f} µm "
                       f"({m['translation_error_vox']:.2f} voxel), rotation error {m['rotation_error_deg']:.3f}°")
    typer.echo(f"wrote {out / 'series_scorecard.json'}")


@app.command()
def series(
    states: List[Path] = typer.Argument(..., help="One folder per state, in order, each with its three scans."),
    references: Path = typer.Option(..., "--references", help="references.csv (measured once, before the run)"),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    names: Optional[str] = typer.Option(None, "--names", help="State names, comma-separated (default: "
                                                               "the folders' names)."),
    bin: Optional[int] = _OPT_BIN,
    algorithm: str = _OPT_ALGORITHM,
    li_pristine: float = _OPT_LI_PRISTINE,
    li_charged: float = _OPT_LI_CHARGED,
    filter_name: str = _OPT_FILTER,
    max_memory_gb: float = _OPT_MAX_MEMORY_GB,
    backend: str = _OPT_BACKEND,
    composition: Optional[str] = _OPT_COMPOSITION,
    uncertainty: bool = typer.Option(
        _defaults.UNCERTAINTY, "--uncertainty/--no-uncertainty",
        help="Photon-noise error bars from each state's own half scans: a sigma of every particle's "
             "mean Li per state (series.json, particles.csv) and of each state's statistics (about "
             "doubles the reconstruction time). Motion between states adds error they do not hold."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
):
    """Process an operando series: every state, one set of particle labels, trajectories and figures."""
    import numpy as np

    from trixanes.pipeline.process import ProcessOptions
    from trixanes.pipeline.series import process_series

    try:
        opts = ProcessOptions(binning=bin, algorithm=algorithm, x_pristine=li_pristine, x_charged=li_charged,
                              filter_name=filter_name, max_memory_gb=max_memory_gb, backend=backend,
                              composition=composition, uncertainty=uncertainty)
        res = process_series(states, references, out, opts,
                             names=None if names is None else [n.strip() for n in names.split(",")],
                             progress=not quiet)
    except (ValueError, OSError) as exc:
        _fail(exc)
    st = res.stats
    for m in st.motions:
        t = ", ".join(f"{v:+.3f}" for v in m["translation_um"])
        typer.echo(f"{m['state']}: moved ({t}) µm (z, y, x), rotated {m['rotation_deg']:.3f}° against {st.states[0]}")
    for summ in st.summary:
        err = f" ± {summ['sigma']['total_li']:.2g}" if "sigma" in summ else ""
        typer.echo(f"{summ['state']:>8}: total Li {summ['total_li']:.4f}{err}")
    change = st.change_sigma()
    if change is not None:
        with np.errstate(invalid="ignore"):
            z = np.abs(np.diff(st.mean_li, axis=1)) / change
        for s in range(z.shape[1]):
            ok = np.isfinite(z[:, s])
            typer.echo(f"{st.states[s]} -> {st.states[s + 1]}: {int((z[ok, s] > 2).sum())} of {int(ok.sum())} "
                       f"followed particles changed mean Li by more than 2 sigma of photon noise "
                       f"(median sigma of a change {np.nanmedian(change[:, s]):.2g})")
    for note in st.notes:
        typer.echo(f"note: {note}")
    n_all = int(st.followed.all(axis=1).sum())
    typer.echo(f"{st.labels.size} particles labelled in {st.states[0]}, {n_all} followed in every state; wrote {res.series_path}, {res.particles_csv} "
               f"({res.seconds:.1f} s)")


@app.command()
def reconstruct(
    scan: Path = typer.Argument(..., help="One Data Exchange scan."),
    out: Path = typer.Option(..., "--out", help="Output folder (volume.h5)."),
    center: Optional[float] = typer.Option(
        None, help="Rotation centre: 0-based detector column, in [0, ncols-1] (default: estimated)."),
    algorithm: str = _OPT_ALGORITHM,
    ring_filter: bool = typer.Option(_defaults.RING_FILTER, "--ring-filter/--no-ring-filter",
                                     help="Suppress ring artifacts (beamline data with rings)."),
    filter_name: str = typer.Option(
        _defaults.FBP_FILTER, "--filter",
        help="FBP filter: ramp, shepp-logan, cosine, hamming, hann (ramp: full resolution)."),
    backend: str = _OPT_BACKEND,
    pixel_size_um: Optional[float] = typer.Option(
        None, "--pixel-size-um", help="Pixel size at the sample, µm, for a scan that lacks it "
                                      "(or records it wrongly: this value is then used, and the output says so)."),
    energy_kev: Optional[float] = typer.Option(
        None, "--energy-kev", help="Photon energy, keV, for a scan that lacks it (as --pixel-size-um)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
):
    """Reconstruct one scan into DIR/volume.h5."""
    import warnings

    from trixanes.io.dataexchange import check_override
    from trixanes.pipeline.volume import reconstruct_scan_file

    try:
        check_override("--pixel-size-um", pixel_size_um, "µm")
        check_override("--energy-kev", energy_kev, "keV")
        # the notes say each missing-metadata warning once: not again as a Python warning
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = reconstruct_scan_file(scan, out, center_px=center, algorithm=algorithm,
                                        ring_filter=ring_filter, filter_name=filter_name, backend=backend,
                                        pixel_size_um=pixel_size_um, energy_kev=energy_kev,
                                        progress=not quiet)
    except (ValueError, OSError) as exc:
        _fail(exc)
    for note in res.notes:
        typer.echo(note)
    said = [n.removeprefix("warning: ") for n in res.notes]
    for text in dict.fromkeys(str(w.message) for w in caught):  # any other warning, once
        if not any(s in text for s in said):
            typer.echo(f"warning: {text}")
    typer.echo(f"wrote {res.path}")


@app.command("calibration-check")
def calibration_check(
    references: Path = typer.Argument(..., help="references.csv (energy, pristine, charged spectra)."),
    energies: str = typer.Option("8.30,8.35,8.43", help="Pre-edge, edge and post-edge energies, keV."),
    li_pristine: float = _OPT_LI_PRISTINE,
    li_charged: float = _OPT_LI_CHARGED,
):
    """How far the linear J -> Li calibration can be trusted for these references, before a scan."""
    import numpy as np

    from trixanes.studies.calibration_check import check_calibration
    from trixanes.synth.xanes import measured_spectra

    try:
        e = tuple(float(v) for v in energies.split(","))
        c = check_calibration(*measured_spectra(references), e, x_pristine=li_pristine, x_charged=li_charged)
    except (ValueError, OSError) as exc:
        _fail(ValueError(f"{references}: {exc}") if str(references) not in str(exc) else exc)

    def worst(b):
        i = int(np.argmax(np.abs(b)))
        return f"{b[i]:+.4f} at x = {c.li[i]:.2f}"

    typer.echo(f"references {references}: edge shift from pristine to charged {c.shift_ev:+.2f} eV "
               f"(half maximum)")
    typer.echo(f"energies {', '.join(f'{v:.4f}' for v in c.energies_kev)} keV; largest error of the linear "
               "calibration (found - true Li, spectra only):")
    typer.echo(f"  if intermediate states mix the two spectra:  {worst(c.bias_mixing)}")
    typer.echo(f"  if the edge shifts in proportion to the Li:  {worst(c.bias_shift)}")
    typer.echo("edge energy (keV) -> largest error if the edge shifts:")
    for ed, w in zip(c.edges_kev[::2], c.worst_shift[::2]):
        typer.echo(f"  {ed:.4f}  {w:.4f}")
    typer.echo(f"smallest at {c.best_edge_kev:.4f} keV ({c.worst_shift.min():.4f}); where the two "
               "hypotheses differ, the Li map is only as good as the one that holds.")


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Output folder."),
    preset: Optional[str] = typer.Option(None, help="Scenario preset (default: default; with --series, quick)."),
    seed: int = typer.Option(0, help="Random seed."),
    pipeline: Optional[str] = typer.Option(None, "--pipeline", help=_PIPELINE_HELP),
    pipeline_timeout: Optional[float] = typer.Option(None, "--pipeline-timeout", help=_TIMEOUT_HELP),
    series: bool = typer.Option(False, "--series", help="An operando series instead: three states, the sample "
                                                        "moving between them (quick preset unless --preset); "
                                                        "writes series_report.html."),
):
    """Simulate -> process -> validate the default scenario and write report.html."""
    from trixanes.demo import run_demo
    from trixanes.validate.plugin import PipelineFailed

    if series:
        from trixanes.series_demo import run_series_demo

        if pipeline is not None:
            _fail(ValueError("--series runs trixanes' own series pipeline: --pipeline is not taken"))
        try:
            card = run_series_demo(out, preset=preset or "quick", seed=seed)
        except (ValueError, OSError) as exc:
            _fail(exc)
        tr = card["tracking"]
        typer.echo(f"{tr['n_followed']} of {tr['n_segmented']} particles followed through "
                   f"{len(card['states'])} states; Li change MAE {tr['li_change']['mae']:.4f}; "
                   f"wrote {out / 'series_report.html'}")
        return
    try:
        run_demo(out, preset=preset or "default", seed=seed, pipeline=_pipeline(pipeline, pipeline_timeout))
    except (ValueError, OSError) as exc:
        _fail(exc)
    except PipelineFailed as exc:
        typer.secho(f"the pipeline failed: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)


# the commands that run many scenarios, registered after these (the order of --help)
from trixanes import cli_studies  # noqa: E402,F401


def main() -> None:  # pragma: no cover
    sys.exit(app())
