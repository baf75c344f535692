"""1-D signals scaled to [0, 1] for the reconstruction experiment (seed 003 Fig. 6; docs/maths.md, Reconstruction).

Loading lives in the front end so that the engine stays pure numerics. Every failure is a
UserError with a one-line message.

Default: row 100 of skimage.data.camera() (a real photograph bundled in the scikit-image wheel,
so it works offline), 512 samples: train on the 256 even samples, width M = 256. The paper used
a row of "peppers"; on the camera image, with k = 4..128, row 100 reproduces Fig. 6: relative
rise over DST under "iterations" tanh 1.28, relu 1.12, sinc 0.00, gaussian 0.38; under "scale"
tanh 0.23, relu 0.00, sinc 1.17, gaussian 1.20. Over 64 sampled rows the claims hold on 54; they
fail on the flat sky rows 0–64 (sinc under "scale" ≈ 0.4, gaussian under "iterations" ≈ 0.53) and
on row 256 (gaussian under "iterations" 0.57), which is why the default is not an arbitrary row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ntktui.errors import UserError

DEFAULT_ROW = 100
# The engine trains on every other sample and needs at least 2 of them.
MIN_SAMPLES = 4


@dataclass(frozen=True)
class Signal:
    values: np.ndarray  # 1-D, in [0, 1]
    description: str  # e.g. "camera row 100 (512 samples)"


def load(image: str | None = None, row: int | None = None, signal: str | None = None) -> Signal:
    """The signal the options name: --signal FILE, --image PATH [--row R], or the camera row."""
    if image is not None and signal is not None:
        raise UserError("give either --image or --signal, not both")
    if signal is not None:
        if row is not None:
            raise UserError("--row applies to an image, not to --signal")
        return from_file(signal)
    row = DEFAULT_ROW if row is None else row
    if image is None:
        from skimage.data import camera

        return image_row(camera(), row, "camera")
    return image_row(read_image(image), row, Path(image).name)


def length(image: str | None = None, signal: str | None = None) -> int:
    """How many samples the signal the options name has, without loading it (an image's width
    from its header, a number file's size): memory is checked on it first."""
    if signal is not None:
        from ntktui.data import number_shape

        return int(np.prod(number_shape(signal)))
    if image is None:
        return 512  # the camera photograph
    return image_size(image)[1]


def image_size(path: str) -> tuple[int, int]:
    """(rows, columns) of an image file from its header; one line if it is not an image."""
    from ntktui.data import check_file

    check_file(path, "image")
    try:
        from PIL import Image

        with Image.open(path) as img:
            width, height = img.size
        return height, width
    except Exception as exc:  # Pillow raises several types for a file it cannot identify
        raise UserError(f"{path} is not an image Pillow can read: {_one_line(exc)}") from None


def read_image(path: str) -> np.ndarray:
    image_size(path)  # an image file, or one line saying why not
    from skimage.io import imread

    try:
        return np.asarray(imread(path))
    except Exception as exc:  # imageio raises many types for a file it cannot decode
        raise UserError(f"cannot read image {path}: {_one_line(exc)}") from None


def image_row(img: np.ndarray, row: int, name: str) -> Signal:
    """Row `row` of an image, grey by luminance, in [0, 1]."""
    gray = grayscale(img)
    if not 0 <= row < gray.shape[0]:
        raise UserError(f"row {row} is out of range for {name} ({gray.shape[0]} rows): "
                        f"choose 0–{gray.shape[0] - 1}")
    values = _checked(gray[row], f"{name} row {row}")
    return Signal(values, f"{name} row {row} ({values.size} samples)")


def grayscale(img: np.ndarray) -> np.ndarray:
    """2-D grey image in [0, 1]: integer images by their dtype range, float ones min–max."""
    from skimage.color import rgb2gray, rgba2rgb
    from skimage.util import img_as_float

    if img.ndim == 3 and img.shape[-1] in (2, 4):  # drop alpha
        img = rgba2rgb(img) if img.shape[-1] == 4 else img[..., 0]
    if img.ndim == 3 and img.shape[-1] == 3:
        img = rgb2gray(img)  # luminance weights (Rec. 709)
    if img.ndim != 2:
        raise UserError(f"expected a 2-D grey or colour image, got an array of shape {img.shape}")
    if img.dtype.kind in "biu":
        return img_as_float(img)
    img = np.asarray(img, dtype=np.float64)
    if np.all(np.isfinite(img)) and img.min() >= 0 and img.max() <= 1:
        return img
    return _minmax(img, "the image")


def from_file(path: str) -> Signal:
    """A 1-D array from .npy or text (.csv/.txt, commas or whitespace), min–max scaled."""
    from ntktui.data import read_numbers

    raw = np.squeeze(read_numbers(path, ndmin=1))
    if raw.ndim != 1:
        raise UserError(f"{path} must hold a 1-D array, got shape {raw.shape}")
    values = _minmax(_checked(raw, path), path)
    return Signal(values, f"{Path(path).name} ({values.size} samples)")


def _checked(values: np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.size < MIN_SAMPLES:
        raise UserError(f"{what} has {values.size} samples; at least {MIN_SAMPLES} are needed")
    if not np.all(np.isfinite(values)):
        raise UserError(f"{what} contains non-finite values (nan or inf)")
    if values.min() == values.max():
        raise UserError(f"{what} is constant; there is nothing to reconstruct")
    return values


def _minmax(values: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(values)):
        raise UserError(f"{what} contains non-finite values (nan or inf)")
    span = values.max() - values.min()
    if span == 0:
        raise UserError(f"{what} is constant")
    return (values - values.min()) / span


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
