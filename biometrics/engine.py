"""The DeepFace adapter: one photo in, one face's embedding out, or a named error.

Only Celery workers of the ``biometrics`` queue run this, loading the model once per process.
DeepFace, OpenCV and dlib are imported inside functions, never at module level, so importing this
module (for ``MODEL_ID`` or the types) costs nothing and the web process never loads the model; a
test checks ``sys.modules``. Each process holds one ``FaceEngine`` (``get_engine``), loaded and
warmed once, e.g. from Celery's ``worker_process_init``.

Recipe (measured; it runs offline): DeepFace 0.0.103 on onnxruntime (no
TensorFlow), ``model_name="Dlib"`` (128-d), ``detector_backend="opencv"`` (Haar cascades shipped
in the OpenCV 4.x contrib wheel). Weights come from ``biometrics.weights``; before DeepFace is
imported the engine makes sure every file DeepFace could otherwise download is already in
place, so it never reaches for the network.

Which face counts: OpenCV's detector reports boxes; boxes whose short side is below
``MIN_DETECTION_SIDE_PX`` are treated as detector noise (Haar false positives in textures are
small) and ignored for counting. Then: no box at all -> ``no_face``; only noise-sized boxes ->
``face_too_small``; more than one real box -> ``multiple_faces``; the one face smaller than
``MIN_FACE_SIDE_PX`` -> ``face_too_small``; blurrier than ``MIN_SHARPNESS`` -> ``low_quality``.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NamedTuple

import numpy as np

from biometrics.errors import (
    FACE_TOO_SMALL,
    MULTIPLE_FACES,
    NO_FACE,
    BiometricError,
    EngineUnavailable,
)
from biometrics.images import FaceQuality, assess_face, check_face_quality, load_image
from biometrics.matching.distance import normalize
from biometrics.weights import get_missing_weights, link_weights

__all__ = [
    "DEEPFACE_VERSION",
    "DETECTOR_BACKEND",
    "EMBEDDING_DIM",
    "MIN_DETECTION_SIDE_PX",
    "MODEL_ID",
    "MODEL_NAME",
    "FaceBox",
    "FaceEngine",
    "FaceResult",
    "get_default_deepface_home",
    "get_engine",
    "is_engine_installed",
]

MODEL_NAME: Final = "Dlib"
DETECTOR_BACKEND: Final = "opencv"
DEEPFACE_VERSION: Final = "0.0.103"
# Stored with every template: embeddings from another model or version are not comparable, so
# a change here means deliberate re-enrollment, never a silent mix.
MODEL_ID: Final = f"{MODEL_NAME}/deepface-{DEEPFACE_VERSION}"
EMBEDDING_DIM: Final = 128
MIN_DETECTION_SIDE_PX: Final = 32

_ENGINE_MODULES: Final = ("deepface", "dlib", "cv2", "onnxruntime", "face_recognition_models")
_HAAR_FILES: Final = ("haarcascade_frontalface_default.xml", "haarcascade_eye.xml")


class FaceBox(NamedTuple):
    """A face's box in pixels of the analysed (oriented, downscaled) image."""

    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class FaceResult:
    """The one face found in a photo.

    ``embedding`` is a float32 unit vector of ``EMBEDDING_DIM``; ``box`` is relative to an image
    of ``image_size`` (width, height), so a UI can scale it onto what it shows; ``confidence`` is
    OpenCV's detector score as DeepFace reports it (about 0.9 for clear faces, not a
    probability).
    """

    embedding: np.ndarray
    box: FaceBox
    quality: FaceQuality
    confidence: float
    image_size: tuple[int, int]
    model: str = MODEL_ID


def is_engine_installed() -> bool:
    """Whether the engine's packages are installed, without importing any of them."""
    return all(importlib.util.find_spec(name) is not None for name in _ENGINE_MODULES)


def get_default_deepface_home() -> str:
    """``settings.DEEPFACE_HOME`` when Django is configured, else ``$DEEPFACE_HOME``, else
    ``var/deepface`` in the repository."""
    try:
        from django.conf import settings

        if settings.configured and getattr(settings, "DEEPFACE_HOME", None):
            return str(settings.DEEPFACE_HOME)
    except ImportError:  # pragma: no cover - Django is always installed with the portal
        pass
    return os.environ.get("DEEPFACE_HOME") or str(
        Path(__file__).resolve().parent.parent / "var" / "deepface"
    )


