"""Tomographic reconstruction of parallel-beam projections: FBP, SIRT, OS-SIRT, CGLS.

Conventions (CONTRIBUTING.md): projections ``(angle, row, col)`` of line
integrals, volumes ``(z, y, x)`` with z = detector rows, angles in degrees, the
rotation axis given as a 0-based detector column. Each slice is an
``ncols x ncols`` grid centred on the rotation axis, so an off-centre axis is
handled by the backprojector and the data are never shifted. For a full 180°
set and an axis at ``(ncols-1)/2``, ``reconstruct(radon(img).T[:, None])``
matches ``skimage.transform.iradon(radon(img))``.
"""

from __future__ import annotations

import numpy as np

from trixanes._shared import cuda
from trixanes.pipeline import projector
from trixanes.pipeline.angles import check_theta, angle_weights
from trixanes.pipeline.filters import filter_projections

ALGORITHMS = ("fbp", "sirt", "os-sirt", "cgls")
#: iterations (passes over the data) when ``n_iter`` is not given
DEFAULT_ITERATIONS = {"sirt": 100, "os-sirt": 10, "cgls": 20}
#: angle subsets per OS-SIRT pass: 10 passes of 10 subsets match 100 SIRT iterations
OS_SUBSETS = 10
BACKENDS = ("auto", "numba", "astra", "cupy")
#: backends whose SIRT has no ordered subsets (`auto` falls back to plain SIRT there)
NO_ORDERED_SUBSETS = ("astra",)


