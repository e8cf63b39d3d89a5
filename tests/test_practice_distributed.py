"""Data-parallel training, run for real: the process launcher (results,
failures, timeouts, nothing left behind), the from-scratch SyncBatchNorm
against single-process BatchNorm on the global batch (every option, uneven
batches), and what DistributedDataParallel and nn.SyncBatchNorm do, each
asserted inside real gloo processes."""

import copy
import itertools
import os
import time
import warnings

import pytest
import torch
import torch.distributed as dist
from torch import nn

from snippets.experiments import distributed
from snippets.experiments.distributed import WorkerFailed, launch
from snippets.layers.batchnorm import TOLERANCE
from snippets.layers.sync_batchnorm import SyncBatchNorm

C = 3


# --- the launcher -----------------------------------------------------------

def children():
    """Processes whose parent is this one (zombies included)."""
    mine, found = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            if int(fields[1]) == mine:
                found.add(int(entry))
    return found


def listening(port):
    """Whether a TCP socket listens on ``port`` (IPv4 or IPv6)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            if int(local.rsplit(":", 1)[1], 16) == port and state == "0A":
                return True
    return False


def ranks_and_sizes(rank, world_size):
    return rank, world_size, dist.get_rank(), dist.get_world_size()


def fail_on_rank_1(rank, world_size):
    if rank == 1:
        raise ValueError("boom on rank 1")
    dist.all_reduce(torch.zeros(1))  # waits for rank 1, which never comes


def hang_on_rank_1(rank, world_size):
    # Both ranks finish joining first: rank 0 leaving while rank 1 was
    # still connecting made rank 1 fail instead of hang (seen on a busy
    # machine: "Gloo connectFullMesh failed ... Connection closed by peer").
    dist.barrier()
    if rank == 1:
        time.sleep(600)
    return rank


def exit_on_rank_0(rank, world_size):
    if rank == 0:
        os._exit(3)
    return rank


def test_launch_returns_each_rank_result_in_a_real_group():
    before = children()
    assert launch(ranks_and_sizes, 3) == [(r, 3, r, 3) for r in range(3)]
    assert children() <= before


def test_port_is_released_after_a_run():
    port = distributed.free_port()
    launch(ranks_and_sizes, 2, port=port)
    assert not listening(port)


def test_a_failing_worker_is_reported_and_every_process_killed():
    before, start = children(), time.monotonic()
    with pytest.raises(WorkerFailed, match="boom on rank 1"):
        launch(fail_on_rank_1, 3, timeout=60)
    assert time.monotonic() - start < 30  # not the timeout: at once
    assert children() <= before


def test_a_hanging_worker_is_killed_within_the_timeout():
    before, start = children(), time.monotonic()
    with pytest.raises(TimeoutError, match=r"ranks \[1\]"):
        launch(hang_on_rank_1, 2, timeout=3)
    assert time.monotonic() - start < 3 + 5  # timeout plus the grace
    assert children() <= before


def test_a_process_that_dies_without_a_result_is_reported():
    before = children()
    with pytest.raises(WorkerFailed, match="rank 0 exited with code 3"):
        launch(exit_on_rank_0, 2, timeout=30)
    assert children() <= before


def test_spawn_also_works_for_importable_workers():
    assert launch(ranks_and_sizes, 2, start_method="spawn",
                  timeout=120) == [(0, 2, 0, 2), (1, 2, 1, 2)]


def test_processes_run_on_one_thread():
    assert launch(threads, 2) == [1, 1]


def threads(rank, world_size):
    return torch.get_num_threads()


# --- SyncBatchNorm from scratch against BatchNorm on the global batch ------

OPTIONS = [dict(momentum=m, affine=a, bias=b, track_running_stats=t, eps=e)
           for m, (a, b), t, e in itertools.product(
               [0.1, None, 0.0, 1.0], [(True, True), (True, False),
                                       (False, True)],
               [True, False], [1e-5])] + [
    dict(momentum=0.3, affine=True, bias=True, track_running_stats=True,
         eps=0.5)]
SHAPES = [(), (5,), (3, 2), (2, 2, 2), (1, 2, 1, 2)]  # 2D to 6D inputs
# Per-rank batch sizes of the training steps: uneven, one rank with a
# single sample, one with none at all; then one step in eval mode.
STEPS = [(4, 1, 6), (2, 5, 3), (0, 3, 4)]
EVAL = (3, 2, 4)


def global_batch(step, shape, dtype, n, group=0):
    g = torch.Generator().manual_seed(100 * group + step)
    x = torch.randn((n, C, *shape), generator=g, dtype=torch.float64)
    grad_y = torch.randn((n, C, *shape), generator=g, dtype=torch.float64)
    return (x * 3 + 2 + group).to(dtype), grad_y.to(dtype)


def init(layer):
    with torch.no_grad():
        if layer.weight is not None:
            layer.weight.copy_(torch.linspace(0.5, 1.5, C))
        if layer.bias is not None:
            layer.bias.copy_(torch.linspace(-0.5, 0.5, C))
    return layer


def option_kwargs(options):
    return {k: v for k, v in options.items()
            if k != "bias" or options["affine"]}


def record(layer, x, y):
    return {"y": y.detach(), "grad_x": x.grad,
            **{f"grad_{n}": p.grad.clone()
               for n, p in layer.named_parameters()},
            **{n: b.clone() for n, b in layer.named_buffers()}}


def run_sync(rank, world_size, cases, dtype, steps, groups):
    """Each case: the training ``steps`` (per-rank batch sizes), then one
    eval step; this rank's outputs, gradients and buffers after each.
    ``groups``: the ranks of each process group; a group's data differs
    from the other groups'."""
    handles = [dist.new_group(members) for members in groups] \
        if len(groups) > 1 else [None]
    index = next(i for i, members in enumerate(groups) if rank in members)
    position = groups[index].index(rank)
    results = []
    for options, shape in cases:
        layer = init(SyncBatchNorm(C, process_group=handles[index],
                                   dtype=dtype, **option_kwargs(options)))
        history = []
        for step, sizes in enumerate(steps + [EVAL[:len(steps[0])]]):
            layer.train(step < len(steps))
            x, grad_y = global_batch(step, shape, dtype, sum(sizes), index)
            x, grad_y = (distributed.split(t, sizes, position)
                         for t in (x, grad_y))
            x.requires_grad_()
            y = layer(x)
            y.backward(grad_y)
            history.append(record(layer, x, y))
            layer.zero_grad()
        results.append(history)
    return results


