"""Decoding uploaded photos safely, and judging a face crop's quality. No DeepFace here.

``load_image`` is the only way an uploaded file becomes pixels:

1. size: more than ``MAX_UPLOAD_BYTES`` (10 MB) -> ``image_too_large``, before anything else.
2. format from the magic bytes, never from the file name or the client's Content-Type: JPEG,
   PNG and WebP only. Anything else -> ``unsupported_media_type``; that includes a text file
   named ``.jpg`` (it *is* a text file, whatever it is called, so the answer is "wrong type",
   not "damaged image"). A file that starts like one of the three but cannot be decoded ->
   ``image_unreadable``.
3. pixel limit from the header alone: Pillow's ``open`` reads only the header, so declared
   dimensions above ``MAX_PIXELS`` -> ``image_too_large`` before a single row is decoded
   (decompression bombs).
4. decode (a truncated or corrupt file -> ``image_unreadable``), with JPEG's DCT scaling
   (``draft``) so a big JPEG is decoded straight at about the target size, which saves most of
   the memory; EXIF orientation applied; RGB; downscaled to at most ``MAX_SIDE`` px on the long
   side (DeepFace on a 3.3 MP photo costs about 900 MB RSS).

The result is a C-contiguous BGR ``uint8`` array, the layout OpenCV and DeepFace expect.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from typing import Final

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from biometrics.errors import (
    FACE_TOO_SMALL,
    IMAGE_TOO_LARGE,
    IMAGE_UNREADABLE,
    LOW_QUALITY,
    UNSUPPORTED_MEDIA_TYPE,
    BiometricError,
)

__all__ = [
    "GOOD_FACE_SIDE_PX",
    "MAX_PIXELS",
    "MAX_SIDE",
    "MAX_UPLOAD_BYTES",
    "MIN_FACE_SIDE_PX",
    "MIN_SHARPNESS",
    "QUALITY_SIDE_PX",
    "SHARP_SHARPNESS",
    "FaceQuality",
    "assess_face",
    "check_face_quality",
    "load_image",
    "sniff_format",
]

MAX_UPLOAD_BYTES: Final = 10 * 1024 * 1024
# 40 MP covers every phone and most DSLR photos a 10 MB file can hold; a decoded 40 MP RGB
# image is 120 MB, the most one request may make a worker allocate before downscaling.
MAX_PIXELS: Final = 40_000_000
MAX_SIDE: Final = 1024

# Face size, in pixels of the loaded (downscaled) image, on the short side of the detected box.
# Dlib's model reads a 150x150 crop; below 64 px it is mostly upsampling noise, and OpenCV's
# Haar detector finds nothing reliable below ~30 px anyway.
MIN_FACE_SIDE_PX: Final = 64
GOOD_FACE_SIDE_PX: Final = 150

# Sharpness = variance of the Laplacian of the grey face crop resized to QUALITY_SIDE_PX square,
# so the figure does not depend on how large the face was. Measured on the five test photos:
# sharp faces 282-826; the same photos under a Gaussian blur (radius in original pixels, before
# the downscale) of 2 px: 34-58, 3 px: 16-33, 4 px: 9-23, 6 px: 5-13. The bar sits between
# "slightly soft, still recognised" and "visibly smeared".
QUALITY_SIDE_PX: Final = 150
MIN_SHARPNESS: Final = 25.0
SHARP_SHARPNESS: Final = 200.0

_MAGIC_JPEG: Final = b"\xff\xd8\xff"
_MAGIC_PNG: Final = b"\x89PNG\r\n\x1a\n"


def sniff_format(data: bytes) -> str | None:
    """Pillow's format name ("JPEG", "PNG", "WEBP") from the magic bytes, or None."""
    if data.startswith(_MAGIC_JPEG):
        return "JPEG"
    if data.startswith(_MAGIC_PNG):
        return "PNG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def load_image(
    data: bytes,
    *,
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_PIXELS,
    max_side: int = MAX_SIDE,
) -> np.ndarray:
    """Decode an uploaded photo into an oriented, downscaled BGR ``uint8`` array (H, W, 3).

    Raises ``BiometricError`` with ``image_too_large``, ``unsupported_media_type`` or
    ``image_unreadable``; see the module docstring for the order of the checks.
    """
    if len(data) > max_bytes:
        raise BiometricError(IMAGE_TOO_LARGE, details={"bytes": len(data), "max_bytes": max_bytes})
    image_format = sniff_format(data)
    if image_format is None:
        raise BiometricError(UNSUPPORTED_MEDIA_TYPE)
    with warnings.catch_warnings():
        # Pillow warns (and past 2x its own global limit raises) about bombs; our limit is
        # stricter and checked explicitly below, so its warning is noise here.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=[image_format])
        except Image.DecompressionBombError as exc:
            raise BiometricError(IMAGE_TOO_LARGE, details={"max_pixels": max_pixels}) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise BiometricError(IMAGE_UNREADABLE) from exc
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise BiometricError(
                    IMAGE_TOO_LARGE,
                    details={"width": width, "height": height, "max_pixels": max_pixels},
                )
            return _decode(image, max_side)


