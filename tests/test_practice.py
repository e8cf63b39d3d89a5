"""Every statement the practice page makes about PyTorch and torchvision,
asserted against them (the distributed ones are in
test_practice_distributed.py, the small-batch layers in
test_practice_layers.py), with the conditions the page states."""

import copy

import pytest
import torch
import torchvision
from torch import nn
from torch.func import (
    functional_call,
    grad,
    replace_all_batch_norm_modules_,
    vmap,
)
from torch.utils.data import DataLoader, TensorDataset
from torchvision.ops.misc import FrozenBatchNorm2d

from snippets.experiments.models import mlp, no_norm
from snippets.experiments.resnet import (
    BasicBlock,
    parameter_groups,
    small_resnet,
)
from snippets.layers.small_batch import GhostBatchNorm

C = 4


def seeded(*shape, seed=0, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64) * 2 + shift


# --- gradient accumulation ---------------------------------------------------

def grads(model):
    return torch.cat([p.grad.flatten() for p in model.parameters()])


@pytest.mark.parametrize("momentum", [0.1, None])
def test_accumulation_is_ghost_batchnorm_on_the_whole_batch(momentum):
    """Accumulating 4 micro-batches of 8 through BatchNorm1d computes what
    GhostBatchNorm(virtual_batch_size=8) computes on the 32 at once:
    the same gradients and the same running statistics."""
    torch.manual_seed(0)
    accumulated = mlp(num_inputs=6, hidden=(5,),
                      norm=lambda c: nn.BatchNorm1d(c, momentum=momentum))
    ghost = copy.deepcopy(accumulated)
    ghost[2] = GhostBatchNorm(5, 8, momentum=momentum)
    ghost = ghost.double()
    accumulated = accumulated.double()
    x, y = seeded(32, 6), torch.arange(32) % 10
    for part, target in zip(x.split(8), y.split(8)):
        (nn.functional.cross_entropy(accumulated(part), target) / 4
         ).backward()
    nn.functional.cross_entropy(ghost(x), y).backward()
    torch.testing.assert_close(grads(accumulated), grads(ghost))
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(accumulated[2], name),
                                   getattr(ghost[2], name))


@pytest.mark.parametrize("norm, equal", [
    (no_norm, True), (lambda c: nn.GroupNorm(1, c), True),
    (nn.LayerNorm, True), (nn.BatchNorm1d, False)])
def test_accumulation_equals_the_batch_gradient_only_without_batchnorm(
        norm, equal):
    torch.manual_seed(0)
    model = mlp(num_inputs=6, hidden=(5,), norm=norm).double()
    x, y = seeded(32, 6), torch.arange(32) % 10
    nn.functional.cross_entropy(model(x), y).backward()
    whole = grads(model)
    model.zero_grad()
    for part, target in zip(x.split(8), y.split(8)):
        (nn.functional.cross_entropy(model(part), target) / 4).backward()
    assert torch.allclose(grads(model), whole, rtol=1e-10, atol=1e-12) \
        is equal


# --- the last batch ----------------------------------------------------------

def test_a_last_batch_of_one_raises_and_drop_last_skips_it():
    data = TensorDataset(torch.randn(16 * 64 + 1, 784))
    loader = DataLoader(data, batch_size=64)
    assert len(loader) == 17 and len(list(loader)[-1][0]) == 1
    model = mlp().train()
    with pytest.raises(ValueError, match="Expected more than 1 value per "
                       r"channel when training, got input size "
                       r"torch.Size\(\[1, 128\]\)"):
        model(list(loader)[-1][0])
    model.eval()(list(loader)[-1][0])  # eval: running statistics, fine
    dropped = DataLoader(data, batch_size=64, shuffle=True, drop_last=True,
                         generator=torch.Generator().manual_seed(3))
    assert len(dropped) == 16
    assert {len(xb) for xb, in dropped} == {64}
    # with shuffle=True, the sample that comes last in the epoch's order is
    # left out: the same shuffle without drop_last has it alone at the end
    index = TensorDataset(torch.arange(len(data)))
    kept = torch.cat([i for i, in DataLoader(
        index, batch_size=64, shuffle=True, drop_last=True,
        generator=torch.Generator().manual_seed(3))])
    order = torch.cat([i for i, in DataLoader(
        index, batch_size=64, shuffle=True,
        generator=torch.Generator().manual_seed(3))])
    assert torch.equal(kept, order[:-1]) and len(kept) == 16 * 64


