"""A cache of simulations: each scenario is simulated once per generator version.

A pipeline is validated on simulated scans many times over (a regression
suite after every change, a property test at every run, a study with another
pipeline): the scans, references and truth of a scenario depend only on the
scenario and on the code that generates them, so they are kept in
``<cache>/<key>/`` and reused. The key hashes the resolved scenario TOML and
`generator_version` (trixanes' version and the sources of ``trixanes.synth``
and of every trixanes module it imports: the io formats it writes, the shared
helpers), never a path, so a cache folder can be copied to another
machine or shared between the machines of a cluster.

An entry is built in a work folder beside it and renamed into place, and its
``simulation.json`` (the manifest: key, generator, file sizes) is what makes
it complete: an interrupted simulation leaves no entry, two processes making
the same one keep the first, and an entry whose files do not match its
manifest is simulated again.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import importlib
import importlib.util
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from trixanes._shared.jsonio import write_json
from trixanes._shared.paths import OWNER_FILE, check_out_dir, make_work_dir

__all__ = ["CachedSimulation", "GENERATOR_PACKAGES", "cached_simulation", "default_cache_dir",
           "generator_version", "simulation_key", "source_modules", "source_version"]

#: the packages whose code (with what it imports) decides what a simulation writes
GENERATOR_PACKAGES = ("trixanes.synth",)
MANIFEST = "simulation.json"
ENV_VAR = "TRIXANES_CACHE"


@dataclass(frozen=True)
class CachedSimulation:
    """The files of one cached simulation.

    Attributes
    ----------
    folder : Path
        ``<cache>/<key>``.
    scan_paths : tuple of Path
        The three Data Exchange scans, in order of energy.
    references_path, truth_path, scenario_path : Path
        ``references.csv``, ``truth.h5`` and the resolved ``scenario.toml``.
    key : str
        `simulation_key` of the scenario (64 hexadecimal digits).
    cached : bool
        True when nothing was simulated by this call.
    seconds : float
        How long the simulation took when it was made.
    """

    folder: Path
    scan_paths: tuple
    references_path: Path
    truth_path: Path
    scenario_path: Path
    key: str
    cached: bool
    seconds: float


def source_version(packages) -> str:
    """``trixanes.__version__`` plus a hash of the sources ``packages`` run.

    The sources are every module of the packages and every trixanes module they
    import, directly or through another (`source_modules`): a change to a file
    format a simulation writes changes the version, a change to one it never
    touches does not.

    Parameters
    ----------
    packages : sequence of str
        Importable package names, e.g. ``("trixanes.synth",)``.

    Returns
    -------
    str
        ``"<version>+<16 hex digits>"``; it changes when any of those source
        files changes (its module name, or its bytes).

    Examples
    --------
    >>> v = source_version(("trixanes.io",))
    >>> v == source_version(("trixanes.io",)), v == source_version(("trixanes.synth",))
    (True, False)
    """
    return _source_version(tuple(packages))


@functools.lru_cache(maxsize=None)
def _source_version(packages: tuple) -> str:
    import trixanes

    h = hashlib.sha256()
    for name, path in source_modules(packages):
        h.update(name.encode())
        h.update(path.read_bytes())
    return f"{trixanes.__version__}+{h.hexdigest()[:16]}"


def source_modules(packages) -> tuple[tuple[str, Path], ...]:
    """(module name, source file) of the packages' modules and of the trixanes modules they import.

    The imports are read from the sources (``import`` and ``from ... import``,
    relative ones resolved, inside functions too), not by running them, and
    followed transitively; the packages a module sits in count as well, since
    importing it runs their ``__init__``.

    Examples
    --------
    >>> names = dict(source_modules(("trixanes.synth",)))
    >>> "trixanes.io.truth" in names, "trixanes.io.series" in names
    (True, False)
    """
    return _source_modules(tuple(packages))


@functools.lru_cache(maxsize=None)
def _source_modules(packages: tuple) -> tuple[tuple[str, Path], ...]:
    todo = []
    for name in packages:
        folder = Path(importlib.import_module(name).__path__[0])
        todo += [".".join((name, *p.relative_to(folder).with_suffix("").parts)).removesuffix(".__init__")
                 for p in folder.rglob("*.py")]
    found: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        if name in found:
            continue
        spec = _spec(name)
        if spec is None or not str(spec.origin or "").endswith(".py"):
            continue
        found[name] = Path(spec.origin)
        todo += _parents(name) + _imports(name, found[name], spec.submodule_search_locations is not None)
    return tuple(sorted(found.items()))


def _spec(name: str):
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imports(name: str, path: Path, is_package: bool) -> list[str]:
    """The trixanes modules a source file names in its imports."""
    package = name if is_package else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) \
                if node.level else node.module
            # ``from pkg import x``: x may be a submodule or a name defined in pkg
            out += [base] + [f"{base}.{a.name}" for a in node.names if a.name != "*"]
    return [m for m in out if m == "trixanes" or m.startswith("trixanes.")]


def generator_version() -> str:
    """`source_version` of `GENERATOR_PACKAGES`: what a simulation's bytes depend on."""
    return source_version(GENERATOR_PACKAGES)


