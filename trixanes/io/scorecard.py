"""``scorecard.json``: the scores of one result against its truth, as a frozen record.

`trixanes.validate.scorecard.validate` makes a `Scorecard`; this module owns
its JSON layout (`Scorecard.to_dict`), the atomic writer and the reader. NaN is
written as ``null`` and read back as NaN by `trixanes._shared.jsonio`.

A `Scorecard` is also a read-only mapping of that layout
(``card["voxel"]["interior"]["rmse"]``), the form studies flatten into
``"voxel.interior.rmse"`` columns.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from trixanes._shared.jsonio import nan_nulls, write_json
from trixanes._shared.provenance import Provenance
from trixanes.io._records import JsonView, read_json_record
from trixanes.io.stats import Stats

__all__ = ["SECTIONS", "Scorecard", "write_scorecard", "read_scorecard"]

#: the score sections, each a dict of numbers (and lists of numbers)
SECTIONS = ("grid", "voxel", "classes", "segmentation", "particles", "profiles", "total")


@dataclass(frozen=True, eq=False)
class Scorecard(JsonView):
    """Scores of a Li map against the truth on the result's grid.

    Attributes
    ----------
    truth_path, result_path : str
        The two files scored.
    grid : dict
        How the truth was brought onto the result grid (method, voxel sizes, shapes, counts).
    voxel : dict
        ``{"am": {...}, "interior": {...}}``: ``n_mask``, ``n``, ``rmse``, ``mae``,
        ``bias``, ``missing_fraction`` of Li (result − truth).
    classes : dict
        Li-class confusion: ``names``, ``matrix``, ``accuracy``, ``fraction_true``,
        ``fraction_found``, ``fraction_error``, ``thresholds``.
    segmentation : dict
        AM ``dice``, ``jaccard``, ``n_true``, ``n_found``.
    particles : dict
        Matching (``n_true``, ``n_found``, ``n_matched``, ``precision``, ``recall``, ``f1``, ...)
        and ``mean_li`` errors of matched particles (``n``, ``mae``, ``max_abs``, ``bias``).
    profiles : dict
        ``{"z": {...}, "depth": {...}}``: ``centres_um``, ``true``, ``found``, ``rmse``, ``n``.
    total : dict
        Mean Li over the AM: ``true``, ``found``, ``error``, ``true_exact``.
    truth_stats, result_stats : Stats or None
        The pipeline's statistics of the truth (on the result grid) and of the result.
    notes : tuple of str
    figures : tuple of str
        File names of the figures written beside the scorecard.
    uncertainty : dict or None
        When the result has a ``/li_sigma``: how well it describes the actual
        error (`trixanes.validate.uncertainty`): coverage of the 2σ band over
        the interior and AM voxels and over the particles' mean Li.
    provenance : Provenance or None
        Inputs (truth and limap with SHA-256), options, version, warnings.
    """

    truth_path: str
    result_path: str
    grid: dict
    voxel: dict
    classes: dict
    segmentation: dict
    particles: dict
    profiles: dict
    total: dict
    truth_stats: Stats | None = None
    result_stats: Stats | None = None
    notes: tuple = ()
    figures: tuple = ()
    provenance: Provenance | None = None
    uncertainty: dict | None = None

    @functools.cached_property
    def _view(self) -> dict:
        d = {"truth_path": self.truth_path, "result_path": self.result_path}
        d.update({name: getattr(self, name) for name in SECTIONS})
        for name in ("truth_stats", "result_stats"):
            st = getattr(self, name)
            if st is not None:
                d[name] = st.to_dict()
        d["notes"] = list(self.notes)
        if self.figures:
            d["figures"] = list(self.figures)
        if self.uncertainty is not None:
            d["uncertainty"] = self.uncertainty
        if self.provenance is not None:
            d["provenance"] = self.provenance.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "Scorecard":
        """Back from `to_dict` or its JSON; unknown keys are ignored."""
        try:
            stats = {n: Stats.from_dict(d[n]) if isinstance(d.get(n), Mapping) and "total_li" in d[n] else None
                     for n in ("truth_stats", "result_stats")}
            return cls(truth_path=str(d["truth_path"]), result_path=str(d["result_path"]),
                       **{n: nan_nulls(d[n]) for n in SECTIONS}, **stats,
                       notes=tuple(d.get("notes", ())), figures=tuple(d.get("figures", ())),
                       provenance=Provenance.from_dict(d["provenance"]) if d.get("provenance") else None,
                       uncertainty=nan_nulls(d["uncertainty"]) if d.get("uncertainty") is not None else None)
        except KeyError as err:
            raise ValueError(f"missing key {err.args[0]!r}") from None
        except (TypeError, AttributeError) as err:
            raise ValueError(f"malformed scorecard ({err})") from None


def write_scorecard(path: str | os.PathLike, card: Scorecard) -> Path:
    """Write ``scorecard.json`` atomically (strict JSON, NaN as null); return the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> card = Scorecard("truth.h5", "limap.h5", grid={}, voxel={"am": {"rmse": float("nan")}},
    ...                  classes={}, segmentation={"dice": 0.97}, particles={}, profiles={}, total={})
    >>> p = write_scorecard(pathlib.Path(tempfile.mkdtemp()) / "scorecard.json", card)
    >>> '"rmse": null' in p.read_text()
    True
    >>> back = read_scorecard(p)
    >>> back["voxel"]["am"]["rmse"], back.segmentation["dice"]
    (nan, 0.97)
    """
    if not isinstance(card, Scorecard):
        raise ValueError(f"card: expected a Scorecard record, got {type(card).__name__}")
    return write_json(path, card.to_dict())


def read_scorecard(path: str | os.PathLike) -> Scorecard:
    """Read ``scorecard.json``; ValueError naming the file and what is missing or malformed."""
    return read_json_record(path, Scorecard, "a scorecard")
