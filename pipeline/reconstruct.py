"""Tomographic reconstruction of parallel-beam projections: FBP, SIRT, CGLS.

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

from pipeline import projector
from trixanes import cuda

FILTERS = ("ramp", "shepp-logan", "cosine", "hamming", "hann")
ALGORITHMS = ("fbp", "sirt", "cgls")
BACKENDS = ("auto", "numba", "astra", "cupy")
_GAP_FACTOR = 3.0  # a gap above this many median steps is a missing wedge


# --------------------------------------------------------------------------- angles
def _sorted_mod180(theta_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Angles reduced to [0, 180) and the order that sorts them."""
    t = np.mod(np.asarray(theta_deg, dtype=np.float64), 180.0)
    order = np.argsort(t, kind="stable")
    return t, order


def _circular_gaps(ts: np.ndarray) -> np.ndarray:
    """Gap from each sorted angle (mod 180) to the next, wrapping around."""
    return np.diff(np.append(ts, ts[0] + 180.0))


def angle_weights(theta_deg: np.ndarray) -> np.ndarray:
    """FBP quadrature weight of each projection, in radians.

    Angles are taken mod 180° (a view at θ+180° is the mirror image of the one
    at θ and backprojects onto the same lines). Each distinct direction gets
    half the gaps to its neighbours on the 180° circle; views at the same
    direction share it. A gap wider than a few median steps is a missing wedge:
    it is not credited to the views at its edges (which would smear them over
    the wedge as streaks); they get half a median step on that side instead.

    Parameters
    ----------
    theta_deg : array (angle,)
        Projection angles, degrees.

    Returns
    -------
    w : float64 array (angle,)
        Sums to π for a complete, uniformly sampled set.

    Examples
    --------
    >>> w = angle_weights(np.arange(0, 180, 45.0))
    >>> np.allclose(w, np.pi / 4)
    True
    """
    t, order = _sorted_mod180(theta_deg)
    ts = t[order]
    if ts.size == 1:
        return np.array([np.pi])
    gaps = _circular_gaps(ts)
    tol = 1e-6 * 180.0
    distinct = gaps > tol
    if not distinct.any():
        return np.full(ts.size, np.pi / ts.size)
    step = np.median(gaps[distinct])
    g = np.where(gaps > _GAP_FACTOR * step, step, gaps)
    g = np.where(distinct, g, 0.0)
    # views closer than `tol` form one group that shares one direction's weight
    group = np.concatenate(([0], np.cumsum(distinct[:-1])))
    if not distinct[-1]:  # the last group wraps onto the first
        group[group == group[-1]] = 0
    n_groups = group.max() + 1
    after = np.zeros(n_groups)
    np.add.at(after, group, g)
    before = np.roll(after, 1)
    share = 0.5 * (before + after)
    counts = np.bincount(group, minlength=n_groups)
    w_sorted = np.deg2rad(share[group] / counts[group])
    w = np.empty_like(w_sorted)
    w[order] = w_sorted
    return w


def choose_algorithm(theta_deg) -> tuple[str, str]:
    """Pick FBP for complete angular coverage, SIRT for a dead angle.

    Parameters
    ----------
    theta_deg : array-like
        Projection angles, degrees.

    Returns
    -------
    name : {"fbp", "sirt"}
    reason : str
        One sentence saying why.

    Examples
    --------
    >>> choose_algorithm(np.linspace(0, 180, 181, endpoint=False))[0]
    'fbp'
    >>> choose_algorithm(np.linspace(0, 150, 151))[0]
    'sirt'
    """
    theta = _check_theta(theta_deg)
    t, order = _sorted_mod180(theta)
    ts = np.unique(np.round(t[order], 9))
    if ts.size < 2:
        return "sirt", "a single projection direction cannot support filtered backprojection."
    gaps = _circular_gaps(ts)
    step = float(np.median(gaps))
    widest = float(gaps.max())
    if widest <= _GAP_FACTOR * step:
        return "fbp", (
            f"the angles cover 180° (mod 180) with a largest gap of {widest:.3g}° "
            f"<= {_GAP_FACTOR:g} x the median step {step:.3g}°, so FBP is appropriate."
        )
    return "sirt", (
        f"the angles leave a {widest:.3g}° gap (mod 180), more than {_GAP_FACTOR:g} x the "
        f"median step {step:.3g}°: a missing wedge, for which SIRT with non-negativity "
        "gives fewer streaks than FBP."
    )


