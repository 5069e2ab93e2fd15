"""Score a pipeline result (limap.h5) against the ground truth (truth.h5).

``validate`` reads both files (`trixanes.io.truth.read_truth`, `trixanes.io.limap.read_limap`),
brings the truth onto the result's grid, runs every metric and writes
``scorecard.json`` (a `trixanes.io.scorecard.Scorecard`) and figures.
``summary_table`` prints the headline numbers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from trixanes._shared.paths import check_out_dir
from trixanes._shared.provenance import Provenance, capture_warnings
from trixanes.io.limap import read_limap
from trixanes.io.scorecard import Scorecard, write_scorecard
from trixanes.io.stats import read_stats
from trixanes.io.truth import read_truth
from trixanes.validate.grid import truth_on_grid
from trixanes.validate.metrics import CLASS_NAMES, as_dict, compare
from trixanes.validate.uncertainty import noise_coverage


def validate(truth_path, result_path, out_dir, *, thresholds=(0.6, 0.9), figures=True,
             progress=False) -> Scorecard:
    """Score a Li map against the truth; write ``out_dir/scorecard.json`` and figures.

    Parameters
    ----------
    truth_path : path-like
        truth.h5 from ``simulate``.
    result_path : path-like
        limap.h5 from ``process`` or any pipeline (read by `trixanes.io.limap.read_limap`).
    out_dir : path-like
        Where scorecard.json and the figures go (created if missing).
    thresholds : (float, float), optional
        q thresholds of the Li-poor / moderate / rich classes.
    figures : bool, optional
        Also write the PNG figures.
    progress : bool, optional
        Print each step with its time.

    Returns
    -------
    Scorecard
        The record written (`trixanes.io.scorecard`); also a read-only mapping of
        its JSON layout. Sections: ``grid``, ``voxel`` (``am``, ``interior``),
        ``classes``, ``segmentation``, ``particles``, ``profiles`` (``z``,
        ``depth``), ``total``, ``truth_stats``, ``result_stats``, ``notes``,
        ``provenance``.

    Examples
    --------
    >>> card = validate("truth.h5", "limap.h5", "out")  # doctest: +SKIP
    >>> print(summary_table(card))  # doctest: +SKIP
    """
    t0 = float(thresholds[0]), float(thresholds[1])
    if not 0 <= t0[0] < t0[1]:
        raise ValueError(f"thresholds must satisfy 0 <= t0 < t1, got {thresholds}")
    thresholds = t0
    out_dir = check_out_dir(out_dir)  # a file or an unwritable folder: said before any work
    clock = _Clock(progress)

    with capture_warnings() as seen:
        card = _score(truth_path, result_path, out_dir, thresholds, figures, clock)
    card = card.replace(provenance=card.provenance.with_warnings(seen))
    write_scorecard(out_dir / "scorecard.json", card)
    return card


def _score(truth_path, result_path, out_dir, thresholds, figures, clock) -> Scorecard:
    truth = read_truth(truth_path)
    res = read_limap(result_path)
    clock("read files")
    notes = []
    if len(set(res.voxel_size_um)) != 1:
        raise ValueError(f"{res.path}: attribute 'voxel_size_um' is anisotropic {res.voxel_size_um}; "
                         "validate needs cubic voxels")
    voxel = res.voxel_size_um[0]
    labels = res.labels
    if labels is None:
        labels = np.zeros(res.shape, np.int32)
        notes.append(f"{res.path} has no /labels: particle scores count no found particle")
    if (truth.x_pristine, truth.x_charged) != (res.x_pristine, res.x_charged):
        notes.append(
            f"references differ: truth x_pristine/x_charged = {truth.x_pristine}/"
            f"{truth.x_charged}, result {res.x_pristine}/{res.x_charged}; classes use the truth's"
        )
    grid = truth_on_grid(truth.li, truth.phase, truth.labels, truth.voxel_size_um,
                         truth.origin_um, res.shape, voxel, res.origin_um)
    clock("truth onto result grid")
    xp, xc = truth.x_pristine, truth.x_charged
    s = compare(grid, res.li, res.am_mask, labels, voxel, res.origin_um[0],
                x_pristine=xp, x_charged=xc, thresholds=thresholds)
    clock("metrics and statistics")
    unc = None
    if res.li_sigma is not None:
        particle_sigma, total_sigma = _stats_sigma(res.path, notes)
        unc = noise_coverage(grid.li, res.li, res.li_sigma, grid.interior, grid.am_mask, s.particles,
                             particle_sigma, s.total.error, total_sigma)
    figs = []
    if figures:
        from trixanes.validate.figures import write_figures

        paths = write_figures(out_dir, grid, res.li, s, voxel, res.origin_um, x_range=(xc, xp))
        figs = [p.name for p in paths]
        clock("figures")
    provenance = Provenance(
        tool="validate",
        options={"thresholds": list(thresholds), "figures": bool(figures)},
        inputs={"truth": Provenance.input_file(truth.path), "limap": Provenance.input_file(res.path)},
        details={"grid_method": grid.method,
                 "limap_provenance": res.provenance.to_dict() if res.provenance else None})
    return Scorecard(
        truth_path=str(truth.path),
        result_path=str(res.path),
        grid={
            "method": grid.method,
            "truth_voxel_um": truth.voxel_size_um,
            "result_voxel_um": voxel,
            "voxel_ratio": voxel / truth.voxel_size_um,
            "truth_shape": list(truth.li.shape),
            "result_shape": list(res.shape),
            "n_am_true": int(grid.am_mask.sum()),
            "n_interior_true": int(grid.interior.sum()),
        },
        voxel={"am": as_dict(s.voxel_am), "interior": as_dict(s.voxel_interior)},
        classes={"names": list(CLASS_NAMES), **as_dict(s.classes)},
        segmentation=as_dict(s.segmentation),
        particles=s.particles.to_dict(),
        profiles={"z": as_dict(s.z), "depth": as_dict(s.depth)},
        total=as_dict(s.total),
        truth_stats=s.truth_stats,
        result_stats=s.result_stats,
        notes=tuple(notes),
        figures=tuple(figs),
        provenance=provenance,
        uncertainty=unc,
    )


def _stats_sigma(limap_path, notes):
    """σ of each particle's mean Li (found label -> σ) and of total Li, from ``stats.json`` beside the map."""
    path = limap_path.parent / "stats.json"
    try:
        sigma = read_stats(path).sigma if path.is_file() else None
    except ValueError as err:
        notes.append(f"{path} not read ({err}): particle and total-Li σ not checked")
        return None, None
    if not sigma:
        notes.append(f"no σ of the statistics beside {limap_path.name} ({path.name} with a 'sigma' section): "
                     "particle and total-Li σ not checked")
        return None, None
    parts = {int(p["label"]): float(p["mean_li"]) for p in sigma.get("particles", ())}
    return parts, float(sigma.get("total_li", float("nan")))