# --- FrozenBatchNorm2d -------------------------------------------------------

def trained_bn(eps=1e-5):
    bn = nn.BatchNorm2d(C, eps=eps).double()
    with torch.no_grad():
        bn.weight.copy_(seeded(C, seed=1))
        bn.bias.copy_(seeded(C, seed=2))
    for seed in range(3):
        bn(seeded(8, C, 3, 3, seed=seed, shift=3.0))
    return bn.eval()


def test_frozen_batchnorm_holds_buffers_only():
    frozen = FrozenBatchNorm2d(C)
    assert list(frozen.parameters()) == []
    assert [n for n, _ in frozen.named_buffers()] == [
        "weight", "bias", "running_mean", "running_var"]
    assert frozen.eps == 1e-5 == nn.BatchNorm2d(C).eps


def test_frozen_batchnorm_is_eval_mode_batchnorm_and_ignores_train():
    bn = trained_bn()
    frozen = FrozenBatchNorm2d(C).double()
    frozen.load_state_dict(bn.state_dict())  # strict loading works
    x = seeded(5, C, 4, 4, seed=7, shift=1.0)
    torch.testing.assert_close(frozen(x), bn(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(frozen.train()(x), bn(x), rtol=1e-12,
                               atol=1e-12)


def test_loading_drops_num_batches_tracked_and_eps_is_not_loaded():
    bn = trained_bn(eps=1e-3)
    state = bn.state_dict()
    assert "num_batches_tracked" in state and "eps" not in str(list(state))
    frozen = FrozenBatchNorm2d(C).double()
    frozen.load_state_dict(state)
    assert "num_batches_tracked" not in dict(frozen.named_buffers())
    assert "num_batches_tracked" in state  # the caller's dict is intact
    assert frozen.eps == 1e-5  # the default, not the layer's 1e-3


def test_frozen_batchnorm_does_not_check_its_input_rank():
    """A (N, C) input broadcasts against the (1, C, 1, 1) scale: no error,
    a wrongly shaped output."""
    out = FrozenBatchNorm2d(C)(torch.randn(6, C))
    assert out.shape == (1, C, 6, C)


@pytest.mark.parametrize("pretrained, expected", [
    (True, FrozenBatchNorm2d), (False, nn.BatchNorm2d)])
def test_fasterrcnn_freezes_the_backbone_norms_when_pretrained(
        monkeypatch, pretrained, expected):
    """fasterrcnn_resnet50_fpn builds its ResNet-50 with FrozenBatchNorm2d
    when it starts from pretrained backbone weights (not downloaded here:
    resnet50 is replaced by one that records its norm_layer)."""
    from torchvision.models import ResNet50_Weights
    from torchvision.models.detection import faster_rcnn

    seen = []

    def resnet50(weights=None, progress=True, norm_layer=None, **kwargs):
        seen.append(norm_layer)
        return torchvision.models.resnet50(weights=None,
                                           norm_layer=norm_layer)

    monkeypatch.setattr(faster_rcnn, "resnet50", resnet50)
    faster_rcnn.fasterrcnn_resnet50_fpn(
        weights=None, weights_backbone=(
            ResNet50_Weights.IMAGENET1K_V1 if pretrained else None),
        num_classes=3)
    assert seen == [expected]


# --- autocast and channels_last ----------------------------------------------

def test_batchnorm_under_cpu_autocast_bfloat16():
    conv, bn = nn.Conv2d(1, C, 3), nn.BatchNorm2d(C)
    x = torch.randn(8, 1, 6, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = conv(x)
        assert h.dtype == torch.bfloat16
        assert bn(h).dtype == torch.bfloat16       # a bfloat16 input
        assert bn(h.float()).dtype == torch.float32  # a float32 input
    for tensor in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
        assert tensor.dtype == torch.float32
    assert bn.num_batches_tracked.item() == 2  # it did train


def test_outside_autocast_a_bfloat16_input_gives_a_bfloat16_output():
    bn = nn.BatchNorm2d(C)  # float32 parameters and buffers
    out = bn(torch.randn(8, C, 3, 3).to(torch.bfloat16))
    assert out.dtype == torch.bfloat16 and bn.running_var.dtype == \
        torch.float32


def test_bfloat16_keeps_8_significant_bits():
    assert torch.finfo(torch.bfloat16).eps == 2 ** -7  # 1 + 7 stored bits


def test_channels_last_in_channels_last_out():
    x = torch.randn(8, C, 5, 5).contiguous(memory_format=torch.channels_last)
    for training in (True, False):
        out = nn.BatchNorm2d(C).train(training)(x)
        assert out.is_contiguous(memory_format=torch.channels_last)
        assert not out.is_contiguous()


# --- per-sample gradients ----------------------------------------------------

def cnn(norm):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, C, 3), norm(C), nn.ReLU(), nn.Flatten(),
                         nn.Linear(C * 4 * 4, 3))


def per_sample(model, x, y):
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def loss(p, b, sample, target):
        out = functional_call(model, (p, b), (sample[None],))
        return nn.functional.cross_entropy(out, target[None])

    return vmap(grad(loss), in_dims=(None, None, 0, 0))(params, buffers,
                                                         x, y)


def one_by_one(model, x, y):
    """Each sample as a batch of its own, with autograd."""
    out = []
    for sample, target in zip(x, y):
        model.zero_grad()
        nn.functional.cross_entropy(model(sample[None]), target[None]
                                    ).backward()
        out.append({k: p.grad.clone() for k, p in model.named_parameters()})
    return {k: torch.stack([o[k] for o in out]) for k in out[0]}


X, Y = torch.randn(6, 1, 6, 6), torch.tensor([0, 1, 2, 0, 1, 2])


def test_vmap_grad_through_training_mode_batchnorm_fails():
    with pytest.raises(RuntimeError, match="Batch norm got a batched tensor "
                       "as input while the running_mean or running_var, "
                       "which will be updated in place, were not batched"):
        per_sample(cnn(nn.BatchNorm2d).train(), X, Y)


def test_vmap_grad_with_buffers_left_in_the_model_fails_otherwise():
    """practice.md: with only the parameters passed, the error is about
    the in-place update of a captured buffer instead."""
    model = cnn(nn.BatchNorm2d).train()
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, sample, target):
        out = functional_call(model, p, (sample[None],))
        return nn.functional.cross_entropy(out, target[None])

    with pytest.raises(RuntimeError, match="in-place operation .* would "
                       "mutate a captured Tensor"):
        vmap(grad(loss), in_dims=(None, 0, 0))(params, X, Y)


