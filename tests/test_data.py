"""aecourse.data: every source and every failure, on small files made here."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_arrays, write_idx_folder

from aecourse import data
from aecourse.data import DataError, load_fashion_mnist, load_mnist


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No env var, an empty Keras cache and course cache, and no downloads."""
    monkeypatch.delenv("AECOURSE_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("AECOURSE_CACHE_DIR", str(tmp_path / "course_cache"))
    monkeypatch.setenv("AECOURSE_NO_DOWNLOAD", "1")


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def save_npz(path: Path, arrays) -> Path:
    x_train, y_train, x_test, y_test = arrays
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def test_npz_from_argument(tmp_path):
    arrays = tiny_arrays()
    save_npz(tmp_path / "mnist.npz", arrays)
    (x_train, y_train), (x_test, y_test) = load_mnist(tmp_path)
    assert x_train.shape == (50, 28, 28) and x_train.dtype == np.uint8
    np.testing.assert_array_equal(x_train, arrays[0])
    np.testing.assert_array_equal(y_test, arrays[3])


def test_npz_from_environment_variable(tmp_path, monkeypatch):
    save_npz(tmp_path / "mnist.npz", tiny_arrays())
    monkeypatch.setenv("AECOURSE_DATA_DIR", str(tmp_path))
    (train, test), source = load_mnist(return_source=True)
    assert source == str(tmp_path / "mnist.npz")
    assert train[0].shape[0] == 50 and test[0].shape[0] == 20


def test_argument_wins_over_environment(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    save_npz(a / "mnist.npz", tiny_arrays(n_train=30))
    save_npz(b / "mnist.npz", tiny_arrays(n_train=40))
    monkeypatch.setenv("AECOURSE_DATA_DIR", str(a))
    (x_train, _), _ = load_mnist(b)
    assert len(x_train) == 40


def test_idx_folder_without_checksum(tmp_path):
    arrays = tiny_arrays()
    write_idx_folder(tmp_path / "mnist", arrays)
    (x_train, y_train), (x_test, y_test) = load_mnist(tmp_path, verify=False)
    np.testing.assert_array_equal(x_test, arrays[2])
    np.testing.assert_array_equal(y_train, arrays[1])


def test_idx_folder_checksum_mismatch_is_reported(tmp_path):
    write_idx_folder(tmp_path / "mnist", tiny_arrays())
    with pytest.raises(DataError, match="does not match the published MNIST checksum") as e:
        load_mnist(tmp_path)
    assert str(tmp_path) in str(e.value) and "AECOURSE_DATA_DIR" in str(e.value)


@pytest.mark.parametrize("dtype,layout,shape", [
    ("uint8", "image", (50, 28, 28)),
    ("float32", "flat", (50, 784)),
    ("float32", "channels", (50, 28, 28, 1)),
])
def test_dtype_and_layout(tmp_path, dtype, layout, shape):
    save_npz(tmp_path / "mnist.npz", tiny_arrays())
    (x_train, _), (x_test, _) = load_mnist(tmp_path, dtype=dtype, layout=layout)
    assert x_train.shape == shape and x_train.dtype == np.dtype(dtype)
    if dtype == "float32":
        assert 0.0 <= x_train.min() and x_train.max() <= 1.0


def test_bad_options_raise_value_error(tmp_path):
    save_npz(tmp_path / "mnist.npz", tiny_arrays())
    with pytest.raises(ValueError, match="layout"):
        load_mnist(tmp_path, layout="square")
    with pytest.raises(ValueError, match="dtype"):
        load_mnist(tmp_path, dtype="float16")


def test_seeded_subsets(tmp_path):
    save_npz(tmp_path / "mnist.npz", tiny_arrays())
    (a, ya), (t, _) = load_mnist(tmp_path, n_train=10, n_test=5, seed=3)
    (b, yb), _ = load_mnist(tmp_path, n_train=10, n_test=5, seed=3)
    (c, _), _ = load_mnist(tmp_path, n_train=10, n_test=5, seed=4)
    assert a.shape == (10, 28, 28) and t.shape == (5, 28, 28)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a, c)


def test_missing_folder(tmp_path):
    with pytest.raises(DataError) as e:
        load_mnist(tmp_path / "nowhere")
    msg = str(e.value)
    assert "nowhere" in msg and "not a folder" in msg and "export AECOURSE_DATA_DIR" in msg


def test_empty_folder_names_what_it_looked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("AECOURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError) as e:
        load_mnist()
    msg = str(e.value)
    assert "$AECOURSE_DATA_DIR" in msg and "mnist.npz" in msg and "mnist/" in msg


def test_truncated_npz(tmp_path):
    p = save_npz(tmp_path / "mnist.npz", tiny_arrays())
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    before = snapshot(tmp_path)
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_mnist(tmp_path)
    assert snapshot(tmp_path) == before, "the loader must not touch the user's folder"


def test_corrupt_gzip(tmp_path):
    folder = write_idx_folder(tmp_path / "mnist", tiny_arrays())
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(b"this is not gzip")
    with pytest.raises(DataError, match="not a readable gzip file"):
        load_mnist(tmp_path, verify=False)


def test_truncated_idx_payload(tmp_path):
    import gzip
    import struct

    folder = write_idx_folder(tmp_path / "mnist", tiny_arrays())
    with gzip.open(folder / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, 50, 28, 28) + bytes(100))
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_mnist(tmp_path, verify=False)


def test_wrong_magic(tmp_path):
    import gzip

    folder = write_idx_folder(tmp_path / "mnist", tiny_arrays())
    with gzip.open(folder / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"\x00\x00\x99\x99" + bytes(8))
    with pytest.raises(DataError, match="magic number"):
        load_mnist(tmp_path, verify=False)


@pytest.mark.parametrize("change,match", [
    (lambda a: (a[0][:, :27], *a[1:]), r"expected \(N, 28, 28\)"),
    (lambda a: (a[0].astype("float32"), *a[1:]), "expected uint8"),
    (lambda a: (a[0], a[1][:-1], *a[2:]), "one label per image"),
    (lambda a: (a[0], a[1] + 20, *a[2:]), "expected 0..9"),
])
def test_wrong_shapes_dtypes_labels(tmp_path, change, match):
    save_npz(tmp_path / "mnist.npz", change(tiny_arrays()))
    with pytest.raises(DataError, match=match):
        load_mnist(tmp_path)


def test_npz_missing_arrays(tmp_path):
    np.savez(tmp_path / "mnist.npz", images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match="lacks the arrays"):
        load_mnist(tmp_path)


def test_pickled_npz_is_refused(tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=np.array([object()], dtype=object), y_train=np.zeros(1),
             x_test=np.zeros(1), y_test=np.zeros(1))
    with pytest.raises(DataError):
        load_mnist(tmp_path)


def test_keras_cache_genuine_file_is_used(tmp_path, monkeypatch):
    cache = tmp_path / "keras_home" / "datasets"
    cache.mkdir(parents=True)
    p = save_npz(cache / "mnist.npz", tiny_arrays())
    monkeypatch.setattr(data, "KERAS_MNIST_NPZ_SHA256", data.sha256(p))
    monkeypatch.setattr(data, "MNIST", data.MNIST.__class__(**{**data.MNIST.__dict__, "npz_sha256": data.sha256(p)}))
    (_, _), source = load_mnist(return_source=True)
    assert source == str(p)


def test_keras_cache_non_genuine_file_is_ignored_not_deleted(tmp_path):
    cache = tmp_path / "keras_home" / "datasets"
    cache.mkdir(parents=True)
    p = save_npz(cache / "mnist.npz", tiny_arrays())
    with pytest.raises(DataError) as e:
        load_mnist()
    assert "Keras cache" in str(e.value) and "no genuine file" in str(e.value)
    assert p.exists(), "a non-genuine file in the Keras cache must not be deleted"


def test_no_download_when_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("AECOURSE_NO_DOWNLOAD", "0")
    monkeypatch.setattr(data, "_online", lambda *a, **k: False)
    called = []
    monkeypatch.setattr(data, "_download", lambda *a, **k: called.append(a))
    with pytest.raises(DataError, match="no network"):
        load_mnist()
    assert not called


def test_download_is_checked_and_atomic(tmp_path, monkeypatch):
    """A download with the wrong checksum leaves nothing behind in the cache."""
    src = save_npz(tmp_path / "served.npz", tiny_arrays())
    monkeypatch.setenv("AECOURSE_NO_DOWNLOAD", "0")
    monkeypatch.setattr(data, "_online", lambda *a, **k: True)
    monkeypatch.setattr(data, "MNIST", data.MNIST.__class__(**{**data.MNIST.__dict__, "npz_url": src.as_uri()}))
    with pytest.raises(DataError, match="download"):
        load_mnist()
    cache = tmp_path / "course_cache"
    assert not cache.exists() or not any(cache.iterdir())
    good = data.MNIST.__class__(**{**data.MNIST.__dict__, "npz_url": src.as_uri(), "npz_sha256": data.sha256(src)})
    monkeypatch.setattr(data, "MNIST", good)
    (x_train, _), _ = load_mnist()
    assert len(x_train) == 50 and (cache / "mnist.npz").is_file()


def test_fashion_mnist_folder(tmp_path):
    arrays = tiny_arrays(seed=1)
    write_idx_folder(tmp_path / "fashion-mnist", arrays)
    (x_train, _), (_, y_test) = load_fashion_mnist(tmp_path, verify=False, layout="channels")
    assert x_train.shape == (50, 28, 28, 1)
    np.testing.assert_array_equal(y_test, arrays[3])
    assert len(data.FASHION_CLASSES) == 10


def test_fashion_mnist_missing_names_its_folder(tmp_path):
    with pytest.raises(DataError, match="fashion-mnist"):
        load_fashion_mnist(tmp_path)


def test_read_only_folder_is_enough(tmp_path):
    save_npz(tmp_path / "mnist.npz", tiny_arrays())
    os.chmod(tmp_path, 0o555)
    try:
        (x_train, _), _ = load_mnist(tmp_path)
        assert len(x_train) == 50
    finally:
        os.chmod(tmp_path, 0o755)


# ---------------------------------------------------------------- the real data, when given
def test_real_mnist_npz_and_idx_agree(data_dir, tmp_path):
    (a, ya), (b, yb) = load_mnist(data_dir)
    assert a.shape == (60000, 28, 28) and b.shape == (10000, 28, 28)
    assert np.bincount(ya, minlength=10).min() > 5000
    if (data_dir / "mnist").is_dir():
        link = tmp_path / "idx_only"
        link.mkdir()
        shutil.copytree(data_dir / "mnist", link / "mnist")
        (c, yc), (d, yd) = load_mnist(link)  # verifies the published checksums
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(yb, yd)


def test_real_fashion_mnist(data_dir):
    if not (data_dir / "fashion-mnist").is_dir():
        pytest.skip("no fashion-mnist/ in the data folder")
    (x, y), (xt, yt) = load_fashion_mnist(data_dir)
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
