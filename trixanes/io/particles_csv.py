"""``particles.csv``: one row per particle of ``stats.json``, for a spreadsheet or pandas.

Columns are `COLUMNS`; numbers are written with Python's ``repr`` (they read back
equal to stats.json's), NaN as ``nan``. The centroids are in the frame of
stats.json: µm from the volume's first face on each axis.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from trixanes._shared.atomic import write_text

__all__ = ["COLUMNS", "particle_rows", "write_particles_csv"]

COLUMNS = ("label", "volume_um3", "equivalent_diameter_um", "centroid_z_um", "centroid_y_um",
           "centroid_x_um", "mean_li", "li_rich_fraction", "surface_active_fraction")
_FIELDS = ("volume_um3", "equivalent_diameter_um", "mean_li", "li_rich_fraction", "surface_active_fraction")


def _number(v) -> str:
    x = float("nan") if v is None else float(v)
    return "nan" if math.isnan(x) else repr(x)


def particle_rows(particles: Iterable) -> list:
    """The CSV rows (strings, in `COLUMNS` order) of particle records or mappings.

    Each particle is a `trixanes.io.stats.ParticleStats` or a mapping with its
    fields (``centroid_um`` = (z, y, x)); a missing ``surface_active_fraction``
    is written as ``nan``.

    Examples
    --------
    >>> particle_rows([{"label": 1, "volume_um3": 2.0, "equivalent_diameter_um": 1.56,
    ...                 "centroid_um": [1, 2, 3], "mean_li": None, "li_rich_fraction": 0.5}])
    [['1', '2.0', '1.56', '1.0', '2.0', '3.0', 'nan', '0.5', 'nan']]
    """
    rows = []
    for i, p in enumerate(particles):
        d = p if isinstance(p, Mapping) else p.to_dict()
        try:
            cz, cy, cx = d["centroid_um"]
            row = [str(int(d["label"])), *(_number(d[k]) for k in _FIELDS[:2]),
                   _number(cz), _number(cy), _number(cx),
                   *(_number(d.get(k)) for k in _FIELDS[2:])]
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"particles[{i}]: not a particle record ({type(err).__name__}: {err})") from None
        rows.append(row)
    return rows


def write_particles_csv(path: str | os.PathLike, particles: Iterable) -> Path:
    """Write one row per particle (`particle_rows`) under a `COLUMNS` header, atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_particles_csv(pathlib.Path(tempfile.mkdtemp()) / "particles.csv", [])
    >>> p.read_text().splitlines()[0].split(",")[:3]
    ['label', 'volume_um3', 'equivalent_diameter_um']
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    w.writerows(particle_rows(particles))
    return write_text(path, buf.getvalue())
