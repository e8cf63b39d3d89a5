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
from snippets.support.rules import All, Equal

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
no_grad_changed = sum(results[t, True, k] != results[t, False, k]
                      for t in (True, False) for k in (True, False))
print("combinations where no_grad changed the outcome:", no_grad_changed)
report.claim("no_grad_changes_nothing", Equal(
    "settings of mode and track_running_stats (of 4) where no_grad "
    "changed the statistics used or the update", no_grad_changed, 0))
# Each reading counts over both gradient settings, with and without
# no_grad, as the page's sentences speak of the mode alone.
eval_tracked = [results[False, grad, True] for grad in (True, False)]
report.claim("eval_uses_running_when_tracked", All([
    Equal("eval(), tracked: runs (of 2) whose output depends on "
          "batch-mates", sum(d for d, _ in eval_tracked), 0),
    Equal("eval(), tracked: runs (of 2) that updated the running "
          "statistics", sum(u for _, u in eval_tracked), 0)]))
untracked = [results[training, grad, False] for training in (True, False)
             for grad in (True, False)]
report.claim("untracked_uses_batch_in_eval", Equal(
    "untracked: runs (of 4, train() and eval()) whose output depends on "
    "batch-mates", sum(d for d, _ in untracked), len(untracked)))

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
