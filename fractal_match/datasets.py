"""Targets with ground truth: annotated images (the bundled data/annotations.toml) and pairs datasets."""

from __future__ import annotations

import csv
import fnmatch
import math
import re
from dataclasses import dataclass, field as dataclass_field, replace
from pathlib import Path, PurePosixPath

from ._checks import read_toml
from ._data import DATA_DIR
from ._errors import ConfigError, FractalMatchError, did_you_mean
from .geometry import Box


@dataclass(frozen=True)
class Annotation:
    """One object in one image: the image file, a label and its ground-truth box."""

    image: Path
    label: str
    box: Box
    where: str = dataclass_field(default="", compare=False)  # the file and object it is written in, for errors
    key: str = ""  # the image as its annotation file names it (splits link objects by it); default: its file name
    id: str = ""  # the object's name where `image/label` is not one (COCO: `image/category#annotation id`)
    size: tuple[int, int] | None = dataclass_field(default=None, compare=False)  # (w, h) the file says the image has
    unit: str = ""  # the independent unit ("photo") the image belongs to, where a file says (default: the image)

    @property
    def name(self) -> str:
        """`image/label` (the image as named in its file, without its suffix), the name used by
        kernel sources, configs and results."""
        return self.id or f"{PurePosixPath(self.image_key).with_suffix('')}/{self.label}"

    @property
    def image_key(self) -> str:
        return self.key or self.image.name

    @property
    def unit_key(self) -> str:
        """The independent unit of the image: its file's `[units]` name for it, else the image."""
        return self.unit or self.image_key


#: fields an [[object]] of an annotations file may have
OBJECT_FIELDS = ("image", "label", "box", "note")


def image_key(name, where: str) -> str:
    """An image's name as an annotation file gives it (`/` or `\\` between folders), checked to
    name a file: a non-empty name that is not `.` or `..`."""
    if isinstance(name, str):
        key = PurePosixPath(name.strip().replace("\\", "/"))
        if key.name not in ("", ".", "..") and not key.is_absolute():
            return key.as_posix()
    raise ConfigError(f"{where} must be a file name relative to the images folder, got {name!r}")


def check_label(label, where: str, field: str = "label") -> str:
    """A label or category name usable in object ids: a non-empty string without '@', '|' or
    control characters (they separate the parts of group and case ids)."""
    if not isinstance(label, str) or not label.strip() or any(c in label for c in "@|") or \
            any(ord(c) < 32 for c in label):
        raise ConfigError(f"{where}: field {field!r} = {label!r} is not usable (allowed: a non-empty name "
                          "without '@', '|' or control characters)")
    return label


def annotation_images(path: Path, table: dict, images=None) -> Path:
    """The folder an annotations file's images are in: `images` if given, else the file's own
    top-level `images` (relative to the file), else `images/` beside the file if it is a folder
    (the bundled layout), else the file's own folder."""
    if images is not None:
        return Path(images)
    if "images" in table:
        if not isinstance(table["images"], str):
            raise ConfigError(f"{path}: field 'images' must be a folder name, got {table['images']!r}")
        return path.parent / table["images"]
    return path.parent / "images" if (path.parent / "images").is_dir() else path.parent


def load_annotations(path=None, images=None, labels=()) -> list[Annotation]:
    """Read an annotations TOML file (default: the bundled one) into a list of Annotation.

    Each ``[[object]]`` has ``image`` (a file in the images folder, :func:`annotation_images`),
    ``label``, ``box = [x, y, w, h]`` and optionally a ``note``; objects are named
    ``image/label``, or ``image/label#1``, ``#2``, ... in file order where an image holds several
    objects of one label (instances of it, such as coins); a box listed twice is refused. `labels`, if given, keeps the objects whose
    label matches one of these names or glob patterns (each must match one). Errors name the
    file, the object and the field.
    """
    path = Path(path) if path is not None else DATA_DIR / "annotations.toml"
    table = read_toml(path)
    unknown = sorted(set(table) - {"object", "images", "units"})
    if unknown:
        raise ConfigError(f"{path}: unknown field {unknown[0]!r} ({did_you_mean(unknown[0], ('object', 'images', 'units'))}"
                          "allowed: images, units, [[object]] tables)")
    units = table.get("units", {})
    if not isinstance(units, dict) or not all(isinstance(v, str) and v.strip() for v in units.values()):
        raise ConfigError(f"{path}: field 'units' must be a table of image = \"unit name\" (the images of one scene or "
                          "video that are one independent unit)")
    objects = table.get("object")
    if not isinstance(objects, list) or not objects:
        raise ConfigError(f"{path}: needs at least one [[object]] table")
    folder = annotation_images(path, table, images)
    result, seen, boxes = [], {}, {}
    repeated: dict[tuple, int] = {}  # (image, label) -> objects so far (labels used more than once are numbered)
    for entry in objects:
        try:
            pair = (str(image_key(entry["image"], "")), entry["label"])
        except (ConfigError, KeyError, TypeError):  # said where the object is read below
            continue
        repeated[pair] = repeated.get(pair, 0) + 1
    numbered: dict[tuple, int] = {}
    for index, entry in enumerate(objects):
        where = f"{path}: object {index + 1}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be an [[object]] table, got {entry!r:.60}")
        for field in ("image", "label", "box"):
            if field not in entry:
                raise ConfigError(f"{where}: missing field {field!r}")
        extra = sorted(set(entry) - set(OBJECT_FIELDS))
        if extra:
            raise ConfigError(f"{where}: unknown field {extra[0]!r} ({did_you_mean(extra[0], OBJECT_FIELDS)}"
                              f"allowed: {', '.join(OBJECT_FIELDS)})")
        image, label = entry["image"], check_label(entry["label"], where)
        key = image_key(image, f"{where}: field 'image'")
        box = entry["box"]
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                                 for v in box)):
            raise ConfigError(f"{where}: field 'box' must be [x, y, w, h] numbers, got {box!r}")
        annotation = Annotation(folder / key, label, Box(*box), "", key)
        pair = (str(key), label)
        if repeated.get(pair, 0) > 1:  # one of several instances of the label in this image
            numbered[pair] = numbered.get(pair, 0) + 1
            annotation = replace(annotation, id=f"{annotation.name}#{numbered[pair]}")
        annotation = replace(annotation, where=f"{where} ({annotation.name})")
        if box[2] <= 0 or box[3] <= 0:
            raise ConfigError(f"{annotation.where}: field 'box' needs positive width and height, got {box!r}")
        if annotation.name in seen:
            raise ConfigError(f"{annotation.where}: the name {annotation.name!r} is taken by object {seen[annotation.name]} "
                              "(allowed: names that differ; several objects of one label are numbered label#1, #2, ...)")
        twin = boxes.get((pair, tuple(box)))
        if twin is not None:
            raise ConfigError(f"{annotation.where}: field 'box' = {box!r} is object {twin}'s box with the same label "
                              "(allowed: each object once)")
        seen[annotation.name] = boxes[(pair, tuple(box))] = index + 1
        result.append(annotation)
    named = {a.image_key for a in result}
    stray = sorted(set(units) - named)
    if stray:
        raise ConfigError(f"{path}: field 'units' names {stray[0]!r}, which no [[object]] uses "
                          f"({did_you_mean(stray[0], sorted(named))}allowed: the images of the objects)")
    result = [replace(a, unit=units.get(a.image_key, "")) for a in result]
    return select_labels(result, labels, path, "labels")


