"""Process an operando series: each state as `process` does, then one set of particle labels.

Each state's three scans are processed into ``<out>/<state>/``. Every later
state is then registered rigidly onto the first, on the post-edge volumes
(the highest Ni contrast, and nearly independent of the Li content, so the
metric sees the structure, not the chemistry), sampled in the first state's
active material only. The first state's particle labels are carried onto each
later state's own grid through that motion (nearest neighbour): a label is the
same particle throughout, and no Li map is resampled for a number (only for
the figures, which show every state on the first state's grid). A particle
whose voxels a state's field of view does not cover (it moved out) is not
followed there, and is reported.

Not yet: particles that moved on their own (detached), which a rigid
registration of the whole sample cannot follow.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from scipy import ndimage
from tqdm.auto import tqdm

from trixanes._shared.labels import touches_grid_faces
from trixanes._shared.paths import check_out_dir
from trixanes._shared.provenance import Provenance
from trixanes.io.dataexchange import ScanError
from trixanes.io.limap import read_limap, write_limap
from trixanes.io.stats import write_stats
from trixanes.io.series import SeriesStats, write_series, write_series_particles_csv

from . import analyze as _analyze
from .detached import find_detached, move_labels
from .process import ProcessOptions, order_scans, process
from .uncertainty import statistic_sigmas
from .register import register_volume
from .resample import apply_registration, carry_labels, rotation_zyx

__all__ = ["SeriesResult", "find_state_scans", "process_series", "MIN_COVERED"]

#: share of a particle's voxels a state's data must cover for it to be followed there
MIN_COVERED = 0.9

_SCAN_SUFFIXES = (".h5", ".hdf5", ".hdf", ".nxs")


@dataclass(frozen=True)
class SeriesResult:
    """What :func:`process_series` wrote."""

    out_dir: Path
    state_dirs: tuple
    series_path: Path
    particles_csv: Path
    figures: tuple
    stats: SeriesStats
    seconds: float


def find_state_scans(state_dir) -> list:
    """The three Data Exchange scans (files with ``/exchange/data``) of one state's folder.

    Other HDF5 files (a ``truth.h5``, a result) are passed over. Raises
    ScanError naming the folder when it does not hold exactly three.
    """
    state_dir = Path(state_dir)
    if not state_dir.is_dir():
        raise ScanError(f"{state_dir}: no such state folder")
    scans = []
    for p in sorted(state_dir.iterdir()):
        if p.suffix.lower() not in _SCAN_SUFFIXES or not p.is_file():
            continue
        try:
            with h5py.File(p, "r") as f:
                if isinstance(f.get("exchange/data"), h5py.Dataset):
                    scans.append(p)
        except OSError:
            continue
    if len(scans) != 3:
        found = ", ".join(p.name for p in scans) or "none"
        raise ScanError(f"{state_dir}: a state needs three scans (pre-edge, edge, post-edge) with "
                        f"/exchange/data, found {len(scans)} ({found})")
    return scans


def _check_same_acquisition(ordered: list, dirs: list) -> None:
    """Every state must have the first state's energies and detector."""
    first = ordered[0]
    for d, roles in zip(dirs[1:], ordered[1:]):
        for role, info in roles.items():
            ref = first[role]
            if (info.n_rows, info.n_cols) != (ref.n_rows, ref.n_cols):
                raise ScanError(f"{info.path}: detector {info.n_rows} x {info.n_cols}, but the first "
                                f"state's {role} scan {ref.path} has {ref.n_rows} x {ref.n_cols}")
            if abs(info.energy_kev - ref.energy_kev) > 1e-4:
                raise ScanError(f"{info.path}: {role} energy {info.energy_kev:.4f} keV, but the first "
                                f"state's ({ref.path}) is {ref.energy_kev:.4f} keV")
            if (info.pixel_size_um is not None and ref.pixel_size_um is not None
                    and abs(info.pixel_size_um / ref.pixel_size_um - 1) > 1e-6):
                raise ScanError(f"{info.path}: pixel size {info.pixel_size_um} µm, but the first "
                                f"state's ({ref.path}) is {ref.pixel_size_um} µm")