class _Clock:
    def __init__(self, on):
        self.on, self.t = on, time.perf_counter()

    def __call__(self, what):
        if self.on:
            now = time.perf_counter()
            print(f"validate: {what} ({now - self.t:.1f} s)", flush=True)
            self.t = now


_HEADLINES = (
    ("interior Li RMSE", ("voxel", "interior", "rmse"), "{:.4f}"),
    ("AM Li RMSE", ("voxel", "am", "rmse"), "{:.4f}"),
    ("AM Li bias", ("voxel", "am", "bias"), "{:+.4f}"),
    ("particle mean-Li MAE", ("particles", "mean_li", "mae"), "{:.4f}"),
    ("total Li error", ("total", "error"), "{:+.4f}"),
    ("AM Dice", ("segmentation", "dice"), "{:.3f}"),
    ("class accuracy", ("classes", "accuracy"), "{:.3f}"),
    ("particle F1", ("particles", "f1"), "{:.3f}"),
)


def summary_table(scorecard: dict) -> str:
    """A short fixed-width table of the headline numbers.

    Examples
    --------
    >>> print(summary_table({"voxel": {"interior": {"rmse": 0.012}}}).splitlines()[2])
    interior Li RMSE          0.0120
    """
    lines = [f"{'metric':<24}{'value':>8}", "-" * 32]
    for name, keys, fmt in _HEADLINES:
        v = scorecard
        for k in keys:
            v = v.get(k) if isinstance(v, Mapping) else None
        text = fmt.format(v) if isinstance(v, (int, float)) else "n/a"
        lines.append(f"{name:<24}{text:>8}")
    unc = scorecard.get("uncertainty") if isinstance(scorecard, Mapping) else None
    if isinstance(unc, Mapping):  # only for results with a σ
        for name, part in (("2σ coverage, interior", "interior"), ("2σ coverage, particles", "particles")):
            v = unc.get(part, {}).get("coverage_2sigma")
            lines.append(f"{name:<24}{(f'{v:.3f}' if isinstance(v, float) and v == v else 'n/a'):>8}")
    return "\n".join(lines)
