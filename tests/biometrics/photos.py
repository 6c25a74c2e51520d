"""Test photos: real faces fetched from PyPI at test time, and hostile files made on the spot.

Real photos are never committed (the ``face_recognition`` sdist's rights notice forbids
reproducing them). They are fetched once into a cache outside git (``var/test-photos``, or
``$BIOMETRICS_TEST_PHOTOS``) with the venv's own pip, the ordinary client of a package registry,
and every file is checked against a pinned sha256 before use:

- ``face_recognition==1.3.0`` sdist: ``tests/test_images/{obama,obama2,obama3,biden}.jpg``.
- a third person, the astronaut Eileen Collins (a NASA photo, public domain): ``skimage.data``'s
  ``astronaut.png``. scikit-image is not a dependency (it would pull in scipy and more for one
  picture), so the file is read straight out of the ``scikit-image==0.25.2`` wheel that pip
  downloads without installing; its own sha256 is pinned, so any platform's wheel will do.

The ``real_photos`` fixture (tests/biometrics/conftest.py) returns their bytes. The synthetic
helpers below need nothing but Pillow and numpy.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image, ImageFilter

REPO_ROOT: Final = Path(__file__).resolve().parents[2]

FACE_RECOGNITION_SDIST: Final = "face_recognition-1.3.0.tar.gz"
FACE_RECOGNITION_SDIST_SHA256: Final = (
    "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"
)
# sha256 of each photo as it sits inside that sdist; checked on every cache hit too.
FACE_RECOGNITION_PHOTOS: Final = {
    "obama.jpg": "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6",
    "obama2.jpg": "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6",
    "obama3.jpg": "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3",
    "biden.jpg": "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c",
}
SCIKIT_IMAGE_PIN: Final = "scikit-image==0.25.2"
ASTRONAUT_MEMBER: Final = "skimage/data/astronaut.png"
ASTRONAUT_SHA256: Final = "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"

TEN_MB: Final = 10 * 1024 * 1024


class PhotoUnavailable(RuntimeError):
    """A real test photo could not be fetched or failed its checksum."""


def get_photo_cache_dir() -> Path:
    """Where fetched photos live: ``$BIOMETRICS_TEST_PHOTOS`` or ``var/test-photos`` (ignored)."""
    return Path(os.environ.get("BIOMETRICS_TEST_PHOTOS", REPO_ROOT / "var" / "test-photos"))


def fetch_real_photos(cache_dir: Path | None = None) -> dict[str, Path]:
    """Paths of obama.jpg, obama2.jpg, obama3.jpg, biden.jpg and astronaut.png, fetching once."""
    cache = cache_dir or get_photo_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    photos = _fetch_face_recognition_photos(cache)
    photos["astronaut.png"] = _fetch_astronaut(cache)
    return photos


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_cached(path: Path, sha256: str) -> bool:
    return path.is_file() and _sha256(path.read_bytes()) == sha256


def _write_atomically(path: Path, data: bytes) -> None:
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staging.write_bytes(data)
    os.replace(staging, path)


def _pip_download(args: list[str], dest: Path) -> None:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(dest), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise PhotoUnavailable(f"`{' '.join(command)}` failed:\n{done.stderr[-2000:]}")


def _fetch_face_recognition_photos(cache: Path) -> dict[str, Path]:
    paths = {name: cache / name for name in FACE_RECOGNITION_PHOTOS}
    if all(_is_cached(paths[n], sha) for n, sha in FACE_RECOGNITION_PHOTOS.items()):
        return paths
    downloads = cache / "downloads"
    sdist = downloads / FACE_RECOGNITION_SDIST
    if not sdist.is_file() or _sha256(sdist.read_bytes()) != FACE_RECOGNITION_SDIST_SHA256:
        _pip_download(["--no-binary", ":all:", "face_recognition==1.3.0"], downloads)
    archive = sdist.read_bytes()
    if _sha256(archive) != FACE_RECOGNITION_SDIST_SHA256:
        raise PhotoUnavailable(f"{sdist} does not match its pinned sha256")
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for name, sha in FACE_RECOGNITION_PHOTOS.items():
            # Read named members only (no extractall): an archive cannot write elsewhere.
            member = tar.extractfile(f"face_recognition-1.3.0/tests/test_images/{name}")
            if member is None:
                raise PhotoUnavailable(f"{name} is not in {FACE_RECOGNITION_SDIST}")
            data = member.read()
            if _sha256(data) != sha:
                raise PhotoUnavailable(f"{name} from the sdist does not match its pinned sha256")
            _write_atomically(paths[name], data)
    return paths


def _fetch_astronaut(cache: Path) -> Path:
    path = cache / "astronaut.png"
    if _is_cached(path, ASTRONAUT_SHA256):
        return path
    downloads = cache / "downloads"
    wheels = sorted(downloads.glob("scikit_image-0.25.2-*.whl"))
    if not wheels:
        _pip_download(["--only-binary", ":all:", SCIKIT_IMAGE_PIN], downloads)
        wheels = sorted(downloads.glob("scikit_image-0.25.2-*.whl"))
    if not wheels:
        raise PhotoUnavailable(f"pip downloaded no wheel for {SCIKIT_IMAGE_PIN}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        data = wheel.read(ASTRONAUT_MEMBER)
    if _sha256(data) != ASTRONAUT_SHA256:
        raise PhotoUnavailable(f"{ASTRONAUT_MEMBER} does not match its pinned sha256")
    _write_atomically(path, data)
    return path


# --- synthetic files ---------------------------------------------------------------------------


def encode_jpeg(rgb: np.ndarray, quality: int = 92) -> bytes:
    """JPEG bytes of an RGB uint8 array."""
    out = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def compose_side_by_side(left: bytes, right: bytes, height: int = 600) -> bytes:
    """One JPEG showing two photos next to each other at the same height (two faces)."""
    images = []
    for data in (left, right):
        image = Image.open(io.BytesIO(data)).convert("RGB")
        width = round(image.width * height / image.height)
        images.append(image.resize((width, height), Image.Resampling.LANCZOS))
    canvas = Image.new("RGB", (sum(i.width for i in images), height), "white")
    canvas.paste(images[0], (0, 0))
    canvas.paste(images[1], (images[0].width, 0))
    return encode_jpeg(np.asarray(canvas))


def make_gradient_jpeg(width: int = 640, height: int = 480) -> bytes:
    """A smooth colour gradient: a valid photo with no face in it."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    rgb = np.stack(
        [np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)), (x + y) / 2],
        axis=-1,
    )
    return encode_jpeg(rgb.astype(np.uint8))


