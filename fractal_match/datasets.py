"""Annotated images: the bundled ground truth in data/annotations.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ._errors import ConfigError
from .geometry import Box

#: The bundled data folder (next to the package in a source checkout).
DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class Annotation:
    """One object in one image: the image file, a label and its ground-truth box."""

    image: Path
    label: str
    box: Box

    @property
    def name(self) -> str:
        """`image-stem/label`, the name used by kernel sources and configs."""
        return f"{self.image.stem}/{self.label}"


def load_annotations(path=None) -> list[Annotation]:
    """Read an annotations TOML file (default: the bundled one) into a list of Annotation.

    Each ``[[object]]`` has ``image`` (relative to the file's ``images/`` folder), ``label`` and
    ``box = [x, y, w, h]``. Errors name the file, the object and the field.
    """
    path = Path(path) if path is not None else DATA_DIR / "annotations.toml"
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    objects = document.get("object")
    if not isinstance(objects, list) or not objects:
        raise ConfigError(f"{path}: needs at least one [[object]] table")
    result = []
    for index, entry in enumerate(objects):
        where = f"{path}: object {index + 1}"
        for field in ("image", "label", "box"):
            if field not in entry:
                raise ConfigError(f"{where}: missing field {field!r}")
        box = entry["box"]
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)):
            raise ConfigError(f"{where}: field 'box' must be [x, y, w, h] numbers, got {box!r}")
        if box[2] <= 0 or box[3] <= 0:
            raise ConfigError(f"{where}: field 'box' needs positive width and height, got {box!r}")
        result.append(Annotation(path.parent / "images" / str(entry["image"]), str(entry["label"]), Box(*box)))
    return result


def find_annotation(name: str, annotations: list[Annotation] | None = None) -> Annotation:
    """The annotation called `image-stem/label` (e.g. "astronaut/face")."""
    annotations = load_annotations() if annotations is None else annotations
    for annotation in annotations:
        if annotation.name == name:
            return annotation
    known = ", ".join(a.name for a in annotations)
    raise ConfigError(f"unknown annotated object {name!r} (allowed: {known})")
