"""Batch runs: a config is expanded once into a plan (target objects x poses = groups, each with
every kernel x variant), whose groups an executor (serial, processes, Dask) runs into a run
folder: the config, a manifest and append-only rows (:mod:`.store`).

    config.py     the TOML config, checked field by field
    cases.py      target objects and their poses; one group's cases, matched and measured
    plan.py       the config expanded once: groups, counts, the split
    runs.py       a plan's unfinished groups on an executor, into a run folder
    store.py      the run folder (atomic, resumable)
    executors.py  serial, process pool, Dask
    scenes.py     synthetic targets
"""

from .config import Config, load_config
from .runs import run_experiment

__all__ = ["Config", "load_config", "run_experiment"]
