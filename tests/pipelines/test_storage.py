import os

import pytest

from pipelines.storage import new_version_folder, publish_folder, write_atomic


def test_write_atomic_leaves_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "forecast.nc"
    path.write_text("old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(path, broken)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["forecast.nc"]  # no temp file left behind


def test_an_unpublished_version_leaves_the_published_folder_untouched(tmp_path):
    final = tmp_path / "forecasts" / "2024-12-31"
    first = new_version_folder(final)
    (first / "map.png").write_text("v1")
    publish_folder(first, final)
    second = new_version_folder(final)
    (second / "map.png").write_text("v2, half written")  # the run dies here, before publishing
    assert (final / "map.png").read_text() == "v1"
    publish_folder(second, final)
    assert (final / "map.png").read_text() == "v2, half written"
    assert not first.exists()
