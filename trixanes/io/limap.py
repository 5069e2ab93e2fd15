"""``limap.h5``: the 3D Li map a pipeline writes and validate scores.

The one home of the format: its dataset and attribute names, the reader
(which checks every input once and names the file and the dataset or attribute
that is wrong) and the atomic writer. ``docs/formats.md`` documents the same
layout for pipelines of other people, which write it with plain h5py.

Decisions of the reader:

* ``/am_mask`` is authoritative: a finite ``/li`` outside it is allowed (a
  pipeline need not blank it) and is read as NaN; inside it a NaN marks a voxel
  without a valid edge jump.
* ``origin_um`` (the corner of voxel ``[0, 0, 0]``, see `LiMap`) is optional;
  without it the volume is taken as centred on the rotation axis, the frame of
  ``truth.h5`` and of ``process``.
* ``x_pristine`` / ``x_charged`` are optional (defaults 1.0 and 0.38).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from trixanes._shared.atomic import atomic_path
from trixanes._shared.provenance import Provenance
from trixanes.io._records import open_hdf5, provenance_attr

__all__ = ["LIMAP_REQUIRED", "LIMAP_OPTIONAL", "MU_ROLES", "ATTRS", "LiMap", "read_limap", "write_limap"]

#: datasets every limap.h5 has, (z, y, x)
LIMAP_REQUIRED = ("li", "am_mask")
#: datasets a limap.h5 may have, (z, y, x) each
LIMAP_OPTIONAL = ("labels", "edge_jump", "li_sigma", "mu/pre", "mu/edge", "mu/post")
#: the three energies' attenuation volumes, ``/mu/<role>``
MU_ROLES = ("pre", "edge", "post")
#: root attributes (only ``voxel_size_um`` is required)
ATTRS = ("voxel_size_um", "origin_um", "x_pristine", "x_charged", "energies_kev", "binning", "provenance")
#: the ``units`` attribute written on each dataset
UNITS = {"li": "1", "am_mask": "1", "labels": "1", "edge_jump": "1", "li_sigma": "1", "mu": "1/um"}
DEFAULT_X_PRISTINE, DEFAULT_X_CHARGED = 1.0, 0.38


@dataclass(frozen=True, eq=False)
class LiMap:
    """A Li map and how it sits in space.

    Attributes
    ----------
    li : ndarray of float32, (z, y, x)
        Li content x of Li_x Ni0.5Mn0.3Co0.2O2; NaN outside ``am_mask`` and where
        the edge jump was invalid.
    am_mask : ndarray of bool, (z, y, x)
        Active material.
    labels : ndarray of int32 or None
        Particle labels, 0 = background.
    edge_jump, li_sigma : ndarray of float32 or None
        Normalized edge jump J and the standard error of ``li``.
    voxel_size_um : tuple of 3 float
        Voxel edge (z, y, x), µm.
    origin_um : tuple of 3 float
        Position (z, y, x), µm, of the low corner of voxel ``[0, 0, 0]`` (its
        face at the smallest coordinate on every axis), in the frame whose
        origin is on the rotation axis at the detector's middle row: voxel
        ``[i, j, k]`` spans ``origin + (i, j, k) * voxel`` to one voxel more.
    x_pristine, x_charged : float
        Li contents of the two references.
    energies_kev : tuple of 3 float or None
        Pre-edge, edge and post-edge energies.
    binning : int or None
        Block size of the binning after reconstruction.
    provenance : Provenance or None
        How the map was made.
    path : Path or None
        The file it was read from.
    """

    li: np.ndarray
    am_mask: np.ndarray
    labels: np.ndarray | None = None
    edge_jump: np.ndarray | None = None
    li_sigma: np.ndarray | None = None
    voxel_size_um: tuple = (1.0, 1.0, 1.0)
    origin_um: tuple | None = None
    x_pristine: float = DEFAULT_X_PRISTINE
    x_charged: float = DEFAULT_X_CHARGED
    energies_kev: tuple | None = None
    binning: int | None = None
    provenance: Provenance | None = None
    path: Path | None = None

    def __post_init__(self):
        where = "LiMap"
        li = _float_volume(where, "li", self.li)
        set_ = object.__setattr__  # frozen: normalise once, here
        set_(self, "li", li)
        set_(self, "am_mask", _mask(where, self.am_mask, li.shape))
        for name in ("edge_jump", "li_sigma"):
            if getattr(self, name) is not None:
                set_(self, name, _same(where, name, _float_volume(where, name, getattr(self, name)), li.shape))
        if self.labels is not None:
            set_(self, "labels", _labels(where, self.labels, li.shape))
        vox = _voxel(where, self.voxel_size_um)
        set_(self, "voxel_size_um", vox)
        origin = (tuple(-0.5 * n * v for n, v in zip(li.shape, vox)) if self.origin_um is None
                  else _finite(where, "origin_um", self.origin_um, 3))
        set_(self, "origin_um", origin)
        for name in ("x_pristine", "x_charged"):
            set_(self, name, _finite(where, name, getattr(self, name), 1)[0])
        if self.energies_kev is not None:
            set_(self, "energies_kev", _finite(where, "energies_kev", self.energies_kev, 3))
        if self.binning is not None:
            b = np.asarray(self.binning).ravel()
            if b.size != 1 or not float(b[0]).is_integer() or b[0] < 1:
                raise ValueError(f"{where}: attribute 'binning' must be an integer >= 1, got {self.binning!r}")
            set_(self, "binning", int(b[0]))
        if self.path is not None:
            set_(self, "path", Path(self.path))

    @property
    def shape(self) -> tuple:
        return self.li.shape


# -- checks, shared by the record and the reader (``where`` names the file) ----
def _float_volume(where, name, a) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 3:
        raise ValueError(f"{where}: dataset /{name} must be 3-D (z, y, x), has shape {a.shape}")
    if a.dtype.kind != "f":
        raise ValueError(f"{where}: dataset /{name} must be floating point, has dtype {a.dtype}")
    return a.astype(np.float32, copy=False)


def _same(where, name, a, shape):
    if a.shape != shape:
        raise ValueError(f"{where}: dataset /{name} has shape {a.shape}, /li has {shape}")
    return a


def _mask(where, m, shape) -> np.ndarray:
    m = np.asarray(m)
    _same(where, "am_mask", m, shape)
    if m.dtype.kind not in "biu":
        raise ValueError(f"{where}: dataset /am_mask must be 0/1 (uint8 or bool), has dtype {m.dtype}")
    if m.dtype.kind != "b" and m.size and not np.isin(m, (0, 1)).all():
        bad = np.unique(m[(m != 0) & (m != 1)])[:5].tolist()
        raise ValueError(f"{where}: dataset /am_mask must hold only 0 and 1, found {bad}")
    return m.astype(bool, copy=False)


def _labels(where, lab, shape) -> np.ndarray:
    lab = np.asarray(lab)
    _same(where, "labels", lab, shape)
    if lab.dtype.kind not in "iu":
        raise ValueError(f"{where}: dataset /labels must be integer (int32), has dtype {lab.dtype}")
    if lab.size and lab.min() < 0:
        raise ValueError(f"{where}: dataset /labels must be >= 0 (0 = background), minimum is {lab.min()}")
    if lab.size and lab.max() > np.iinfo(np.int32).max:
        raise ValueError(f"{where}: dataset /labels exceeds int32 (maximum {lab.max()})")
    return lab.astype(np.int32, copy=False)


def _finite(where, name, value, n) -> tuple:
    try:
        v = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{where}: attribute '{name}' must be {n} number(s), got {value!r}") from None
    if v.size != n or not np.isfinite(v).all():
        raise ValueError(f"{where}: attribute '{name}' must be {n} finite number(s), got {v.tolist()}")
    return tuple(float(x) for x in v)


def _voxel(where, value) -> tuple:
    try:
        v = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{where}: attribute 'voxel_size_um' must be 1 or 3 numbers, got {value!r}") from None
    if v.size == 1:
        v = np.repeat(v, 3)
    if v.size != 3 or not (np.isfinite(v).all() and (v > 0).all()):
        raise ValueError(f"{where}: attribute 'voxel_size_um' must be 1 or 3 positive finite numbers "
                         f"(z, y, x, µm), got {np.asarray(value).tolist()}")
    return tuple(float(x) for x in v)


# -- reader --------------------------------------------------------------------
def read_limap(path: str | os.PathLike, *, mu: bool = False) -> LiMap:
    """Read and check a ``limap.h5``.

    Parameters
    ----------
    path : path-like
        The file.
    mu : bool
        Also return the ``/mu/<role>`` volumes (see Returns).

    Returns
    -------
    LiMap
        With ``li`` set to NaN outside ``am_mask``. With ``mu=True`` a pair
        ``(LiMap, {role: ndarray})`` of the ``/mu`` volumes present.

    Raises
    ------
    ValueError
        Naming the file and the dataset or attribute that is missing or
        malformed (missing ``/li``, wrong ndim, shapes that differ, a mask not
        0/1, a voxel size not positive, labels not integer, ...).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "limap.h5"
    >>> with h5py.File(p, "w") as f:
    ...     f["li"] = np.full((2, 3, 4), 0.8, np.float32)
    ...     f["am_mask"] = np.ones((2, 3, 4), np.uint8)
    ...     f.attrs["voxel_size_um"] = 0.5
    >>> m = read_limap(p)
    >>> m.shape, m.voxel_size_um, m.origin_um
    ((2, 3, 4), (0.5, 0.5, 0.5), (-0.5, -0.75, -1.0))
    >>> with h5py.File(p, "a") as f:
    ...     del f["am_mask"]
    >>> read_limap(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: .../limap.h5: missing dataset /am_mask (required: /li, /am_mask)
    """
    path, f = open_hdf5(path)
    with f:
        def ds(name):
            if name not in f or not isinstance(f[name], h5py.Dataset):
                return None
            return f[name][()]

        for name in LIMAP_REQUIRED:
            if name not in f or not isinstance(f[name], h5py.Dataset):
                raise ValueError(f"{path}: missing dataset /{name} (required: "
                                 f"{', '.join('/' + n for n in LIMAP_REQUIRED)})")
        if "voxel_size_um" not in f.attrs:
            raise ValueError(f"{path}: missing root attribute 'voxel_size_um' (µm, 1 or 3 numbers z, y, x)")
        li = _float_volume(path, "li", f["li"][()])
        am = _mask(path, f["am_mask"][()], li.shape)
        opt = {}
        for name in ("edge_jump", "li_sigma"):
            a = ds(name)
            if a is not None:
                opt[name] = _same(path, name, _float_volume(path, name, a), li.shape)
        lab = ds("labels")
        if lab is not None:
            opt["labels"] = _labels(path, lab, li.shape)
        mus = {}
        if mu:
            for role in MU_ROLES:
                a = ds(f"mu/{role}")
                if a is not None:
                    mus[role] = _same(path, f"mu/{role}", _float_volume(path, f"mu/{role}", a), li.shape)
        attrs = dict(f.attrs)
    kw = dict(voxel_size_um=_voxel(path, attrs["voxel_size_um"]))
    if "origin_um" in attrs:
        kw["origin_um"] = _finite(path, "origin_um", attrs["origin_um"], 3)
    for name in ("x_pristine", "x_charged"):
        if name in attrs:
            kw[name] = _finite(path, name, attrs[name], 1)[0]
    if "energies_kev" in attrs:
        kw["energies_kev"] = _finite(path, "energies_kev", attrs["energies_kev"], 3)
    if "binning" in attrs:
        b = _finite(path, "binning", attrs["binning"], 1)[0]
        if not (b.is_integer() and b >= 1):
            raise ValueError(f"{path}: attribute 'binning' must be an integer >= 1, got {b}")
        kw["binning"] = int(b)
    if "provenance" in attrs:
        kw["provenance"] = provenance_attr(path, attrs["provenance"])
    li = np.where(am, li, np.float32(np.nan)).astype(np.float32, copy=False)
    out = LiMap(li=li, am_mask=am, path=path, **opt, **kw)
    return (out, mus) if mu else out


# -- writer --------------------------------------------------------------------
def write_limap(path: str | os.PathLike, limap: LiMap, *, mu: dict | None = None) -> Path:
    """Write ``limap`` (and optionally the ``/mu`` volumes) atomically.

    Parameters
    ----------
    path : path-like
        Destination.
    limap : LiMap
    mu : dict, optional
        ``{"pre"|"edge"|"post": ndarray (z, y, x)}``, 1/µm, on the map's grid.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> m = LiMap(li=np.full((2, 2, 2), 0.7, np.float32), am_mask=np.ones((2, 2, 2), bool),
    ...           voxel_size_um=0.4)
    >>> p = write_limap(pathlib.Path(tempfile.mkdtemp()) / "limap.h5", m)
    >>> back = read_limap(p)
    >>> float(back.li[0, 0, 0]), back.voxel_size_um, back.labels is None
    (0.699999988079071, (0.4, 0.4, 0.4), True)
    """
    if not isinstance(limap, LiMap):
        raise ValueError(f"limap: expected a LiMap record, got {type(limap).__name__}")
    mu = dict(mu or {})
    for role, a in mu.items():
        if role not in MU_ROLES:
            raise ValueError(f"mu: roles are {', '.join(MU_ROLES)}, got {role!r}")
        _same("mu", f"mu/{role}", _float_volume("mu", f"mu/{role}", a), limap.shape)
    gz = dict(compression="gzip", compression_opts=1)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("li", data=np.where(limap.am_mask, limap.li, np.nan).astype(np.float32), **gz)
            f.create_dataset("am_mask", data=limap.am_mask.astype(np.uint8), **gz)
            for name, dtype in (("labels", np.int32), ("edge_jump", np.float32), ("li_sigma", np.float32)):
                a = getattr(limap, name)
                if a is not None:
                    f.create_dataset(name, data=a.astype(dtype), **gz)
            for role, a in mu.items():
                f.create_dataset(f"mu/{role}", data=np.asarray(a, np.float32), **gz)
                f[f"mu/{role}"].attrs["units"] = UNITS["mu"]
            for name in ("li", "am_mask", "labels", "edge_jump", "li_sigma"):
                if name in f:
                    f[name].attrs["units"] = UNITS[name]
            f.attrs["voxel_size_um"] = np.asarray(limap.voxel_size_um, np.float64)
            f.attrs["origin_um"] = np.asarray(limap.origin_um, np.float64)
            f.attrs["x_pristine"] = limap.x_pristine
            f.attrs["x_charged"] = limap.x_charged
            if limap.energies_kev is not None:
                f.attrs["energies_kev"] = np.asarray(limap.energies_kev, np.float64)
            if limap.binning is not None:
                f.attrs["binning"] = int(limap.binning)
            if limap.provenance is not None:
                f.attrs["provenance"] = limap.provenance.to_json()
    return Path(path)
