# %% [markdown]
# # train(), eval(), no_grad() and track_running_stats
#
# Three switches decide what a BatchNorm layer does with a batch: the
# module's mode (`train()` / `eval()`), gradient recording
# (`torch.no_grad()`), and `track_running_stats`. This example asks PyTorch
# itself, for every combination: does a sample's output depend on the rest
# of its batch, and do the running statistics move?

# %%
import contextlib
import itertools

import torch
from torch import nn

from snippets.support.report import Report

report = Report("inference_switches")
g = torch.Generator().manual_seed(0)

# %%
# --8<-- [start:probe]
def probe(training, grad, track):
    """(depends on the batch?, running statistics updated?)"""
    bn = nn.BatchNorm1d(4, track_running_stats=track)
    if track:  # pretend it was trained: running stats far from 0 and 1
        bn.running_mean.fill_(3.0)
        bn.running_var.fill_(4.0)
    bn.train(training)
    sample = torch.randn(1, 4, generator=g)
    mates_a = torch.randn(7, 4, generator=g)
    mates_b = torch.randn(7, 4, generator=g) * 5 + 2
    before = None if not track else bn.running_mean.clone()
    context = contextlib.nullcontext() if grad else torch.no_grad()
    with context:
        out_a = bn(torch.cat([sample, mates_a]))[0]
        out_b = bn(torch.cat([sample, mates_b]))[0]
    depends = not torch.allclose(out_a, out_b)
    updated = track and not torch.equal(before, bn.running_mean)
    return depends, updated
# --8<-- [end:probe]


rows, results = [], {}
for training, grad, track in itertools.product([True, False], [True, False],
                                               [True, False]):
    depends, updated = probe(training, grad, track)
    results[training, grad, track] = depends, updated
    rows.append([
        "train()" if training else "eval()",
        "recorded" if grad else "torch.no_grad()",
        str(track),
        "batch (depends on batch-mates)" if depends else "running (fixed)",
        "yes" if updated else "no"])
    print(rows[-1])
report.table("switches", ["Mode", "Gradients", "track_running_stats",
                          "Statistics used", "Running stats updated"], rows)

# %% [markdown]
# Three readings of the table, checked from the results: whether
# `torch.no_grad()` changes anything, what `eval()` does to a layer that
# tracks running statistics, and what it does to one that does not.

# %%
no_grad_irrelevant = all(results[t, True, k] == results[t, False, k]
                         for t in (True, False) for k in (True, False))
print("no_grad changes nothing:", no_grad_irrelevant)
report.claim("no_grad_changes_nothing", no_grad_irrelevant, {
    "combinations where no_grad changed the outcome": sum(
        results[t, True, k] != results[t, False, k]
        for t in (True, False) for k in (True, False))})
report.claim("eval_uses_running_when_tracked",
             results[False, True, True] == (False, False), {
                 "eval, tracked: output depends on batch-mates":
                     str(results[False, True, True][0]).lower(),
                 "eval, tracked: running statistics updated":
                     str(results[False, True, True][1]).lower()})
report.claim("untracked_uses_batch_in_eval",
             results[False, True, False][0], {
                 "eval, untracked: output depends on batch-mates":
                     str(results[False, True, False][0]).lower()})

# %% [markdown]
# ## One value per channel
#
# With batch statistics, one value per channel has no variance to speak
# of, and PyTorch refuses it. Which shapes trigger the error, in which
# mode:

# %%
# --8<-- [start:one_value]
cases = [("BatchNorm1d", (1, 8)), ("BatchNorm2d", (1, 8, 1, 1)),
         ("BatchNorm2d", (1, 8, 4, 4)), ("BatchNorm1d", (2, 8))]
error_rows = []
for name, shape in cases:
    for training in (True, False):
        layer = getattr(nn, name)(8).train(training)
        try:
            layer(torch.randn(shape))
            outcome = "ok"
        except ValueError as error:
            outcome = f"ValueError: {str(error).split(',')[0]}"
        error_rows.append([name, str(shape),
                           "train()" if training else "eval()", outcome])
# --8<-- [end:one_value]
for row in error_rows:
    print(row)
report.table("one_value", ["Layer", "Input shape", "Mode", "Result"],
             error_rows)