def reference(options, shape, dtype, steps, group=0, part=None):
    """The same steps in one process: nn.BatchNorm1d on the global batch
    (any rank flattened to (N, C, L)). In eval, a layer without running
    statistics uses each rank's own batch: ``part`` says whose."""
    layer = init(nn.BatchNorm1d(C, dtype=dtype, **option_kwargs(options)))
    history = []
    for step, sizes in enumerate(steps + [EVAL[:len(steps[0])]]):
        layer.train(step < len(steps))
        x, grad_y = global_batch(step, shape, dtype, sum(sizes), group)
        if not layer.training and part is not None:
            x, grad_y = (distributed.split(t, sizes, part)
                         for t in (x, grad_y))
        x.requires_grad_()
        flat = x.flatten(2) if x.dim() > 2 else x
        y = layer(flat).view_as(x)
        y.backward(grad_y)
        history.append(record(layer, x, y))
        layer.zero_grad()
    return history


def assert_matches_global_batch(results, cases, dtype, steps, groups):
    """Every rank's outputs and input gradients are its rows of the
    reference's; weight and bias gradients summed over the group are the
    reference's; every rank's buffers are the reference's."""
    tol = TOLERANCE[dtype]
    all_sizes = steps + [EVAL[:len(steps[0])]]
    for i, (options, shape) in enumerate(cases):
        for index, members in enumerate(groups):
            ref = reference(options, shape, dtype, steps, index)
            for step, sizes in enumerate(all_sizes):
                for position, rank in enumerate(members):
                    ours, theirs = results[rank][i][step], ref[step]
                    where = f"{options} {shape} step {step} rank {rank}"
                    if step == len(steps) and \
                            not options["track_running_stats"]:
                        theirs = reference(options, shape, dtype, steps,
                                           index, part=position)[step]
                        rows = theirs["y"], theirs["grad_x"]
                    else:
                        rows = (distributed.split(theirs[k], sizes, position)
                                for k in ("y", "grad_x"))
                    for key, expected in zip(("y", "grad_x"), rows):
                        torch.testing.assert_close(
                            ours[key], expected, **tol,
                            msg=lambda m, where=where, key=key:
                                f"{where} {key}: {m}")
                    buffers = set(theirs) - {"y", "grad_x", "grad_weight",
                                             "grad_bias"}
                    assert buffers == set(ours) - {"y", "grad_x",
                                                   "grad_weight", "grad_bias"}
                    for key in buffers:
                        torch.testing.assert_close(ours[key], theirs[key],
                                                   **tol)
                if step == len(steps):
                    continue  # eval: no sync, per-rank gradients
                for key in ("grad_weight", "grad_bias"):
                    assert (key in ref[step]) == (key in ours)
                    if key in ref[step]:
                        total = sum(results[r][i][step][key]
                                    for r in members)
                        torch.testing.assert_close(total, ref[step][key],
                                                   **tol)


