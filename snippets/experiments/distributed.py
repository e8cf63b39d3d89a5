"""Real data-parallel runs on one machine: ``launch`` starts processes that
join a ``torch.distributed`` process group (gloo, on the CPU), runs a
worker function in each, and returns what each returned.

The processes are started with ``fork`` by default: they inherit the
parent's modules, so a worker works even where its module was loaded from
text (the site's downloadable notebooks carry these helpers that way) and
could not be imported again by a fresh interpreter. Each process:

- joins the group at a free port of 127.0.0.1 (picked by the operating
  system; another attempt with a new port if it was taken meanwhile);
- runs on one thread, and dies with its parent (Linux);
- reports its result, or its traceback, through a pipe.

``launch`` waits at most ``timeout`` seconds. When a worker fails, or the
time is up, it kills every process it started and raises; no process and
no listening port outlives the call, whether it succeeds or fails.

The workers the examples run live here too, below ``launch``.
"""

import datetime
import multiprocessing
import os
import pickle
import signal
import socket
import sys
import time
import traceback
from multiprocessing.connection import wait

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from snippets.layers.sync_batchnorm import SyncBatchNorm

HOST = "127.0.0.1"


class WorkerFailed(RuntimeError):
    """A worker raised, or its process ended without a result."""


def free_port(host=HOST):
    """A TCP port of ``host`` that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def launch(worker, world_size, *args, timeout=60.0, port=None,
           start_method="fork", backend="gloo"):
    """Run ``worker(rank, world_size, *args)`` in ``world_size`` processes
    joined in one process group; return their results, by rank.

    >>> launch(_sum_of_ranks, 3)  # each rank all-reduces its rank
    [3.0, 3.0, 3.0]
    """
    if world_size < 1:
        raise ValueError(f"world_size must be at least 1, got {world_size}")
    attempts = 3 if port is None else 1
    for attempt in range(attempts):
        try:
            return _launch_once(worker, world_size, args, timeout,
                                free_port() if port is None else port,
                                start_method, backend)
        except WorkerFailed as error:  # the port was taken meanwhile?
            if "EADDRINUSE" not in str(error) or attempt == attempts - 1:
                raise


def _launch_once(worker, world_size, args, timeout, port, start_method,
                 backend):
    context = multiprocessing.get_context(start_method)
    processes, readers = [], []
    try:
        for rank in range(world_size):
            reader, writer = context.Pipe(duplex=False)
            process = context.Process(
                target=_run, daemon=True, name=f"rank {rank}",
                args=(worker, rank, world_size, args, port, timeout,
                      backend, os.getpid(), writer))
            process.start()
            writer.close()  # the child holds its own copy
            processes.append(process)
            readers.append(reader)
        return _collect(processes, readers, time.monotonic() + timeout,
                        timeout)
    finally:  # success, failure, timeout or Ctrl-C: nobody survives
        _stop(processes)
        for reader in readers:
            reader.close()


def _collect(processes, readers, deadline, timeout, grace=2.0):
    """Each rank's result, in rank order. When a rank fails, the others
    usually fail soon after because of it (a collective loses a peer), and
    not always later: every failure that arrives within ``grace`` seconds
    is reported, so the cause is among them."""
    results, pending = [None] * len(processes), set(range(len(processes)))
    failures = {}
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            if failures:
                break
            raise TimeoutError(f"ranks {sorted(pending)} did not finish "
                               f"within {timeout} s; all were killed")
        wait([readers[r] for r in pending]
             + [processes[r].sentinel for r in pending], timeout=left)
        for rank in sorted(pending):
            message = _receive(readers[rank])
            if message is None and processes[rank].exitcode is not None:
                message = _receive(readers[rank]) or (
                    "exited", processes[rank].exitcode)
            if message is None:
                continue
            pending.discard(rank)
            status, value = message
            if status == "ok":
                results[rank] = value
            elif status == "error":
                failures[rank] = f"rank {rank} failed:\n{value}"
            else:
                failures[rank] = (f"rank {rank} exited with code {value} "
                                  "without a result")
        if failures:
            deadline = min(deadline, time.monotonic() + grace)
    if failures:
        raise WorkerFailed("\n".join(failures[r] for r in sorted(failures)))
    return results


def _receive(reader):
    """A rank's message, or None when there is none (yet, or ever: a
    process that died closes its end without writing)."""
    try:
        return pickle.loads(reader.recv_bytes()) if reader.poll() else None
    except EOFError:
        return None


def _stop(processes, grace=2.0):
    for process in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM, even inside a collective
    for process in processes:
        process.join(grace)
        if process.is_alive():
            process.kill()
            process.join()


def _run(worker, rank, world_size, args, port, timeout, backend,
         parent, writer):
    """One process: join the group, run the worker, report, leave."""
    _die_with(parent)
    # Output goes to the process's own streams, not to a notebook's.
    sys.stdout = sys.__stdout__ or sys.stdout
    sys.stderr = sys.__stderr__ or sys.stderr
    torch.set_num_threads(1)  # one core per process, as the build runs
    loopback = [name for _, name in socket.if_nameindex()
                if name.startswith("lo")]
    if loopback:  # gloo's traffic stays on this machine
        os.environ.setdefault("GLOO_SOCKET_IFNAME", loopback[0])
    try:
        dist.init_process_group(
            backend, init_method=f"tcp://{HOST}:{port}", rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(seconds=timeout))
        try:
            message = ("ok", worker(rank, world_size, *args))
        finally:
            dist.destroy_process_group()
        payload = pickle.dumps(message)
    except BaseException:  # noqa: BLE001 - reported to the parent
        payload = pickle.dumps(("error", traceback.format_exc()))
    writer.send_bytes(payload)
    writer.close()


def _die_with(parent):
    """Ask Linux to kill this process when its parent dies."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # it died before the call above
            os._exit(1)


