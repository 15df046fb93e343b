"""Load MNIST and Fashion-MNIST without surprises.

Where the data comes from, in order:

1. a folder given as ``data_dir=`` or in the ``AECOURSE_DATA_DIR`` environment
   variable, holding ``mnist.npz`` or ``mnist/`` with the four original IDX
   ``.gz`` files (Fashion-MNIST: ``fashion-mnist/`` with the four files under
   Keras' names);
2. the Keras cache (``~/.keras/datasets``), when it holds the genuine files;
3. a download into the course's own cache (``~/.cache/aecourse``), checked
   against the published SHA-256 sums, when the network is reachable.

Nothing is ever written into or deleted from a data folder you point at.
Every failure raises :class:`DataError` with one message that says where we
looked and how to fix it.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import struct
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENV_VAR = "AECOURSE_DATA_DIR"
IDX_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
# Published SHA-256 sums of the original files.
MNIST_IDX_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
FASHION_IDX_SHA256 = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
# Keras' own mnist.npz (the file keras.datasets.mnist downloads).
KERAS_MNIST_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
MNIST_NPZ_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
FASHION_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_IMAGE_MAGIC, _LABEL_MAGIC = 2051, 2049


class DataError(RuntimeError):
    """The data could not be found or is not what it claims to be."""


@dataclass(frozen=True)
class _Dataset:
    name: str            # "MNIST"
    folder: str          # sub-folder of a data dir holding the IDX files
    idx_sha256: dict
    npz_name: str | None  # file name of an npz with Keras' keys, if any
    npz_sha256: str | None
    npz_url: str | None
    idx_url: str | None


MNIST = _Dataset("MNIST", "mnist", MNIST_IDX_SHA256, "mnist.npz",
                 KERAS_MNIST_NPZ_SHA256, MNIST_NPZ_URL, None)
FASHION = _Dataset("Fashion-MNIST", "fashion-mnist", FASHION_IDX_SHA256, None,
                   None, None, FASHION_URL)


def sha256(path: str | os.PathLike) -> str:
    """The SHA-256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- readers
def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one gzipped IDX file (the original MNIST format) into a uint8 array."""
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path} is not a readable gzip file ({e}); it may be truncated or corrupt.") from e
    if len(raw) < 8:
        raise DataError(f"{path} is too short to be an IDX file ({len(raw)} bytes after gunzip).")
    magic, n = struct.unpack(">II", raw[:8])
    if magic == _IMAGE_MAGIC:
        if len(raw) < 16:
            raise DataError(f"{path}: IDX image header is truncated.")
        rows, cols = struct.unpack(">II", raw[8:16])
        shape, offset = (n, rows, cols), 16
    elif magic == _LABEL_MAGIC:
        shape, offset = (n,), 8
    else:
        raise DataError(f"{path}: magic number {magic} is neither {_IMAGE_MAGIC} (images) nor {_LABEL_MAGIC} (labels).")
    expected = int(np.prod(shape))
    if len(raw) - offset != expected:
        raise DataError(f"{path}: header promises {expected} bytes of data for shape {shape} "
                        f"but the file holds {len(raw) - offset}; it is truncated or corrupt.")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape).copy()


def _read_idx_folder(folder: Path, ds: _Dataset, verify: bool):
    missing = [n for n in IDX_NAMES if not (folder / n).is_file()]
    if missing:
        raise DataError(f"{folder} lacks {', '.join(missing)}.")
    if verify:
        for n in IDX_NAMES:
            got = sha256(folder / n)
            if got != ds.idx_sha256[n]:
                raise DataError(f"{folder / n} does not match the published {ds.name} checksum "
                                f"(sha256 {got[:12]}…, expected {ds.idx_sha256[n][:12]}…); "
                                "the file is corrupt or not the original. Replace it with a fresh copy.")
    arrays = [read_idx(folder / n) for n in IDX_NAMES]
    return tuple(arrays)


def _read_npz(path: Path):
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = set(f.files)
            need = {"x_train", "y_train", "x_test", "y_test"}
            if not need <= keys:
                raise DataError(f"{path} lacks the arrays {sorted(need - keys)} (it holds {sorted(keys)}).")
            return f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise DataError(f"{path} is not a readable .npz file ({type(e).__name__}: {e}); "
                        "it may be truncated or corrupt.") from e


def validate(x_train, y_train, x_test, y_test, where: str = "data") -> None:
    """Check shapes, dtypes and label range; raise DataError naming ``where``."""
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DataError(f"{where}: x_{name} has shape {x.shape}; expected (N, 28, 28).")
        if x.dtype != np.uint8:
            raise DataError(f"{where}: x_{name} has dtype {x.dtype}; expected uint8 pixels 0..255.")
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise DataError(f"{where}: y_{name} has shape {y.shape}; expected ({x.shape[0]},), one label per image.")
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{where}: y_{name} has dtype {y.dtype}; expected integer labels.")
        if y.size and (y.min() < 0 or y.max() > 9):
            raise DataError(f"{where}: y_{name} holds labels in [{y.min()}, {y.max()}]; expected 0..9.")
        if x.shape[0] == 0:
            raise DataError(f"{where}: x_{name} is empty.")


# --------------------------------------------------------------------------- sources
def default_cache_dir() -> Path:
    """Where downloads go: ``$AECOURSE_CACHE_DIR`` or ``~/.cache/aecourse``."""
    return Path(os.environ.get("AECOURSE_CACHE_DIR", Path.home() / ".cache" / "aecourse"))


def keras_cache_dir() -> Path:
    """Keras' dataset cache: ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def _from_folder(folder: Path, ds: _Dataset, verify: bool):
    """Try one user folder; return arrays and a description, or raise DataError."""
    problems = []
    if ds.npz_name and (folder / ds.npz_name).is_file():
        arrays = _read_npz(folder / ds.npz_name)
        validate(*arrays, where=str(folder / ds.npz_name))
        return arrays, str(folder / ds.npz_name)
    for sub in (folder / ds.folder,):
        if sub.is_dir():
            arrays = _read_idx_folder(sub, ds, verify)
            validate(*arrays, where=str(sub))
            return arrays, str(sub)
        problems.append(f"no {sub}/")
    if ds.npz_name:
        problems.insert(0, f"no {folder / ds.npz_name}")
    raise DataError(f"{folder} holds no {ds.name}: " + "; ".join(problems) + ".")


