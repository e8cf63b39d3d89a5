# %% [markdown]
# # Which axes each normalization layer reduces over
#
# BatchNorm, LayerNorm, InstanceNorm, GroupNorm and RMSNorm differ mainly
# in which elements share their statistics (a mean and a variance; for
# RMSNorm only a root mean square) (they also differ in their
# affine parameters and running statistics). This example asks each real
# module, in training mode (nudge one input element, see which outputs
# move), tabulates the answers, and draws them as the (N, C, H*W) cube of
# Wu & He's Figure 2.
#
# Why this matters for Batch Normalization: BatchNorm is the one kind of
# layer here that shares statistics across the samples of a batch. So in
# training mode its output for one sample depends on the rest of the
# batch; in `eval()` it uses running statistics instead. A batch of one
# can also be a problem. The other layers make other choices, and the
# table below puts all the answers side by side.
#
# The probe is `shares_statistics` from `snippets/experiments/norm_axes.py`.
# It nudges one input element and returns a mask of the outputs that
# move: exactly the elements normalized with the same statistics.
# `statistics_groups` labels every element with its group, so the number
# of groups is the number of statistics the layer computes.
# `reduced_axes` names the axes that one group spans.

# %%
import warnings

import matplotlib.pyplot as plt
import torch
from torch import nn

from snippets.experiments.norm_axes import (
    reduced_axes,
    shares_statistics,
    statistics_groups,
)
from snippets.support.report import Report

report = Report("norm_axes")
g = torch.Generator().manual_seed(0)
NAMES = {2: ["N", "C"], 3: ["N", "C", "L"], 4: ["N", "C", "H", "W"],
         5: ["N", "C", "D", "H", "W"]}

# %% [markdown]
# ## The layers, as one would build them for C = 4 channels
#
# `g` above is one random generator for every input in this example, so
# the tables come out the same on every run. `NAMES` gives the axis names
# for each number of dimensions an input can have here.
#
# `SHAPES` lists the input shapes to try, from an unbatched (C,) vector
# to a batch of volumes (N, C, D, H, W). `layers` maps each layer to a
# function that builds a new one, and to the shape of its example input,
# the layout the layer is made for.
#
# Two of them are built with a non-default `track_running_stats`,
# because that argument, not the kind of layer, decides whether a layer
# keeps running statistics.

# %%
# --8<-- [start:layers]
C = 4
SHAPES = {  # the shapes tried, at these sizes: N = 2, L = 9, H = W = 3
    "(C,)": (C,), "(N, C)": (2, C), "(C, L)": (C, 9), "(N, C, L)": (2, C, 9),
    "(C, H, W)": (C, 3, 3), "(N, C, H, W)": (2, C, 3, 3),
    "(N, C, D, H, W)": (2, C, 2, 3, 3)}
layers = {  # name -> (how to build it, the input shape it is probed on)
    "BatchNorm1d(4)": (lambda: nn.BatchNorm1d(C), "(N, C, L)"),
    "BatchNorm2d(4)": (lambda: nn.BatchNorm2d(C), "(N, C, H, W)"),
    "BatchNorm2d(4, track_running_stats=False)": (
        lambda: nn.BatchNorm2d(C, track_running_stats=False), "(N, C, H, W)"),
    "BatchNorm3d(4)": (lambda: nn.BatchNorm3d(C), "(N, C, D, H, W)"),
    "LayerNorm([4, 3, 3])": (lambda: nn.LayerNorm([C, 3, 3]),
                             "(N, C, H, W)"),
    "GroupNorm(2, 4)": (lambda: nn.GroupNorm(2, C), "(N, C, H, W)"),
    "InstanceNorm1d(4)": (lambda: nn.InstanceNorm1d(C), "(N, C, L)"),
    "InstanceNorm2d(4)": (lambda: nn.InstanceNorm2d(C), "(N, C, H, W)"),
    "InstanceNorm2d(4, track_running_stats=True)": (
        lambda: nn.InstanceNorm2d(C, track_running_stats=True),
        "(N, C, H, W)"),
    "RMSNorm([4, 3, 3])": (lambda: nn.RMSNorm([C, 3, 3]), "(N, C, H, W)"),
}
# --8<-- [end:layers]