CASES = [(options, shape) for options in OPTIONS for shape in SHAPES[:2]] \
    + [(OPTIONS[0], shape) for shape in SHAPES[2:]]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_sync_batchnorm_is_batchnorm_on_the_global_batch(dtype):
    """Three processes with uneven batches (one sample on a rank, none on
    another): outputs, input gradients, summed weight and bias gradients,
    running statistics, then eval, on every option and 2D to 6D input."""
    results = launch(run_sync, 3, CASES, dtype, STEPS, [[0, 1, 2]],
                     timeout=120)
    assert_matches_global_batch(results, CASES, dtype, STEPS, [[0, 1, 2]])


def test_sync_batchnorm_synchronizes_within_its_process_group():
    """Four processes in two groups of two, with different data: each
    group computes the statistics of its own global batch."""
    cases = [(OPTIONS[0], (4,)), (OPTIONS[2], ())]
    steps, groups = [s[:2] for s in STEPS], [[0, 1], [2, 3]]
    results = launch(run_sync, 4, cases, torch.float64, steps, groups,
                     timeout=120)
    assert_matches_global_batch(results, cases, torch.float64, steps, groups)


def test_one_process_without_a_group_is_nn_sync_batchnorm():
    """Without an initialized process group, nn.SyncBatchNorm is plain
    batch normalization, on the CPU too; ours computes the same, on every
    option, in training and eval."""
    for options in OPTIONS:
        ours = init(SyncBatchNorm(C, dtype=torch.float64,
                                  **option_kwargs(options)))
        theirs = init(nn.SyncBatchNorm(C, dtype=torch.float64,
                                       **option_kwargs(options)))
        for step in range(4):
            ours.train(step < 3)
            theirs.train(step < 3)
            x, grad_y = global_batch(step, (2, 3), torch.float64, 5)
            x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
            y1, y2 = ours(x1), theirs(x2)
            y1.backward(grad_y)
            y2.backward(grad_y)
            tol = TOLERANCE[torch.float64]
            torch.testing.assert_close(y1, y2, **tol)
            torch.testing.assert_close(x1.grad, x2.grad, **tol)
            for name, p in theirs.named_parameters():
                torch.testing.assert_close(getattr(ours, name).grad, p.grad,
                                           **tol)
            for name, b in theirs.named_buffers():
                torch.testing.assert_close(getattr(ours, name), b, **tol)


def eval_in_a_group(rank, world_size):
    """nn.SyncBatchNorm in eval mode on CPU tensors, and ours: both use
    running statistics (or, untracked, this rank's batch); no sync."""
    out = []
    for track in (True, False):
        ours = init(SyncBatchNorm(C, track_running_stats=track)).eval()
        theirs = init(nn.SyncBatchNorm(C, track_running_stats=track)).eval()
        if track:
            for layer in (ours, theirs):
                layer.running_mean.fill_(1.5)
                layer.running_var.fill_(4.0)
        x = torch.randn(4, C, 2, 2, generator=torch.Generator().manual_seed(
            rank)) + rank
        out.append((ours(x), theirs(x)))
    return out


