"""End-to-end demo: simulate -> process -> validate, a terminal table and report.html.

The three stages meet only through the files each writes, exactly as on a
beamline: the pipeline never sees the truth.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import html
from collections.abc import Mapping

from trixanes.io.limap import read_limap

from . import report

#: The demo's acceptance targets (issue: validate/ and the demo).
TARGETS = (
    ("interior voxel Li RMSE", ("voxel", "interior", "rmse"), "<=", 0.05),
    ("per-particle mean-Li MAE", ("particles", "mean_li", "mae"), "<=", 0.02),
    ("AM Dice", ("segmentation", "dice"), ">=", 0.9),
    ("|total Li error|", ("total", "error"), "abs<=", 0.02),
)


def _get(card: dict, keys):
    v = card
    for k in keys:
        v = v.get(k) if isinstance(v, Mapping) else None
    return None if isinstance(v, float) and v != v else v  # NaN: no value to show


def check_targets(card: dict) -> list[tuple[str, float | None, str, bool]]:
    """Each target as (name, value, rule text, met)."""
    out = []
    for name, keys, op, bound in TARGETS:
        v = _get(card, keys)
        if v is None:
            out.append((name, None, f"{op} {bound}", False))
            continue
        met = {"<=": v <= bound, ">=": v >= bound, "abs<=": abs(v) <= bound}[op]
        out.append((name, float(v), f"{op.replace('abs', '')} {bound}", bool(met)))
    return out


def run_demo(out_dir, *, preset: str = "default", seed: int = 0, progress: bool = True,
             pipeline=None) -> dict:
    """Simulate, process and validate one scenario; write ``out_dir/report.html``.

    Parameters
    ----------
    out_dir : path-like
    preset : str
        Scenario preset.
    seed : int
    progress : bool
    pipeline : Pipeline or str, optional
        What processes the scans (`trixanes.validate.plugin.parse_pipeline`);
        default trixanes' own. The statistics and figures of another one's
        Li map are computed by `trixanes.pipeline.analyze` from its limap.h5.

    Returns
    -------
    dict
        The scorecard.

    Raises
    ------
    trixanes.validate.plugin.PipelineFailed
        The pipeline failed: its error and stderr tail.
    """
    from trixanes.pipeline import figures as pfig
    from trixanes.synth.config import Scenario
    from trixanes.synth.simulate import simulate
    from trixanes.validate.plugin import parse_pipeline
    from trixanes.validate.scorecard import summary_table, validate

    pipe = parse_pipeline(pipeline)
    out = Path(out_dir)
    t0 = time.perf_counter()
    sc = Scenario.preset(preset).replace(seed=seed)
    print(f"trixanes demo: scenario '{sc.name}', seed {sc.seed}, pipeline {pipe.name} -> {out}/", flush=True)
    sim = simulate(sc, out / "simulate", progress=progress)
    t_sim = time.perf_counter() - t0
    limap_path, stats, log, t_proc = _process(pipe, sim, out / "process", progress)
    t1 = time.perf_counter()
    card = validate(sim.truth_path, limap_path, out / "validate", figures=True)
    t_val = time.perf_counter() - t1

    limap, mu = read_limap(limap_path, mu=True)
    compare_dir = out / "process" / "figures"
    grey = mu.get("post", limap.am_mask.astype("float32"))  # a foreign limap.h5 may hold no volumes
    compare = pfig.save_all(stats, limap.li, grey, limap.voxel_size_um[0], compare_dir,
                            reference_stats=card.truth_stats)

    print()
    print(summary_table(card))
    print()
    targets = check_targets(card)
    for name, v, rule, met in targets:
        shown = "n/a" if v is None else f"{v:.4f}"
        print(f"  {'PASS' if met else 'MISS'}  {name} = {shown} (target {rule})")
    timing = {"simulate_s": t_sim, "process_s": t_proc, "validate_s": t_val,
              "total_s": time.perf_counter() - t0}
    path = _write_report(out / "report.html", sc, sim, pipe, stats, log, card, targets, timing,
                         compare, out / "validate")
    print(f"\nreport: {path}  ({timing['total_s']:.0f} s: simulate {t_sim:.0f} s, "
          f"process {t_proc:.0f} s, validate {t_val:.0f} s)")
    return card


def _process(pipe, sim, out_dir, progress):
    """Run the pipeline: (limap path, stats, log lines, seconds)."""
    from trixanes.pipeline.analyze import analyze
    from trixanes.pipeline.process import ProcessOptions, process
    from trixanes.validate.plugin import PipelineFailed, TrixanesPipeline, run_pipeline

    if isinstance(pipe, TrixanesPipeline):
        # the pipeline's figures are drawn once, by run_demo, with the truth overlaid
        opts = pipe.options or ProcessOptions()
        res = process(sim.scan_paths, sim.references_path, out_dir, replace(opts, figures=False),
                      progress=progress)
        return res.limap_path, res.stats, list(res.log), res.seconds
    run = run_pipeline(pipe, sim.scan_paths, sim.references_path, out_dir, scenario_path=sim.scenario_path)
    if not run.ok:
        raise PipelineFailed(run)
    from scipy import ndimage

    limap = read_limap(run.limap_path)
    log = [pipe.describe(), f"finished in {run.seconds:.1f} s; the statistics and figures below are "
                            f"trixanes.pipeline.analyze's of its limap.h5"]
    labels = limap.labels
    if labels is None:  # particles as connected AM regions, for the per-particle figure
        labels = ndimage.label(limap.am_mask)[0].astype("int32")
        log.append("its limap.h5 has no /labels: particles are the connected regions of its /am_mask")
    stats = analyze(limap.li, limap.am_mask, labels, limap.voxel_size_um)
    log += run.stderr_tail.splitlines()[-20:]
    return run.limap_path, stats, log, run.seconds


def _write_report(path, sc, sim, pipe, stats, log_lines, card, targets, timing, compare_figs, val_dir) -> Path:
    acq, sample, lith, spectra = sc.acquisition, sc.sample, sc.lithium, sc.spectra
    st = stats.acquisition or {}
    scenario = report.table([
        ("field of view", f"{acq.detector_cols * acq.pixel_size_um:.1f} × "
                          f"{acq.detector_rows * acq.pixel_size_um:.1f} µm "
                          f"({acq.detector_cols} × {acq.detector_rows} pixels of {acq.pixel_size_um * 1000:.0f} nm)"),
        ("phantom", f"supersampled {acq.supersample}× (voxel {acq.fine_voxel_um * 1000:.0f} nm), "
                    f"{sim.n_particles} particles, AM fraction {sim.am_fraction:.3f}"),
        ("sample", f"{sample.geometry}, D50 {sample.d50_um} µm, target AM fraction {sample.am_fraction}"),
        ("Li field", f"{lith.mode}, mean progress {lith.mean_soc}, active surface "
                     f"{lith.active_surface_fraction:.0%}, {lith.front} front"),
        ("spectral model", spectra.model),
        ("energies", ", ".join(f"{e:.3f} keV" for e in acq.energies_kev)),
        ("projections", f"{acq.n_projections or 'scaled from 721'} over "
                        f"[{acq.angle_range_deg[0]:.0f}°, {acq.angle_range_deg[1]:.0f}°], "
                        f"dead wedge {acq.dead_wedge_deg}°"),
        ("photon flux", f"{acq.flux_photons:g} photons/pixel/projection" if acq.flux_photons else "noise-free"),
        ("seed", str(sc.seed)),
    ])
    tgt = report.table(
        [(n, "n/a" if v is None else float(v), rule,
          ("raw", '<span class="pass">met</span>' if met else '<span class="fail">missed</span>'))
         for n, v, rule, met in targets],
        header=("metric", "value", "target", ""))
    more = report.table([
        ("AM voxel Li RMSE / bias", f"{_fmt(card, 'voxel', 'am', 'rmse')} / {_fmt(card, 'voxel', 'am', 'bias')}"),
        ("class accuracy (poor/moderate/rich)", _fmt(card, "classes", "accuracy")),
        ("particles matched: precision / recall / F1",
         f"{_fmt(card, 'particles', 'precision')} / {_fmt(card, 'particles', 'recall')} / "
         f"{_fmt(card, 'particles', 'f1')}"),
        ("z-profile RMSE", _fmt(card, "profiles", "z", "rmse")),
        ("core-shell (depth) profile RMSE", _fmt(card, "profiles", "depth", "rmse")),
        ("binning / result voxel", f"{st.get('binning')} / {st.get('voxel_size_um', float('nan')):.3f} µm"),
        ("reference edge jumps J (pristine, charged)",
         f"{st.get('reference_jumps', {}).get('pristine', float('nan')):.4f}, "
         f"{st.get('reference_jumps', {}).get('charged', float('nan')):.4f}"),
    ])
    captions = {
        "orthoslices": "Recovered Li content over the post-edge grey-level volume, three orthogonal slices.",
        "histogram": "Histogram of relative lithiation q, pipeline and truth.",
        "class_fractions": "Li-poor / moderate / rich volume fractions, pipeline and truth.",
        "particles": "Per-particle mean Li against equivalent diameter.",
        "z_profile": "Mean Li along z (through-plane).",
        "depth_profile": "Mean Li against depth below the particle surface (core-shell).",
    }
    figs = [report.figure(p, captions.get(Path(p).stem.removeprefix("li_"), Path(p).stem))
            for p in compare_figs]
    wide = [f for p, f in zip(compare_figs, figs) if "orthoslices" in Path(p).stem]
    paper = "".join(wide) + '<div class="grid">' + "".join(f for f in figs if f not in wide) + "</div>"
    val_captions = {
        "slices": "Truth, pipeline result and error (result − truth) on the three mid-planes.",
        "particles": "Per-particle mean Li, found against true, matched by IoU ≥ 0.5.",
        "profiles": "z-profile and core-shell (depth) profile of truth and result.",
        "confusion": "Confusion of the Li-poor / moderate / rich classes (rows: truth).",
    }
    val = "".join(report.figure(val_dir / name, val_captions.get(name.removesuffix(".png"), name))
                  for name in card.get("figures", []))
    log = "<pre>" + "\n".join(html.escape(line) for line in log_lines) + "</pre>"
    timing_t = report.table([(k.removesuffix("_s"), float(v)) for k, v in timing.items()],
                            header=("stage", "seconds"))
    return report.write_report(
        path,
        title="trixanes demo: how far to trust the 3D Li map",
        subtitle=(f"Scenario '{sc.name}' simulated, processed by the same pipeline that runs on "
                  f"beamline data ({pipe.describe()}), and scored against its ground truth."),
        sections=[
            ("Scorecard", tgt + more),
            ("Scenario and acquisition", scenario),
            ("The paper's figures, pipeline against truth", paper),
            ("Truth, result and error", val),
            ("Pipeline log", log),
            ("Timing", timing_t),
        ],
    )


def _fmt(card, *keys) -> str:
    v = _get(card, keys)
    return "n/a" if v is None else f"{v:.4g}"


__all__ = ["run_demo", "check_targets", "TARGETS"]
