"""Expand a config into case groups and run them.

A *case* is one (target object, pose, kernel, variant); it yields one row per method. Cases that
share a target object and pose form a *group*: the transformed target is made once and shared by
every kernel and variant. Groups are the unit of work handed to executors and of resuming.
Templates do not depend on the pose, so each worker keeps them in a cache across groups.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ._errors import ConfigError, DegenerateError
from .config import Config
from .datasets import Pair, find_annotation, load_annotations, load_manifest, load_pairs
from .fractal import SPECIAL_VARIANTS, fractalize
from .geometry import Box, Pose, crop, transform_target
from .images import load_image, on_target_scale
from .kernels import load_kernel
from .matching import batch_size, match_batch
from .metrics import Truth, evaluate
from .pose_search import search
from .scenes import background_path, synthetic_scene

ROW_COLUMNS = (
    "case_id", "group_id", "target", "object", "kernel", "variant", "family", "scale", "rotation", "method",
    "x", "y", "score", "center_error", "iou", "hit", "psr", "margin", "rank", "degenerate", "templates",
    "seconds", "status",
)


@dataclass(frozen=True)
class TargetRef:
    """Where a target object comes from: an annotation, a pair, or a synthetic scene index."""

    kind: str  # "annotation" | "pair" | "synthetic"
    id: str
    pair: Pair | None = None
    index: int = 0


@dataclass(frozen=True)
class Group:
    """One target object under one pose; its cases are every kernel x variant of the config."""

    id: str
    target: TargetRef
    pose: Pose


def _format_pose(value: float) -> str:
    return f"{value:g}"


def target_refs(config: Config) -> list[TargetRef]:
    """Every target object the config selects, in a fixed order."""
    refs = [TargetRef("annotation", name) for name in config.targets.annotations]
    pairs: list[Pair] = []
    if config.targets.pairs is not None:
        pairs += load_pairs(config.targets.pairs)
    if config.targets.manifest is not None:
        pairs += load_manifest(config.targets.manifest)
    refs += [TargetRef("pair", pair.name, pair=pair) for pair in pairs]
    if config.targets.synthetic is not None:
        refs += [TargetRef("synthetic", f"synthetic-{i:04d}", index=i) for i in range(config.targets.synthetic.count)]
    return refs


def sources(ref: TargetRef, config: Config, annotations=None) -> set[str]:
    """What a target object is made from, for splits by image: an annotation's image file, both
    images of a pair, a synthetic scene's background file and the picture pasted into it.
    (`annotations`: the loaded annotation list, so that many calls read the file once.)"""
    if ref.kind == "annotation":
        return {find_annotation(ref.id, annotations).image.name}
    if ref.kind == "pair":
        return {ref.pair.template_image.name, ref.pair.target_image.name}
    spec = config.targets.synthetic
    background = background_path(spec.textures[ref.index % len(spec.textures)]).name
    return {background, f"object {spec.objects[ref.index % len(spec.objects)]}"}


def _object_sources(config: Config) -> dict[str, set[str]]:
    """Object id -> its sources (:func:`sources`), for every target of the config."""
    annotations = load_annotations() if config.targets.annotations else None
    return {ref.id: sources(ref, config, annotations) for ref in target_refs(config)}


def split_targets(config: Config) -> tuple[list[TargetRef], list[TargetRef]]:
    """(tune, held-out) target objects of a config with a ``[split]``.

    Objects that share an image (or a pasted picture) are linked, and linked objects form one
    cluster, so no image lies on both sides. The clusters are shuffled with the split's seed and
    the first of them, round(tune x count) (at least one, and at least one left), go to tuning."""
    if config.split is None:
        raise ValueError(f"config {config.name} has no [split]")
    refs = target_refs(config)
    found = _object_sources(config)
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
    """The groups of a config: each selected object (:func:`selected_refs`) under every pose;
    pairs as they are."""
    groups = []
    for ref in selected_refs(config):
        poses = [Pose(1.0, 0.0)] if ref.kind == "pair" else [Pose(s, r) for s in config.scales for r in config.rotations]
        for pose in poses:
            groups.append(Group(f"{ref.id}@s{_format_pose(pose.scale)}r{_format_pose(pose.rotation)}", ref, pose))
    return groups


def count_cases(config: Config, groups: list[Group] | None = None) -> tuple[int, int]:
    """(cases, template matches). A template match is the unit of throughput everywhere: one
    template against one target, giving every method's map; bank members count one each."""
    groups = expand(config) if groups is None else groups
    per_group = len(config.kernels) * len(config.variants)
    templates = sum(len(v.rotations) * len(v.scales) if v.family == "bank" else 0 if v.family == "pnet-detector" else 1
                    for v in config.variants)
    return len(groups) * per_group, len(groups) * len(config.kernels) * templates


