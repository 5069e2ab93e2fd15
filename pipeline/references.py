"""Reference absorption spectra of the two calibration states.

``references.csv`` holds ``energy_kev,pristine,charged`` (read by
`trixanes.io.references`): raw absorption spectra (μ or optical density, any
scale and offset) of the pristine and the charged reference, measured before
the operando run. The edge jump at the three scan energies,
J = (μ_edge − μ_pre)/(μ_post − μ_pre), is invariant to scale and offset, so raw
spectra are the right input.

Edge-step *normalized* spectra (flat 0 below the edge, 1 above) have lost the
sloped non-resonant background that survives in the tomograms; their J is not
the tomograms' J (the AM Li comes out +0.16 too high on the quick preset, the
total Li +0.25 on the demo's default preset).
They are refused, unless the sample's composition is given: then the raw
absorption is restored from xraylib's cross sections of that composition
(:func:`restore_raw_absorption`).
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from functools import lru_cache

import numpy as np
import xraylib

from trixanes.io.references import ReferenceTable, read_reference_table

__all__ = ["MIN_POINTS", "load_references", "looks_normalized", "parse_composition",
           "ni_k_background", "restore_raw_absorption", "reference_jumps"]

#: fewest spectrum points accepted (a spectrum needs a pre-edge, an edge and a post-edge)
MIN_POINTS = 5
_NI = 28
#: log-log fits of Ni's cross section span this far from its K edge, keV
_FIT_SPAN_KEV = 0.5
#: and stay this far from it (xraylib puts its table jump at 8.3330, EdgeEnergy says 8.3328)
_FIT_GAP_KEV = 0.002
#: regions of the usual XANES normalization: pre-edge below E0 - 20 eV, post-edge above E0 + 50 eV
_PRE_GAP_KEV, _POST_GAP_KEV = 0.020, 0.050


def looks_normalized(spectrum) -> bool:
    """Pre-edge ≈ 0 and flat, post-edge ≈ 1: an edge-step normalized spectrum.

    The pre-edge is the first fifth of the points, the post-edge the last fifth.
    Raw μ of an NMC electrode has a pre-edge level of about half the edge step
    (matrix absorption) in whatever unit, so this does not trip on raw data.

    Examples
    --------
    >>> e = np.linspace(8.25, 8.6, 50)
    >>> looks_normalized((e > 8.34).astype(float)), looks_normalized(0.4 + 0.5 * (e > 8.34))
    (True, False)
    """
    s = np.asarray(spectrum, float)
    k = max(2, s.size // 5)
    pre, post = s[:k], s[-k:]
    return bool(abs(pre.mean()) <= 0.05 and np.ptp(pre) <= 0.05 and abs(post.mean() - 1.0) <= 0.1)


@lru_cache(maxsize=32)
def parse_composition(composition: str) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Atomic numbers and mass fractions of a chemical formula (xraylib.CompoundParser).

    Raises
    ------
    ValueError
        When xraylib cannot parse it, or it holds no Ni.

    Examples
    --------
    >>> z, w = parse_composition("LiNi0.5Mn0.3Co0.2O2")
    >>> z, round(w[z.index(28)], 4)
    ((3, 8, 25, 27, 28), 0.3039)
    """
    try:
        parsed = xraylib.CompoundParser(str(composition))
    except ValueError:
        raise ValueError(f"composition: xraylib cannot parse {composition!r} as a chemical formula "
                         "(e.g. LiNi0.5Mn0.3Co0.2O2)") from None
    zs, ws = tuple(int(z) for z in parsed["Elements"]), tuple(float(w) for w in parsed["massFractions"])
    if _NI not in zs:
        raise ValueError(f"composition: {composition!r} holds no Ni, so it has no Ni K-edge")
    return zs, ws


def _cs_total(z: int, e: np.ndarray) -> np.ndarray:
    return np.array([xraylib.CS_Total(z, float(x)) for x in e])


@lru_cache(maxsize=1)
def _ni_fits() -> tuple[float, np.ndarray, np.ndarray]:
    """Ni's K edge and log-log quadratic fits: its cross section below the edge, its K jump above."""
    ek = xraylib.EdgeEnergy(_NI, xraylib.K_SHELL)
    below = np.linspace(ek - _FIT_SPAN_KEV, ek - _FIT_GAP_KEV, 80)
    fit_below = np.polyfit(np.log(below), np.log(_cs_total(_NI, below)), 2)
    above = np.linspace(ek + _FIT_GAP_KEV, ek + _FIT_SPAN_KEV, 80)
    jump = _cs_total(_NI, above) - np.exp(np.polyval(fit_below, np.log(above)))
    return ek, fit_below, np.polyfit(np.log(above), np.log(jump), 2)


