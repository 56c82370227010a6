"""The settings tables of an experiment config: how hits are judged (``[evaluation]``), the split
into tune and held-out objects (``[split]``), how ``tune`` searches (``[search]``) and what a
confirmation declares besides its comparisons (``[confirmation]``). Each is a frozen dataclass
and a reader that names the field and what is allowed in every error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .._errors import did_you_mean
from .._toml import TableReader


@dataclass(frozen=True)
class Evaluation:
    """How rows are judged. `instances`: "object" judges each object by its map's best position
    (top-1 hit, and `rank` among the top_k peaks); "image" also matches the top_k peaks to every
    object of the label in the photo (recall@k and average precision, :data:`INSTANCES`)."""

    hit: str = "auto"
    center_fraction: float = 0.25
    iou_threshold: float = 0.5
    nms_overlap: float = 0.3
    top_k: int = 5
    instances: str = "object"


#: The evaluation modes of ``[evaluation] instances``.
INSTANCES = ("object", "image")


@dataclass(frozen=True)
class Split:
    """Objects divided by image into a tune set (a `tune` fraction of the images, drawn with
    `seed`) and a held-out set: no image has objects on both sides."""

    tune: float = 0.5
    seed: int = 0
    by: str = "image"
    side: str | None = None  # "tune" or "held-out": run that side only (written by tune and confirm)


@dataclass(frozen=True)
class Search:
    """How `tune` searches: `trials` per family (the first `startup` of them drawn at random,
    then Optuna's TPE); the objective is the tune split's hit rate pooled over methods, or one
    hit rate per method (`per-method`: a multi-objective study, a winner for each method).
    `start = "config"` makes every searched family's first trial its variant as the config
    writes it (its defaults, unless given), so a search never ends below its starting point."""

    trials: int = 20
    startup: int = 8
    objective: str = "pooled"
    start: str = "random"
    per_dimension: int = 0  # > 0: a TPE family gets max(trials, per_dimension x its dimensions)

    def budget(self, dimensions: int, trials: int | None = None) -> tuple[int, int]:
        """(trials, random start-up trials) of a TPE family with this many dimensions: `trials`
        (default: this table's), or with `per_dimension` max(trials, per_dimension x dimensions)
        with the start-up trials in this table's proportion startup / trials."""
        base = self.trials if trials is None else trials
        if not self.per_dimension:
            return base, self.startup
        budget = max(base, self.per_dimension * dimensions)
        return budget, max(1, min(budget, round(self.startup * budget / self.trials)))


@dataclass(frozen=True)
class Confirmation:
    """Declared before a confirmation runs, besides its comparisons.

    `margin` (with its `reason`): a difference in hit rate that would matter. A declared
    comparison shows equivalence when both one-sided tests against +-margin reject (TOST, a
    cluster-robust t-test with `clusters` - "image" or "object" - as the independent units, G - 1
    degrees of freedom), Holm-adjusted within its family; "no gain larger than the margin" when
    the upper one alone does. `invariance_rate`: the plain kernel's hit rate at scale 1 and
    rotation 0 on the tune objects that a kernel (per method) needs for the invariance
    comparisons (0: none declared); those are judged against `invariance_margin` (with
    `invariance_reason`)."""

    margin: float
    reason: str
    invariance_rate: float = 0.0
    invariance_margin: float = 0.0
    invariance_reason: str = ""
    clusters: str = "image"
    #: how verdicts are decided: "photo" (CR2 t-tests, Bell-McCaffrey degrees of freedom, the photos
    #: as the units of every verdict) or "cases" (studies 3 and 4: McNemar over cases for superior
    #: and inferior, CR1 over `clusters` for equivalence)
    rule: str = "photo"
    #: declared in words, copied into declared.json: the primary and secondary measures, and the
    #: power statement behind the number of photos
    primary: str = ""
    secondary: str = ""
    power: str = ""


def read_evaluation(path: Path, raw: dict) -> Evaluation:
    reader = TableReader(path, raw, "evaluation.")
    hit = reader.get("hit", str, "auto")
    if hit not in ("auto", "center", "iou"):
        raise reader.error("hit", f"= {hit!r} is not allowed (allowed: auto, center, iou)")
    values = {}
    for key, low, high in (("center_fraction", 0.0, 10.0), ("iou_threshold", 0.0, 1.0), ("nms_overlap", 0.0, 1.0)):
        value = reader.get(key, float, getattr(Evaluation, key))
        if not low <= value <= high:
            raise reader.error(key, f"= {value} is out of range (allowed: {low:g} to {high:g})")
        values[key] = value
    top_k = reader.get("top_k", int, 5)
    if not 1 <= top_k <= 100:
        raise reader.error("top_k", f"= {top_k} is out of range (allowed: 1 to 100)")
    instances = reader.get("instances", str, "object")
    if instances not in INSTANCES:
        raise reader.error("instances", f"= {instances!r} is not allowed ({did_you_mean(instances, INSTANCES)}allowed: "
                           "'object': each object by its best position; 'image': the top_k peaks matched to every "
                           "object of the label in the photo)")
    reader.finish(("hit", "center_fraction", "iou_threshold", "nms_overlap", "top_k", "instances"))
    return Evaluation(hit, top_k=top_k, instances=instances, **values)


def read_split(path: Path, table: dict | None) -> Split | None:
    if table is None:
        return None
    reader = TableReader(path, table, "split.")
    tune = reader.get("tune", (int, float), 0.5)
    if not 0 < tune < 1:
        raise reader.error("tune", f"= {tune} is out of range (allowed: a fraction strictly between 0 and 1)")
    by = reader.get("by", str, "image")
    if by != "image":
        raise reader.error("by", f"= {by!r} is not allowed (allowed: 'image': no image has objects on both sides)")
    seed = reader.get("seed", int, 0)
    if not 0 <= seed < 2**32:
        raise reader.error("seed", f"= {seed} is out of range (allowed: 0 to {2**32 - 1})")
    side = reader.get("side", str)
    if side not in (None, "tune", "held-out"):
        raise reader.error("side", f"= {side!r} is not allowed (allowed: 'tune' or 'held-out')")
    reader.finish(("tune", "seed", "by", "side"))
    return Split(float(tune), seed, by, side)


def read_search(path: Path, table: dict | None) -> Search | None:
    if table is None:
        return None
    reader = TableReader(path, table, "search.")
    trials = reader.get("trials", int, Search.trials)
    if not 1 <= trials <= 10000:
        raise reader.error("trials", f"= {trials} is out of range (allowed: 1 to 10000)")
    startup = reader.get("startup", int, min(Search.startup, trials))
    if not 1 <= startup <= trials:
        raise reader.error("startup", f"= {startup} is out of range (allowed: 1 to trials = {trials})")
    objective = reader.get("objective", str, Search.objective)
    if objective not in ("pooled", "per-method"):
        raise reader.error("objective", f"= {objective!r} is not allowed (allowed: 'pooled' or 'per-method')")
    start = reader.get("start", str, Search.start)
    if start not in ("random", "config"):
        raise reader.error("start", f"= {start!r} is not allowed (allowed: 'random' or 'config')")
    per_dimension = reader.get("per_dimension", int, 0)
    if not 0 <= per_dimension <= 100:
        raise reader.error("per_dimension", f"= {per_dimension} is out of range (allowed: 0, off, to 100 trials per "
                           "dimension)")
    reader.finish(("trials", "startup", "objective", "start", "per_dimension"))
    return Search(trials, startup, objective, start, per_dimension)


def read_confirmation(path: Path, table: dict | None) -> Confirmation | None:
    if table is None:
        return None
    reader = TableReader(path, table, "confirmation.")

    def margin_of(key: str, why: str, required: bool) -> tuple[float, str]:
        value = reader.get(key, (int, float), required=required)
        if value is None:
            return 0.0, ""
        if not 0 < value < 1:
            raise reader.error(key, f"= {value} is out of range (allowed: a hit-rate difference strictly between 0 and 1)")
        reason = reader.get(why, str, required=True)
        if not reason.strip():
            raise reader.error(why, "is empty (allowed: why a difference of this size would matter)")
        return float(value), reason

    margin, reason = margin_of("margin", "reason", True)
    rate = reader.get("invariance_rate", (int, float), 0.0)
    if not 0 <= rate <= 1:
        raise reader.error("invariance_rate", f"= {rate} is out of range (allowed: 0, none, to 1)")
    invariance_margin, invariance_reason = margin_of("invariance_margin", "invariance_reason", bool(rate))
    clusters = reader.get("clusters", str, "image")
    if clusters not in ("image", "object"):
        raise reader.error("clusters", f"= {clusters!r} is not allowed (allowed: 'image' or 'object': the independent "
                           "units of the equivalence test)")
    rule = reader.get("rule", str, "photo")
    if rule not in ("photo", "cases"):
        raise reader.error("rule", f"= {rule!r} is not allowed ({did_you_mean(rule, ('photo', 'cases'))}allowed: 'photo': "
                           "every verdict by CR2 t-tests with the photos as the units; 'cases': McNemar over cases and "
                           "CR1 equivalence, as studies 3 and 4 declared)")
    if rule == "photo" and clusters != "image":
        raise reader.error("clusters", f"= {clusters!r} is not allowed with rule = 'photo' (the photos are the units)")
    words = {key: reader.get(key, str, "") for key in ("primary", "secondary", "power")}
    reader.finish(("margin", "reason", "invariance_rate", "invariance_margin", "invariance_reason", "clusters", "rule",
                   "primary", "secondary", "power"))
    return Confirmation(float(margin), reason, float(rate), invariance_margin, invariance_reason, clusters, rule, **words)
