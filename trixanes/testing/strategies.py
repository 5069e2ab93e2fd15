"""Hypothesis strategies of small, valid scenarios for property tests of a pipeline.

`scenarios` draws `trixanes.synth.config.Scenario` records from the ``tiny``
preset: a few particles on a detector of at most 128 x 64 pixels, so that
simulating one and running a pipeline on it takes seconds. Each drawn
quantity has a default range (`DEFAULTS`) that a keyword narrows or widens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hypothesis import strategies as st

from trixanes.synth.config import Scenario

__all__ = ["SPECTRA_MODELS", "DEFAULTS", "LIMITS", "scenarios"]

SPECTRA_MODELS = ("linear-combination", "edge-shift")

#: default range of each drawn quantity: (low, high), both included
DEFAULTS = {
    "cols": (56, 80),  # detector columns (the field of view across the rotation axis)
    "rows": (32, 48),  # detector rows (the height of the reconstructed volume)
    "pixel_size_um": (0.15, 0.2),
    "projections": (60, 120),  # before the dead wedge is removed
    "wedge_deg": (0.0, 60.0),  # full width of the missing wedge
    "flux": (1e5, 1e7),  # photons per pixel per projection, drawn log-uniform
    "drift_um": (0.0, 0.4),  # largest drift between energies, µm
    "d50_um": (2.5, 3.5),  # median particle diameter, µm
    "mean_soc": (0.2, 0.8),
    "soc_spread": (0.0, 0.2),
    "lateral_gradient": (-0.4, 0.4),
    "z_gradient": (-0.3, 0.3),
    "active_surface_fraction": (0.3, 1.0),
    "diffusion_length_um": (0.15, 0.6),
    "edge_shift_ev": (1.5, 3.0),
}

#: what "small" allows: a bound outside these is refused (the Scenario's own range
#: where it has one, else what still simulates in seconds)
LIMITS = {
    "cols": (16, 128), "rows": (8, 64), "pixel_size_um": (0.05, 0.5), "projections": (8, 240),
    "wedge_deg": (0.0, 179.0), "flux": (1e2, 1e12), "drift_um": (0.0, 2.0), "d50_um": (1.0, 6.0),
    "mean_soc": (0.0, 1.0), "soc_spread": (0.0, 1.0), "lateral_gradient": (-2.0, 2.0),
    "z_gradient": (-2.0, 2.0), "active_surface_fraction": (0.0, 1.0),
    "diffusion_length_um": (1e-3, 10.0), "edge_shift_ev": (0.1, 19.9),
}

_INTEGER = {"cols", "rows", "projections"}
_SEED_MAX = 2**31 - 1


def _range(name: str, given, low=None, high=None) -> tuple[float, float]:
    """The range of ``name``: the default, then a (low, high) pair, then min/max bounds."""
    lo, hi = DEFAULTS[name]
    if given is not None:
        try:
            lo, hi = (float(v) for v in given)
        except (TypeError, ValueError):
            raise ValueError(f"scenarios: {name}: expected a (low, high) pair, got {given!r}") from None
    lo = lo if low is None else float(low)
    hi = hi if high is None else float(high)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"scenarios: {name}: bounds must be finite numbers, got ({lo}, {hi})")
    if lo > hi:
        raise ValueError(f"scenarios: {name}: the low bound {lo:g} is above the high bound {hi:g}")
    a, b = LIMITS[name]
    if lo < a or hi > b:
        raise ValueError(f"scenarios: {name}: ({lo:g}, {hi:g}) leaves the range of small valid "
                         f"scenarios [{a:g}, {b:g}]")
    if name in _INTEGER:
        lo, hi = math.ceil(lo), math.floor(hi)
        if lo > hi:
            raise ValueError(f"scenarios: {name}: no whole number between the bounds")
    return lo, hi


def _floats(lo, hi):
    return st.just(lo) if lo == hi else st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _choice(name, given, allowed):
    """Values to draw from: None means all of ``allowed``; a str or bool one; a sequence several."""
    if given is None:
        return list(allowed)
    chosen = [given] if isinstance(given, (str, bool)) else list(given) if isinstance(given, Sequence) else None
    if not chosen:
        raise ValueError(f"scenarios: {name}: expected one of {list(allowed)} or a non-empty list of "
                         f"them, got {given!r}")
    bad = [c for c in chosen if c not in allowed or type(c) is not type(allowed[0])]
    if bad:
        raise ValueError(f"scenarios: {name}: unknown {bad[0]!r}; choose from {list(allowed)}")
    return list(dict.fromkeys(chosen))


def scenarios(*, cols=None, rows=None, pixel_size_um=None, projections=None,
              max_wedge_deg=None, min_wedge_deg=None,
              noise_free=None, min_flux=None, max_flux=None,
              max_drift_um=None, magnification=None,
              spectra=None, lithium_mode=None, front=None,
              d50_um=None, mean_soc=None, soc_spread=None, lateral_gradient=None,
              z_gradient=None, active_surface_fraction=None, diffusion_length_um=None,
              edge_shift_ev=None, seed=None) -> st.SearchStrategy:
    """A strategy of small, valid scenarios (from the ``tiny`` preset).

    Every keyword is optional; a range is a ``(low, high)`` pair (both
    included) and defaults to `DEFAULTS`.

    Parameters
    ----------
    cols, rows : (int, int), optional
        Detector columns and rows.
    pixel_size_um : (float, float), optional
        Detector pixel at the sample, µm.
    projections : (int, int), optional
        Projections over the -120°..120° range, before the dead wedge.
    max_wedge_deg, min_wedge_deg : float, optional
        Width of the dead (missing) wedge, degrees, in [0, 179]; default 0 to 60.
    noise_free : bool, optional
        True: noise-free scans only; False: Poisson noise always; None: either.
    min_flux, max_flux : float, optional
        Photons per pixel per projection of the noisy scans (log-uniform;
        default 1e5 to 1e7). A noise-free scan counts as infinite flux, so
        ``max_flux`` excludes it and ``min_flux`` does not.
    max_drift_um : float, optional
        Largest random drift of the sample between energies, µm (default 0.4;
        0: none).
    magnification : bool, optional
        The zone plate's energy-dependent magnification on (True), off
        (False) or either (None).
    spectra : str or sequence of str, optional
        ``"linear-combination"``, ``"edge-shift"`` or both (default).
    lithium_mode, front : str or sequence of str, optional
        ``"lithiation"``/``"delithiation"`` and ``"erfc"``/``"sharp"`` (default: all).
    d50_um, mean_soc, soc_spread, lateral_gradient, z_gradient, active_surface_fraction, \
