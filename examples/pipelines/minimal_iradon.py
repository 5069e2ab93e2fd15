"""A minimal three-energy XANES pipeline, written without trixanes: a floor to compare with.

Reads three Data Exchange scans with h5py, normalizes them (flats, darks, -log),
reconstructs every detector row with scikit-image's filtered back-projection
(`iradon`, rotation centre at the detector's middle), does no registration,
segments the active material (AM) by an Otsu threshold of the post-edge volume,
computes the edge jump J = (edge - pre) / (post - pre) and converts it to Li by
the line through the two references' J at the same energies. It writes
``OUT/limap.h5`` in the layout of docs/formats.md, which is all trixanes needs
to score it::

    python minimal_iradon.py PRE.h5 EDGE.h5 POST.h5 --refs references.csv --out OUT

The three scans may be given in any order: they are told apart by their energies.
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import h5py
import numpy as np
from skimage.filters import threshold_otsu
from skimage.transform import iradon

X_PRISTINE, X_CHARGED = 1.0, 0.38  # Li content of the two references
ENERGY = "/measurement/instrument/monochromator/energy"
PIXEL = "/measurement/instrument/detection_system/objective/resolution"


def energy_kev(path):
    with h5py.File(path, "r") as f:
        e = float(np.ravel(f[ENERGY][()])[0])
        unit = f[ENERGY].attrs.get("units", "keV")
    unit = unit.decode() if isinstance(unit, bytes) else str(unit)
    return e / 1000.0 if unit.strip().lower() == "ev" else e


def reconstruct(path, binning):
    """Attenuation volume (z, y, x) in 1/µm and the pixel size (µm)."""
    with h5py.File(path, "r") as f:
        data = f["/exchange/data"][()].astype(np.float32)
        flat = f["/exchange/data_white"][()].astype(np.float32).mean(axis=0)
        dark = f["/exchange/data_dark"][()].astype(np.float32).mean(axis=0)
        theta = np.ravel(f["/exchange/theta"][()]).astype(float)  # degrees
        pixel_um = float(np.ravel(f[PIXEL][()])[0]) if PIXEL in f else 1.0
    transmission = (data - dark) / (flat - dark)
    proj = -np.log(np.clip(transmission, 1e-6, None))  # (angle, row, col)
    n_cols = proj.shape[2]
    vol = np.stack([iradon(proj[:, row, :].T, theta=theta, output_size=n_cols, filter_name="ramp")
                    for row in range(proj.shape[1])])
    vol = vol.astype(np.float32) / pixel_um  # per pixel -> 1/µm
    if binning > 1:  # block mean, dropping the last incomplete block
        z, y, x = (n // binning for n in vol.shape)
        vol = vol[:z * binning, :y * binning, :x * binning]
        vol = vol.reshape(z, binning, y, binning, x, binning).mean(axis=(1, 3, 5))
    return vol, pixel_um, proj.shape[1]


def reference_jumps(csv_path, energies):
    """J of the pristine and the charged reference at the (pre, edge, post) energies."""
    with open(csv_path, encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    e = np.array([float(r["energy_kev"]) for r in rows])
    order = np.argsort(e)
    jumps = []
    for name in ("pristine", "charged"):
        mu = np.array([float(r[name]) for r in rows])
        pre, edge, post = np.interp(energies, e[order], mu[order])
        jumps.append((edge - pre) / (post - pre))
    return jumps


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scans", nargs=3, help="the three Data Exchange scans, any order")
    ap.add_argument("--refs", required=True, help="references.csv (energy_kev,pristine,charged)")
    ap.add_argument("--out", required=True, help="output folder: OUT/limap.h5")
    ap.add_argument("--binning", type=int, default=1, help="n x n x n block mean (default 1)")
    args = ap.parse_args(argv)

    scans = sorted(args.scans, key=energy_kev)  # pre < edge < post
    energies = [energy_kev(s) for s in scans]
    (pre, pixel_um, n_rows), (edge, _, _), (post, _, _) = (reconstruct(s, args.binning) for s in scans)

    am = post > threshold_otsu(post)  # Ni makes NMC the brightest phase above the edge
    step = post - pre
    ok = am & (step > 0.05 * np.median(step[am]))  # no edge step: no J
    jump = np.where(ok, (edge - pre) / np.where(ok, step, 1.0), np.nan)
    j_pristine, j_charged = reference_jumps(args.refs, energies)
    li = X_PRISTINE + (jump - j_pristine) * (X_CHARGED - X_PRISTINE) / (j_charged - j_pristine)

    voxel_um = pixel_um * args.binning
    n_cols = pre.shape[2] * args.binning
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".limap.h5.part"  # written aside, then renamed: never a half-written limap.h5
    with h5py.File(tmp, "w") as f:
        f["li"] = li.astype(np.float32)  # NaN outside the AM
        f["am_mask"] = am.astype(np.uint8)
        f.attrs["voxel_size_um"] = voxel_um
        # low corner of voxel [0, 0, 0]: the volume is centred on the rotation axis
        f.attrs["origin_um"] = [-n_rows * pixel_um / 2, -n_cols * pixel_um / 2, -n_cols * pixel_um / 2]
        f.attrs["x_pristine"], f.attrs["x_charged"] = X_PRISTINE, X_CHARGED
        f.attrs["energies_kev"] = energies
    os.replace(tmp, out / "limap.h5")
    print(f"wrote {out / 'limap.h5'}: {int(am.sum())} AM voxels, mean Li {np.nanmean(li[am]):.3f}")


if __name__ == "__main__":
    main()
