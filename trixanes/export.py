"""Export a result (``limap.h5`` and the ``stats.json`` beside it) for the viewers users have.

* ``tiff``: ImageJ TIFF stacks ``li.tif`` (float32, NaN outside the active material)
  and ``labels.tif``, at the voxel size (Fiji, Avizo, Dragonfly);
* ``zarr``: an OME-Zarr (NGFF v0.4) ``limap.ome.zarr`` with the Li map and the
  particle labels, scaled in µm and placed at the map's origin (napari);
* ``csv``: ``particles.csv``, one row per particle of ``stats.json``.
"""

from __future__ import annotations

import os
from pathlib import Path

from trixanes.io.limap import read_limap
from trixanes.io.omezarr import write_ome_zarr
from trixanes.io.particles_csv import write_particles_csv
from trixanes.io.stats import read_stats
from trixanes.io.tiff import write_tiff_stack

__all__ = ["FORMATS", "ARRAYS", "OUTPUT_NAMES", "parse_formats", "export"]

FORMATS = ("tiff", "zarr", "csv")
#: the volumes the TIFF and OME-Zarr exports carry
ARRAYS = ("li", "labels")
OUTPUT_NAMES = {"tiff": ("li.tif", "labels.tif"), "zarr": ("limap.ome.zarr",), "csv": ("particles.csv",)}


def parse_formats(to, allowed=FORMATS, what="export format") -> tuple:
    """Formats from a name, a comma-separated list, or several of them; in `FORMATS` order.

    Examples
    --------
    >>> parse_formats(["csv", "tiff,zarr"])
    ('tiff', 'zarr', 'csv')
    >>> parse_formats("pdf")
    Traceback (most recent call last):
    ...
    ValueError: unknown export format 'pdf' (choose from tiff, zarr, csv)
    """
    items = [to] if isinstance(to, str) else list(to)
    names = {s.strip().lower() for item in items for s in str(item).split(",") if s.strip()}
    if not names:
        raise ValueError(f"no {what} given (choose from {', '.join(allowed)})")
    for n in sorted(names):
        if n not in allowed:
            raise ValueError(f"unknown {what} {n!r} (choose from {', '.join(allowed)})")
    return tuple(f for f in allowed if f in names)


def export(limap_path: str | os.PathLike, to, out: str | os.PathLike, *, arrays=ARRAYS) -> list:
    """Write the exports of a result into the folder ``out``.

    Parameters
    ----------
    limap_path : path-like
        The ``limap.h5`` (read with `trixanes.io.limap.read_limap`); the CSV
        is made from the ``stats.json`` beside it.
    to : str or iterable of str
        ``"tiff"``, ``"zarr"``, ``"csv"``, several, or a comma-separated list.
    out : path-like
        Output folder (created if missing); files named as `OUTPUT_NAMES`.
    arrays : iterable of {"li", "labels"}
        The volumes of the TIFF and OME-Zarr exports; a map without ``/labels``
        needs ``arrays=("li",)``.

    Returns
    -------
    list of Path
        The files and directories written, in `FORMATS` order.

    Raises
    ------
    ValueError
        An unknown format or array, a ``limap.h5`` or ``stats.json`` that is
        missing or malformed, labels asked for from a map without ``/labels``.
        Checked before anything is written; each output is written atomically.

    Examples
    --------
    >>> export("out/limap.h5", "tiff,csv", "out/export")  # doctest: +SKIP
    [PosixPath('out/export/li.tif'), PosixPath('out/export/labels.tif'), PosixPath('out/export/particles.csv')]
    """
    formats = parse_formats(to)
    arrays = parse_formats(arrays, ARRAYS, "export array")
    limap_path, out = Path(limap_path), Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: the export folder is a file")
    m = read_limap(limap_path)
    volumes = {"tiff", "zarr"} & set(formats)
    if volumes and "labels" in arrays and m.labels is None:
        raise ValueError(f"{limap_path}: no dataset /labels, which the labels of the "
                         f"{'/'.join(sorted(volumes))} export need (export only the Li map: arrays li, "
                         f"CLI --arrays li)")
    stats = None
    if "csv" in formats:
        stats_path = limap_path.parent / "stats.json"
        if not stats_path.is_file():
            raise ValueError(f"{stats_path}: no such file (the particle CSV is made from the "
                             f"stats.json beside {limap_path.name})")
        stats = read_stats(stats_path)
    written = []
    if "tiff" in formats:
        written.append(write_tiff_stack(out / "li.tif", m.li, m.voxel_size_um, name=f"{limap_path}: /li"))
        if "labels" in arrays:
            written.append(write_tiff_stack(out / "labels.tif", m.labels, m.voxel_size_um,
                                            name=f"{limap_path}: /labels"))
    if "zarr" in formats:
        written.append(write_ome_zarr(out / "limap.ome.zarr", m.li, m.voxel_size_um, m.origin_um, name="li",
                                      labels=m.labels if "labels" in arrays else None))
    if "csv" in formats:
        written.append(write_particles_csv(out / "particles.csv", stats.particles))
    return written
