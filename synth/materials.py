"""Linear attenuation of the electrode phases, with a XANES Ni K-edge for NMC.

Phases (codes of the phase map) and their materials:

* 0 void: nothing (mu = 0).
* 1 electrolyte: 1.2 M LiPF6 in EC:DMC 1:1 by weight (the paper's Methods),
  1.30 g/cm3 (typical of LP30-like electrolytes). 1.2 mol/L x 151.9 g/mol =
  182 g/L of salt in 1300 g/L: LiPF6 14.0 %, EC 43.0 %, DMC 43.0 % by mass.
* 2 CBD: carbon black + PVdF 1:1 by mass (the paper's 2 % + 2 %). Solid
  densities 1.80 (carbon black skeleton) and 1.78 g/cm3 (PVdF) give a solid
  of 1.79 g/cm3; the CBD's nanoporosity, taken as 50 % (typical of
  tomography/FIB-SEM estimates), is filled with electrolyte: effective density
  0.5 x 1.79 + 0.5 x 1.30 = 1.545 g/cm3, mass fractions accordingly.
* 3 NMC: LiNi0.5Mn0.3Co0.2O2 at 4.75 g/cm3, its crystallographic density
  (R-3m, a = 2.868, c = 14.24 Angstrom, Z = 3, M = 96.55 g/mol gives 4.74);
  secondary-particle pores are resolved in the phase map, not in the density.
  The host composition is kept at x = 1 for all Li contents: Li atoms carry
  < 0.1 % of mu at 8.3 keV, and the per-voxel edge jump J cancels the small
  density change on delithiation.

Ni K-edge of NMC: xraylib has only the photoionization step, placed at its
table edge (8.333 keV). mu_NMC(E, x) = rho [ CS_Total_CP(E) - w_Ni sigma_K(E)
1{E above the table edge} + w_Ni sigma_K(E) s(E, x) ], where sigma_K is the jump
of Ni's photo cross section (CS_Photo minus the log-log continuation of its
below-edge L+M part) continued smoothly below the edge, and s is the
normalized XANES of :mod:`synth.xanes` (exactly 0 below 8.26 keV and exactly
1 above 8.69 keV, so mu_NMC equals xraylib there). The jump is used instead of
``CS_Photo_Partial(28, K_SHELL, E)``: the latter is 2.3 % smaller than the
tabulated step of CS_Total (278.3 vs 284.9 cm2/g at 8.334 keV), which would
leave a spurious 1 % step at 8.333 keV in the edge-free background.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import xraylib
import xraylib_np

from trixanes.io.truth import PHASE_AM, PHASE_CBD, PHASE_PORE, PHASE_VOID
from trixanes.synth.xanes import XanesModel

UM_PER_CM = 1e4


@dataclass(frozen=True)
class Material:
    """Composition and density of one phase.

    Attributes
    ----------
    name : str
        Short name.
    components : tuple of (formula, mass_fraction)
        xraylib formulas and their mass fractions (summing to 1); empty for void.
    density_g_cm3 : float
        Effective density, g/cm3.
    """

    name: str
    components: tuple[tuple[str, float], ...]
    density_g_cm3: float


_ELECTROLYTE_COMP = (("LiPF6", 0.140), ("C3H4O3", 0.430), ("C3H6O3", 0.430))
_CBD_SOLID, _CBD_POROSITY, _ELECTROLYTE_RHO = 1.79, 0.5, 1.30
_CBD_RHO = (1 - _CBD_POROSITY) * _CBD_SOLID + _CBD_POROSITY * _ELECTROLYTE_RHO
_W_SOLID = (1 - _CBD_POROSITY) * _CBD_SOLID / _CBD_RHO

VOID = Material("void", (), 0.0)
ELECTROLYTE = Material("electrolyte", _ELECTROLYTE_COMP, _ELECTROLYTE_RHO)
CBD = Material(
    "cbd",
    (("C", 0.5 * _W_SOLID), ("C2H2F2", 0.5 * _W_SOLID))
    + tuple((f, w * (1 - _W_SOLID)) for f, w in _ELECTROLYTE_COMP),
    _CBD_RHO,
)
NMC = Material("nmc", (("LiNi0.5Mn0.3Co0.2O2", 1.0),), 4.75)
#: Material of each phase code of the phase map.
PHASE_MATERIALS = {PHASE_VOID: VOID, PHASE_PORE: ELECTROLYTE, PHASE_CBD: CBD, PHASE_AM: NMC}


def _energies(energies_kev) -> np.ndarray:
    e = np.atleast_1d(np.asarray(energies_kev, float))
    if e.ndim != 1 or not np.all(np.isfinite(e)) or np.any(e < 1.0) or np.any(e > 100.0):
        raise ValueError("energies_kev: need finite energies in [1, 100] keV (scalar or 1-D)")
    return e


@lru_cache(maxsize=None)
def _elements(material: Material) -> tuple[np.ndarray, np.ndarray]:
    """Atomic numbers and mass fractions of a material (summed over components)."""
    frac: dict[int, float] = {}
    for formula, w in material.components:
        parsed = xraylib.CompoundParser(formula)
        for z, wz in zip(parsed["Elements"], parsed["massFractions"]):
            frac[z] = frac.get(z, 0.0) + w * wz
    zs = np.array(sorted(frac), dtype=np.int_)
    return zs, np.array([frac[z] for z in zs])


def mu_phase(material: Material, energies_kev) -> np.ndarray:
    """Linear attenuation from xraylib's tables (no near-edge structure), 1/um.

    Parameters
    ----------
    material : Material
        One of the module's materials or a custom one.
    energies_kev : float or array_like
        Photon energies, keV.

    Returns
    -------
    ndarray
        mu in 1/um, shape of ``np.atleast_1d(energies_kev)``, float64.

    Examples
    --------
    >>> round(float(mu_phase(ELECTROLYTE, 8.3)[0]), 4)
    0.0013
    """
    e = _energies(energies_kev)
    if not material.components:
        return np.zeros_like(e)
    zs, w = _elements(material)
    return material.density_g_cm3 * (w @ xraylib_np.CS_Total(zs, e)) / UM_PER_CM


@lru_cache(maxsize=1)
def _ni_k_fits() -> tuple[float, np.ndarray, np.ndarray]:
    """Table edge of Ni's photo cross section and log-log fits on both sides."""
    photo = np.vectorize(lambda e: xraylib.CS_Photo(28, float(e)))
    edge = xraylib.EdgeEnergy(28, xraylib.K_SHELL)
    lo, hi = edge - 0.005, edge + 0.005
    for _ in range(60):  # bisection: where xraylib's tables put the jump (8.3330, not 8.3328)
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if photo(mid) > 2 * photo(lo) else (mid, hi)
    e_below = np.linspace(lo - 0.5, lo, 60)
    below_fit = np.polyfit(np.log(e_below), np.log(photo(e_below)), 2)
    e_above = np.linspace(hi, hi + 0.5, 60)
    jump = photo(e_above) - np.exp(np.polyval(below_fit, np.log(e_above)))
    above_fit = np.polyfit(np.log(e_above), np.log(jump), 2)
    return hi, below_fit, above_fit


