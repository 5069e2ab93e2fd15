"""OME-Zarr (NGFF v0.4) image of a volume and its labels, for napari.

Layout (NGFF v0.4 is Zarr format 2, chunk keys with ``/``)::

    limap.ome.zarr/
      .zattrs            multiscales: axes z, y, x (space, micrometer); one level "0"
      0/                 the image (float32 Li, NaN outside the active material)
      labels/.zattrs     {"labels": ["particles"]}
      labels/particles/  multiscales + image-label; level "0" (int32 particle labels)

The scale is the voxel size (µm); the translation is the centre of voxel
``[0, 0, 0]`` (NGFF places array indices at voxel centres), i.e. the low corner
``origin_um`` plus half a voxel. Written with zarr 3 (``zarr_format=2``) or zarr 2;
into a temporary directory renamed onto the target, so a failed write leaves none.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import zarr

__all__ = ["NGFF_VERSION", "write_ome_zarr", "multiscales_scale"]

NGFF_VERSION = "0.4"
_ZARR3 = int(zarr.__version__.split(".")[0]) >= 3
_AXES = [{"name": a, "type": "space", "unit": "micrometer"} for a in "zyx"]


def _multiscales(name: str, voxel, origin) -> list:
    transforms = [{"type": "scale", "scale": list(voxel)},
                  {"type": "translation", "translation": [o + v / 2 for o, v in zip(origin, voxel)]}]
    return [{"version": NGFF_VERSION, "name": name, "axes": _AXES,
             "datasets": [{"path": "0", "coordinateTransformations": transforms}]}]


def _chunks(shape) -> tuple:
    return (min(shape[0], 64),) + tuple(min(n, 256) for n in shape[1:])


def _open_group(path):
    if _ZARR3:
        return zarr.open_group(str(path), mode="w", zarr_format=2)
    return zarr.open_group(str(path), mode="w")


def _array(group, name: str, data: np.ndarray, fill):
    if _ZARR3:
        arr = group.create_array(name, shape=data.shape, dtype=data.dtype, chunks=_chunks(data.shape),
                                 fill_value=fill, chunk_key_encoding={"name": "v2", "separator": "/"})
        arr[...] = data
        return arr
    return group.create_dataset(name, data=data, chunks=_chunks(data.shape), fill_value=fill,
                                dimension_separator="/")


@contextlib.contextmanager
def _atomic_dir(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent))
    try:
        yield tmp
        if path.exists():  # a directory cannot be replaced in one rename: move the old one aside
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_ome_zarr(path: str | os.PathLike, image, voxel_size_um, origin_um=(0.0, 0.0, 0.0), *,
                   name: str = "li", labels=None, labels_name: str = "particles") -> Path:
    """Write ``image`` (and ``labels``) as an NGFF v0.4 OME-Zarr directory, atomically.

    Parameters
    ----------
    path : path-like
        Destination directory (``.ome.zarr``); replaced if it exists.
    image : ndarray, (z, y, x)
        Written as float32.
    voxel_size_um : 3 floats (z, y, x)
    origin_um : 3 floats
        Low corner of voxel ``[0, 0, 0]``, µm.
    name : str
        The image's name in the metadata.
    labels : ndarray of int, (z, y, x), optional
        Written as int32 under ``labels/<labels_name>``.

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_ome_zarr(pathlib.Path(tempfile.mkdtemp()) / "m.ome.zarr", np.zeros((2, 3, 4)),
    ...                    (0.2, 0.1, 0.1), labels=np.ones((2, 3, 4), int))
    >>> multiscales_scale(p)
    [0.2, 0.1, 0.1]
    >>> zarr.open_group(str(p), mode="r")["labels/particles/0"].shape
    (2, 3, 4)
    """
    path = Path(path)
    img = np.asarray(image)
    if img.ndim != 3 or min(img.shape) < 1 or img.dtype.kind not in "fiub":
        raise ValueError(f"{name}: need a non-empty numeric 3-D (z, y, x) volume, got {img.dtype} {img.shape}")
    voxel = [float(v) for v in np.broadcast_to(np.asarray(voxel_size_um, np.float64), (3,))]
    origin = [float(v) for v in np.asarray(origin_um, np.float64).ravel()]
    if len(origin) != 3 or not np.isfinite(voxel + origin).all() or min(voxel) <= 0:
        raise ValueError(f"voxel_size_um / origin_um: need 3 positive / 3 finite numbers, got {voxel} / {origin}")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != img.shape or labels.dtype.kind not in "iu":
            raise ValueError(f"{labels_name}: labels must be integer with the image's shape {img.shape}, "
                             f"got {labels.dtype} {labels.shape}")
    with _atomic_dir(path) as tmp:
        root = _open_group(tmp)
        _array(root, "0", img.astype(np.float32, copy=False), float("nan"))
        root.attrs["multiscales"] = _multiscales(name, voxel, origin)
        if labels is not None:
            group = root.create_group("labels")
            group.attrs["labels"] = [labels_name]
            lab = group.create_group(labels_name)
            _array(lab, "0", labels.astype(np.int32, copy=False), 0)
            lab.attrs["multiscales"] = _multiscales(labels_name, voxel, origin)
            lab.attrs["image-label"] = {"version": NGFF_VERSION, "source": {"image": "../../"}}
    return path


def multiscales_scale(path: str | os.PathLike, group: str = "") -> list:
    """The ``scale`` of level 0 in the ``.zattrs`` multiscales of ``path/group``."""
    g = zarr.open_group(str(path), mode="r")
    if group:
        g = g[group]
    ms = dict(g.attrs)["multiscales"][0]
    return [t for t in ms["datasets"][0]["coordinateTransformations"] if t["type"] == "scale"][0]["scale"]
