"""snippets/layers/batchnorm.py against torch.nn: outputs, gradients and
buffers, over several training steps (different batch sizes) and then eval,
on every constructor option; and batch_norm_manual against F.batch_norm."""

import itertools

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.optim.swa_utils import update_bn

from snippets.layers.batchnorm import TOLERANCE, BatchNorm, batch_norm_manual

# float16/bfloat16 layers: PyTorch and we round in a different order, so
# allow a few units in the last place of the dtype (eps: 2**-10, 2**-7).
LOW_TOLERANCE = {torch.float16: dict(rtol=2e-3, atol=5e-3),
                 torch.bfloat16: dict(rtol=1.6e-2, atol=4e-2)}

TORCH_CLASS = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d,
               5: nn.BatchNorm3d}
C = 3


def make_pair(ndim, dtype, ours_class=BatchNorm, **kwargs):
    torch_bn = TORCH_CLASS[ndim](C, **kwargs).to(dtype)
    ours = ours_class(C, **kwargs).to(dtype)
    with torch.no_grad():  # non-trivial gamma and beta, the same in both
        if torch_bn.weight is not None:
            torch_bn.weight.uniform_(0.5, 1.5)
        if torch_bn.bias is not None:
            torch_bn.bias.uniform_(-0.5, 0.5)
    ours.load_state_dict(torch_bn.state_dict())  # strict: same keys
    return ours, torch_bn


def batch(batch_size, ndim, dtype, generator):
    shape = [batch_size, C] + [4, 3, 2][:ndim - 2]
    # Means and spreads far from 0 and 1, so normalization matters.
    x = torch.randn(shape, generator=generator, dtype=dtype) * 3 + 2
    return x


def compare(ours, theirs, ndim, dtype, steps=(4, 7, 2, 5), eval_steps=2,
            input_dtype=None):
    """Run both through training steps then eval; assert they agree."""
    tol = {**TOLERANCE, **LOW_TOLERANCE}[dtype]
    g = torch.Generator().manual_seed(0)
    modes = [True] * len(steps) + [False] * eval_steps
    sizes = list(steps) + [3] * eval_steps
    for training, size in zip(modes, sizes):
        ours.train(training)
        theirs.train(training)
        x = batch(size, ndim, torch.float64, g).to(input_dtype or dtype)
        x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
        y1, y2 = ours(x1), theirs(x2)
        torch.testing.assert_close(y1, y2, **tol)
        grad_out = torch.randn(y1.shape, generator=g).to(y1.dtype)
        y1.backward(grad_out)
        y2.backward(grad_out)
        torch.testing.assert_close(x1.grad, x2.grad, **tol)
        for name, p in theirs.named_parameters():
            torch.testing.assert_close(getattr(ours, name).grad, p.grad,
                                       **tol)
        for name, buffer in theirs.named_buffers():
            torch.testing.assert_close(getattr(ours, name), buffer, **tol)
        assert set(dict(ours.named_buffers())) == \
            set(dict(theirs.named_buffers()))
        ours.zero_grad()
        theirs.zero_grad()


CASES = list(itertools.product(
    [2, 3, 4, 5], [0.1, 0.3, None, 0.0, 1.0], [True, False], [True, False],
    [torch.float64, torch.float32]))


@pytest.mark.parametrize("ndim, momentum, affine, track, dtype", CASES)
def test_matches_torch_nn(ndim, momentum, affine, track, dtype):
    ours, theirs = make_pair(ndim, dtype, momentum=momentum, affine=affine,
                             track_running_stats=track)
    assert repr(ours).split("(", 1)[1] == repr(theirs).split("(", 1)[1]
    compare(ours, theirs, ndim, dtype)


@pytest.mark.parametrize("ndim, affine, dtype", list(itertools.product(
    [2, 3, 4, 5], [True, False], [torch.float64, torch.float32])))
def test_scale_without_shift_matches_torch_nn(ndim, affine, dtype):
    """bias=False (keyword-only): weight but no bias, like torch.nn."""
    ours, theirs = make_pair(ndim, dtype, bias=False, affine=affine)
    assert ours.bias is None and theirs.bias is None
    assert list(ours.state_dict()) == list(theirs.state_dict())
    compare(ours, theirs, ndim, dtype)


