import numpy as np
import pytest

from trixanes.io.references import read_reference_table


def test_units_order_and_notes(tmp_path):
    f = tmp_path / "r.csv"
    f.write_text("# measured\nENERGY_EV, charged, pristine\n8350,2,4\n8300,1,3\n")
    t = read_reference_table(f)
    np.testing.assert_allclose(t.energy_kev, [8.30, 8.35])
    assert t.pristine.tolist() == [3, 4] and t.charged.tolist() == [1, 2]
    assert any("eV" in n for n in t.notes) and any("reversed" in n for n in t.notes)


@pytest.mark.parametrize("text, match", [
    ("energy_kev,pristine\n8.3,1\n8.4,2\n", "missing column 'charged'"),
    ("e,pristine,charged\n8.3,1,1\n8.4,2,2\n", "energy_kev"),
    ("energy_kev,pristine,charged\n8.3,1,1\n8.4,x,2\n", "non-numeric value 'x' at line 3"),
    ("energy_kev,pristine,charged\n8.3,1,1\n8.4,nan,2\n", "non-finite value at line 3"),
    ("energy_kev,pristine,charged\n8.3,1,1\n8.4,2,2\n8.35,3,3\n", "not strictly monotonic"),
    ("# only a comment\n", "no header"),
])
def test_errors_name_file_and_place(tmp_path, text, match):
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        read_reference_table(f)
    assert "bad.csv" in str(err.value)


def test_too_few_points_and_missing_file(tmp_path):
    f = tmp_path / "r.csv"
    f.write_text("energy_kev,pristine,charged\n8.3,1,1\n8.4,2,2\n")
    with pytest.raises(ValueError, match="at least 5"):
        read_reference_table(f, min_points=5)
    with pytest.raises(ValueError, match="not found"):
        read_reference_table(tmp_path / "nope.csv")
