"""Data Exchange (APS) scan files, one per energy, written atomically.

Layout (DESIGN.md): ``/exchange/data`` (angle, row, col), ``/exchange/data_white``,
``/exchange/data_dark`` (counts), ``/exchange/theta`` (degrees),
``/measurement/instrument/monochromator/energy`` (keV),
``/measurement/instrument/detection_system/objective/resolution`` (um), each
with a ``units`` attribute, plus the Data Exchange ``/implements`` string.
Frames are stored as uint16 when every value is a whole number in [0, 65535]
(photon counts), else float32 (e.g. noise-free transmission); chunks of one
frame, gzip level 1 with byte shuffle (fast and readable everywhere).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import h5py
import numpy as np

from trixanes._shared.atomic import atomic_path

_ENERGY = "/measurement/instrument/monochromator/energy"
_RESOLUTION = "/measurement/instrument/detection_system/objective/resolution"
_COMPRESSION = {"compression": "gzip", "compression_opts": 1, "shuffle": True}


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

    The file appears (atomically) only when the block ends without error and
    every projection was written.

    Parameters
    ----------
    path : path-like
        Destination file.
    shape : (n_angles, rows, cols)
        Shape of ``/exchange/data``.
    theta_deg : array_like
        Angle of each projection, degrees.
    energy_kev, pixel_size_um : float
        Photon energy and pixel size at the sample.
    dtype : {"uint16", "float32"}
        Storage type of all frames (see :func:`counts_dtype`).
    row_chunk : int, optional
        Store ``/exchange/data`` in chunks of this many detector rows (for
        writing by bands of rows with :meth:`write_rows`); default one chunk
        per projection.
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
        if not (np.isfinite(energy_kev) and energy_kev > 0):
            raise ValueError(f"energy_kev: invalid {energy_kev!r}")
        if not (np.isfinite(pixel_size_um) and pixel_size_um > 0):
            raise ValueError(f"pixel_size_um: invalid {pixel_size_um!r}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.uint16, np.float32):
            raise ValueError(f"dtype: uint16 or float32, got {dtype!r}")
        self.energy_kev, self.pixel_size_um = float(energy_kev), float(pixel_size_um)
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
        f.create_dataset("implements", data="exchange:measurement")
        for key, value in self.extra_attrs.items():
            f.attrs[key] = value
        self._data = f.create_dataset("/exchange/data", self.shape, self.dtype,
                                      chunks=self._chunks(), **_COMPRESSION)
        self._data.attrs["units"] = "counts"
        f.create_dataset("/exchange/theta", data=self.theta).attrs["units"] = "degrees"
        f.create_dataset(_ENERGY, data=self.energy_kev).attrs["units"] = "keV"
        f.create_dataset(_RESOLUTION, data=self.pixel_size_um).attrs["units"] = "um"
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
        frames = _frames(name, frames, self.dtype)
        if frames.shape[1:] != self.shape[1:]:
            raise ValueError(f"{name}: frame shape {frames.shape[1:]} is not {self.shape[1:]}")
        ds = self._file.create_dataset(f"/exchange/{name}", data=frames,
                                       chunks=(1,) + self.shape[1:], **_COMPRESSION)
        ds.attrs["units"] = "counts"

    def write_flats(self, flats) -> None:
        """Write ``/exchange/data_white`` (n, rows, cols)."""
        self._frames_dataset("data_white", flats)

    def write_darks(self, darks) -> None:
        """Write ``/exchange/data_dark`` (n, rows, cols)."""
        self._frames_dataset("data_dark", darks)

    def __exit__(self, exc_type, exc, tb):
        stack, self._stack = self._stack, None
        if exc_type is None:
            missing = [n for n in ("data_white", "data_dark") if n not in self._file["exchange"]]
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
        Pixel size at the sample, um.
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
    ...     print(f["/exchange/data"].dtype)
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
