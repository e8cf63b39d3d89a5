"""Real data for the examples: Fashion-MNIST (default) and CIFAR-10.

Both come through ``torchvision.datasets``. Where the files are not there
yet, Fashion-MNIST is taken from Debian's ``dataset-fashion-mnist`` package
when it is installed, else torchvision downloads it; if neither works the
error says how to get the data.

The images are decoded once into one tensor, not one PIL image per sample
through torchvision's ``__getitem__``, which costs a large share of a small
model's training time. Fashion-MNIST files already on disk are read
directly (the IDX format is a short header and raw bytes), without
importing torchvision, whose import is about as slow as torch's.
"""

import gzip
import os
import shutil
import struct
import tempfile
from pathlib import Path

import torch

from snippets.support import settings

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
TITLES = {"fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
HOW_TO_GET = {
    "fashion_mnist": (
        "Fashion-MNIST was not found. Either install Debian's copy "
        "(`sudo apt-get install dataset-fashion-mnist`, or `make setup`), "
        "or run once with internet access so torchvision can download it, "
        "or put the four files {files} into {raw}."),
    "cifar10": (
        "CIFAR-10 was not found. Run once with internet access so "
        "torchvision can download it into {root}, or copy "
        "cifar-10-python.tar.gz there."),
}


def data_root(environ=None):
    """Folder holding the data sets: ``$DOCS_DATA_DIR``, else ``data/`` in
    the folder you run from.

    >>> data_root({"DOCS_DATA_DIR": "/tmp/d"}).as_posix()
    '/tmp/d'
    >>> data_root({}) == Path.cwd() / "data"
    True
    """
    return settings.Settings.from_env(environ).data_dir or Path.cwd() / "data"


def _note_reads(paths):
    """Tell the site's build which data files this run read (it re-runs the
    example when they change); a no-op outside the build."""
    reads = settings.Settings.from_env().reads_file
    if reads:
        with open(reads, "a", encoding="utf-8") as f:
            f.writelines(f"{Path(p).resolve()}\n" for p in paths)


def _copy_debian_fashion_mnist(raw, debian_dir):
    """Decompress Debian's .gz files to the names torchvision expects."""
    sources = [debian_dir / f"{name}.gz" for name in FASHION_FILES]
    if not all(path.is_file() for path in sources):
        return False
    raw.mkdir(parents=True, exist_ok=True)
    for source, name in zip(sources, FASHION_FILES):
        # A private partial file, renamed at the end: never half a file,
        # even when two examples running at once copy the same data.
        with gzip.open(source, "rb") as fin, tempfile.NamedTemporaryFile(
                dir=raw, prefix=f"{name}.", suffix=".part",
                delete=False) as fout:
            shutil.copyfileobj(fin, fout)
        os.replace(fout.name, raw / name)
    return True


def _read_idx(path):
    """The uint8 tensor in an IDX file (Fashion-MNIST's format: a 4-byte
    magic number whose last byte is the number of dimensions, the sizes,
    then the values), as torchvision reads it."""
    data = Path(path).read_bytes()
    ndim = data[3] if len(data) > 4 else 0
    if data[:3] != b"\0\0\x08" or not 1 <= ndim <= 3:
        raise ValueError(f"{path} is not an IDX file of bytes")
    start = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", data[4:start])
    if len(data) - start != torch.Size(shape).numel():
        raise ValueError(f"{path} holds {len(data) - start} values where "
                         f"its header says {shape}: damaged? delete it to "
                         "get a fresh copy")
    return torch.frombuffer(bytearray(data[start:]),
                            dtype=torch.uint8).reshape(shape)


def _fashion_mnist_files(root, train, debian_dir):
    """Fashion-MNIST's images and labels read from its files, or None when
    they are not there (torchvision then downloads them)."""
    raw = root / "FashionMNIST" / "raw"
    if not all((raw / f).is_file() for f in FASHION_FILES):
        _copy_debian_fashion_mnist(raw, debian_dir)
    prefix = "train" if train else "t10k"
    paths = [raw / f for f in FASHION_FILES if f.startswith(prefix)]
    if not all(p.is_file() for p in paths):
        return None
    _note_reads(paths)
    return _read_idx(paths[0]), _read_idx(paths[1]).long()


def _torchvision_dataset(name, root, train, debian_dir):
    from torchvision import datasets

    if name == "fashion_mnist":
        raw = root / "FashionMNIST" / "raw"
        if not all((raw / f).is_file() for f in FASHION_FILES):
            _copy_debian_fashion_mnist(raw, debian_dir)
        make = datasets.FashionMNIST
    elif name == "cifar10":
        make = datasets.CIFAR10
    else:
        raise ValueError(f"unknown data set {name!r}; "
                         "use 'fashion_mnist' or 'cifar10'")
    try:
        dataset = make(str(root), train=train, download=False)
    except RuntimeError:
        pass  # not there: try a download, for readers with internet
    else:
        _note_reads(_files_of(dataset, name, train))
        return dataset
    try:
        dataset = make(str(root), train=train, download=True)
    except Exception as error:  # no network, a proxy, a full disk, ...
        message = HOW_TO_GET[name].format(
            files=", ".join(FASHION_FILES), root=root,
            raw=root / "FashionMNIST" / "raw")
        raise FileNotFoundError(message) from error
    _note_reads(_files_of(dataset, name, train))
    return dataset


def _files_of(dataset, name, train):
    """The files ``dataset`` was read from."""
    if name == "fashion_mnist":
        prefix = "train" if train else "t10k"
        return [Path(dataset.raw_folder) / f for f in FASHION_FILES
                if f.startswith(prefix)]
    folder = Path(dataset.root) / dataset.base_folder
    names = dataset.train_list if train else dataset.test_list
    return [folder / n for n, _ in names] + [folder / dataset.meta["filename"]]


def load(name="fashion_mnist", train=True, root=None, debian_dir=DEBIAN_DIR):
    """Return ``(images, labels)``: float images in [0, 1], shape
    (N, C, H, W), and int64 labels.

    >>> x, y = load("fashion_mnist", train=False)
    >>> x.shape, x.dtype
    (torch.Size([10000, 1, 28, 28]), torch.float32)
    >>> y.shape, y.dtype
    (torch.Size([10000]), torch.int64)
    >>> float(x.min()), float(x.max())
    (0.0, 1.0)
    >>> sorted(set(y.tolist())) == list(range(10))
    True
    """
    root = Path(root) if root else data_root()
    found = None
    if name == "fashion_mnist":
        found = _fashion_mnist_files(root, train, Path(debian_dir))
    if found is not None:
        images, labels = found
    else:
        dataset = _torchvision_dataset(name, root, train, Path(debian_dir))
        images = torch.as_tensor(dataset.data)
        labels = torch.as_tensor(dataset.targets, dtype=torch.int64)
    if images.ndim == 3:  # (N, H, W) grey images -> (N, 1, H, W)
        images = images.unsqueeze(1)
    else:  # CIFAR-10 stores (N, H, W, C) -> (N, C, H, W)
        images = images.permute(0, 3, 1, 2).contiguous()
    return images.float().div_(255), labels


def batches(x, y, batch_size, generator=None, shuffle=True):
    """Yield mini-batches ``(x[i], y[i])``, reshuffled on every call.

    >>> x, y = torch.arange(10.0), torch.arange(10)
    >>> g = torch.Generator().manual_seed(0)
    >>> [len(xb) for xb, yb in batches(x, y, 4, g)]
    [4, 4, 2]
    >>> sorted(torch.cat([yb for _, yb in batches(x, y, 4, g)]).tolist())
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """
    n = len(x)
    order = torch.randperm(n, generator=generator) if shuffle else \
        torch.arange(n)
    for start in range(0, n, batch_size):
        index = order[start:start + batch_size]
        yield x[index], y[index]