@pytest.mark.parametrize("eps", [1e-3, 0.1])
def test_other_eps_matches_torch_nn(eps):
    ours, theirs = make_pair(4, torch.float64, eps=eps)
    compare(ours, theirs, 4, torch.float64)


def test_defaults():
    """The defaults the algorithm page states, in torch.nn and ours."""
    for bn in (nn.BatchNorm1d(C), nn.BatchNorm2d(C), BatchNorm(C)):
        assert bn.eps == 1e-5 and bn.momentum == 0.1
        assert bn.affine and bn.track_running_stats
        assert torch.equal(bn.weight, torch.ones(C))
        assert torch.equal(bn.bias, torch.zeros(C))
        assert torch.equal(bn.running_mean, torch.zeros(C))
        assert torch.equal(bn.running_var, torch.ones(C))
        assert bn.num_batches_tracked.item() == 0
        assert bn.weight.shape == bn.running_var.shape == (C,)


@pytest.mark.parametrize("device, dtype", list(itertools.product(
    ["cpu", "meta"], [None, torch.float64, torch.bfloat16])))
def test_device_and_dtype_arguments(device, dtype):
    ours = BatchNorm(C, device=device, dtype=dtype)
    theirs = nn.BatchNorm2d(C, device=device, dtype=dtype)
    mine, torch_ = dict(ours.state_dict()), dict(theirs.state_dict())
    assert list(mine) == list(torch_)
    for name, value in torch_.items():
        assert (mine[name].device, mine[name].dtype) == \
            (value.device, value.dtype), name


@pytest.mark.parametrize("layer_dtype, input_dtype, ndim", [
    (torch.float32, torch.bfloat16, 4), (torch.float32, torch.float16, 4),
    (torch.bfloat16, torch.bfloat16, 2), (torch.bfloat16, torch.bfloat16, 4),
    (torch.float16, torch.float16, 3), (torch.float16, torch.float16, 5)])
def test_low_precision_matches_torch_nn(layer_dtype, input_dtype, ndim):
    """float16/bfloat16 inputs: computed in float32, returned in their
    dtype, as torch.nn does (with a float32 or a low-precision layer)."""
    ours, theirs = make_pair(ndim, layer_dtype)
    compare(ours, theirs, ndim, input_dtype, input_dtype=input_dtype)


@pytest.mark.parametrize("layer_dtype, input_dtype", [
    (torch.float32, torch.float64), (torch.float64, torch.float32),
    (torch.bfloat16, torch.float32), (torch.float16, torch.bfloat16)])
@pytest.mark.parametrize("training", [True, False])
def test_mixed_dtypes_raise_like_torch(layer_dtype, input_dtype, training):
    ours = BatchNorm(C, dtype=layer_dtype).train(training)
    theirs = nn.BatchNorm1d(C, dtype=layer_dtype).train(training)
    x = torch.randn(4, C).to(input_dtype)
    with pytest.raises(RuntimeError, match="mixed dtype"):
        theirs(x)
    with pytest.raises(RuntimeError, match="mixed dtype"):
        ours(x)


def test_flag_turned_off_after_construction_matches_torch_nn():
    """track_running_stats=False set on a trained layer: training steps
    use batch statistics and update nothing; eval keeps the buffers
    (pytorch/pytorch#44415). Ours follows torch.nn in both."""
    ours, theirs = make_pair(4, torch.float64)
    compare(ours, theirs, 4, torch.float64, eval_steps=0)
    for bn in (ours, theirs):
        bn.track_running_stats = False
    before = theirs.running_mean.clone(), theirs.num_batches_tracked.clone()
    compare(ours, theirs, 4, torch.float64)
    assert torch.equal(theirs.running_mean, before[0])
    assert torch.equal(theirs.num_batches_tracked, before[1])


def test_buffers_removed_after_construction_matches_torch_nn():
    """With the buffers set to None, eval uses batch statistics."""
    ours, theirs = make_pair(2, torch.float64)
    for bn in (ours, theirs):
        bn.running_mean = bn.running_var = None
        bn.eval()
    x = batch(5, 2, torch.float64, torch.Generator().manual_seed(3))
    torch.testing.assert_close(ours(x), theirs(x))
    with torch.no_grad():  # batch statistics: each output mean is beta
        torch.testing.assert_close(theirs(x).mean(0), theirs.bias)