# --------------------------------------------------------------------------- public
def reconstruct(
    projections,
    theta_deg,
    center_px=None,
    *,
    algorithm: str = "fbp",
    filter_name: str = "ramp",
    n_iter: int | None = None,
    nonneg: bool = True,
    backend: str = "auto",
    pixel_size_um: float | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Reconstruct slices from parallel-beam line integrals.

    Parameters
    ----------
    projections : array (angle, row, col) or (angle, col)
        Line integrals (-log transmission), dimensionless.
    theta_deg : array (angle,)
        Projection angles, degrees, any range (mod 180 weighting for FBP).
    center_px : float, optional
        Rotation axis, 0-based detector column; default ``(ncols-1)/2``.
    algorithm : {"fbp", "sirt", "os-sirt", "cgls"}
        "os-sirt" is SIRT over `OS_SUBSETS` ordered subsets of the angles
        (`pipeline.projector.sirt`): each pass over the data does the work of
        about ten SIRT iterations at the cost of one.
    filter_name : {"ramp", "shepp-logan", "cosine", "hamming", "hann"}
        FBP filter.
    n_iter : int, optional
        Iterations: passes over the data (`DEFAULT_ITERATIONS`: SIRT 100,
        OS-SIRT 10, CGLS 20).
    nonneg : bool
        Clip negative values after each SIRT/OS-SIRT update or CGLS iteration (for CGLS this
        makes it a projected, heuristic method).
    backend : {"auto", "numba", "astra", "cupy"}
        "auto" uses the numba kernels on every machine, GPU or not, so that a
        result does not depend on where it ran. "cupy" runs the same projector
        pair and solvers on a CUDA GPU (`pipeline.gpu`, needs CuPy): numba's
        result to float32 rounding (which unconstrained CGLS amplifies over
        its iterations). "astra" needs the astra-toolbox.
    pixel_size_um : float, optional
        If given, the result is in 1/µm; otherwise per pixel.
    progress : bool
        Show a tqdm bar over iterations.

    Returns
    -------
    volume : float32 array (z, ncols, ncols)
        z = detector rows (a 2-D input gives z of size 1).

    Examples
    --------
    >>> from skimage.transform import radon
    >>> img = np.zeros((33, 33)); img[12:20, 14:18] = 0.1
    >>> theta = np.linspace(0, 180, 60, endpoint=False)
    >>> vol = reconstruct(radon(img, theta).T[:, None, :], theta)
    >>> vol.shape, round(float(vol[0, 15, 15]), 2)
    ((1, 33, 33), 0.1)
    """
    proj = np.asarray(projections)
    if proj.ndim == 2:
        proj = proj[:, None, :]
    if proj.ndim != 3 or min(proj.shape) == 0:
        raise ValueError(f"projections must be a non-empty (angle, row, col) array, got shape {proj.shape}")
    proj = proj.astype(np.float32, copy=False)
    if not np.all(np.isfinite(proj)):
        raise ValueError("projections contain NaN or inf")
    theta = check_theta(theta_deg)
    if theta.size != proj.shape[0]:
        raise ValueError(f"theta_deg has {theta.size} angles but projections have {proj.shape[0]}")
    ncols = proj.shape[2]
    center = (ncols - 1) / 2.0 if center_px is None else float(center_px)
    if not np.isfinite(center):
        raise ValueError(f"center_px must be finite, got {center_px!r}")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if algorithm == "os-sirt" and backend in NO_ORDERED_SUBSETS:
        raise ValueError(f"backend={backend!r} has no ordered-subsets SIRT: use algorithm 'sirt' "
                         "or backend 'numba' or 'cupy'")
    check_backend(backend)
    if pixel_size_um is not None and not (np.isfinite(pixel_size_um) and pixel_size_um > 0):
        raise ValueError(f"pixel_size_um must be positive, got {pixel_size_um!r}")
    if n_iter is None:
        n_iter = DEFAULT_ITERATIONS.get(algorithm, 1)
    if algorithm != "fbp" and (int(n_iter) != n_iter or n_iter < 1):
        raise ValueError(f"n_iter must be a positive integer, got {n_iter!r}")

    if backend == "astra":
        vol = _reconstruct_astra(proj, theta, center, algorithm, int(n_iter), nonneg, filter_name)
    elif algorithm == "fbp":
        vol = (_gpu().fbp if backend == "cupy" else fbp)(proj, theta, center, filter_name)
    else:
        solvers = _gpu() if backend == "cupy" else projector  # same sirt and cgls signatures
        solver = solvers.cgls if algorithm == "cgls" else solvers.sirt
        subsets = {"n_subsets": OS_SUBSETS} if algorithm == "os-sirt" else {}
        vol = solver(proj, theta, center, int(n_iter), nonneg=nonneg, progress=progress, **subsets).volume
    if pixel_size_um is not None:
        vol /= np.float32(pixel_size_um)
    return vol


def fbp(proj: np.ndarray, theta: np.ndarray, center: float, filter_name: str = "ramp") -> np.ndarray:
    """Filtered backprojection with the numba backprojector (no input checks)."""
    q = filter_projections(proj, filter_name)
    cos_t, sin_t = projector.angle_tables(theta)
    return projector.backproject(q, cos_t, sin_t, angle_weights(theta), center, proj.shape[2])


def check_backend(backend: str) -> str:
    """``backend`` when it is one of `BACKENDS` and usable here; ValueError otherwise.

    Callers that write files check first, so a missing CuPy or astra-toolbox
    stops them before any output exists.

    Examples
    --------
    >>> check_backend("auto")
    'auto'
    """
    cuda.check_backend(backend, BACKENDS)
    if backend == "astra" and not astra_available():
        raise ValueError("backend='astra' needs the astra-toolbox, which is not installed")
    return backend


def _gpu():
    """`pipeline.gpu`, imported only when asked for (CuPy is optional)."""
    from trixanes.pipeline import gpu

    return gpu


def astra_available() -> bool:
    """True when the optional astra-toolbox can be imported."""
    try:
        import astra  # noqa: F401
    except ImportError:
        return False
    return True


_ASTRA_FILTERS = {"ramp": "ram-lak", "shepp-logan": "shepp-logan", "cosine": "cosine",
                  "hamming": "hamming", "hann": "hann"}


def _reconstruct_astra(proj, theta, center, algorithm, n_iter, nonneg, filter_name):
    """FBP/SIRT with astra's 2-D CPU algorithms, slice by slice.

    astra's CPU FBP takes only the plain ``parallel`` geometry, whose axis is the
    detector's middle: the projections are shifted (linear interpolation) to put
    ``center`` there (astra then matches our ``s = x cos θ - y sin θ``; tested).
    """
    from scipy import ndimage as ndi

    if algorithm == "cgls":
        raise ValueError("backend='astra' supports algorithm 'fbp' or 'sirt' only")
    ncols = proj.shape[2]
    shift = (ncols - 1) / 2.0 - center
    if abs(shift) > 1e-6:
        proj = ndi.shift(proj, (0, 0, shift), order=1, mode="constant")
    sinos = proj.transpose(1, 0, 2)
    if algorithm == "fbp":
        return astra_slices(sinos, theta, "FBP", FilterType=_ASTRA_FILTERS[filter_name])
    return astra_slices(sinos, theta, "SIRT", n_iter, **({"option": {"MinConstraint": 0.0}} if nonneg else {}))


def astra_slices(sinos, theta, algo, n_iter=1, **settings):
    """Run astra's 2-D CPU algorithm ``algo`` on each sinogram of ``sinos`` (slice, angle, col).

    ``parallel`` geometry (its axis at the detector's middle), linear projector,
    zero start; ``settings`` go into the algorithm's config (``FilterType``,
    ``option``). Needs the astra-toolbox. Returns float32 (slice, col, col).
    """
    import astra

    n = sinos.shape[2]
    vol_geom = astra.create_vol_geom(n, n)
    proj_geom = astra.create_proj_geom("parallel", 1.0, n, np.deg2rad(theta))
    pid = astra.create_projector("linear", proj_geom, vol_geom)
    out = np.empty((len(sinos), n, n), np.float32)
    try:
        for k, sino in enumerate(sinos):
            sid = astra.data2d.create("-sino", proj_geom, np.ascontiguousarray(sino, dtype=np.float32))
            rid = astra.data2d.create("-vol", vol_geom, 0.0)
            cfg = astra.astra_dict(algo)
            cfg.update(ProjectorId=pid, ProjectionDataId=sid, ReconstructionDataId=rid, **settings)
            aid = astra.algorithm.create(cfg)
            astra.algorithm.run(aid, n_iter)
            out[k] = astra.data2d.get(rid)
            astra.algorithm.delete(aid)
            astra.data2d.delete([sid, rid])
    finally:
        astra.projector.delete(pid)
    return out
