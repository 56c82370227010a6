"""Which committed rows came from flat maps (measures version 3 calls them no detection)?

Rows measured before version 3 took a flat map's first position as its best. A flat map has no
spread, so its PSR and margin are NaN: every such row of status "ok" is a candidate. Each
candidate's group is run again with this tool, and its row compared: how many candidates are now
"flat: ...", and whether any of those was counted as a hit. Usage (from the repository):

    python benchmarks/flat_audit.py results/demo/quick results/search-dims/confirm ...

Prints one line per run folder, and a total; --json FILE also writes the counts.
"""

from __future__ import annotations

import csv
import io
import json
import lzma
import sys
from pathlib import Path


def _rows(folder: Path) -> list[dict]:
    plain, packed = folder / "results.csv", folder / "results.csv.xz"
    text = plain.read_text() if plain.exists() else lzma.decompress(packed.read_bytes()).decode()
    return list(csv.DictReader(io.StringIO(text)))


def audit(folder: Path) -> dict:
    from fractal_match.experiments.cases import CaseRunner
    from fractal_match.experiments.config import load_config
    from fractal_match.experiments.plan import make_plan

    rows = _rows(folder)
    candidates = [r for r in rows if r["status"] == "ok" and r["psr"] == "nan" and r["margin"] in ("nan", "")]
    found = {"rows": len(rows), "candidates": len(candidates), "flat": 0, "flat_hits": 0, "by": {}}
    if not candidates:
        return found
    config = load_config(folder / "config.toml")
    groups = {g.id: g for g in make_plan(config).groups}
    runner = CaseRunner(config)
    wanted = {(r["group_id"], r["kernel"], r["variant"], r["method"]): r for r in candidates}
    for group_id in sorted({key[0] for key in wanted}):
        for new in runner.run(groups[group_id]):
            old = wanted.get((group_id, new["kernel"], new["variant"], new["method"]))
            if old is None or not new["status"].startswith("flat:"):
                continue
            found["flat"] += 1
            found["flat_hits"] += old["hit"] == "1"
            key = f"{new['variant']} {new['method']}"
            found["by"][key] = found["by"].get(key, 0) + 1
    return found


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Rerun the committed rows whose maps may have been flat (PSR and "
                                     "margin NaN) and count those that now are, and their hits before.")
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (results.csv or results.csv.xz, config.toml)")
    parser.add_argument("--json", type=Path, help="also write the counts to this file")
    args = parser.parse_args(argv)
    for folder in args.runs:
        if not (folder / "config.toml").is_file():
            parser.error(f"{folder}: not a run folder (needs config.toml and results.csv or results.csv.xz)")
    report = {}
    for folder in args.runs:
        report[str(folder)] = found = audit(folder)
        print(f"{folder}: {found['rows']} rows, {found['candidates']} with PSR and margin NaN, {found['flat']} flat "
              f"({found['flat_hits']} of them hits before), {found['by']}", flush=True)
    total = {k: sum(v[k] for v in report.values()) for k in ("rows", "candidates", "flat", "flat_hits")}
    print(f"total: {total}")
    if args.json is not None:
        args.json.write_text(json.dumps({"runs": report, "total": total}, indent=1, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])
