"""What several test folders share: the shared data, a small scenario, the package map.

``tests/`` is on pytest's ``pythonpath`` (pyproject), so any test can
``from helpers import ...``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

#: a small, noise-free scenario whose particles are ~30 pixels across, so that
#: interior voxels exist after 2x binning (the tiny preset's are too small)
SMALL = {"sample": {"d50_um": 3.0},
         "acquisition": {"detector_cols": 96, "detector_rows": 48, "pixel_size_um": 0.1,
                         "n_projections": 120, "flux_photons": 0.0}}

#: installed name -> folder of the repository (pyproject's package-dir)
PACKAGE_DIRS = {"trixanes": "trixanes", "trixanes.synth": "synth", "trixanes.pipeline": "pipeline",
                "trixanes.validate": "validate", "trixanes.studies": "studies"}


def small_scenario(**acq):
    from trixanes.synth.config import Scenario

    sc = Scenario.preset("tiny").replace(**SMALL)
    return sc.replace(acquisition=acq) if acq else sc


def shared_file(name: str) -> Path:
    """``../shared/data/NAME``, or skip the test saying which file is missing and where."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"needs the measured data file {name}, not found at {path}")
    return path


def package_modules() -> dict[str, Path]:
    """Every module of the installed namespace, by its trixanes.* name, with its source file."""
    mods = {}
    for pkg, folder in PACKAGE_DIRS.items():
        base = ROOT / folder
        for path in base.rglob("*.py"):
            parts = [p for p in path.relative_to(base).with_suffix("").parts if p != "__init__"]
            if pkg == "trixanes" and parts and f"trixanes.{parts[0]}" in PACKAGE_DIRS:
                continue
            mods[".".join([pkg, *parts])] = path
    return mods


def needs(*names: str):
    """Mark a test that reads ``../shared/data/NAME``: skipped, naming the file, when absent."""
    missing = [n for n in names if not (SHARED_DATA / n).is_file()]
    return pytest.mark.skipif(bool(missing), reason=f"needs the measured data file(s) {', '.join(missing)}, "
                                                    f"not found in {SHARED_DATA}")


def dataset_digest(path) -> str:
    """SHA-256 of every dataset's name and values in an HDF5 file.

    Equal for files with the same data written at different times (the
    provenance attributes carry the time of the run, so the bytes differ).
    """
    import h5py
    import numpy as np

    h = hashlib.sha256()
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                h.update(name.encode())
                h.update(np.ascontiguousarray(obj[()]).tobytes())
        f.visititems(visit)
    return h.hexdigest()