def test_eval_mode_in_a_group_matches_nn_sync_batchnorm_on_cpu():
    for pairs in launch(eval_in_a_group, 2):
        for ours, theirs in pairs:
            torch.testing.assert_close(ours, theirs)


def test_state_dict_is_nn_sync_batchnorm_s():
    theirs = nn.SyncBatchNorm(C, momentum=None)
    theirs.running_mean.fill_(2.0)
    ours = SyncBatchNorm(C)
    ours.load_state_dict(theirs.state_dict())  # strict: the same keys
    assert torch.equal(ours.running_mean, theirs.running_mean)
    assert list(ours.state_dict()) == list(theirs.state_dict())


@pytest.mark.parametrize("make, x, match", [
    (lambda: SyncBatchNorm(C), torch.zeros(4, C, dtype=torch.float16),
     "does not support torch.float16"),
    (lambda: SyncBatchNorm(C), torch.zeros(4, C, dtype=torch.bfloat16),
     "does not support torch.bfloat16"),
    (lambda: SyncBatchNorm(C), torch.zeros(4, C, dtype=torch.float64),
     "use one dtype"),
    (lambda: SyncBatchNorm(C, eps=0.0), torch.zeros(4, C),
     "eps must be positive"),
    (lambda: SyncBatchNorm(C), torch.zeros(C), "at least 2D"),
    (lambda: SyncBatchNorm(0), torch.zeros(4, 0), "non-zero"),
    (lambda: SyncBatchNorm(C), torch.zeros(1, C), "more than 1 value"),
])
def test_refuses_what_it_does_not_support(make, x, match):
    with pytest.raises(ValueError, match=match):
        make()(x)


@pytest.mark.parametrize("x", [torch.zeros(C), torch.zeros(1, C)])
def test_torch_refuses_the_same_inputs_in_one_process(x):
    with pytest.raises(ValueError):
        nn.SyncBatchNorm(C)(x)


def test_convert_sync_batchnorm_mirrors_torch():
    def model():
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(1, C, 3), nn.BatchNorm2d(C, momentum=None),
            nn.Sequential(nn.Linear(2, C), nn.BatchNorm1d(C, affine=False)),
            nn.BatchNorm3d(C, bias=False), nn.InstanceNorm2d(C)).eval()

    original, other = model(), model()
    # A quantization config set on a layer survives the conversion.
    for m in (original, other):
        m[1].qconfig = m[2][1].qconfig = "a qconfig"
    ours = SyncBatchNorm.convert_sync_batchnorm(original)
    theirs = nn.SyncBatchNorm.convert_sync_batchnorm(other)
    kinds = [(n, type(m).__name__) for n, m in ours.named_modules()]
    assert kinds == [(n, type(m).__name__) for n, m in
                     theirs.named_modules()]
    assert [k for n, k in kinds if n in ("1", "2.1", "3")] == \
        ["SyncBatchNorm"] * 3
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    assert ours[1].weight is original[1].weight  # shared, not copied
    assert theirs[1].weight is other[1].weight  # torch's too
    assert theirs[1].running_mean is other[1].running_mean
    assert ours[1].running_mean is original[1].running_mean
    assert ours[1].momentum is None and not ours[1].training
    assert theirs[1].momentum is None and not theirs[1].training
    assert ours[2][1].weight is None and ours[3].bias is None
    assert isinstance(ours[4], nn.InstanceNorm2d)  # not a BatchNorm
    for layers in (ours, theirs):
        assert layers[1].qconfig == layers[2][1].qconfig == "a qconfig"
        assert not hasattr(layers[3], "qconfig")


# --- what PyTorch does, in real processes -----------------------------------

def test_nn_sync_batchnorm_refuses_cpu_tensors_in_training():
    """In a real two-process gloo group, nn.SyncBatchNorm raises on a CPU
    tensor in training mode; in eval mode it does not synchronize, so it
    runs."""
    for training, eval_shape in launch(
            distributed.sync_batchnorm_on_cpu, 2):
        assert training == ("ValueError: SyncBatchNorm expected input "
                            "tensor to be on GPU or XPU or privateuseone")
        assert eval_shape == (4, 3, 2, 2)


