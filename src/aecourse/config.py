"""One place for run-wide settings: smoke mode, seeding and quiet logs.

``AECOURSE_SMOKE=1`` switches every notebook, test and check to small data and
few epochs, so the whole course runs in seconds; leave it unset for the full
run that readers of the book get.
"""

from __future__ import annotations

import os
import random
import time
import warnings

SMOKE_VAR = "AECOURSE_SMOKE"
_started = time.perf_counter()  # reset by setup(); read by elapsed_seconds()


def smoke() -> bool:
    """True when ``AECOURSE_SMOKE`` is set to 1/true/yes (small data, few epochs)."""
    return os.environ.get(SMOKE_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def pick(full, smoke_value):
    """``full`` normally, ``smoke_value`` in smoke mode: ``epochs = pick(10, 1)``."""
    return smoke_value if smoke() else full


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ start-up chatter and Python warnings.

    Works best before ``import tensorflow``; calling it later still quiets the
    Python-side loggers.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # pragma: no cover - absl comes with TensorFlow
        pass
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy, TensorFlow and Keras' initialisers in one call.

    ``tf.random.set_seed`` alone does not make Keras 3 initialisers repeat;
    ``keras.utils.set_random_seed`` does, and also seeds ``random`` and NumPy.
    """
    random.seed(seed)
    import numpy as np

    np.random.seed(seed)
    import keras

    keras.utils.set_random_seed(seed)


def setup(seed: int = 0, *, plots: bool = True) -> dict:
    """Prepare a notebook: quiet logs, seeds, plot style. Returns a summary dict.

    >>> cfg = setup(seed=0)   # doctest: +SKIP
    >>> cfg["smoke"]          # doctest: +SKIP
    False
    """
    global _started
    _started = time.perf_counter()
    quiet_tensorflow()
    set_seed(seed)
    if plots:
        from . import plotting

        plotting.use_style()
    import keras

    info = {"smoke": smoke(), "seed": seed, "keras": keras.__version__, "backend": keras.backend.backend()}
    return info


def elapsed_seconds() -> float:
    """Seconds since :func:`setup` was called (or since import): a notebook's measured run time.

    End a notebook with ``print(f"run time: {config.elapsed_seconds() / 60:.1f} min")`` and
    glue that value for the chapter, instead of typing a duration into the prose.
    """
    return time.perf_counter() - _started
