"""``truth.h5``: the ground truth a simulation writes and validate scores against.

The one home of the format: the phase codes, the dataset and attribute names,
the writer used by both builds of ``simulate`` (the whole phantom in memory and
the tiled one, slab by slab: `create_truth` makes the file, the builder fills
its rows) and the reader, which checks every input once and names the file and
the dataset or attribute that is wrong.

The truth lives on the simulation's fine, cubic grid: ``voxel_size_um`` is one
number. ``origin_um`` is the low corner of voxel ``[0, 0, 0]`` in the frame
whose origin is on the rotation axis at the detector's middle row (the frame of
``limap.h5``); ``simulate`` centres the phantom there, ``-shape / 2 * voxel``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

import h5py
import numpy as np

from trixanes._shared.atomic import atomic_path
from trixanes._shared.provenance import Provenance
from trixanes.io._records import attr_text, open_hdf5, provenance_attr

__all__ = ["PHASE_VOID", "PHASE_PORE", "PHASE_CBD", "PHASE_AM", "PHASE_NAMES", "PHASE_CODES_TEXT",
           "TRUTH_DATASETS", "TRUTH_DTYPES", "TRUTH_REQUIRED_ATTRS", "TRUTH_OPTIONAL_ATTRS",
           "Truth", "truth_attrs", "create_truth", "write_truth", "copy_truth", "read_truth"]

#: phase codes of ``/phase`` (uint8); internal particle pores are ``PHASE_PORE``
PHASE_VOID, PHASE_PORE, PHASE_CBD, PHASE_AM = 0, 1, 2, 3
PHASE_NAMES = {PHASE_VOID: "void", PHASE_PORE: "electrolyte pore", PHASE_CBD: "CBD",
               PHASE_AM: "active material"}
#: the ``codes`` attribute of ``/phase``
PHASE_CODES_TEXT = ", ".join(f"{k} {v}" for k, v in PHASE_NAMES.items())

#: datasets, (z, y, x) each, all required
TRUTH_DATASETS = ("li", "phase", "labels")
TRUTH_DTYPES = {"li": np.float32, "phase": np.uint8, "labels": np.int32}
#: root attributes validate needs
TRUTH_REQUIRED_ATTRS = ("voxel_size_um", "origin_um", "x_pristine", "x_charged")
#: root attributes simulate adds: AM fraction of the sample, the scenario (TOML), provenance (JSON)
TRUTH_OPTIONAL_ATTRS = ("am_fraction", "scenario", "provenance")
_GZIP = dict(compression="gzip", compression_opts=1)


@dataclass(frozen=True, eq=False)
class Truth:
    """The ground truth of a phantom.

    Attributes
    ----------
    li : ndarray of float32, (z, y, x)
        Li content x of Li_x Ni0.5Mn0.3Co0.2O2 in the active material, NaN elsewhere.
    phase : ndarray of uint8
        Phase codes (`PHASE_VOID` ... `PHASE_AM`).
    labels : ndarray of int32
        Particle labels, 0 outside the active material.
    voxel_size_um : float
        Edge of the (cubic) voxels, µm.
    origin_um : tuple of 3 float
        Low corner (z, y, x), µm, of voxel ``[0, 0, 0]`` (see the module notes).
    x_pristine, x_charged : float
        Li contents of the two references of the simulation.
    am_fraction : float or None
        Active-material fraction of the sample, as simulate measured it.
    scenario : str or None
        The scenario, as TOML text.
    provenance : Provenance or None
    path : Path or None
        The file it was read from.
    """

    li: np.ndarray
    phase: np.ndarray
    labels: np.ndarray
    voxel_size_um: float
    origin_um: tuple
    x_pristine: float
    x_charged: float
    am_fraction: float | None = None
    scenario: str | None = None
    provenance: Provenance | None = None
    path: Path | None = None

    @property
    def shape(self) -> tuple:
        return self.li.shape

    @property
    def am_mask(self) -> np.ndarray:
        return self.phase == PHASE_AM


def truth_attrs(shape, voxel_size_um: float, *, x_pristine: float, x_charged: float,
                scenario: str | None = None, provenance: Provenance | None = None) -> dict:
    """The root attributes of a truth centred on the rotation axis.

    Examples
    --------
    >>> truth_attrs((4, 2, 2), 0.5, x_pristine=1.0, x_charged=0.38)["origin_um"]
    [-1.0, -0.5, -0.5]
    """
    v = float(voxel_size_um)
    out = dict(voxel_size_um=v, origin_um=[-(n / 2) * v for n in shape],
               x_pristine=float(x_pristine), x_charged=float(x_charged))
    if scenario is not None:
        out["scenario"] = scenario
    if provenance is not None:
        out["provenance"] = provenance.to_json()
    return out


@contextlib.contextmanager
def create_truth(path: str | os.PathLike, shape, attrs: Mapping | None = None, *,
                 chunks=True) -> Iterator[h5py.File]:
    """Create ``truth.h5`` with its empty datasets; the caller fills them.

    The file is written atomically: it appears at ``path`` when the block ends
    without error, and not at all otherwise.

    Parameters
    ----------
    path : path-like
    shape : tuple of 3 int
        (z, y, x) grid.
    attrs : mapping, optional
        Root attributes (`truth_attrs`); more may be set on the yielded file.
    chunks : True or tuple of 3 int
        HDF5 chunks of the three (gzip'd) datasets; a slab-by-slab builder
        passes chunks a whole number of its slabs deep.

    Yields
    ------
    h5py.File
        Open for writing, with ``/li``, ``/phase`` and ``/labels``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "truth.h5"
    >>> with create_truth(p, (2, 3, 3), truth_attrs((2, 3, 3), 0.1, x_pristine=1.0, x_charged=0.4)) as f:
    ...     f["phase"][0] = PHASE_AM
    >>> int(read_truth(p).phase[0, 0, 0]) == PHASE_AM
    True
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be 3 positive ints (z, y, x), got {shape}")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name in TRUTH_DATASETS:
            f.create_dataset(name, shape, TRUTH_DTYPES[name], chunks=chunks, **_GZIP)
        f["phase"].attrs["codes"] = PHASE_CODES_TEXT
        f.attrs.update(dict(attrs or {}))
        yield f


def write_truth(path: str | os.PathLike, li, phase, labels, attrs: Mapping | None = None) -> Path:
    """Write a truth held in memory (atomically); return the path.

    Parameters
    ----------
    path : path-like
    li, phase, labels : ndarray, (z, y, x)
        Written as float32, uint8 and int32 (no copy when already so).
    attrs : mapping, optional
        Root attributes (`truth_attrs`, plus ``am_fraction``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> phase = np.full((2, 2, 2), PHASE_AM, np.uint8)
    >>> p = write_truth(pathlib.Path(tempfile.mkdtemp()) / "truth.h5", np.full((2, 2, 2), 0.9),
    ...                 phase, np.ones((2, 2, 2)), truth_attrs((2, 2, 2), 0.1, x_pristine=1, x_charged=0.38))
    >>> read_truth(p).origin_um
    (-0.1, -0.1, -0.1)
    """
    arrays = {"li": li, "phase": phase, "labels": labels}
    # asarray, not astype: no full-volume copies (0.5 GB each at default)
    arrays = {k: np.asarray(a, TRUTH_DTYPES[k]) for k, a in arrays.items()}
    shape = arrays["li"].shape
    for k, a in arrays.items():
        if a.ndim != 3 or a.shape != shape:
            raise ValueError(f"{k}: must be 3-D (z, y, x) with the shape of li {shape}, has {a.shape}")
    with create_truth(path, shape, attrs) as f:
        for k, a in arrays.items():
            f[k][...] = a
    return Path(path)


def copy_truth(source: str | os.PathLike, dest: str | os.PathLike, **attrs) -> Path:
    """Copy a truth file (atomically), replacing the root attributes given.

    A scan derived from another simulation (`trixanes.synth.derive`) has the
    same phantom under another scenario: its truth is the source's with its own
    ``scenario`` and ``provenance``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> p = write_truth(d / "a.h5", np.ones((2, 2, 2)), np.full((2, 2, 2), PHASE_AM, np.uint8),
    ...                 np.ones((2, 2, 2)), truth_attrs((2, 2, 2), 0.1, x_pristine=1, x_charged=0.38))
    >>> read_truth(copy_truth(p, d / "b.h5", scenario="name = 'b'")).scenario
    "name = 'b'"
    """
    import shutil

    source = Path(source)
    if not source.is_file():
        raise ValueError(f"{source}: no such truth file")
    with atomic_path(dest) as tmp:
        shutil.copyfile(source, tmp)
        with h5py.File(tmp, "a") as f:
            for key, value in attrs.items():
                f.attrs[key] = value
    return Path(dest)


# -- reader --------------------------------------------------------------------
def _dataset(f, path, name, kinds, what):
    if name not in f or not isinstance(f[name], h5py.Dataset):
        raise ValueError(f"{path}: missing dataset /{name} (required: "
                         f"{', '.join('/' + n for n in TRUTH_DATASETS)})")
    d = f[name]
    if d.ndim != 3:
        raise ValueError(f"{path}: dataset /{name} must be 3-D (z, y, x), has shape {d.shape}")
    if d.dtype.kind not in kinds:
        raise ValueError(f"{path}: dataset /{name} must be {what}, has dtype {d.dtype}")
    return d[()]


def _numbers(path, attrs, name, n, hint):
    if name not in attrs:
        raise ValueError(f"{path}: missing root attribute '{name}' ({hint})")
    try:
        v = np.asarray(attrs[name], np.float64).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{path}: attribute '{name}' must be {n} number(s), got {attrs[name]!r}") from None
    if v.size != n or not np.isfinite(v).all():
        raise ValueError(f"{path}: attribute '{name}' must be {n} finite number(s) ({hint}), got {v.tolist()}")
    return tuple(float(x) for x in v)


def read_truth(path: str | os.PathLike) -> Truth:
    """Read and check a ``truth.h5``.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    Truth

    Raises
    ------
    ValueError
        Naming the file and the dataset or attribute that is missing or
        malformed: a missing ``/li``, ``/phase`` or ``/labels``, shapes that
        differ, phase codes outside 0..3, negative labels, a voxel size not
        one positive number, an ``origin_um`` not 3 numbers, missing
        ``x_pristine`` / ``x_charged``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "truth.h5"
    >>> with h5py.File(p, "w") as f:
    ...     f["li"] = np.zeros((2, 2, 2), np.float32)
    >>> read_truth(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: .../truth.h5: missing dataset /phase (required: /li, /phase, /labels)
    """
    path, f = open_hdf5(path)
    with f:
        li = _dataset(f, path, "li", "f", "floating point (float32 Li content)")
        phase = _dataset(f, path, "phase", "uib", f"integer phase codes ({PHASE_CODES_TEXT})")
        labels = _dataset(f, path, "labels", "ui", "integer (int32 particle labels)")
        attrs = dict(f.attrs)
    for name, a in (("phase", phase), ("labels", labels)):
        if a.shape != li.shape:
            raise ValueError(f"{path}: dataset /{name} has shape {a.shape}, /li has {li.shape}")
    if phase.size and (phase.min() < 0 or phase.max() > PHASE_AM):
        raise ValueError(f"{path}: dataset /phase must hold the codes {PHASE_CODES_TEXT}; "
                         f"found {sorted(set(np.unique(phase).tolist()) - set(PHASE_NAMES))[:5]}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"{path}: dataset /labels must be >= 0 (0 = background), minimum is {labels.min()}")
    vox = _numbers(path, attrs, "voxel_size_um", 1, "µm, one number: the truth's voxels are cubic")[0]
    if vox <= 0:
        raise ValueError(f"{path}: attribute 'voxel_size_um' must be positive, got {vox}")
    kw = {}
    if "am_fraction" in attrs:
        kw["am_fraction"] = _numbers(path, attrs, "am_fraction", 1, "fraction")[0]
    if "scenario" in attrs:
        kw["scenario"] = attr_text(attrs["scenario"])
    if "provenance" in attrs:
        kw["provenance"] = provenance_attr(path, attrs["provenance"])
    return Truth(
        li=li.astype(np.float32, copy=False),
        phase=phase.astype(np.uint8, copy=False),
        labels=labels.astype(np.int32, copy=False),
        voxel_size_um=vox,
        origin_um=_numbers(path, attrs, "origin_um", 3, "µm, corner (z, y, x) of voxel [0, 0, 0]"),
        x_pristine=_numbers(path, attrs, "x_pristine", 1, "Li content of the pristine reference")[0],
        x_charged=_numbers(path, attrs, "x_charged", 1, "Li content of the charged reference")[0],
        path=path, **kw)