# %% [markdown]
# ## Two more questions for each layer
#
# `accepted(make)` feeds every shape of `SHAPES` to a new layer, in
# training mode, and lists the shapes that run without an error. Some
# layers accept a shape only by reading it as another layout, and say so
# only with a `UserWarning`. The function marks with `*` every accepted
# shape for which the layer gave a warning of any kind.
#
# `differs_in_eval(make, size)` first runs the layer on three batches in
# training mode. These batches are scaled and shifted, so their
# statistics differ from those of the standard normal input `x`
# that follows. Then it compares the output on `x` in training mode and
# in `eval()`. BatchNorm uses its running statistics in `eval()` and the
# statistics of `x` in training mode, so its two outputs should differ.
# The table shows which other layers behave the same way.

# %%
def accepted(make):
    """Which of the candidate shapes the layer accepts (training mode);
    '*' marks one accepted only with a UserWarning, read another way."""
    ok = []
    for name, size in SHAPES.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                make()(torch.randn(size, generator=g))
            except (ValueError, RuntimeError):
                continue
        ok.append(name + ("*" if caught else ""))
    return ", ".join(ok)


def differs_in_eval(make, size):
    """Does eval() change the output once the layer has seen batches?"""
    layer = make()
    for _ in range(3):
        layer(torch.randn(size, generator=g) * 3 + 2)  # train mode
    x = torch.randn(size, generator=g)
    with torch.no_grad():
        return not torch.allclose(layer.train()(x), layer.eval()(x))


# %% [markdown]
# ## The table
#
# For each layer, the loop builds a new module (a new module is in
# training mode), probes the first element of its example input, and
# counts the groups of shared statistics. It also lists the layer's
# parameters and checks whether it keeps running statistics
# (`running_mean` among its buffers). RMSNorm computes a root mean square
# and no mean, so its count says "RMS only".

# %%
# --8<-- [start:table]
rows = []
for name, (make, example) in layers.items():
    size = SHAPES[example]
    layer = make()  # a new module is in training mode
    x = torch.randn(size, generator=g)
    group = shares_statistics(layer, x, (0,) * x.dim())
    count = int(statistics_groups(layer, x).max()) + 1
    params = ", ".join(f"{n} {tuple(p.shape)}"
                       for n, p in layer.named_parameters()) or "none"
    buffers = [n for n, b in layer.named_buffers() if b is not None]
    rows.append([
        name, accepted(make), example,
        reduced_axes(group, NAMES[x.dim()]),
        f"{count} (RMS only)" if isinstance(layer, nn.RMSNorm) else str(count),
        params, "yes" if "running_mean" in buffers else "no",
        "yes" if differs_in_eval(make, size) else "no"])
# --8<-- [end:table]

# %% [markdown]
# Read the table column by column.
#
# - "Statistics shared over": check whether N appears. Only a layer whose
#   statistics pool N makes one sample's output depend on the other
#   samples in the batch. Also check whether C appears: a layer that pools
#   C mixes the channels of one sample.
# - "Statistics for the example": the number of mean/variance pairs for
#   the example input. Compare it with the sizes of N and C in `SHAPES`:
#   one pair per channel, per sample, per sample and group, or per sample
#   and channel.
# - "Running statistics" and "eval() differs from train()": these two
#   columns should agree on every row. The two rows built with a
#   non-default `track_running_stats` show that the argument decides, not
#   the kind of layer. A row where the columns disagree would be a
#   surprise.
# - "Accepts": a `*` marks a shape that the layer runs on only by reading
#   it another way. Such a shape gives no error, so a wrong layout can go
#   unnoticed.

# %%
report.table("layers", [
    "Layer", "Accepts (of the shapes tried)", "Example input",
    "Statistics shared over", "Statistics for the example",
    "Parameters", "Running statistics", "eval() differs from train()"], rows)

# %% [markdown]
# ## A batch of one, in training
#
# In training mode BatchNorm refuses to compute a channel's statistics
# from a single value, and InstanceNorm refuses an input with a single
# position; whether a batch of one runs into that depends on the layer and
# on the positions of the input.
#
# `in_training(layer, size)` runs the layer in training mode on a random
# input of shape `size`. It returns "works", or the first part of the
# `ValueError` message. The list `one` holds the cases to try: each layer
# with a batch of one sample, with and without positions.

