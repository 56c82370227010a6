"""Studies over family parameters: `tune` searches every family with one budget on the tune side
of a config's split (:mod:`.study`, spaces in :mod:`.space`); `confirm` runs the winners on the
held-out side with the comparisons declared first (:mod:`.confirm`). Needs the ``search`` extra
(optuna) when a study runs.
"""

from .study import SearchError, families, tune

__all__ = ["tune", "families", "SearchError"]
