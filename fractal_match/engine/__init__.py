"""The matcher: OpenCV's six template-matching maps from one correlation, masks, the fused
derivation and scan kernels, peaks, per-case measures and the pose search.

Imports only the basics (errors, input checks, images, geometry). Nothing here knows about
kernels, generators, configs or runs.
"""

from ._methods import (FLAT_RTOL, METHOD_INFO, METHODS, Match, MethodInfo, Responses, best_match, canonical_method,
                       check_methods)
from .matching import batch_size, match_all, match_batch, match_many
from .peaks import find_peaks

__all__ = ["METHODS", "METHOD_INFO", "FLAT_RTOL", "MethodInfo", "Match", "Responses", "best_match", "canonical_method",
           "check_methods",
           "match_all", "match_many", "match_batch", "batch_size", "find_peaks"]