def process_series(state_dirs, references, out_dir, options: ProcessOptions | None = None, *,
                   names=None, progress: bool = True) -> SeriesResult:
    """Process a series of states and follow every particle through it.

    Parameters
    ----------
    state_dirs : sequence of path-like
        One folder per state, in order, each holding that state's three scans.
    references : path-like
        The ``references.csv`` measured before the run (one for all states).
    out_dir : path-like
        Gets ``<state>/`` (limap.h5 on that state's own grid with the labels
        of the series, stats.json, figures), ``series.json`` (written last: a
        run that stops early leaves none), ``particles.csv`` and ``figures/``.
    options : ProcessOptions, optional
        For every state.
    names : sequence of str, optional
        State names (default: the folders' names).
    progress : bool

    Returns
    -------
    SeriesResult
    """
    t0 = time.perf_counter()
    opts = options or ProcessOptions()
    dirs = [Path(d) for d in state_dirs]
    if not dirs:
        raise ValueError("a series needs at least one state folder")
    names = [d.name for d in dirs] if names is None else [str(n) for n in names]
    if len(names) != len(dirs):
        raise ValueError(f"{len(names)} names for {len(dirs)} state folders")
    if len(set(names)) != len(names):
        raise ValueError(f"state names must differ, got {names}")
    check_out_dir(out_dir)
    scans = [find_state_scans(d) for d in dirs]  # every state is checked before any work
    ordered = [order_scans(s) for s in scans]
    _check_same_acquisition(ordered, dirs)
    out_dir = Path(out_dir)
    bar = tqdm(total=2 * len(dirs), desc="series", unit="step", disable=not progress)
    results = []
    for name, s in zip(names, scans):
        bar.set_postfix_str(f"{name}: process")
        results.append(process(s, references, out_dir / name, opts, progress=False))
        bar.update()
    first, mu_first = read_limap(results[0].limap_path, mu=True)
    shape, vox = first.shape, first.voxel_size_um
    labels = first.labels if first.labels is not None else np.zeros(shape, np.int32)
    # the metric samples the material only: the field of view's rim and the
    # reconstruction's artifacts stay with the grid, and pull a rotation towards 0
    # (0.34 deg found for 0.6 deg, noise-free, on the whole volume; 0.595 on the AM)
    fixed = np.where(ndimage.binary_dilation(first.am_mask, iterations=2), mu_first["post"], np.nan)
    n_lab = int(labels.max())
    motions, notes, per_state, on_common = [], [], [], []
    covered = np.zeros((n_lab, len(names)))
    count0 = np.bincount(labels.ravel(), minlength=n_lab + 1)[1:]
    for s, (name, res) in enumerate(zip(names, results)):
        bar.set_postfix_str(f"{name}: register")
        lm, mu = read_limap(res.limap_path, mu=True)
        if s == 0:
            carried = labels
            on_common.append(lm.li)
        else:
            reg = register_volume(fixed, mu["post"], transform="rigid", bspline=False,
                                  voxel_size_um=vox, moving_voxel_size_um=lm.voxel_size_um,
                                  interpolator="linear")
            # particles that moved on their own (detached) are looked for and carried where they went
            moves = find_detached(mu_first["post"], apply_registration(reg, mu["post"], shape, vox), labels, vox)
            carried = carry_labels(reg, move_labels(labels, moves) if moves else labels, lm.shape, vox)
            motions.append({**_motion(name, reg, vox), "detached": [m.to_dict(vox) for m in moves]})
            for m in moves:
                shift = ", ".join(f"{v:+.2f}" for v in m.to_dict(vox)["shift_um"])
                notes.append(f"{name}: particle {m.label} moved on its own by ({shift}) µm (z, y, x) "
                             f"against the sample (agreement {m.ncc_before:.2f} -> {m.ncc_after:.2f}); "
                             "followed there")
            if opts.figures:  # only the figures see a resampled Li map
                moved = apply_registration(reg, lm.li, shape, vox, nan_is_absent=True)
                am = apply_registration(reg, lm.am_mask.astype(np.float32), shape, vox) > 0.5
                on_common.append(np.where(am, moved, np.nan))
        with np.errstate(invalid="ignore", divide="ignore"):
            covered[:, s] = np.bincount(carried.ravel(), minlength=n_lab + 1)[1:] / np.maximum(count0, 1)
        lab_s = np.where(lm.am_mask, carried, 0).astype(np.int32)
        kw = dict(x_pristine=lm.x_pristine, x_charged=lm.x_charged, thresholds=opts.thresholds)
        st = _analyze.analyze(lm.li, lm.am_mask, lab_s, lm.voxel_size_um, **kw)
        if res.noise is not None:
            # the state's own noise, propagated to the statistics of the series' labels
            st = st.replace(sigma=statistic_sigmas(lm.li, lm.am_mask, lab_s, lm.voxel_size_um, res.noise, **kw))
        per_state.append(st)
        # the state's own result keeps its grid and Li map; its labels become the series'
        write_limap(res.limap_path, dataclasses.replace(lm, labels=lab_s), mu=mu)
        write_stats(res.stats_path, st.replace(provenance=lm.provenance))
        bar.update()
    bar.close()
    stats = _series_stats(names, vox, motions, per_state, labels, n_lab, covered, opts, scans, references,
                          notes)
    out_dir.mkdir(parents=True, exist_ok=True)
    series_path = write_series(out_dir / "series.json", stats)
    csv_path = write_series_particles_csv(out_dir / "particles.csv", stats)
    figs = ()
    if opts.figures:
        from .series_figures import save_series_figures
        figs = tuple(save_series_figures(stats, on_common, vox, out_dir / "figures"))
    return SeriesResult(out_dir, tuple(out_dir / n for n in names), series_path, csv_path, figs, stats,
                        time.perf_counter() - t0)


