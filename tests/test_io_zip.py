"""Zips in and out (the web page's 'a zip of photos' and 'download all'): safe unpacking, atomic writing."""
from __future__ import annotations

import zipfile

import pytest

from framecolor.errors import InputError
from framecolor.io import extract_zip, write_zip


def test_a_zip_round_trips_with_its_folders(tmp_path):
    (tmp_path / "a.png").write_bytes(b"one")
    (tmp_path / "b.jpg").write_bytes(b"two")
    z = write_zip({"a_color.png": tmp_path / "a.png", "trip/b_color.jpg": tmp_path / "b.jpg"}, tmp_path / "all.zip")
    out = extract_zip(z, tmp_path / "out", max_bytes=100)
    assert (out / "a_color.png").read_bytes() == b"one" and (out / "trip" / "b_color.jpg").read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "all.zip", "b.jpg", "out"]  # no temporary left


def test_a_member_that_climbs_out_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as z:
        z.writestr("../escaped.txt", "x")
    with pytest.raises(InputError, match="evil.zip: member '../escaped.txt' would be written outside"):
        extract_zip(tmp_path / "evil.zip", tmp_path / "out", max_bytes=100)
    assert not (tmp_path / "escaped.txt").exists()


def test_a_zip_bomb_and_a_non_zip_get_one_line_errors(tmp_path):
    with zipfile.ZipFile(tmp_path / "big.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.bin", bytes(10_000))
    with pytest.raises(InputError, match="big.zip: unpacks to more than"):
        extract_zip(tmp_path / "big.zip", tmp_path / "out", max_bytes=1000)
    (tmp_path / "fake.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(InputError, match="fake.zip: not a readable zip file"):
        extract_zip(tmp_path / "fake.zip", tmp_path / "out", max_bytes=1000)
