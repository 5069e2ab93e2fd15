import pytest

from trixanes.synth.config import PRESETS, Scenario, ScenarioError


def test_presets_validate_and_round_trip_toml(tmp_path):
    for name in PRESETS:
        sc = Scenario.preset(name)
        path = sc.write_toml(tmp_path / f"{name}.toml")
        assert Scenario.from_toml(path) == sc


def test_replace_changes_only_the_named_fields():
    sc = Scenario.preset("default")
    sc2 = sc.replace(seed=4, acquisition={"dead_wedge_deg": 30.0})
    assert sc2.seed == 4 and sc2.acquisition.dead_wedge_deg == 30.0
    assert sc2.acquisition.pixel_size_um == sc.acquisition.pixel_size_um
    assert sc2.sample == sc.sample


@pytest.mark.parametrize("changes, field", [
    ({"acquisition": {"pixel_size_um": -1.0}}, "acquisition.pixel_size_um"),
    ({"sample": {"am_fraction": 1.5}}, "sample.am_fraction"),
    ({"spectra": {"model": "magic"}}, "spectra.model"),
    ({"lithium": {"x_charged": 2.0}}, "lithium."),
])
def test_invalid_values_name_the_field(changes, field):
    with pytest.raises(ScenarioError, match=field.replace(".", r"\.")):
        Scenario.preset("default").replace(**changes)


def test_unknown_fields_and_bad_files_are_reported(tmp_path):
    with pytest.raises(ScenarioError, match="unknown field"):
        Scenario.from_dict({"acquisition": {"pixel_um": 1.0}})
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = [")
    with pytest.raises(ScenarioError, match="bad.toml"):
        Scenario.from_toml(bad)
    with pytest.raises(ScenarioError, match="no such scenario file"):
        Scenario.from_toml(tmp_path / "missing.toml")
    with pytest.raises(ScenarioError, match="unknown preset"):
        Scenario.preset("huge")


def test_toml_file_can_start_from_a_preset(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('preset = "quick"\nseed = 7\n[acquisition]\ndead_wedge_deg = 20.0\n')
    sc = Scenario.from_toml(f)
    assert sc.seed == 7 and sc.acquisition.dead_wedge_deg == 20.0
    assert sc.acquisition.detector_cols == PRESETS["quick"]["acquisition"]["detector_cols"]
