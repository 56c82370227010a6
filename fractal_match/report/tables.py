"""Tables computed from a run folder: summary per method x variant (and per pose), and paired
comparisons between variants. Everything is read from results.csv; nothing is re-run."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import t as student_t

from .._errors import FractalMatchError
from ..experiments.cases import ROW_COLUMNS
from ..templates.fractal import family_kind
from ..engine.metrics import INSTANCE_MEASURES, SUCCESS_THRESHOLDS, success_auc, success_curve
from .stats import cluster_t, compare, holm, photo_test, tost, wilson_interval



class ReportError(FractalMatchError):
    """A folder is not a run, or its results cannot be read."""


@dataclass
class Run:
    """A run folder's results as columns (strings as object arrays, measures as floats)."""

    folder: Path
    manifest: dict
    columns: dict

    def __len__(self) -> int:
        return len(self.columns["case_id"])

    _masks: dict = field(default_factory=dict, repr=False, compare=False)

    def where(self, **equal) -> np.ndarray:
        """The rows whose columns equal the values given. Each column's mask per value is made once
        (comparing strings over every row is most of a report's statistics otherwise)."""
        keep = np.ones(len(self), bool)
        for key, value in equal.items():
            if (key, value) not in self._masks:
                self._masks[key, value] = self.columns[key] == value
            keep &= self._masks[key, value]
        return keep

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(self.columns["method"]))

    @property
    def variants(self) -> list[str]:
        return list(dict.fromkeys(self.columns["variant"]))


NUMERIC = ("x", "y", "score", "center_error", "iou", "hit", "psr", "margin", "rank", "degenerate", "templates",
           "seconds", "scale", "rotation", "objects", "peaks", "recall", "ap")

#: The headers a results file may have: per object, or with the instance measures after it.
HEADERS = (ROW_COLUMNS, ROW_COLUMNS + INSTANCE_MEASURES)