def test_reset_matches_torch_nn():
    ours, theirs = make_pair(4, torch.float64)
    compare(ours, theirs, 4, torch.float64)
    for bn in (ours, theirs):
        bn.reset_parameters()
    for name, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[name], value), name


def test_pytorch_utilities_find_batchnorm_by_class():
    """update_bn and convert_sync_batchnorm act on torch.nn's BatchNorm
    layers and pass ours by: it is not a _BatchNorm."""
    data = [torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
            + 3]
    for layer, moves in ((nn.BatchNorm1d(C), True), (BatchNorm(C), False)):
        model = nn.Sequential(nn.Linear(2, C), layer)
        update_bn(data, model)
        assert (layer.num_batches_tracked.item() == 1) is moves
        assert bool(layer.running_mean.abs().sum() > 0) is moves
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)[1]
        assert isinstance(converted, nn.SyncBatchNorm) is moves


def test_torch_checks_rank_per_class_ours_accepts_every_rank():
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(C)(torch.randn(4, C))
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        nn.BatchNorm1d(C)(torch.randn(4, C, 2, 2))
    for shape in [(4, C), (4, C, 2), (4, C, 2, 2), (4, C, 2, 2, 2)]:
        assert BatchNorm(C)(torch.randn(shape)).shape == shape


class BiasedRunningVar(BatchNorm):
    """A plausible bug: store the biased variance in running_var."""

    @torch.no_grad()
    def _update_running_stats(self, mean, var, n):
        super()._update_running_stats(mean, var * (n - 1) / n, n)


def test_the_comparison_catches_a_biased_running_var():
    ours, theirs = make_pair(2, torch.float64, ours_class=BiasedRunningVar)
    with pytest.raises(AssertionError):
        compare(ours, theirs, 2, torch.float64)


def test_state_dicts_load_both_ways():
    ours, theirs = make_pair(4, torch.float32)
    compare(ours, theirs, 4, torch.float32)
    fresh_torch = nn.BatchNorm2d(C)
    fresh_torch.load_state_dict(ours.state_dict())
    for name, value in ours.state_dict().items():
        assert torch.equal(fresh_torch.state_dict()[name], value), name
    assert [n for n, _ in ours.named_parameters()] == ["weight", "bias"]


def test_no_buffers_or_parameters_when_disabled():
    bn = BatchNorm(C, affine=False, track_running_stats=False)
    torch_bn = nn.BatchNorm1d(C, affine=False, track_running_stats=False)
    for name in ("weight", "bias", "running_mean", "running_var",
                 "num_batches_tracked"):
        assert getattr(bn, name) is None and getattr(torch_bn, name) is None
    assert list(bn.state_dict()) == list(torch_bn.state_dict()) == []


@pytest.mark.parametrize("shape, training, track", [
    ((1, C), True, True),
    ((1, C, 1, 1), True, True),
    ((1, C, 1), True, True),
    ((1, C), False, False),   # eval without buffers still uses the batch
])
def test_one_value_per_channel_raises_like_torch(shape, training, track):
    ours = BatchNorm(C, track_running_stats=track).train(training)
    theirs = TORCH_CLASS[len(shape)](C, track_running_stats=track)
    theirs.train(training)
    x = torch.randn(shape)
    with pytest.raises(ValueError) as torch_error:
        theirs(x)
    with pytest.raises(ValueError) as our_error:
        ours(x)
    assert str(our_error.value) == str(torch_error.value)
    assert "Expected more than 1 value per channel when training" in \
        str(torch_error.value)


@pytest.mark.parametrize("shape, training", [
    ((1, C, 2, 2), True),    # 4 values per channel: fine
    ((1, C), False),         # eval with running statistics: fine
])
def test_single_sample_that_is_accepted(shape, training):
    ours = BatchNorm(C).train(training)
    theirs = TORCH_CLASS[len(shape)](C).train(training)
    x = torch.randn(shape)
    torch.testing.assert_close(ours(x), theirs(x))


def test_mode_follows_training_flag_not_grad_mode():
    """Under no_grad, a module in train mode still uses batch statistics
    and still updates its running estimates (as torch.nn does)."""
    ours, theirs = make_pair(2, torch.float64)
    x = torch.randn(8, C, dtype=torch.float64) * 2 + 5
    with torch.no_grad():
        y1, y2 = ours(x), theirs(x)
    torch.testing.assert_close(y1, y2)
    assert ours.num_batches_tracked.item() == 1
    assert ours.running_mean.abs().sum() > 0
    torch.testing.assert_close(ours.running_mean, theirs.running_mean)