def _decode(image: Image.Image, max_side: int) -> np.ndarray:
    try:
        width, height = image.size
        scale = max_side / max(width, height)
        if image.format == "JPEG" and scale < 1:
            # DCT-domain downscale by 1/2, 1/4 or 1/8, never below the requested size; EXIF
            # rotation only swaps the sides, and the scale depends on the long side alone.
            image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
        image.load()
        oriented = ImageOps.exif_transpose(image)
        rgb = oriented.convert("RGB")
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        array = np.asarray(rgb, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        # Truncated scan data, bad CRCs, corrupt EXIF: all "we cannot read this file".
        raise BiometricError(IMAGE_UNREADABLE) from exc
    if array.ndim != 3 or array.shape[2] != 3 or 0 in array.shape:
        raise BiometricError(IMAGE_UNREADABLE)
    return np.ascontiguousarray(array[:, :, ::-1])


@dataclass(frozen=True)
class FaceQuality:
    """How usable a face crop is: its size, its sharpness and a 0..1 summary ``score``.

    ``score`` is stored with each template: the product of a size factor (1 from
    ``GOOD_FACE_SIDE_PX`` up) and a sharpness factor (1 from ``SHARP_SHARPNESS`` up).
    """

    min_side: int
    sharpness: float
    score: float


def assess_face(face_crop: np.ndarray) -> FaceQuality:
    """Measure a face crop (BGR or grey ``uint8``, as cut from the loaded image).

    Pure numpy and Pillow, so the web process can use it without OpenCV.
    """
    if face_crop.ndim not in (2, 3) or face_crop.shape[0] < 3 or face_crop.shape[1] < 3:
        return FaceQuality(
            min_side=int(min(face_crop.shape[:2], default=0)), sharpness=0.0, score=0.0
        )
    if face_crop.ndim == 3:
        # ITU-R BT.601 luma, the same weights as OpenCV's BGR2GRAY and Pillow's "L".
        b, g, r = (face_crop[:, :, i].astype(np.float32) for i in range(3))
        grey = 0.114 * b + 0.587 * g + 0.299 * r
    else:
        grey = face_crop.astype(np.float32)
    canonical = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8), "L").resize(
        (QUALITY_SIDE_PX, QUALITY_SIDE_PX), Image.Resampling.BOX
    )
    c = np.asarray(canonical, dtype=np.float64)
    # 4-neighbour Laplacian over the interior (OpenCV's Laplacian with ksize=1).
    laplacian = c[:-2, 1:-1] + c[2:, 1:-1] + c[1:-1, :-2] + c[1:-1, 2:] - 4.0 * c[1:-1, 1:-1]
    sharpness = float(laplacian.var())
    min_side = int(min(face_crop.shape[0], face_crop.shape[1]))
    size_factor = min(1.0, min_side / GOOD_FACE_SIDE_PX)
    sharp_factor = min(1.0, sharpness / SHARP_SHARPNESS)
    return FaceQuality(
        min_side=min_side, sharpness=round(sharpness, 2), score=round(size_factor * sharp_factor, 4)
    )


def check_face_quality(quality: FaceQuality) -> None:
    """Refuse a face that is too small (``face_too_small``) or too blurry (``low_quality``)."""
    if quality.min_side < MIN_FACE_SIDE_PX:
        raise BiometricError(
            FACE_TOO_SMALL,
            details={"face_side_px": quality.min_side, "min_face_side_px": MIN_FACE_SIDE_PX},
        )
    if quality.sharpness < MIN_SHARPNESS:
        raise BiometricError(
            LOW_QUALITY,
            details={"sharpness": quality.sharpness, "min_sharpness": MIN_SHARPNESS},
        )