def load_run(folder) -> Run:
    """Read a run folder (manifest.json and results.csv) or raise ReportError naming what is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportError(f"{folder}: not a folder (allowed: a run folder made by `fractal-match run`)")
    manifest_path, results_path = folder / "manifest.json", folder / "results.csv"
    if not results_path.exists() and (folder / "results.csv.xz").exists():  # a committed run, its rows compressed
        results_path = folder / "results.csv.xz"
    if not manifest_path.exists() or not results_path.exists():
        raise ReportError(f"{folder}: is not a run folder (needs manifest.json and results.csv)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise ReportError(f"{manifest_path}: unreadable ({exc})") from None
    import lzma

    opener = lzma.open if results_path.suffix == ".xz" else open
    try:
        handle = opener(results_path, "rt", newline="", encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{results_path}: unreadable ({exc})") from None
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(header) not in HEADERS:
            raise ReportError(f"{results_path}: unexpected header (not a results file of this tool version)")
        rows = [row for row in reader if len(row) == len(header)]
    if not rows:
        raise ReportError(f"{results_path}: holds no results yet")
    table = list(zip(*rows))
    columns = {}
    for name, values in zip(header, table):
        if name in NUMERIC:
            columns[name] = np.array([float(v) if v not in ("", "nan") else np.nan for v in values])
        else:
            columns[name] = np.array(values, dtype=object)
    columns["hit"] = np.nan_to_num(columns["hit"]).astype(bool)
    return Run(folder, manifest, columns)


def _nan_median(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(np.median(values)) if values.size else float("nan")


def _nan_mean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


SUMMARY_COLUMNS = ("kernel", "method", "variant", "scale", "rotation", "n", "hits", "hit_rate", "ci_low", "ci_high",
                   "mean_iou", "median_psr", "median_margin", "auc")


def summary_rows(run: Run) -> list[dict]:
    """Per method x variant over every kernel (kernel = scale = rotation = "all"), then per kernel,
    then per method x variant x pose cell over every kernel."""
    c = run.columns
    rows = []

    def row(method, variant, scale, rotation, mask, kernel="all"):
        hits, n = int(c["hit"][mask].sum()), int(mask.sum())
        low, high = wilson_interval(hits, n)
        ious = np.nan_to_num(c["iou"][mask])
        return {"kernel": kernel, "method": method, "variant": variant, "scale": scale, "rotation": rotation, "n": n, "hits": hits,
                "hit_rate": hits / n if n else float("nan"), "ci_low": low, "ci_high": high,
                "mean_iou": _nan_mean(c["iou"][mask]), "median_psr": _nan_median(c["psr"][mask]),
                "median_margin": _nan_median(c["margin"][mask]), "auc": success_auc(ious) if n else float("nan")}

    for method in run.methods:
        for variant in run.variants:
            mask = run.where(method=method, variant=variant)
            if mask.any():
                rows.append(row(method, variant, "all", "all", mask))
    kernels = list(dict.fromkeys(c["kernel"]))
    if len(kernels) > 1:
        for kernel in kernels:
            for method in run.methods:
                for variant in run.variants:
                    mask = run.where(method=method, variant=variant, kernel=kernel)
                    if mask.any():
                        rows.append(row(method, variant, "all", "all", mask, kernel))
    scales = sorted(set(c["scale"]))
    rotations = sorted(set(c["rotation"]))
    if len(scales) * len(rotations) > 1:
        for method in run.methods:
            for variant in run.variants:
                base = run.where(method=method, variant=variant)
                for scale in scales:
                    for rotation in rotations:
                        mask = base & (c["scale"] == scale) & (c["rotation"] == rotation)
                        if mask.any():
                            rows.append(row(method, variant, f"{scale:g}", f"{rotation:g}", mask))
    return rows


def photos_of(run: Run, targets) -> np.ndarray:
    """The independent unit of each of these rows' photos (`target`): the unit the run's manifest
    records for it (images of one scene or video are one unit), else the photo itself."""
    units = run.manifest.get("units") or {}
    return np.array([units.get(t, t) for t in targets], dtype=object) if units else np.asarray(targets, dtype=object)


def success_curves(run: Run) -> dict[tuple[str, str], np.ndarray]:
    """(method, variant) -> success curve over IoU thresholds (for pairs datasets)."""
    c = run.columns
    return {(m, v): success_curve(np.nan_to_num(c["iou"][run.where(method=m, variant=v)]))
            for m in run.methods for v in run.variants if run.where(method=m, variant=v).any()}


COMPARISON_COLUMNS = ("method", "first", "second", "n", "b", "c", "p_mcnemar", "p_holm", "difference",
                      "ci_low", "ci_high", "p_wilcoxon_margin", "holm_set", "claim",
                      # the photo as the unit (report.stats.photo_test: CR2, Bell-McCaffrey degrees of freedom)
                      "photos", "photo_dof", "photo_low", "photo_high", "p_photo", "p_photo_holm")
#: a confirmation with a declared margin adds these; the per-kernel file adds the kernel first
EQUIVALENCE_COLUMNS = ("margin", "clusters", "t90_low", "t90_high", "p_tost", "p_tost_holm", "p_no_gain",
                       "p_no_gain_holm", "disagree", "verdict", "no_gain",
                       "p_tost_photo", "p_tost_photo_holm", "p_no_gain_photo", "p_no_gain_photo_holm", "verdict_photo",
                       "no_gain_photo")



def comparison_pairs(variants: list[str], families: dict[str, str]) -> list[tuple[str, str]]:
    """Every variant against `none`; every fractal variant against every control and the bank."""
    baseline = next((v for v in variants if families.get(v) == "none"), None)
    pairs = [(v, baseline) for v in variants if baseline is not None and v != baseline]
    kinds = {v: family_kind(families.get(v, "")) for v in variants}
    fractals = [v for v in variants if kinds[v] == "fractal"]
    others = [v for v in variants if kinds[v] in ("control", "bank")]
    pairs += [(f, o) for f in fractals for o in others]
    return pairs


def changed_poses(run: Run) -> np.ndarray:
    """Rows whose pose is not the identity (scale 1, rotation 0)."""
    return ~((run.columns["scale"] == 1.0) & (np.mod(run.columns["rotation"], 360.0) == 0.0))


def _subset(run: Run, entry: dict | None) -> np.ndarray:
    """The rows a comparison is about: all of them, or a declared entry's `kernels` and `poses`."""
    keep = np.ones(len(run), bool)
    if entry and entry.get("kernels") is not None:
        keep &= np.isin(run.columns["kernel"], list(entry["kernels"]))
    if entry and entry.get("poses") == "changed":
        keep &= changed_poses(run)
    return keep


SIGNIFICANCE = 0.05


def established(row: dict) -> bool:
    """A paired difference counts when the Holm-adjusted exact McNemar p is below 0.05 AND the
    cluster-bootstrap interval excludes zero (the cases of one object are not independent)."""
    return row["p_holm"] < SIGNIFICANCE and (row["ci_low"] > 0 or row["ci_high"] < 0)