def make_truncated_jpeg(photo: bytes, keep: float = 0.5) -> bytes:
    """The first ``keep`` fraction of a JPEG: valid header, cut-off scan data."""
    return photo[: int(len(photo) * keep)]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def make_decompression_bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG of a few hundred bytes that declares ``width`` x ``height`` pixels (10 gigapixels).

    Only the first rows' data are present: a loader that decoded before checking the declared
    size would fail with a truncation error (or exhaust memory on a complete bomb), so getting
    ``image_too_large`` proves the limit is checked before the decode starts.
    """
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    rows = zlib.compress(b"\x00" * ((width + 7) // 8 + 1) * 4, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", rows)
        + _png_chunk(b"IEND", b"")
    )


def make_text_named_jpg() -> tuple[str, bytes]:
    """A plain-text file that claims to be a JPEG by its name only."""
    return "portrait.jpg", b"This is not a photo, just text pretending by its file name.\n"


def make_oversized_upload(photo: bytes, size: int = TEN_MB + 1) -> bytes:
    """A real JPEG padded past the 10 MB limit (decoders ignore bytes after the image)."""
    return photo + b"\x00" * max(0, size - len(photo))


def make_blurred_jpeg(photo: bytes, radius: float = 8.0) -> bytes:
    """The same photo under a strong Gaussian blur: a face a detector may find, but unusable."""
    image = Image.open(io.BytesIO(photo)).convert("RGB")
    return encode_jpeg(np.asarray(image.filter(ImageFilter.GaussianBlur(radius))))
