"""Score a processed operando series against its truth: each state, and the tracking.

Each state is scored as `validate` scores one result (``<out>/<state>/scorecard.json``).
The tracking scores say whether a label of the result is the same particle
in every state, as the series truth's labels are:

- a true particle is *followed* when, in every state, it is matched (IoU ≥ 0.5:
  the state scorecard's ``particles.matched`` pairs) to one and the same found label;
- ``followed_fraction`` counts that over the true particles wholly inside the
  field of view in every state that the first state's segmentation found
  (matched): it scores the tracking; ``followed_fraction_of_all`` counts it over
  all those particles, segmentation misses included;
- the Li change of each followed particle between consecutive states, found
  (``series.json``) against true (``series_truth.json``): MAE and max;
- each detached particle of the truth: ``found`` when it is followed as above;
- each state's found rigid motion against the true one: translation error (µm,
  and in result voxels) and rotation error (the angle of R_trueᵀ R_found, degrees).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trixanes._shared.paths import check_out_dir
from trixanes.io.series import read_series
from trixanes.io.series_scorecard import write_series_scorecard
from trixanes.io.series_truth import read_series_truth

from .scorecard import validate

__all__ = ["validate_series", "rotation_error_deg"]


def rotation_error_deg(r_true, r_found) -> float:
    """The angle of the rotation between two rotation matrices, degrees.

    Examples
    --------
    >>> c, s = np.cos(np.radians(1.0)), np.sin(np.radians(1.0))
    >>> round(rotation_error_deg(np.eye(3), [[1, 0, 0], [0, c, -s], [0, s, c]]), 6)
    1.0
    """
    d = np.asarray(r_true, float).T @ np.asarray(r_found, float)
    return float(np.degrees(np.arccos(np.clip((np.trace(d) - 1.0) / 2.0, -1.0, 1.0))))


def validate_series(series_truth, result_dir, out_dir, *, thresholds=(0.6, 0.9), figures=True) -> dict:
    """Score every state and the tracking of a series; write ``out_dir/series_scorecard.json``.

    Parameters
    ----------
    series_truth : path-like
        ``series_truth.json`` or the folder of a simulated series (its states'
        ``truth.h5`` in ``<folder>/<state>/``).
    result_dir : path-like
        The output folder of `trixanes.pipeline.series.process_series` (or of
        any pipeline writing the same layout).
    out_dir : path-like
    thresholds, figures
        As in `validate`.

    Returns
    -------
    dict
        The written scorecard (see `trixanes.io.series_scorecard`).
    """
    truth = read_series_truth(series_truth)
    result = read_series(result_dir)
    result_dir = Path(result_dir)
    out_dir = check_out_dir(out_dir)
    if tuple(result.states) != tuple(truth.states):
        raise ValueError(f"{result.path}: states {list(result.states)} differ from the truth's "
                         f"{list(truth.states)} ({truth.path})")
    n_s = len(truth.states)
    states, found_of = [], []
    for s, name in enumerate(truth.states):
        t_path, r_path = truth.state_dir(name) / "truth.h5", result_dir / name / "limap.h5"
        card = validate(t_path, r_path, out_dir / name, thresholds=thresholds, figures=figures)
        states.append({"state": name, "interior_rmse": card["voxel"]["interior"]["rmse"],
                       "am_bias": card["voxel"]["am"]["bias"], "total_li_error": card["total"]["error"],
                       "particle_f1": card["particles"]["f1"],
                       "particle_mean_li_mae": card["particles"]["mean_li"]["mae"]})
        found_of.append({int(t): int(f) for t, f in card["particles"]["matched"]})  # true -> found label
    eligible = truth.labels[truth.inside.all(axis=1)]
    followed = {}
    segmented = [j for j in eligible.tolist() if j in found_of[0]]
    for j in segmented:
        ks = [f.get(j) for f in found_of]
        if ks[0] is not None and all(k == ks[0] for k in ks):
            followed[j] = ks[0]
    row_true = {int(k): i for i, k in enumerate(truth.labels)}
    row_found = {int(k): i for i, k in enumerate(result.labels)}
    errors = []
    for j, k in followed.items():
        if k not in row_found:
            continue
        li_t, li_f = truth.li[row_true[j]], result.mean_li[row_found[k]]
        errors.append(np.diff(li_f) - np.diff(li_t))
    err = np.abs(np.array(errors)) if errors else np.zeros((0, max(n_s - 1, 0)))
    card = {
        "states": states,
        "tracking": {
            "n_eligible": int(eligible.size), "n_segmented": len(segmented), "n_followed": len(followed),
            "followed_fraction": len(followed) / len(segmented) if segmented else float("nan"),
            "followed_fraction_of_all": len(followed) / eligible.size if eligible.size else float("nan"),
            "li_change": {"n": int(err.shape[0]),
                          "mae": float(np.nanmean(err)) if err.size else float("nan"),
                          "max_abs": float(np.nanmax(err)) if err.size else float("nan"),
                          "mae_per_step": np.nanmean(err, axis=0).tolist() if err.size else []},
            "not_segmented": sorted(set(eligible.tolist()) - set(segmented)),
            "not_followed": sorted(set(segmented) - set(followed)),
        },
        "motions": _motion_errors(truth, result),
        "detached": {"n_true": len(truth.detached), "labels": list(truth.detached),
                     "found": [j for j in truth.detached if j in followed],
                     "segmented": [j for j in truth.detached if j in found_of[0]]},
        "truth": str(truth.path), "result": str(result.path),
    }
    write_series_scorecard(out_dir / "series_scorecard.json", card)
    return card


def _motion_errors(truth, result) -> list:
    found = {m["state"]: m for m in result.motions}
    out = []
    for m in truth.motions:
        f = found.get(m["state"])
        if f is None:
            out.append({"state": m["state"], "found": False})
            continue
        dt = np.asarray(f["translation_um"], float) - np.asarray(m["translation_um"], float)
        vox = np.asarray(result.voxel_size_um, float)
        entry = {"state": m["state"], "found": True,
                 "translation_true_um": m["translation_um"], "translation_found_um": f["translation_um"],
                 "translation_error_um": float(np.linalg.norm(dt)),
                 "translation_error_vox": float(np.linalg.norm(dt / vox)),
                 "rotation_true_deg": m["rotation_deg"], "rotation_found_deg": f["rotation_deg"]}
        if "rotation_matrix_zyx" in m and "rotation_matrix_zyx" in f:
            entry["rotation_error_deg"] = rotation_error_deg(m["rotation_matrix_zyx"], f["rotation_matrix_zyx"])
        else:
            entry["rotation_error_deg"] = abs(f["rotation_deg"] - m["rotation_deg"])
        out.append(entry)
    return out