# --------------------------------------------------------------------------- filters
def padded_size(ncols: int) -> int:
    """FFT length for filtering: a power of two of at least 2·ncols (and 64)."""
    return max(64, int(2 ** np.ceil(np.log2(2 * ncols))))


def fbp_filter(ncols: int, filter_name: str = "ramp") -> np.ndarray:
    """Frequency response (rfft bins) of the FBP filter for a padded projection.

    The ramp is the Fourier transform of the band-limited spatial-domain ramp
    (Kak & Slaney, eq. 61: 1/4 at 0, -1/(πn)² at odd n), which unlike a sampled
    |f| has the correct, nonzero DC term. Windows are functions of the
    frequency f in cycles per pixel (|f| <= 1/2).

    Parameters
    ----------
    ncols : int
        Number of detector columns (the FFT length is ``padded_size(ncols)``).
    filter_name : {"ramp", "shepp-logan", "cosine", "hamming", "hann"}

    Returns
    -------
    h : float64 array (padded_size // 2 + 1,)

    Examples
    --------
    >>> h = fbp_filter(64)
    >>> bool(h[0] > 0 and abs(h[-1] - 0.5) < 0.01)
    True
    """
    if filter_name not in FILTERS:
        raise ValueError(f"filter_name must be one of {FILTERS}, got {filter_name!r}")
    p = padded_size(ncols)
    k = np.concatenate((np.arange(0, p // 2 + 1), np.arange(p // 2 - 1, 0, -1)))
    h_sp = np.zeros(p)
    h_sp[0] = 0.25
    odd = k % 2 == 1
    h_sp[odd] = -1.0 / (np.pi * k[odd]) ** 2
    h = np.fft.rfft(h_sp).real
    f = np.fft.rfftfreq(p)
    if filter_name == "shepp-logan":
        h = h * np.sinc(f)  # np.sinc(f) = sin(πf)/(πf)
    elif filter_name == "cosine":
        h = h * np.cos(np.pi * f)
    elif filter_name == "hamming":
        h = h * (0.54 + 0.46 * np.cos(2 * np.pi * f))
    elif filter_name == "hann":
        h = h * (0.5 + 0.5 * np.cos(2 * np.pi * f))
    return h


def filter_projections(projections: np.ndarray, filter_name: str = "ramp") -> np.ndarray:
    """Filter every projection row along the detector axis (zero padded FFT)."""
    ncols = projections.shape[-1]
    p = padded_size(ncols)
    spec = np.fft.rfft(projections, n=p, axis=-1)
    spec *= fbp_filter(ncols, filter_name)
    return np.fft.irfft(spec, n=p, axis=-1)[..., :ncols].astype(np.float32)


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
    algorithm : {"fbp", "sirt", "cgls"}
    filter_name : {"ramp", "shepp-logan", "cosine", "hamming", "hann"}
        FBP filter.
    n_iter : int, optional
        Iterations for SIRT (default 100) or CGLS (default 20).
    nonneg : bool
        Clip negative values after each SIRT/CGLS iteration (for CGLS this
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
    theta = _check_theta(theta_deg)
    if theta.size != proj.shape[0]:
        raise ValueError(f"theta_deg has {theta.size} angles but projections have {proj.shape[0]}")
    ncols = proj.shape[2]
    center = (ncols - 1) / 2.0 if center_px is None else float(center_px)
    if not np.isfinite(center):
        raise ValueError(f"center_px must be finite, got {center_px!r}")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    check_backend(backend)
    if pixel_size_um is not None and not (np.isfinite(pixel_size_um) and pixel_size_um > 0):
        raise ValueError(f"pixel_size_um must be positive, got {pixel_size_um!r}")
    if n_iter is None:
        n_iter = 100 if algorithm == "sirt" else 20
    if algorithm != "fbp" and (int(n_iter) != n_iter or n_iter < 1):
        raise ValueError(f"n_iter must be a positive integer, got {n_iter!r}")

    if backend == "astra":
        vol = _reconstruct_astra(proj, theta, center, algorithm, int(n_iter), nonneg, filter_name)
    elif algorithm == "fbp":
        vol = (_gpu().fbp if backend == "cupy" else fbp)(proj, theta, center, filter_name)
    else:
        solvers = _gpu() if backend == "cupy" else projector  # same sirt and cgls signatures
        solver = solvers.sirt if algorithm == "sirt" else solvers.cgls
        vol = solver(proj, theta, center, int(n_iter), nonneg=nonneg, progress=progress).volume
    if pixel_size_um is not None:
        vol /= np.float32(pixel_size_um)
    return vol


def fbp(proj: np.ndarray, theta: np.ndarray, center: float, filter_name: str = "ramp") -> np.ndarray:
    """Filtered backprojection with the numba backprojector (no input checks)."""
    q = filter_projections(proj, filter_name)
    cos_t, sin_t = projector.angle_tables(theta)
    return projector.backproject(q, cos_t, sin_t, angle_weights(theta), center, proj.shape[2])


def _check_theta(theta_deg) -> np.ndarray:
    theta = np.asarray(theta_deg, dtype=np.float64)
    if theta.ndim != 1 or theta.size == 0:
        raise ValueError(f"theta_deg must be a non-empty 1-D array, got shape {theta.shape}")
    if not np.all(np.isfinite(theta)):
        raise ValueError("theta_deg contains NaN or inf")
    return theta


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
    """`pipeline.gpu` (lazily: it imports this module, and CuPy is optional)."""
    from pipeline import gpu

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
    import astra  # check_backend has made sure it is there
    from scipy import ndimage as ndi

    if algorithm == "cgls":
        raise ValueError("backend='astra' supports algorithm 'fbp' or 'sirt' only")
    n_ang, nz, ncols = proj.shape
    shift = (ncols - 1) / 2.0 - center
    if abs(shift) > 1e-6:
        proj = ndi.shift(proj, (0, 0, shift), order=1, mode="constant")
    vol_geom = astra.create_vol_geom(ncols, ncols)
    proj_geom = astra.create_proj_geom("parallel", 1.0, ncols, np.deg2rad(theta))
    proj_id = astra.create_projector("linear", proj_geom, vol_geom)
    out = np.empty((nz, ncols, ncols), dtype=np.float32)
    try:
        for z in range(nz):
            sid = astra.data2d.create("-sino", proj_geom, np.ascontiguousarray(proj[:, z, :]))
            rid = astra.data2d.create("-vol", vol_geom, 0.0)
            cfg = astra.astra_dict("FBP" if algorithm == "fbp" else "SIRT")
            cfg.update(ProjectorId=proj_id, ProjectionDataId=sid, ReconstructionDataId=rid)
            if algorithm == "fbp":
                cfg["FilterType"] = _ASTRA_FILTERS[filter_name]
            elif nonneg:
                cfg["option"] = {"MinConstraint": 0.0}
            aid = astra.algorithm.create(cfg)
            astra.algorithm.run(aid, 1 if algorithm == "fbp" else n_iter)
            out[z] = astra.data2d.get(rid)
            astra.algorithm.delete(aid)
            astra.data2d.delete([sid, rid])
    finally:
        astra.projector.delete(proj_id)
    return out
