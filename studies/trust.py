"""How far to trust the numbers of a real scan: simulated twins of its acquisition and sample.

The noise σ (`trixanes.pipeline.uncertainty`) says nothing of the errors both
halves of a scan share: the dead wedge, resolution and partial volume,
segmentation, registration. These depend on the scan and the sample, so
`run_trust` builds twins of both and measures them:

1. the acquisition is read from the scans (`read_acquisition`): energies,
   detector, pixel size per energy (zone-plate magnification), angles (so the
   angular step, range and dead wedge), flats and darks and the photons in the
   flats (the dose), and from the result what the pipeline found (rotation
   centre, drift between energies);
2. the sample is fitted from the result (`fit_sample`, by moments): AM fraction,
   particle size (median equivalent diameter and spread), the Li distribution
   (mean and spread of the particles' relative lithiation), the references;
   one pilot twin then corrects the fit by what the pipeline does to it
   (`refine_fit`: merged and cut particles, the AM segmentation keeps);
3. K twins (seeds) are simulated at the scan's pixel size and angles, on a
   field of view of at most ``max_cols`` detector columns (stated when smaller
   than the scan's), run through the same pipeline with the same options (read
   from the result's provenance), and validated, as a study
   (`trixanes.studies.sweep`: cached by key, on Dask workers or a scheduler);
4. per statistic of ``stats.json``: the twins' mean error is the expected bias,
   their spread the systematic scatter; with the scan's own noise σ they give
   the interval after correcting for the bias (`TrustReport`).

What the twins cannot know: a sample unlike the simulator's (other phases,
other Li patterns), beamline effects the simulator lacks, and the error of the
fit itself (a merged particle fits a larger size). Few twins give a rough
spread: with K = 3 the spread is uncertain by about 50 %.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trixanes._shared.paths import check_out_dir
from trixanes.io.limap import read_limap
from trixanes.io.scorecard import read_scorecard
from trixanes.io.stats import CLASS_NAMES, read_stats
from trixanes.io.trust import TrustReport, write_trust

__all__ = ["ScanAcquisition", "read_acquisition", "fit_sample", "refine_fit", "twin_scenarios", "run_trust",
           "TwinFailed", "STATISTICS"]

#: the statistics of stats.json whose bias and spread are reported (dotted keys)
STATISTICS = ("total_li", "mean_q", "active_surface_fraction",
              *(f"class_fractions.{c}" for c in CLASS_NAMES), "particles.mean_li")
#: largest twin detector width simulated by default (columns)
MAX_COLS = 128


@dataclass(frozen=True)
class ScanAcquisition:
    """What three scans say about how they were taken (units: keV, µm, degrees, photons).

    Attributes
    ----------
    energies_kev : 3 floats
        Pre-edge, edge, post-edge.
    pixel_sizes_um : 3 floats
        At the sample, per energy (they differ with a zone plate).
    detector_rows, detector_cols : int
    n_projections : int
        Angles the range would hold at the scan's step, the dead wedge included.
    n_angles : int
        Angles actually recorded.
    angle_range_deg : (float, float)
    step_deg : float
    dead_wedge_deg, dead_wedge_center_deg : float
        The largest gap in the angles beyond one step (0 when none).
    n_flats, n_darks : int
    flux_photons : float
        Photons per pixel in the flats (their median above the dark, over the gain).
    dark_counts : float
    gain : float
        Counts per photon, from the flats.
    """

    energies_kev: tuple
    pixel_sizes_um: tuple
    detector_rows: int
    detector_cols: int
    n_projections: int
    n_angles: int
    angle_range_deg: tuple
    step_deg: float
    dead_wedge_deg: float
    dead_wedge_center_deg: float
    n_flats: int
    n_darks: int
    flux_photons: float
    dark_counts: float
    gain: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _wedge(theta: np.ndarray) -> tuple[float, float, float, int]:
    """(step, wedge width, wedge centre, angles the range holds at that step)."""
    t = np.sort(np.asarray(theta, np.float64))
    gaps = np.diff(t)
    step = float(np.median(gaps))
    n = int(round((t[-1] - t[0]) / step)) + 1
    k = int(np.argmax(gaps))
    if gaps[k] <= 1.5 * step:
        return step, 0.0, 90.0, n
    centre = float((0.5 * (t[k] + t[k + 1])) % 180.0)
    return step, float(gaps[k] - step), centre, n


def read_acquisition(scan_paths) -> ScanAcquisition:
    """The acquisition of three scans (Data Exchange), as a twin would repeat it.

    Raises
    ------
    ValueError
        Naming the file: unreadable, no energy or pixel size, or scans of
        different detectors or angles.
    """
    from trixanes.pipeline.process import order_scans
    from trixanes.pipeline.uncertainty import estimate_gain, middle_reference_frames

    roles = order_scans(scan_paths)  # each scan's ScanInfo, by role
    infos = [roles[r] for r in ("pre", "edge", "post")]
    for info in infos:
        if info.pixel_size_um is None or info.energy_kev is None:
            raise ValueError(f"{info.path}: a twin needs the scan's energy and pixel size; the file lacks "
                             f"{'the pixel size' if info.pixel_size_um is None else 'the energy'}")
        if (info.n_rows, info.n_cols) != (infos[0].n_rows, infos[0].n_cols):
            raise ValueError(f"{info.path}: detector {info.n_rows}x{info.n_cols}, the pre-edge scan's is "
                             f"{infos[0].n_rows}x{infos[0].n_cols}")
    pre = infos[0]
    step, wedge, centre, n = _wedge(pre.theta_deg)
    flats, darks = middle_reference_frames(pre.path, pre.n_rows)
    gain = estimate_gain(flats, darks) if flats.shape[0] >= 2 else 1.0  # one flat: photons assumed
    dark = float(np.mean(darks))
    flux = float(np.median(flats - darks.mean(axis=0))) / (gain if gain > 0 else 1.0)
    return ScanAcquisition(
        tuple(float(i.energy_kev) for i in infos), tuple(float(i.pixel_size_um) for i in infos),
        pre.n_rows, pre.n_cols, n, pre.n_angles, (float(pre.theta_deg.min()), float(pre.theta_deg.max())),
        step, wedge, centre, pre.n_flats, pre.n_darks, flux, dark / (gain if gain > 0 else 1.0), gain)


def fit_sample(stats, voxel_fill_fraction: float | None = None) -> dict:
    """Scenario sections for a sample like the result's (by moments).

    Parameters
    ----------
    stats : Stats
        The real scan's statistics (``stats.json``).
    voxel_fill_fraction : float, optional
        AM fraction of the imaged volume, when known (`run_trust` measures it
        in the reconstructed cylinder).

    Returns
    -------
    dict
        ``{"sample": {...}, "lithium": {...}}`` for `Scenario.replace`.
    """
    # sizes only of particles whose equivalent sphere fits between the volume's first and last
    # slice: the faces cut the others, and a cut particle measures small
    height = len(stats.z_profile.z_um) * stats.voxel_size_um[0]
    whole = [p for p in stats.particles if p.n_voxels >= 27
             and p.equivalent_diameter_um / 2 <= p.centroid_um[0] <= height - p.equivalent_diameter_um / 2]
    diam = np.array([p.equivalent_diameter_um for p in whole], float)
    q = np.array([(p.mean_li - stats.x_charged) / (stats.x_pristine - stats.x_charged)
                  for p in stats.particles if p.n_voxels >= 27 and math.isfinite(p.mean_li)], float)
    sample = {}
    if diam.size >= 3:  # fewer: the size stays the preset's (a note says so)
        sample["d50_um"] = float(np.median(diam))
        sample["size_spread"] = float(np.clip(np.std(np.log(diam)), 0.05, 0.6))
    if voxel_fill_fraction is not None and math.isfinite(voxel_fill_fraction):
        sample["am_fraction"] = float(np.clip(voxel_fill_fraction, 0.05, 0.75))
    lithium = {"x_pristine": float(stats.x_pristine), "x_charged": float(stats.x_charged)}
    if q.size:
        lithium["mean_soc"] = float(np.clip(np.mean(q), 0.02, 0.98))
        lithium["soc_spread"] = float(np.clip(np.std(q), 0.0, 0.5)) if q.size > 2 else 0.1
    return _rounded({"sample": sample, "lithium": lithium})


#: copied from the result's references, not fitted: kept exact
_EXACT = ("x_pristine", "x_charged")


def _rounded(fit: dict) -> dict:
    """Fitted values to 3 significant digits: all a fit knows, and the twins' cache keys then do not
    change with the last digits of a rerun (threaded reductions are not bit-reproducible).

    Examples
    --------
    >>> _rounded({"sample": {"d50_um": 3.95251}, "lithium": {"x_pristine": 1.0125, "mean_soc": 0.389814}})
    {'sample': {'d50_um': 3.95}, 'lithium': {'x_pristine': 1.0125, 'mean_soc': 0.39}}
    """
    return {sec: {k: v if k in _EXACT else float(f"{v:.3g}") for k, v in vals.items()} for sec, vals in fit.items()}


def refine_fit(fit: dict, found_real: dict, found_twin: dict) -> dict:
    """Correct a fit by what the pipeline does to it: match the twin's found moments to the scan's.

    ``found_real`` is `fit_sample` of the real result, ``found_twin`` of a
    pilot twin simulated with ``fit``: sizes, AM fraction and Li spread are
    scaled by real/twin, the mean lithiation shifted by real − twin, so that
    what the pipeline finds on the next twins matches what it found on the scan.

    Examples
    --------
    >>> fit = {"sample": {"d50_um": 3.5}, "lithium": {"mean_soc": 0.4}}
    >>> refine_fit(fit, fit, {"sample": {"d50_um": 3.0}, "lithium": {"mean_soc": 0.45}})
    {'sample': {'d50_um': 4.08}, 'lithium': {'mean_soc': 0.35}}
    """
    out = {"sample": dict(fit["sample"]), "lithium": dict(fit["lithium"])}
    limits = {"d50_um": (0.5, 20.0), "am_fraction": (0.05, 0.75), "size_spread": (0.05, 0.6),
              "soc_spread": (0.0, 0.5), "mean_soc": (0.02, 0.98)}
    for section, key, how in (("sample", "d50_um", "scale"), ("sample", "am_fraction", "scale"),
                              ("sample", "size_spread", "scale"), ("lithium", "mean_soc", "shift"),
                              ("lithium", "soc_spread", "scale")):
        a, b = found_real.get(section, {}).get(key), found_twin.get(section, {}).get(key)
        if key not in out[section] or a is None or b is None:
            continue
        v = out[section][key] * a / b if how == "scale" and b > 0 else out[section][key] + (a - b)
        out[section][key] = float(np.clip(v, *limits[key]))
    return _rounded(out)


def twin_scenarios(acq: ScanAcquisition, fit: dict, twins: int, *, seed: int = 0, max_cols: int = MAX_COLS,
                   center_offset_px: float = 0.0, drift_px: float = 0.0, preset: str = "quick"):
    """``twins`` scenarios that repeat the acquisition on a sample like the fit (seeds ``seed`` ...).

    Returns
    -------
    list of Scenario, and the list of notes (field of view reduced, ...)
    """
    from trixanes.synth.config import Scenario

    notes = []
    cols, rows = acq.detector_cols, acq.detector_rows
    if cols > max_cols:
        rows = max(8, int(round(rows * max_cols / cols)))
        cols = max_cols
        notes.append(f"twins image {rows}x{cols} pixels of the scan's {acq.detector_rows}x{acq.detector_cols} "
                     f"(same pixel size and angles): a smaller field of view")
    magnified = not np.allclose(acq.pixel_sizes_um, acq.pixel_sizes_um[0], rtol=1e-4)
    acquisition = {
        "energies_kev": list(acq.energies_kev), "detector_cols": cols, "detector_rows": rows,
        "pixel_size_um": acq.pixel_sizes_um[0], "n_projections": acq.n_projections,
        "angle_range_deg": list(acq.angle_range_deg), "dead_wedge_deg": acq.dead_wedge_deg,
        "dead_wedge_center_deg": acq.dead_wedge_center_deg, "n_flats": acq.n_flats,
        "n_darks": max(acq.n_darks, 1), "flux_photons": acq.flux_photons, "dark_counts": acq.dark_counts,
        "zone_plate_magnification": bool(magnified), "center_offset_px": float(center_offset_px),
        "drift_px": float(drift_px),
    }
    if magnified:
        acquisition["magnification_reference_kev"] = acq.energies_kev[0]
    base = Scenario.preset(preset).replace(name="trust-twin", acquisition=acquisition, **fit)
    return [base.replace(seed=seed + k) for k in range(int(twins))], notes


def _value(stats_dict, key):
    v = stats_dict
    for part in key.split("."):
        v = v.get(part) if isinstance(v, dict) else None
    return float(v) if isinstance(v, (int, float)) else float("nan")


def _fill(n_am: int, shape) -> float:
    """AM fraction of the electrode disk (the simulator's ``am_fraction``) in a volume of ``shape``."""
    from trixanes.synth.config import Scenario

    disk = Scenario.preset("quick").sample.disk_diameter_fraction  # the twins' geometry
    return float(n_am / (math.pi / 4 * float(np.prod(shape)) * disk ** 2))


class TwinFailed(RuntimeError):
    """A twin's simulation, pipeline run or validation failed (its error row says how)."""


def _run_twins(scenarios, label, out_dir, pipe, cache_dir, scheduler, workers, progress):
    """The twins as a study (`trixanes.studies.sweep`): cached by key, on Dask; each row and its scorecard."""
    from trixanes.studies.sweep import Task, run_sweep

    tasks = [Task("trust", f"{label} {k + 1}", sc, repeat=k) for k, sc in enumerate(scenarios)]
    rows = run_sweep(tasks, out_dir, scheduler=scheduler, workers=workers, progress=progress, pipeline=pipe,
                     sim_cache=cache_dir)
    for row in rows:
        if row.get("status") != "ok":
            raise TwinFailed(f"{row['label']} (seed {row['seed']}, {Path(out_dir) / row['key']}): {row.get('error')}")
    return [(row, read_scorecard(Path(out_dir) / row["key"] / "scorecard.json")) for row in rows]


def _found_from_limap(result_dir: Path):
    """The real result's statistics, noise σ, pipeline options, centre and drift."""
    stats = read_stats(result_dir / "stats.json")
    limap = read_limap(result_dir / "limap.h5")
    prov = limap.provenance
    details = prov.details if prov else {}
    options = dict(prov.options) if prov and prov.options else {}
    centres = (details or {}).get("rotation_center_px") or {}
    reg = (details or {}).get("registration") or {}
    binning = int((details or {}).get("binning") or 1)
    drift = max([max(abs(float(t)) for t in r.get("translation_vox_zyx", [0.0])) for r in reg.values()] or [0.0])
    return stats, options, centres.get("pre"), drift * binning, _fill(int(limap.am_mask.sum()), limap.li.shape)


def run_trust(scans, references, result_dir, out_dir, *, twins: int = 3, pipeline=None, cache_dir=None,
              seed: int = 0, max_cols: int = MAX_COLS, scheduler: str | None = None, workers: int = 2,
              progress: bool = True) -> TrustReport:
    """Expected bias and spread of every statistic of a real scan's result, from simulated twins.

    Parameters
    ----------
    scans : three path-like
        The real scans (Data Exchange).
    references : path-like
        Its ``references.csv`` (the twins use the simulator's own references
        with the result's stoichiometries).
    result_dir : path-like
        Where the pipeline wrote ``limap.h5`` and ``stats.json`` for these scans.
    out_dir : path-like
        ``trust.json``; ``twins/<key>/`` holds each twin's scorecard (a study's
        cache: a rerun with the same code, scan and pipeline reuses them).
    twins : int
    pipeline : Pipeline or str, optional
        Default: trixanes' own, with the options recorded in the result.
    cache_dir : path-like, optional
        Simulation cache (`trixanes.studies.simcache`); default: each twin's
        simulation is removed once it is scored.
    scheduler : str, optional
        Dask scheduler address for the twins, ``"inline"`` for this process;
        default a local cluster of ``workers`` processes (`studies.sweep.run_sweep`).

    Returns
    -------
    TrustReport

    Raises
    ------
    TwinFailed
        A twin did not run through (its folder and error named).

    Notes
    -----
    The default local cluster starts worker processes: a script that calls
    this needs the ``if __name__ == "__main__":`` guard (or ``scheduler="inline"``).
    """
    from trixanes.pipeline.process import ProcessOptions
    from trixanes.validate.plugin import TrixanesPipeline, parse_pipeline

    if int(twins) < 1:
        raise ValueError(f"twins: need at least 1, got {twins!r}")
    t0 = time.perf_counter()
    result_dir, out_dir = Path(result_dir), check_out_dir(out_dir)
    for name in ("limap.h5", "stats.json"):
        if not (result_dir / name).is_file():
            raise ValueError(f"{result_dir}: no {name} (the result of processing these scans)")
    stats, options, centre, drift, fill = _found_from_limap(result_dir)
    acq = read_acquisition(scans)
    if pipeline is None:
        known = {f.name for f in dataclasses.fields(ProcessOptions)}
        kept = {k: (tuple(v) if isinstance(v, list) else v) for k, v in options.items() if k in known}
        kept.update(figures=False, scheduler=None)
        pipe = TrixanesPipeline(ProcessOptions(**kept))
    else:
        pipe = parse_pipeline(pipeline) if isinstance(pipeline, str) else pipeline
    offset = 0.0 if centre is None else float(centre) - (acq.detector_cols - 1) / 2
    # to a thousandth of a pixel: the twins' keys then survive the last digits of a rerun
    twin_kw = dict(max_cols=max_cols, center_offset_px=round(offset, 3) if acq.detector_cols <= max_cols else 0.0,
                   drift_px=round(drift, 3))
    run = dict(pipe=pipe, cache_dir=cache_dir, scheduler=scheduler, workers=workers, progress=progress)
    # the pilot: what the pipeline finds of the first fit corrects it (sizes of merged or cut
    # particles, the AM the segmentation keeps, the lithiation it measures)
    found_real = fit_sample(stats, fill)
    (pilot,), notes = twin_scenarios(acq, found_real, 1, seed=seed + 1000, **twin_kw)
    # one task: a local cluster would only add its start-up
    ((_, card),) = _run_twins([pilot], "pilot", out_dir / "twins", **{**run, "scheduler": scheduler or "inline"})
    pilot_fill = _fill(card["segmentation"]["n_found"], card["grid"]["result_shape"])
    fit = refine_fit(found_real, found_real, fit_sample(card.result_stats, pilot_fill))
    notes = list(notes) + [f"sample fitted from the result and corrected by one pilot twin: {fit}"]
    if "d50_um" not in fit["sample"]:
        notes.append(f"fewer than 3 whole particles in the volume: the twins' particle size is the "
                     f"simulator's preset ({pilot.sample.d50_um:g} µm), not fitted")
    scenarios, _ = twin_scenarios(acq, fit, twins, seed=seed, **twin_kw)
    rows = []
    for row, card in _run_twins(scenarios, "twin", out_dir / "twins", **run):
        rows.append({"seed": row["seed"], "simulation_key": row.get("simulation.key"),
                     "scorecard": str(out_dir / "twins" / row["key"] / "scorecard.json"),
                     "truth": card.truth_stats.to_dict(), "found": card.result_stats.to_dict(),
                     "interior_rmse": float(card["voxel"]["interior"]["rmse"]),
                     "am_rmse": float(card["voxel"]["am"]["rmse"]),
                     "particle_mae": float(card["particles"]["mean_li"]["mae"])})
    real = stats.to_dict()
    sigma = stats.sigma or {}
    entries = {}
    for key in STATISTICS:
        if key == "particles.mean_li":  # one number per particle: its expected error, not a bias
            errs = np.array([r["particle_mae"] for r in rows], float)
            entries[key] = _entry(float("nan"), errs, float("nan"), kind="mae")
            continue
        errs = np.array([_value(r["found"], key) - _value(r["truth"], key) for r in rows], float)
        noise = _value(sigma, key) if sigma else float("nan")
        entries[key] = _entry(_value(real, key), errs, noise)
    voxel = {"interior_rmse": _mean_sd([r["interior_rmse"] for r in rows]),
             "am_rmse": _mean_sd([r["am_rmse"] for r in rows])}
    report = TrustReport(
        scans=[str(p) for p in scans], result=str(result_dir), twins=int(twins),
        acquisition=acq.to_dict(), sample_fit=fit, pipeline={"name": pipe.name, "describe": pipe.describe()},
        statistics=entries, voxel=voxel, runs=rows, notes=tuple(notes), seconds=time.perf_counter() - t0)
    write_trust(out_dir / "trust.json", report)
    return report


def _mean_sd(values) -> dict:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return {"mean": float(v.mean()) if v.size else float("nan"),
            "sd": float(v.std(ddof=1)) if v.size > 1 else float("nan"), "n": int(v.size)}


def _entry(value: float, errors: np.ndarray, noise_sigma: float, kind: str = "bias") -> dict:
    """One statistic: what the scan found, the twins' bias and spread, the corrected interval, in words."""
    e = errors[np.isfinite(errors)]
    bias = float(e.mean()) if e.size else float("nan")
    spread = float(e.std(ddof=1)) if e.size > 1 else float("nan")
    if kind == "mae":
        return {"kind": kind, "expected_error": bias, "spread": spread, "n_twins": int(e.size),
                "verdict": f"a particle's mean Li is off by about {bias:.3f} (twins' MAE)" if e.size else "no twin"}
    total_sd = math.sqrt(np.nansum([spread ** 2 if math.isfinite(spread) else 0.0,
                                    noise_sigma ** 2 if math.isfinite(noise_sigma) else 0.0]))
    corrected = value - bias if math.isfinite(bias) else float("nan")
    lim = 2 * (spread if math.isfinite(spread) else 0.0)
    if not e.size:
        verdict = "no twin measured it"
    elif e.size < 2:
        verdict = f"expected bias {bias:+.4f} from one twin: no spread, no significance"
    elif abs(bias) > max(lim, 2 * noise_sigma if math.isfinite(noise_sigma) else 0.0):
        verdict = f"biased by {bias:+.4f} (beyond 2x the twins' spread {spread:.4f}): subtract it"
    else:
        verdict = f"no bias beyond the twins' spread ({bias:+.4f} ± {spread:.4f})"
    return {"kind": kind, "value": value, "expected_bias": bias, "spread": spread, "noise_sigma": noise_sigma,
            "corrected": corrected, "interval": [corrected - 2 * total_sd, corrected + 2 * total_sd]
            if math.isfinite(corrected) else [float("nan"), float("nan")], "n_twins": int(e.size),
            "verdict": verdict}
