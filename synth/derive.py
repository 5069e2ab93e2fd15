"""Scans derived from a stored noise-free simulation: a subset of its angles, any photon flux.

A dead wedge, a limited range or a coarser angular step only removes projections
of a full scan, and a photon flux is a Poisson draw from its expected counts:
none of them needs the phantom built or projected again. `source_scenario` is
the noise-free scan without a wedge that a scenario derives from,
`angle_indices` says whether its angles are on the source's grid, and
`derive_scans` writes the scenario's files from the source's.

Bit for bit, a derived scan is the scan `simulate` writes for the scenario with
the same seed: a projection's line integrals do not depend on the other angles
(the projector and the detector treat each angle alone), the source stores
them as float32 transmissions (what the detector model hands to the noise),
and the photon noise of a projection is addressed by its detector row and its
angle (`imaging.angle_keys`), not by its position in the scan.
"""

from __future__ import annotations

import shutil
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from trixanes import __version__
from trixanes._shared.atomic import atomic_path
from trixanes._shared.paths import check_out_dir
from trixanes._shared.provenance import Provenance
from trixanes.io.dataexchange import ScanWriter, read_scan, scan_info
from trixanes.io.truth import copy_truth

from .acquisition import projection_angles, resolved_projections
from .config import Scenario
from .imaging import DEFAULT_BAND_BYTES, expose_rows, flats_and_darks_of, storage_dtype

__all__ = ["DERIVED_FIELDS", "Derivation", "angle_indices", "derive_scans", "scan_names",
           "source_scenario"]

#: acquisition fields in which a derived scan may differ from its source
DERIVED_FIELDS = ("flux_photons", "dark_counts", "n_flats", "n_darks", "dead_wedge_deg",
                  "dead_wedge_center_deg", "angle_range_deg", "n_projections")
#: two angles closer than this (degrees) are the same projection (one grid computed two ways
#: differs by ~1e-14°)
ANGLE_TOL_DEG = 1e-9


@dataclass(frozen=True)
class Derivation:
    """Files written by `derive_scans`.

    Attributes
    ----------
    out_dir : Path
    scan_paths : tuple of Path
        One Data Exchange scan per energy, in the scenario's order of energies.
    references_path, truth_path, scenario_path : Path
        ``truth_path`` is the source's own file when the truth was not copied.
    source_dir : Path
    seconds : float
    """

    out_dir: Path
    scan_paths: tuple
    references_path: Path
    truth_path: Path
    scenario_path: Path
    source_dir: Path
    seconds: float


def scan_names(scenario: Scenario) -> list[str]:
    """The scan file names `simulate` writes, in the order of the scenario's energies."""
    return [f"scan_{e * 1000:.0f}eV.h5" for e in scenario.acquisition.energies_kev]


def source_scenario(scenario: Scenario, angle_range_deg=None, n_projections=None) -> Scenario:
    """The noise-free scan without a dead wedge from which ``scenario`` can be derived.

    Parameters
    ----------
    scenario : Scenario
    angle_range_deg, n_projections : optional
        The source's angular grid; default the scenario's own (wedge not removed).

    Examples
    --------
    >>> sc = Scenario.preset("tiny").replace(acquisition={"dead_wedge_deg": 30.0, "flux_photons": 5e3})
    >>> src = source_scenario(sc)
    >>> src.acquisition.noise_free, src.acquisition.dead_wedge_deg
    (True, 0.0)
    >>> source_scenario(src).to_toml() == src.to_toml()
    True
    """
    acq = scenario.acquisition
    grid = {"angle_range_deg": tuple(angle_range_deg or acq.angle_range_deg),
            "n_projections": int(n_projections or resolved_projections(acq))}
    # a noise-free scan is read with flats of 1 and darks of 0: their counts do not matter
    return scenario.replace(acquisition={"flux_photons": None, "dark_counts": 0.0, "n_flats": 1,
                                         "n_darks": 1, "dead_wedge_deg": 0.0,
                                         "dead_wedge_center_deg": 90.0, **grid})


def angle_indices(source_deg, target_deg) -> np.ndarray | None:
    """Index in ``source_deg`` of each angle of ``target_deg``; None if one is not there.

    Examples
    --------
    >>> angle_indices(np.linspace(0, 180, 7), [30.0, 120.0]).tolist()
    [1, 4]
    >>> angle_indices(np.linspace(0, 180, 7), [45.0]) is None
    True
    """
    src = np.asarray(source_deg, np.float64).ravel()
    tgt = np.asarray(target_deg, np.float64).ravel()
    if src.size == 0:
        return None
    if src.size == 1:
        return np.zeros(tgt.size, int) if np.all(np.abs(tgt - src[0]) <= ANGLE_TOL_DEG) else None
    order = np.argsort(src, kind="stable")
    pos = np.clip(np.searchsorted(src[order], tgt), 1, max(src.size - 1, 1))
    near = np.where(np.abs(src[order][pos - 1] - tgt) <= np.abs(src[order][pos] - tgt), pos - 1, pos)
    idx = order[near]
    return idx if np.all(np.abs(src[idx] - tgt) <= ANGLE_TOL_DEG) else None