def verdict(row: dict) -> str:
    """A declared comparison's conclusion: "superior" or "inferior" when established (Holm p <
    0.05 and the 95% interval excludes zero), "equivalent" when both one-sided tests against
    +-margin reject after Holm (TOST), both when both hold, else "inconclusive"."""
    equivalent = row["p_tost_holm"] < SIGNIFICANCE
    if established(row):
        side = "superior" if row["difference"] > 0 else "inferior"
        return f"{side} (and equivalent within +-{row['margin']:g})" if equivalent else side
    return "equivalent" if equivalent else "inconclusive"


def established_photo(row: dict) -> bool:
    """A paired difference counts with the photos as the units: its Holm-adjusted two-sided CR2
    p is below 0.05 (then its 95% CR2 interval excludes zero too)."""
    return row.get("p_photo_holm", 1.0) < SIGNIFICANCE


def verdict_photo(row: dict) -> str:
    """:func:`verdict` with the photos as the units of every test: superior or inferior when the
    Holm-adjusted CR2 p is below 0.05, equivalent when both one-sided CR2 tests against the margin
    reject after Holm, else inconclusive."""
    equivalent = row["p_tost_photo_holm"] < SIGNIFICANCE
    if established_photo(row):
        side = "superior" if row["difference"] > 0 else "inferior"
        return f"{side} (and equivalent within +-{row['margin']:g})" if equivalent else side
    return "equivalent" if equivalent else "inconclusive"


def _photo(row: dict, first_hits, second_hits, photos, margin: float | None) -> None:
    """A row's photo-level test (:func:`.stats.photo_test`), in place."""
    paired = np.asarray(first_hits, np.float64) - np.asarray(second_hits, np.float64)
    found = photo_test(paired, photos, margin)
    row.update(photos=len(set(photos)), photo_dof=found.dof, photo_low=found.low, photo_high=found.high, p_photo=found.p)
    if margin is not None:
        row.update(p_tost_photo=max(found.p_upper, found.p_lower), p_no_gain_photo=found.p_upper)


def _equivalence(row: dict, first_hits, second_hits, clusters, margin: float, clusters_by: str) -> None:
    """A declared row's equivalence test (:func:`.stats.tost`) and its 90% t-interval, in place."""
    paired = np.asarray(first_hits, np.float64) - np.asarray(second_hits, np.float64)
    upper, lower = tost(paired, clusters, margin)
    mean, error, freedom = cluster_t(paired, clusters)
    reach = float(student_t.ppf(0.95, freedom)) * error if freedom else float("nan")
    row.update(margin=margin, clusters=f"{clusters_by} ({len(set(clusters))})", t90_low=mean - reach,
               t90_high=mean + reach, p_tost=max(upper, lower), p_no_gain=upper,
               disagree=(row["b"] + row["c"]) / row["n"] if row["n"] else float("nan"))


