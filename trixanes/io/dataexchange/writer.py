"""Writing Data Exchange scans: `ScanWriter` (projections by slabs) and `write_scan`."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import h5py
import numpy as np

from trixanes._shared.atomic import atomic_path
from trixanes.io.dataexchange.schema import (DARKS, DATA, ENERGY, FLATS, IMPLEMENTS, PIXEL, THETA,
                                             WRITTEN_UNITS, _COMPRESSION, check_override)


# --- writing ----------------------------------------------------------------
def counts_dtype(*arrays) -> np.dtype:
    """uint16 if all values are whole numbers in [0, 65535], else float32.

    Examples
    --------
    >>> counts_dtype(np.array([0.0, 70000.0])), counts_dtype(np.array([3.0, 4.0]))
    (dtype('float32'), dtype('uint16'))
    """
    for a in arrays:
        a = np.asarray(a)
        if a.size and (not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 65535
                       or np.any(a != np.round(a))):
            return np.dtype(np.float32)
    return np.dtype(np.uint16)


def _frames(name, a, dtype):
    a = np.asarray(a)
    if a.ndim != 3:
        raise ValueError(f"{name}: need (n, rows, cols), got shape {a.shape}")
    if dtype == np.uint16:
        if a.size and (not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 65535):
            raise ValueError(f"{name}: values do not fit uint16")
        return np.round(a).astype(np.uint16)
    return a.astype(np.float32)


class ScanWriter:
    """Incremental Data Exchange writer: datasets first, projections by slabs.

    Frames are stored as uint16 or float32 (see `counts_dtype`), gzip level 1
    with byte shuffle (fast and readable everywhere). The file appears
    (atomically) only when the block ends without error and every projection
    was written.

    Parameters
    ----------
    path : path-like
        Destination file.
    shape : (n_angles, rows, cols)
        Shape of `DATA`.
    theta_deg : array_like
        Angle of each projection, degrees.
    energy_kev, pixel_size_um : float
        Photon energy and pixel size at the sample.
    dtype : {"uint16", "float32"}
        Storage type of all frames (see `counts_dtype`).
    row_chunk : int, optional
        Store `DATA` in chunks of this many detector rows (for writing by
        bands of rows with `write_rows`); default one chunk per projection.
    **extra_attrs
        Attributes of the file's root group (e.g. provenance).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "scan.h5"
    >>> with ScanWriter(out, (4, 2, 3), [0, 45, 90, 135], 8.3, 0.08) as w:
    ...     w.write_projections(0, np.ones((4, 2, 3)))
    ...     w.write_flats(np.ones((2, 2, 3))); w.write_darks(np.zeros((2, 2, 3)))
    >>> out.exists()
    True
    """

    def __init__(self, path, shape, theta_deg, energy_kev, pixel_size_um, dtype="uint16",
                 row_chunk: int | None = None, **extra_attrs):
        self.path = Path(path)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"shape: need (n_angles, rows, cols) >= 1, got {shape}")
        self.shape = tuple(int(n) for n in shape)
        self.theta = np.asarray(theta_deg, np.float64).ravel()
        if self.theta.size != self.shape[0] or not np.all(np.isfinite(self.theta)):
            raise ValueError("theta_deg: one finite angle per projection")
        self.energy_kev = check_override("energy_kev", energy_kev, "keV")
        self.pixel_size_um = check_override("pixel_size_um", pixel_size_um, "µm")
        if self.energy_kev is None or self.pixel_size_um is None:
            raise ValueError("energy_kev and pixel_size_um are required to write a scan")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.uint16, np.float32):
            raise ValueError(f"dtype: uint16 or float32, got {dtype!r}")
        if row_chunk is not None and not 1 <= int(row_chunk) <= self.shape[1]:
            raise ValueError(f"row_chunk: need 1 .. {self.shape[1]} rows, got {row_chunk!r}")
        self.row_chunk = None if row_chunk is None else int(row_chunk)
        self.extra_attrs = extra_attrs
        self._stack = None

    def __enter__(self) -> "ScanWriter":
        stack = contextlib.ExitStack()
        tmp = stack.enter_context(atomic_path(self.path))
        self._file = stack.enter_context(h5py.File(tmp, "w"))
        self._stack = stack
        f = self._file
        f.create_dataset(IMPLEMENTS, data="exchange:measurement")
        for key, value in self.extra_attrs.items():
            f.attrs[key] = value
        self._data = f.create_dataset(DATA, self.shape, self.dtype, chunks=self._chunks(), **_COMPRESSION)
        for name, value in ((THETA, self.theta), (ENERGY, self.energy_kev), (PIXEL, self.pixel_size_um)):
            f.create_dataset(name, data=value)
        for name in (DATA, THETA, ENERGY, PIXEL):
            f[name].attrs["units"] = WRITTEN_UNITS[name]
        self._written = np.zeros(self.shape[0], bool)
        self._written_rows = np.zeros(self.shape[1], bool)
        return self

    def _chunks(self) -> tuple[int, int, int]:
        n_angles, rows, cols = self.shape
        if self.row_chunk is None:
            return (1, rows, cols)
        # about 1 MiB per chunk: whole bands of rows, as many angles as fit
        per_angle = self.row_chunk * cols * self.dtype.itemsize
        return (int(np.clip(2**20 // per_angle, 1, n_angles)), self.row_chunk, cols)

    def write_projections(self, start: int, slab) -> None:
        """Write projections ``start .. start + len(slab)`` (angle, row, col)."""
        slab = _frames("slab", slab, self.dtype)
        stop = start + slab.shape[0]
        if start < 0 or stop > self.shape[0] or slab.shape[1:] != self.shape[1:]:
            raise ValueError(f"slab: shape {slab.shape} at {start} does not fit {self.shape}")
        self._data[start:stop] = slab
        self._written[start:stop] = True

    def write_rows(self, start: int, block) -> None:
        """Write detector rows ``start .. start + block.shape[1]`` of every projection."""
        block = _frames("block", block, self.dtype)
        stop = start + block.shape[1]
        if (start < 0 or stop > self.shape[1] or block.shape[0] != self.shape[0]
                or block.shape[2] != self.shape[2]):
            raise ValueError(f"block: shape {block.shape} at row {start} does not fit {self.shape}")
        self._data[:, start:stop] = block
        self._written_rows[start:stop] = True

    def _frames_dataset(self, name, frames):
        frames = _frames(name.rpartition("/")[2], frames, self.dtype)
        if frames.shape[1:] != self.shape[1:]:
            raise ValueError(f"{name}: frame shape {frames.shape[1:]} is not {self.shape[1:]}")
        ds = self._file.create_dataset(name, data=frames, chunks=(1,) + self.shape[1:], **_COMPRESSION)
        ds.attrs["units"] = WRITTEN_UNITS[name]

    def write_flats(self, flats) -> None:
        """Write `FLATS` (n, rows, cols)."""
        self._frames_dataset(FLATS, flats)

    def write_darks(self, darks) -> None:
        """Write `DARKS` (n, rows, cols)."""
        self._frames_dataset(DARKS, darks)

    def __exit__(self, exc_type, exc, tb):
        stack, self._stack = self._stack, None
        if exc_type is None:
            missing = [n for n in (FLATS, DARKS) if n not in self._file]
            if missing or not (self._written.all() or self._written_rows.all()):
                what = (f"{(~self._written).sum()} projections" if not self._written_rows.any()
                        else f"{(~self._written_rows).sum()} detector rows")
                err = ValueError(f"{self.path}: incomplete scan, missing {missing or what}")
                stack.__exit__(ValueError, err, None)  # removes the temporary file
                raise err
        return stack.__exit__(exc_type, exc, tb)


def write_scan(path: str | os.PathLike, data, flats, darks, theta_deg, energy_kev: float,
               pixel_size_um: float, dtype: str = "auto", **extra_attrs) -> Path:
    """Write a whole scan as one Data Exchange file, atomically.

    Parameters
    ----------
    path : path-like
        Destination.
    data, flats, darks : array_like
        Projections (angle, row, col), flat and dark fields (n, row, col).
    theta_deg : array_like
        Angle of each projection, degrees.
    energy_kev : float
        Photon energy, keV.
    pixel_size_um : float
        Pixel size at the sample, µm.
    dtype : {"auto", "uint16", "float32"}
        "auto": uint16 when all frames are whole counts that fit, else float32.
    **extra_attrs
        Root attributes.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "s.h5"
    >>> _ = write_scan(out, np.full((2, 1, 2), 0.5), np.ones((1, 1, 2)), np.zeros((1, 1, 2)),
    ...                [0, 90], 8.35, 0.08)
    >>> with h5py.File(out) as f:
    ...     print(f[DATA].dtype)
    float32
    """
    data = np.asarray(data)
    if dtype == "auto":
        dtype = counts_dtype(data, flats, darks)
    if data.ndim != 3:
        raise ValueError(f"data: need (angle, row, col), got shape {data.shape}")
    with ScanWriter(path, data.shape, theta_deg, energy_kev, pixel_size_um, dtype, **extra_attrs) as w:
        w.write_projections(0, data)
        w.write_flats(flats)
        w.write_darks(darks)
    return Path(path)
