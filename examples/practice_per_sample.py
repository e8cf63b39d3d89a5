# %% [markdown]
# # Per-sample gradients through BatchNorm
#
# `torch.func.vmap` of `torch.func.grad` computes one gradient per sample.
# It runs the model on each sample as a batch of one. That only makes
# sense when each sample's loss depends on that sample alone. A BatchNorm
# layer in training mode breaks this: it normalizes every sample with the
# statistics of the whole batch, so each sample's loss depends on every
# other sample of the batch.
#
# This example:
#
# 1. shows the error that vmap raises through BatchNorm in training mode,
#    and that eval mode runs;
# 2. shows what `torch.func.replace_all_batch_norm_modules_` changes to
#    make training mode run, and what it costs;
# 3. checks whether the result is a per-sample split of the batch
#    gradient, with BatchNorm and with GroupNorm;
# 4. measures how much one sample's loss depends on another sample's
#    input, for both layers.

# %%
import copy

import torch
from torch import nn
from torch.func import (
    functional_call,
    grad,
    replace_all_batch_norm_modules_,
    vmap,
)

from snippets.support import data
from snippets.support.report import Report
from snippets.support.rules import Above, All, Below, Equal

# %% [markdown]
# The batch `x` (with labels `y`) is a few Fashion-MNIST test images.
# `cnn(norm)` builds a small CNN: a convolution, a normalization layer
# made by `norm`, a ReLU and a Linear classifier. `model` uses
# BatchNorm2d; later cells build the same network with GroupNorm.

# %%
report = Report("practice_per_sample")
images, labels = data.load("fashion_mnist", train=False)
x, y = images[:8], labels[:8]
torch.manual_seed(0)


def cnn(norm):
    return nn.Sequential(nn.Conv2d(1, 4, 5, stride=3), norm(4), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 8 * 8, 10))


model = cnn(nn.BatchNorm2d)


# %% [markdown]
# ## vmap through BatchNorm, in training and in eval mode
#
# `per_sample_gradients` takes the parameters and the buffers of a model
# out as plain tensors. `loss` computes the loss of one sample, which it
# turns into a batch of one with `sample[None]`. `functional_call` runs the
# model with the given tensors. `vmap` maps `grad(loss)` over the samples
# of `x` and `y`, and shares the parameters and buffers between them.
#
# The code calls it twice. First in training mode: the error is caught,
# and its first line is printed. Read the message: it says what vmap could
# not do with the running statistics, which BatchNorm updates in place in
# training mode. Then in eval mode, where BatchNorm uses its running
# statistics and is a fixed affine map per channel. The second printed
# line gives the shape of each per-sample gradient. The first dimension
# of each shape should be the number of samples in `x`: one gradient per
# sample.

# %%
# --8<-- [start:vmap]
def per_sample_gradients(model):
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def loss(params, buffers, sample, target):  # one sample: a batch of 1
        out = functional_call(model, (params, buffers), (sample[None],))
        return nn.functional.cross_entropy(out, target[None])

    return vmap(grad(loss), in_dims=(None, None, 0, 0))(params, buffers,
                                                         x, y)


try:
    per_sample_gradients(model.train())
except RuntimeError as error:
    message = str(error).splitlines()[0]
print("training mode:", message)
in_eval = per_sample_gradients(model.eval())  # a fixed affine map: fine
# --8<-- [end:vmap]
print("eval mode:", {k: tuple(v.shape) for k, v in in_eval.items()})

# %% [markdown]
# ## What replace_all_batch_norm_modules_ changes
#
# `replace_all_batch_norm_modules_` works in place, on every BatchNorm
# layer of the model; here it works on a copy, `patched`, in training
# mode. After it, `per_sample_gradients` runs in training mode too.
#
# Then a test of eval mode on the patched model: the first image alone,
# and the same image as the first row of the whole batch `x`. In eval
# mode, a model with running statistics gives an image the same output
# (up to float32 rounding), whatever its batch-mates.

# %%
# --8<-- [start:replace]
patched = replace_all_batch_norm_modules_(copy.deepcopy(model).train())
layer = patched[1]
after = per_sample_gradients(patched)  # runs now
with torch.no_grad():  # eval mode has no running statistics left:
    alone = patched.eval()(x[:1])
    in_batch = patched.eval()(x)[:1]  # the same image, other batch-mates
# --8<-- [end:replace]

# %% [markdown]
# The table compares the BatchNorm2d layer of `model` (before) with the
# one of `patched` (after). Look at what is gone: `track_running_stats`
# is off, and the running statistics and the batch counter are `None`.
# The class stays the same. So the patched layer has no running
# statistics to update, and nothing for vmap to update in place. It also
# has none to use in eval mode.

# %%
rows = [
    ["track_running_stats", model[1].track_running_stats,
     layer.track_running_stats],
    ["running_mean", "tensor of 4" if model[1].running_mean is not None
     else "None", "None" if layer.running_mean is None else "tensor"],
    ["num_batches_tracked", "tensor" if model[1].num_batches_tracked
     is not None else "None",
     "None" if layer.num_batches_tracked is None else "tensor"],
    ["buffers in state_dict", sum("running" in k or "tracked" in k
                                  for k in model.state_dict()),
     sum("running" in k or "tracked" in k for k in patched.state_dict())],
    ["class", type(model[1]).__name__, type(layer).__name__]]
