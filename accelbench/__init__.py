"""accelbench: accelerator-aware NAS benchmarks on large datasets.

Floors, lowest first (a module imports only from its own floor or lower ones; tests/test_imports.py):
common -> search_space -> training, surrogate -> profiling, optimizers -> pipeline -> proxy -> workflows.
"""

import os

# The surrogates' boosters (LightGBM, XGBoost) wait for their OpenMP threads by spinning. On a loaded
# machine a spinning thread holds the core its partner needs: one busy process beside a 2-thread
# LightGBM fit made it 23x slower (3.7 s -> 84 s; 13 s with this). libgomp reads this once, when it is
# first loaded, so it is set here, before any of them (or torch, which shares libgomp) is imported.
os.environ.setdefault("GOMP_SPINCOUNT", "2000")
