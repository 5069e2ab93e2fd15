"""Reading Data Exchange scans: metadata (`scan_info`), images (`read_scan`), and their storage layout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from trixanes.io._records import open_hdf5
from trixanes.io.dataexchange.schema import (DARKS, DATA, ENERGY, FLATS, FRAME_ENERGY, PIXEL, ScanError,
                                             THETA, _ANGLE_RADIANS, _ENERGY_UNITS, _FRAME_ENERGY_RTOL,
                                             _J_PER_KEV, _LENGTH_UNITS, _OVERRIDE_RTOL, check_override)


@dataclass(frozen=True)
class ScanInfo:
    """Shapes and metadata of a scan, read without the image data.

    Attributes
    ----------
    path : Path
    n_angles, n_rows, n_cols, n_flats, n_darks : int
    theta_deg : float64 array (angle,)
    energy_kev, pixel_size_um : float or None
        The values used: the option when one was given, else the file's.
    notes : tuple of str
        Where each value came from, unit conversions, and missing metadata
        (lines starting ``"warning: "``, see `warnings`).
    energy_source, pixel_size_source : {"file", "option"} or None
        Where ``energy_kev`` and ``pixel_size_um`` came from; None when missing.
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
    energy_source: str | None = None
    pixel_size_source: str | None = None

    @property
    def warnings(self) -> tuple[str, ...]:
        """The notes that are warnings (missing energy or pixel size)."""
        return tuple(n for n in self.notes if n.startswith("warning: "))


@dataclass(frozen=True, eq=False)
class Scan:
    """One scan: images (float32), angles and metadata (as in `ScanInfo`).

    Attributes
    ----------
    data : float32 array (angle, row, col)
    flats, darks : float32 arrays (n, row, col)
    theta_deg : float64 array (angle,)
    energy_kev, pixel_size_um : float or None
    path : Path
    notes : tuple of str
    energy_source, pixel_size_source : {"file", "option"} or None
    """

    data: np.ndarray
    flats: np.ndarray
    darks: np.ndarray
    theta_deg: np.ndarray
    energy_kev: float | None
    pixel_size_um: float | None
    path: Path
    notes: tuple[str, ...]
    energy_source: str | None = None
    pixel_size_source: str | None = None


# --- reading ----------------------------------------------------------------
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
    v = np.asarray(_dataset(f, path, name)[()], dtype=np.float64)
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


def _file_energy(f, path: Path, notes: list[str]) -> tuple[float | None, str]:
    """The file's energy in keV (or None) and where it was read (or what is absent)."""
    if ENERGY in f:
        return _energy_to_kev(_scalar(f, path, ENERGY), _units(f[ENERGY]), ENERGY, notes, path), ENERGY
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
        return kev, f"per-frame {FRAME_ENERGY} ({e.size} frames, constant)"
    return None, f"{ENERGY} and {FRAME_ENERGY} absent"


def _file_pixel(f, path: Path, notes: list[str]) -> tuple[float | None, str]:
    """The file's pixel size in µm (or None) and where it was read (or what is absent)."""
    if PIXEL not in f:
        return None, f"{PIXEL} absent"
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
    return um, PIXEL


def _choose(what: str, unit: str, from_file: float | None, where: str, given: float | None,
            notes: list[str], missing: str) -> tuple[float | None, str | None]:
    """The value used and its source; one note says which and why (the option wins)."""
    if given is None:
        if from_file is None:
            notes.append("warning: " + missing.format(where=where))
            return None, None
        notes.append(f"{what} {from_file:.6g} {unit} from {where}")
        return from_file, "file"
    if from_file is None:
        notes.append(f"{what} {given:g} {unit} from the option (the file records none: {where})")
    elif abs(given - from_file) > _OVERRIDE_RTOL * abs(from_file):
        notes.append(f"{what} {given:g} {unit} from the option overrides the file's "
                     f"{from_file:.6g} {unit} ({where})")
    else:
        notes.append(f"{what} {given:g} {unit} from the option, as the file records ({where})")
    return given, "option"


def _read_theta(f, path: Path, n_angles: int, notes: list[str]) -> np.ndarray:
    ds = _dataset(f, path, THETA)
    theta = np.asarray(ds[()], dtype=np.float64).ravel()
    if theta.size != n_angles:
        raise ScanError(f"{path}: {THETA} has {theta.size} angles but {DATA} has {n_angles} projections")
    if not np.isfinite(theta).all():
        raise ScanError(f"{path}: {THETA} contains NaN or inf")
    units = _units(ds)
    if units is not None and units.lower() in _ANGLE_RADIANS:
        notes.append(f"{THETA} converted from radians to degrees")
        theta = np.rad2deg(theta)
    elif units is None:
        notes.append(f"{THETA} has no units attribute; read as degrees")
    return theta


def _open(path) -> tuple[Path, h5py.File]:
    return open_hdf5(path, ScanError)


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


