# %% [markdown]
# # Per-sample gradients through BatchNorm
#
# `torch.func.vmap` of `torch.func.grad` computes one gradient per sample
# by running the model on each sample as a batch of one. Through a
# BatchNorm layer in training mode this fails; this example shows the
# error, what `torch.func.replace_all_batch_norm_modules_` changes to make
# it run, and why the result is not a per-sample split of the batch
# gradient: in training mode, each sample's loss depends on every other
# sample of the batch (here measured as a gradient with respect to another
# sample's input), which GroupNorm avoids.

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

report = Report("practice_per_sample")
images, labels = data.load("fashion_mnist", train=False)
x, y = images[:8], labels[:8]
torch.manual_seed(0)


def cnn(norm):
    return nn.Sequential(nn.Conv2d(1, 4, 5, stride=3), norm(4), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 8 * 8, 10))


model = cnn(nn.BatchNorm2d)


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
# It works in place, on every BatchNorm layer of the model.

# %%
# --8<-- [start:replace]
patched = replace_all_batch_norm_modules_(copy.deepcopy(model).train())
layer = patched[1]
after = per_sample_gradients(patched)  # runs now
with torch.no_grad():  # eval mode has no running statistics left:
    alone = patched.eval()(x[:1])
    in_batch = patched.eval()(x)[:1]  # the same image, other batch-mates
# --8<-- [end:replace]
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
batch_dependence = (alone - in_batch).abs().max().item()
print(rows, batch_dependence)

# %% [markdown]
# ## Is that the batch gradient, split per sample?
#
# The gradient of the mean loss over the batch, in training mode, against
# the mean of the per-sample gradients vmap computed (each sample
# normalized with its own statistics). With GroupNorm, which normalizes
# each sample on its own, the two agree.

# %%
def batch_gradient(model):
    model.zero_grad()
    nn.functional.cross_entropy(model.train()(x), y).backward()
    return {k: p.grad.clone() for k, p in model.named_parameters()}


def relative_gap(per_sample, whole):
    gaps = [(per_sample[k].mean(0) - whole[k]).norm() / whole[k].norm()
            for k in whole]
    return max(gaps).item()


group_model = cnn(lambda c: nn.GroupNorm(2, c))
split_bn = relative_gap(after, batch_gradient(patched))
split_gn = relative_gap(per_sample_gradients(group_model),
                        batch_gradient(group_model))
print(f"per-sample mean vs batch gradient: BatchNorm {split_bn:.2f}, "
      f"GroupNorm {split_gn:.1e}")

# %% [markdown]
# ## One sample's loss, another sample's input
#
# In training mode, the loss of sample 0 changes when sample 1's pixels
# change: the gradient of sample 0's loss with respect to sample 1's
# input, for each layer.

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
print(cross)

# %%
report.table("cross", ["Layer (training mode)",
                       "Largest gradient of sample 0's loss w.r.t. sample "
                       "1's pixels"],
             [[name, f"{value:.1e}"] for name, value in cross.items()])
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
# "Nonzero" for BatchNorm: well above float32 rounding, not just above 0.
report.claim("samples_mixed_by_batchnorm", All([
    Above("largest gradient of sample 0's loss w.r.t. sample 1's pixels, "
          "BatchNorm2d", cross["BatchNorm2d"], 1e-6),
    Equal("largest gradient of sample 0's loss w.r.t. sample 1's pixels, "
          "GroupNorm(2, 4)", cross["GroupNorm(2, 4)"], 0)]))