def test_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"expected 2D to 5D input"):
        BatchNorm(C)(torch.randn(C))


@pytest.mark.parametrize("shape", [(5, C), (4, C, 6), (3, C, 4, 5),
                                   (2, C, 2, 3, 4)])
def test_manual_backward_passes_gradcheck(shape):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(shape, generator=g, dtype=torch.float64) * 2 + 1
    w = torch.randn(C, generator=g, dtype=torch.float64)
    b = torch.randn(C, generator=g, dtype=torch.float64)
    inputs = tuple(t.requires_grad_() for t in (x, w, b))
    assert torch.autograd.gradcheck(batch_norm_manual, inputs)


def test_manual_matches_autograd_through_batchnorm2d():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(8, C, 5, 5, generator=g, dtype=torch.float64) * 3 - 1
    grad_out = torch.randn(x.shape, generator=g, dtype=torch.float64)
    torch_bn = nn.BatchNorm2d(C).double()
    with torch.no_grad():
        torch_bn.weight.uniform_(0.5, 1.5, generator=g)
        torch_bn.bias.uniform_(-1, 1, generator=g)
    w = torch_bn.weight.detach().clone().requires_grad_()
    b = torch_bn.bias.detach().clone().requires_grad_()
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1 = batch_norm_manual(x1, w, b)
    y2 = torch_bn(x2)
    torch.testing.assert_close(y1, y2, rtol=1e-10, atol=1e-12)
    y1.backward(grad_out)
    y2.backward(grad_out)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(w.grad, torch_bn.weight.grad)
    torch.testing.assert_close(b.grad, torch_bn.bias.grad)


@pytest.mark.parametrize("eps, training, track", [
    (0.0, True, True), (-1.0, True, True), (0.0, False, False),
    (-1.0, False, True)])
def test_eps_checks_raise_like_torch(eps, training, track):
    ours = BatchNorm(C, eps=eps, track_running_stats=track).train(training)
    theirs = nn.BatchNorm1d(C, eps=eps, track_running_stats=track)
    theirs.train(training)
    x = torch.randn(4, C)
    with pytest.raises(ValueError) as torch_error:
        theirs(x)
    with pytest.raises(ValueError) as our_error:
        ours(x)
    assert str(our_error.value) == str(torch_error.value)


