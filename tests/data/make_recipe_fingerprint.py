"""Writes tests/data/recipe_fingerprint.npz: the first steps of the feature-visualization recipe
for one unit, against which tests/test_cnn_kernels.py checks that the recipe is the one that made
the shipped pictures.

    python tests/data/make_recipe_fingerprint.py

A shipped picture is 512 Adam steps, which amplify XLA's CPU-dependent rounding until a picture
made on another CPU differs from the shipped one nearly as much as one made with a changed recipe
(benchmarks/isa_spread.py). The first 16 steps of a channel unit do not amplify it: across the
instruction sets measured their picture moved by 0.002 levels on average, while a 10% smaller
learning rate moved it by 5.5 levels. Run this again only when the recipe changes on purpose
(and bump fractal_match.templates.cnn.pictures.RECIPE with it).
"""

from pathlib import Path

import numpy as np

from fractal_match.templates.cnn.pictures import RECIPE
from fractal_match.templates.cnn.visualize import visualize

UNIT, STEPS, SEED = "onet/conv4:40", 16, 0

if __name__ == "__main__":
    made = visualize(UNIT, steps=STEPS, seed=SEED)
    out = Path(__file__).with_name("recipe_fingerprint.npz")
    np.savez_compressed(out, picture=made.picture, history=made.history, unit=UNIT, steps=STEPS, seed=SEED,
                        recipe=RECIPE)
    print(f"{out}: {UNIT}, {STEPS} steps, seed {SEED}, recipe {RECIPE}")
