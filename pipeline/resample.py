"""Resampling for registration: onto another voxel size, and through a found transform.

`pipeline.register` finds transforms; this module applies them to volumes
(`apply_registration`, the fixed grid from the moving one), carries labels the
other way (`carry_labels`: a series' first-state particles onto a later
state's own grid), and brings a volume onto a grid of another voxel size
(`rescale_to_grid`). Voxels with no data (NaN) are extended by their nearest
finite voxel before any spline, which would otherwise ring against them.

SimpleITK images index (x, y, z); our arrays are (z, y, x). ``GetImageFromArray``
already swaps the axes, so only vectors (translations, spacings) need reversing.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

from trixanes.pipeline.binning import voxel_size3

__all__ = ["rescale_to_grid", "apply_registration", "carry_labels", "rotation_zyx"]


def rescale_to_grid(volume, voxel_size_um, target_voxel_size_um, target_shape,
                    *, fill_value: float = np.nan, order: int = 3) -> np.ndarray:
    """Resample a volume onto a grid of another voxel size, sharing its centre.

    Both grids are centred on the same point (index (n − 1)/2 on each axis:
    the rotation axis and the detector middle), so output voxel ``i`` samples
    the input at ``(n_in − 1)/2 + (i − (n_out − 1)/2) · target/voxel``.

    Parameters
    ----------
    volume : ndarray (z, y, x)
    voxel_size_um : float or 3 floats
        Voxel size of ``volume``, µm.
    target_voxel_size_um : float or 3 floats
        Voxel size of the reference grid, µm.
    target_shape : tuple of 3 int
        Shape of the reference grid.
    fill_value : float
        Value of output voxels whose centre lies more than half a voxel outside
        the input (default NaN: no data).
    order : int
        Spline order of the interpolation (3: cubic, keeps the resolution of
        the volume; 1: linear, blurs by a varying fraction of a voxel).

    Returns
    -------
    ndarray float32, shape ``target_shape``

    Examples
    --------
    >>> import numpy as np
    >>> v = np.arange(27, dtype=np.float32).reshape(3, 3, 3)
    >>> np.allclose(rescale_to_grid(v, 1.0, 1.0, (3, 3, 3)), v, atol=1e-4)  # spline: to rounding
    True
    """
    v = np.asarray(volume, dtype=np.float32)
    if v.ndim != 3:
        raise ValueError(f"volume must be 3-D (z, y, x), got shape {v.shape}")
    src = np.array(voxel_size3(voxel_size_um))
    dst = np.array(voxel_size3(target_voxel_size_um, "target_voxel_size_um"))
    shape = tuple(int(s) for s in target_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"target_shape must be 3 positive integers, got {target_shape!r}")
    scale = dst / src
    offset = (np.array(v.shape) - 1) / 2 - scale * (np.array(shape) - 1) / 2
    out = ndi.affine_transform(v, scale, offset=offset, output_shape=shape, order=order, mode="nearest")
    # 'nearest' extends the edge by half a voxel without NaN bleeding through the
    # interpolation; beyond that the output has no data
    inside = np.ones(shape, bool)
    for ax in range(3):
        coord = offset[ax] + scale[ax] * np.arange(shape[ax])
        ok = (coord >= -0.5) & (coord <= v.shape[ax] - 0.5)
        inside &= ok.reshape([-1 if a == ax else 1 for a in range(3)])
    out[~inside] = fill_value
    return out.astype(np.float32)


def _extend_into_no_data(a: np.ndarray) -> np.ndarray:
    """``a`` with each non-finite voxel replaced by its nearest finite one.

    A cubic spline's prefilter rings against a step to zero: at a NaN slice
    set to 0 it puts 14 % of the value into the next slice and 4 % into the one
    after, far above an edge jump. Extended data have no step to ring against;
    the voxels that truly sample no data are removed after the resampling.
    """
    finite = np.isfinite(a)
    if finite.all() or not finite.any():
        return np.nan_to_num(a)
    full = finite.all(axis=(1, 2))
    if (finite == full[:, None, None]).all():  # whole slices missing (detector rows): cheap, 1-D
        (pick,) = ndi.distance_transform_edt(~full, return_distances=False, return_indices=True)
        return a[pick]
    idx = ndi.distance_transform_edt(~finite, return_distances=False, return_indices=True)
    return a[tuple(idx)]


def _image(a: np.ndarray, spacing) -> sitk.Image:
    # the grid centre sits at the physical origin, so volumes of different voxel
    # sizes (zone-plate magnification) share the rotation axis and middle row
    img = sitk.GetImageFromArray(np.ascontiguousarray(a, dtype=np.float32))
    sp = np.asarray(spacing, float)[::-1]
    img.SetSpacing(tuple(float(s) for s in sp))
    img.SetOrigin(tuple(float(o) for o in -0.5 * (np.array(img.GetSize()) - 1) * sp))
    return img


_INTERPOLATORS = {"linear": sitk.sitkLinear, "bspline": sitk.sitkBSpline, "lanczos": sitk.sitkLanczosWindowedSinc}


def _resample(m: np.ndarray, mi: sitk.Image, fi: sitk.Image, tx: sitk.Transform, interpolator: str,
              fill_value: float) -> np.ndarray:
    """``m`` (as the image ``mi``) on the grid of ``fi`` through ``tx``, NaN and ``fill_value`` as no data."""
    # out-of-grid voxels come back NaN; voxels interpolated from a non-finite
    # one are no data as well, which is what "no data" means
    moved = sitk.GetArrayFromImage(sitk.Resample(mi, fi, tx, _INTERPOLATORS[interpolator], np.nan,
                                                 sitk.sitkFloat32))
    if not np.isfinite(m).all():
        lost = sitk.Resample(_image(np.isfinite(m).astype(np.float32), mi.GetSpacing()[::-1]), fi, tx,
                             sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        moved[sitk.GetArrayViewFromImage(lost) < 0.999] = np.nan
    moved[np.isnan(moved)] = fill_value
    return moved.astype(np.float32, copy=False)


def apply_registration(reg, moving, fixed_shape, voxel_size_um=1.0, *,
                       fill_value: float = np.nan, nan_is_absent: bool = False) -> np.ndarray:
    """Resample another volume of the moving grid exactly as ``reg.moved`` was made.

    For volumes that must follow the same transform without being registered
    themselves: the half-scan reconstructions of `pipeline.uncertainty`, which
    must see the same interpolation as the full volume.

    Parameters
    ----------
    reg : Registration
        From `register_volume`.
    moving : ndarray (z, y, x)
        On the moving volume's grid (voxel size ``reg.moving_voxel_size_um``).
    fixed_shape : 3 int
        Shape of the fixed volume.
    voxel_size_um : float or 3 floats
        The fixed volume's voxel size (as given to `register_volume`).
    fill_value : float
    nan_is_absent : bool
        NaN in ``moving`` means "nothing here" (a Li map outside the active
        material), not "no data": NaN voxels are extended by their nearest
        finite voxel and resampled as data, so the result is finite wherever
        the moving grid covers it (mask it afterwards with the moved mask).
        Default: NaN is no data, and every voxel interpolated from one is too.

    Examples
    --------
    A second volume on the moving grid (here the same one, scaled) follows exactly:

    >>> import numpy as np
    >>> from trixanes.pipeline.register import register_volume
    >>> cube = np.zeros((24, 24, 24), np.float32); cube[6:18, 8:20, 6:18] = 1.0
    >>> r = register_volume(np.roll(cube, 2, axis=1), cube, transform="translation")
    >>> bool(np.allclose(apply_registration(r, 2 * cube, cube.shape), 2 * r.moved, equal_nan=True))
    True
    """
    m = np.asarray(moving, dtype=np.float32)
    if m.ndim != 3:
        raise ValueError(f"moving must be 3-D (z, y, x), got shape {m.shape}")
    filled = _extend_into_no_data(m)
    mi = _image(filled, reg.moving_voxel_size_um)
    fi = _image(np.zeros(tuple(int(n) for n in fixed_shape), np.float32), voxel_size3(voxel_size_um))
    return _resample(filled if nan_is_absent else m, mi, fi, reg.transform, reg.interpolator, fill_value)


def carry_labels(reg, labels, moving_shape, voxel_size_um=1.0) -> np.ndarray:
    """Labels of the fixed grid carried onto the moving grid (nearest neighbour), 0 off the fixed grid.

    The inverse of `apply_registration`'s direction, through the linear stage
    only (a rigid or similarity transform): a series' first-state particle
    labels on a later state's own grid, so that its Li map is never resampled.

    Examples
    --------
    >>> from trixanes.pipeline.register import register_volume
    >>> cube = np.zeros((24, 24, 24), np.float32); cube[6:18, 8:20, 6:18] = 1.0
    >>> r = register_volume(cube, np.roll(cube, 2, axis=1), transform="rigid")
    >>> lab = (cube > 0).astype(np.int32)
    >>> bool((carry_labels(r, lab, cube.shape) == np.roll(lab, 2, axis=1)).mean() > 0.99)
    True
    """
    lab = np.asarray(labels)
    if lab.ndim != 3:
        raise ValueError(f"labels must be 3-D (z, y, x), got shape {lab.shape}")
    fi = sitk.GetImageFromArray(np.ascontiguousarray(lab, dtype=np.int32))
    fi.CopyInformation(_image(np.zeros(lab.shape, np.float32), voxel_size3(voxel_size_um)))
    mi = _image(np.zeros(tuple(int(n) for n in moving_shape), np.float32), reg.moving_voxel_size_um)
    linear = reg.transform.GetNthTransform(0) if reg.transform.GetName() == "CompositeTransform" else reg.transform
    out = sitk.Resample(fi, mi, linear.GetInverse(), sitk.sitkNearestNeighbor, 0, sitk.sitkInt32)
    return sitk.GetArrayFromImage(out).astype(np.int32)


def rotation_zyx(reg) -> np.ndarray:
    """The rotation of the linear stage as a 3 x 3 matrix on (z, y, x) vectors.

    Maps a direction in the fixed volume to the same direction in the moving one.
    """
    linear = reg.transform.GetNthTransform(0) if reg.transform.GetName() == "CompositeTransform" else reg.transform
    if linear.GetName() == "TranslationTransform":
        return np.eye(3)
    a = np.array(linear.GetMatrix()).reshape(3, 3) / reg.scale
    return a[::-1, ::-1].copy()  # (x, y, z) rows and columns reversed into (z, y, x)
