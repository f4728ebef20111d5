import numpy as np
import pytest

from pipeline.errors import DreamreelError
from pipeline.sinks import check_writable, committed, partial_path, write_image


def test_committed_file_appears_only_when_complete(tmp_path):
    target = tmp_path / "a.png"
    with pytest.raises(RuntimeError):
        with committed(target) as partial:
            partial.write_bytes(b"half")
            assert not target.exists()
            raise RuntimeError("boom")
    assert not target.exists() and not partial_path(target).exists()
    with committed(target) as partial:
        partial.write_bytes(b"whole")
    assert target.read_bytes() == b"whole" and not partial_path(target).exists()


def test_write_image_round_trips_png(tmp_path):
    from tests.conftest import read_rgb
    img = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    write_image(tmp_path / "x.png", img)
    assert np.array_equal(read_rgb(tmp_path / "x.png"), img)


def test_unwritable_folder_fails_before_work(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(DreamreelError, match="cannot write"):
        check_writable(blocker / "out.png")
