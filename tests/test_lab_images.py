"""Loading 2-D images for the lab (ntktui/images.py)."""

from __future__ import annotations

import numpy as np
import pytest

from ntktui.errors import UserError
from ntktui import images


def test_bundled_photograph_resized_to_a_grey_square():
    pic = images.load_image("astronaut", 32)  # colour, 512 × 512
    assert pic.values.shape == (32, 32) and pic.description == "astronaut 32 × 32"
    assert 0 <= pic.values.min() < pic.values.max() <= 1


def test_non_square_images_are_cropped_to_their_central_square_then_averaged():
    centre = np.tile(np.linspace(0.5, 1, 40)[:, None], (1, 40))
    img = np.zeros((40, 80))
    img[:, 20:60] = centre  # the sides are black and must not leak in
    np.testing.assert_array_equal(images.square(img, 8), images.square(centre, 8))
    assert images.square(img, 8).min() >= 0.5
    ramp = np.tile(np.linspace(0, 1, 64), (64, 1))
    out = images.square(ramp, 8)  # anti-aliased: each pixel near the mean of its 8 × 8 block
    block_means = ramp.reshape(8, 8, 8, 8).mean(axis=(1, 3))
    assert np.abs(out - block_means).max() < 0.02


def test_a_file_path_and_refusals(tmp_path):
    from skimage.io import imsave

    path = tmp_path / "grad.png"
    imsave(path, np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1)), check_contrast=False)
    pic = images.load_image(str(path), 16)
    assert pic.values.shape == (16, 16) and pic.values[0, 0] < 0.1 < 0.9 < pic.values[0, -1]
    with pytest.raises(UserError, match="bundled"):
        images.load_image("no-such-picture", 16)
    with pytest.raises(UserError, match="--side"):
        images.load_image("camera", 2)
