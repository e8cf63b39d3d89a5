"""Call forms every from-scratch BatchNorm accepts or refuses as torch.nn
does, beyond the option-by-option comparisons of test_batchnorm.py and
test_practice_layers.py: the constructor's positional order, an empty
batch, a state dict from before num_batches_tracked, tracking switched on
after construction, and (SyncBatchNorm) a second derivative and eps."""

import pytest
import torch
from torch import nn

from snippets.layers.batchnorm import BatchNorm
from snippets.layers.lite_batchnorm import LiteBatchNorm
from snippets.layers.small_batch import BatchRenorm, GhostBatchNorm
from snippets.layers.sync_batchnorm import SyncBatchNorm

C = 3
# Each helper built from torch.nn.BatchNorm1d's positional arguments:
# (num_features, eps, momentum, affine, track_running_stats, device, dtype)
POSITIONAL = (C, 1e-3, 0.3, True, True, "cpu", torch.float64)
MAKERS = {
    "BatchNorm": lambda *a, **k: BatchNorm(*a, **k),
    "LiteBatchNorm": lambda *a, **k: LiteBatchNorm(*a, **k),
    "BatchRenorm": lambda *a, **k: BatchRenorm(*a, **k),
    # SyncBatchNorm has process_group after track_running_stats, as torch's
    "SyncBatchNorm": lambda *a, **k: SyncBatchNorm(
        *a[:5], *([None] if len(a) > 5 else []), *a[5:], **k),
    # GhostBatchNorm takes its virtual batch size second, then the rest
    "GhostBatchNorm": lambda *a, **k: GhostBatchNorm(a[0], 4, *a[1:], **k),
}


@pytest.mark.parametrize("name", MAKERS)
def test_constructor_takes_torch_s_positional_order(name):
    ours = MAKERS[name](*POSITIONAL)
    theirs = nn.BatchNorm1d(*POSITIONAL)
    assert (ours.eps, ours.momentum, ours.affine,
            ours.track_running_stats) == (1e-3, 0.3, True, True)
    assert ours.weight.dtype == ours.running_var.dtype == torch.float64
    ours.load_state_dict(theirs.state_dict())


@pytest.mark.parametrize("name", ["BatchNorm", "LiteBatchNorm",
                                  "BatchRenorm", "GhostBatchNorm"])
@pytest.mark.parametrize("shape", [(0, C), (0, C, 5), (0, C, 4, 4)])
def test_an_empty_batch_in_training_is_what_torch_returns(name, shape):
    ours = MAKERS[name](C)
    theirs = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d}[
        len(shape)](C)
    x = torch.randn(shape)
    y_ours, y_theirs = ours(x), theirs(x)
    assert y_ours.shape == y_theirs.shape == x.shape
    for key, value in theirs.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[key], value)
    assert ours.num_batches_tracked.item() == 1


@pytest.mark.parametrize("name", MAKERS)
def test_a_state_dict_from_before_num_batches_tracked_loads(name):
    old = nn.BatchNorm1d(C).state_dict()
    del old["num_batches_tracked"]
    old._metadata[""]["version"] = 1
    theirs, ours = nn.BatchNorm1d(C), MAKERS[name](C)
    theirs.load_state_dict(old)
    ours.load_state_dict(old)
    assert ours.num_batches_tracked.item() == \
        theirs.num_batches_tracked.item() == 0
    # from version 2 on, the key is required, as in torch
    old._metadata[""]["version"] = 2
    with pytest.raises(RuntimeError, match="num_batches_tracked"):
        nn.BatchNorm1d(C).load_state_dict(old)
    with pytest.raises(RuntimeError, match="num_batches_tracked"):
        MAKERS[name](C).load_state_dict(old)


# BatchRenorm is left out: it needs running statistics from the start
@pytest.mark.parametrize("name", [n for n in MAKERS if n != "BatchRenorm"])
def test_tracking_switched_on_after_construction_runs_as_torch(name):
    ours = MAKERS[name](C, track_running_stats=False)
    theirs = nn.BatchNorm1d(C, track_running_stats=False)
    ours.track_running_stats = theirs.track_running_stats = True
    x = torch.randn(8, C)
    parts = x.split(4) if name == "GhostBatchNorm" else [x]
    torch.testing.assert_close(ours(x), torch.cat([theirs(p)
                                                   for p in parts]))
    assert ours.running_mean is None and ours.num_batches_tracked is None


def test_sync_batchnorm_refuses_a_second_derivative():
    """Its backward is first-order only: asked for a second derivative it
    raises, rather than give a wrong one."""
    x = torch.randn(6, C, 2, dtype=torch.float64, requires_grad=True)
    layer = SyncBatchNorm(C).double()
    (grad,) = torch.autograd.grad(layer(x).pow(3).sum(), x,
                                  create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        grad.sum().backward()


@pytest.mark.parametrize("eps, track, training, message", [
    (0.0, False, False, "must be positive"),
    (-1.0, False, False, "must be positive"),
    (-1.0, True, False, "must be non-negative"),
    (0.0, True, True, "must be positive"),
])
def test_sync_batchnorm_checks_eps_as_torch(eps, track, training, message):
    x = torch.randn(4, C)
    for layer in (nn.BatchNorm1d(C, eps=eps, track_running_stats=track),
                  SyncBatchNorm(C, eps=eps, track_running_stats=track)):
        layer.train(training)
        with pytest.raises(ValueError, match=message):
            layer(x)
