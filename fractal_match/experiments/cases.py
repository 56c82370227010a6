"""Run a group of cases: load its target object, pose it, match every kernel and variant, measure.

A *case* is one (target object, pose, kernel, variant); it yields one row per method. Cases that
share a target object and pose form a *group* (:mod:`.plan` makes them): the transformed target
is made once and shared by every kernel and variant. Templates do not depend on the pose, so each
worker keeps them in a cache across groups.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from functools import lru_cache

import cv2
import numpy as np

from .._errors import DegenerateError
from .config import Config
from ..datasets import find_annotation
from ..templates.fractal import SPECIAL_VARIANTS, fractalize
from ..geometry import Box, Pose, crop, posed_template, transform_target
from ..images import load_image, on_target_scale
from ..templates.kernels import load_kernel
from ..engine.measure import measure_batch, search_measures
from ..engine.metrics import INSTANCE_MEASURES, Truth, evaluate, instance_measures, status_of
from ..engine.pose_search import search
from .plan import Group, TargetRef, format_pose, hit_rule
from .scenes import synthetic_scene

ROW_COLUMNS = (
    "case_id", "group_id", "target", "object", "kernel", "variant", "family", "scale", "rotation", "method",
    "x", "y", "score", "center_error", "iou", "hit", "psr", "margin", "rank", "degenerate", "templates",
    "seconds", "status",
)


def row_columns(config: Config) -> tuple[str, ...]:
    """The columns of a run's results.csv: :data:`ROW_COLUMNS`, and with [evaluation] instances =
    "image" the instance measures after them (so that per-object runs keep their format)."""
    return ROW_COLUMNS + (INSTANCE_MEASURES if config.evaluation.instances == "image" else ())


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
        annotation = ref.annotation or find_annotation(ref.id)
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

def sized_kernel(picture: np.ndarray, rule: str | int, object_side: int) -> np.ndarray:
    """A kernel picture at the size `rule` gives it: "object", its longer side equal to
    `object_side` (the object's box at scale 1, so that scale 1 is the object's true size);
    "file", as it is; a number, that longer side in pixels. Shrunk with INTER_AREA, enlarged
    with INTER_CUBIC; the aspect ratio is kept."""
    if rule == "file":
        return picture
    side = object_side if rule == "object" else int(rule)
    h, w = picture.shape[:2]
    if max(h, w) == side:
        return picture
    factor = side / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return cv2.resize(picture, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)


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
        self._instances: list | None = None  # the truths of the photo's objects (instances = "image"), per kernel
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
        """The kernel as a picture at the size [matching] kernel_size says (:func:`sized_kernel`)."""
        color = self.config.color if color is None else color
        loaded = self.target(ref, color)
        picture = loaded.reference.copy() if kernel == "crop" else load_kernel(self.config.kernel_file(kernel), "color" if color else "gray").image
        picture = sized_kernel(picture, self.config.kernel_size, max(loaded.reference.shape[:2]))
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
            targets[color], box, center, warp = transform_target(loaded.image, loaded.box, group.pose)
        h, w = loaded.box.h, loaded.box.w
        truth = Truth(box, center, (w * group.pose.scale, h * group.pose.scale), hit_rule(config, group.target.kind),
                      config.evaluation.center_fraction, config.evaluation.iou_threshold)
        # every instance of the label in the photo, posed as the target is (instances = "image")
        photo = [self._posed(truth, warp, other, group.pose.scale) for other in group.target.instances] \
            if config.evaluation.instances == "image" else None
        rows = []
        for kernel in config.kernels:
            # every template made from the kernel stands for the kernel's own box: a square fractal
            # of a 45 x 32 picture is judged by a 45 x 32 box about its centre (bank members, warps
            # of the picture itself, by their own footprint)
            picture = self.kernel_picture(group.target, kernel, self.modes[0])
            footprint = (picture.shape[1], picture.shape[0])
            self._instances = None if photo is None else [replace(t, footprint=footprint) for t in photo]
            plain = self._match_plain(group, kernel, targets, replace(truth, footprint=footprint))
            for variant in config.variants:
                base = {
                    "case_id": f"{group.id}|{kernel}|{variant.name}", "group_id": group.id, "target": loaded.source,
                    "object": loaded.label if group.target.kind != "annotation" else group.target.id,
                    "kernel": kernel, "variant": variant.name, "family": variant.family,
                    "scale": format_pose(group.pose.scale), "rotation": format_pose(group.pose.rotation),
                }
                if variant.name in plain:
                    results = plain[variant.name]
                elif variant.family == "pnet-detector":
                    results = self._detector(group, targets[config.color], truth)
                else:
                    results = self._search(group, kernel, variant, targets[self.switches(variant)[0]], truth)
                rows += [{**base, **result} for result in results]
        return rows

    @staticmethod
    def _posed(truth: Truth, warp, box, scale: float) -> Truth:
        """The truth of another object of the photo (`box`, untransformed) under the group's pose."""
        box = Box(*box)
        center = tuple(float(v) for v in warp.forward([box.center])[0])
        return replace(truth, box=warp.box(box), center=center, size=(box.w * scale, box.h * scale))

    def _match_plain(self, group: Group, kernel: str, targets: dict, truth: Truth) -> dict:
        """{variant name: result rows} for the variants that are one template each, measured
        together (those with the same switches) so that they share the target's window sums;
        no response map is made (masked templates excepted)."""
        found = {}
        evaluation = self.config.evaluation
        plain = [v for v in self.config.variants if v.family not in SPECIAL_VARIANTS]
        for (color, masks) in dict.fromkeys(self.switches(v) for v in plain):
            alike = [v for v in plain if self.switches(v) == (color, masks)]
            target = targets[color]
            templates = [self.template(group.target, kernel, v.name) for v in alike]
            images = [on_target_scale(t.image, target) for t in templates]
            started = time.perf_counter()
            outcomes = measure_batch(target, images, self.config.methods, truth, evaluation.top_k,
                                     evaluation.nms_overlap, [t.mask for t in templates] if masks else None,
                                     self._instances)
            seconds = (time.perf_counter() - started) / len(outcomes)  # the shared cost, split evenly
            for variant, outcome in zip(alike, outcomes):
                found[variant.name] = self._rows(outcome, 1, seconds)
        return found

    def _search(self, group: Group, kernel: str, variant, target: np.ndarray, truth: Truth) -> list[dict]:
        """The bank's or the oracle's rows: per method the best member, measured."""
        started = time.perf_counter()
        color, masks = self.switches(variant)
        evaluation = self.config.evaluation
        picture = on_target_scale(self.kernel_picture(group.target, kernel, color), target)
        scales, rotations = search_poses(variant, group.pose)
        if masks:  # masked members are matched as maps
            found = search(target, picture, rotations, scales, self.config.methods, masks)
            outcome = dict(found.problems)
            for method, result in found.results.items():
                try:
                    outcome[method] = evaluate(result.response, method, result.template_shape, truth, result.degenerate,
                                               evaluation.top_k, evaluation.nms_overlap, instances=self._instances)
                except DegenerateError as exc:
                    outcome[method] = status_of(exc)
            count = found.templates
        else:
            members = [posed_template(picture, Pose(s, r))[0] for s in scales for r in rotations]
            winners, problems = search_measures(target, members, self.config.methods, truth, evaluation.top_k,
                                                evaluation.nms_overlap, self._instances)
            outcome = {**problems, **{method: measures for method, (_, measures) in winners.items()}}
            count = len(members)
        return self._rows(outcome, count, time.perf_counter() - started)

    def _detector(self, group: Group, target: np.ndarray, truth: Truth) -> list[dict]:
        """The face detector's rows (the same for every kernel and method): detected once per group."""
        if self._detected[0] != group.id:
            from ..templates.cnn.detector import detector_measures

            started = time.perf_counter()
            evaluation = self.config.evaluation
            try:
                found = detector_measures(target, truth, evaluation.top_k, evaluation.nms_overlap,
                                          instances=self._instances)
                measures, status = {k: _cell(v) for k, v in found.items()}, "ok"
            except ValueError as exc:  # a target too small for the pyramid: no detection, said why
                measures, status = _no_measures(self._instances), f"undefined: {exc}"
            # one detection serves every kernel: its time is shared among them
            self._detected = (group.id, measures, status, (time.perf_counter() - started) / len(self.config.kernels))
        _, measures, status, seconds = self._detected
        return [{"method": method, **measures, "templates": "0", "seconds": f"{seconds:.6f}", "status": status}
                for method in self.config.methods]

    def _rows(self, outcome: dict, templates: int, seconds: float) -> list[dict]:
        """One row per method: the measures of its map ({method: measures}), or why it has none
        ({method: reason})."""
        results = []
        for method in self.config.methods:
            found = outcome.get(method, "undefined")
            if isinstance(found, dict):
                measures, status = {k: _cell(v) for k, v in found.items()}, "ok"
            else:
                measures, status = _no_measures(self._instances), found
            results.append({"method": method, **measures, "templates": str(templates),
                            "seconds": f"{seconds:.6f}", "status": status})
        return results


def _no_measures(instances=None) -> dict:
    """The measures of a row that has no result: empty, and not a hit (with `instances`, the
    photo's objects, none of them found)."""
    measures = {k: "" for k in ("x", "y", "score", "center_error", "iou", "psr", "margin", "rank", "degenerate")}
    measures["hit"] = "0"
    if instances is not None:
        measures.update({k: _cell(v) for k, v in instance_measures([], (1, 1), instances).items()})
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


__all__ = ["ROW_COLUMNS", "row_columns", "sized_kernel", "hit_rule", "CaseRunner", "LoadedTarget", "load_target", "run_group", "run_groups", "search_poses"]