def select_labels(annotations: list[Annotation], patterns, path, field: str) -> list[Annotation]:
    """The annotations whose label matches one of `patterns` (names or glob patterns; none: all).
    A pattern that matches no label is a ConfigError naming `path`, `field` and the labels."""
    if not patterns:
        return annotations
    labels = sorted({a.label for a in annotations})

    def matches(label: str, pattern: str) -> bool:  # a label's own name is itself, even one like "eye[1]"
        return label == pattern or fnmatch.fnmatchcase(label, pattern)

    for pattern in patterns:
        if not any(matches(label, pattern) for label in labels):
            raise ConfigError(f"{path}: {field}: {pattern!r} matches no label ({did_you_mean(pattern, labels)}"
                              f"labels in the file: {', '.join(labels)})")
    return [a for a in annotations if any(matches(a.label, p) for p in patterns)]


def find_annotation(name: str, annotations: list[Annotation] | None = None) -> Annotation:
    """The annotation called `image-stem/label` (e.g. "astronaut/face")."""
    annotations = load_annotations() if annotations is None else annotations
    for annotation in annotations:
        if annotation.name == name:
            return annotation
    known = [a.name for a in annotations]
    raise ConfigError(f"unknown annotated object {name!r} ({did_you_mean(name, known)}allowed: {', '.join(known)})")


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
    if not all(math.isfinite(v) for v in box):
        raise ConfigError(f"{where} {_format_box(box)} is not a box of finite numbers (allowed: x, y, w, h in pixels)")
    if round(box.w) < 1 or round(box.h) < 1:
        raise ConfigError(f"{where} {_format_box(box)} has no area (allowed: a width and height of at least 1 px)")
    width, height = sizes(image, where.rpartition(":")[0] or where)  # a missing image: the file and row
    x, y, w, h = (round(v) for v in box)
    if (box.x < 0 or box.y < 0 or box.x + box.w > width or box.y + box.h > height
            or x < 0 or y < 0 or x + w > width or y + h > height):
        raise ConfigError(f"{where} {_format_box(box)} is not inside its image {image} ({width} x {height} px; allowed: "
                          f"0 <= x, 0 <= y, x + w <= {width}, y + h <= {height})")


def check_annotation(annotation: Annotation, sizes: ImageSizes) -> None:
    """The box inside its image; and where the annotation file gives the image's size (COCO's
    width and height), that size: a photo resized or turned (EXIF) since it was annotated would
    put every box in the wrong place."""
    where = annotation.where or annotation.name
    if annotation.size is not None:
        found = sizes(annotation.image, where)
        if tuple(found) != tuple(annotation.size):
            raise ConfigError(f"{where}: the file gives its image {annotation.image} as {annotation.size[0]} x "
                              f"{annotation.size[1]} px, the image is {found[0]} x {found[1]} px (as read, EXIF "
                              "orientation applied); boxes are for the size they were drawn on")
    check_box(annotation.box, annotation.image, f"{where}: box", sizes)


def check_pair(pair: Pair, sizes: ImageSizes) -> None:
    template_where, target_where = (w or f"{pair.name}: {side}" for w, side in zip(pair.where, ("template_box", "target_box")))
    check_box(pair.template_box, pair.template_image, template_where, sizes)
    check_box(pair.target_box, pair.target_image, target_where, sizes)
