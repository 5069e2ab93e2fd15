import numpy as np
import pytest

from trixanes.io.references import MIN_POINTS, ReferenceTable, read_reference_table, write_reference_table

ROWS = "8.30,1,1\n8.35,2,2\n8.40,3,2\n"


def test_units_order_and_notes(tmp_path):
    f = tmp_path / "r.csv"
    f.write_text("# measured\nENERGY_EV, charged, pristine\n8400,3,5\n8350,2,4\n8300,1,3\n")
    t = read_reference_table(f)
    np.testing.assert_allclose(t.energy_kev, [8.30, 8.35, 8.40])
    assert t.pristine.tolist() == [3, 4, 5] and t.charged.tolist() == [1, 2, 3]
    assert any("eV" in n for n in t.notes) and any("reversed" in n for n in t.notes)
    assert t.path == f


@pytest.mark.parametrize("text, match", [
    ("energy_kev,pristine\n8.3,1\n8.4,2\n8.5,3\n", "missing column 'charged'"),
    ("e,pristine,charged\n" + ROWS, "energy_kev"),
    ("energy_kev,pristine,charged\n8.3,1,1\n8.4,x,2\n8.5,3,3\n", "non-numeric value 'x' at line 3"),
    ("energy_kev,pristine,charged\n8.3,1,1\n8.4,nan,2\n8.5,3,3\n", "non-finite value at line 3"),
    ("energy_kev,pristine,charged\n8.3,1,1\n8.4,2,2\n8.35,3,3\n", "not strictly monotonic.*line 4"),
    ("# only a comment\n", "empty file"),
    ("", "empty file"),
    # today's reader accepted these
    ("energy_kev,pristine,charged\n8.3,1,1\n8.4,2,2\n", "2 energies, at least 3"),
    ("energy_kev,pristine,charged\n8.3,1,1\n8.3,2,2\n8.4,3,3\n", "repeats the energy 8.3 keV.*lines 2 and 3"),
    ("energy_kev,pristine,charged\n8.3,1,1\n8.4,2\n8.5,3,3\n", "line 3 has 2 cells, the header has 3"),
    ("energy_kev,pristine,pristine,charged\n8.3,1,1,1\n8.4,2,2,2\n8.5,3,3,3\n", "'pristine' appears more than once"),
    ("energy_kev,pristine,charged\n-8.3,1,1\n8.4,2,2\n8.5,3,3\n", "non-positive energy -8.3 at line 2"),
])
def test_errors_name_file_and_place(tmp_path, text, match):
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        read_reference_table(f)
    assert "bad.csv" in str(err.value)


@pytest.mark.parametrize("data, match", [
    (b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4, "not a text CSV file.*NUL"),  # an HDF5 file's start
    ("energy_kev,pristine,charged\n8.3,1,1\n".encode("utf-16"), "not a text CSV file"),
    (b"energy_kev,pristine,charged\n8.3,\xff\xfe,1\n", "not a text CSV file.*byte 32"),
])
def test_binary_file_is_named(tmp_path, data, match):
    # today: a bare UnicodeDecodeError without the file's name
    f = tmp_path / "scan_8300eV.h5"
    f.write_bytes(data)
    with pytest.raises(ValueError, match=match) as err:
        read_reference_table(f)
    assert "scan_8300eV.h5" in str(err.value)


def test_too_few_points_and_missing_file(tmp_path):
    f = tmp_path / "r.csv"
    f.write_text("energy_kev,pristine,charged\n" + ROWS)
    assert read_reference_table(f).energy_kev.size == MIN_POINTS == 3
    with pytest.raises(ValueError, match="at least 5"):
        read_reference_table(f, min_points=5)
    with pytest.raises(ValueError, match="not found"):
        read_reference_table(tmp_path / "nope.csv")


def test_utf8_bom_header_is_read(tmp_path):
    f = tmp_path / "excel.csv"
    f.write_bytes(b"\xef\xbb\xbfenergy_kev,pristine,charged\n" + ROWS.encode())
    assert read_reference_table(f).charged.tolist() == [1, 2, 2]


def test_write_then_read_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    e = np.sort(8.25 + 0.35 * rng.random(50))
    t = ReferenceTable(e, rng.random(50) * 1e-3 + 0.03, rng.random(50) / 3)
    path = write_reference_table(tmp_path / "sub.csv", t, comments=["made by a test"])
    assert path.read_text().startswith("# made by a test\nenergy_kev,pristine,charged\n")
    back = read_reference_table(path)
    for name in ("energy_kev", "pristine", "charged"):
        assert np.array_equal(getattr(back, name), getattr(t, name))  # bit for bit
    assert back.notes == ()
    assert not list(tmp_path.glob("*.tmp*"))


def test_writer_refuses_bad_tables(tmp_path):
    e = np.array([8.3, 8.35, 8.4])
    with pytest.raises(ValueError, match="energy_kev.*increasing"):
        write_reference_table(tmp_path / "a.csv", ReferenceTable(e[::-1], e, e))
    with pytest.raises(ValueError, match="charged"):
        write_reference_table(tmp_path / "a.csv", ReferenceTable(e, e, e[:2]))
    with pytest.raises(ValueError, match="pristine.*non-finite"):
        write_reference_table(tmp_path / "a.csv", ReferenceTable(e, np.array([1, np.nan, 2]), e))
    assert not (tmp_path / "a.csv").exists()
