"""A tuning folder's own files: its search.json (the manifest) and the study's journal, read and
checked here for `tune`, `confirm` and the tuning report."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from .._errors import FractalMatchError
from ..atomic import write_atomic

SEARCH_FILES = (".lock", "config.toml", "search.json", "study.journal", "study.journal.lock", "trials", "report")
SEARCH_ATOMIC_FILES = ("config.toml", "search.json", "study.journal")  # written through a temporary file


class SearchError(FractalMatchError):
    """A search cannot start, resume or be read."""


@functools.cache
def optuna():
    """The optuna module (the search extra), quiet: the library never prints."""
    try:
        import optuna as module
    except ImportError:
        raise SearchError('tune and confirm need optuna: pip install "fractal-match[search]"') from None
    module.logging.set_verbosity(module.logging.WARNING)
    return module


def open_storage(folder: Path, repair: bool = False):
    """The study's journal in `folder`. With `repair`, a torn last line (a write cut by a kill)
    is cut off first: Optuna would fail on the next line appended after it. Returns
    (storage, bytes removed)."""
    path = folder / "study.journal"
    removed = 0
    if not repair and not path.is_file():
        raise SearchError(f"{path}: missing (a tuning folder keeps its study there)")
    if repair:  # only the search that holds the folder's lock repairs: no other writer exists
        (folder / "study.journal.lock").unlink(missing_ok=True)  # left by a kill mid-write
    if repair and path.exists():
        data = path.read_bytes()
        kept = data[: data.rfind(b"\n") + 1]
        removed = len(data) - len(kept)
        if removed:
            write_atomic(path, kept)
    journal = optuna().storages.journal
    return optuna().storages.JournalStorage(journal.JournalFileBackend(str(path))), removed


MANIFEST_KEYS = ("name", "config_hash", "methods", "objective", "startup", "families", "finished")


def read_manifest(folder: Path) -> dict:
    """A tuning folder's search.json, or SearchError naming what is wrong with it."""
    path = Path(folder) / "search.json"
    if not path.is_file():
        raise SearchError(f"{folder}: is not a tuning folder (no search.json; make one with `fractal-match tune`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SearchError(f"{path}: unreadable ({exc})") from None
    missing = [key for key in MANIFEST_KEYS if not isinstance(manifest, dict) or key not in manifest]
    if missing:
        raise SearchError(f"{path}: field '{missing[0]}' is missing (a search.json written by `fractal-match tune` has "
                          f"{', '.join(MANIFEST_KEYS)})")
    return manifest


def stored_trials(manifest: dict) -> int:
    """The trials per family a search was started with (a search.json from before this was
    recorded: its largest family budget)."""
    return manifest.get("trials") or max(entry["budget"] for entry in manifest["families"].values())


__all__ = ["MANIFEST_KEYS", "SEARCH_FILES", "SEARCH_ATOMIC_FILES", "SearchError", "optuna", "open_storage", "read_manifest",
           "stored_trials"]
