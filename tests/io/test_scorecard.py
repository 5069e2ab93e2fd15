"""trixanes.io.scorecard: the Scorecard record and its JSON round trip (NaN as null)."""

import json

import numpy as np
import pytest

from trixanes._shared.provenance import Provenance
from trixanes.io.scorecard import Scorecard, read_scorecard, write_scorecard
from trixanes.pipeline.analyze import analyze

NAN = float("nan")


def card():
    m = np.ones((4, 4, 4), bool)
    st = analyze(np.full(m.shape, 0.8), m, m.astype(np.int32), 0.2)
    return Scorecard(
        truth_path="truth.h5", result_path="limap.h5",
        grid={"method": "block mean, k = 2", "truth_shape": [8, 8, 8]},
        voxel={"am": {"n": 64, "rmse": 0.01, "bias": NAN}, "interior": {"n": 0, "rmse": NAN}},
        classes={"names": ["poor", "moderate", "rich"], "matrix": [[1, 0, 0], [0, 2, 0], [0, 0, 3]],
                 "fraction_error": [0.0, NAN, 0.5]},
        segmentation={"dice": 0.97}, particles={"f1": 1.0, "mean_li": {"mae": NAN}},
        profiles={"z": {"centres_um": [0.1, 0.3], "true": [0.8, NAN], "found": [0.8, 0.7], "rmse": 0.0}},
        total={"error": 0.003}, truth_stats=st, result_stats=st, notes=("n",),
        provenance=Provenance(tool="validate", inputs={"truth": {"path": "truth.h5", "sha256": "0" * 64}}))


def test_round_trip_with_nan_and_key_layout(tmp_path):
    c = card()
    p = write_scorecard(tmp_path / "scorecard.json", c)
    d = json.loads(p.read_text(), parse_constant=lambda x: pytest.fail(f"non-standard constant {x}"))
    assert d["voxel"]["interior"]["rmse"] is None and d["profiles"]["z"]["true"] == [0.8, None]
    assert d["truth_stats"]["total_li"] == pytest.approx(0.8)
    assert d["classes"]["matrix"] == [[1, 0, 0], [0, 2, 0], [0, 0, 3]]
    back = read_scorecard(p)
    assert np.isnan(back["voxel"]["interior"]["rmse"]) and back["voxel"]["am"]["n"] == 64
    assert np.isnan(back.profiles["z"]["true"][1]) and back.profiles["z"]["found"] == [0.8, 0.7]
    assert back.classes["matrix"] == [[1, 0, 0], [0, 2, 0], [0, 0, 3]]  # integers stay integers
    assert np.isnan(back.classes["fraction_error"][1])
    assert back.truth_stats.total_li == pytest.approx(0.8) and back.provenance == c.provenance
    assert back.notes == ("n",) and list(back) == list(c)


def test_flattens_like_the_studies_read_it():
    from trixanes.studies.summary import flatten

    flat = flatten(card(), skip=("truth_stats", "result_stats"))
    assert flat["voxel.am.rmse"] == 0.01 and flat["segmentation.dice"] == 0.97
    assert "truth_stats.total_li" not in flat


def test_reader_errors_name_the_file(tmp_path):
    p = tmp_path / "scorecard.json"
    p.write_text('{"truth_path": "t.h5"}')
    with pytest.raises(ValueError, match="scorecard.json: missing key 'result_path'"):
        read_scorecard(p)
    with pytest.raises(ValueError, match="expected a Scorecard record"):
        write_scorecard(p, {"voxel": {}})
