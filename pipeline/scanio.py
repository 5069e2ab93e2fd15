"""Reader of Data Exchange scan files (APS layout used at TXM beamlines).

Reads projections, flats, darks and angles, the photon energy and the pixel
size, converting units from ``units`` attributes (or, without one, from the
magnitude, saying so) and checking the file's consistency. Every problem is a
`ScanError` naming the file and the dataset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

__all__ = ["Scan", "ScanError", "ScanInfo", "needs_row_copy", "read_scan", "row_chunked_copy", "scan_info"]

DATA, FLATS, DARKS, THETA = "/exchange/data", "/exchange/data_white", "/exchange/data_dark", "/exchange/theta"
ENERGY = "/measurement/instrument/monochromator/energy"
FRAME_ENERGY = "/exchange/energy"
PIXEL = "/measurement/instrument/detection_system/objective/resolution"
_J_PER_KEV = 1.602176634e-16
_ENERGY_UNITS = {"kev": 1.0, "ev": 1e-3, "j": 1.0 / _J_PER_KEV, "joule": 1.0 / _J_PER_KEV, "joules": 1.0 / _J_PER_KEV}
_LENGTH_UNITS = {
    "um": 1.0, "µm": 1.0, "μm": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0, "micrometre": 1.0,
    "nm": 1e-3, "mm": 1e3, "m": 1e6,
}
_FRAME_ENERGY_RTOL = 1e-4  # 0.8 eV at 8.3 keV: well below a XANES energy step


class ScanError(ValueError):
    """A scan file that cannot be read or is inconsistent (names file and dataset)."""


@dataclass(frozen=True)
class ScanInfo:
    """Shapes and metadata of a scan, read without the image data.

    Attributes
    ----------
    path : Path
    n_angles, n_rows, n_cols, n_flats, n_darks : int
    theta_deg : float64 array (angle,)
    energy_kev, pixel_size_um : float or None
    notes : tuple of str
        Where the energy came from, unit conversions, missing metadata.
    """

    path: Path
    n_angles: int
    n_rows: int
    n_cols: int
    n_flats: int
    n_darks: int
    theta_deg: np.ndarray
    energy_kev: float | None
    pixel_size_um: float | None
    notes: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Scan:
    """One scan: images (float32), angles and metadata.

    Attributes
    ----------
    data : float32 array (angle, row, col)
    flats, darks : float32 arrays (n, row, col)
    theta_deg : float64 array (angle,)
    energy_kev, pixel_size_um : float or None
    path : Path
    notes : tuple of str
    """

    data: np.ndarray
    flats: np.ndarray
    darks: np.ndarray
    theta_deg: np.ndarray
    energy_kev: float | None
    pixel_size_um: float | None
    path: Path
    notes: tuple[str, ...]


def _units(ds) -> str | None:
    u = ds.attrs.get("units")
    if u is None:
        return None
    if isinstance(u, np.ndarray):
        u = u.flat[0] if u.size else ""
    if isinstance(u, bytes):
        u = u.decode("utf-8", "replace")
    u = str(u).strip()
    return u or None


def _dataset(f, path: Path, name: str):
    if name not in f:
        raise ScanError(f"{path}: missing dataset {name}")
    ds = f[name]
    if not isinstance(ds, h5py.Dataset):
        raise ScanError(f"{path}: {name} is not a dataset")
    return ds


def _scalar(f, path: Path, name: str) -> float:
    v = np.asarray(f[name][()], dtype=np.float64)
    if v.size != 1 or not np.isfinite(v).all():
        raise ScanError(f"{path}: {name} must be one finite number, got shape {v.shape}")
    return float(v.ravel()[0])


def _energy_to_kev(value: float, units: str | None, where: str, notes: list[str], path: Path) -> float:
    if units is not None:
        key = units.lower()
        if key not in _ENERGY_UNITS:
            raise ScanError(f"{path}: {where} has unknown energy units {units!r}")
        kev = value * _ENERGY_UNITS[key]
        if key != "kev":
            notes.append(f"energy {value:g} {units} from {where} converted to {kev:.6g} keV")
        return kev
    if value < 1e-10:
        kev, guess = value / _J_PER_KEV, "J (the Data Exchange default)"
    elif value < 200.0:
        kev, guess = value, "keV"
    else:
        kev, guess = value * 1e-3, "eV"
    notes.append(f"{where} has no units attribute; {value:g} read as {guess} from its magnitude -> {kev:.6g} keV")
    return kev


def _read_energy(f, path: Path, notes: list[str]) -> float | None:
    if ENERGY in f:
        kev = _energy_to_kev(_scalar(f, path, ENERGY), _units(f[ENERGY]), ENERGY, notes, path)
        notes.append(f"energy {kev:.6g} keV from {ENERGY}")
        return kev
    if FRAME_ENERGY in f:
        e = np.asarray(f[FRAME_ENERGY][()], dtype=np.float64).ravel()
        if e.size == 0 or not np.isfinite(e).all():
            raise ScanError(f"{path}: {FRAME_ENERGY} is empty or not finite")
        mean = float(e.mean())
        if np.ptp(e) > _FRAME_ENERGY_RTOL * abs(mean):
            raise ScanError(
                f"{path}: {FRAME_ENERGY} varies over the frames ({e.min():g} to {e.max():g}); "
                "a tomogram needs one energy (split the XANES stack by energy first)"
            )
        kev = _energy_to_kev(mean, _units(f[FRAME_ENERGY]), FRAME_ENERGY, notes, path)
        notes.append(f"energy {kev:.6g} keV from per-frame {FRAME_ENERGY} ({e.size} frames, constant)")
        return kev
    notes.append(f"no photon energy recorded ({ENERGY} and {FRAME_ENERGY} absent)")
    return None


def _read_pixel(f, path: Path, notes: list[str]) -> float | None:
    if PIXEL not in f:
        notes.append(f"no pixel size recorded ({PIXEL} absent): results are per pixel")
        return None
    value, units = _scalar(f, path, PIXEL), _units(f[PIXEL])
    if units is not None:
        key = units.lower()
        if key not in _LENGTH_UNITS:
            raise ScanError(f"{path}: {PIXEL} has unknown length units {units!r}")
        um = value * _LENGTH_UNITS[key]
        if _LENGTH_UNITS[key] != 1.0:
            notes.append(f"pixel size {value:g} {units} converted to {um:.6g} µm")
    else:
        if value < 1e-3:
            um, guess = value * 1e6, "m"
        elif value <= 100.0:
            um, guess = value, "µm"
        else:
            um, guess = value * 1e-3, "nm"
        notes.append(f"{PIXEL} has no units attribute; {value:g} read as {guess} from its magnitude -> {um:.6g} µm")
    if not um > 0:
        raise ScanError(f"{path}: {PIXEL} must be positive, got {value!r}")
    return um


def _read_theta(f, path: Path, n_angles: int, notes: list[str]) -> np.ndarray:
    ds = _dataset(f, path, THETA)
    theta = np.asarray(ds[()], dtype=np.float64).ravel()
    if theta.size != n_angles:
        raise ScanError(f"{path}: {THETA} has {theta.size} angles but {DATA} has {n_angles} projections")
    if not np.isfinite(theta).all():
        raise ScanError(f"{path}: {THETA} contains NaN or inf")
    units = _units(ds)
    if units is not None and units.lower() in ("rad", "radian", "radians"):
        notes.append(f"{THETA} converted from radians to degrees")
        theta = np.rad2deg(theta)
    elif units is None:
        notes.append(f"{THETA} has no units attribute; read as degrees")
    return theta


def _open(path) -> tuple[Path, h5py.File]:
    p = Path(os.fspath(path))
    if not p.is_file():
        raise ScanError(f"{p}: not a file")
    try:
        return p, h5py.File(p, "r")
    except OSError as exc:
        raise ScanError(f"{p}: not a readable HDF5 file ({exc})") from exc


def _check_images(f, path: Path):
    shapes = {}
    for name in (DATA, FLATS, DARKS):
        ds = _dataset(f, path, name)
        if ds.ndim != 3:
            raise ScanError(f"{path}: {name} must be 3-D (n, row, col), got shape {ds.shape}")
        if 0 in ds.shape:
            raise ScanError(f"{path}: {name} is empty, shape {ds.shape}")
        shapes[name] = ds.shape
    for name in (FLATS, DARKS):
        if shapes[name][1:] != shapes[DATA][1:]:
            raise ScanError(f"{path}: {name} frames are {shapes[name][1:]}, {DATA} frames are {shapes[DATA][1:]}")
    return shapes


def scan_info(path) -> ScanInfo:
    """Read a scan's shapes and metadata only (cheap; for planning chunks).

    Parameters
    ----------
    path : path-like
        Data Exchange HDF5 file.

    Returns
    -------
    ScanInfo

    Examples
    --------
    >>> info = scan_info("/work/shared/data/tooth_dataexchange.h5")  # doctest: +SKIP
    >>> info.n_angles, info.n_rows, info.n_cols  # doctest: +SKIP
    (181, 2, 640)
    """
    p, f = _open(path)
    notes: list[str] = []
    try:
        with f:
            shapes = _check_images(f, p)
            theta = _read_theta(f, p, shapes[DATA][0], notes)
            energy = _read_energy(f, p, notes)
            pixel = _read_pixel(f, p, notes)
    except (OSError, KeyError, RuntimeError) as exc:
        raise ScanError(f"{p}: damaged or truncated file ({exc})") from exc
    n, r, c = shapes[DATA]
    return ScanInfo(p, n, r, c, shapes[FLATS][0], shapes[DARKS][0], theta, energy, pixel, tuple(notes))


def read_scan(path, rows: slice | None = None) -> Scan:
    """Read a Data Exchange scan, optionally only a band of detector rows.

    Parameters
    ----------
    path : path-like
        Data Exchange HDF5 file.
    rows : slice, optional
        Detector rows to read (chunked processing); default all.

    Returns
    -------
    Scan

    Raises
    ------
    ScanError
        Naming the file and the dataset: not a file, not HDF5, truncated,
        missing dataset, wrong ndim, mismatched shapes, bad angles, flats not
        brighter than darks, empty data.

    Examples
    --------
    >>> scan = read_scan("/work/shared/data/tooth_dataexchange.h5", rows=slice(0, 1))  # doctest: +SKIP
    >>> scan.data.shape  # doctest: +SKIP
    (181, 1, 640)
    """
    if rows is not None and not isinstance(rows, slice):
        raise ValueError(f"rows must be a slice or None, got {type(rows).__name__}")
    info = scan_info(path)
    sel = slice(None) if rows is None else rows
    if len(range(*sel.indices(info.n_rows))) == 0:
        raise ValueError(f"rows={rows!r} selects no detector row of {info.n_rows}")
    p, f = _open(path)
    try:
        with f:
            data, flats, darks = (np.asarray(f[n][:, sel, :], dtype=np.float32) for n in (DATA, FLATS, DARKS))
    except (OSError, KeyError, RuntimeError, TypeError) as exc:
        raise ScanError(f"{p}: could not read the image datasets ({exc})") from exc
    for name, a in ((DATA, data), (FLATS, flats), (DARKS, darks)):
        if not np.isfinite(a).all():
            raise ScanError(f"{p}: {name} contains NaN or inf")
    if float(flats.mean()) <= float(darks.mean()):
        raise ScanError(
            f"{p}: {FLATS} (mean {flats.mean():.4g}) is not brighter than {DARKS} (mean {darks.mean():.4g}); "
            "flats and darks swapped?"
        )
    return Scan(data, flats, darks, info.theta_deg, info.energy_kev, info.pixel_size_um, p, info.notes)


def needs_row_copy(path, rows_per_chunk: int) -> bool:
    """True when reading ``rows_per_chunk`` detector rows decompresses whole frames.

    A compressed ``/exchange/data`` stored in chunks of many rows (typically one
    chunk per projection) is decompressed completely for every band of rows
    read: ``n_rows / rows_per_chunk`` times in all.
    """
    p, f = _open(path)
    with f:
        ds = _dataset(f, p, DATA)
        filtered = bool(ds.id.get_create_plist().get_nfilters())  # compression among them
        return ds.chunks is not None and filtered and ds.chunks[1] > 2 * rows_per_chunk


def row_chunked_copy(path, dest, rows_per_chunk: int, budget_bytes: float = 512e6) -> Path:
    """Copy a scan to ``dest`` with ``/exchange/data`` uncompressed in bands of rows.

    One pass over the projections (blocks of whole frames within
    ``budget_bytes``), so that a band of rows is then one contiguous read;
    every other dataset, group and attribute is copied as it is.

    Returns
    -------
    Path
        ``dest``.
    """
    p, f = _open(path)
    dest = Path(dest)
    with f, h5py.File(dest, "w") as g:
        for key, value in f.attrs.items():
            g.attrs[key] = value

        def copy(name, obj):
            if isinstance(obj, h5py.Group):
                g.require_group(name).attrs.update(dict(obj.attrs))
            elif "/" + name != DATA:
                g.create_dataset(name, data=obj[()])
                g[name].attrs.update(dict(obj.attrs))

        f.visititems(copy)
        src = f[DATA]
        n, r, c = src.shape
        out = g.create_dataset(DATA, shape=src.shape, dtype=src.dtype,
                               chunks=(n, max(1, min(r, rows_per_chunk)), c))
        out.attrs.update(dict(src.attrs))
        block = int(max(1, budget_bytes // (r * c * src.dtype.itemsize)))
        for a0 in range(0, n, block):
            out[a0:a0 + block] = src[a0:a0 + block]
    return dest
