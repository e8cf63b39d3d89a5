# %% [markdown]
# # One image, many batches: why inference needs fixed statistics
#
# In training mode, BatchNorm normalizes each image with its batch's
# statistics, so the same image can get a different prediction depending
# on which other images share its batch. In evaluation mode a layer that
# tracks running statistics (the default) normalizes with them instead,
# and the prediction is the image's alone.
#
# This example makes that visible. We take one trained model and one test
# image, put the image in many different batches, and look at the
# probability the model gives to the image's true class, first in training
# mode and then in evaluation mode.

# %% [markdown]
# ## A small trained model
#
# The first cell imports what the example needs and loads Fashion-MNIST.

# %%
import copy
import statistics

import matplotlib.pyplot as plt
import torch

from snippets.experiments.models import mlp
from snippets.support import data
from snippets.support.report import FAST, Report
from snippets.support.rules import Below, Greater
from snippets.support.training import accuracy, train

torch.manual_seed(0)
report = Report("inference_batch_dependence")

x_train, y_train = data.load("fashion_mnist", train=True)
x_test, y_test = data.load("fashion_mnist", train=False)

# %% [markdown]
# The next cell builds a small MLP (each hidden layer is Linear, then
# BatchNorm1d, then ReLU) and trains it briefly with Adam. The model does
# not need to be good: we only need trained weights and running
# statistics. The printed test accuracy is measured in evaluation mode, as
# `accuracy` always does. Check that it is well above chance (one in ten,
# for ten classes): then the model has learned something, and its
# predictions are worth comparing.

# %%
model = mlp()
train(model, x_train, y_train, epochs=1, batch_size=128,
      optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
      max_steps=60 if FAST else None)
print(f"test accuracy (eval mode): {accuracy(model, x_test, y_test):.2%}")

# %% [markdown]
# ## The same image in many different batches
#
# Image `index` of the test set is put in a batch of `batch_size` images,
# together with `batch_size - 1` other test images drawn at random. We do
# this `trials` times, each time with new batch-mates. The image is always
# the first one in its batch, so `probability` reads the first row of the
# output.
#
# There are two copies of the same weights. `in_train_mode` is a copy in
# training mode: its BatchNorm layers normalize with the statistics of the
# batch. `model` is put in evaluation mode: its BatchNorm layers normalize
# with the running statistics. Both are run on exactly the same batches.
# Note that `probability` runs under `torch.no_grad()`. This only turns
# off gradients. It does not switch BatchNorm to the running statistics;
# `eval()` does that.
#
# The printed lines give the lowest and the highest probability over the
# batches, in each mode. Look at how far apart the two numbers are. In
# training mode they can be far apart: the prediction for one image
# depends on the other images. In evaluation mode they should agree up to
# float rounding, whatever the batch-mates.

# %%
# --8<-- [start:batches]
index, batch_size, trials = 0, 16, 200
image, label = x_test[index:index + 1], y_test[index].item()
others = torch.arange(1, len(x_test))
g = torch.Generator().manual_seed(1)
in_train_mode = copy.deepcopy(model).train()  # a copy: keep model intact
model.eval()


@torch.no_grad()
def probability(net, mates):
    """Probability the net gives the image's true class, with these
    batch-mates."""
    batch = torch.cat([image, x_test[mates]])
    return net(batch).softmax(dim=1)[0, label].item()


random_mates = [
    others[torch.randperm(len(others), generator=g)[:batch_size - 1]]
    for _ in range(trials)]
train_probs = [probability(in_train_mode, m) for m in random_mates]
eval_probs = [probability(model, m) for m in random_mates]
# --8<-- [end:batches]
print(f"train mode: {min(train_probs):.3f} to {max(train_probs):.3f}")
print(f"eval mode:  {min(eval_probs):.6f} to {max(eval_probs):.6f}")

# %% [markdown]
# ## Batch-mates from a single class
#
# Random batch-mates give a mixture of classes. What if all of them come
# from one class? For each of the other classes in turn, the batch-mates
# are the first `batch_size - 1` test images of that class. The batch
# statistics then describe that class, not the data set. The cell prints
# the class that gives the lowest probability of the true class, in
# training mode. Compare it with the range above: does a batch of a single
# class push the probability outside the range of the random batches? A
# real batch at test time can look like this, for example when the images
# arrive sorted by class.

# %%
class_names = data.FASHION_CLASSES
one_class = {}
for c in range(10):
    if c == label:
        continue
    mates = (y_test == c).nonzero().flatten()[:batch_size - 1]
    one_class[class_names[c]] = probability(in_train_mode, mates)
worst = min(one_class, key=one_class.get)
print(f"worst batch-mates: {batch_size - 1} x {worst}: {one_class[worst]:.3f}")

# %% [markdown]
# The figure puts all of this on one axis: the probability of the true
# class. The top row shows the random batches in training mode, one dot
# per batch (a small vertical jitter keeps the dots apart). The middle row
# shows the single-class batches, one cross per class. The bottom row shows
# the same random batches in evaluation mode. Look at how far each row
# spreads from left to right. In training mode (the top two rows) the
# dots may spread out. In evaluation mode (the bottom row) all dots should
# sit at one horizontal position, up to rounding. Also look at where the
# dots sit relative to one half. Above one half, the true class is surely
# the model's top class; below it, another class may win. The site counts
# the batches below one half.

