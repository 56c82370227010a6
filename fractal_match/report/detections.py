"""Detections: the rows that gave none (flat or undefined maps), and, for a run that judged every
instance in the photo ([evaluation] instances = "image"), recall@k and AP beside the top-1 hit
rate; the declared comparisons on those secondary measures; and their section of the report page.
Intervals and tests take the photos (their units) as the independent units."""

from __future__ import annotations

import html

import numpy as np
from scipy.stats import t as student_t

from .declared import _fmt
from .stats import cluster_t, holm, photo_test
from .tables import Run, photos_of


#: The columns of detections.csv: per method x variant, how many rows had no detection and why,
#: and the top-1 hit rate; with instances = "image", also recall@k and AP over the photo's
#: objects. Intervals: 95% cluster-robust t-intervals with the photos as the units.
DETECTION_COLUMNS = ("method", "variant", "n", "photos", "flat", "undefined", "hit_rate", "hit_low", "hit_high",
                     "recall", "recall_low", "recall_high", "ap", "ap_low", "ap_high")


def instance_run(run: Run) -> bool:
    """Whether the run judged every instance in the photo ([evaluation] instances = "image")."""
    return "ap" in run.columns


def photo_interval(values, photos, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean of per-row `values` with a cluster-robust t-interval, the
    `photos` as the independent units (:func:`.stats.cluster_t`, G - 1 degrees of freedom).
    NaN rows are left out; with fewer than two photos the interval is NaN."""
    values = np.asarray(values, np.float64)
    photos = np.asarray(photos, dtype=object)
    keep = ~np.isnan(values)
    if not keep.any():
        return float("nan"), float("nan"), float("nan")
    mean, error, dof = cluster_t(values[keep], photos[keep])
    if not dof or not np.isfinite(error):
        return mean, float("nan"), float("nan")
    half = float(student_t.ppf(0.5 + confidence / 2.0, dof)) * error
    return mean, mean - half, mean + half


def detection_rows(run: Run) -> list[dict]:
    """Per method x variant (:data:`DETECTION_COLUMNS`): rows whose map was flat or undefined
    (no detection, counted as misses), and the top-1 hit rate, recall@k and AP with 95%
    intervals clustered by photo (recall and AP only in a run with instances = "image")."""
    c = run.columns
    status = c["status"]
    flat = np.array([str(v).startswith("flat:") for v in status])
    undefined = np.array([str(v).startswith(("undefined", "skipped")) for v in status])
    instances = instance_run(run)
    rows = []
    for method in run.methods:
        for variant in run.variants:
            mask = run.where(method=method, variant=variant)
            if not mask.any():
                continue
            photos = photos_of(run, c["target"][mask])
            hit = photo_interval(c["hit"][mask].astype(np.float64), photos)
            row = {"method": method, "variant": variant, "n": int(mask.sum()), "photos": len(set(photos)),
                   "flat": int(flat[mask].sum()), "undefined": int(undefined[mask].sum()),
                   "hit_rate": hit[0], "hit_low": hit[1], "hit_high": hit[2]}
            recall = photo_interval(c["recall"][mask], photos) if instances else (float("nan"),) * 3
            ap = photo_interval(c["ap"][mask], photos) if instances else (float("nan"),) * 3
            row.update(recall=recall[0], recall_low=recall[1], recall_high=recall[2], ap=ap[0], ap_low=ap[1], ap_high=ap[2])
            rows.append(row)
    return rows


#: The columns of secondary.csv: the declared comparisons on recall@k and AP (instances = "image"),
#: over the cases whose photo holds several objects of the label; photo-level CR2 tests, Holm over
#: each measure's declared comparisons.
SECONDARY_COLUMNS = ("measure", "claim", "method", "first", "second", "n", "photos", "difference", "photo_dof",
                     "photo_low", "photo_high", "p_photo", "p_photo_holm")


def secondary_rows(run: Run, declared: list[dict] | None) -> list[dict]:
    """The declared pooled comparisons (no `kernels` subset) on the instance measures, recall@k
    and AP: paired cases (group, kernel) whose photo holds at least two objects of the label,
    first minus second, tested with the photos as the units (:func:`.stats.photo_test`); Holm
    over each measure's comparisons. Empty unless the run judged every instance."""
    if not declared or not instance_run(run):
        return []
    c = run.columns
    key = np.array([f"{g}|{k}" for g, k in zip(c["group_id"], c["kernel"])], dtype=object)
    several = c["objects"] >= 2
    rows = []
    for measure in ("recall", "ap"):
        chosen = []
        for entry in (d for d in declared if "kernels" not in d):
            a = run.where(method=entry["method"], variant=entry["first"]) & several
            b = run.where(method=entry["method"], variant=entry["second"]) & several
            common, ia, ib = np.intersect1d(key[a], key[b], return_indices=True)
            if common.size == 0:
                continue
            first, second = c[measure][a][ia], c[measure][b][ib]
            photos = photos_of(run, c["target"][a][ia])
            keep = ~(np.isnan(first) | np.isnan(second))
            found = photo_test(first[keep] - second[keep], photos[keep])
            chosen.append({"measure": measure, "claim": entry["claim"], "method": entry["method"], "first": entry["first"],
                           "second": entry["second"], "n": int(keep.sum()), "photos": len(set(photos[keep])),
                           "difference": found.mean, "photo_dof": found.dof, "photo_low": found.low,
                           "photo_high": found.high, "p_photo": found.p})
        for row, p in zip(chosen, holm([r["p_photo"] for r in chosen])):
            row["p_photo_holm"] = float(p)
        rows += chosen
    return rows


def shared_photos(run: Run) -> tuple[int, int]:
    """(objects that share their photo with another object of the run, objects)."""
    c = run.columns
    by_photo: dict = {}
    for photo, name in set(zip(c["target"], c["object"])):
        by_photo.setdefault(photo, set()).add(name)
    return sum(len(names) for names in by_photo.values() if len(names) > 1), sum(len(n) for n in by_photo.values())



def top_k(run: Run) -> int:
    """The run's [evaluation] top_k, read from its config.toml as written (its data may have moved)."""
    import tomllib

    try:
        return int(tomllib.loads((run.folder / "config.toml").read_text()).get("evaluation", {}).get("top_k", 5))
    except (OSError, ValueError, tomllib.TOMLDecodeError):
        return 5


def _interval(value: float, low: float, high: float) -> str:
    return f"<b>{_fmt(value, 2)}</b><br><small>[{_fmt(low, 2)}, {_fmt(high, 2)}]</small>"


def detections_section(run: Run, detections: list[dict], top_k: int) -> str:
    """Rows that gave no detection (flat or undefined maps) and, for a run that judged every
    instance in the photo, recall@k and AP beside the top-1 hit rate; empty when there is
    nothing to say (every map gave a detection, per-object judging)."""
    instances = instance_run(run)
    if not instances and not any(r["flat"] or r["undefined"] for r in detections):
        return ""
    head = "<th>method</th><th>variant</th><th>rows</th><th>photos</th><th>flat</th><th>undefined</th><th>top-1 hit rate</th>"
    if instances:
        head += f"<th>recall@{top_k}</th><th>AP</th>"
    body = ""
    for r in detections:
        cells = (f"<td>{html.escape(r['method'])}</td><td>{html.escape(r['variant'])}</td><td>{r['n']}</td><td>{r['photos']}</td>"
                 f"<td>{r['flat']}</td><td>{r['undefined']}</td><td>{_interval(r['hit_rate'], r['hit_low'], r['hit_high'])}</td>")
        if instances:
            cells += f"<td>{_interval(r['recall'], r['recall_low'], r['recall_high'])}</td><td>{_interval(r['ap'], r['ap_low'], r['ap_high'])}</td>"
        body += f"<tr>{cells}</tr>"
    what = ("Every object of the label in the photo counted: the top-k peaks (after NMS, best first) are matched "
            "greedily to the photo's objects of the query object's label, each object at most once, under the hit "
            f"rule. recall@{top_k}: the share of the photo's objects found among the top {top_k}; AP: average "
            "precision over the ranked peaks, as COCO computes it (101 recall points). " if instances else "")
    return (f"<h2 id='detections'>Detections{' over every instance' if instances else ''}</h2><p>{what}"
            "flat: rows whose map has no spread (every defined position scores the same), undefined: rows whose map "
            "has no defined position or that could not be matched; both are no detection and count as misses. "
            "Intervals: 95% cluster-robust t-intervals with the photos as the units (file "
            "<a href='detections.csv'>detections.csv</a>).</p>"
            f"<div class='scroll'><table><tr>{head}</tr>{body}</table></div>")


def shared_line(run: Run) -> str:
    """One sentence when objects share a photo and each is judged alone (instances = "object")."""
    shared, objects = shared_photos(run)
    if instance_run(run) or not shared:
        return ""
    return (f" {shared} of {objects} objects share their photo with other objects of this run: each is judged by its "
            "own map's best position only, so a detection on another object of the photo is a miss for this one "
            "(<code>[evaluation] instances = \"image\"</code> counts every instance).")


__all__ = ["DETECTION_COLUMNS", "SECONDARY_COLUMNS", "detection_rows", "secondary_rows", "shared_photos", "instance_run",
           "photo_interval", "detections_section", "shared_line", "top_k"]
