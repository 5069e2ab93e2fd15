"""The scenario: one validated configuration object per simulated experiment.

A :class:`Scenario` gathers the parameters of every stage of the forward model,
each section a frozen dataclass owned by the module that uses it, with units in
the field names. Scenarios round-trip through TOML; an invalid value raises a
:class:`ScenarioError` naming the field (``acquisition.pixel_size_um``).
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from trixanes._shared import toml
from trixanes._shared.atomic import write_text

from .acquisition import AcquisitionParams
from .lithium import LithiumParams
from .microstructure import MicrostructureParams
from .states import SeriesParams


class ScenarioError(ValueError):
    """An invalid scenario value or file."""


@dataclass(frozen=True)
class SpectraParams:
    """Spectral model of the Ni K-edge of NMC.

    Attributes
    ----------
    model : {"linear-combination", "edge-shift"}
        ``linear-combination`` mixes the pristine and charged reference spectra
        (the pipeline's own assumption); ``edge-shift`` shifts the pristine
        spectrum in energy in proportion to the oxidation, which makes the
        three-energy calibration nonlinear.
    edge_shift_ev : float
        Edge shift between the pristine and the charged reference, eV.
    n_nodes : int or None
        Li nodes of the projection basis; None: 2 for linear-combination
        (exact), 9 for edge-shift (piecewise linear).
    references_csv : str or None
        Measured reference spectra (``energy_kev,pristine,charged``) to drive
        the XANES model instead of the built-in ones.
    """

    model: str = "linear-combination"
    edge_shift_ev: float = 2.3
    n_nodes: int | None = None
    references_csv: str | None = None

    def validate(self) -> None:
        if self.model not in ("linear-combination", "edge-shift"):
            raise ValueError(
                f"model: must be 'linear-combination' or 'edge-shift', got {self.model!r}"
            )
        if not 0 < self.edge_shift_ev < 20:
            raise ValueError(f"edge_shift_ev: must be in (0, 20) eV, got {self.edge_shift_ev}")
        if self.n_nodes is not None and not 2 <= self.n_nodes <= 64:
            raise ValueError(f"n_nodes: must be in [2, 64], got {self.n_nodes}")
        if self.references_csv is not None and not Path(self.references_csv).is_file():
            raise ValueError(f"references_csv: no such file {self.references_csv!r}")

    @property
    def nodes(self) -> int:
        if self.n_nodes is not None:
            return self.n_nodes
        return 2 if self.model == "linear-combination" else 9


SECTIONS = {
    "sample": MicrostructureParams,
    "lithium": LithiumParams,
    "spectra": SpectraParams,
    "acquisition": AcquisitionParams,
}


@dataclass(frozen=True)
class Scenario:
    """One simulated experiment: sample, Li field, spectra and acquisition.

    Examples
    --------
    >>> sc = Scenario.preset("default").replace(seed=3, acquisition={"dead_wedge_deg": 30.0})
    >>> sc.acquisition.dead_wedge_deg
    30.0
    """

    name: str = "default"
    seed: int = 0
    sample: MicrostructureParams = field(default_factory=MicrostructureParams)
    lithium: LithiumParams = field(default_factory=LithiumParams)
    spectra: SpectraParams = field(default_factory=SpectraParams)
    acquisition: AcquisitionParams = field(default_factory=AcquisitionParams)
    series: SeriesParams | None = None

    def __post_init__(self):
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ScenarioError(f"seed: must be a non-negative integer, got {self.seed!r}")
        for section in SECTIONS:
            try:
                getattr(self, section).validate()
            except ValueError as exc:
                raise ScenarioError(f"{section}.{exc}") from None
        if self.series is not None:
            try:
                self.series.validate()
            except ValueError as exc:
                raise ScenarioError(f"series.{exc}") from None
            for st in self.series.states:  # each state's acquisition must be valid on its own
                where = f"series.state {st.name!r}: acquisition"
                acq = _section(AcquisitionParams, {**dataclasses.asdict(self.acquisition), **st.acquisition}, where)
                try:
                    acq.validate()
                except ValueError as exc:
                    raise ScenarioError(f"{where}.{exc}") from None

    def state(self, name: str) -> "Scenario":
        """The scenario of one state of the series: its mean progress and acquisition."""
        if self.series is None:
            raise ScenarioError(f"scenario {self.name!r} has no [series]")
        st = next((s for s in self.series.states if s.name == name), None)
        if st is None:
            raise ScenarioError(f"scenario {self.name!r}: no state {name!r}; states: "
                                f"{[s.name for s in self.series.states]}")
        return self.replace(series=None, lithium={"mean_soc": st.mean_soc}, acquisition=dict(st.acquisition))

    # -- construction -------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict, *, source: str = "scenario") -> "Scenario":
        """Build from nested plain data, rejecting unknown keys by name."""
        data = dict(data)
        kwargs = {}
        for key in ("name", "seed"):
            if key in data:
                kwargs[key] = data.pop(key)
        for section, klass in SECTIONS.items():
            kwargs[section] = _section(klass, data.pop(section, {}), f"{source}: {section}")
        series = data.pop("series", None)
        if series is not None:
            try:
                kwargs["series"] = SeriesParams.from_dict(series)
            except ValueError as exc:
                raise ScenarioError(f"{source}: series.{exc}") from None
        if data:
            raise ScenarioError(f"{source}: unknown field(s) {sorted(data)}; "
                                f"expected name, seed, {', '.join(SECTIONS)}, series")
        return cls(**kwargs)

    @classmethod
    def preset(cls, name: str) -> "Scenario":
        """A named preset: ``default``, ``quick``, ``tiny``, ``paper`` or ``paper-like``."""
        if name not in PRESETS:
            raise ScenarioError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
        return cls.from_dict({"name": name, **PRESETS[name]}, source=f"preset {name}")

    @classmethod
    def from_toml(cls, path: str | Path) -> "Scenario":
        """Read a scenario file. A ``preset = "name"`` key starts from that preset."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ScenarioError(f"{path}: no such scenario file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
        base = data.pop("preset", None)
        if base is not None:
            return cls.preset(base).replace(**data)
        return cls.from_dict(data, source=str(path))

    def replace(self, **changes) -> "Scenario":
        """A copy with top-level fields or per-section dicts of fields changed."""
        data = self.to_dict()
        for key, val in changes.items():
            if key in SECTIONS and isinstance(val, dict):
                data[key] = {**data[key], **val}
            elif key in SECTIONS and dataclasses.is_dataclass(val):
                data[key] = dataclasses.asdict(val)
            elif key == "series":
                data.pop("series", None)
                if val is not None:
                    data["series"] = val.to_dict() if isinstance(val, SeriesParams) else val
            else:
                data[key] = val
        return Scenario.from_dict(data, source="scenario")

    # -- output -------------------------------------------------------------
    def to_dict(self) -> dict:
        out = {"name": self.name, "seed": self.seed}
        for section in SECTIONS:
            out[section] = {k: _plain(v) for k, v in dataclasses.asdict(getattr(self, section)).items()}
        if self.series is not None:
            out["series"] = self.series.to_dict()
        return out

    def to_toml(self) -> str:
        data = self.to_dict()
        if data["acquisition"]["flux_photons"] is None:  # TOML has no None: 0 says noise-free too
            data["acquisition"]["flux_photons"] = 0.0
        return toml.dumps(data)

    def write_toml(self, path: str | Path) -> Path:
        return write_text(path, self.to_toml())


def _plain(v):
    return list(v) if isinstance(v, tuple) else v


def _section(klass, values: dict, where: str):
    if not isinstance(values, dict):
        raise ScenarioError(f"{where}: expected a table of fields, got {type(values).__name__}")
    known = {f.name: f for f in dataclasses.fields(klass)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {unknown}; known: {sorted(known)}")
    hints = typing.get_type_hints(klass)
    kwargs = {}
    for key, val in values.items():
        if isinstance(val, list) and "tuple" in str(hints.get(key, "")):
            val = tuple(val)
        kwargs[key] = val
    try:
        return klass(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{where}: {exc}") from None


# Presets. ``default`` keeps the whole demo fast on 2 cores (~20 µm field of view);
# ``paper`` is the paper's geometry (50 µm field of view, 30 nm pixels, 721 projections
# over [-120°, 120°]) for bigger machines; ``paper-like`` has pixels near the paper's
# (40 nm), its particles and angles on a 15 x 10 µm field, for studies at the paper's resolution
# (binning to 400 nm); ``quick`` and ``tiny`` serve studies and tests.
#
# Photon flux: the paper's scan (30 nm pixels, 721 projections, ~2e4 counts per pixel
# in a typical sCMOS TXM frame) puts about 2e4 * 721 / 0.03**2 = 1.6e10 photons per µm²
# of sample on the detector over a scan. The coarser presets keep that dose per area,
# so their noise per binned (~0.2 µm) voxel is the paper's: flux per pixel scales with
# the pixel area and with 721 / n_projections.
PAPER_PHOTONS_PER_UM2 = 2e4 * 721 / 0.03**2


def _paper_flux(pixel_um: float, n_projections: int) -> float:
    return float(f"{PAPER_PHOTONS_PER_UM2 * pixel_um**2 / n_projections:.2g}")


PRESETS: dict[str, dict] = {
    "default": {
        "acquisition": {"detector_cols": 256, "detector_rows": 256, "pixel_size_um": 0.08,
                        "n_projections": 111, "flux_photons": _paper_flux(0.08, 111)},
    },
    "quick": {
        "acquisition": {"detector_cols": 128, "detector_rows": 96, "pixel_size_um": 0.16,
                        "n_projections": 60, "flux_photons": _paper_flux(0.16, 60)},
    },
    "tiny": {
        "sample": {"d50_um": 3.0},
        "acquisition": {"detector_cols": 64, "detector_rows": 48, "pixel_size_um": 0.2,
                        "n_projections": 90, "flux_photons": _paper_flux(0.2, 90)},
    },
    "paper": {
        "acquisition": {"detector_cols": 1667, "detector_rows": 1667, "pixel_size_um": 0.03,
                        "n_projections": 721, "angle_range_deg": [-120.0, 120.0],
                        "flux_photons": 2e4},
    },
    "paper-like": {
        "acquisition": {"detector_cols": 384, "detector_rows": 256, "pixel_size_um": 0.04,
                        "n_projections": 721, "angle_range_deg": [-120.0, 120.0],
                        "flux_photons": _paper_flux(0.04, 721)},
    },
}