diffusion_length_um, edge_shift_ev : (float, float), optional
        Ranges of the microstructure, Li model and spectra parameters.
    seed : int or (int, int), optional
        The scenario's seed, or a range of seeds (default any in [0, 2**31 - 1]).

    Returns
    -------
    hypothesis.strategies.SearchStrategy of Scenario

    Raises
    ------
    ValueError
        Impossible bounds (low above high, outside `LIMITS`, ``noise_free=True``
        with ``max_flux``, an unknown spectra model), naming the bound.

    Examples
    --------
    >>> from hypothesis import find
    >>> sc = find(scenarios(max_wedge_deg=30, spectra="edge-shift"), lambda s: True)
    >>> sc.acquisition.dead_wedge_deg <= 30, sc.spectra.model
    (True, 'edge-shift')
    >>> scenarios(min_wedge_deg=40, max_wedge_deg=30)
    Traceback (most recent call last):
    ...
    ValueError: scenarios: wedge_deg: the low bound 40 is above the high bound 30
    """
    r = {
        "cols": _range("cols", cols), "rows": _range("rows", rows),
        "pixel_size_um": _range("pixel_size_um", pixel_size_um),
        "projections": _range("projections", projections),
        "wedge_deg": _range("wedge_deg", None, min_wedge_deg, max_wedge_deg),
        "drift_um": _range("drift_um", None, None, max_drift_um),
    }
    r.update({name: _range(name, val) for name, val in {
        "d50_um": d50_um, "mean_soc": mean_soc, "soc_spread": soc_spread,
        "lateral_gradient": lateral_gradient, "z_gradient": z_gradient,
        "active_surface_fraction": active_surface_fraction,
        "diffusion_length_um": diffusion_length_um, "edge_shift_ev": edge_shift_ev}.items()})
    if r["wedge_deg"][0] < 0:
        raise ValueError(f"scenarios: min_wedge_deg must be >= 0, got {min_wedge_deg}")
    noise = _choice("noise_free", noise_free, [True, False])
    if max_flux is not None:
        if noise == [True]:
            raise ValueError("scenarios: noise_free=True draws only noise-free scans (infinite flux), "
                             f"which max_flux={max_flux:g} excludes")
        noise = [False]
    flux = _range("flux", None, min_flux, max_flux) if False in noise else None
    models = _choice("spectra", spectra, list(SPECTRA_MODELS))
    mags = _choice("magnification", magnification, [True, False])
    modes = _choice("lithium_mode", lithium_mode, ["lithiation", "delithiation"])
    fronts = _choice("front", front, ["erfc", "sharp"])
    if seed is None:
        seeds = st.integers(0, _SEED_MAX)
    elif isinstance(seed, int) and not isinstance(seed, bool):
        if not 0 <= seed <= _SEED_MAX:
            raise ValueError(f"scenarios: seed must be in [0, {_SEED_MAX}], got {seed}")
        seeds = st.just(seed)
    else:
        lo, hi = (int(v) for v in seed)
        if not 0 <= lo <= hi <= _SEED_MAX:
            raise ValueError(f"scenarios: seed: expected 0 <= low <= high <= {_SEED_MAX}, got {seed!r}")
        seeds = st.integers(lo, hi)
    base = Scenario.preset("tiny")

    @st.composite
    def draw_scenario(draw):
        pixel = draw(_floats(*r["pixel_size_um"]))
        noisy = not draw(st.sampled_from(noise))
        if noisy:
            lo, hi = (math.log10(v) for v in flux)
            photons = float(f"{10 ** draw(_floats(lo, hi)):.3g}")
            photons = min(max(photons, flux[0]), flux[1])  # rounding stays inside the bounds
        else:
            photons = 0.0
        model = draw(st.sampled_from(models))
        return base.replace(
            name="drawn",
            seed=draw(seeds),
            sample={"d50_um": draw(_floats(*r["d50_um"]))},
            lithium={
                "mode": draw(st.sampled_from(modes)), "front": draw(st.sampled_from(fronts)),
                **{k: draw(_floats(*r[k])) for k in ("mean_soc", "soc_spread", "lateral_gradient",
                                                     "z_gradient", "active_surface_fraction",
                                                     "diffusion_length_um")}},
            spectra={"model": model,
                     "edge_shift_ev": draw(_floats(*r["edge_shift_ev"])) if model == "edge-shift"
                     else base.spectra.edge_shift_ev},
            acquisition={
                "detector_cols": draw(st.integers(*r["cols"])),
                "detector_rows": draw(st.integers(*r["rows"])),
                "pixel_size_um": pixel,
                "n_projections": draw(st.integers(*r["projections"])),
                "dead_wedge_deg": draw(_floats(*r["wedge_deg"])),
                "flux_photons": photons,
                "drift_px": draw(_floats(*r["drift_um"])) / pixel,
                "zone_plate_magnification": draw(st.sampled_from(mags)),
            })

    return draw_scenario()
