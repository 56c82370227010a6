"""Target objects of your own: an annotations file in the bundled TOML format, or a COCO file.

A config names such a file in ``[targets]`` (``annotations = "my_boxes.toml"`` or ``coco =
"instances.json"``, or a table with ``file``, ``images`` and a filter). Each object becomes an
:class:`~fractal_match.datasets.Annotation`, so it is loaded, posed by ``[transforms]``, split by
image and checked exactly as a bundled one is.

COCO (the instances format CVAT, Label Studio and Roboflow export): ``images`` (``id``,
``file_name``), ``categories`` (``id``, ``name``) and ``annotations`` (``id``, ``image_id``,
``category_id``, ``bbox = [x, y, w, h]``, ``iscrowd``). Crowd annotations mark a region of many
objects, not one object, and are skipped and counted. An object is named
``image/category#annotation-id`` (an image usually holds several objects of one category).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from .._checks import read_toml
from .._errors import ConfigError, did_you_mean
from .._toml import TableReader
from ..datasets import Annotation, annotation_images, check_label, image_key, load_annotations
from ..geometry import Box

#: the formats of an object file, as config fields name them
FORMATS = ("annotations", "coco")


@dataclass(frozen=True)
class ObjectFile:
    """A file of target objects: `format` "annotations" (TOML) or "coco" (JSON), the folder its
    images are in, the labels or categories kept (none: every one), and the file's SHA-256 (in
    the config's digest: a run resumes only with the boxes it started with)."""

    format: str
    path: Path
    images: Path
    only: tuple[str, ...] = ()
    sha256: str = ""

    @property
    def filter_field(self) -> str:
        return "labels" if self.format == "annotations" else "categories"

    def table(self) -> dict:
        """The config table that names this file (what a written-out config holds)."""
        return {"file": str(self.path), "images": str(self.images), self.filter_field: list(self.only),
                "sha256": self.sha256}


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class Loaded:
    """The objects of an object file, and what was left out: crowd annotations (COCO) per category."""

    objects: tuple[Annotation, ...]
    crowd: tuple[tuple[str, int], ...] = ()


@lru_cache(maxsize=16)
def load_objects(source: ObjectFile) -> Loaded:
    """The objects of `source` (read once per process)."""
    if source.format == "annotations":
        return Loaded(tuple(load_annotations(source.path, source.images, source.only)))
    return load_coco(source.path, source.images, source.only)


def _json(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a JSON object with images, annotations and categories (COCO format)")
    return data


def _entries(path: Path, data: dict, field: str, needed: tuple[str, ...]) -> list[dict]:
    entries = data.get(field)
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: field {field!r} must be a list (COCO format: images, annotations, categories)")
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: {field}[{number - 1}] must be an object, got {entry!r:.60}")
        missing = [key for key in needed if key not in entry]
        if missing:
            name = f"{field[:-1]} id {entry['id']}" if "id" in entry else f"{field}[{number - 1}]"
            raise ConfigError(f"{path}: {name}: missing field {missing[0]!r} (needed: {', '.join(needed)})")
    return entries


def _id(path: Path, value, where: str):
    """An id as COCO gives them: an integer or a string (no float, bool, list or object)."""
    if not isinstance(value, (int, str)) or isinstance(value, bool):
        raise ConfigError(f"{path}: {where} {value!r:.40} is not an id (allowed: an integer or a string)")
    return value


def _unique(path: Path, entries: list[dict], what: str) -> dict:
    found = {}
    for entry in entries:
        key = _id(path, entry["id"], f"{what} id")
        if key in found:
            raise ConfigError(f"{path}: {what} id {key!r} is listed twice")
        found[key] = entry
    return found


def load_coco(path, images=None, categories=()) -> Loaded:
    """The objects of a COCO instances file (module docs); `images`: the folder the file names
    are relative to (default: the file's folder); `categories`: the category names kept (default:
    all). Errors are one line naming the file and the annotation, image or category id."""
    path = Path(path)
    data = _json(path)
    folder = Path(images) if images is not None else path.parent
    image_list = _unique(path, _entries(path, data, "images", ("id", "file_name")), "image")
    category_list = _unique(path, _entries(path, data, "categories", ("id", "name")), "category")
    names = {key: check_label(entry["name"], f"{path}: category id {key}", "name") for key, entry in category_list.items()}
    known = sorted(set(names.values()))
    for name in categories:
        if name not in known:
            raise ConfigError(f"{path}: categories: {name!r} is not a category of this file "
                              f"({did_you_mean(name, known)}allowed: {', '.join(known)})")
    kept, crowd, seen = [], {}, set()
    for entry in _entries(path, data, "annotations", ("id", "image_id", "category_id", "bbox")):
        where = f"{path}: annotation id {_id(path, entry['id'], 'annotation id')}"
        _id(path, entry["image_id"], f"annotation id {entry['id']}: image_id")
        _id(path, entry["category_id"], f"annotation id {entry['id']}: category_id")
        if entry["id"] in seen:
            raise ConfigError(f"{where}: is listed twice")
        seen.add(entry["id"])
        if entry["image_id"] not in image_list:
            raise ConfigError(f"{where}: image_id {entry['image_id']!r} is not in 'images'")
        if entry["category_id"] not in names:
            raise ConfigError(f"{where}: category_id {entry['category_id']!r} is not in 'categories' "
                              f"(ids: {', '.join(str(k) for k in names)})")
        category = names[entry["category_id"]]
        if categories and category not in categories:
            continue
        if entry.get("iscrowd", 0) not in (0, 1, False, True):
            raise ConfigError(f"{where}: iscrowd = {entry['iscrowd']!r} is not allowed (allowed: 0 or 1)")
        if entry.get("iscrowd", 0):
            crowd[category] = crowd.get(category, 0) + 1
            continue
        image = image_list[entry["image_id"]]
        key = image_key(image["file_name"], f"{path}: image id {entry['image_id']}: file_name")
        bbox = entry["bbox"]
        if not (isinstance(bbox, list) and len(bbox) == 4
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)):
            raise ConfigError(f"{where}: bbox must be [x, y, w, h] numbers, got {bbox!r:.80}")
        name = f"{PurePosixPath(key).with_suffix('')}/{category}#{entry['id']}"
        if bbox[2] <= 0 or bbox[3] <= 0:
            raise ConfigError(f"{where} ({name}): bbox {bbox} has no area (allowed: a positive width and height)")
        size = (image.get("width"), image.get("height"))
        kept.append(Annotation(folder / key, category, Box(*bbox), f"{where} ({name})", key, name,
                               size if all(isinstance(v, int) and not isinstance(v, bool) for v in size) else None))
    if not kept:
        chosen = f" of the categories {', '.join(categories)}" if categories else ""
        raise ConfigError(f"{path}: has no objects{chosen} to use ({sum(crowd.values())} crowd annotation(s) skipped)")
    return Loaded(tuple(kept), tuple(sorted(crowd.items())))