def ni_k_background(composition: str, energies_kev) -> tuple[np.ndarray, np.ndarray]:
    """Non-resonant background and Ni K-edge step of a composition, cm²/g.

    ``background`` is xraylib's total mass attenuation (photoabsorption and
    scattering) of the composition with Ni's cross section continued from
    below its K edge (a log-log quadratic fitted over the 0.5 keV below it), so
    it has no Ni K jump. ``step`` is the Ni mass fraction times Ni's K jump,
    ``CS_Total(Ni, E)`` minus that continuation, continued smoothly below the
    edge. Above the edge, background + step is xraylib's ``CS_Total`` of the
    composition; below it, background is. The jump is taken from the
    continuation rather than from ``CS_Photo_Partial(Ni, K_SHELL)``: the
    latter is 2.3 % smaller than xraylib's own tabulated step (278 vs 285
    cm²/g at 8.334 keV), which would leave a spurious step in the background.

    Parameters
    ----------
    composition : str
        Chemical formula of the sample (e.g. ``LiNi0.5Mn0.3Co0.2O2``).
    energies_kev : array_like
        Energies, keV.

    Returns
    -------
    background, step : ndarray
        Mass attenuation, cm²/g of the composition.

    Examples
    --------
    >>> bg, step = ni_k_background("LiNi0.5Mn0.3Co0.2O2", [8.30, 8.43])
    >>> round(float(bg[0]), 1), round(float(bg[1] + step[1]), 1)  # xraylib: 95.7, 176.2
    (95.7, 176.2)
    """
    zs, ws = parse_composition(composition)
    e = np.atleast_1d(np.asarray(energies_kev, float))
    if e.ndim != 1 or not np.all(np.isfinite(e)) or np.any(e <= 1.0):
        raise ValueError("energies_kev: need finite energies above 1 keV (scalar or 1-D)")
    ek, fit_below, fit_jump = _ni_fits()
    ni_below = np.exp(np.polyval(fit_below, np.log(e)))
    background = sum(w * (ni_below if z == _NI else _cs_total(z, e)) for z, w in zip(zs, ws))
    jump = np.exp(np.polyval(fit_jump, np.log(e)))
    direct = e >= ek + _FIT_GAP_KEV  # clear of the table edge: xraylib's own numbers
    jump[direct] = _cs_total(_NI, e[direct]) - ni_below[direct]
    return background, ws[zs.index(_NI)] * jump