def _sum_of_ranks(rank, world_size):
    total = torch.tensor([float(rank)])
    dist.all_reduce(total)
    return total.item()


# --- the workers of examples/practice_data_parallel.py ---------------------

def split(x, sizes, rank):
    """This rank's rows of ``x`` when ranks hold ``sizes`` rows each."""
    start = sum(sizes[:rank])
    return x[start:start + sizes[rank]]


# --8<-- [start:compare]
def sync_against_local(rank, world_size, x, grad_y, sizes):
    """Normalize this rank's rows of the global batch ``x`` twice: with
    statistics synchronized over all ranks, and with this rank's own
    statistics (per-replica BatchNorm). Return outputs, gradients and
    running statistics of both."""
    results = {}
    for name, layer in [("sync", SyncBatchNorm(x.size(1))),
                        ("local", nn.BatchNorm2d(x.size(1)))]:
        with torch.no_grad():  # the same non-trivial gamma and beta
            layer.weight.copy_(torch.linspace(0.5, 1.5, x.size(1)))
            layer.bias.copy_(torch.linspace(-0.5, 0.5, x.size(1)))
        mine = split(x, sizes, rank).clone().requires_grad_()
        y = layer(mine)
        y.backward(split(grad_y, sizes, rank))
        results[name] = {"y": y.detach(), "grad_x": mine.grad,
                         "grad_weight": layer.weight.grad,
                         "grad_bias": layer.bias.grad,
                         "running_mean": layer.running_mean,
                         "running_var": layer.running_var}
    return results
# --8<-- [end:compare]


# --8<-- [start:sweep]
def squared_errors(rank, world_size, draws, per_rank_sizes):
    """For each draw of images and each per-rank batch size b: this rank
    normalizes its b rows of the draw's first world_size * b with
    synchronized and with per-replica statistics. Return the sums of
    squared differences from BatchNorm on those world_size * b rows, and
    how many values they cover."""
    sums = {b: {"sync": 0.0, "local": 0.0, "values": 0}
            for b in per_rank_sizes}
    with torch.no_grad():
        for x in draws:
            for b in per_rank_sizes:
                mine = x[rank * b:(rank + 1) * b]
                expected = F.batch_norm(x[:world_size * b], None, None,
                                        training=True)
                expected = expected[rank * b:(rank + 1) * b]
                for kind, layer in (("sync", SyncBatchNorm(x.size(1))),
                                    ("local", nn.BatchNorm2d(x.size(1)))):
                    sums[b][kind] += (layer(mine) - expected).square().sum()
                sums[b]["values"] += mine.numel()
    return sums
# --8<-- [end:sweep]


# --8<-- [start:ddp]
def ddp_buffers(rank, world_size, x, steps, forward_sync_buffers):
    """Train a conv + BatchNorm model with DistributedDataParallel for
    ``steps`` steps, each rank on its own part of ``x``; return the first
    channel's running mean, as each rank sees it before every forward
    and after the last one."""
    torch.manual_seed(0)  # the same initial model on every rank
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4))
    ddp = nn.parallel.DistributedDataParallel(
        model, forward_sync_buffers=forward_sync_buffers)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1)
    seen = []  # what BatchNorm holds when its forward starts
    model[1].register_forward_pre_hook(
        lambda layer, inputs: seen.append(layer.running_mean[0].item()))
    per_step = len(x) // (steps * world_size)
    for step in range(steps):
        start = (step * world_size + rank) * per_step
        optimizer.zero_grad()
        ddp(x[start:start + per_step]).square().mean().backward()
        optimizer.step()
    return seen + [model[1].running_mean[0].item()]
# --8<-- [end:ddp]


def sync_batchnorm_on_cpu(rank, world_size):
    """What ``nn.SyncBatchNorm`` does with a CPU tensor in a real group:
    the error in training mode, the output shape in eval mode."""
    layer = nn.SyncBatchNorm(3)
    x = torch.randn(4, 3, 2, 2)
    try:
        layer(x)
        training = "no error"
    except ValueError as error:
        training = f"ValueError: {error}"
    return training, tuple(layer.eval()(x).shape)