def _from_keras_cache(ds: _Dataset):
    cache = keras_cache_dir()
    if ds.npz_name:
        p = cache / ds.npz_name
        if p.is_file() and sha256(p) == ds.npz_sha256:
            arrays = _read_npz(p)
            validate(*arrays, where=str(p))
            return arrays, str(p)
    else:
        sub = cache / ds.folder
        if sub.is_dir() and all((sub / n).is_file() for n in IDX_NAMES):
            try:
                arrays = _read_idx_folder(sub, ds, verify=True)
            except DataError:
                return None
            validate(*arrays, where=str(sub))
            return arrays, str(sub)
    return None


def _online(host: str = "storage.googleapis.com", timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _download(url: str, dest: Path, expected_sha256: str, timeout: float = 30.0) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310
            while block := r.read(1 << 20):
                out.write(block)
        got = sha256(tmp)
        if got != expected_sha256:
            raise DataError(f"downloaded {url} but its sha256 {got[:12]}… is not the published {expected_sha256[:12]}….")
        os.replace(tmp, dest)
    except Exception:
        Path(tmp).unlink(missing_ok=True)
        raise


def _from_download(ds: _Dataset, timeout: float):
    cache = default_cache_dir()
    if ds.npz_name:
        dest = cache / ds.npz_name
        if not (dest.is_file() and sha256(dest) == ds.npz_sha256):
            _download(ds.npz_url, dest, ds.npz_sha256, timeout)
        arrays = _read_npz(dest)
        validate(*arrays, where=str(dest))
        return arrays, str(dest)
    sub = cache / ds.folder
    for n in IDX_NAMES:
        if not ((sub / n).is_file() and sha256(sub / n) == ds.idx_sha256[n]):
            _download(ds.idx_url + n, sub / n, ds.idx_sha256[n], timeout)
    arrays = _read_idx_folder(sub, ds, verify=True)
    validate(*arrays, where=str(sub))
    return arrays, str(sub)


def _fix_hint(ds: _Dataset) -> str:
    files = (f"{ds.npz_name} or {ds.folder}/ with the four IDX .gz files" if ds.npz_name
             else f"{ds.folder}/ with the four IDX .gz files")
    return (f"Fix: put {files} in a folder and run `export {ENV_VAR}=/path/to/that/folder` "
            "(or pass data_dir=...), or connect to the internet so the course can download it.")


def _locate(ds: _Dataset, data_dir, verify: bool, download: bool | None, timeout: float):
    """Find the dataset; return (arrays, source description)."""
    explicit = data_dir if data_dir is not None else os.environ.get(ENV_VAR) or None
    if explicit is not None:
        folder = Path(explicit).expanduser()
        origin = "data_dir" if data_dir is not None else f"${ENV_VAR}"
        if not folder.is_dir():
            raise DataError(f"{origin} points at {folder}, which is not a folder. " + _fix_hint(ds))
        try:
            return _from_folder(folder, ds, verify)
        except DataError as e:
            raise DataError(f"Could not load {ds.name} from {origin} ({folder}): {e} " + _fix_hint(ds)) from None
    looked = [f"${ENV_VAR} (not set)"]
    hit = _from_keras_cache(ds)
    if hit is not None:
        return hit
    looked.append(f"the Keras cache {keras_cache_dir()} (no genuine file)")
    if download is None:
        download = os.environ.get("AECOURSE_NO_DOWNLOAD") != "1"
    if download:
        if _online():
            try:
                return _from_download(ds, timeout)
            except (OSError, DataError) as e:
                looked.append(f"a download to {default_cache_dir()} (failed: {e})")
        else:
            looked.append("a download (no network: storage.googleapis.com is unreachable)")
    else:
        looked.append("no download (switched off)")
    raise DataError(f"{ds.name} not found. Looked in: " + "; ".join(looked) + ". " + _fix_hint(ds))


def _shape(x: np.ndarray, dtype: str, layout: str) -> np.ndarray:
    if dtype == "float32":
        x = x.astype("float32") / 255.0
    elif dtype != "uint8":
        raise ValueError(f"dtype must be 'uint8' or 'float32', not {dtype!r}")
    if layout == "flat":
        return x.reshape(len(x), -1)
    if layout == "channels":
        return x[..., None]
    if layout == "image":
        return x
    raise ValueError(f"layout must be 'image' (N,28,28), 'channels' (N,28,28,1) or 'flat' (N,784), not {layout!r}")


def _subset(x, y, n, rng, split):
    if n is None or n >= len(x):
        return x, y
    if n <= 0:
        raise ValueError(f"n_{split} must be positive, not {n}")
    idx = np.sort(rng.choice(len(x), size=n, replace=False))
    return x[idx], y[idx]


def _load(ds, data_dir, dtype, layout, n_train, n_test, seed, verify, download, timeout, return_source):
    (x_train, y_train, x_test, y_test), source = _locate(ds, data_dir, verify, download, timeout)
    rng = np.random.default_rng(seed)
    x_train, y_train = _subset(x_train, y_train, n_train, rng, "train")
    x_test, y_test = _subset(x_test, y_test, n_test, rng, "test")
    out = ((_shape(x_train, dtype, layout), y_train.astype("int64")),
           (_shape(x_test, dtype, layout), y_test.astype("int64")))
    return (out, source) if return_source else out


def load_mnist(data_dir=None, *, dtype="uint8", layout="image", n_train=None, n_test=None, seed=0,
               verify=True, download=None, timeout=30.0, return_source=False):
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)``, shaped like Keras'.

    dtype: ``"uint8"`` (0..255) or ``"float32"`` (scaled to [0, 1]).
    layout: ``"image"`` (N, 28, 28), ``"channels"`` (N, 28, 28, 1) or ``"flat"`` (N, 784).
    n_train, n_test: a seeded random subset of that size (order kept), e.g. for smoke runs.
    verify: check original IDX files against their published SHA-256 sums.
    download: allow a download when nothing is found (default: yes, unless
        ``AECOURSE_NO_DOWNLOAD=1``); it is tried only when the network answers.
    """
    return _load(MNIST, data_dir, dtype, layout, n_train, n_test, seed, verify, download, timeout, return_source)


def load_fashion_mnist(data_dir=None, *, dtype="uint8", layout="image", n_train=None, n_test=None, seed=0,
                       verify=True, download=None, timeout=30.0, return_source=False):
    """Load Fashion-MNIST like :func:`load_mnist`; class names are in ``FASHION_CLASSES``."""
    return _load(FASHION, data_dir, dtype, layout, n_train, n_test, seed, verify, download, timeout, return_source)


# --------------------------------------------------------------------------- the data folder (for the grader)
def data_dir() -> Path | None:
    """The data folder named by ``$AECOURSE_DATA_DIR``, or None when it is not set (or not a folder)."""
    d = os.environ.get(ENV_VAR)
    return Path(d).expanduser() if d and Path(d).expanduser().is_dir() else None


def mnist_files(folder: str | os.PathLike | None = None) -> dict[str, Path]:
    """The MNIST files a copy of the data folder needs, as ``{relative name: path}``.

    ``folder`` defaults to :func:`data_dir`; empty when there is none. The npz wins over the
    IDX folder, as in :func:`load_mnist`.
    """
    folder = Path(folder) if folder is not None else data_dir()
    if folder is None:
        return {}
    if (folder / MNIST.npz_name).is_file():
        return {MNIST.npz_name: folder / MNIST.npz_name}
    sub = folder / MNIST.folder
    return {f"{MNIST.folder}/{n}": sub / n for n in IDX_NAMES if (sub / n).is_file()}
