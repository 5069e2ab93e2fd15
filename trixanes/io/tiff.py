"""TIFF stacks of a volume, at the right scale in ImageJ/Fiji, Avizo and Dragonfly.

An ImageJ hyperstack (tifffile, ``imagej=True``): one page per z slice, the
voxel size as ``XResolution`` / ``YResolution`` in pixels per µm and ``spacing``
(µm per slice) with ``unit=um`` in the ImageJ description, which is what Fiji
reads as its calibration. ImageJ stores float32, uint16 and uint8 only: labels
are written as uint16 when they fit, else as float32 (exact below 2**24).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tifffile

from trixanes._shared.atomic import atomic_path

__all__ = ["write_tiff_stack", "read_tiff_voxel_um"]


def _voxel3(voxel_size_um) -> tuple:
    v = np.asarray(voxel_size_um, np.float64).ravel()
    if v.size == 1:
        v = np.repeat(v, 3)
    if v.size != 3 or not (np.isfinite(v).all() and (v > 0).all()):
        raise ValueError(f"voxel_size_um: need 1 or 3 positive numbers (z, y, x, µm), got {v.tolist()}")
    return tuple(float(x) for x in v)


def _imagej_dtype(name: str, a: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "f":
        return a.astype(np.float32, copy=False)
    if a.dtype.kind == "b":
        return a.astype(np.uint8)
    if a.dtype.kind in "iu":
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo >= 0 and hi <= np.iinfo(np.uint16).max:
            return a.astype(np.uint16)
        if lo >= -2**24 and hi <= 2**24:
            return a.astype(np.float32)
        raise ValueError(f"{name}: integer values beyond ±2**24 do not fit an ImageJ TIFF")
    raise ValueError(f"{name}: dtype {a.dtype} cannot be written to an ImageJ TIFF")


def write_tiff_stack(path: str | os.PathLike, volume, voxel_size_um, *, name: str = "volume") -> Path:
    """Write a (z, y, x) volume as an ImageJ TIFF stack with its voxel size, atomically.

    Parameters
    ----------
    path : path-like
        Destination (``.tif``).
    volume : ndarray, (z, y, x)
        float (written float32, NaN kept), bool, or integer (uint16 when it fits).
    voxel_size_um : float or 3 floats (z, y, x)
    name : str
        Named in error messages.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_tiff_stack(pathlib.Path(tempfile.mkdtemp()) / "li.tif",
    ...                      np.zeros((3, 4, 5), np.float32), (0.2, 0.1, 0.1))
    >>> tifffile.imread(p).shape, read_tiff_voxel_um(p)
    ((3, 4, 5), (0.2, 0.1, 0.1))
    """
    a = np.asarray(volume)
    if a.ndim != 3 or min(a.shape) < 1:
        raise ValueError(f"{name}: need a non-empty 3-D (z, y, x) volume, got shape {a.shape}")
    vz, vy, vx = _voxel3(voxel_size_um)
    data = _imagej_dtype(name, a)
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, data, imagej=True, resolution=(1.0 / vx, 1.0 / vy),
                         metadata={"axes": "ZYX", "spacing": vz, "unit": "um"})
    return Path(path)


def read_tiff_voxel_um(path: str | os.PathLike) -> tuple:
    """The (z, y, x) voxel size, µm, of an ImageJ TIFF stack (resolution tags + ``spacing``).

    Raises ValueError naming the file when it carries no ImageJ calibration in µm.
    """
    path = Path(path)
    with tifffile.TiffFile(path) as tf:
        ij = tf.imagej_metadata or {}
        page = tf.pages[0]
        xres, yres = page.tags.get("XResolution"), page.tags.get("YResolution")
        if ij.get("unit") not in ("um", "micron", "\\u00B5m", "µm") or xres is None or yres is None:
            raise ValueError(f"{path}: no ImageJ calibration in µm (unit {ij.get('unit')!r})")
        px = [num / den for num, den in (xres.value, yres.value)]
        return (float(ij.get("spacing", 1.0)), round(1.0 / px[1], 12), round(1.0 / px[0], 12))
