"""Reference absorption spectra of the two calibration states.

``references.csv`` holds ``energy_kev,pristine,charged``: raw absorption spectra
(μ or optical density, any scale and offset) of the pristine and the charged
reference, measured before the operando run. The edge jump at the three scan
energies, J = (μ_edge − μ_pre)/(μ_post − μ_pre), is invariant to scale and
offset, so raw spectra are the right input; edge-step *normalized* spectra have
lost their sloped pre-edge background (which survives in the tomograms), so
they are accepted with a warning.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from trixanes.io.references import read_reference_table

__all__ = ["References", "load_references", "reference_jumps", "MIN_POINTS"]

#: fewest spectrum points accepted (a spectrum needs a pre-edge, an edge and a post-edge)
MIN_POINTS = 5


@dataclass(frozen=True)
class References:
    """Reference spectra on a common, increasing energy axis.

    Attributes
    ----------
    energy_kev : ndarray (n,)
    pristine, charged : ndarray (n,)
        Absorption of the pristine and the charged reference.
    notes : tuple of str
        What was inferred while reading (units, order, normalization).
    normalized : bool
        True if the spectra look pre-edge subtracted and edge-step normalized.
    path : str
        The file read ("" when built in memory).
    """

    energy_kev: np.ndarray
    pristine: np.ndarray
    charged: np.ndarray
    notes: tuple = ()
    normalized: bool = False
    path: str = ""


def _looks_normalized(e, spectra) -> bool:
    """Pre-edge ≈ 0 and post-edge ≈ 1 and flat, for every spectrum.

    The pre-edge is the first fifth of the points, the post-edge the last fifth.
    Raw μ of an NMC electrode has a large pre-edge offset (matrix absorption) and
    a falling background, so this does not trip on raw data.
    """
    k = max(2, len(e) // 5)
    for s in spectra:
        pre, post = s[:k], s[-k:]
        if abs(pre.mean()) > 0.05 or abs(post.mean() - 1.0) > 0.1:
            return False
        if np.ptp(pre) > 0.05:
            return False
    return True


def load_references(path) -> References:
    """Read reference spectra for the Li calibration from a CSV file.

    The table format and its checks are those of
    `trixanes.io.references.read_reference_table` (comments, eV columns, reversed
    energies), with at least ``MIN_POINTS`` energies.

    Parameters
    ----------
    path : path-like
        CSV file, ``energy_kev,pristine,charged``.

    Returns
    -------
    References

    Raises
    ------
    ValueError
        Naming the file and the column (see `read_reference_table`).

    Warns
    -----
    UserWarning
        When the spectra look edge-step normalized.

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
    path, e, p, c = table.path, table.energy_kev, table.pristine, table.charged
    notes = list(table.notes)
    normalized = _looks_normalized(e, (p, c))
    if normalized:
        msg = (
            f"{path}: the reference spectra look pre-edge subtracted and edge-step normalized; "
            "the sloped pre-edge background that survives in the tomograms is lost, which may "
            "bias the Li calibration by a few hundredths of Li. Prefer raw spectra."
        )
        warnings.warn(msg, UserWarning, stacklevel=2)
        notes.append(msg)
    return References(e, p, c, tuple(notes), normalized, str(path))


def reference_jumps(refs: References, energies_kev) -> tuple[float, float]:
    """Edge jump J of each reference at the scan energies.

    J = (μ(E_edge) − μ(E_pre)) / (μ(E_post) − μ(E_pre)), with μ linearly
    interpolated in the spectra, exactly as the pipeline computes J from the
    tomograms.

    Parameters
    ----------
    refs : References
    energies_kev : sequence of 3 floats
        (pre-edge, edge, post-edge) energies, keV.

    Returns
    -------
    (J_pristine, J_charged) : tuple of float

    Examples
    --------
    >>> import numpy as np
    >>> e = np.linspace(8.2, 8.5, 7)
    >>> r = References(e, np.clip((e - 8.3) * 10, 0, 1) + 2, np.clip((e - 8.3) * 5, 0, 1))
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
                f"range [{lo:g}, {hi:g}] keV{' (' + refs.path + ')' if refs.path else ''}"
            )
    out = []
    for name, spec in (("pristine", refs.pristine), ("charged", refs.charged)):
        pre, edge, post = np.interp(en, refs.energy_kev, spec)
        if abs(post - pre) <= 1e-12 * max(abs(pre), abs(post), 1e-300):
            raise ValueError(f"the {name} reference has no edge step between {en[0]:g} and {en[2]:g} keV")
        out.append(float((edge - pre) / (post - pre)))
    return out[0], out[1]