# %%
fig, ax = plt.subplots(figsize=(7.2, 2.8))
jitter = torch.rand(trials, generator=g) * 0.3
ax.scatter(train_probs, 2 + jitter - 0.15, s=8, alpha=0.6, color="C3")
ax.scatter(list(one_class.values()), [1] * len(one_class), marker="x",
           color="C1")
ax.scatter(eval_probs, jitter - 0.15, s=8, alpha=0.6, color="C0")
ax.set_yticks([2, 1, 0], [f"train(): {batch_size - 1} random\nbatch-mates",
                          f"train(): {batch_size - 1} batch-mates\n"
                          "of one other class",
                          "eval(): the same\nrandom batches"])
ax.set_ylim(-0.5, 2.5)
ax.set_xlim(-0.02, 1.02)
ax.set_xlabel(f"probability of the true class ({class_names[label]})")
ax.set_title("One test image, the same weights, different batch-mates",
             fontsize=10)
report.figure(fig, "batch_dependence")

# %% [markdown]
# ## A typical image
#
# One image can be a borderline case for the model (its probability in
# evaluation mode is printed above), and this image's spread may be
# larger than a typical image's.
# The same measurement on the next test images, with fewer random
# batches each: the range of the true-class probability over the batches,
# image by image, and its median. A range grows with the number of draws,
# so image `index` is compared over as many batches as each of these got
# (its first ones).
#
# The loop below does this for `typical_images` images, with
# `typical_trials` random batches each, all in training mode. The cell
# prints the median range, and the range of image `index` over its first
# `typical_trials` batches. Compare the two. If the median is smaller,
# image `index` moved more than a typical image did, and the figure above
# shows a case at the large end. The claims at the end check this
# comparison.

# %%
typical_images, typical_trials = (20, 20) if FAST else (50, 40)
ranges = []
with torch.no_grad():
    for i in range(index + 1, index + 1 + typical_images):
        others = torch.cat([torch.arange(0, i),
                            torch.arange(i + 1, len(x_test))])
        probs = []
        for _ in range(typical_trials):
            mates = others[torch.randperm(len(others),
                                          generator=g)[:batch_size - 1]]
            out = in_train_mode(torch.cat([x_test[i:i + 1], x_test[mates]]))
            probs.append(out.softmax(dim=1)[0, y_test[i]].item())
        ranges.append(max(probs) - min(probs))
median_range = statistics.median(ranges)
print(f"median range over {typical_images} images: {median_range:.3f}")
# image 0 over as many batches as each typical image got: its first ones
same_draws = train_probs[:typical_trials]
first_range = max(same_draws) - min(same_draws)
print(f"range for image {index} over its first {typical_trials} batches: "
      f"{first_range:.3f}")

# %% [markdown]
# What to take from this example: in training mode, a BatchNorm model's
# prediction for one input depends on the rest of its batch. For
# inference, call `model.eval()`: the layers then use their running
# statistics, and each prediction depends on its own input only.

# %% [markdown]
# ## For the site: values and claims
#
# The site's pages quote these numbers, and each claim is a rule that the
# build checks against this run. A reader can skip this section.
#
# `eval_spread` is the range of the probability over the random batches
# in evaluation mode. `BORDERLINE` defines what the page calls a
# borderline image: its probability in evaluation mode is within this
# distance of one half.

# %%
train_range = max(train_probs) - min(train_probs)
BORDERLINE = 0.2  # "within 0.2 of one half"
eval_spread = max(eval_probs) - min(eval_probs)
report.values(
    label=class_names[label], trials=trials,
    train_low=f"{min(train_probs):.3f}", train_high=f"{max(train_probs):.3f}",
    below_half=sum(p < 0.5 for p in train_probs),
    eval_spread=f"{eval_spread:.1e}", eval_prob=f"{eval_probs[0]:.3f}",
    worst_class=worst, worst_prob=f"{one_class[worst]:.3f}",
    typical_images=typical_images, typical_trials=typical_trials,
    median_range=f"{median_range:.3f}", borderline=BORDERLINE,
    batch_size=batch_size, mates=batch_size - 1,
    first_range=f"{first_range:.3f}",
)
# "Depends on the batch-mates": the probability spans more than 0.5.
report.claim("train_mode_prediction_depends_on_batch", Greater(
    "highest probability of the true class, training mode",
    max(train_probs), "the lowest, training mode", min(train_probs),
    margin=0.5))
report.claim("eval_prediction_batch_independent", Below(
    "range of the probability over the batches, eval mode", eval_spread,
    1e-6))
report.claim("image_is_borderline", Below(
    "|probability of the true class in eval mode - 0.5|",
    abs(eval_probs[0] - 0.5), BORDERLINE))
report.claim("typical_image_moves_less", Greater(
    f"range for image {index} over its first {typical_trials} batches",
    first_range,
    f"median range over the next {typical_images} test images "
    f"({typical_trials} batches each)", median_range))