def _motion(name: str, reg, vox) -> dict:
    """A state's rigid motion against the first state, for ``series.json``."""
    return {"state": name,
            "translation_um": [float(t * v) for t, v in zip(reg.translation_vox, vox)],
            "translation_vox": [float(t) for t in reg.translation_vox],
            "rotation_deg": float(reg.rotation_deg),
            "rotation_matrix_zyx": rotation_zyx(reg).round(9).tolist(),
            "metric_before": float(reg.metric_before), "metric_after": float(reg.metric_after)}


def _series_stats(names, vox, motions, per_state, labels, n_lab, covered, opts, scans, references,
                  notes) -> SeriesStats:
    n_s = len(names)
    mean_li = np.full((n_lab, n_s), np.nan)
    rich = np.full((n_lab, n_s), np.nan)
    sigma = np.full((n_lab, n_s), np.nan) if opts.uncertainty else None
    for s, st in enumerate(per_state):
        for p in st.particles:
            if 1 <= p.label <= n_lab:
                mean_li[p.label - 1, s] = p.mean_li
                rich[p.label - 1, s] = p.li_rich_fraction
        for p in (st.sigma or {}).get("particles", ()):
            if sigma is not None and 1 <= p["label"] <= n_lab:
                sigma[p["label"] - 1, s] = p["mean_li"]
    followed = (covered >= MIN_COVERED) & np.isfinite(mean_li)
    for a in (mean_li, rich) if sigma is None else (mean_li, rich, sigma):
        a[~followed] = np.nan
    counts = np.bincount(labels.ravel(), minlength=n_lab + 1)[1:]
    present = counts > 0
    inside = ~touches_grid_faces(labels, n_lab)
    lost = [(int(k) + 1, names[s]) for k, s in zip(*np.nonzero(present[:, None] & ~followed))]
    if lost:
        listing = ", ".join(f"{k} in {s}" for k, s in lost[:20]) + (" ..." if len(lost) > 20 else "")
        notes.append(f"{len(lost)} particle-states not followed (less than {MIN_COVERED:.0%} of the "
                     f"particle's voxels covered by that state's data): {listing}")
    summary = [{"state": name, "total_li": st.total_li, "class_fractions": dict(st.class_fractions),
                "z_profile": st.z_profile.to_dict(), "depth_profile": st.depth_profile.to_dict(),
                # the state's error bars; the particles' are in the trajectories
                **({"sigma": {k: v for k, v in st.sigma.items() if k != "particles"}}
                   if st.sigma is not None else {})}
               for name, st in zip(names, per_state)]
    inputs = {"references": Provenance.input_file(references, digest=False)}
    for name, paths in zip(names, scans):
        inputs.update({f"{name}/{p.name}": Provenance.input_file(p, digest=False) for p in paths})
    prov = Provenance(tool="series", options={"states": list(names), "process": _options_dict(opts)},
                      inputs=inputs)
    return SeriesStats(tuple(names), tuple(vox), tuple(motions), tuple(summary),
                       np.arange(1, n_lab + 1)[present], (counts * np.prod(vox))[present], inside[present],
                       mean_li[present], rich[present], followed[present], tuple(notes), prov,
                       mean_li_sigma=None if sigma is None else sigma[present])


def _options_dict(opts: ProcessOptions) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(opts).items()}