class FaceEngine:
    """DeepFace with the Dlib model and OpenCV detector, loaded once, used from one process."""

    def __init__(self, deepface_home: str | os.PathLike[str]) -> None:
        self._home = Path(deepface_home)
        self._deepface: Any = None
        self._not_detected: type[Exception] = ValueError
        # dlib and OpenCV calls are not documented thread-safe; Celery's thread pool would
        # otherwise share one model between threads.
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def deepface_home(self) -> Path:
        return self._home

    @property
    def is_loaded(self) -> bool:
        return self._deepface is not None

    def load(self) -> None:
        """Check the offline files, import DeepFace and build the model and detector once.

        Raises ``EngineUnavailable`` when a package or weight file is missing: DeepFace would
        otherwise try to download it.
        """
        with self._lock:
            if self._deepface is None:
                self._deepface = self._load_locked()

    def _load_locked(self) -> Any:
        if not is_engine_installed():
            raise EngineUnavailable(
                "the face engine is not installed; run `pip install -r requirements/bio.txt`"
            )
        if get_missing_weights(self._home):
            link_weights(self._home)  # idempotent, local files only
        if missing := get_missing_weights(self._home):
            raise EngineUnavailable(f"weights missing in {self._home}: {missing}")
        import cv2

        haar_dir = Path(cv2.data.haarcascades)  # type: ignore[attr-defined]  # stubs lack it
        if missing_haar := [f for f in _HAAR_FILES if not (haar_dir / f).is_file()]:
            raise EngineUnavailable(f"OpenCV ships no {missing_haar}; pin opencv 4.x contrib")
        # DeepFace reads DEEPFACE_HOME on import and on every weight lookup.
        os.environ["DEEPFACE_HOME"] = str(self._home)
        os.environ.setdefault("DEEPFACE_LOG_LEVEL", "30")  # warnings only
        from deepface import DeepFace
        from deepface.modules.exceptions import FaceNotDetected

        self._not_detected = FaceNotDetected
        DeepFace.build_model(model_name=MODEL_NAME, task="facial_recognition")
        DeepFace.build_model(model_name=DETECTOR_BACKEND, task="face_detector")
        return DeepFace

    def warm_up(self) -> float:
        """Load, then run detector and model once on a synthetic image; returns seconds taken."""
        started = time.perf_counter()
        self.load()
        # A smooth gradient: the detector finds nothing, and with enforce_detection=False
        # DeepFace then feeds the whole image to the model, so both run once.
        ramp = np.linspace(0, 255, 200, dtype=np.float32)
        synthetic = np.stack([np.add.outer(ramp, ramp) / 2] * 3, axis=-1).astype(np.uint8)
        with self._lock:
            self._deepface.represent(
                img_path=synthetic,
                model_name=MODEL_NAME,
                detector_backend=DETECTOR_BACKEND,
                enforce_detection=False,
            )
        return time.perf_counter() - started

    def extract(self, image_bgr: np.ndarray) -> FaceResult:
        """The single face in ``image_bgr`` (as from ``images.load_image``) and its embedding.

        Raises ``BiometricError``: ``no_face``, ``multiple_faces``, ``face_too_small``,
        ``low_quality``.
        """
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 BGR image, got {image_bgr.shape}")
        self.load()
        with self._lock:
            try:
                faces = self._deepface.represent(
                    img_path=image_bgr,
                    model_name=MODEL_NAME,
                    detector_backend=DETECTOR_BACKEND,
                    enforce_detection=True,
                    align=True,
                )
            except self._not_detected as exc:
                raise BiometricError(NO_FACE) from exc
        return _select_face(image_bgr, faces)

    def extract_from_upload(self, data: bytes) -> FaceResult:
        """``images.load_image`` then ``extract``: an uploaded file's single face."""
        return self.extract(load_image(data))


def _select_face(image_bgr: np.ndarray, faces: list[dict[str, Any]]) -> FaceResult:
    height, width = image_bgr.shape[:2]
    boxes = [_box_of(face, width, height) for face in faces]
    real = [i for i, box in enumerate(boxes) if min(box.w, box.h) >= MIN_DETECTION_SIDE_PX]
    if not real:
        largest = max((min(b.w, b.h) for b in boxes), default=0)
        raise BiometricError(FACE_TOO_SMALL, details={"face_side_px": largest})
    if len(real) > 1:
        raise BiometricError(MULTIPLE_FACES, details={"faces": len(real)})
    face, box = faces[real[0]], boxes[real[0]]
    quality = assess_face(image_bgr[box.y : box.y + box.h, box.x : box.x + box.w])
    check_face_quality(quality)
    embedding = normalize(face["embedding"], EMBEDDING_DIM)
    embedding.setflags(write=False)  # a frozen result: nobody edits a template in place
    return FaceResult(
        embedding=embedding,
        box=box,
        quality=quality,
        confidence=float(face.get("face_confidence") or 0.0),
        image_size=(int(width), int(height)),
    )


def _box_of(face: dict[str, Any], width: int, height: int) -> FaceBox:
    area = face["facial_area"]
    # Clamped to the image: a negative x would make the crop below wrap around.
    x0, y0 = max(0, int(area["x"])), max(0, int(area["y"]))
    x1 = min(width, int(area["x"]) + int(area["w"]))
    y1 = min(height, int(area["y"]) + int(area["h"]))
    return FaceBox(x0, y0, max(0, x1 - x0), max(0, y1 - y0))


_engine: FaceEngine | None = None
_engine_lock = threading.Lock()


def get_engine() -> FaceEngine:
    """This process's engine (created on first use, not loaded until ``load``/``warm_up``)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = FaceEngine(get_default_deepface_home())
        return _engine