def ni_k_jump(energies_kev) -> tuple[np.ndarray, np.ndarray]:
    """Ni K-shell step of xraylib's photo cross section, cm2/g of Ni.

    Parameters
    ----------
    energies_kev : float or array_like
        Energies, keV.

    Returns
    -------
    sigma_k : ndarray
        The K step, smooth across the edge (continued below it).
    tabulated : ndarray
        The part of it that xraylib's tables contain: ``sigma_k`` above the
        table edge, 0 below.

    Examples
    --------
    >>> s, t = ni_k_jump([8.30, 8.40])
    >>> bool(t[0] == 0 and abs(s[1] / t[1] - 1) < 1e-12)
    True
    """
    e = _energies(energies_kev)
    edge, below_fit, above_fit = _ni_k_fits()
    photo = xraylib_np.CS_Photo(np.array([28], dtype=np.int_), e)[0]
    above = e >= edge
    sigma = np.exp(np.polyval(above_fit, np.log(e)))
    sigma[above] = photo[above] - np.exp(np.polyval(below_fit, np.log(e[above])))
    return sigma, np.where(above, sigma, 0.0)


def mu_nmc(energies_kev, li, model: XanesModel) -> np.ndarray:
    """Linear attenuation of NMC with the XANES Ni K-edge, 1/um.

    Parameters
    ----------
    energies_kev : float or array_like
        Energies, keV.
    li : array_like
        Li contents x (any shape).
    model : XanesModel
        Spectral model.

    Returns
    -------
    ndarray
        Shape ``(n_energies,) + np.shape(li)``, float64.

    Examples
    --------
    >>> m = XanesModel()
    >>> mu = mu_nmc(8.35, [1.0, 0.38], m)
    >>> bool(mu[0, 0] > mu[0, 1])
    True
    """
    e = _energies(energies_kev)
    li = np.asarray(li, float)
    w_ni = dict(zip(*map(np.ndarray.tolist, _elements(NMC))))[28]
    sigma, tabulated = ni_k_jump(e)
    base = mu_phase(NMC, e) - NMC.density_g_cm3 * w_ni * tabulated / UM_PER_CM
    edge = NMC.density_g_cm3 * w_ni * sigma / UM_PER_CM
    shape = (-1,) + (1,) * li.ndim
    return base.reshape(shape) + edge.reshape(shape) * model.evaluate(e, li)


