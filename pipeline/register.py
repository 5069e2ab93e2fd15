"""Registration of the energy volumes (SimpleITK).

`pipeline.process` corrects the zone-plate magnification before reconstruction
(`pipeline.magnification`: every energy's projections onto the pre-edge
detector grid), so its volumes share one grid and :func:`register_volume`
aligns them with Mattes mutual information (the energies differ in contrast),
a rigid/similarity/translation stage and an optional B-spline stage for small
deformations between energies. For volumes made elsewhere at different voxel
sizes, ``register_volume(moving_voxel_size_um=...)`` corrects the magnification
in the same resampling. Applying a found transform to other volumes, and
resampling onto other grids, is `pipeline.resample`'s job.

SimpleITK images index (x, y, z); our arrays are (z, y, x). ``GetImageFromArray``
already swaps the axes, so only vectors (translations, spacings) need reversing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from trixanes.pipeline.binning import voxel_size3
from trixanes.pipeline.defaults import BSPLINE

from .resample import _INTERPOLATORS, _extend_into_no_data, _image, _resample
from .resample import apply_registration, rescale_to_grid  # noqa: F401  (this module's API before the split)

__all__ = ["Registration", "register_volume", "apply_registration", "rescale_to_grid"]

#: random samples for metric_before/metric_after (Mattes MI is well estimated by then)
METRIC_SAMPLES = 50_000
#: shrink factors of the B-spline stage
BSPLINE_SHRINK = (4, 2)


@dataclass(frozen=True)
class Registration:
    """Result of :func:`register_volume`.

    Attributes
    ----------
    moved : ndarray float32 (z, y, x)
        The moving volume resampled onto the fixed grid (``fill_value`` where
        it has no data).
    translation_vox : tuple of 3 float
        (z, y, x) shift of the moving content relative to the fixed content,
        voxels: ``moving(p) ≈ fixed(p − t)`` (about the grid centre).
    rotation_deg : float
        Total rotation angle of the linear stage, degrees.
    scale : float
        Isotropic scale of the linear stage (1 unless ``similarity``).
    bspline_max_displacement_vox : float
        Largest displacement of the B-spline stage, voxels (0 without it).
    metric_before, metric_after : float
        Mattes mutual information (negative: lower is better) of the
        unregistered and registered pair.
    transform : sitk.Transform
        Fixed-to-moving physical transform (µm), for reuse on other volumes
        (`apply_registration`).
    notes : tuple of str
    interpolator : str
        Of the final resampling.
    moving_voxel_size_um : 3 floats
        (z, y, x) voxel size of the moving grid.
    """

    moved: np.ndarray
    translation_vox: tuple
    rotation_deg: float
    scale: float
    bspline_max_displacement_vox: float
    metric_before: float
    metric_after: float
    transform: sitk.Transform
    notes: tuple = ()
    interpolator: str = "bspline"
    moving_voxel_size_um: tuple = (1.0, 1.0, 1.0)


_LINEAR = {
    "rigid": sitk.Euler3DTransform,
    "similarity": sitk.Similarity3DTransform,
    "translation": sitk.TranslationTransform,
}


def _method(sampling: float, seed: int, bins: int, threads: int | None = None,
            masks=None) -> sitk.ImageRegistrationMethod:
    r = sitk.ImageRegistrationMethod()
    if masks is not None:  # the metric samples only where both volumes have data
        r.SetMetricFixedMask(masks[0])
        r.SetMetricMovingMask(masks[1])
    if threads:
        r.SetNumberOfThreads(int(threads))
    r.SetMetricAsMattesMutualInformation(numberOfHistogramBins=bins)
    r.SetMetricSamplingStrategy(r.RANDOM)
    # a fixed seed makes the random sample, hence the result, reproducible;
    # SimpleITK reads seed 0 as "seed from the wall clock", hence the + 1
    r.SetMetricSamplingPercentage(sampling, seed + 1)
    r.SetInterpolator(sitk.sitkLinear)
    return r


#: the finest registration level has at most this many voxels: MI on a 2x shrunk
#: 256^3 volume finds a rigid shift to a few hundredths of a voxel at a 1/8 of the cost
MAX_LEVEL_VOXELS = 2_500_000


def _finest_shrink(img: sitk.Image) -> int:
    n = float(np.prod(img.GetSize()))
    return int(max(1, 2 ** np.ceil(np.log2(max(1.0, (n / MAX_LEVEL_VOXELS) ** (1 / 3))))))


def _data_masks(f: np.ndarray, m: np.ndarray, fi: sitk.Image, mi: sitk.Image):
    """(fixed, moving) masks of the voxels with data, or None when both volumes are all data."""
    ok_f, ok_m = np.isfinite(f), np.isfinite(m)
    if ok_f.all() and ok_m.all():
        return None
    out = []
    for ok, img in ((ok_f, fi), (ok_m, mi)):
        mask = sitk.GetImageFromArray(ok.astype(np.uint8))
        mask.CopyInformation(img)
        out.append(mask)
    return tuple(out)


def _shrunk(fixed, moving, masks, k):
    """Images and masks block-averaged by ``k`` (a shrunk mask keeps the blocks all data)."""
    if k <= 1:
        return fixed, moving, masks
    fixed, moving = sitk.BinShrink(fixed, [k] * 3), sitk.BinShrink(moving, [k] * 3)
    if masks is not None:
        masks = tuple(sitk.Cast(sitk.BinShrink(sitk.Cast(mk, sitk.sitkFloat32), [k] * 3) > 0.999, sitk.sitkUInt8)
                      for mk in masks)
    return fixed, moving, masks


def _metric(fixed, moving, tx, sampling, seed, bins, threads=None, masks=None) -> float:
    k = _finest_shrink(fixed)
    fixed, moving, masks = _shrunk(fixed, moving, masks, k)
    r = _method(min(1.0, sampling * k**3), seed, bins, threads, masks)
    r.SetInitialTransform(tx)
    return float(r.MetricEvaluate(fixed, moving))


def _linear_stage(fixed, moving, kind, sampling, seed, bins, iterations, threads=None,
                  masks=None) -> sitk.Transform:
    if kind == "translation":
        tx = sitk.TranslationTransform(3)
    else:
        tx = sitk.CenteredTransformInitializer(
            fixed, moving, _LINEAR[kind](), sitk.CenteredTransformInitializerFilter.GEOMETRY)
    # large volumes are block-averaged once (physical geometry kept) rather than
    # smoothed and shrunk at full size on every level
    k = _finest_shrink(fixed)
    fixed, moving, masks = _shrunk(fixed, moving, masks, k)
    r = _method(sampling, seed, bins, threads, masks)
    r.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0, minStep=1e-4, numberOfIterations=iterations, relaxationFactor=0.5,
        gradientMagnitudeTolerance=1e-8)
    r.SetOptimizerScalesFromPhysicalShift()
    # a level needs enough voxels for MI to have a basin: small volumes skip coarse levels
    smallest = min(fixed.GetSize())
    levels = [f for f in (4, 2, 1) if f * k <= 4 and smallest // f >= 24] or [1]
    r.SetShrinkFactorsPerLevel(levels)
    r.SetSmoothingSigmasPerLevel([{4: 2, 2: 1, 1: 0}[f] for f in levels])
    r.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    r.SetInitialTransform(tx, inPlace=True)
    r.Execute(fixed, moving)
    return tx


def _bspline_stage(fixed, moving, linear, nodes, samples, seed, bins, iterations, threads=None, masks=None):
    bs = sitk.BSplineTransformInitializer(fixed, [int(n) for n in nodes[::-1]], order=3)
    r = _method(1.0, seed, bins, threads, masks)
    nvox = np.prod(fixed.GetSize())
    r.SetMetricSamplingPercentagePerLevel([min(1.0, samples * k**3 / nvox) for k in BSPLINE_SHRINK], seed + 1)
    r.SetOptimizerAsLBFGSB(gradientConvergenceTolerance=1e-5, numberOfIterations=iterations,
                           maximumNumberOfCorrections=5, maximumNumberOfFunctionEvaluations=2 * iterations)
    # a coarse control mesh describes a deformation smooth over many voxels, so
    # it is estimated on 4x and 2x shrunk images: full resolution costs ~10x
    # more time (30 s against 3.6 s at 128^3 on 2 cores) for no gain in accuracy
    r.SetShrinkFactorsPerLevel(list(BSPLINE_SHRINK))
    r.SetSmoothingSigmasPerLevel([k / 2 for k in BSPLINE_SHRINK])
    r.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    r.SetMovingInitialTransform(linear)
    r.SetInitialTransform(bs, inPlace=True)
    r.Execute(fixed, moving)
    return bs


def _max_displacement_vox(bs: sitk.Transform, ref: sitk.Image, spacing) -> float:
    """Largest B-spline displacement, voxels, sampled on a 4x coarser grid.

    A cubic B-spline over a few control nodes is smooth on the scale of its
    node spacing, so a 4-voxel sampling finds its maximum to well under 0.1 voxel.
    """
    size = [max(2, (s + 3) // 4) for s in ref.GetSize()]
    step = [sp * (n - 1) / max(m - 1, 1) for sp, n, m in zip(ref.GetSpacing(), ref.GetSize(), size)]
    field = sitk.TransformToDisplacementField(bs, sitk.sitkVectorFloat64, size, ref.GetOrigin(), step,
                                              ref.GetDirection())
    disp = sitk.GetArrayViewFromImage(field) / np.asarray(spacing)[::-1]
    return float(np.sqrt((disp**2).sum(axis=-1)).max())


def _linear_params(tx: sitk.Transform, spacing) -> tuple[tuple, float, float]:
    """(translation (z, y, x) voxels, rotation angle deg, scale)."""
    if isinstance(tx, sitk.TranslationTransform) or tx.GetName() == "TranslationTransform":
        t = np.array(tx.GetOffset())
        return tuple((t[::-1] / spacing).tolist()), 0.0, 1.0
    a = np.array(tx.GetMatrix()).reshape(3, 3)
    t = np.array(tx.GetTranslation())
    # rigid part: a = s R; the translation about the grid centre is the shift the
    # transform applies to the centre point
    s = float(np.cbrt(np.linalg.det(a))) if tx.GetName() == "Similarity3DTransform" else 1.0
    cos = np.clip((np.trace(a / s) - 1) / 2, -1, 1)
    return tuple((t[::-1] / spacing).tolist()), float(np.degrees(np.arccos(cos))), s


def register_volume(fixed, moving, *, transform: str = "rigid", bspline: bool = BSPLINE,
                    bspline_nodes=(4, 4, 4), voxel_size_um=1.0, sampling: float = 0.05,
                    histogram_bins: int = 32, iterations: int = 100, bspline_iterations: int = 20,
                    bspline_samples: int = 10000, seed: int = 0, threads: int | None = None,
                    fill_value: float = np.nan, moving_voxel_size_um=None,
                    interpolator: str = "bspline") -> Registration:
    """Register ``moving`` onto ``fixed`` (both (z, y, x), same voxel size).

    Parameters
    ----------
    fixed, moving : ndarray (z, y, x)
        Reference volume and volume to align (e.g. pre-edge and edge). NaN
        voxels are no data: the metric samples only voxels with data in both.
    transform : {"rigid", "similarity", "translation"}
        Linear stage: rotation + translation, plus an isotropic scale, or a
        translation only. Three resolution levels (shrink 4, 2, 1; smoothing
        2, 1, 0 voxels), regular-step gradient descent.
    bspline : bool
        Add a cubic B-spline stage (LBFGSB, shrink 4, 2) on top of the linear
        one for small, smooth deformations. Off by default
        (`pipeline.defaults.BSPLINE`, as in `process`): on rigid samples it
        fits noise, spurious displacements of about half a voxel.
    bspline_nodes : 3 int
        B-spline control-mesh size (z, y, x) over the volume.
    voxel_size_um : float or 3 floats
        Voxel size of both volumes, µm (sets the physical units of the transform).
    sampling : float in (0, 1]
        Fraction of voxels randomly sampled by the metric (linear stage).
    bspline_samples : int
        Voxels randomly sampled per level of the B-spline stage. A count, not
        a fraction: too few samples at the coarse levels let the B-spline fit
        noise (spurious displacements of about a voxel with 1 % sampling).
    histogram_bins : int
        Joint-histogram bins of Mattes mutual information.
    iterations : int
        Gradient-descent iterations per level of the linear stage.
    bspline_iterations : int
        LBFGSB iterations per level of the B-spline stage.
    seed : int
        Seed of the metric's random sampling: repeated runs agree to
        round-off (threaded sums may add in another order).
    threads : int, optional
        Threads for SimpleITK (default: all cores).
    fill_value : float
        Value of ``moved`` where the moving volume has no data.
    moving_voxel_size_um : float or 3 floats, optional
        Voxel size of ``moving`` when it differs from the fixed one (a volume
        at another energy of a zone-plate microscope). Both grids are centred
        on the same point; the magnification is then corrected in the same
        single resampling as the registration.
    interpolator : {"bspline", "linear", "lanczos"}
        Interpolation of the final resampling. Cubic B-spline keeps the
        resolution of ``moved`` close to that of ``fixed``, which the edge jump
        needs: linear interpolation blurs by a varying fraction of a voxel.

    Returns
    -------
    Registration

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage as ndi
    >>> f = ndi.gaussian_filter(np.random.default_rng(0).random((32, 32, 32)), 2).astype(np.float32)
    >>> m = ndi.shift(f, (1, 0, 2), order=1, mode="nearest")
    >>> r = register_volume(f, m, transform="translation", bspline=False)
    >>> np.round(r.translation_vox).tolist()
    [1.0, 0.0, 2.0]
    """
    f = np.asarray(fixed, dtype=np.float32)
    m = np.asarray(moving, dtype=np.float32)
    if f.ndim != 3 or m.ndim != 3:
        raise ValueError(f"fixed and moving must be 3-D (z, y, x), got {f.shape} and {m.shape}")
    if transform not in _LINEAR:
        raise ValueError(f"transform must be one of {sorted(_LINEAR)}, got {transform!r}")
    if not 0 < sampling <= 1:
        raise ValueError(f"sampling must lie in (0, 1], got {sampling!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    seed = int(seed)
    if bspline_samples < 1000:
        raise ValueError(f"bspline_samples must be >= 1000, got {bspline_samples!r}")
    nodes = np.broadcast_to(np.asarray(bspline_nodes, dtype=int), (3,))
    if np.any(nodes < 1):
        raise ValueError(f"bspline_nodes must be >= 1, got {bspline_nodes!r}")
    if interpolator not in _INTERPOLATORS:
        raise ValueError(f"interpolator must be one of {sorted(_INTERPOLATORS)}, got {interpolator!r}")
    spacing = np.array(voxel_size3(voxel_size_um))
    m_spacing = spacing if moving_voxel_size_um is None else np.array(
        voxel_size3(moving_voxel_size_um, "moving_voxel_size_um"))
    notes = []
    for name, a in (("fixed", f), ("moving", m)):
        if np.isfinite(a).sum() < 64:
            raise ValueError(f"{name} volume has {int(np.isfinite(a).sum())} finite voxels of {a.size}: "
                             f"nothing to register")
    if not (np.isfinite(f).all() and np.isfinite(m).all()):
        notes.append("non-finite voxels are no data: left out of the metric, extended by their nearest "
                     "finite voxel for the spline")
    fi = _image(_extend_into_no_data(f), spacing)
    mi = _image(_extend_into_no_data(m), m_spacing)
    metric_fraction = min(1.0, METRIC_SAMPLES / f.size)
    masks = _data_masks(f, m, fi, mi)
    metric_before = _metric(fi, mi, sitk.TranslationTransform(3), metric_fraction, seed, histogram_bins, threads,
                            masks)
    linear = _linear_stage(fi, mi, transform, sampling, seed, histogram_bins, iterations, threads, masks)
    final: sitk.Transform = sitk.CompositeTransform(linear)
    bmax = 0.0
    if bspline:
        bs = _bspline_stage(fi, mi, linear, nodes, bspline_samples, seed, histogram_bins, bspline_iterations,
                            threads, masks)
        # a composite applies its last-added transform first: x_moving = linear(bspline(x))
        final.AddTransform(bs)
        bmax = _max_displacement_vox(bs, fi, spacing)
    metric_after = _metric(fi, mi, final, metric_fraction, seed, histogram_bins, threads, masks)
    moved = _resample(m, mi, fi, final, interpolator, fill_value)
    t, rot, scale = _linear_params(linear, spacing)
    return Registration(moved, t, rot, scale, bmax, metric_before, metric_after,
                        final, tuple(notes), interpolator, tuple(float(v) for v in m_spacing))
