"""biometrics.engine with the real DeepFace, offline, on real photos fetched at test time.

Network access is blocked in this process for the whole module: any attempt by DeepFace (or
anything else) to reach a non-loopback address raises and is recorded, and the module fails if
one was recorded even when the caller swallowed the error. The photos are fetched by pip in a
subprocess before the block matters (see tests/biometrics/photos.py).

Tests marked ``deepface`` skip when the engine is not installed, unless ``REQUIRE_SERVICES=1``,
which turns the skip into a failure (CI with requirements/bio.txt installed).
"""

from __future__ import annotations

import io
import ipaddress
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from PIL import Image

from biometrics.engine import (
    EMBEDDING_DIM,
    MODEL_ID,
    FaceEngine,
    FaceResult,
    is_engine_installed,
)
from biometrics.errors import (
    FACE_TOO_SMALL,
    LOW_QUALITY,
    MULTIPLE_FACES,
    NO_FACE,
    UNSUPPORTED_MEDIA_TYPE,
    BiometricError,
)
from biometrics.images import load_image
from biometrics.matching import DLIB_COSINE_THRESHOLD, Gallery, cosine_distance
from biometrics.weights import WEIGHT_FILES, get_missing_weights, link_weights
from tests.biometrics.photos import (
    compose_side_by_side,
    encode_jpeg,
    make_blurred_jpeg,
    make_gradient_jpeg,
    make_text_named_jpg,
)


class NetworkBlocked(RuntimeError):
    """A test tried to reach the network."""


_ATTEMPTS: list[str] = []