def scan_info(path, *, pixel_size_um: float | None = None, energy_kev: float | None = None) -> ScanInfo:
    """Read a scan's shapes and metadata only (cheap; for planning chunks).

    Parameters
    ----------
    path : path-like
        Data Exchange HDF5 file.
    pixel_size_um, energy_kev : float, optional
        Pixel size at the sample (µm) and photon energy (keV) to use instead
        of the file's (for files that lack them, or record them wrongly); a
        note says when one contradicts the file.

    Returns
    -------
    ScanInfo

    Raises
    ------
    ScanError
        As `read_scan` (except for the image values, not read here).
    ValueError
        An override that is not a positive finite number.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from trixanes.io.dataexchange import write_scan
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "scan.h5"
    >>> _ = write_scan(out, np.full((4, 2, 3), 500.0), np.full((2, 2, 3), 1000.0), np.zeros((2, 2, 3)),
    ...                [0, 45, 90, 135], 8.35, 0.08)
    >>> info = scan_info(out)
    >>> info.n_angles, info.n_rows, info.n_cols, info.energy_kev, info.pixel_size_source
    (4, 2, 3, 8.35, 'file')
    >>> scan_info(out, pixel_size_um=0.1).notes[-1]
    "pixel size 0.1 µm from the option overrides the file's 0.08 µm (/measurement/instrument/detection_system/objective/resolution)"
    """
    given_pixel = check_override("pixel_size_um", pixel_size_um, "µm")
    given_energy = check_override("energy_kev", energy_kev, "keV")
    p, f = _open(path)
    notes: list[str] = []
    try:
        with f:
            shapes = _check_images(f, p)
            theta = _read_theta(f, p, shapes[DATA][0], notes)
            energy = _choose("energy", "keV", *_file_energy(f, p, notes), given_energy, notes,
                             "no photon energy recorded ({where})")
            pixel = _choose("pixel size", "µm", *_file_pixel(f, p, notes), given_pixel, notes,
                            "no pixel size recorded ({where}): results are per pixel")
    except (OSError, KeyError, RuntimeError) as exc:
        raise ScanError(f"{p}: damaged or truncated file ({exc})") from exc
    n, r, c = shapes[DATA]
    return ScanInfo(p, n, r, c, shapes[FLATS][0], shapes[DARKS][0], theta, energy[0], pixel[0], tuple(notes),
                    energy_source=energy[1], pixel_size_source=pixel[1])


def read_scan(path, rows: slice | None = None, *, pixel_size_um: float | None = None,
              energy_kev: float | None = None) -> Scan:
    """Read a Data Exchange scan, optionally only a band of detector rows.

    Parameters
    ----------
    path : path-like
        Data Exchange HDF5 file.
    rows : slice, optional
        Detector rows to read (chunked processing); default all.
    pixel_size_um, energy_kev : float, optional
        Overrides of the file's metadata, as in `scan_info`.

    Returns
    -------
    Scan

    Raises
    ------
    ScanError
        Naming the file and the dataset: not a file, not HDF5, truncated,
        missing dataset, wrong ndim, mismatched shapes, bad angles, flats not
        brighter than darks, empty data, unknown units.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from trixanes.io.dataexchange import write_scan
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "scan.h5"
    >>> _ = write_scan(out, np.full((4, 2, 3), 500.0), np.full((2, 2, 3), 1000.0), np.zeros((2, 2, 3)),
    ...                [0, 45, 90, 135], 8.35, 0.08)
    >>> read_scan(out, rows=slice(0, 1)).data.shape
    (4, 1, 3)
    """
    if rows is not None and not isinstance(rows, slice):
        raise ValueError(f"rows must be a slice or None, got {type(rows).__name__}")
    info = scan_info(path, pixel_size_um=pixel_size_um, energy_kev=energy_kev)
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
    return Scan(data, flats, darks, info.theta_deg, info.energy_kev, info.pixel_size_um, p, info.notes,
                info.energy_source, info.pixel_size_source)


# --- the storage layout of /exchange/data -----------------------------------
def needs_row_copy(path, rows_per_chunk: int) -> bool:
    """True when reading ``rows_per_chunk`` detector rows decompresses whole frames.

    A compressed `DATA` stored in chunks of many rows (typically one chunk per
    projection) is decompressed completely for every band of rows read:
    ``n_rows / rows_per_chunk`` times in all.
    """
    p, f = _open(path)
    with f:
        ds = _dataset(f, p, DATA)
        filtered = bool(ds.id.get_create_plist().get_nfilters())  # compression among them
        return ds.chunks is not None and filtered and ds.chunks[1] > 2 * rows_per_chunk


def row_chunked_copy(path, dest, rows_per_chunk: int, budget_bytes: float = 512e6) -> Path:
    """Copy a scan to ``dest`` with `DATA` uncompressed in bands of rows.

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