def _region(e, mask, first: bool) -> np.ndarray:
    """The normalization region, or the outermost points when it is too narrow."""
    if np.count_nonzero(mask) >= 3:
        return mask
    k = max(3, e.size // 10)
    out = np.zeros(e.size, bool)
    out[slice(0, k) if first else slice(-k, None)] = True
    return out


def restore_raw_absorption(table: ReferenceTable, composition: str) -> ReferenceTable:
    """Raw absorption of edge-step normalized references, from the sample's composition.

    A normalized spectrum is ``n = (mu - pre(E)) / (post(E) - pre(E))`` where
    ``pre`` and ``post`` are straight lines fitted to the raw spectrum below and
    above the edge (and flattened to 1 above it). There the raw spectrum of the
    sample is xraylib's: the non-resonant background below the edge, background
    plus Ni K step above it (:func:`ni_k_background`). So the same straight
    lines are fitted to those curves over the usual regions (below E0 − 20 eV,
    above E0 + 50 eV; E0 the steepest rise of ``n``) and
    ``mu = pre + n (post − pre)``, in cm²/g. This undoes the normalization in
    the form it was made: on the simulator's references normalized that way the
    calibration's Li differs from the raw references' by 0.01, where
    ``background + step · n`` (the curves themselves, not their lines) differs by
    0.02 and a constant step by 0.10. Measured on the demo's scenario (preset
    ``default``, seed 0), total Li error: +0.003 with the raw references,
    −0.006 with them normalized and restored, +0.25 normalized and used as they are.

    Parameters
    ----------
    table : ReferenceTable
        Normalized spectra.
    composition : str
        Chemical formula of the sample.

    Returns
    -------
    ReferenceTable
        The restored spectra, with a note.

    Examples
    --------
    >>> e = np.linspace(8.25, 8.6, 71)
    >>> n = np.clip((e - 8.33) / 0.02, 0, 1)
    >>> raw = restore_raw_absorption(ReferenceTable(e, n, 0.9 * n), "LiNi0.5Mn0.3Co0.2O2")
    >>> bool(raw.pristine[0] > 90 and raw.pristine[-1] > raw.pristine[0])
    True
    """
    e = np.asarray(table.energy_kev, float)
    background, step = ni_k_background(composition, e)
    restored = []
    for n in (np.asarray(table.pristine, float), np.asarray(table.charged, float)):
        e0 = e[int(np.argmax(np.gradient(n, e)))]
        pre = _region(e, e < e0 - _PRE_GAP_KEV, True)
        post = _region(e, e > e0 + _POST_GAP_KEV, False)
        line_pre = np.polyval(np.polyfit(e[pre], background[pre], 1), e)
        line_post = np.polyval(np.polyfit(e[post], (background + step)[post], 1), e)
        restored.append(line_pre + n * (line_post - line_pre))
    note = (f"{table.source}: the references are edge-step normalized; their raw absorption was "
            f"restored from the composition {composition} (xraylib's non-resonant background and "
            "Ni K-edge step, cm2/g)")
    return replace(table, pristine=restored[0], charged=restored[1], notes=table.notes + (note,))


def load_references(path, *, composition: str | None = None,
                    allow_normalized: bool = False) -> ReferenceTable:
    """Read reference spectra for the Li calibration from a CSV file.

    The table format and its checks are those of
    `trixanes.io.references.read_reference_table` (comments, eV columns, reversed
    energies), with at least ``MIN_POINTS`` energies.

    Parameters
    ----------
    path : path-like
        CSV file, ``energy_kev,pristine,charged``.
    composition : str, optional
        Chemical formula of the sample. Edge-step normalized references are
        refused without it; with it their raw absorption is restored
        (:func:`restore_raw_absorption`). Unused for raw references.
    allow_normalized : bool
        Use normalized references as they are (biased; for measuring the bias).

    Returns
    -------
    ReferenceTable
        Raw (or restored) spectra; ``notes`` say what was done.

    Raises
    ------
    ValueError
        Naming the file: a bad table (see `read_reference_table`), or
        normalized references without a composition.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.csv"
    >>> _ = p.write_text("energy_kev,pristine,charged\\n" + "".join(
    ...     f"{8.30 + 0.02 * i},{1 + i},{1 + 0.5 * i}\\n" for i in range(6)))
    >>> load_references(p).energy_kev[:2]
    array([8.3 , 8.32])
    """
    table = read_reference_table(path, min_points=MIN_POINTS)
    flags = {name: looks_normalized(getattr(table, name)) for name in ("pristine", "charged")}
    if not any(flags.values()):
        if composition is not None:
            parse_composition(composition)
            return replace(table, notes=table.notes + (
                f"{table.source}: raw references; the composition {composition} was not needed",))
        return table
    which = " and ".join(n for n, f in flags.items() if f)
    both = all(flags.values())
    what = f"the {which} reference{'s look' if both else ' looks'}"
    if allow_normalized:
        msg = (f"{table.source}: {what} edge-step normalized and {'are' if both else 'is'} used as "
               f"{'they are' if both else 'it is'}: the Li calibration is biased (total Li +0.25 on "
               "the default preset)")
        warnings.warn(msg, UserWarning, stacklevel=2)
        return replace(table, notes=table.notes + (msg,))
    why = (f"{table.source}: {what} edge-step normalized (flat 0 below "
           "the edge, 1 above). A normalized spectrum has lost the sloped pre-edge background that "
           "survives in the tomograms, so its edge jumps are not the tomograms' and the Li calibration "
           "is biased (measured: +0.16 Li on the quick preset, +0.25 on the default preset).")
    if not both:
        raise ValueError(f"{why} The other one looks raw: give both spectra raw (not pre-edge "
                         "subtracted, not normalized).")
    if composition is None:
        raise ValueError(f"{why} Give the raw absorption spectra (mu or optical density as measured), "
                         "or the sample's composition (process --composition LiNi0.5Mn0.3Co0.2O2, "
                         "ProcessOptions(composition=...)) to restore the raw absorption from xraylib.")
    return restore_raw_absorption(table, composition)


def reference_jumps(refs: ReferenceTable, energies_kev) -> tuple[float, float]:
    """Edge jump J of each reference at the scan energies.

    J = (μ(E_edge) − μ(E_pre)) / (μ(E_post) − μ(E_pre)), with μ linearly
    interpolated in the spectra, exactly as the pipeline computes J from the
    tomograms.

    Parameters
    ----------
    refs : ReferenceTable
    energies_kev : sequence of 3 floats
        (pre-edge, edge, post-edge) energies, keV.

    Returns
    -------
    (J_pristine, J_charged) : tuple of float

    Examples
    --------
    >>> e = np.linspace(8.2, 8.5, 7)
    >>> r = ReferenceTable(e, np.clip((e - 8.3) * 10, 0, 1) + 2, np.clip((e - 8.3) * 5, 0, 1))
    >>> tuple(round(j, 3) for j in reference_jumps(r, (8.25, 8.35, 8.45)))
    (0.5, 0.333)
    """
    en = np.asarray(energies_kev, dtype=float)
    if en.shape != (3,) or not np.all(np.isfinite(en)):
        raise ValueError(f"energies_kev must be 3 finite energies (pre, edge, post), got {energies_kev!r}")
    lo, hi = float(refs.energy_kev[0]), float(refs.energy_kev[-1])
    for label, x in zip(("pre-edge", "edge", "post-edge"), en):
        if not lo <= x <= hi:
            raise ValueError(
                f"energies_kev: the {label} energy {x:g} keV lies outside the references' "
                f"range [{lo:g}, {hi:g}] keV ({refs.source})"
            )
    out = []
    for name, spec in (("pristine", refs.pristine), ("charged", refs.charged)):
        pre, edge, post = np.interp(en, refs.energy_kev, spec)
        if abs(post - pre) <= 1e-12 * max(abs(pre), abs(post), 1e-300):
            raise ValueError(f"the {name} reference has no edge step between {en[0]:g} and {en[2]:g} keV")
        out.append(float((edge - pre) / (post - pre)))
    return out[0], out[1]