def _check_source(source_dir: Path, scenario: Scenario) -> Scenario:
    """The source's scenario, if ``scenario`` derives from it; else ValueError naming the field."""
    path = source_dir / "scenario.toml"
    try:
        source = Scenario.from_toml(path)
    except Exception as exc:  # missing, unreadable or invalid: all the same to the caller
        raise ValueError(f"{path}: not a simulation's scenario ({exc})") from None
    if scenario.series is not None or source.series is not None:
        raise ValueError(f"{path}: a series is simulated state by state, not derived")
    acq = source.acquisition
    if not acq.noise_free or acq.dead_wedge_deg > 0:
        raise ValueError(f"{path}: a source must be noise-free and without a dead wedge "
                         f"(flux_photons {acq.flux_photons!r}, dead_wedge_deg {acq.dead_wedge_deg!r})")
    # compared as written (TOML has no None: a noise-free flux reads back as 0)
    wanted = tomllib.loads(source_scenario(scenario, acq.angle_range_deg, resolved_projections(acq)).to_toml())
    have = tomllib.loads(source.to_toml())
    for section in sorted((set(wanted) | set(have)) - {"name"}):  # a name changes no physics
        fields, held = wanted.get(section), have.get(section)
        if held == fields:
            continue
        if isinstance(fields, dict) and isinstance(held, dict):
            bad = sorted(k for k in set(fields) | set(held) if held.get(k) != fields.get(k))
            what = ", ".join(f"{section}.{k} is {held.get(k)!r}, needs {fields.get(k)!r}" for k in bad)
        else:
            what = f"{section} is {held!r}, needs {fields!r}"
        raise ValueError(f"{path}: scenario {scenario.name!r} cannot be derived from it: {what}")
    return source


def derive_scans(source_dir, scenario: Scenario, out_dir, *, copy_truth_file: bool = True,
                 band_bytes: int = DEFAULT_BAND_BYTES, progress: bool = False) -> Derivation:
    """Write ``scenario``'s scans, references and scenario from a noise-free source simulation.

    Parameters
    ----------
    source_dir : path-like
        A `simulate` folder of the `source_scenario` of ``scenario`` (on an angular grid
        that holds the scenario's angles).
    scenario : Scenario
        Differs from the source only in `DERIVED_FIELDS` (and in the seed of the
        noise, which is the scenario's).
    out_dir : path-like
        Output folder (created).
    copy_truth_file : bool
        Copy ``truth.h5`` with the scenario in its attributes; False leaves the
        truth in the source (``truth_path`` then points there).
    band_bytes : int
        Working memory: source rows are read in bands of at most this many bytes.
    progress : bool

    Returns
    -------
    Derivation

    Raises
    ------
    ValueError
        The source is not a noise-free scan of the same phantom, geometry and
        spectra; or an angle of the scenario is not among the source's.

    Examples
    --------
    >>> sc = Scenario.preset("tiny").replace(acquisition={"dead_wedge_deg": 30.0})
    >>> src = simulate(source_scenario(sc), "src", progress=False)  # doctest: +SKIP
    >>> derive_scans("src", sc, "wedge30").scan_paths  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    source_dir = Path(source_dir)
    _check_source(source_dir, scenario)
    out = check_out_dir(out_dir)
    if out.resolve() == source_dir.resolve():
        raise ValueError(f"{out}: the derived scans would overwrite their source; choose another folder")
    acq = scenario.acquisition
    angles = projection_angles(acq)
    # every energy checked before anything is written
    sources = []
    for name in scan_names(scenario):
        info = scan_info(source_dir / name)
        idx = angle_indices(info.theta_deg, angles)
        if idx is None:
            raise ValueError(f"{info.path}: does not hold every projection angle of scenario "
                             f"{scenario.name!r} ({angles.size} angles over {acq.angle_range_deg})")
        sources.append((name, info, idx))
    out.mkdir(parents=True, exist_ok=True)
    noise = np.random.SeedSequence(scenario.seed).spawn(5)[4]  # simulate's 5th child seed
    attrs = {"simulator": f"trixanes {__version__}", "scenario": scenario.name}
    paths = []
    for i, (name, info, idx) in enumerate(sources):
        rows = int(np.clip(band_bytes // (4 * info.n_angles * info.n_cols), 1, info.n_rows))
        shape = (angles.size, info.n_rows, info.n_cols)
        with ScanWriter(out / name, shape, angles, info.energy_kev, info.pixel_size_um,
                        storage_dtype(acq), row_chunk=rows, **attrs) as w:
            for r0 in tqdm(range(0, info.n_rows, rows), desc=f"derive {name}", unit="band",
                           disable=not progress):
                trans = read_scan(info.path, rows=slice(r0, r0 + rows)).data[idx]
                w.write_rows(r0, expose_rows(trans, acq, noise, i, r0, angles))
            flats, darks = flats_and_darks_of(acq, noise, i)
            w.write_flats(flats)
            w.write_darks(darks)
        paths.append(out / name)
    refs = out / "references.csv"
    with atomic_path(refs) as tmp:  # the bytes, as the source has them
        shutil.copyfile(source_dir / "references.csv", tmp)
    truth = source_dir / "truth.h5"
    if copy_truth_file:
        prov = Provenance(tool="derive", options={"scenario": scenario.name, "seed": scenario.seed,
                                                  "source": str(source_dir)})
        truth = copy_truth(truth, out / "truth.h5", scenario=scenario.to_toml(), provenance=prov.to_json())
    scen = scenario.write_toml(out / "scenario.toml")
    return Derivation(out, tuple(paths), refs, truth, scen, source_dir, time.perf_counter() - t0)
