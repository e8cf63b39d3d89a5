# %% [markdown]
# # train(), eval(), no_grad() and track_running_stats
#
# Three switches decide what a BatchNorm layer does with a batch: the
# module's mode (`train()` / `eval()`), gradient recording
# (`torch.no_grad()`), and `track_running_stats`. This example asks PyTorch
# itself, for every combination: does a sample's output depend on the rest
# of its batch, and do the running statistics move?
#
# The switches are easy to confuse. A common mistake is to use
# `torch.no_grad()` as if it were `eval()`. The table below separates
# the two.

# %% [markdown]
# ## Set-up
#
# The imports, the `Report` that writes this example's tables and claims,
# and one random generator `g`. `probe` draws every random batch from
# `g`, so its part of the run is the same each time. The last cell, on
# one value per channel, draws its inputs without `g`. Its result (an
# error or not) depends only on the shapes.

# %%
import contextlib
import itertools

import torch
from torch import nn

from snippets.support.report import Report
from snippets.support.rules import All, Equal

report = Report("inference_switches")
g = torch.Generator().manual_seed(0)

# %% [markdown]
# ## A probe for one combination of the switches
#
# The function `probe` builds a fresh, small `nn.BatchNorm1d` layer and
# sets the three switches. Then it asks two questions.
#
# 1. **Does the output depend on the batch?** One `sample` is sent through
#    the layer twice: once with the batch-mates `mates_a`, once with the
#    batch-mates `mates_b`. The two groups of batch-mates have very
#    different means and spreads. If the layer normalizes with the
#    statistics of the batch, the sample's output changes. If it
#    normalizes with fixed running statistics, the output stays the same.
# 2. **Do the running statistics move?** The function copies
#    `running_mean` before the two calls and compares it after them.
#
# When the layer tracks running statistics, the function first sets them
# far from their initial values of 0 and 1, as if the layer had been
# trained.

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


# %% [markdown]
# ## All eight combinations
#
# Each switch has two settings, so there are eight combinations. The loop
# runs `probe` once for each and keeps the answers in `results`, keyed by
# the three settings. The table shows one row per combination.
#
# How to read it:
#
# - The column "Statistics used" says whether the sample's output changed
#   with its batch-mates ("batch") or not ("running").
# - Compare two rows that differ only in the "Gradients" column. If
#   `torch.no_grad()` changed what BatchNorm does, these two rows would
#   differ in the last two columns.
# - Compare the rows with `train()` and `eval()`. For a layer that tracks
#   running statistics, the mode is the switch that matters.
# - Look at the rows where `track_running_stats` is False. Such a layer
#   has no running statistics, so it can only use the batch, in both
#   modes.
#
# This matters in practice: a model that is evaluated under
# `torch.no_grad()` but left in training mode still normalizes each test
# batch with that batch's statistics.

# %%
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
report.table("switches", ["Mode", "Gradients", "track_running_stats",
                          "Statistics used", "Running stats updated"], rows)

# %% [markdown]
# ## Does no_grad() change anything?
#
# You can read the table row by row, but a count is easier to check. For
# each setting of the mode and of `track_running_stats` there are two rows:
# with gradients recorded and under `torch.no_grad()`. The code counts the
# settings where these two rows disagree. A count above zero would mean that
# `torch.no_grad()` changes what BatchNorm computes or updates.
# `torch.no_grad()` only stops gradient recording; it does not switch the
# layer to its running statistics. So a count above zero would be a
# surprise. A claim at the end checks this count.

# %%
no_grad_changed = sum(results[t, True, k] != results[t, False, k]
                      for t in (True, False) for k in (True, False))
print("combinations where no_grad changed the outcome:", no_grad_changed)

# %% [markdown]
# ## One value per channel
#
# With batch statistics, a channel with one value has no spread to
# measure: its biased variance is zero, and its unbiased variance is
# undefined. PyTorch refuses it. Which shapes trigger the error, in which
# mode?
#
# The code tries four input shapes, each in training mode and in
# evaluation mode:
#
# - `BatchNorm1d` with one sample: one value per channel.
# - `BatchNorm2d` with one image of one pixel: also one value per channel.
#   This is the shape that comes out of global average pooling when the
#   batch holds one image.
# - `BatchNorm2d` with one image of several pixels: the statistics of a
#   channel are taken over all its pixels, so there is more than one value.
# - `BatchNorm1d` with a batch of more than one sample: more than one
#   value per channel.
#
# In the table, look at the "Result" column. In training mode, the error
# should appear exactly where a channel has a single value. Then compare
# the rows in evaluation mode: there the layer normalizes with its running
# statistics, which do not come from the batch.

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
report.table("one_value", ["Layer", "Input shape", "Mode", "Result"],
             error_rows)

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote the results of this run. Each claim below is a
# rule that the build checks against this run, so a page cannot state
# something the run did not show. A reader can skip this section.
#
# The first claim, `no_grad_changes_nothing`, reads the count printed
# above. It asks that the count is zero: that `torch.no_grad()` changed
# neither the statistics used nor the update, for any setting of the
# mode and of `track_running_stats`.

# %%
report.claim("no_grad_changes_nothing", Equal(
    "settings of mode and track_running_stats (of 4) where no_grad "
    "changed the statistics used or the update", no_grad_changed, 0))

# %% [markdown]
# The next two claims read the table by the mode alone. Each counts over
# both gradient settings, with and without `torch.no_grad()`, because the
# page's sentences speak of the mode only. For a layer that tracks
# running statistics, in `eval()`, `eval_uses_running_when_tracked` asks
# that its output never depends on its batch-mates, and that its running
# statistics never move. For a layer that does not track them,
# `untracked_uses_batch_in_eval` asks that its output depends on its
# batch-mates in every run, in `train()` and in `eval()`.

# %%
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