# %%
# --8<-- [start:batch_of_one]
def in_training(layer, size):
    """What the layer, in training mode, does with an input of ``size``."""
    try:
        layer.train()(torch.randn(size, generator=g))
        return "works"
    except ValueError as error:
        return f"ValueError: {str(error).split(',')[0]}"


one = [("BatchNorm1d(4)", nn.BatchNorm1d(C), (1, C)),
       ("BatchNorm1d(4)", nn.BatchNorm1d(C), (1, C, 9)),
       ("BatchNorm2d(4)", nn.BatchNorm2d(C), (1, C, 1, 1)),
       ("BatchNorm2d(4)", nn.BatchNorm2d(C), (1, C, 3, 3)),
       ("InstanceNorm1d(4)", nn.InstanceNorm1d(C), (1, C, 1)),
       ("GroupNorm(2, 4)", nn.GroupNorm(2, C), (1, C)),
       ("LayerNorm(4)", nn.LayerNorm(C), (1, C))]
batch_of_one = [[name, str(size), in_training(layer, size)]
                for name, layer, size in one]
# --8<-- [end:batch_of_one]

# %% [markdown]
# In the table, compare rows of the same layer. The batch size is one in
# every row, so it is not what decides. For BatchNorm, look at the number
# of values that each channel has: N times the number of positions. For
# InstanceNorm, look at the number of positions alone. For these two
# layers, a batch of one with more than one value per statistic should
# work, and a single value per statistic should raise. GroupNorm and
# LayerNorm compute their statistics within one sample; see whether they
# accept the (1, C) input.

# %%
report.table("batch_of_one", ["Layer", "Input", "In training mode"],
             batch_of_one)

# %% [markdown]
# ## The cube
#
# An (N, C, H*W) = (4, 6, 4) input, one panel per layer. The shaded cells
# share a mean and variance with the cell at the front corner, as found by
# the same probe (not drawn by hand). This is the picture of Wu & He's
# Figure 2.
#
# The figure flattens the H and W axes of `x` into one axis. For each
# layer the cell probes the first element of `x` and colours the cells of
# the mask: blue for the cells that share its statistics, white for the
# others. All four layers get the same input.
#
# Look at the shape of the blue block in each panel. A block that spans
# the N axis means statistics shared across samples, as in BatchNorm. A
# block that stays in one sample but spans C means statistics shared
# across channels. Each panel should show the axes that the table gave
# for the same kind of layer.

# %%
x = torch.randn(4, 6, 2, 2, generator=g)
panels = {
    "Batch Norm": nn.BatchNorm2d(6), "Layer Norm": nn.LayerNorm([6, 2, 2]),
    "Instance Norm": nn.InstanceNorm2d(6),
    "Group Norm (2 groups)": nn.GroupNorm(2, 6)}
fig = plt.figure(figsize=(7.2, 2.4), layout="constrained")
for i, (title, layer) in enumerate(panels.items()):
    mask = shares_statistics(layer, x, (0, 0, 0, 0)).reshape(4, 6, 4)
    filled = torch.ones(4, 6, 4, dtype=torch.bool).numpy()  # (N, C, HW)
    colors = filled.astype(object)
    colors[:] = "#ffffff"
    colors[mask.numpy()] = "#4c8fd6"
    ax = fig.add_subplot(1, 4, i + 1, projection="3d")
    ax.voxels(filled, facecolors=colors, edgecolor="0.35", linewidth=0.3)
    ax.set_box_aspect((4, 6, 4))
    ax.view_init(elev=22, azim=-125)
    ax.set_axis_off()
    ax.text(2, -1.2, -0.6, "N", fontsize=8, ha="center")
    ax.text(-1.2, 3, -0.6, "C", fontsize=8, ha="center")
    ax.text(0, 7.0, 2, "H, W", fontsize=8, ha="right")  # beside the box
    ax.set_title(title, fontsize=9)
report.figure(fig, "cube")

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote these numbers: the number of mean/variance pairs
# of four layers for the example input, taken from the table above. A
# reader can skip this section.

# %%
counts = {r[0]: r[4] for r in rows}
report.values(bn2d=counts["BatchNorm2d(4)"], ln=counts["LayerNorm([4, 3, 3])"],
              gn=counts["GroupNorm(2, 4)"],
              in2d=counts["InstanceNorm2d(4)"])
