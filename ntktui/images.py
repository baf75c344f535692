"""2-D images for `ntk train --image PATH|NAME --side S` (issue 13): a grey square in [0, 1].

Front-end code (it reads files), beside signals.py, whose read_image and grayscale it uses.

NAME is one of the photographs bundled in scikit-image's wheel (they load offline). A non-square
picture is cropped to its central square first, so that resizing to S × S does not stretch it; the
resize is bilinear with a Gaussian anti-aliasing filter (skimage.transform.resize), so a small S
averages the picture instead of sampling it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ntktui.errors import UserError
from ntktui.signals import grayscale, read_image

# skimage.data photographs present in the wheel (checked with scikit-image 0.26).
BUNDLED = ("camera", "astronaut", "coffee", "chelsea", "rocket", "coins", "moon", "brick", "grass",
           "gravel", "clock", "hubble_deep_field", "immunohistochemistry", "retina", "page", "text")
DEFAULT_IMAGE = "camera"
DEFAULT_SIDE = 64
MIN_SIDE = 4  # the training grid (even rows and columns) is then at least 2 × 2


@dataclass(frozen=True)
class Picture:
    values: np.ndarray  # S × S grey levels in [0, 1]
    description: str  # e.g. "camera 64 × 64"


def load_image(source: str | None = None, side: int = DEFAULT_SIDE) -> Picture:
    """The picture a file path or a bundled NAME stands for (default: camera), as S × S grey."""
    if not isinstance(side, int) or side < MIN_SIDE:
        raise UserError(f"--side must be an integer ≥ {MIN_SIDE}, got {side}")
    raw, name = read_source(source)
    return Picture(square(grayscale(raw), side), f"{name} {side} × {side}")


def read_source(source: str | None = None) -> tuple[np.ndarray, str]:
    """The raw pixels a file path or a bundled NAME stands for (default: camera), and its name."""
    source = DEFAULT_IMAGE if source is None else source
    if Path(source).is_file():
        return read_image(source), Path(source).name
    if source.lower() in BUNDLED:
        import skimage.data

        return np.asarray(getattr(skimage.data, source.lower())()), source.lower()
    raise UserError(f"no such file or bundled image: {source} (bundled: {', '.join(BUNDLED)})")


def square(gray: np.ndarray, side: int) -> np.ndarray:
    """The central square of a grey image, resized to side × side with anti-aliasing, in [0, 1]."""
    from skimage.transform import resize

    h, w = gray.shape
    n = min(h, w)
    top, left = (h - n) // 2, (w - n) // 2
    crop = gray[top:top + n, left:left + n].astype(np.float64)
    out = resize(crop, (side, side), order=1, anti_aliasing=side < n, preserve_range=True)
    out = np.clip(out, 0.0, 1.0)
    if out.max() == out.min():
        raise UserError("the image is constant at this size; there is nothing to fit")
    return out
