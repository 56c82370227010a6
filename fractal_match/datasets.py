"""Targets with ground truth: annotated images (the bundled data/annotations.toml) and pairs datasets."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field as dataclass_field
from pathlib import Path

from ._checks import read_toml
from ._data import DATA_DIR
from ._errors import ConfigError, FractalMatchError
from .geometry import Box


@dataclass(frozen=True)
class Annotation:
    """One object in one image: the image file, a label and its ground-truth box."""

    image: Path
    label: str
    box: Box
    where: str = dataclass_field(default="", compare=False)  # the file and object it is written in, for errors

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
    objects = read_toml(path).get("object")
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
        result.append(Annotation(path.parent / "images" / str(entry["image"]), str(entry["label"]), Box(*box),
                                 f"{where} ({Path(str(entry['image'])).stem}/{entry['label']})"))
    return result


def find_annotation(name: str, annotations: list[Annotation] | None = None) -> Annotation:
    """The annotation called `image-stem/label` (e.g. "astronaut/face")."""
    annotations = load_annotations() if annotations is None else annotations
    for annotation in annotations:
        if annotation.name == name:
            return annotation
    known = ", ".join(a.name for a in annotations)
    raise ConfigError(f"unknown annotated object {name!r} (allowed: {known})")


# --- pairs datasets ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pair:
    """A template-matching pair: the template is `template_image` cropped at `template_box`; the
    object is at `target_box` in `target_image`."""

    name: str
    template_image: Path
    template_box: Box
    target_image: Path
    target_box: Box
    where: tuple[str, str] = dataclass_field(default=("", ""), compare=False)  # where each box is written, for errors


_PAIR_FILE = re.compile(r"^pair(?P<pair>\d+)_frm(?P<frame>[12])_(?P<seq>.+)_(?P<index>\d+)\.(?:jpe?g|png|bmp)$", re.I)


def read_box(path: Path) -> Box:
    """A box file: one line `x,y,w,h` (commas, spaces or tabs)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such box file") from None
    parts = [p for p in re.split(r"[,\s]+", text.splitlines()[0] if text else "") if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or values[2] <= 0 or values[3] <= 0:
        raise ConfigError(f"{path}: box must be one line 'x,y,w,h' with positive w and h, got {text[:60]!r}")
    return Box(*values)


def load_pairs(folder) -> list[Pair]:
    """Pairs in the BBS / QATM / DDIS layout: for each pair N, `pairNNNN_frm1_<seq>_<a>.jpg` with
    its box in the `.txt` of the same name, and `pairNNNN_frm2_<seq>_<b>.jpg` whose box is in
    `pairNNNN_frm2_<seq>_<b>.txt` or, as in the BBS release, `pairNNNN_frm1_<seq>_<b>.txt`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder of pairs")
    frames: dict[str, dict[str, Path]] = {}
    for path in sorted(folder.iterdir()):
        found = _PAIR_FILE.match(path.name)
        if found:
            frames.setdefault(found["pair"], {})[found["frame"]] = path
    pairs = []
    for number, files in sorted(frames.items()):
        if set(files) != {"1", "2"}:
            raise ConfigError(f"{folder}: pair{number} needs both a frm1 and a frm2 image")
        first, second = files["1"], files["2"]
        second_box = second.with_suffix(".txt")
        if not second_box.exists():
            parts = _PAIR_FILE.match(second.name)
            second_box = folder / f"pair{number}_frm1_{parts['seq']}_{parts['index']}.txt"
        first_box = first.with_suffix(".txt")
        pairs.append(Pair(f"pair{number}", first, read_box(first_box), second, read_box(second_box),
                          (f"{first_box}: box", f"{second_box}: box")))
    if not pairs:
        raise ConfigError(f"{folder}: no pairNNNN_frm1_/frm2_ images found")
    return pairs


def load_manifest(path) -> list[Pair]:
    """Pairs from a CSV with columns template_image, template_box, target_image, target_box
    (boxes as "x,y,w,h" or "x y w h"; image paths relative to the CSV's folder)."""
    path = Path(path)
    try:
        rows = list(csv.DictReader(path.open(newline="", encoding="utf-8")))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    needed = ("template_image", "template_box", "target_image", "target_box")
    pairs = []
    for number, row in enumerate(rows, start=2):
        missing = [c for c in needed if not row.get(c)]
        if missing:
            raise ConfigError(f"{path}: line {number}: missing column(s) {', '.join(missing)} (needed: {', '.join(needed)})")
        boxes = []
        for column in ("template_box", "target_box"):
            parts = [p for p in re.split(r"[,\s]+", row[column].strip()) if p]
            try:
                box = Box(*(float(p) for p in parts))
            except (TypeError, ValueError):
                raise ConfigError(f"{path}: line {number}: {column} must be 'x,y,w,h', got {row[column]!r}") from None
            boxes.append(box)
        pairs.append(Pair(f"{path.stem}-{number - 1}", path.parent / row["template_image"], boxes[0],
                          path.parent / row["target_image"], boxes[1],
                          (f"{path}: line {number}: template_box", f"{path}: line {number}: target_box")))
    if not pairs:
        raise ConfigError(f"{path}: no rows")
    return pairs


# --- what a run will read: every image decodes, every box lies inside its image -----------------

def _format_box(box: Box) -> str:
    return ",".join(f"{v:g}" for v in box)


class ImageSizes:
    """(width, height) of image files as :func:`load_image` reads them (EXIF orientation applied),
    each file decoded once; a file that is missing or does not decode is a ConfigError naming `where`."""

    def __init__(self):
        self._sizes: dict[Path, tuple[int, int]] = {}

    def __call__(self, path: Path, where: str) -> tuple[int, int]:
        from .images import float_scale, load_image

        path = Path(path)
        if path not in self._sizes:
            try:
                image = load_image(path, "unchanged")
                if image.dtype.kind == "f":  # a float picture needs a known scale to match against
                    float_scale(image)
            except FractalMatchError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            self._sizes[path] = (image.shape[1], image.shape[0])
        return self._sizes[path]


def check_box(box: Box, image: Path, where: str, sizes: ImageSizes) -> None:
    """A box that a run crops or scores against: at least 1 px wide and high, and inside its image
    as given and as cropped (its corners rounded as :func:`fractal_match.geometry.crop` rounds
    them): 0 <= x, 0 <= y, x + w <= width, y + h <= height. Else one ConfigError naming `where`,
    the box and the image."""
    if round(box.w) < 1 or round(box.h) < 1:
        raise ConfigError(f"{where} {_format_box(box)} has no area (allowed: a width and height of at least 1 px)")
    width, height = sizes(image, where.rpartition(":")[0] or where)  # a missing image: the file and row
    x, y, w, h = (round(v) for v in box)
    if (box.x < 0 or box.y < 0 or box.x + box.w > width or box.y + box.h > height
            or x < 0 or y < 0 or x + w > width or y + h > height):
        raise ConfigError(f"{where} {_format_box(box)} is not inside its image {image} ({width} x {height} px; allowed: "
                          f"0 <= x, 0 <= y, x + w <= {width}, y + h <= {height})")


def check_annotation(annotation: Annotation, sizes: ImageSizes) -> None:
    check_box(annotation.box, annotation.image, f"{annotation.where or annotation.name}: box", sizes)


def check_pair(pair: Pair, sizes: ImageSizes) -> None:
    template_where, target_where = (w or f"{pair.name}: {side}" for w, side in zip(pair.where, ("template_box", "target_box")))
    check_box(pair.template_box, pair.template_image, template_where, sizes)
    check_box(pair.target_box, pair.target_image, target_where, sizes)
