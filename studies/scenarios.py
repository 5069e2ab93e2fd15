"""What a study's scenarios start from: a geometry's base scenario, seeds, processing options.

Each study module builds its `~trixanes.studies.sweep.Task` list from these, so
every study starts from the same presets, repeats over seeds the same way and
processes with the same defaults.
"""

from __future__ import annotations

from collections.abc import Mapping

from trixanes.synth.acquisition import resolved_projections
from trixanes.synth.config import PRESETS

from .sweep import Task

__all__ = ["GEOMETRIES", "base_options", "base_scenario", "describe_geometry", "repeat_tasks"]


def repeat_tasks(study: str, label: str, scenario, options: Mapping, params: Mapping,
                 repeats: int) -> list[Task]:
    """``repeats`` tasks of one scenario, repeat r with seed ``scenario.seed + r``.

    A new seed draws a new microstructure, Li field and photon noise, so the spread
    over repeats is the spread a user would see between samples.

    Examples
    --------
    >>> from trixanes.synth.config import Scenario
    >>> ts = repeat_tasks("s", "a", Scenario.preset("tiny"), {"algorithm": "fbp"}, {"w": 0}, 3)
    >>> [(t.repeat, t.scenario.seed) for t in ts]
    [(0, 0), (1, 1), (2, 2)]
    """
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats: must be an integer >= 1, got {repeats!r}")
    return [Task(study, label, scenario.replace(seed=scenario.seed + r), options, r, params)
            for r in range(repeats)]


#: the scenarios a study can start from: the presets of `trixanes.synth.config` (``paper``
#: is for a cluster: days of imaging per scenario on 2 cores)
GEOMETRIES = tuple(PRESETS)


def base_scenario(quick: bool, geometry: str | None = None):
    """The studies' starting scenario: the ``geometry`` preset; by default ``tiny`` when
    quick, else ``quick``.

    Examples
    --------
    >>> base_scenario(False).name, base_scenario(True, "paper-like").acquisition.n_projections
    ('quick', 721)
    """
    from trixanes.synth.config import Scenario

    if geometry is None:
        geometry = "tiny" if quick else "quick"
    if geometry not in GEOMETRIES:
        raise ValueError(f"geometry: unknown study geometry {geometry!r}; choose from {', '.join(GEOMETRIES)}")
    return Scenario.preset(geometry)


def describe_geometry(scenario) -> str:
    """A study geometry in words: field of view, pixels, angles, particles.

    Examples
    --------
    >>> describe_geometry(base_scenario(False))
    '`quick`: 128 × 96 pixels of 0.16 µm (20.5 × 15.4 µm), 60 projections over [-120°, 120°], D50 4.7 µm particles, supersampled 2×'
    """
    acq = scenario.acquisition
    lo, hi = acq.angle_range_deg
    return (f"`{scenario.name}`: {acq.detector_cols} × {acq.detector_rows} pixels of {acq.pixel_size_um:g} µm "
            f"({acq.detector_cols * acq.pixel_size_um:.1f} × {acq.detector_rows * acq.pixel_size_um:.1f} µm), "
            f"{resolved_projections(acq)} projections over [{lo:g}°, {hi:g}°], "
            f"D50 {scenario.sample.d50_um:g} µm particles, supersampled {acq.supersample}×")


def base_options(quick: bool, **changes) -> dict:
    """Processing options of the studies: no figures; quick sweeps skip the B-spline step."""
    opts = {"figures": False}
    if quick:
        opts["bspline"] = False
    opts.update(changes)
    return opts