# --- loading targets -----------------------------------------------------------------------------

@dataclass
class LoadedTarget:
    image: np.ndarray  # untransformed target
    box: Box  # the object's box in it
    reference: np.ndarray  # the object's picture at the reference pose (the "crop" kernel)
    label: str
    source: str


def load_target(ref: TargetRef, config: Config, color: bool | None = None) -> LoadedTarget:
    """A target object, in colour or gray (`color`; None: the config's [matching] choice)."""
    color = config.color if color is None else color
    mode = "color" if color else "gray"
    if ref.kind == "annotation":
        annotation = find_annotation(ref.id)
        image = load_image(annotation.image, mode)
        return LoadedTarget(image, annotation.box, crop(image, annotation.box), annotation.label, annotation.image.name)
    if ref.kind == "pair":
        pair = ref.pair
        template_source = load_image(pair.template_image, mode)
        return LoadedTarget(load_image(pair.target_image, mode), pair.target_box, crop(template_source, pair.template_box),
                            pair.name, pair.target_image.name)
    spec = config.targets.synthetic
    scene, box, picture = synthetic_scene(ref.index, spec.seed, spec.textures, spec.objects, spec.object_size,
                                          spec.scene_size, color, spec.paste)
    return LoadedTarget(scene, box, picture, f"{spec.objects[ref.index % len(spec.objects)]}#{ref.index}",
                        f"{spec.textures[ref.index % len(spec.textures)]}-scene")


# --- templates -------------------------------------------------------------------------------------

def search_poses(variant, pose: Pose) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(scales, rotations) a bank or oracle variant searches: the bank's own lists, or the
    oracle's single true pose of the case."""
    if variant.family == "bank":
        return tuple(variant.scales), tuple(variant.rotations)
    return (pose.scale,), (pose.rotation,)


