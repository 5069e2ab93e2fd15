"""The series demo: simulate three states of charge -> `series` -> validate, and series_report.html.

The sample moves between states (up to 0.5 µm and 1°, as between the paper's
acquisitions) while every particle's Li front moves inward.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import report

#: the demo's three states: Li rising, the sample moved between acquisitions
DEMO_STATES = (
    {"name": "I", "mean_soc": 0.2},
    {"name": "II", "mean_soc": 0.45, "translation_um": [0.2, 0.3, -0.2], "rotation_deg": 0.6},
    {"name": "III", "mean_soc": 0.7, "translation_um": [-0.1, 0.5, 0.3], "rotation_deg": 1.0},
)


def demo_scenario(preset: str = "quick", seed: int = 5):
    """The series scenario the demo runs."""
    from trixanes.synth.config import Scenario

    return Scenario.preset(preset).replace(
        seed=seed, name=f"{preset}-series",
        series={"rotation_axis": [1.0, 0.01, 0.02], "state": [dict(s) for s in DEMO_STATES]})


def run_series_demo(out_dir, *, preset: str = "quick", seed: int = 5, progress: bool = True) -> dict:
    """Simulate, process and validate a three-state series; write ``out_dir/series_report.html``.

    Returns the series scorecard (`trixanes.io.series_scorecard`).
    """
    from trixanes.pipeline.series import process_series
    from trixanes.synth.series import simulate_series
    from trixanes.validate.series import validate_series

    out_dir = Path(out_dir)
    sc = demo_scenario(preset, seed)
    t0 = time.perf_counter()
    sim = simulate_series(sc, out_dir / "sim", progress=progress)
    t1 = time.perf_counter()
    res = process_series(sim.state_dirs, sim.out_dir / "references.csv", out_dir / "result", progress=progress)
    t2 = time.perf_counter()
    card = validate_series(sim.out_dir, res.out_dir, out_dir / "score", figures=False)
    t3 = time.perf_counter()
    timing = {"simulate": t1 - t0, "series": t2 - t1, "validate": t3 - t2}
    _write_report(out_dir / "series_report.html", sc, res, card, timing)
    return card


def series_section(res, card) -> str:
    """The series part of a report: scores per state, tracking, motions and the figures."""
    rows = [(s["state"], s["interior_rmse"], s["total_li_error"], s["particle_f1"],
             s["particle_mean_li_mae"]) for s in card["states"]]
    body = report.table(rows, ["state", "interior Li RMSE", "total-Li error", "particle F1",
                               "particle mean-Li MAE"])
    tr = card["tracking"]
    body += report.table([
        ("particles wholly inside the field of view in every state", tr["n_eligible"]),
        ("of those, found by the first state's segmentation", tr["n_segmented"]),
        ("followed with the right identity in every state", tr["n_followed"]),
        ("per-particle Li change between states: MAE", tr["li_change"]["mae"]),
        ("per-particle Li change between states: max", tr["li_change"]["max_abs"]),
    ], ["tracking", "value"])
    body += report.table([(m["state"], m["translation_true_um"], m["translation_error_um"],
                           m["translation_error_vox"], m["rotation_true_deg"], m["rotation_error_deg"])
                          for m in card["motions"] if m.get("found")],
                         ["state", "true translation (µm)", "error (µm)", "error (voxel)",
                          "true rotation (°)", "rotation error (°)"])
    captions = {"li_per_state": "The same slice in every state (one colour scale) and the change between "
                                "consecutive states",
                "particle_trajectories": "Each particle's mean Li and Li-rich fraction per state (Fig. 4b)",
                "state_summary": "Li classes (Fig. 4c) and total Li (Fig. S2a) per state",
                "z_profiles": "Li along z per state (Fig. S3)"}
    body += "".join(report.figure(p, captions.get(Path(p).stem, Path(p).stem)) for p in res.figures)
    return body


def _write_report(path, sc, res, card, timing) -> Path:
    acq = sc.acquisition
    sub = (f"scenario {sc.name}, seed {sc.seed}: {len(card['states'])} states, {acq.detector_cols} x "
           f"{acq.detector_rows} pixels of {acq.pixel_size_um} µm; "
           + ", ".join(f"{k} {v:.0f} s" for k, v in timing.items()))
    return report.write_report(path, title="trixanes: an operando series, simulated and scored",
                               subtitle=sub, sections=[("Series", series_section(res, card))])