def cuda_worker(rank, world_size):
    """nn.SyncBatchNorm on CUDA tensors against ours, on the same rows."""
    device = torch.device("cuda", rank % torch.cuda.device_count())
    torch.cuda.set_device(device)
    sizes = (4, 7)
    results = []
    for options in OPTIONS:
        kwargs = option_kwargs(options)
        theirs = init(nn.SyncBatchNorm(C, **kwargs)).to(device)
        ours = init(SyncBatchNorm(C, **kwargs)).to(device)
        for step in range(3):
            x, grad_y = global_batch(step, (3, 2), torch.float32, sum(sizes))
            x, grad_y = (distributed.split(t, sizes, rank).to(device)
                         for t in (x, grad_y))
            x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
            y1, y2 = ours(x1), theirs(x2)
            y1.backward(grad_y)
            y2.backward(grad_y)
            results.append([(a.detach().cpu(), b.detach().cpu()) for a, b in
                            [(y1, y2), (x1.grad, x2.grad)]
                            + [(getattr(ours, n), b) for n, b in
                               theirs.named_buffers()]])
    return results


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="nn.SyncBatchNorm needs CUDA tensors; this "
                           "machine has no GPU (CI has none)")
def test_matches_nn_sync_batchnorm_on_cuda():
    backend = "nccl" if torch.cuda.device_count() >= 2 else "gloo"
    for rank_results in launch(cuda_worker, 2, backend=backend,
                               start_method="spawn", timeout=300):
        for pairs in rank_results:
            for ours, theirs in pairs:
                torch.testing.assert_close(ours, theirs, rtol=1e-4,
                                           atol=1e-5)


def ddp_switches(rank, world_size):
    """Construct DDP with each switch; record what rank 1 holds after
    construction and at the start of its second forward."""
    out = {}
    for name, kwargs in [("default", {}),
                         ("forward_sync_buffers=False",
                          {"forward_sync_buffers": False}),
                         ("broadcast_buffers=False",
                          {"broadcast_buffers": False}),
                         ("broadcast_buffers=True",
                          {"broadcast_buffers": True}),
                         ("init_sync=False", {"init_sync": False}),
                         ("both", {"forward_sync_buffers": False,
                                   "broadcast_buffers": True})]:
        torch.manual_seed(rank)  # different weights on the two ranks
        model = nn.Sequential(nn.Linear(2, C), nn.BatchNorm1d(C))
        with torch.no_grad():
            model[1].running_mean.fill_(10.0 + rank)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ddp = nn.parallel.DistributedDataParallel(model, **kwargs)
        record = {
            "warnings": [w.category for w in caught],
            "weight": model[0].weight.detach().clone(),
            "running_mean_at_init": model[1].running_mean.clone(),
            "broadcast_buffers": ddp.broadcast_buffers,
            "forward_sync_buffers": ddp.forward_sync_buffers}
        seen = []
        model[1].register_forward_pre_hook(
            lambda layer, inputs, seen=seen: seen.append(
                layer.running_mean.clone()))
        after = []
        g = torch.Generator().manual_seed(50 + rank)  # different batches
        for _ in range(2):
            ddp(torch.randn(8, 2, generator=g)).sum().backward()
            after.append(model[1].running_mean.clone())
        record.update(seen=seen, after=after)
        out[name] = record
    return out


@pytest.fixture(scope="module")
def ddp_records():
    return launch(ddp_switches, 2, timeout=120)


def test_ddp_default_broadcasts_rank_0_buffers_before_every_forward(
        ddp_records):
    r0, r1 = (records["default"] for records in ddp_records)
    assert r0["warnings"] == [] and r1["warnings"] == []
    assert r0["forward_sync_buffers"] and r0["broadcast_buffers"]
    # at construction: rank 0's parameters and buffers everywhere
    assert torch.equal(r1["weight"], r0["weight"])
    assert torch.equal(r1["running_mean_at_init"], torch.full((C,), 10.0))
    # each rank updates with its own batch ...
    assert not torch.equal(r0["after"][0], r1["after"][0])
    # ... and rank 1 starts the next forward from rank 0's buffers
    assert torch.equal(r1["seen"][1], r0["after"][0])


