"""``series_scorecard.json``: the scores of a processed series against its truth.

Written by `trixanes.validate.series.validate_series`. Layout::

    {"format": "trixanes-series-scorecard", "version": 1,
     "states": [{"state": "I", "interior_rmse": ..., "am_bias": ..., "total_li_error": ...,
                 "particle_f1": ..., "particle_mean_li_mae": ...}, ...],
     "tracking": {"n_eligible": 40, "n_segmented": 24, "n_followed": 24,
                  "followed_fraction": 1.0, "followed_fraction_of_all": 0.6,
                  "li_change": {"n": 24, "mae": 0.006, "max_abs": 0.03, "mae_per_step": [...]},
                  "not_segmented": [...], "not_followed": [labels of the truth]},
     "motions": [{"state": "II", "translation_error_um": ..., "translation_error_vox": ...,
                  "rotation_error_deg": ..., ...}, ...],
     "detached": {"n_true": 1, "labels": [28], "segmented": [28], "found": []},
                                                 # true labels; found: followed as above
     "truth": "...", "result": "..."}

Each state's full scorecard is ``<state>/scorecard.json`` beside it. NaN is null.
"""

from __future__ import annotations

import os
from pathlib import Path

from trixanes._shared.jsonio import nan_nulls, read_json, write_json

__all__ = ["FORMAT", "write_series_scorecard", "read_series_scorecard"]

FORMAT = "trixanes-series-scorecard"
VERSION = 1


def write_series_scorecard(path: str | os.PathLike, card: dict) -> Path:
    """Write ``card`` (the sections of the layout) atomically."""
    return write_json(path, {"format": FORMAT, "version": VERSION, **card})


def read_series_scorecard(path: str | os.PathLike) -> dict:
    """Read a ``series_scorecard.json`` (or the folder holding one); ValueError naming the file."""
    path = Path(path)
    if path.is_dir():
        path = path / "series_scorecard.json"
    data = read_json(path) if path.is_file() else None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a series scorecard (no \"format\": \"{FORMAT}\")")
    for key in ("states", "tracking", "motions"):
        if key not in data:
            raise ValueError(f"{path}: missing entry {key!r}")
    return nan_nulls(data)