def test_vmap_grad_in_eval_mode_is_the_per_sample_gradient():
    model = cnn(nn.BatchNorm2d)
    model.train()(X * 2 + 1)  # non-trivial running statistics
    model.eval()
    got, expected = per_sample(model, X, Y), one_by_one(model, X, Y)
    for k in expected:
        torch.testing.assert_close(got[k], expected[k])


def test_replace_all_batch_norm_modules_changes_exactly_this():
    model = cnn(nn.BatchNorm2d)
    model.add_module("untracked", nn.BatchNorm1d(3, track_running_stats=False))
    model.add_module("instance", nn.InstanceNorm1d(3, affine=True,
                                                   track_running_stats=True))
    before = copy.deepcopy(model)
    weight = model[1].weight
    out = replace_all_batch_norm_modules_(model)
    assert out is model  # in place
    layer = model[1]
    assert type(layer) is nn.BatchNorm2d and layer.training
    assert layer.running_mean is None and layer.running_var is None
    assert layer.num_batches_tracked is None
    assert not layer.track_running_stats
    assert layer.weight is weight and torch.equal(layer.weight,
                                                  before[1].weight)
    assert [k for k in model.state_dict() if k.startswith("1.")] == \
        ["1.weight", "1.bias"]
    # InstanceNorm is not a BatchNorm: left as it was
    assert model.instance.track_running_stats
    assert model.instance.running_mean is not None
    assert list(model.untracked.state_dict()) == \
        list(before.untracked.state_dict())
    # the mode stays too: a layer in eval mode stays in eval mode
    evaluated = replace_all_batch_norm_modules_(cnn(nn.BatchNorm2d).eval())
    assert not evaluated[1].training and evaluated[1].running_mean is None


