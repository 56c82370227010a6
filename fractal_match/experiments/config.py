"""Experiment configuration: a TOML file read into frozen dataclasses.

Every error names the file, the field and what is allowed. The docs' config reference
(docs/reference/config.md) describes every table and field. A minimal config::

    name = "quick"
    seed = 0
    kernels = ["crop", "learned:mean-face"]     # (top level, before tables)

    [targets]
    annotations = ["astronaut/face", "coins/coin-3"]   # bundled names, "all", or "my_boxes.toml"
    # coco = "instances.json"           # a COCO file (or a table: file, images, categories)
    # pairs = "folder"                  # BBS-layout pairs;  manifest = "pairs.csv": pairs listed
    # [targets.synthetic]               # kernel pictures pasted on bundled textures or photos

    [transforms]
    scales = [0.8, 1.0, 1.25]
    rotations = [0, 15, 45]

    [[variants]]
    family = "none"
    [[variants]]
    family = "orbit-trap"
    params = { degree = 3 }
    [[variants]]
    family = "bank"                  # the plain kernel at several poses, best of the bank
    rotations = [-30, 0, 30]
    scales = [0.8, 1.0, 1.25]

    [matching]
    methods = ["TM_CCOEFF_NORMED", "SQDIFF"]   # default: all six; with or without TM_, any case

    [evaluation]
    hit = "auto"        # iou for pairs at their own pose, center for everything else

Optional tables: ``[split]`` (tune and held-out objects) and ``[search]`` (how ``tune`` searches).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


from .._checks import read_toml
from .._toml import TableReader
from .._data import config_path
from .._errors import ConfigError, FractalMatchError, did_you_mean
from ..engine._methods import METHODS, canonical_method
from ..datasets import load_annotations
from ..templates.fractal import FAMILIES, SPECIAL_VARIANTS
from ..templates.kernels import KERNEL_SOURCES, expand_kernel_names, load_kernel
from .scenes import background_names
from .settings import Confirmation, Evaluation, Search, Split, read_confirmation, read_evaluation, read_search, read_split
from .sources import ObjectFile, read_object_file


TEXTURES = ("brick", "grass", "gravel")
PASTES = ("square", "ellipse")


@dataclass(frozen=True)
class Variant:
    """A template variant: a generator family with parameters, or `bank` / `oracle`."""

    name: str
    family: str
    params: dict = field(default_factory=dict)
    rotations: tuple[float, ...] = ()  # bank only
    scales: tuple[float, ...] = ()  # bank only
    color: bool | None = None  # this variant's own matching switches (None: the [matching] ones)
    template_masks: bool | None = None


@dataclass(frozen=True)
class Synthetic:
    """Synthetic scenes: `count` objects (kernel pictures) pasted on textures at seeded places."""

    count: int = 4
    seed: int = 0
    textures: tuple[str, ...] = TEXTURES
    objects: tuple[str, ...] = ("learned:mean-face",)
    object_size: int = 64
    scene_size: int = 384
    paste: str = "square"  # or "ellipse": blended through a soft ellipse, no square edge


@dataclass(frozen=True)
class Targets:
    annotations: tuple[str, ...] = ()  # bundled objects by name
    pairs: Path | None = None
    manifest: Path | None = None
    synthetic: Synthetic | None = None
    annotation_file: ObjectFile | None = None  # `annotations = "my_boxes.toml"`: objects of your own
    coco: ObjectFile | None = None
    per_image: int = 0  # > 0: run the first per_image objects of each image only (all still count as instances)

    @property
    def files(self) -> tuple[ObjectFile, ...]:
        return tuple(f for f in (self.annotation_file, self.coco) if f is not None)

    def any(self) -> bool:
        return bool(self.annotations or self.pairs or self.manifest or self.synthetic or self.files)


@dataclass(frozen=True)
class Config:
    name: str
    seed: int
    targets: Targets
    scales: tuple[float, ...]
    rotations: tuple[float, ...]
    kernels: tuple[str, ...]
    variants: tuple[Variant, ...]
    methods: tuple[str, ...] = METHODS
    color: bool = False
    template_masks: bool = False
    evaluation: Evaluation = Evaluation()
    kernel_size: str | int = "object"  # [matching] kernel_size: "object", "file" or a longer side in pixels
    split: Split | None = None
    search: Search | None = None
    confirmation: Confirmation | None = None
    source: Path | None = field(default=None, compare=False)
    #: (name as the config writes it, SHA-256) of each kernel that is an image file: the rows, the
    #: case ids and the report name it as written ("eye.png"); its content is part of the digest
    kernel_files: tuple[tuple[str, str], ...] = ()
    #: (name as written, absolute path): where each such file is read (not part of the digest)
    kernel_paths: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def kernel_file(self, name: str) -> str:
        """What to load for kernel `name`: its file's absolute path, or the name itself."""
        return dict(self.kernel_paths).get(name, name)

    def canonical(self) -> dict:
        """The configuration's content as plain JSON-able data (paths as strings, no source; no
        split when there is none, so that configs without one keep their digests)."""
        data = asdict(self)
        data.pop("source")
        data.pop("kernel_paths")
        # a file named by its absolute path is identified by that path, as configs always did
        # (their runs keep their digests); one named as written, by its name and content
        data["kernel_files"] = [list(entry) for entry in self.kernel_files if not Path(entry[0]).is_absolute()]
        if not data["kernel_files"]:  # left out when absent: older configs keep their digests
            data.pop("kernel_files")
        for optional in ("split", "search", "confirmation"):  # left out when absent: older configs keep their digests
            if data[optional] is None:
                data.pop(optional)
        if data.get("split") is not None and data["split"]["side"] is None:
            data["split"].pop("side")
        if data.get("search") is not None and data["search"]["start"] == Search.start:
            data["search"].pop("start")  # the default is left out (older digests)
        if data.get("search") is not None and not data["search"]["per_dimension"]:
            data["search"].pop("per_dimension")
        if data["evaluation"]["instances"] == "object":  # the defaults of later fields are left out (older digests)
            data["evaluation"].pop("instances")
        if data["kernel_size"] == "object":
            data.pop("kernel_size")
        if data.get("confirmation") is not None:  # later fields at their defaults are left out (older digests)
            for key, default in (("rule", "photo"), ("primary", ""), ("secondary", ""), ("power", "")):
                if data["confirmation"][key] == default:
                    data["confirmation"].pop(key)
        for variant in data["variants"]:  # own switches are left out when absent (older digests)
            for key in ("color", "template_masks"):
                if variant[key] is None:
                    variant.pop(key)
        targets = data["targets"]
        for key, source in (("annotations", self.targets.annotation_file), ("coco", self.targets.coco)):
            if source is not None:  # as the config writes it: a table naming the file
                targets[key] = source.table()
        targets.pop("annotation_file")
        if targets["coco"] is None:  # left out when absent (older digests)
            targets.pop("coco")
        if not targets["per_image"]:
            targets.pop("per_image")
        if data["targets"]["synthetic"] is not None and data["targets"]["synthetic"]["paste"] == "square":
            data["targets"]["synthetic"].pop("paste")  # the default before there was a choice
        return json.loads(json.dumps(data, default=str))

    @property
    def digest(self) -> str:
        """A hash of the content (not of comments or layout): two runs with one digest are comparable."""
        return hashlib.sha256(json.dumps(self.canonical(), sort_keys=True).encode()).hexdigest()[:16]