def test_ddp_forward_sync_buffers_false_syncs_at_init_only(ddp_records):
    r0, r1 = (records["forward_sync_buffers=False"]
              for records in ddp_records)
    assert r1["warnings"] == [] and not r1["broadcast_buffers"]
    assert torch.equal(r1["running_mean_at_init"], torch.full((C,), 10.0))
    assert torch.equal(r1["seen"][1], r1["after"][0])  # its own, kept
    assert not torch.equal(r1["seen"][1], r0["after"][0])


def test_ddp_broadcast_buffers_is_deprecated_and_false_skips_init(
        ddp_records):
    for records in ddp_records:
        assert records["broadcast_buffers=False"]["warnings"] == \
            [FutureWarning]
        assert records["broadcast_buffers=True"]["warnings"] == \
            [FutureWarning]
    r0, r1 = (records["broadcast_buffers=False"] for records in ddp_records)
    # parameters are still synced at construction, buffers are not
    assert torch.equal(r1["weight"], r0["weight"])
    assert torch.equal(r1["running_mean_at_init"], torch.full((C,), 11.0))
    assert torch.equal(r1["seen"][1], r1["after"][0])
    assert not r1["forward_sync_buffers"]
    r0, r1 = (records["broadcast_buffers=True"] for records in ddp_records)
    assert r1["forward_sync_buffers"]
    assert torch.equal(r1["seen"][1], r0["after"][0])


def test_ddp_broadcast_buffers_is_ignored_beside_forward_sync_buffers(
        ddp_records):
    r0, r1 = (records["both"] for records in ddp_records)
    assert r1["warnings"] == [FutureWarning]
    assert not r1["forward_sync_buffers"]  # forward_sync_buffers wins
    assert torch.equal(r1["running_mean_at_init"], torch.full((C,), 10.0))
    assert torch.equal(r1["seen"][1], r1["after"][0])


def test_broadcast_buffers_is_documented_as_deprecated_since_2_13():
    doc = nn.parallel.DistributedDataParallel.__doc__
    section = doc[doc.index("broadcast_buffers (bool or None)"):]
    assert ".. deprecated:: 2.13" in section[:400]
    assert "forward_sync_buffers" in section[:400]


def ddp_gradients(rank, world_size):
    """The weight gradient under DDP, and this rank's own (without DDP)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, C), nn.BatchNorm1d(C))
    alone = copy.deepcopy(model)
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(rank))
    ddp = nn.parallel.DistributedDataParallel(model)  # kept alive: its
    ddp(x).square().mean().backward()                 # hooks all-reduce
    alone(x).square().mean().backward()
    return model[0].weight.grad, alone[0].weight.grad


def test_ddp_averages_the_gradients_of_the_processes():
    (ddp0, own0), (ddp1, own1) = launch(ddp_gradients, 2)
    torch.testing.assert_close(ddp0, (own0 + own1) / 2)
    torch.testing.assert_close(ddp1, ddp0)


def sync_batchnorm_alone(rank, world_size):
    try:
        nn.SyncBatchNorm(C)(torch.randn(4, C))
    except ValueError as error:
        return str(error)
    return "no error"


def test_nn_sync_batchnorm_refuses_cpu_tensors_in_a_group_of_one_too():
    assert launch(sync_batchnorm_alone, 1) == [
        "SyncBatchNorm expected input tensor to be on GPU or XPU or "
        "privateuseone"]


def test_ddp_init_sync_false_syncs_nothing_at_construction(ddp_records):
    r0, r1 = (records["init_sync=False"] for records in ddp_records)
    assert not torch.equal(r1["weight"], r0["weight"])
    assert torch.equal(r1["running_mean_at_init"], torch.full((C,), 11.0))
    # the forward sync still replaces rank 1's buffers by rank 0's
    assert torch.equal(r1["seen"][0], torch.full((C,), 10.0))