def test_after_replacement_vmap_runs_and_eval_uses_the_batch():
    model = replace_all_batch_norm_modules_(cnn(nn.BatchNorm2d)).train()
    got, expected = per_sample(model, X, Y), one_by_one(model, X, Y)
    for k in expected:  # each sample normalized with its own statistics
        torch.testing.assert_close(got[k], expected[k])
    model.eval()
    with torch.no_grad():
        assert not torch.allclose(model(X[:1]), model(X)[:1])


def test_groupnorm_per_sample_gradients_split_the_batch_gradient():
    model = cnn(lambda c: nn.GroupNorm(2, c))
    got = per_sample(model, X, Y)
    model.zero_grad()
    nn.functional.cross_entropy(model(X), Y).backward()
    for k, p in model.named_parameters():
        torch.testing.assert_close(got[k].mean(0), p.grad)


# --- training recipes --------------------------------------------------------

def test_zero_init_residual_blocks_start_as_the_identity():
    torch.manual_seed(0)
    model = small_resnet(zero_init_residual=True)
    h = model[:3](torch.rand(4, 1, 28, 28))  # after a ReLU: >= 0
    blocks = [m for m in model if isinstance(m, BasicBlock)]
    assert blocks and all(torch.equal(b.bn2.weight, torch.zeros(8))
                          for b in blocks)
    for block in blocks:
        out = block(h)
        assert torch.equal(out, h)
        h = out
    plain = small_resnet(zero_init_residual=False)
    assert not torch.equal(plain[3](h), h)


def test_torchvision_zero_init_residual_zeroes_each_blocks_last_gamma():
    for make, last in ((torchvision.models.resnet18, "bn2"),
                       (torchvision.models.resnet50, "bn3")):
        model = make(weights=None, zero_init_residual=True)
        blocks = [m for m in model.modules()
                  if type(m).__name__ in ("BasicBlock", "Bottleneck")]
        assert blocks
        for block in blocks:
            assert torch.equal(getattr(block, last).weight,
                               torch.zeros_like(getattr(block, last).weight))
            assert torch.equal(block.bn1.weight,
                               torch.ones_like(block.bn1.weight))


def test_parameter_groups_keep_norms_and_biases_out_of_weight_decay():
    torch.manual_seed(0)
    shared = nn.Linear(3, 3)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3),
                          nn.GroupNorm(1, 3), nn.Flatten(), nn.Linear(3, 3),
                          nn.LayerNorm(3),
                          shared, shared, nn.RMSNorm(3))
    decay, no_decay = parameter_groups(model, 0.5)
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.5, 0.0)
    ids = [id(p) for g in (decay, no_decay) for p in g["params"]]
    assert sorted(ids) == sorted({id(p) for p in model.parameters()})
    assert len(ids) == len(set(ids))  # the shared layer once
    names = {id(p): n for n, p in model.named_parameters()}
    assert sorted(names[id(p)] for p in decay["params"]) == \
        ["0.weight", "4.weight", "6.weight"]
    # An SGD step with zero gradients: only the decayed weights shrink.
    optimizer = torch.optim.SGD([decay, no_decay], lr=0.1)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    for n, p in model.named_parameters():
        if n in ("0.weight", "4.weight", "6.weight"):
            torch.testing.assert_close(p, before[n] * (1 - 0.1 * 0.5))
        else:
            assert torch.equal(p, before[n]), n


def test_the_mlp_the_practice_page_describes_is_the_one_in_models():
    """The page types the helper's layer sizes: they must be its sizes."""
    import re

    from testkit import DOCS

    linears = [m for m in mlp() if isinstance(m, nn.Linear)]
    sizes = "-".join(str(n) for n in [linears[0].in_features]
                     + [layer.out_features for layer in linears])
    text = (DOCS / "practice.md").read_text(encoding="utf-8")
    stated = re.findall(r"`snippets/experiments/models\.py`\s*"
                        r"\((\d+(?:-\d+)+)", text)
    assert len(stated) == 2 and set(stated) == {sizes}, (stated, sizes)