def simulation_key(scenario) -> str:
    """sha256 of the resolved scenario and `generator_version`.

    Examples
    --------
    >>> from trixanes.synth.config import Scenario
    >>> k = simulation_key(Scenario.preset("tiny"))
    >>> len(k), k == simulation_key(Scenario.preset("tiny").replace(seed=1))
    (64, False)
    """
    if not hasattr(scenario, "to_toml"):
        raise ValueError(f"scenario: expected a trixanes.synth.config.Scenario, got {type(scenario).__name__}")
    blob = json.dumps({"scenario": scenario.to_toml(), "generator": generator_version()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def default_cache_dir() -> Path:
    """``$TRIXANES_CACHE``, else ``$XDG_CACHE_HOME/trixanes/simulations`` (``~/.cache`` by default)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "trixanes" / "simulations"


def _load(folder: Path, key: str) -> CachedSimulation | None:
    """The entry in ``folder`` if its manifest is there and every file matches it."""
    try:
        m = json.loads((folder / MANIFEST).read_text())
        if m["key"] != key:
            return None
        files = m["files"]
        for name, size in files.items():
            if (folder / name).stat().st_size != size:
                return None
        scans = tuple(folder / name for name in m["scans"])
        return CachedSimulation(folder, scans, folder / m["references"], folder / m["truth"],
                                folder / m["scenario"], key, True, float(m["seconds"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cached_simulation(scenario, cache_dir=None, *, progress: bool = False,
                      scheduler=None) -> CachedSimulation:
    """The scans, references and truth of ``scenario``: from the cache, or simulated into it.

    Parameters
    ----------
    scenario : trixanes.synth.config.Scenario
    cache_dir : path-like, optional
        The cache folder; default `default_cache_dir`.
    progress : bool
        Show the simulation's progress bars.
    scheduler : str or distributed.Client, optional
        Image the bands of detector rows on this Dask cluster's workers
        (`trixanes.synth.simulate.simulate`'s ``scheduler``; the same files).
        The cache folder must be on a file system they share.

    Returns
    -------
    CachedSimulation
        ``cached`` says whether it was there already.

    Raises
    ------
    ValueError
        ``cache_dir`` is a file or cannot be written; or the scenario cannot be
        simulated (the simulation's own error).

    Examples
    --------
    >>> import tempfile
    >>> from trixanes.synth.config import Scenario
    >>> sc = Scenario.preset("tiny").replace(acquisition={"detector_cols": 24, "detector_rows": 8,
    ...                                                   "n_projections": 12})
    >>> d = tempfile.mkdtemp()
    >>> first, again = cached_simulation(sc, d), cached_simulation(sc, d)
    >>> first.cached, again.cached, again.scan_paths == first.scan_paths
    (False, True, True)
    """
    from trixanes.synth.simulate import simulate

    cache = check_out_dir(default_cache_dir() if cache_dir is None else cache_dir, "simulation cache")
    key = simulation_key(scenario)
    final = cache / key
    found = _load(final, key)
    if found is not None:
        return found
    work = make_work_dir(cache, ".sim-")
    try:
        res = simulate(scenario, work, progress=progress, scheduler=scheduler)
        files = {p.name: p.stat().st_size for p in work.iterdir() if p.is_file() and p.name != OWNER_FILE}
        write_json(work / MANIFEST, {
            "key": key, "generator": generator_version(), "scenario_name": scenario.name,
            "seed": scenario.seed, "seconds": res.seconds, "files": files,
            "scans": [p.name for p in res.scan_paths], "references": res.references_path.name,
            "truth": res.truth_path.name, "scenario": res.scenario_path.name})
        (work / OWNER_FILE).unlink(missing_ok=True)
        if final.exists() and _load(final, key) is None:
            shutil.rmtree(final, ignore_errors=True)  # an incomplete or damaged entry: replaced
        try:
            os.rename(work, final)
        except OSError:  # another process put the same entry in place first: keep that one
            found = _load(final, key)
            if found is None:
                raise
            shutil.rmtree(work, ignore_errors=True)
            return found
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(work)
        raise
    made = _load(final, key)
    return CachedSimulation(made.folder, made.scan_paths, made.references_path, made.truth_path,
                            made.scenario_path, key, False, made.seconds)


# -- shared simulations ----------------------------------------------------------
def plan_sources(scenarios) -> list:
    """For each scenario, the noise-free simulation it is derived from, or None.

    Scenarios that differ only in what `trixanes.synth.derive` can derive (a
    dead wedge, a limited range or a coarser step on the same angular grid,
    the photon flux and the dark level) share one `source_scenario`: the one
    whose angles hold the most of them. A source is planned only where it
    serves at least two distinct scenarios; the others (and identical
    scenarios, which share their own simulation through the cache) get None.

    Parameters
    ----------
    scenarios : sequence of trixanes.synth.config.Scenario

    Returns
    -------
    list
        A `~trixanes.synth.config.Scenario` (the source) or None, per scenario.

    Examples
    --------
    >>> from trixanes.synth.config import Scenario
    >>> base = Scenario.preset("tiny")
    >>> scs = [base.replace(acquisition={"dead_wedge_deg": w}) for w in (0.0, 30.0, 60.0)]
    >>> plan = plan_sources(scs + [base.replace(seed=1)])
    >>> plan[0].to_toml() == plan[2].to_toml(), plan[0].acquisition.noise_free, plan[3]
    (True, True, None)
    """
    from trixanes.synth.acquisition import projection_angles
    from trixanes.synth.derive import angle_indices, source_scenario

    scenarios = list(scenarios)
    distinct = {}  # TOML -> (scenario, indices of the scenarios that are it)
    for i, sc in enumerate(scenarios):
        distinct.setdefault(sc.to_toml(), (sc, []))[1].append(i)
    groups = {}  # what the phantom, geometry and spectra are, the angular grid left out
    for toml, (sc, _) in distinct.items():
        groups.setdefault(source_scenario(sc, (0.0, 1.0), 2).to_toml(), []).append(toml)
    plan = [None] * len(scenarios)
    for members in groups.values():
        left = set(members)
        angles = {t: projection_angles(distinct[t][0].acquisition) for t in members}
        while len(left) > 1:
            # each member's own grid (its wedge left out) as a candidate source
            best, covered = None, set()
            for t in sorted(left):
                src = source_scenario(distinct[t][0])
                grid = projection_angles(src.acquisition)
                cover = {u for u in left if angle_indices(grid, angles[u]) is not None}
                if len(cover) > len(covered) or (len(cover) == len(covered) and best is not None
                                                 and grid.size < best[1]):
                    best, covered = (src, grid.size), cover
            if len(covered) < 2:
                break
            for t in covered:
                for i in distinct[t][1]:
                    plan[i] = best[0]
            left -= covered
    return plan
