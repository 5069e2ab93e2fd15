"""Normalized Ni K-edge XANES of NMC as a function of the Li content.

xraylib tabulates only the smooth photoionization step of an absorption edge.
:mod:`synth.materials` replaces the Ni K step of NMC by ``sigma_K(E) * s(E, x)``
where ``s`` is the normalized XANES defined here. A tabulated spectrum is
exactly 0 below ``XANES_WINDOW_KEV[0] + WINDOW_GUARD_KEV`` and exactly 1 above
``XANES_WINDOW_KEV[1] - WINDOW_GUARD_KEV``, with an edge, a white line and
decaying post-edge wiggles in between; the models shift spectra by at most
``WINDOW_GUARD_KEV``, so ``s(E, x)`` is exactly 0 below and 1 above
``XANES_WINDOW_KEV`` and the model equals xraylib's tables there.

Two models of the Li dependence (:class:`XanesModel`):

* ``linear-combination``: ``s = w s_pristine + (1 - w) s_charged``,
  ``w = (x - x_c) / (x_p - x_c)`` (the pipeline's own assumption);
* ``edge-shift``: ``s(E, x) = s_pristine(E - delta(x))``,
  ``delta = shift_ev (x_p - x) / (x_p - x_c)``, which makes the edge jump at a
  fixed energy a nonlinear function of x.

Measured references (``references.csv``, read by `trixanes.io.references`)
enter through :func:`measured_spectra`, which normalizes them with
:func:`normalize_spectrum` and extends them with
:meth:`XanesSpectrum.from_normalized`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from scipy.special import erf

from trixanes.io.references import read_reference_table

XANES_WINDOW_KEV = (8.25, 8.70)
#: Edge shifts up to this size keep ``s`` exactly 0 / 1 outside the window.
WINDOW_GUARD_KEV = 0.010
_GRID_STEP_KEV = 0.00005  # 0.05 eV: linear interpolation error < 1e-4 of the white line


def _smoothstep(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True, eq=False)
class XanesSpectrum:
    """A normalized XANES spectrum tabulated over the XANES window.

    ``evaluate`` interpolates linearly and returns exactly 0 below the first and
    exactly 1 above the last tabulated energy. Build one with
    :meth:`from_normalized` (measured data) or :func:`default_spectra`.

    Attributes
    ----------
    energies_kev : ndarray
        Increasing energies, keV.
    values : ndarray
        Normalized absorption (0 pre-edge, 1 post-edge); first value 0, last 1.
    note : str
        Where the spectrum comes from.
    """

    energies_kev: np.ndarray
    values: np.ndarray
    note: str = ""

    def evaluate(self, energies_kev) -> np.ndarray:
        """Normalized absorption at ``energies_kev`` (any shape), float64."""
        return np.interp(np.asarray(energies_kev, float), self.energies_kev, self.values,
                         left=0.0, right=1.0)

    def shifted(self, shift_ev: float) -> "XanesSpectrum":
        """The same spectrum moved by ``shift_ev`` (positive: to higher energy)."""
        if abs(shift_ev) > WINDOW_GUARD_KEV * 1e3:
            raise ValueError(f"shift_ev: |{shift_ev}| exceeds {WINDOW_GUARD_KEV * 1e3} eV")
        e = _window_grid()
        v = self.evaluate(e - shift_ev * 1e-3)
        return XanesSpectrum(e, v, f"{self.note}; shifted {shift_ev:+.2f} eV")

    @classmethod
    def from_normalized(cls, energies_kev, values, note: str = "") -> "XanesSpectrum":
        """Extend a normalized spectrum measured on part of the window.

        Below the first measured point the spectrum falls smoothly (C1
        smoothstep) from its first value to 0 at ``window[0] + guard``; above
        the last point it relaxes smoothly from its last value to 1 at
        ``window[1] - guard``. A narrow measurement (e.g. 8330-8370 eV) thus
        keeps its edge and white line and gets a plain post-edge.

        Parameters
        ----------
        energies_kev : array_like
            Increasing energies, keV, inside the window minus the guard.
        values : array_like
            Normalized absorption at those energies (see :func:`normalize_spectrum`).
        note : str
            Provenance.

        Returns
        -------
        XanesSpectrum

        Examples
        --------
        >>> e = np.linspace(8.33, 8.37, 41)
        >>> sp = XanesSpectrum.from_normalized(e, np.clip((e - 8.34) * 100, 0, 1))
        >>> float(sp.evaluate(8.2)), float(sp.evaluate(8.8))
        (0.0, 1.0)
        """
        e = np.asarray(energies_kev, float)
        v = np.asarray(values, float)
        if e.ndim != 1 or e.shape != v.shape or e.size < 2:
            raise ValueError("energies_kev/values: need two 1-D arrays of equal length >= 2")
        if np.any(np.diff(e) <= 0) or not np.all(np.isfinite(v)):
            raise ValueError("energies_kev: must increase strictly; values must be finite")
        lo, hi = XANES_WINDOW_KEV[0] + WINDOW_GUARD_KEV, XANES_WINDOW_KEV[1] - WINDOW_GUARD_KEV
        if e[0] <= lo or e[-1] >= hi:
            raise ValueError(f"energies_kev: must lie inside ({lo}, {hi}) keV")
        below = np.arange(XANES_WINDOW_KEV[0], e[0], 0.0005)
        above = np.arange(e[-1], XANES_WINDOW_KEV[1], 0.0005)[1:]
        v_below = v[0] * _smoothstep((below - lo) / (e[0] - lo))
        v_above = 1.0 + (v[-1] - 1.0) * (1.0 - _smoothstep((above - e[-1]) / (hi - e[-1])))
        grid = np.concatenate([below, e, above, [XANES_WINDOW_KEV[1]]])
        vals = np.concatenate([v_below, v, v_above, [1.0]])
        vals[0] = 0.0
        return cls(grid, vals, note)


def _window_grid() -> np.ndarray:
    n = int(round((XANES_WINDOW_KEV[1] - XANES_WINDOW_KEV[0]) / _GRID_STEP_KEV)) + 1
    return np.linspace(XANES_WINDOW_KEV[0], XANES_WINDOW_KEV[1], n)


def _analytic_pristine(e: np.ndarray) -> np.ndarray:
    """Pristine NMC Ni K-edge: erf edge, Gaussian white line, damped wiggles.

    Tuned to the NMC622 data of shared/data: half maximum of the edge near
    8.3434 keV, white line at 8.3500 keV with height ~1.45 (Gaussian centred at
    8.3494 keV on a rising edge). The white line maximum is put
    at 8.3500 keV (measured 8.3494 +- 0.2 keV on a 0.4 eV grid) so that the
    spectrum keeps rising up to the paper's edge energy 8.35 keV: then the
    edge-shift model's absorption at 8.35 keV is monotonic in x.
    """
    step = 0.5 * (1.0 + erf((e - 8.3442) / (np.sqrt(2.0) * 0.0038)))
    white = 0.52 * np.exp(-0.5 * ((e - 8.3494) / 0.0032) ** 2)
    pre = 0.03 * np.exp(-0.5 * ((e - 8.3325) / 0.0012) ** 2)  # 1s->3d quadrupole peak
    t = np.clip(e - 8.3494, 0.0, None)
    wiggle = -0.10 * np.sin(2 * np.pi * t / 0.042) * np.exp(-t / 0.040) * t**2 / (t**2 + 0.004**2)
    s = step * (1.0 + wiggle) + white + pre
    lo, hi = XANES_WINDOW_KEV[0] + WINDOW_GUARD_KEV, XANES_WINDOW_KEV[1] - WINDOW_GUARD_KEV
    # Taper to exact 0/1 far from the edge so xraylib's tables hold there.
    s = s * _smoothstep((e - lo) / 0.04)
    return 1.0 + (s - 1.0) * (1.0 - _smoothstep((e - (hi - 0.15)) / 0.15))


def default_spectra(shift_ev: float = 2.3) -> tuple[XanesSpectrum, XanesSpectrum]:
    """Built-in pristine (x = 1) and charged (x = 0.38) normalized spectra.

    The charged spectrum is the pristine one shifted by ``shift_ev`` (NMC622,
    pristine -> 4.3 V: white line 8349.4 -> 8352.2 eV, half maximum +2.2 to
    +2.4 eV; shared/data/README.md).

    Parameters
    ----------
    shift_ev : float
        Edge shift of the charged state, eV.

    Returns
    -------
    (pristine, charged) : tuple of XanesSpectrum

    Examples
    --------
    >>> p, c = default_spectra()
    >>> bool(p.evaluate(8.35) > c.evaluate(8.35))
    True
    """
    e = _window_grid()
    pristine = XanesSpectrum(e, _analytic_pristine(e), "built-in analytic NMC pristine")
    return pristine, pristine.shifted(shift_ev)


MODEL_KINDS = ("linear-combination", "edge-shift")


@dataclass(frozen=True, eq=False)
class XanesModel:
    """Normalized XANES ``s(E, x)`` of NMC as a function of the Li content x.

    Attributes
    ----------
    kind : str
        ``"linear-combination"`` or ``"edge-shift"``.
    pristine, charged : XanesSpectrum
        References at ``x_pristine`` and ``x_charged`` (edge-shift uses only
        ``pristine`` and ``shift_ev``).
    x_pristine, x_charged : float
        Li content of the references.
    shift_ev : float
        Edge shift between the references (edge-shift model), eV.
    """

    kind: str = "linear-combination"
    pristine: XanesSpectrum = field(default_factory=lambda: default_spectra()[0])
    charged: XanesSpectrum = field(default_factory=lambda: default_spectra()[1])
    x_pristine: float = 1.0
    x_charged: float = 0.38
    shift_ev: float = 2.3

    def __post_init__(self):
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"kind: {self.kind!r} not in {MODEL_KINDS}")
        if not self.x_charged < self.x_pristine:
            raise ValueError("x_charged: must be below x_pristine")
        if abs(self.shift_ev) > WINDOW_GUARD_KEV * 1e3:
            raise ValueError(f"shift_ev: |{self.shift_ev}| exceeds {WINDOW_GUARD_KEV * 1e3} eV")

    def evaluate(self, energies_kev, li) -> np.ndarray:
        """Normalized absorption ``s(E, x)``.

        Parameters
        ----------
        energies_kev : array_like
            Energies, keV (scalar or 1-D).
        li : array_like
            Li contents x (any shape), within [x_charged, x_pristine].

        Returns
        -------
        ndarray
            Shape ``(n_energies,) + li.shape`` (energy axis dropped for a scalar
            energy), float64.

        Examples
        --------
        >>> m = XanesModel("edge-shift")
        >>> m.evaluate([8.30, 8.35], [1.0, 0.38]).shape
        (2, 2)
        """
        e = np.asarray(energies_kev, float)
        x = np.asarray(li, float)
        eb = e.reshape(e.shape + (1,) * x.ndim)
        w = (x - self.x_charged) / (self.x_pristine - self.x_charged)
        if self.kind == "linear-combination":
            return w * self.pristine.evaluate(eb) + (1.0 - w) * self.charged.evaluate(eb)
        delta_kev = self.shift_ev * 1e-3 * (1.0 - w)
        return self.pristine.evaluate(eb - delta_kev)


def linear_calibration_bias(model: XanesModel, energies_kev, li) -> np.ndarray:
    """Error of the two-reference linear calibration for a voxel of Li content ``li``.

    The edge jump ``J = (s_edge − s_pre) / (s_post − s_pre)`` of the model at
    the three energies, mapped to Li by the line through the references' jumps
    (what the pipeline's calibration does), minus the true content. A voxel's
    measured J is an affine map of this one (the other elements absorb the same
    at every x), so the line gives the same Li: this is the calibration's own
    error, with no resolution, partial volume or noise. Small for a
    ``linear-combination`` model (J is a ratio, and the references' post-edge
    levels differ a little); for ``edge-shift`` it shows where on the edge the
    calibration can be trusted.

    Parameters
    ----------
    model : XanesModel
        The spectral model, built-in or from measured references
        (`measured_spectra`).
    energies_kev : sequence of 3 float
        Pre-edge, edge and post-edge energies, keV.
    li : array_like
        Li contents, within [x_charged, x_pristine].

    Returns
    -------
    ndarray
        Found minus true Li, the shape of ``li``.

    Examples
    --------
    >>> m = XanesModel("edge-shift", shift_ev=2.3)
    >>> b = linear_calibration_bias(m, (8.30, 8.35, 8.43), [0.38, 0.74, 1.0])
    >>> [round(float(v), 3) for v in b]
    [0.0, 0.14, 0.0]
    >>> round(float(linear_calibration_bias(XanesModel(), (8.30, 8.35, 8.43), 0.69)), 4)
    -0.0006
    """
    e = np.asarray(energies_kev, float)
    if e.shape != (3,) or not np.all(np.diff(e) > 0):
        raise ValueError(f"energies_kev: expected increasing pre, edge, post energies, got {energies_kev!r}")
    x = np.asarray(li, float)
    ends = model.evaluate(e, np.array([model.x_charged, model.x_pristine]))
    s = model.evaluate(e, x)
    jump = lambda v: (v[1] - v[0]) / (v[2] - v[0])
    jc, jp = jump(ends[:, 0]), jump(ends[:, 1])
    found = model.x_charged + (model.x_pristine - model.x_charged) * (jump(s) - jc) / (jp - jc)
    return found - x


def edge_position_kev(spectrum: XanesSpectrum, level: float = 0.5) -> float:
    """First energy where the normalized spectrum reaches ``level`` (keV).

    Examples
    --------
    >>> p, c = default_spectra(2.3)
    >>> round((edge_position_kev(c) - edge_position_kev(p)) * 1e3, 2)
    2.3
    """
    e = np.arange(spectrum.energies_kev[0], spectrum.energies_kev[-1], 1e-5)
    v = spectrum.evaluate(e)
    i = int(np.argmax(v >= level))
    if v[i] < level or i == 0:
        raise ValueError(f"level: spectrum never crosses {level}")
    return float(np.interp(level, v[i - 1:i + 1], e[i - 1:i + 1]))


def measured_spectra(path: str | os.PathLike) -> tuple[XanesSpectrum, XanesSpectrum]:
    """Normalized pristine and charged spectra from a ``references.csv``.

    The table is read by `trixanes.io.references.read_reference_table`
    (comments, eV columns, reversed energies); each raw spectrum is normalized
    with :func:`normalize_spectrum` and extended over the window with
    :meth:`XanesSpectrum.from_normalized`. Already normalized spectra pass
    through unchanged (up to rounding): normalizing is idempotent.

    Parameters
    ----------
    path : path-like
        CSV file, ``energy_kev,pristine,charged``.

    Returns
    -------
    (pristine, charged) : tuple of XanesSpectrum

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "r.csv"
    >>> e = np.linspace(8300, 8400, 101)
    >>> _ = f.write_text("energy_ev,pristine,charged\\n" + "".join(
    ...     f"{x},{2 + (x > 8340)},{2 + (x > 8342)}\\n" for x in e))
    >>> p, c = measured_spectra(f)
    >>> round(float(p.evaluate(8.35)), 6), p.note
    (1.0, "read from r.csv; energies read from column 'energy_ev' and converted to keV")
    """
    t = read_reference_table(path)
    note = "; ".join((f"read from {t.path.name}",) + t.notes)
    return tuple(XanesSpectrum.from_normalized(t.energy_kev, normalize_spectrum(t.energy_kev, s), note)
                 for s in (t.pristine, t.charged))


def normalize_spectrum(energies_kev, mu, n_end_points: int = 5) -> np.ndarray:
    """Pre-edge subtraction and post-edge normalization of a raw spectrum.

    The edge ``E0`` is the steepest rise. Pre-edge: a straight line fitted to
    the points more than 20 eV below ``E0`` when there are at least
    ``n_end_points`` of them, else a flat level from the first
    ``n_end_points``. Post-edge: likewise a line through the points more than
    50 eV above ``E0``, else a flat level from the last ``n_end_points``.
    Result: ``(mu - pre) / (post - pre)`` (post-edge flattened). On a narrow
    range such as 8330-8370 eV the "post-edge" level is the last points, which
    may sit in the first post-edge dip: the white line then comes out higher
    than with a full-range normalization.

    Parameters
    ----------
    energies_kev : array_like
        Increasing energies, keV.
    mu : array_like
        Raw absorption (any scale and offset).
    n_end_points : int
        Points used for flat end levels.

    Returns
    -------
    ndarray
        Normalized absorption, float64.

    Examples
    --------
    >>> e = np.linspace(8.30, 8.45, 151)
    >>> raw = 3.0 + 0.2 * (e > 8.345)
    >>> n = normalize_spectrum(e, raw)
    >>> bool(abs(n[0]) < 1e-9 and abs(n[-1] - 1) < 1e-9)
    True
    """
    e = np.asarray(energies_kev, float)
    m = np.asarray(mu, float)
    if e.ndim != 1 or e.shape != m.shape or e.size < 2 * n_end_points + 1:
        raise ValueError("energies_kev/mu: 1-D, equal length, more than 2*n_end_points")
    if np.any(np.diff(e) <= 0) or not np.all(np.isfinite(m)):
        raise ValueError("energies_kev: must increase strictly; mu must be finite")
    e0 = e[int(np.argmax(np.gradient(m, e)))]
    pre = _end_level(e, m, e < e0 - 0.020, slice(0, n_end_points), n_end_points)
    post = _end_level(e, m, e > e0 + 0.050, slice(-n_end_points, None), n_end_points)
    step = post - pre
    if np.any(step <= 0):
        raise ValueError("mu: post-edge level not above pre-edge level")
    return (m - pre) / step


def _end_level(e, m, region, fallback, n_min):
    if np.count_nonzero(region) >= n_min:
        slope, offset = np.polyfit(e[region], m[region], 1)
        return slope * e + offset
    return np.full_like(e, m[fallback].mean())
