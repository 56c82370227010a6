"""A config expanded once into a plan: its target objects, their groups (object x pose) and the
counts every reader needs. The runner, the run folder, the progress display and the summaries
read the plan; nothing expands the config again.

A *group* is one target object under one pose; its cases are every kernel x variant of the
config, and it is the unit of work handed to executors and of resuming.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .._errors import ConfigError
from ..datasets import Annotation, Pair, find_annotation, load_annotations, load_manifest, load_pairs
from ..engine.metrics import rule_text
from ..geometry import Pose
from .config import Config
from .scenes import background_path
from .sources import load_objects


@dataclass(frozen=True)
class TargetRef:
    """Where a target object comes from: an annotation (bundled or of your own), a pair, or a
    synthetic scene index. `source` names where it is listed (for summaries)."""

    kind: str  # "annotation" | "pair" | "synthetic"
    id: str
    pair: Pair | None = None
    index: int = 0
    annotation: Annotation | None = None
    source: str = ""
    #: with [evaluation] instances = "image": the boxes of every object of this one's label in its
    #: photo, this one's included, in the order their file lists them (else empty)
    instances: tuple = ()


@dataclass(frozen=True)
class Group:
    """One target object under one pose; its cases are every kernel x variant of the config."""

    id: str
    target: TargetRef
    pose: Pose


def format_pose(value: float) -> str:
    return f"{value:g}"


def target_refs(config: Config) -> list[TargetRef]:
    """Every target object the config selects, in a fixed order: bundled annotations, your own
    annotations file, COCO, pairs, manifest, synthetic scenes. Two objects with one id are a
    ConfigError naming both sources."""
    targets = config.targets
    refs = []
    if targets.annotations:
        bundled = load_annotations()
        refs += [TargetRef("annotation", name, annotation=find_annotation(name, bundled), source="bundled annotations")
                 for name in targets.annotations]
    for source in targets.files:
        refs += [TargetRef("annotation", a.name, annotation=a, source=source.path.name) for a in load_objects(source).objects]
    if targets.pairs is not None:
        refs += [TargetRef("pair", pair.name, pair=pair, source=f"{targets.pairs.name}/") for pair in load_pairs(targets.pairs)]
    if targets.manifest is not None:
        refs += [TargetRef("pair", pair.name, pair=pair, source=targets.manifest.name) for pair in load_manifest(targets.manifest)]
    if targets.synthetic is not None:
        refs += [TargetRef("synthetic", f"synthetic-{i:04d}", index=i, source="synthetic scenes")
                 for i in range(targets.synthetic.count)]
    seen: dict[str, TargetRef] = {}
    for ref in refs:
        if ref.id in seen:
            raise ConfigError(f"{config.source or config.name}: field 'targets': the object {ref.id!r} is in both "
                              f"{seen[ref.id].source} and {ref.source} (allowed: each object once)")
        seen[ref.id] = ref
    if config.evaluation.instances == "image":
        refs = _with_instances(config, refs)
    if config.targets.per_image:  # the first N objects of each image, in the order their file lists them
        counts: dict[tuple, int] = {}
        kept = []
        for ref in refs:
            key = (ref.source, ref.annotation.image_key) if ref.kind == "annotation" else (ref.source, ref.id)
            counts[key] = counts.get(key, 0) + 1
            if counts[key] <= config.targets.per_image:
                kept.append(ref)
        refs = kept
    return refs


def _with_instances(config: Config, refs: list[TargetRef]) -> list[TargetRef]:
    """`refs`, each annotation with the boxes of every object of its label in its photo: from
    its own listing (the bundled annotations, your file, the COCO file), the objects a config
    does not select included, since they are in the photo all the same."""
    listings = {"bundled annotations": load_annotations()}
    for source in config.targets.files:
        listings[source.path.name] = load_objects(source).objects
    boxes: dict[tuple, list] = {}
    for source, objects in listings.items():
        for annotation in objects:
            boxes.setdefault((source, annotation.image_key, annotation.label), []).append(tuple(annotation.box))
    out = []
    for ref in refs:
        if ref.kind == "annotation":
            key = (ref.source, ref.annotation.image_key, ref.annotation.label)
            ref = replace(ref, instances=tuple(boxes.get(key, [tuple(ref.annotation.box)])))
        out.append(ref)
    return out



def describe_targets(config: Config, refs) -> list[str]:
    """Lines counting the objects (`refs`) per source and per label or category (pairs and scenes
    by source only), and the crowd annotations a COCO file leaves out."""
    crowd = {f.path.name: sum(n for _, n in load_objects(f).crowd) for f in config.targets.files}
    counts: dict[str, dict[str, int]] = {}
    for ref in refs:
        labels = counts.setdefault(ref.source, {})
        if ref.kind == "annotation":
            labels[ref.annotation.label] = labels.get(ref.annotation.label, 0) + 1
        else:
            labels[""] = labels.get("", 0) + 1
    lines = []
    for source, labels in counts.items():
        parts = ", ".join(f"{label} {n}" for label, n in sorted(labels.items()) if label)
        skipped = f" ({crowd[source]} crowd annotation(s) skipped)" if crowd.get(source) else ""
        lines.append(f"{sum(labels.values())} object(s) from {source}" + (f": {parts}" if parts else "") + skipped)
    return lines


def hit_rule(config: Config, kind: str) -> str:
    """The hit criterion of a config's objects of `kind`: [evaluation] hit, or for "auto" "iou" for
    pairs when the config poses nothing (the pairs benchmarks' rule), and "center" for pairs in
    a posed config (all its groups, scale 1 and rotation 0 included: a template of the object's
    size cannot pass IoU 0.5 against the object at scale 0.7, 0.49 at best) and for annotations
    and synthetic scenes."""
    if config.evaluation.hit != "auto":
        return config.evaluation.hit
    posed = len(config.scales) * len(config.rotations) > 1 or config.scales[0] != 1 or config.rotations[0] % 360 != 0
    return "iou" if kind == "pair" and not posed else "center"


def describe_hit_rule(config: Config, refs) -> str:
    """One line saying what counts as a hit for the config's objects (`refs`)."""
    evaluation, parts = config.evaluation, []
    for kind in dict.fromkeys(ref.kind for ref in refs):
        rule = hit_rule(config, kind)
        text = rule_text(rule, evaluation.center_fraction, evaluation.iou_threshold)
        parts.append(f"{'pairs' if kind == 'pair' else kind + 's'}: {rule} ({text})")
    return f"hit rule ({evaluation.hit}): " + "; ".join(parts)


def photo_units(targets) -> dict[str, str]:
    """{image file name (a row's `target`): its independent unit} for the annotated objects whose
    file groups images into units ([units]); empty when none does (each photo is its own unit)."""
    return {ref.annotation.image.name: ref.annotation.unit for ref in targets
            if ref.kind == "annotation" and ref.annotation.unit}


def describe_sizing(config: Config) -> str:
    """One line saying how a kernel is sized against its object ([matching] kernel_size)."""
    rule = config.kernel_size
    if rule == "object":
        text = "each kernel's longer side set to its object's box at scale 1, so scale 1 is the object's true size"
    elif rule == "file":
        text = "each kernel as its file or source makes it, whatever the object's size"
    else:
        text = f"each kernel's longer side set to {rule} px, whatever the object's size"
    return f"kernel size ({rule}): {text} ('crop' is the object itself)"


def describe_instances(config: Config) -> str:
    """One line saying what a row judges ([evaluation] instances)."""
    k = config.evaluation.top_k
    if config.evaluation.instances == "image":
        return (f"instances (image): the top {k} peaks matched to every object of the label in the photo "
                f"(recall@{k} and AP), beside each object's top-1 hit")
    return "instances (object): each object judged by its map's best position (top-1 hit); other objects in its photo are not counted"


def sources(ref: TargetRef, config: Config) -> set[str]:
    """What a target object is made from, for splits by image: an annotation's image (as its file
    names it), both images of a pair, a synthetic scene's background file and the picture pasted
    into it."""
    if ref.kind == "annotation":  # images of one unit (a scene's pair, a video's frames) stay together
        return {ref.annotation.image_key} | ({f"unit {ref.annotation.unit}"} if ref.annotation.unit else set())
    if ref.kind == "pair":
        return {ref.pair.template_image.name, ref.pair.target_image.name}
    spec = config.targets.synthetic
    background = background_path(spec.textures[ref.index % len(spec.textures)]).name
    return {background, f"object {spec.objects[ref.index % len(spec.objects)]}"}


def _object_sources(config: Config, refs=None) -> dict[str, set[str]]:
    """Object id -> its sources (:func:`sources`), for every target of the config (`refs`: its
    targets when already read)."""
    refs = target_refs(config) if refs is None else refs
    return {ref.id: sources(ref, config) for ref in refs}


def split_targets(config: Config) -> tuple[list[TargetRef], list[TargetRef]]:
    """(tune, held-out) target objects of a config with a ``[split]``.

    Objects that share an image (or a pasted picture) are linked, and linked objects form one
    cluster, so no image lies on both sides. The clusters are shuffled with the split's seed and
    the first of them, round(tune x count) (at least one, and at least one left), go to tuning."""
    if config.split is None:
        raise ValueError(f"config {config.name} has no [split]")
    refs = target_refs(config)
    found = _object_sources(config, refs)
    parent = {}

    def root(item):
        while parent.setdefault(item, item) != item:
            item = parent[item]
        return item

    for ref in refs:
        first, *rest = sorted(found[ref.id])
        for other in rest:
            parent[root(other)] = root(first)
    cluster = {ref.id: root(min(found[ref.id])) for ref in refs}
    clusters = sorted(set(cluster.values()))
    if len(clusters) < 2:
        raise ConfigError(f"{config.source or config.name}: field 'split' needs objects in at least 2 separate images "
                          f"(these targets share {', '.join(sorted(parent)) or 'nothing'})")
    order = np.random.default_rng(config.split.seed).permutation(len(clusters))
    count = min(len(clusters) - 1, max(1, round(config.split.tune * len(clusters))))
    tune_clusters = {clusters[i] for i in order[:count]}
    tune = [ref for ref in refs if cluster[ref.id] in tune_clusters]
    held = [ref for ref in refs if cluster[ref.id] not in tune_clusters]
    return tune, held


def describe_split(config: Config) -> list[str]:
    """Lines naming each side of the split: its images, then its objects."""
    lines, found = [], _object_sources(config)
    for label, refs in zip(("tune", "held-out"), split_targets(config)):
        images = sorted(set().union(*(found[ref.id] for ref in refs)))
        lines += [f"{label}: {len(refs)} object(s) in {len(images)} image(s): {', '.join(images)}",
                  f"  {', '.join(ref.id for ref in refs)}"]
    return lines


def selected_refs(config: Config) -> list[TargetRef]:
    """The target objects a run of `config` uses: every one, or one side of its split when the
    split names a `side` (a tuning trial's or a confirmation's config)."""
    if config.split is None or config.split.side is None:
        return target_refs(config)
    tune, held = split_targets(config)
    return tune if config.split.side == "tune" else held


def expand(config: Config) -> list[Group]:
    """The groups of a config: each selected object (:func:`selected_refs`) under every pose of
    ``[transforms]``, pairs too (their target image and box are posed; the template is cut from
    the other image as it is). (:func:`make_plan` keeps them with their counts.)"""
    return _groups(config, selected_refs(config))


def _groups(config: Config, targets) -> list[Group]:
    groups = []
    for ref in targets:
        for pose in (Pose(s, r) for s in config.scales for r in config.rotations):
            groups.append(Group(f"{ref.id}@s{format_pose(pose.scale)}r{format_pose(pose.rotation)}", ref, pose))
    return groups


def group_files(config: Config, groups) -> list[Path]:
    """The files that running `groups` reads by the paths the client gave them, each once: the
    images of their objects (both images of a pair; bundled photos too, whose path is this
    install's), and kernel and pasted-object pictures given as files. A cluster's workers get
    these from the client: they may not see its file system. (Kernels by name and scene
    backgrounds are found in each worker's own install.)"""
    found: dict[str, Path] = {}

    def add(path) -> None:
        found.setdefault(str(path), Path(path))

    for _, file in config.kernel_paths:  # the kernels that are image files, where they are
        add(file)
    for name in config.targets.synthetic.objects if config.targets.synthetic else ():
        if Path(name).is_absolute():  # the config resolves image files to absolute paths
            add(name)
    for group in groups:
        ref = group.target
        if ref.kind == "annotation":
            add(ref.annotation.image)
        elif ref.kind == "pair":
            add(ref.pair.template_image)
            add(ref.pair.target_image)
    return list(found.values())


def count_cases(config: Config, groups: list[Group] | None = None) -> tuple[int, int]:
    """(cases, template matches). A template match is the unit of throughput everywhere: one
    template against one target, giving every method's map; bank members count one each."""
    groups = expand(config) if groups is None else groups
    per_group = len(config.kernels) * len(config.variants)
    templates = sum(len(v.rotations) * len(v.scales) if v.family == "bank" else 0 if v.family == "pnet-detector" else 1
                    for v in config.variants)
    return len(groups) * per_group, len(groups) * len(config.kernels) * templates


def group_row_count(config: Config) -> int:
    """Rows a finished group has in results.csv."""
    return len(config.kernels) * len(config.variants) * len(config.methods)


@dataclass(frozen=True)
class Plan:
    """What a run of `config` does: its target objects (one side of the split where the config
    names one), its groups in order, and their counts."""

    config: Config
    targets: tuple[TargetRef, ...]
    groups: tuple[Group, ...]
    cases: int  # groups x kernels x variants
    matches: int  # template matches (bank members one each; the detector none)
    rows_per_group: int  # rows a finished group has in results.csv

    @property
    def rows(self) -> int:
        return len(self.groups) * self.rows_per_group


def make_plan(config: Config) -> Plan:
    """Expand `config` once (reads the pairs and manifests it names)."""
    targets = tuple(selected_refs(config))
    groups = tuple(_groups(config, targets))
    cases, matches = count_cases(config, groups)
    return Plan(config, targets, groups, cases, matches, group_row_count(config))


__all__ = ["Plan", "make_plan", "Group", "TargetRef", "target_refs", "selected_refs", "expand", "count_cases",
           "group_row_count", "group_files", "split_targets", "sources", "describe_split", "describe_targets", "describe_hit_rule", "describe_sizing", "describe_instances", "photo_units", "hit_rule"]
