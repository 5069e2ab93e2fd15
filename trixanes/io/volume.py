"""``volume.h5``: one reconstructed tomogram, as ``trixanes reconstruct`` writes it.

The one home of the format: dataset and attribute names, the streaming writer
(`create_volume` makes the file, the reconstruction fills it a chunk of rows at a
time, `VolumeMeta` is written last) and the reader.

``/volume`` is (z, y, x) float32: linear attenuation in 1/µm when the pixel size
is known, per pixel otherwise (``units`` says which). Optional ``/half_a`` and
``/half_b`` (same shape, units and centre) are reconstructions from the two
interleaved halves of the projections, for the noise estimate of
`trixanes.pipeline.uncertainty`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from trixanes._shared.atomic import atomic_path
from trixanes._shared.provenance import Provenance
from trixanes.io._records import attr_text, open_hdf5, provenance_attr

__all__ = ["VOLUME", "HALVES", "UNITS", "VolumeMeta", "Volume", "create_volume", "write_volume_meta",
           "read_volume_meta", "read_volume_file"]

#: the one dataset, (z, y, x) float32
VOLUME = "volume"
#: optional reconstructions of the even and odd projections (in the order of their angles)
HALVES = ("half_a", "half_b")
#: accepted values of ``/volume``'s ``units`` attribute
UNITS = ("1/um", "1/pixel")


@dataclass(frozen=True)
class VolumeMeta:
    """The attributes of a ``volume.h5``.

    Attributes
    ----------
    rotation_center : float
        Rotation axis used, a 0-based detector column (px).
    algorithm : str
        ``fbp``, ``sirt``, ``os-sirt`` or ``cgls``.
    units : {"1/um", "1/pixel"}
    voxel_size_um : float or None
        None when the scan had no pixel size.
    energy_kev : float or None
    source : str
        The scan file reconstructed.
    notes : tuple of str
        What the run found and chose, one line each.
    provenance : Provenance or None
        Version, options, rotation centre, inputs (with SHA-256), warnings.
    """

    rotation_center: float
    algorithm: str
    units: str
    voxel_size_um: float | None = None
    energy_kev: float | None = None
    source: str = ""
    notes: tuple = ()
    provenance: Provenance | None = None


@dataclass(frozen=True, eq=False)
class Volume:
    """A tomogram and its `VolumeMeta`."""

    volume: np.ndarray
    meta: VolumeMeta
    path: Path | None = None


@contextlib.contextmanager
def create_volume(path: str | os.PathLike, shape, *, halves: bool = False) -> Iterator[h5py.Dataset]:
    """Create ``volume.h5`` with an empty ``/volume`` (chunks of one slice), atomically.

    The caller fills the dataset and calls `write_volume_meta` on it before the
    block ends; the file appears at ``path`` only if the block succeeds. With
    ``halves``, empty ``/half_a`` and ``/half_b`` of the same shape are made too
    (``ds.file[name]``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "volume.h5"
    >>> with create_volume(p, (2, 4, 4)) as ds:
    ...     ds[...] = 0.5
    ...     write_volume_meta(ds, VolumeMeta(31.5, "fbp", "1/um", voxel_size_um=0.1))
    >>> read_volume_meta(p).rotation_center
    31.5
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be 3 positive ints (z, y, x), got {shape}")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name in HALVES if halves else ():
            f.create_dataset(name, shape=shape, dtype="float32", chunks=(1,) + shape[1:])
        yield f.create_dataset(VOLUME, shape=shape, dtype="float32", chunks=(1,) + shape[1:])


def write_volume_meta(ds: h5py.Dataset, meta: VolumeMeta) -> None:
    """Write ``meta`` onto ``/volume`` (and the file's root) of an open file."""
    if meta.units not in UNITS:
        raise ValueError(f"units must be one of {', '.join(UNITS)}, got {meta.units!r}")
    ds.attrs["rotation_center"] = float(meta.rotation_center)
    ds.attrs["algorithm"] = str(meta.algorithm)
    ds.attrs["units"] = meta.units
    if meta.voxel_size_um is not None:
        ds.attrs["voxel_size_um"] = float(meta.voxel_size_um)
    if meta.energy_kev is not None:
        ds.attrs["energy_kev"] = float(meta.energy_kev)
    root = ds.file.attrs
    root["source"] = str(meta.source)
    root["notes"] = "\n".join(meta.notes)
    if meta.provenance is not None:
        root["provenance"] = meta.provenance.to_json()


def _open(path):
    path, f = open_hdf5(path)
    if VOLUME not in f or not isinstance(f[VOLUME], h5py.Dataset):
        f.close()
        raise ValueError(f"{path}: missing dataset /{VOLUME}")
    return path, f


def _meta(path, ds) -> VolumeMeta:
    if ds.ndim != 3 or ds.dtype.kind != "f":
        raise ValueError(f"{path}: dataset /{VOLUME} must be 3-D floating point (z, y, x), "
                         f"has shape {ds.shape} and dtype {ds.dtype}")
    a, root = ds.attrs, ds.file.attrs
    for name in ("rotation_center", "algorithm"):
        if name not in a:
            raise ValueError(f"{path}: dataset /{VOLUME} lacks the attribute '{name}'")
    units = attr_text(a.get("units", "1/um" if "voxel_size_um" in a else "1/pixel"))
    if units not in UNITS:
        raise ValueError(f"{path}: attribute /{VOLUME} 'units' must be one of {', '.join(UNITS)}, got {units!r}")

    def number(name):
        if name not in a:
            return None
        v = float(np.asarray(a[name], np.float64).ravel()[0])
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"{path}: attribute /{VOLUME} '{name}' must be a positive number, got {v}")
        return v

    prov = None
    if "provenance" in root:
        prov = provenance_attr(path, root["provenance"])
    notes = attr_text(root.get("notes", ""))
    return VolumeMeta(float(a["rotation_center"]), attr_text(a["algorithm"]), units,
                      number("voxel_size_um"), number("energy_kev"), attr_text(root.get("source", "")),
                      tuple(notes.splitlines()), prov)


def read_volume_meta(path: str | os.PathLike) -> VolumeMeta:
    """The attributes of a ``volume.h5``, without reading the tomogram."""
    path, f = _open(path)
    with f:
        return _meta(path, f[VOLUME])


def read_volume_file(path: str | os.PathLike) -> Volume:
    """Read and check a ``volume.h5``.

    Raises
    ------
    ValueError
        Naming the file and the dataset or attribute that is missing or malformed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "volume.h5"
    >>> with h5py.File(p, "w") as f:
    ...     f["volume"] = np.zeros((2, 2, 2), np.float32)
    >>> read_volume_file(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: .../volume.h5: dataset /volume lacks the attribute 'rotation_center'
    """
    path, f = _open(path)
    with f:
        meta = _meta(path, f[VOLUME])
        return Volume(f[VOLUME][()].astype(np.float32, copy=False), meta, path)