def _variants(path: Path, raw) -> tuple[Variant, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{path}: field 'variants' needs at least one [[variants]] table")
    variants, names = [], set()
    for index, table in enumerate(raw):
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: field 'variants' must be [[variants]] tables")
        reader = TableReader(path, table, f"variants[{index}].")
        family = reader.get("family", str, required=True)
        allowed = tuple(FAMILIES) + SPECIAL_VARIANTS
        if family not in allowed:
            raise reader.error("family", f"{family!r} is unknown ({did_you_mean(family, allowed)}allowed: "
                               f"{', '.join(allowed)})")
        name = reader.get("name", str, family)
        if name in names:
            raise reader.error("name", f"{name!r} is used twice (give each variant of one family its own name)")
        names.add(name)
        params = reader.get("params", dict, {})
        rotations = scales = ()
        if family == "bank":
            rotations = reader.numbers("rotations", [0.0], low=-360, high=360)
            scales = reader.numbers("scales", [1.0], low=0.0, high=8.0, exclusive_low=True)
            if params:
                raise reader.error("params", "is not used by the bank variant (use rotations and scales)")
        elif family in ("oracle", "pnet-detector"):
            if params:
                raise reader.error("params", f"is not used by the {family} variant")

        else:
            try:
                params = FAMILIES[family].resolve(params)
            except FractalMatchError as exc:
                raise ConfigError(f"{path}: variants[{index}]: {exc}") from None
        switches = {key: reader.get(key, bool) for key in ("color", "template_masks")}
        reader.finish(("family", "name", "params", "color", "template_masks") + (("rotations", "scales") if family == "bank" else ()))
        variants.append(Variant(name, family, params, rotations, scales, **switches))
    return tuple(variants)


def _kernels(path: Path, names: tuple[str, ...], field_name: str = "kernels") -> tuple[str, ...]:
    if not names:
        raise ConfigError(f"{path}: field '{field_name}' is empty (allowed: 'crop', or kernel names: "
                          f"{', '.join(p + ':' for p in KERNEL_SOURCES)} or image paths)")
    resolved = []
    for name in names:
        if name == "crop":
            resolved.append(name)
            continue
        prefix, sep, _ = name.partition(":")
        if sep and prefix in KERNEL_SOURCES:
            try:
                load_kernel(name)
            except FractalMatchError as exc:
                raise ConfigError(f"{path}: field '{field_name}': {name}: {exc}") from None
            resolved.append(name)
            continue
        file = (path.parent / name) if not Path(name).is_absolute() else Path(name)
        if not file.is_file():
            raise ConfigError(f"{path}: field '{field_name}': {name!r} is not 'crop', a kernel name "
                              f"({', '.join(p + ':' for p in KERNEL_SOURCES)}) or an existing image file")
        resolved.append(str(file.resolve()))  # absolute: the config may be copied or written elsewhere
    return tuple(resolved)


def _targets(path: Path, raw) -> Targets:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: field 'targets' must be a table")
    reader = TableReader(path, raw, "targets.")
    annotations, annotation_file = reader.get("annotations", (str, list, dict), ()), None
    known = [a.name for a in load_annotations()]
    if annotations == "all":
        annotations = tuple(known)
    elif isinstance(annotations, (str, dict)):  # a file of your own
        annotation_file, annotations = read_object_file(path, reader, "annotations"), ()
    else:
        annotations = reader.strings("annotations")
        for name in annotations:
            if name not in known:
                raise reader.error("annotations", f"names unknown object {name!r} ({did_you_mean(name, known)}allowed: "
                                   f"\"all\", a TOML file of your own, or bundled names: {', '.join(known)})")
    coco = read_object_file(path, reader, "coco") if reader.get("coco", (str, dict)) is not None else None
    folders = {}
    for key in ("pairs", "manifest"):
        value = reader.get(key, str)
        if value is not None:
            location = (path.parent / value).resolve()
            if not location.exists():
                raise reader.error(key, f"{value!r} does not exist (relative to {path.parent})")
            folders[key] = location
    synthetic = None
    table = reader.get("synthetic", dict)
    if table is not None:
        inner = TableReader(path, table, "targets.synthetic.")
        count = inner.get("count", int, 4)
        if not 1 <= count <= 10000:
            raise inner.error("count", f"= {count} is out of range (allowed: 1 to 10000)")
        textures = inner.strings("textures", list(TEXTURES))
        backgrounds = background_names()
        if not textures:
            raise inner.error("textures", f"is empty (allowed: {', '.join(backgrounds)})")
        for texture in textures:
            if texture not in backgrounds:
                raise inner.error("textures", f"names unknown background {texture!r} (allowed: {', '.join(backgrounds)})")
        try:
            patterns = [name for pattern in inner.strings("objects", ["learned:mean-face"]) for name in expand_kernel_names(pattern)]
        except FractalMatchError as exc:
            raise inner.error("objects", str(exc)) from None
        objects = _kernels(path, tuple(patterns), "targets.synthetic.objects")
        if "crop" in objects:
            raise inner.error("objects", "cannot be 'crop' (objects are pictures to paste: learned:, bank: or files)")
        object_size = inner.get("object_size", int, 64)
        scene_size = inner.get("scene_size", int, 384)
        if not 8 <= object_size <= 1024 or not 2 * object_size <= scene_size <= 4096:
            raise inner.error("object_size", f"= {object_size} with scene_size = {scene_size} is not allowed "
                              "(allowed: 8 <= object_size <= 1024, 2 x object_size <= scene_size <= 4096)")
        paste = inner.get("paste", str, "square")
        if paste not in PASTES:
            raise inner.error("paste", f"= {paste!r} is not allowed (allowed: {', '.join(PASTES)})")
        synthetic = Synthetic(count, inner.get("seed", int, 0), textures, objects, object_size, scene_size, paste)
        inner.finish()
    per_image = reader.get("per_image", int, 0)
    if not 0 <= per_image <= 10000:
        raise reader.error("per_image", f"= {per_image} is out of range (allowed: 0, every object, or the first N objects "
                           "of each image, 1 to 10000)")
    reader.finish(("annotations", "pairs", "manifest", "synthetic", "coco", "per_image"))
    targets = Targets(tuple(annotations), folders.get("pairs"), folders.get("manifest"), synthetic, annotation_file, coco,
                      per_image)
    if not targets.any():
        raise ConfigError(f"{path}: field 'targets' selects nothing (allowed: annotations, coco, pairs, manifest, synthetic)")
    return targets


def load_config(path) -> Config:
    """Read and check an experiment config (see module docs); raise ConfigError naming the field.
    `path` is a TOML file, or the bare name of a shipped config (e.g. "quick")."""
    path = config_path(path)
    top = TableReader(path, read_toml(path))
    name = top.get("name", str, required=True)
    if not name or any(c in name for c in "/\\\0") or name.startswith("."):
        raise top.error("name", f"{name!r} is not usable as a folder name")
    seed = top.get("seed", int, 0)
    targets = _targets(path, top.get("targets", dict, required=True))
    transforms = TableReader(path, top.get("transforms", dict, {}), "transforms.")
    scales = transforms.numbers("scales", [1.0], low=0.0, high=8.0, exclusive_low=True)
    rotations = transforms.numbers("rotations", [0.0], low=-360.0, high=360.0)
    transforms.finish(("scales", "rotations"))
    kernels, kernel_files, kernel_paths = _kernel_files(path, top.strings("kernels", ["crop"]),
                                                        top.get("kernel_files", dict, {}))
    variants = _variants(path, top.get("variants", list, required=True))
    matching = TableReader(path, top.get("matching", dict, {}), "matching.")
    methods = matching.strings("methods", list(METHODS))
    if not methods:
        raise matching.error("methods", f"is empty (allowed: {', '.join(METHODS)})")
    try:  # any spelling (CCOEFF_NORMED, ccoeff-normed); the config holds the full names
        methods = [canonical_method(method) for method in methods]
    except FractalMatchError as exc:
        raise matching.error("methods", f"names an {exc}") from None
    color = matching.get("color", bool, False)
    template_masks = matching.get("template_masks", bool, False)
    kernel_size = read_kernel_size(matching)
    matching.finish(("methods", "color", "template_masks", "kernel_size"))
    evaluation = read_evaluation(path, top.get("evaluation", dict, {}))
    split = read_split(path, top.get("split", dict))
    search = read_search(path, top.get("search", dict))
    confirmation = read_confirmation(path, top.get("confirmation", dict))
    top.finish(("name", "seed", "targets", "transforms", "kernels", "kernel_files", "variants", "matching",
                "evaluation", "split", "search", "confirmation"))
    if "crop" in kernels and not targets.any():
        raise ConfigError(f"{path}: field 'kernels': 'crop' needs targets with ground truth")
    if evaluation.instances == "image" and (targets.pairs or targets.manifest or targets.synthetic):
        raise ConfigError(f"{path}: field 'evaluation.instances' = 'image' judges the objects of an annotated photo "
                          "(allowed with annotations and coco targets only, not pairs, manifest or synthetic)")
    return Config(name, seed, targets, scales, rotations, kernels, variants, tuple(dict.fromkeys(methods)), color,
                  template_masks, evaluation, kernel_size, split, search, confirmation, path,
                  kernel_files=kernel_files, kernel_paths=kernel_paths)


def _kernel_files(path: Path, names: tuple[str, ...], table: dict):
    """The top-level `kernels`: every name checked (:func:`_kernels`) and kept as written; for
    each image file, its SHA-256 and absolute path. `[kernel_files]` (which configs the tool
    writes out carry) says where a name's file is, `{ file = PATH, sha256 = HEX }`, so that a run
    folder's copy finds the file that the original config named relative to itself."""
    from .sources import file_digest

    places = {}
    for name, entry in table.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: field 'kernel_files.{name}' must be a table {{ file = PATH, sha256 = HEX }}, "
                              f"got {type(entry).__name__} {entry!r}")
        reader = TableReader(path, entry, f"kernel_files.{name}.")
        if name not in names:
            raise ConfigError(f"{path}: field 'kernel_files.{name}' names no kernel of 'kernels' "
                              f"({did_you_mean(name, names)}allowed: {', '.join(names)})")
        file = Path(reader.get("file", str, required=True))
        places[name] = (file if file.is_absolute() else path.parent / file, reader.get("sha256", str))
        reader.finish(("file", "sha256"))
    resolved = _kernels(path, tuple(str(places[n][0]) if n in places else n for n in names))
    files, paths = [], []
    for name, found in zip(names, resolved):
        if Path(found).is_absolute():
            digest = file_digest(found)
            written = places.get(name, (None, None))[1]
            if written is not None and written != digest:
                raise ConfigError(f"{path}: field 'kernel_files.{name}.sha256' = {written[:12]}... does not match "
                                  f"{found} ({digest[:12]}...): the file changed since this config was written "
                                  "(start a new run)")
            files.append((name, digest))
            paths.append((name, found))
    return tuple(names), tuple(files), tuple(paths)


#: What ``[matching] kernel_size`` allows, in words.
KERNEL_SIZES = ("'object' (the kernel's longer side set to the object's box at scale 1; the default), 'file' "
                "(the kernel as its file or source makes it) or a longer side in pixels (4 to 2048)")


def read_kernel_size(matching: TableReader) -> str | int:
    """``[matching] kernel_size``: "object", "file" or a number of pixels (the kernel's longer side)."""
    value = matching.get("kernel_size", (str, int), "object")
    if isinstance(value, bool) or (isinstance(value, str) and value not in ("object", "file")):
        raise matching.error("kernel_size", f"= {value!r} is not allowed "
                             f"({did_you_mean(str(value), ('object', 'file'))}allowed: {KERNEL_SIZES})")
    if isinstance(value, int) and not 4 <= value <= 2048:
        raise matching.error("kernel_size", f"= {value} is out of range (allowed: {KERNEL_SIZES})")
    return value
