"""How far a two-reference linear calibration can be trusted for a material's own spectra.

The pipeline maps the edge jump J to Li on the line through the two references'
jumps. That is exact when a partly delithiated state's spectrum is a mix of the two
references, and wrong by an amount that depends on the edge energy when the edge
shifts instead. Both hypotheses are evaluated from the references alone
(`trixanes.synth.xanes.linear_calibration_bias`), before any scan, so a user can
choose the edge energy where the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trixanes.synth.xanes import XanesModel, XanesSpectrum, edge_position_kev, linear_calibration_bias

__all__ = ["CalibrationCheck", "check_calibration"]


@dataclass(frozen=True, eq=False)
class CalibrationCheck:
    """The linear calibration's own error under the two spectral hypotheses.

    Attributes
    ----------
    energies_kev : tuple of float
        Pre-edge, edge and post-edge energies checked.
    shift_ev : float
        Shift of the half-maximum edge position from pristine to charged, eV.
    li : ndarray
        Li contents evaluated, from ``x_charged`` to ``x_pristine``.
    bias_mixing, bias_shift : ndarray
        Found minus true Li at ``li`` if intermediate spectra mix the references,
        and if the pristine edge shifts in proportion to the oxidation.
    edges_kev : ndarray
        Other edge energies tried (pre and post fixed).
    worst_shift : ndarray
        Largest |bias| of the edge-shift hypothesis at each of ``edges_kev``.
    """

    energies_kev: tuple
    shift_ev: float
    li: np.ndarray
    bias_mixing: np.ndarray
    bias_shift: np.ndarray
    edges_kev: np.ndarray
    worst_shift: np.ndarray

    @property
    def best_edge_kev(self) -> float:
        """The tried edge energy with the smallest edge-shift error."""
        return float(self.edges_kev[int(np.argmin(self.worst_shift))])


def check_calibration(pristine: XanesSpectrum, charged: XanesSpectrum, energies_kev, *,
                      x_pristine: float = 1.0, x_charged: float = 0.38, edges_kev=None,
                      n_li: int = 61) -> CalibrationCheck:
    """The linear calibration's error for these references at these energies.

    Parameters
    ----------
    pristine, charged : XanesSpectrum
        Normalized reference spectra (`trixanes.synth.xanes.measured_spectra` of a
        ``references.csv``).
    energies_kev : sequence of 3 float
        Pre-edge, edge and post-edge energies, keV.
    x_pristine, x_charged : float
        Li contents of the references.
    edges_kev : array_like, optional
        Edge energies to compare; default every 0.5 eV within 10 eV of the edge
        energy (inside the pre/post interval).
    n_li : int
        Li contents evaluated between the references.

    Returns
    -------
    CalibrationCheck

    Examples
    --------
    >>> from trixanes.synth.xanes import default_spectra
    >>> c = check_calibration(*default_spectra(2.3), (8.30, 8.35, 8.43))
    >>> round(c.shift_ev, 1), round(float(np.abs(c.bias_shift).max()), 2)
    (2.3, 0.14)
    >>> float(np.abs(c.bias_mixing).max()) < 0.002
    True
    """
    e = tuple(float(v) for v in energies_kev)
    if len(e) != 3 or not e[0] < e[1] < e[2]:
        raise ValueError(f"energies_kev: expected increasing pre, edge, post energies, got {energies_kev!r}")
    if not x_charged < x_pristine:
        raise ValueError(f"x_charged ({x_charged}) must be below x_pristine ({x_pristine})")
    shift_ev = (edge_position_kev(charged) - edge_position_kev(pristine)) * 1e3
    li = np.linspace(x_charged, x_pristine, n_li)
    mixing = XanesModel("linear-combination", pristine, charged, x_pristine=x_pristine, x_charged=x_charged)
    shifting = XanesModel("edge-shift", pristine, charged, x_pristine=x_pristine, x_charged=x_charged,
                          shift_ev=shift_ev)
    if edges_kev is None:
        edges_kev = e[1] + np.arange(-20, 21) * 0.5e-3
    edges = np.asarray(edges_kev, float)
    edges = edges[(edges > e[0]) & (edges < e[2])]
    worst = np.array([np.abs(linear_calibration_bias(shifting, (e[0], ed, e[2]), li)).max() for ed in edges])
    return CalibrationCheck(e, float(shift_ev), li, linear_calibration_bias(mixing, e, li),
                            linear_calibration_bias(shifting, e, li), edges, worst)