def test_eps_zero_is_allowed_with_running_stats_in_eval():
    ours, theirs = make_pair(2, torch.float64, eps=0.0)
    ours.eval()
    theirs.eval()
    x = torch.randn(4, C, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("use_weight, use_bias", [(True, True),
                                                  (True, False),
                                                  (False, False)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_manual_matches_functional_batch_norm(use_weight, use_bias, dtype):
    """batch_norm_manual(x, weight, bias, eps) is F.batch_norm in
    training mode without running statistics, forward and backward,
    including weight=None and bias=None (affine=False)."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(6, C, 3, generator=g, dtype=dtype) * 2 + 1
    w = torch.rand(C, generator=g, dtype=dtype) + 0.5 if use_weight else None
    b = torch.randn(C, generator=g, dtype=dtype) if use_bias else None
    grad_out = torch.randn(x.shape, generator=g, dtype=dtype)
    results = []
    for function in (batch_norm_manual,
                     lambda x, w, b, eps: F.batch_norm(
                         x, None, None, w, b, training=True, eps=eps)):
        inputs = [t.clone().requires_grad_() if t is not None else None
                  for t in (x, w, b)]
        function(*inputs, eps=1e-3).backward(grad_out)
        results.append([inputs[0].grad] + [t.grad for t in inputs[1:]
                                           if t is not None])
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours, theirs, **TOLERANCE[dtype])


def test_manual_refuses_a_second_derivative():
    """torch's batch norm has second derivatives (gradgradcheck passes);
    the closed-form backward has none, and says so instead of returning
    a wrong one."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(5, C, generator=g, dtype=torch.float64)
    w = torch.rand(C, generator=g, dtype=torch.float64) + 0.5
    b = torch.randn(C, generator=g, dtype=torch.float64)
    inputs = tuple(t.requires_grad_() for t in (x, w, b))

    def reference(x, w, b):
        return F.batch_norm(x, None, None, w, b, training=True)
    assert torch.autograd.gradgradcheck(reference, inputs)
    # A gradient penalty: differentiate, then backward through the result.
    (gx,) = torch.autograd.grad(batch_norm_manual(*inputs).pow(3).sum(),
                                inputs[0], create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        gx.pow(2).sum().backward()


@pytest.mark.parametrize("shape, eps", [((1, C), 1e-5), ((1, C, 1, 1), 1e-5),
                                        ((4, C), 0.0), ((4, C), -1.0)])
def test_manual_raises_like_functional_batch_norm(shape, eps):
    x = torch.randn(shape)
    with pytest.raises(ValueError) as torch_error:
        F.batch_norm(x, None, None, training=True, eps=eps)
    with pytest.raises(ValueError) as our_error:
        batch_norm_manual(x, eps=eps)
    assert str(our_error.value) == str(torch_error.value)


@pytest.mark.parametrize("x_dtype, w_dtype", [
    (torch.bfloat16, torch.bfloat16), (torch.float16, torch.float32),
    (torch.float32, torch.float64)])
def test_manual_refuses_other_dtypes(x_dtype, w_dtype):
    x, w = torch.randn(4, C).to(x_dtype), torch.ones(C, dtype=w_dtype)
    with pytest.raises(ValueError, match="float32 or float64"):
        batch_norm_manual(x, w, None)


def test_eps_message_the_algorithm_page_quotes():
    bn = nn.BatchNorm1d(C, eps=0.0)  # the constructor accepts it
    with pytest.raises(ValueError) as error:
        bn(torch.randn(4, C))
    assert str(error.value) == ("batch_norm eps must be positive during "
                                "training, but got 0.0")


def test_gamma_beta_can_be_the_identity():
    """Per batch in training mode (gamma, beta from that batch's
    statistics), and for every input in eval mode (from the running
    ones); a fixed gamma, beta do not undo another training batch."""
    g = torch.Generator().manual_seed(6)
    x, other = (torch.randn(16, C, generator=g, dtype=torch.float64) * 3
                + 2 for _ in range(2))
    bn = nn.BatchNorm1d(C, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(torch.sqrt(x.var(0, correction=0) + bn.eps))
        bn.bias.copy_(x.mean(0))
        torch.testing.assert_close(bn(x), x)
        assert not torch.allclose(bn(other), other)
        bn.running_mean.copy_(other.mean(0) + 1)
        bn.running_var.copy_(other.var(0) * 2)
        bn.weight.copy_(torch.sqrt(bn.running_var + bn.eps))
        bn.bias.copy_(bn.running_mean)
        bn.eval()
        for inputs in (x, other):
            torch.testing.assert_close(bn(inputs), inputs)


@pytest.mark.parametrize("a, b", [(0.3, 2.0), (-1.0, 4.0), (5.0, 5.1),
                                  (1.0, 1.003), (2.0, 2.001)])
def test_a_batch_of_two(a, b):
    """In training mode each output is +-(|a-b|/2) / sqrt(((a-b)/2)^2 +
    eps): near +-1 when |a - b| >> 2 sqrt(eps), pulled to 0 otherwise."""
    bn = nn.BatchNorm1d(1, dtype=torch.float64)
    y = bn(torch.tensor([[a], [b]], dtype=torch.float64)).detach()
    half = abs(a - b) / 2
    expected = half / (half ** 2 + bn.eps) ** 0.5
    torch.testing.assert_close(y.abs().flatten(),
                               torch.full((2,), expected, dtype=y.dtype))
    assert (y[0] < y[1]).item() == (a < b)
    assert (expected > 0.99) == (abs(a - b) > 20 * bn.eps ** 0.5)


def test_torch_batchnorm_records_one_autograd_operation():
    x = torch.randn(4, C, 3, 3, requires_grad=True)
    y = nn.BatchNorm2d(C)(x)
    assert type(y.grad_fn).__name__.startswith("NativeBatchNorm")
    inputs = [n for n, _ in y.grad_fn.next_functions if n is not None]
    assert all(type(n).__name__ == "AccumulateGrad" for n in inputs)