def _is_local(host: object) -> bool:
    if host in (None, "localhost", "", b"localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost


def _guard(address: Any, family: int) -> None:
    if family == getattr(socket, "AF_UNIX", None):
        return
    host = address[0] if isinstance(address, tuple) else address
    if not _is_local(host):
        _ATTEMPTS.append(repr(address))
        raise NetworkBlocked(f"network access blocked in tests: {address!r}")


@pytest.fixture(scope="module", autouse=True)
def no_network() -> Iterator[None]:
    """Refuse every non-loopback connect and DNS lookup in this process for this module."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        _guard(address, self.family)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _guard(address, self.family)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        _guard((host, 0), socket.AF_INET)
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    _ATTEMPTS.clear()
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex = real_connect, real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = real_getaddrinfo
    assert _ATTEMPTS == [], f"something tried to reach the network: {_ATTEMPTS}"


def require_engine() -> None:
    if is_engine_installed():
        return
    reason = "DeepFace engine not installed (pip install -r requirements/bio.txt)"
    if django_settings.REQUIRE_SERVICES:
        pytest.fail(f"{reason}, and REQUIRE_SERVICES=1")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, no_network: None) -> FaceEngine:
    """A warmed engine on a brand-new DEEPFACE_HOME: it must link its weights, not download."""
    require_engine()
    home = tmp_path_factory.mktemp("deepface-home")
    face_engine = FaceEngine(home)
    face_engine.warm_up()
    assert get_missing_weights(home) == []
    return face_engine


@pytest.fixture(scope="module")
def faces(engine: FaceEngine, real_photos: dict[str, bytes]) -> dict[str, FaceResult]:
    return {name: engine.extract_from_upload(data) for name, data in real_photos.items()}


def extract_error(engine: FaceEngine, data: bytes) -> BiometricError:
    with pytest.raises(BiometricError) as caught:
        engine.extract_from_upload(data)
    return caught.value


# --- the network guard itself ------------------------------------------------------------------


def test_the_guard_refuses_a_non_loopback_connection() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s, pytest.raises(NetworkBlocked):
        s.connect(("192.0.2.1", 443))  # TEST-NET-1: never routed, never reached
    _ATTEMPTS.clear()  # that attempt was this test's own


def test_the_guard_refuses_a_dns_lookup_of_a_remote_host() -> None:
    with pytest.raises(NetworkBlocked):
        socket.getaddrinfo("dlib.net", 443)
    _ATTEMPTS.clear()


def test_the_guard_allows_loopback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
            client.connect(server.getsockname())


# --- import discipline and weights (no DeepFace needed) ----------------------------------------


def test_importing_the_engine_does_not_import_deepface_or_opencv() -> None:
    code = (
        "import sys, biometrics.engine, biometrics.images, biometrics.weights\n"
        "print(','.join(m for m in ('deepface', 'cv2', 'dlib', 'onnxruntime') "
        "if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""


def test_linking_weights_twice_links_once_then_finds_them_present(tmp_path: Path) -> None:
    require_engine()
    # when
    first = link_weights(tmp_path)
    second = link_weights(tmp_path)
    # then
    assert {link.name for link in first} == set(WEIGHT_FILES)
    assert {link.action for link in first} <= {"linked", "copied"}
    assert {link.action for link in second} == {"present"}
    assert get_missing_weights(tmp_path) == []


def test_a_broken_weight_link_is_replaced(tmp_path: Path) -> None:
    require_engine()
    # given a dangling symlink where a weight file should be
    weights = tmp_path / ".deepface" / "weights"
    weights.mkdir(parents=True)
    (weights / WEIGHT_FILES[0]).symlink_to(tmp_path / "gone.dat")
    assert WEIGHT_FILES[0] in get_missing_weights(tmp_path)
    # when
    links = {link.name: link.action for link in link_weights(tmp_path)}
    # then
    assert links[WEIGHT_FILES[0]] == "replaced"
    assert get_missing_weights(tmp_path) == []


def test_the_setup_command_links_the_weights_and_check_then_passes(
    tmp_path: Path, settings: Any
) -> None:
    require_engine()
    # given an empty DEEPFACE_HOME, which --check reports as not ready
    settings.DEEPFACE_HOME = str(tmp_path)
    with pytest.raises(CommandError, match="missing"):
        call_command("biometrics_setup", "--check", stdout=io.StringIO())
    # when
    out = io.StringIO()
    call_command("biometrics_setup", stdout=out)
    # then
    assert out.getvalue().count("linked") + out.getvalue().count("copied") == len(WEIGHT_FILES)
    check = io.StringIO()
    call_command("biometrics_setup", "--check", stdout=check)
    assert "weights ready" in check.getvalue()


# --- the engine --------------------------------------------------------------------------------


@pytest.mark.deepface
def test_a_face_result_is_a_normalised_128_d_float32_embedding_with_a_box(
    faces: dict[str, FaceResult],
) -> None:
    result = faces["obama.jpg"]
    assert result.embedding.dtype == np.float32
    assert result.embedding.shape == (EMBEDDING_DIM,)
    assert float(np.linalg.norm(result.embedding)) == pytest.approx(1.0, abs=1e-5)
    width, height = result.image_size
    assert max(width, height) == 1024
    x, y, w, h = result.box
    assert 0 <= x < x + w <= width and 0 <= y < y + h <= height
    assert 0.0 < result.quality.score <= 1.0
    assert result.confidence > 0
    assert result.model == MODEL_ID == "Dlib/deepface-0.0.103"


@pytest.mark.deepface
@pytest.mark.parametrize("other", ["obama2.jpg", "obama3.jpg"])
def test_the_same_person_verifies_within_the_threshold(
    faces: dict[str, FaceResult], other: str
) -> None:
    distance = cosine_distance(faces["obama.jpg"].embedding, faces[other].embedding)
    assert distance <= DLIB_COSINE_THRESHOLD


@pytest.mark.deepface
@pytest.mark.parametrize(
    ("first", "second"),
    [("obama.jpg", "biden.jpg"), ("obama2.jpg", "biden.jpg"), ("obama.jpg", "astronaut.png")],
)
def test_different_people_do_not_verify(
    faces: dict[str, FaceResult], first: str, second: str
) -> None:
    distance = cosine_distance(faces[first].embedding, faces[second].embedding)
    assert distance > DLIB_COSINE_THRESHOLD


@pytest.mark.deepface
@pytest.mark.parametrize("probe", ["obama2.jpg", "obama3.jpg"])
def test_identification_returns_the_right_person_first(
    faces: dict[str, FaceResult], probe: str
) -> None:
    # given a gallery of three enrolled people
    gallery: Gallery[str] = Gallery()
    for person, photo in (
        ("obama", "obama.jpg"),
        ("biden", "biden.jpg"),
        ("eileen", "astronaut.png"),
    ):
        gallery.add(person, faces[photo].embedding)
    # when another photo of one of them is searched
    matches = gallery.search(faces[probe].embedding, top_k=3)
    # then that person, and only that person, is within the threshold
    assert [m.id for m in matches] == ["obama"]


@pytest.mark.deepface
def test_it_rejects_a_photo_with_two_faces(
    engine: FaceEngine, real_photos: dict[str, bytes]
) -> None:
    composite = compose_side_by_side(real_photos["obama.jpg"], real_photos["biden.jpg"])
    error = extract_error(engine, composite)
    assert error.code == MULTIPLE_FACES
    assert error.details["faces"] == 2


@pytest.mark.deepface
def test_it_rejects_a_photo_with_no_face(engine: FaceEngine) -> None:
    assert extract_error(engine, make_gradient_jpeg()).code == NO_FACE


@pytest.mark.deepface
def test_it_rejects_a_blurred_face_as_low_quality(
    engine: FaceEngine, real_photos: dict[str, bytes]
) -> None:
    error = extract_error(engine, make_blurred_jpeg(real_photos["obama.jpg"], radius=6))
    assert error.code == LOW_QUALITY
    assert error.details["sharpness"] < error.details["min_sharpness"]


@pytest.mark.deepface
def test_it_rejects_a_face_that_is_too_small(
    engine: FaceEngine, real_photos: dict[str, bytes]
) -> None:
    # given obama.jpg shrunk so the face is about 45 px, on a plain 800 x 800 canvas
    photo = Image.open(io.BytesIO(real_photos["obama.jpg"])).convert("RGB")
    small = photo.resize((photo.width // 6, photo.height // 6), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (800, 800), (128, 128, 128))
    canvas.paste(small, (300, 300))
    # when
    error = extract_error(engine, encode_jpeg(np.asarray(canvas)))
    # then
    assert error.code == FACE_TOO_SMALL
    assert error.details["face_side_px"] < 64


@pytest.mark.deepface
def test_it_never_gets_to_the_engine_with_a_bad_file(engine: FaceEngine) -> None:
    _, data = make_text_named_jpg()
    assert extract_error(engine, data).code == UNSUPPORTED_MEDIA_TYPE


@pytest.mark.deepface
def test_extract_refuses_an_array_that_is_not_a_bgr_image(engine: FaceEngine) -> None:
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        engine.extract(np.zeros((10, 10), dtype=np.float32))


@pytest.mark.deepface
def test_the_engine_gives_the_same_embedding_for_the_same_photo_twice(
    engine: FaceEngine, real_photos: dict[str, bytes], faces: dict[str, FaceResult]
) -> None:
    again: Callable[[bytes], FaceResult] = engine.extract_from_upload
    result = again(real_photos["biden.jpg"])
    assert np.allclose(result.embedding, faces["biden.jpg"].embedding, atol=1e-6)
    assert load_image(real_photos["biden.jpg"]).shape[:2][::-1] == result.image_size
