"""biometrics.images: every hostile upload gets its own stable code; good photos come out
oriented, RGB->BGR, and downscaled. Synthetic images only: no network, no DeepFace."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from biometrics.errors import (
    ERROR_CATALOG,
    FACE_TOO_SMALL,
    IMAGE_TOO_LARGE,
    IMAGE_UNREADABLE,
    LOW_QUALITY,
    UNSUPPORTED_MEDIA_TYPE,
    BiometricError,
)
from biometrics.images import (
    MAX_PIXELS,
    MAX_SIDE,
    MAX_UPLOAD_BYTES,
    MIN_FACE_SIDE_PX,
    MIN_SHARPNESS,
    FaceQuality,
    assess_face,
    check_face_quality,
    load_image,
    sniff_format,
)
from tests.biometrics.photos import (
    encode_jpeg,
    make_decompression_bomb_png,
    make_gradient_jpeg,
    make_oversized_upload,
    make_text_named_jpg,
    make_truncated_jpeg,
)


def noise_rgb(height: int, width: int, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def encode(rgb: np.ndarray, image_format: str, **params: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format=image_format, **params)
    return out.getvalue()


def load_error(data: bytes, **limits: int) -> BiometricError:
    with pytest.raises(BiometricError) as caught:
        load_image(data, **limits)
    return caught.value


# --- each bad input gets its code --------------------------------------------------------------


def test_it_refuses_an_upload_over_10_mb_as_image_too_large() -> None:
    # given a real JPEG padded one byte past the limit
    data = make_oversized_upload(encode_jpeg(noise_rgb(64, 64)))
    assert len(data) == MAX_UPLOAD_BYTES + 1
    # when it is loaded
    error = load_error(data)
    # then
    assert error.code == IMAGE_TOO_LARGE
    assert error.status == 413
    assert error.details["bytes"] == MAX_UPLOAD_BYTES + 1


def test_it_refuses_a_decompression_bomb_before_decoding_it() -> None:
    # given a few hundred bytes declaring 100000 x 100000 pixels, with the rows truncated
    data = make_decompression_bomb_png()
    assert len(data) < 2000
    # when it is loaded
    error = load_error(data)
    # then the header check answers (a decode would have said image_unreadable)
    assert error.code == IMAGE_TOO_LARGE
    assert error.details["max_pixels"] == MAX_PIXELS


def test_it_refuses_a_bomb_just_over_its_own_limit_from_the_header() -> None:
    # given a tiny PNG declaring 8000 x 6000 = 48 MP: over our 40 MP, under Pillow's own limit
    data = make_decompression_bomb_png(8000, 6000)
    # when
    error = load_error(data)
    # then our check, not Pillow's, refused it, with the declared size
    assert error.code == IMAGE_TOO_LARGE
    assert (error.details["width"], error.details["height"]) == (8000, 6000)


def test_it_applies_the_pixel_limit_to_ordinary_images_too() -> None:
    # given a valid 100 x 100 PNG and a 5000-pixel limit
    data = encode(noise_rgb(100, 100), "PNG")
    # when / then
    assert load_error(data, max_pixels=5000).code == IMAGE_TOO_LARGE


def test_it_refuses_a_text_file_named_jpg_as_unsupported_media_type() -> None:
    # given a text file whose name claims JPEG
    name, data = make_text_named_jpg()
    assert name.endswith(".jpg")
    # when / then the content decides, not the name
    error = load_error(data)
    assert error.code == UNSUPPORTED_MEDIA_TYPE
    assert error.status == 415


@pytest.mark.parametrize("image_format", ["GIF", "BMP", "TIFF"])
def test_it_refuses_image_formats_other_than_jpeg_png_and_webp(image_format: str) -> None:
    # given a valid image in a format we do not accept
    data = encode(noise_rgb(32, 32), image_format)
    # when / then
    assert load_error(data).code == UNSUPPORTED_MEDIA_TYPE


def test_it_refuses_an_empty_upload_as_unsupported_media_type() -> None:
    assert load_error(b"").code == UNSUPPORTED_MEDIA_TYPE


def test_it_refuses_a_truncated_jpeg_as_image_unreadable() -> None:
    # given the first half of a JPEG: a good header, cut-off scan data
    data = make_truncated_jpeg(encode_jpeg(noise_rgb(400, 400)))
    # when / then
    error = load_error(data)
    assert error.code == IMAGE_UNREADABLE
    assert error.status == 400


def test_it_refuses_a_file_with_a_jpeg_signature_and_garbage_after_it() -> None:
    assert load_error(b"\xff\xd8\xff" + b"garbage" * 50).code == IMAGE_UNREADABLE


def test_it_refuses_a_png_with_a_corrupt_header_as_image_unreadable() -> None:
    # given a PNG whose IHDR bytes were overwritten (CRC no longer matches)
    data = bytearray(encode(noise_rgb(32, 32), "PNG"))
    data[16:24] = b"\xff" * 8
    # when / then
    assert load_error(bytes(data)).code == IMAGE_UNREADABLE


# --- good inputs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_format", "params"),
    [("JPEG", {"quality": 95}), ("PNG", {}), ("WEBP", {"lossless": True})],
)
def test_it_decodes_jpeg_png_and_webp_into_bgr_uint8(
    image_format: str, params: dict[str, object]
) -> None:
    # given a 60 x 80 image that is pure red
    rgb = np.zeros((60, 80, 3), dtype=np.uint8)
    rgb[:, :, 0] = 255
    data = encode(rgb, image_format, **params)
    # when
    bgr = load_image(data)
    # then the layout is H x W x BGR, contiguous, and red is the last channel
    assert bgr.shape == (60, 80, 3)
    assert bgr.dtype == np.uint8
    assert bgr.flags["C_CONTIGUOUS"]
    assert bgr[30, 40, 2] > 240
    assert bgr[30, 40, 0] < 15


def test_it_sniffs_the_format_from_magic_bytes() -> None:
    assert sniff_format(encode(noise_rgb(8, 8), "JPEG")) == "JPEG"
    assert sniff_format(encode(noise_rgb(8, 8), "PNG")) == "PNG"
    assert sniff_format(encode(noise_rgb(8, 8), "WEBP")) == "WEBP"
    assert sniff_format(b"GIF89a....") is None


def test_it_downscales_a_large_photo_to_1024_on_the_long_side() -> None:
    # given a 3000 x 1500 JPEG
    data = encode(noise_rgb(1500, 3000), "JPEG")
    # when
    bgr = load_image(data)
    # then
    assert bgr.shape == (512, MAX_SIDE, 3)


def test_it_leaves_a_small_photo_at_its_size() -> None:
    assert load_image(encode(noise_rgb(300, 200), "PNG")).shape == (300, 200, 3)


def test_it_applies_the_exif_orientation() -> None:
    # given a 200-wide, 100-high JPEG, red on the left half and blue on the right, whose EXIF
    # says "rotate 90 degrees clockwise to display" (orientation 6)
    rgb = np.zeros((100, 200, 3), dtype=np.uint8)
    rgb[:, :100] = (255, 0, 0)
    rgb[:, 100:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(rgb, "JPEG", quality=95, exif=exif.tobytes())
    # when
    bgr = load_image(data)
    # then it stands upright (100 wide, 200 high) with the former left half on top
    assert bgr.shape == (200, 100, 3)
    assert bgr[20, 50, 2] > 200  # red on top
    assert bgr[180, 50, 0] > 200  # blue below


def test_it_flattens_a_transparent_png_to_three_channels() -> None:
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[:, :, 1] = 200
    rgba[:, :, 3] = 128
    assert load_image(encode(rgba, "PNG")).shape == (40, 40, 3)


def test_a_gradient_photo_is_a_valid_image() -> None:
    assert load_image(make_gradient_jpeg(640, 480)).shape == (480, 640, 3)


# --- face quality ------------------------------------------------------------------------------


def test_a_detailed_crop_scores_sharp_and_a_flat_crop_scores_blurry() -> None:
    # given a crop full of fine detail and a featureless one of the same size
    detailed = noise_rgb(160, 160)[:, :, ::-1].copy()
    flat = np.full((160, 160, 3), 128, dtype=np.uint8)
    # when
    sharp, blurry = assess_face(detailed), assess_face(flat)
    # then
    assert sharp.sharpness > 1000
    assert sharp.score == 1.0
    assert blurry.sharpness == 0.0
    assert blurry.score == 0.0
    assert sharp.min_side == blurry.min_side == 160


def test_sharpness_does_not_depend_on_the_crop_size() -> None:
    # given the same smooth pattern drawn at 150 and at 450 pixels
    def pattern(side: int) -> np.ndarray:
        t = np.linspace(0, 6 * np.pi, side)
        grey = (127 + 100 * np.sin(t)[None, :] * np.cos(t)[:, None]).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)

    # when
    small, large = assess_face(pattern(150)), assess_face(pattern(450))
    # then both are judged on the same canonical 150 px crop
    assert small.sharpness == pytest.approx(large.sharpness, rel=0.2)


def test_the_quality_check_refuses_a_small_face_then_a_blurry_one() -> None:
    # given a small sharp face, a large blurry one, and a good one
    small = FaceQuality(min_side=MIN_FACE_SIDE_PX - 1, sharpness=500.0, score=0.4)
    blurry = FaceQuality(min_side=200, sharpness=MIN_SHARPNESS - 1, score=0.1)
    good = FaceQuality(min_side=MIN_FACE_SIDE_PX, sharpness=MIN_SHARPNESS, score=0.5)
    # when / then
    with pytest.raises(BiometricError) as too_small:
        check_face_quality(small)
    assert too_small.value.code == FACE_TOO_SMALL
    with pytest.raises(BiometricError) as low:
        check_face_quality(blurry)
    assert low.value.code == LOW_QUALITY
    check_face_quality(good)  # at the limits: accepted, raises nothing


# --- errors ------------------------------------------------------------------------------------


def test_every_error_code_has_a_message_and_a_client_or_gone_status() -> None:
    assert set(ERROR_CATALOG) == {
        "image_unreadable",
        "unsupported_media_type",
        "image_too_large",
        "no_face",
        "multiple_faces",
        "face_too_small",
        "low_quality",
        "consent_required",
        "subject_erased",
    }
    for code in ERROR_CATALOG:
        error = BiometricError(code)
        assert error.code == code
        assert error.message
        assert 400 <= error.status < 500


def test_an_unknown_error_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown BiometricError code"):
        BiometricError("no_such_code")
