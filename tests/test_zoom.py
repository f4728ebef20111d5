import numpy as np
import pytest

from pipeline.config import RenderConfig
from pipeline.errors import DreamreelError
from pipeline.zoom import StillLoop, noise_image, start_image


def cfg(**source) -> RenderConfig:
    return RenderConfig(kind="zoom", seed=7, source=source)


def test_start_image_is_the_sample_or_seeded_noise_with_even_sides(tiny_png):
    sample = start_image(cfg(size=97))
    assert sample.shape[1] == 96 and sample.shape[0] % 2 == 0  # 97 px wide, cropped even for yuv420p
    noise = start_image(cfg(start="noise", size=50))
    assert noise.shape == (50, 50, 3) and np.array_equal(noise, noise_image(50, 7))
    assert not np.array_equal(noise_image(50, 7), noise_image(50, 8))
    assert 80 < noise.mean() < 180  # around mid-grey: room to dream either way
    assert start_image(cfg(input=str(tiny_png))).shape == (48, 48, 3)


def test_input_and_noise_together_is_an_error(tiny_png):
    with pytest.raises(DreamreelError, match="--start noise"):
        start_image(cfg(input=str(tiny_png), start="noise"))


def test_still_loop_resumes_from_any_index():
    img = noise_image(16, 0)
    assert [f.index for f in StillLoop(img, 5)] == [0, 1, 2, 3, 4]
    assert [f.index for f in StillLoop(img, 5).iter_from(3)] == [3, 4]


def test_a_transparent_start_image_is_laid_on_the_documented_background(tmp_path):
    import cv2
    from pipeline.sources import BACKGROUND
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[8:24, 8:24] = (0, 0, 255, 255)  # an opaque red square (BGRA) on a transparent field
    cv2.imwrite(str(tmp_path / "logo.png"), rgba)
    image = start_image(cfg(input=str(tmp_path / "logo.png")))
    assert image[0, 0].tolist() == list(BACKGROUND) and image[16, 16].tolist() == [255, 0, 0]
