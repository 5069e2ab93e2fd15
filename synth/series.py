"""Simulate an operando series: one microstructure imaged in several states of charge.

The microstructure is built once. Each state gets its Li field (the scenario's
Li field with the state's ``mean_soc``, from the same seed: the same active
patches, pores and per-particle spread, so every particle's progress rises
with the electrode's and its front moves inward), the rigid motion of the
whole sample against the first state, and its own acquisition (noise, drift
and, if the state says so, another dead angle or flux).

Writes into ``out_dir``: ``<state>/`` for each state with its three scans,
``references.csv`` (the same file for every state: the references are measured
once, before the run), ``truth.h5`` in that state's frame and
``scenario.toml``; and ``series_truth.json`` (`trixanes.io.series_truth`).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from tqdm.auto import tqdm

from trixanes._shared.labels import touches_grid_faces
from trixanes._shared.paths import check_out_dir
from trixanes._shared.provenance import Provenance
from trixanes.io.series_truth import SeriesTruth, write_series_truth
from trixanes.io.truth import PHASE_AM, PHASE_PORE, PHASE_VOID, write_truth

from .config import Scenario, ScenarioError
from .imaging import DEFAULT_BAND_BYTES
from .lithium import lithium_field
from .microstructure import generate_microstructure
from .projector import check_backend
from .simulate import (_available_memory, _int, _truth_attrs, image_phantom, memory_needed,
                       phantom_shape, write_references, xanes_model)
from .states import rotation_matrix

__all__ = ["SeriesSimulation", "simulate_series", "move_rigidly"]


@dataclass(frozen=True)
class SeriesSimulation:
    """Folders and files written by :func:`simulate_series`."""

    out_dir: Path
    state_dirs: tuple
    series_truth_path: Path
    n_particles: int
    seconds: float


def move_rigidly(volume: np.ndarray, rotation: np.ndarray, translation_vox, fill) -> np.ndarray:
    """``volume`` moved as a rigid body: what sat at r now sits at R (r − c) + c + t.

    ``c`` is the middle of the grid; nearest-neighbour, so phases and labels
    stay codes and the Li field moves with them; ``fill`` where nothing moved in.

    Examples
    --------
    >>> a = np.zeros((5, 5, 5), np.uint8); a[2, 2, 1] = 1
    >>> np.argwhere(move_rigidly(a, np.eye(3), (0, 1, 2), 0)).tolist()
    [[2, 3, 3]]
    """
    c = (np.asarray(volume.shape, float) - 1.0) / 2.0
    inv = np.asarray(rotation, float).T
    offset = c - inv @ (c + np.asarray(translation_vox, float))
    return ndimage.affine_transform(volume, inv, offset, order=0, mode="constant", cval=fill,
                                    output=volume.dtype)


def simulate_series(scenario: Scenario, out_dir, *, progress: bool = True,
                    band_bytes: int = DEFAULT_BAND_BYTES, backend: str = "numba",
                    check_memory: bool = True) -> SeriesSimulation:
    """Build one microstructure and image it in every state of ``scenario.series``.

    Parameters
    ----------
    scenario : Scenario
        With a ``series`` (`trixanes.synth.states.SeriesParams`).
    out_dir : path-like
        Output folder (created).
    progress, band_bytes, backend, check_memory
        As in `trixanes.synth.simulate.simulate`. The phantom is built in
        memory (a series is not built tiled).

    Returns
    -------
    SeriesSimulation
    """
    t0 = time.perf_counter()
    if scenario.series is None:
        raise ScenarioError(f"scenario {scenario.name!r} has no [series] section: use simulate()")
    check_out_dir(out_dir)
    check_backend(backend)
    have = _available_memory()
    # the whole phantom, a moved copy of phase, Li and labels (9 B/voxel) and the imaging
    need = memory_needed(scenario, band_bytes) + 9 * int(np.prod(phantom_shape(scenario)))
    if check_memory and have is not None and need > have:
        raise ValueError(f"scenario {scenario.name!r}: a series needs about {need / 1e9:.1f} GB of memory, "
                         f"{have / 1e9:.1f} GB is available; reduce acquisition.detector_rows, "
                         f"detector_cols or supersample")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    series = scenario.series
    seeds = np.random.SeedSequence(scenario.seed).spawn(5)
    v = scenario.acquisition.fine_voxel_um
    shape = phantom_shape(scenario)
    n_states = len(series.states)
    bar = tqdm(total=1 + 2 * n_states, desc=f"series {scenario.name}", unit="step", disable=not progress)
    bar.set_postfix_str("microstructure")
    micro = generate_microstructure(shape, v, scenario.sample, seed=_int(seeds[0]))
    bar.update()
    n = int(micro.labels.max())
    count0 = np.bincount(micro.labels.ravel(), minlength=n + 1)[1:]
    model = xanes_model(scenario)
    refs = write_references(out_dir / "references.csv", model)
    li_true = np.full((n, n_states), np.nan)
    progress_true = np.zeros((n, n_states))
    inside = np.zeros((n, n_states), bool)
    motions, dirs = [], []
    centre_um = ((np.asarray(shape, float) - 1.0) / 2.0 * v).round(6).tolist()
    names = [st.name for st in series.states]
    detached = _detached_labels(micro.labels, n, series.detach)
    for s, st in enumerate(series.states):
        sc = scenario.state(st.name)
        bar.set_postfix_str(f"{st.name}: lithium")
        loose = [(k, d) for k, d in zip(detached, series.detach) if names.index(d.state) <= s]
        # a detached particle stops reacting: it keeps the progress of the state before
        frozen = {k: progress_true[k - 1, names.index(d.state) - 1] for k, d in loose}
        lith = lithium_field(micro.phase, micro.labels, v, sc.lithium, seed=_int(seeds[1]),
                             internal_pores=micro.cavity_mask,
                             particle_diameters_um=micro.particle_diameters_um, progress_of=frozen)
        progress_true[:, s] = lith.particle_progress
        phase, li, labels = micro.phase, lith.li, micro.labels
        del lith
        if loose:
            phase, li, labels = phase.copy(), li.copy(), labels.copy()
            for k, d in loose:
                _move_particle(phase, li, labels, k, rotation_matrix(series.axis, d.rotation_deg),
                               np.asarray(d.translation_um, float) / v)
        if st.moves:
            rot = rotation_matrix(series.axis, st.rotation_deg)
            t = np.asarray(st.translation_um, float) / v
            phase = move_rigidly(phase, rot, t, PHASE_VOID)
            li = move_rigidly(li, rot, t, np.nan)
            labels = move_rigidly(labels, rot, t, 0)
        if s > 0:
            motions.append({"state": st.name, "translation_um": [float(x) for x in st.translation_um],
                            "rotation_deg": float(st.rotation_deg),
                            "rotation_axis": [float(a) for a in series.axis], "centre_um": centre_um,
                            "rotation_matrix_zyx": rotation_matrix(series.axis, st.rotation_deg).round(12).tolist()})
        li_true[:, s], inside[:, s] = _particle_truth(li, labels, n)
        # a particle the field of view cut in the first state stays cut, wherever it moves
        inside[:, s] &= inside[:, 0]
        state_dir = out_dir / st.name
        state_dir.mkdir(exist_ok=True)
        attrs = dict(_truth_attrs(shape, v, sc, "whole"), series_state=st.name, series_index=s)
        write_truth(state_dir / "truth.h5", li, phase, labels, attrs)
        shutil.copyfile(refs, state_dir / "references.csv")
        bar.update()
        bar.set_postfix_str(f"{st.name}: imaging")
        # the first state is imaged with the scenario's own seeds (it is `simulate` of that state)
        img_seeds = seeds if s == 0 else np.random.SeedSequence([scenario.seed, s]).spawn(5)
        image_phantom(phase, li, sc, model, state_dir, img_seeds, band_bytes=band_bytes,
                      progress=False, backend=backend)
        sc.write_toml(state_dir / "scenario.toml")
        dirs.append(state_dir)
        del phase, li, labels
        bar.update()
    bar.close()
    prov = Provenance(tool="simulate", options={"scenario": scenario.name, "seed": scenario.seed,
                                                "series": [st.name for st in series.states]})
    truth = SeriesTruth(tuple(st.name for st in series.states), v, np.arange(1, n + 1),
                        count0 * v**3, li_true, progress_true, inside, tuple(motions),
                        tuple(int(k) for k in detached), prov)
    path = write_series_truth(out_dir / "series_truth.json", truth)
    scenario.write_toml(out_dir / "scenario.toml")
    return SeriesSimulation(out_dir, tuple(dirs), path, n, time.perf_counter() - t0)


def _detached_labels(labels: np.ndarray, n: int, detach) -> list:
    """The label of each detachment: its rank by volume among the particles touching no face."""
    if not detach:
        return []
    count = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    inside = (count > 0) & ~touches_grid_faces(labels, n)
    order = [int(k) + 1 for k in np.argsort(-count, kind="stable") if inside[k]]
    out = []
    for d in detach:
        if d.rank > len(order):
            raise ValueError(f"series.detach: rank {d.rank}, but only {len(order)} particles lie wholly "
                             f"inside the field of view")
        out.append(order[d.rank - 1])
    return out


def _move_particle(phase, li, labels, k: int, rotation, translation_vox) -> None:
    """In place: particle ``k`` rotated about its centroid and shifted; electrolyte where it was.

    It lands on top of whatever is where it lands (a loose particle pressed
    into its neighbours, as it would be).
    """
    mask = labels == k
    cen = np.rint(np.argwhere(mask).mean(axis=0)).astype(int)
    half = np.abs(np.argwhere(mask) - cen).max(axis=0) + int(np.ceil(np.abs(translation_vox).max())) + 2
    lo, hi = cen - half, cen + half + 1  # a box centred on the particle: its middle is the centroid
    pad = [(max(0, -a), max(0, b - n)) for a, b, n in zip(lo, hi, mask.shape)]
    region = tuple(slice(max(0, a), min(n, b)) for a, b, n in zip(lo, hi, mask.shape))
    box_m = np.pad(mask[region], pad)
    box_li = np.pad(np.where(mask[region], li[region], np.nan), pad, constant_values=np.nan)
    moved_m = move_rigidly(box_m.astype(np.uint8), rotation, translation_vox, 0).astype(bool)
    moved_li = move_rigidly(box_li, rotation, translation_vox, np.nan)
    phase[mask], li[mask], labels[mask] = PHASE_PORE, np.nan, 0
    inner = tuple(slice(p[0], p[0] + (r.stop - r.start)) for p, r in zip(pad, region))
    put = moved_m[inner]
    phase[region][put] = PHASE_AM
    li[region][put] = moved_li[inner][put]
    labels[region][put] = k


def _particle_truth(li: np.ndarray, labels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each label's mean Li (NaN if it left the grid) and whether it touches no face of the grid."""
    flat = labels.ravel()
    count = np.bincount(flat, minlength=n + 1)
    total = np.bincount(flat, weights=np.nan_to_num(li.ravel()), minlength=n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, np.nan)[1:]
    return mean, (count[1:] > 0) & ~touches_grid_faces(labels, n)
