"""The data helper: offline from Debian's files, a clear error otherwise."""

import urllib.error

import pytest
import torch
from torchvision import datasets

from snippets.support import data


def test_debian_files_are_used_offline(tmp_path):
    if not (data.DEBIAN_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.fail("dataset-fashion-mnist is not installed: run make setup")
    x, y = data.load("fashion_mnist", train=False, root=tmp_path)
    raw = tmp_path / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(data.FASHION_FILES)
    assert x.shape == (10000, 1, 28, 28) and y.shape == (10000,)
    assert torch.bincount(y).tolist() == [1000] * 10  # balanced test set


def test_missing_data_says_how_to_get_it(tmp_path, monkeypatch):
    def no_network(self):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(datasets.FashionMNIST, "download", no_network)
    with pytest.raises(FileNotFoundError) as error:
        data.load("fashion_mnist", root=tmp_path, debian_dir=tmp_path / "x")
    message = str(error.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(tmp_path / "FashionMNIST" / "raw") in message
    assert isinstance(error.value.__cause__, urllib.error.URLError)


def test_missing_cifar_says_how_to_get_it(tmp_path, monkeypatch):
    def no_network(self):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(datasets.CIFAR10, "download", no_network)
    with pytest.raises(FileNotFoundError, match="CIFAR-10 was not found"):
        data.load("cifar10", root=tmp_path)


def test_unknown_data_set_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown data set 'mnist'"):
        data.load("mnist", root=tmp_path)


@pytest.mark.parametrize("train", [True, False])
def test_files_read_directly_are_torchvisions_data(tmp_path, train):
    x, y = data.load("fashion_mnist", train=train, root=tmp_path)
    theirs = datasets.FashionMNIST(str(tmp_path), train=train)
    assert torch.equal(x, theirs.data.unsqueeze(1).float() / 255)
    assert torch.equal(y, theirs.targets) and y.dtype == torch.int64


def test_loading_fashion_mnist_does_not_import_torchvision(tmp_path):
    import subprocess
    import sys
    code = ("import sys; from snippets.support import data; "
            f"data.load('fashion_mnist', train=False, root={str(tmp_path)!r})"
            "; print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_damaged_data_file_says_so(tmp_path):
    data.load("fashion_mnist", train=False, root=tmp_path)
    path = tmp_path / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="header says.*damaged"):
        data.load("fashion_mnist", train=False, root=tmp_path)