def read_object_file(path: Path, reader: TableReader, key: str) -> ObjectFile:
    """`targets.annotations` naming a TOML file of your own, or `targets.coco`: the file's name,
    or a table with `file`, `images` (a folder) and `labels` / `categories` (and, in configs the
    tool writes out, the file's `sha256`, checked). The file is read here: its errors are the
    config's."""
    value = reader.get(key, (str, dict))
    format_ = "annotations" if key == "annotations" else "coco"
    only_field = "labels" if format_ == "annotations" else "categories"
    if isinstance(value, str):
        value = {"file": value}
    inner = TableReader(path, value, f"targets.{key}.")
    name = inner.get("file", str, required=True)
    file = (path.parent / name).resolve()
    if format_ == "annotations" and file.suffix.lower() != ".toml":
        raise inner.error("file", f"{name!r} is not a .toml file (allowed: \"all\", a list of bundled names, or an "
                          "annotations file of your own, FILE.toml; COCO files go in targets.coco)")
    if file.is_dir():
        raise inner.error("file", f"{name!r} is a folder (allowed: a {'TOML' if format_ == 'annotations' else 'JSON'} file)")
    if not file.is_file():
        raise inner.error("file", f"{name!r} does not exist (relative to {path.parent})")
    folder = inner.get("images", str)
    images = (path.parent / folder).resolve() if folder is not None else None
    if images is not None and not images.is_dir():
        raise inner.error("images", f"{folder!r} is not a folder (relative to {path.parent})")
    only = tuple(inner.strings(only_field, []))
    if only_field in value and not only and "sha256" not in value:  # [] would silently keep every one (the
        # configs this tool wrote before it left the field out carry sha256, and meant every one)
        raise inner.error(only_field, f"= [] names no {only_field[:-1] if format_ == 'annotations' else 'category'} "
                          f"(allowed: a list of one or more names; leave the field out to keep every one)")
    digest = file_digest(file)
    written = inner.get("sha256", str)
    if written is not None and written != digest:
        raise inner.error("sha256", f"= {written[:12]}... does not match {file} ({digest[:12]}...): the file changed "
                          "since this config was written (start a new run)")
    inner.finish(("file", "images", only_field, "sha256"))
    if images is None:  # the default folder, as the file's reader finds it
        if format_ == "coco":
            images = file.parent
        else:
            images = annotation_images(file, read_toml(file)).resolve()
    source = ObjectFile(format_, file, images, only, digest)
    load_objects(source)  # its errors now, naming the file and the object
    return source


__all__ = ["FORMATS", "ObjectFile", "Loaded", "load_objects", "load_coco", "file_digest", "read_object_file"]