def reference_spectra_raw(energies_kev, model: XanesModel, x_pristine: float | None = None,
                          x_charged: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Raw absorption of the two reference states, as a beamline measures them.

    Not pre-edge subtracted, not normalized: xraylib's sloped background stays.

    Parameters
    ----------
    energies_kev : array_like
        Energies, keV.
    model : XanesModel
        Spectral model.
    x_pristine, x_charged : float, optional
        Li contents of the references (default: the model's).

    Returns
    -------
    (pristine, charged) : tuple of ndarray
        mu_NMC in 1/um at each energy.

    Examples
    --------
    >>> p, c = reference_spectra_raw([8.30, 8.35, 8.43], XanesModel())
    >>> bool(p[1] > c[1])
    True
    """
    xp = model.x_pristine if x_pristine is None else float(x_pristine)
    xc = model.x_charged if x_charged is None else float(x_charged)
    mu = mu_nmc(energies_kev, np.array([xp, xc]), model)
    return mu[:, 0], mu[:, 1]


def li_nodes(model: XanesModel, n_nodes: int | None = None) -> np.ndarray:
    """Uniform Li nodes on [x_charged, x_pristine] (default 2 for
    linear-combination, where that is exact, 9 for edge-shift)."""
    if n_nodes is None:
        n_nodes = 2 if model.kind == "linear-combination" else 9
    if int(n_nodes) != n_nodes or n_nodes < 2:
        raise ValueError(f"n_nodes: need an integer >= 2, got {n_nodes}")
    return np.linspace(model.x_charged, model.x_pristine, int(n_nodes))


def attenuation_basis(energies_kev, model: XanesModel,
                      n_nodes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Attenuation of the projection components at each energy.

    Components: electrolyte, CBD, then NMC at each Li node x_k. With the hat
    functions of :func:`hat_weights`, mu_AM(E, x) ~ sum_k h_k(x) mu_NMC(E, x_k):
    exact for linear-combination, piecewise linear in x for edge-shift.

    Parameters
    ----------
    energies_kev : array_like
        Energies, keV.
    model : XanesModel
        Spectral model.
    n_nodes : int, optional
        Number of Li nodes (>= 2); see :func:`li_nodes` for the default.

    Returns
    -------
    nodes_li : ndarray
        (n_nodes,) Li nodes.
    weights : ndarray
        (n_energies, 2 + n_nodes) attenuation, 1/um.

    Examples
    --------
    >>> nodes, w = attenuation_basis([8.30, 8.35, 8.43], XanesModel())
    >>> nodes.tolist(), w.shape
    ([0.38, 1.0], (3, 4))
    """
    e = _energies(energies_kev)
    nodes = li_nodes(model, n_nodes)
    weights = np.column_stack([mu_phase(ELECTROLYTE, e), mu_phase(CBD, e), mu_nmc(e, nodes, model)])
    return nodes, weights


def hat_weights(li, nodes) -> np.ndarray:
    """Piecewise-linear (hat) weights of Li contents on the nodes.

    Parameters
    ----------
    li : array_like
        Li contents (any shape); NaN (outside active material) gets all-zero
        weights. Finite values must lie within the node range.
    nodes : array_like
        Increasing Li nodes.

    Returns
    -------
    ndarray
        ``(n_nodes,) + li.shape`` float32; weights sum to 1 where li is finite.

    Examples
    --------
    >>> hat_weights([0.5, np.nan], [0.0, 1.0]).tolist()
    [[0.5, 0.0], [0.5, 0.0]]
    """
    x = np.asarray(li, np.float64)
    nodes = np.asarray(nodes, np.float64)
    if nodes.ndim != 1 or nodes.size < 2 or np.any(np.diff(nodes) <= 0):
        raise ValueError("nodes: need >= 2 strictly increasing values")
    finite = np.isfinite(x)
    tol = 1e-6 * (nodes[-1] - nodes[0])
    if np.any((x[finite] < nodes[0] - tol) | (x[finite] > nodes[-1] + tol)):
        raise ValueError(f"li: values outside [{nodes[0]}, {nodes[-1]}]")
    xc = np.clip(np.where(finite, x, nodes[0]), nodes[0], nodes[-1])
    k = np.clip(np.searchsorted(nodes, xc, side="right") - 1, 0, nodes.size - 2)
    f = (xc - nodes[k]) / (nodes[k + 1] - nodes[k])
    out = np.zeros((nodes.size,) + x.shape, np.float32)
    for j in range(nodes.size - 1):  # n_nodes passes keep memory at one map each
        sel = (k == j) & finite
        out[j][sel] += (1.0 - f[sel]).astype(np.float32)
        out[j + 1][sel] += f[sel].astype(np.float32)
    return out


_MU_BLOCK = 1 << 16


def attenuation_map(phase, li, energy_kev: float, model: XanesModel) -> np.ndarray:
    """mu(E) of a phase map with its Li field, exact in x (no Li nodes), 1/um.

    Cheaper than the component route when there are fewer energies than
    components (e.g. three energies against 2 + 9 edge-shift components).

    Parameters
    ----------
    phase : array_like of uint8
        Phase codes 0-3.
    li : array_like
        Li content, same shape, used where phase == 3.
    energy_kev : float
        Energy, keV.
    model : XanesModel
        Spectral model.

    Returns
    -------
    ndarray
        float32 mu map, 1/um.

    Examples
    --------
    >>> attenuation_map(np.array([0, 3]), np.array([np.nan, 1.0]), 8.3, XanesModel()).shape
    (2,)
    """
    phase = np.asarray(phase)
    li = np.asarray(li)
    if phase.shape != li.shape:
        raise ValueError("li: must have the shape of phase")
    if phase.size and (phase.min() < 0 or phase.max() > 3):
        raise ValueError("phase: codes must be 0-3")
    e = _energies(energy_kev)
    if e.size != 1:
        raise ValueError("energy_kev: one energy")
    table = np.array([mu_phase(PHASE_MATERIALS[c], e)[0] for c in range(4)], np.float32)
    out = table[phase]
    # the AM voxels a block at a time: float64 copies of the whole map would be 4x the output
    flat_phase, flat_li, flat_out = phase.reshape(-1), li.reshape(-1), out.reshape(-1)
    for b0 in range(0, flat_out.size, _MU_BLOCK):
        block = slice(b0, b0 + _MU_BLOCK)
        am = flat_phase[block] == PHASE_AM
        x = flat_li[block][am].astype(float)
        if not np.all(np.isfinite(x)):
            raise ValueError("li: NaN inside active material")
        flat_out[block][am] = mu_nmc(e, x, model)[0]
    return out
