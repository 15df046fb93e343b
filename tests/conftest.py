"""Shared fixtures: the data folder, the repository root, small MNIST-like files."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real MNIST folder from $AECOURSE_DATA_DIR; tests needing it skip without it."""
    d = os.environ.get("AECOURSE_DATA_DIR")
    if not d or not Path(d).is_dir():
        pytest.skip("AECOURSE_DATA_DIR is not set to a folder with MNIST")
    return Path(d)


def write_idx_images(path: Path, x: np.ndarray) -> None:
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">IIII", 2051, x.shape[0], x.shape[1], x.shape[2]))
        f.write(x.astype(np.uint8).tobytes())


def write_idx_labels(path: Path, y: np.ndarray) -> None:
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">II", 2049, y.shape[0]))
        f.write(y.astype(np.uint8).tobytes())


def tiny_arrays(n_train: int = 50, n_test: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_train).astype(np.uint8),
            rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_test).astype(np.uint8))


def write_idx_folder(folder: Path, arrays) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    x_train, y_train, x_test, y_test = arrays
    write_idx_images(folder / "train-images-idx3-ubyte.gz", x_train)
    write_idx_labels(folder / "train-labels-idx1-ubyte.gz", y_train)
    write_idx_images(folder / "t10k-images-idx3-ubyte.gz", x_test)
    write_idx_labels(folder / "t10k-labels-idx1-ubyte.gz", y_test)
    return folder