class CaseRunner:
    """Runs groups for one config; caches kernel pictures and templates across groups.

    A variant may match in its own colour mode and with its own masks (its `color` and
    `template_masks`, else the config's): the target is loaded and posed once per mode in use."""

    def __init__(self, config: Config):
        self.config = config
        self.targets: dict[tuple[str, bool], LoadedTarget] = {}
        # Kernel pictures and templates do not depend on the pose: made once per object, reused
        # by every pose of it (bank and oracle warp the cached picture).
        self.kernel_picture = lru_cache(maxsize=256)(self._kernel_picture)
        self.template = lru_cache(maxsize=512)(self._template)
        self._detected: tuple = (None, None, "", 0.0)  # (group id, measures, status, seconds) of the detector
        # the colour modes the target is needed in: each matching variant's, and the detector's
        self.modes = sorted({self.switches(v)[0] if v.family != "pnet-detector" else config.color for v in config.variants})

    def switches(self, variant) -> tuple[bool, bool]:
        """(color, template_masks) a variant matches with."""
        color = self.config.color if variant.color is None else variant.color
        masks = self.config.template_masks if variant.template_masks is None else variant.template_masks
        return color, masks

    def target(self, ref: TargetRef, color: bool | None = None) -> LoadedTarget:
        key = (ref.id, self.config.color if color is None else color)
        if key not in self.targets:
            if len(self.targets) > 64:
                self.targets.clear()
            self.targets[key] = load_target(ref, self.config, key[1])
        return self.targets[key]

    def _kernel_picture(self, ref: TargetRef, kernel: str, color: bool | None = None) -> np.ndarray:
        """The kernel at the object's reference size (longer side equal), as a picture."""
        color = self.config.color if color is None else color
        loaded = self.target(ref, color)
        if kernel == "crop":
            picture = loaded.reference.copy()
        else:
            picture = load_kernel(kernel, "color" if color else "gray").image
            side = max(loaded.reference.shape[:2])
            h, w = picture.shape[:2]
            factor = side / max(h, w)
            size = (max(1, round(w * factor)), max(1, round(h * factor)))
            picture = cv2.resize(picture, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)
        picture.setflags(write=False)  # cached and shared: nobody may change it in place
        return picture

    def _template(self, ref: TargetRef, kernel: str, variant_name: str):
        variant = next(v for v in self.config.variants if v.name == variant_name)
        picture = self.kernel_picture(ref, kernel, self.switches(variant)[0])
        return fractalize(picture, variant.family, size=max(picture.shape[:2]), **variant.params)

    def run(self, group: Group) -> list[dict]:
        config = self.config
        targets = {}
        for color in self.modes:  # the geometry (box, centre) is the same in every mode
            loaded = self.target(group.target, color)
            targets[color], box, center, _ = transform_target(loaded.image, loaded.box, group.pose)
        h, w = loaded.box.h, loaded.box.w
        criterion = config.evaluation.hit if config.evaluation.hit != "auto" else (
            "iou" if group.target.kind == "pair" else "center")
        truth = Truth(box, center, (w * group.pose.scale, h * group.pose.scale), criterion,
                      config.evaluation.center_fraction, config.evaluation.iou_threshold)
        rows = []
        for kernel in config.kernels:
            plain = self._match_plain(group, kernel, targets, truth)
            for variant in config.variants:
                base = {
                    "case_id": f"{group.id}|{kernel}|{variant.name}", "group_id": group.id, "target": loaded.source,
                    "object": loaded.label if group.target.kind != "annotation" else group.target.id,
                    "kernel": kernel, "variant": variant.name, "family": variant.family,
                    "scale": _format_pose(group.pose.scale), "rotation": _format_pose(group.pose.rotation),
                }
                if variant.name in plain:
                    results = plain[variant.name]
                elif variant.family == "pnet-detector":
                    results = self._detector(group, targets[config.color], truth)
                else:
                    results = self._measure(self._search(group, kernel, variant, targets[self.switches(variant)[0]]), truth)
                rows += [{**base, **result} for result in results]
        return rows

    def _match_plain(self, group: Group, kernel: str, targets: dict, truth: Truth) -> dict:
        """{variant name: result rows} for the variants that are one template each, matched
        together (those with the same switches) so they share the target's window sums, a slice
        at a time so that memory stays bounded; each slice's maps are measured and dropped
        before the next is made."""
        found = {}
        plain = [v for v in self.config.variants if v.family not in SPECIAL_VARIANTS]
        for (color, masks) in dict.fromkeys(self.switches(v) for v in plain):
            alike = [v for v in plain if self.switches(v) == (color, masks)]
            target = targets[color]
            templates = [self.template(group.target, kernel, v.name) for v in alike]
            images = [on_target_scale(t.image, target) for t in templates]
            step = batch_size(target.shape, [i.shape for i in images])
            for first in range(0, len(alike), step):
                started = time.perf_counter()
                chunk = slice(first, first + step)
                outcomes = match_batch(target, images[chunk], self.config.methods,
                                       [t.mask for t in templates[chunk]] if masks else None)
                seconds = (time.perf_counter() - started) / len(outcomes)  # the shared cost, split evenly
                for variant, image, outcome in zip(alike[chunk], images[chunk], outcomes):
                    winners = {m: (*o, image.shape) for m, o in outcome.items() if not isinstance(o, str)}
                    problems = {m: o for m, o in outcome.items() if isinstance(o, str)}
                    found[variant.name] = self._measure((winners, problems, 1, seconds), truth)
                del outcomes
        return found

    def _search(self, group: Group, kernel: str, variant, target: np.ndarray) -> tuple:
        """The bank or the oracle: (winners, problems, templates, seconds)."""
        started = time.perf_counter()
        color, masks = self.switches(variant)
        picture = on_target_scale(self.kernel_picture(group.target, kernel, color), target)
        scales, rotations = search_poses(variant, group.pose)
        found = search(target, picture, rotations, scales, self.config.methods, masks)
        winners = {m: (r.response, r.degenerate, r.template_shape) for m, r in found.results.items()}
        return winners, dict(found.problems), found.templates, time.perf_counter() - started

    def _detector(self, group: Group, target: np.ndarray, truth: Truth) -> list[dict]:
        """The face detector's rows (the same for every kernel and method): detected once per group."""
        if self._detected[0] != group.id:
            from .cnn.detector import detector_measures

            started = time.perf_counter()
            evaluation = self.config.evaluation
            try:
                found = detector_measures(target, truth, evaluation.top_k, evaluation.nms_overlap)
                measures, status = {k: _cell(v) for k, v in found.items()}, "ok"
            except ValueError as exc:  # a target too small for the pyramid: no detection, said why
                measures, status = _no_measures(), f"undefined: {exc}"
            # one detection serves every kernel: its time is shared among them
            self._detected = (group.id, measures, status, (time.perf_counter() - started) / len(self.config.kernels))
        _, measures, status, seconds = self._detected
        return [{"method": method, **measures, "templates": "0", "seconds": f"{seconds:.6f}", "status": status}
                for method in self.config.methods]

    def _measure(self, matched: tuple, truth: Truth) -> list[dict]:
        """One row per method: the measures of its winning map, or why it has none."""
        winners, problems, templates, seconds = matched
        problems = dict(problems)
        evaluation = self.config.evaluation
        started = time.perf_counter()
        best, results = {}, []
        for method, (response, degenerate, shape) in winners.items():
            try:
                best[method] = evaluate(response, method, shape, truth, degenerate, evaluation.top_k, evaluation.nms_overlap)
            except DegenerateError as exc:
                problems[method] = f"undefined: {exc}"
        seconds += time.perf_counter() - started
        for method in self.config.methods:
            if method in best:
                measures = {k: _cell(v) for k, v in best[method].items()}
                status = "ok"
            else:
                measures = _no_measures()
                status = problems.get(method, "undefined")
            results.append({"method": method, **measures, "templates": str(templates),
                            "seconds": f"{seconds:.6f}", "status": status})
        return results