def comparison_rows(run: Run, seed: int = 0, resamples: int = 2000, declared: list[dict] | None = None,
                    margins: dict | None = None, kernel: str | None = None, clusters_by: str = "image",
                    rule: str = "cases") -> list[dict]:
    """Paired comparisons per method (pairs matched on group, kernel and method). Holm over the
    file (holm_set "all"); or, for a run with `declared` comparisons (a confirmation's), Holm over
    each declared family separately ("confirmatory"; "invariance": entries that name `kernels`
    and the changed poses only) and over the rest ("exploratory"). With `margins` ({family:
    margin}), the declared rows of those families also get their equivalence test (clusters: the
    photo, "image", or the "object") and :func:`verdict`. With `kernel`, the rows of that kernel
    alone (every comparison exploratory). Every row also gets its photo-level test (columns
    photos ... p_photo_holm; with a margin also p_tost_photo ... verdict_photo); with `rule` =
    "photo" those decide the declared verdicts, with "cases" (studies 3 and 4) they are shown beside
    them, post hoc."""
    c = run.columns
    families = dict(zip(c["variant"], c["family"]))
    key = np.array([f"{g}|{k}" for g, k in zip(c["group_id"], c["kernel"])], dtype=object)
    only = np.ones(len(run), bool) if kernel is None else c["kernel"] == kernel
    claims = {(d["method"], d["first"], d["second"], d["claim"]): d for d in declared or ()}
    rows = []
    for method in run.methods:
        def paired(first, second, keep):
            found = []
            for variant in (first, second):
                mask = run.where(method=method, variant=variant) & keep & only
                order = np.argsort(key[mask], kind="stable")
                found.append({name: c[name][mask][order] for name in ("hit", "margin", "object", "target")}
                             | {"key": key[mask][order]})
            return found

        mine = [(f, s, d) for (m, f, s, _), d in claims.items() if m == method]
        plain = [(f, s, None) for f, s in comparison_pairs(run.variants, families)
                 if not any((f, s) == (a, b) and "kernels" not in d for a, b, d in mine)]
        for first, second, entry in mine + plain:
            if first not in families or second not in families:
                raise ReportError(f"{run.folder}: the declared comparison {first} vs {second} names a variant the "
                                  "rows do not hold")
            a, b = paired(first, second, _subset(run, entry))
            common, ia, ib = np.intersect1d(a["key"], b["key"], return_indices=True)
            if common.size == 0 and entry is not None and kernel is None:
                raise ReportError(f"{run.folder}: the declared comparison {first} vs {second} ({method}) has no "
                                  "common cases (declared.json does not fit the rows)")
            if common.size == 0:
                continue
            result = compare(a["hit"][ia], b["hit"][ib], a["margin"][ia], b["margin"][ib], a["object"][ia],
                             seed=seed, resamples=resamples)
            claim = entry["claim"] if entry else ""
            holm_set = ("all" if declared is None else "exploratory" if entry is None or kernel is not None
                        else "invariance" if "kernels" in entry else "confirmatory")
            row = {"method": method, "first": first, "second": second, "n": result.n, "b": result.b,
                   "c": result.c, "p_mcnemar": result.p_mcnemar, "difference": result.difference,
                   "ci_low": result.ci_low, "ci_high": result.ci_high, "p_wilcoxon_margin": result.p_wilcoxon_margin,
                   "holm_set": holm_set, "claim": claim, "kernel": kernel or "all"}
            margin = margins.get(holm_set) if margins else None
            if margin is not None:
                units = a["target"][ia] if clusters_by == "image" else a["object"][ia]
                _equivalence(row, a["hit"][ia], b["hit"][ib], units, margin, clusters_by)
            _photo(row, a["hit"][ia], b["hit"][ib], photos_of(run, a["target"][ia]), margin)
            rows.append(row)
    for holm_set in dict.fromkeys(r["holm_set"] for r in rows):
        chosen = [r for r in rows if r["holm_set"] == holm_set]
        for row, p in zip(chosen, holm([r["p_mcnemar"] for r in chosen])):
            row["p_holm"] = float(p)
        for row, p in zip(chosen, holm([r["p_photo"] for r in chosen])):
            row["p_photo_holm"] = float(p)
        tested = [r for r in chosen if "p_tost" in r]
        for name in ("p_tost", "p_no_gain", "p_tost_photo", "p_no_gain_photo"):
            for row, p in zip(tested, holm([r[name] for r in tested])):
                row[f"{name}_holm"] = float(p)
    for row in rows:
        if "p_tost" in row:
            row["verdict"] = verdict(row)
            row["no_gain"] = "yes" if row["p_no_gain_holm"] < SIGNIFICANCE else "no"
            row["verdict_photo"] = verdict_photo(row)
            row["no_gain_photo"] = "yes" if row["p_no_gain_photo_holm"] < SIGNIFICANCE else "no"
            if rule == "photo":  # the declared rule: the photo-level tests decide
                row["verdict"], row["no_gain"] = row["verdict_photo"], row["no_gain_photo"]
    return rows


def per_kernel_rows(run: Run, seed: int = 0, resamples: int = 2000) -> list[dict]:
    """Every comparison of :func:`comparison_rows` for each kernel alone: exploratory, Holm over
    each kernel's rows."""
    return [row for kernel in dict.fromkeys(run.columns["kernel"])
            for row in comparison_rows(run, seed, resamples, declared=[], kernel=kernel)]


def to_csv(rows: list[dict], columns) -> bytes:
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue().encode("utf-8")


__all__ = ["Run", "load_run", "summary_rows", "comparison_rows", "per_kernel_rows", "verdict", "changed_poses",
           "EQUIVALENCE_COLUMNS", "established", "SIGNIFICANCE", "success_curves", "to_csv", "SUMMARY_COLUMNS",
           "COMPARISON_COLUMNS", "SUCCESS_THRESHOLDS", "ReportError"]