report.table("replace", ["BatchNorm2d layer", "before", "after"],
             [[a, str(b), str(c)] for a, b, c in rows])

# %% [markdown]
# The cost shows in eval mode. Without running statistics, the layer
# normalizes with the statistics of the batch in eval mode too. The
# printed number is the largest difference between the first image's
# output alone and in the batch. For a model with running statistics, only
# float32 rounding could make it differ from 0. A value above rounding
# means that the patched model's predictions depend on which other images
# are in the batch. So patch a copy for the per-sample gradients, and keep
# the original for evaluation.

# %%
batch_dependence = (alone - in_batch).abs().max().item()
print(f"one image alone minus in the batch, eval mode: "
      f"{batch_dependence:.2g}")


# %% [markdown]
# ## Is that the batch gradient, split per sample?
#
# When each sample's loss depends on that sample alone, the mean of the
# per-sample gradients is the gradient of the mean loss over the batch.
# Two helpers test this. `batch_gradient` computes the gradient of the
# mean loss over the batch, in training mode. `relative_gap` compares the
# mean of the per-sample gradients with it, parameter by parameter: the
# norm of the difference over the norm of the batch gradient. It returns
# the largest of these ratios.

# %%
def batch_gradient(model):
    model.zero_grad()
    nn.functional.cross_entropy(model.train()(x), y).backward()
    return {k: p.grad.clone() for k, p in model.named_parameters()}


def relative_gap(per_sample, whole):
    gaps = [(per_sample[k].mean(0) - whole[k]).norm() / whole[k].norm()
            for k in whole]
    return max(gaps).item()


# %% [markdown]
# We apply the test to the patched BatchNorm model and to a GroupNorm
# model, `group_model`. GroupNorm normalizes each sample on its own, so it
# is the control: its gap should be at the level of float32 rounding.
# For the patched model, vmap normalized each sample with its own
# statistics, while the batch gradient used the statistics of the whole
# batch. A gap far above rounding means that the vmap result is not a
# split of the batch gradient. The claims at the end check both numbers.

# %%
group_model = cnn(lambda c: nn.GroupNorm(2, c))
split_bn = relative_gap(after, batch_gradient(patched))
split_gn = relative_gap(per_sample_gradients(group_model),
                        batch_gradient(group_model))
print(f"per-sample mean vs batch gradient: BatchNorm {split_bn:.2f}, "
      f"GroupNorm {split_gn:.1e}")

# %% [markdown]
# ## One sample's loss, another sample's input
#
# The cause, measured directly. `cross_gradient` computes, in training
# mode, the loss of every sample, and takes the backward pass of sample
# 0's loss only. The gradient that reaches sample 1's pixels then measures
# how much sample 0's loss depends on sample 1's input. The function
# returns its largest absolute value.
#
# In the table, compare the two layers. With GroupNorm, nothing connects
# the two samples, so we expect exactly zero. With BatchNorm2d, any value
# that is not zero is the mixing of samples that makes a per-sample
# gradient ill-defined in training mode.

# %%
# --8<-- [start:cross]
def cross_gradient(model):
    inputs = x.clone().requires_grad_()
    losses = nn.functional.cross_entropy(model.train()(inputs), y,
                                         reduction="none")
    losses[0].backward()  # sample 0's loss only
    return inputs.grad[1].abs().max().item()  # ... moved by sample 1


cross = {"BatchNorm2d": cross_gradient(copy.deepcopy(model)),
         "GroupNorm(2, 4)": cross_gradient(group_model)}
# --8<-- [end:cross]
report.table("cross", ["Layer (training mode)",
                       "Largest gradient of sample 0's loss w.r.t. sample "
                       "1's pixels"],
             [[name, f"{value:.1e}"] for name, value in cross.items()])

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote the numbers below, and each claim is a rule that
# the build checks against this run. A reader can skip this section.
#
# For the mixing claim, "nonzero" for BatchNorm means well above float32
# rounding, not just above 0.

# %%
report.values(batch_size=len(x), batch_dependence=f"{batch_dependence:.2g}",
              split_bn=f"{split_bn:.2g}", split_gn=f"{split_gn:.1e}")
report.claim("patched_eval_depends_on_batch", Above(
    f"largest output difference, an image alone minus it in a batch of "
    f"{len(x)}, eval mode, patched model", batch_dependence, 1e-3))
report.claim("per_sample_is_not_batch_split", All([
    Above("mean per-sample minus batch gradient, relative, BatchNorm",
          split_bn, 0.01),
    Below("mean per-sample minus batch gradient, relative, GroupNorm",
          split_gn, 1e-5)]))
report.claim("samples_mixed_by_batchnorm", All([
    Above("largest gradient of sample 0's loss w.r.t. sample 1's pixels, "
          "BatchNorm2d", cross["BatchNorm2d"], 1e-6),
    Equal("largest gradient of sample 0's loss w.r.t. sample 1's pixels, "
          "GroupNorm(2, 4)", cross["GroupNorm(2, 4)"], 0)]))