def _no_measures() -> dict:
    """The measures of a row that has no result: empty, and not a hit."""
    measures = {k: "" for k in ("x", "y", "score", "center_error", "iou", "psr", "margin", "rank", "degenerate")}
    measures["hit"] = "0"
    return measures


def _cell(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.9g}"
    return str(value)


_RUNNERS: dict[str, CaseRunner] = {}


def run_group(config: Config, group: Group) -> list[dict]:
    """Run one group; the runners of the last few configs (and their caches) are kept for the
    life of the process (a tuning round interleaves several trials' configs)."""
    runner = _RUNNERS.pop(config.digest, None)
    if runner is None:
        runner = CaseRunner(config)
        while len(_RUNNERS) >= 4:
            _RUNNERS.pop(next(iter(_RUNNERS)))
    _RUNNERS[config.digest] = runner  # now the most recent
    return runner.run(group)


def run_groups(config: Config, groups: list[Group]) -> list[tuple[str, list[dict]]]:
    """Run several groups in this process (a batch for an executor): (group id, rows) each."""
    return [(group.id, run_group(config, group)) for group in groups]


def group_row_count(config: Config) -> int:
    """Rows a finished group has in results.csv."""
    return len(config.kernels) * len(config.variants) * len(config.methods)


__all__ = ["ROW_COLUMNS", "Group", "TargetRef", "CaseRunner", "expand", "count_cases", "run_group", "run_groups",
           "split_targets", "sources", "describe_split",
           "group_row_count", "search_poses", "target_refs", "selected_refs"]
