# %% [markdown]
# # The bias before BatchNorm does nothing
#
# BatchNorm subtracts each channel's batch mean, so a constant added to the
# channel just before it, the bias of the preceding Linear or Conv2d, is
# subtracted again (Ioffe & Szegedy 2015, Section 3.2). Wherever batch
# statistics are used (training mode), that bias changes no output and gets
# no gradient; `bias=False` saves the parameters.

# %%
import torch
from torch import nn

from snippets.support import data
from snippets.support.report import Report
from snippets.support.rules import Above, All, Below

torch.manual_seed(0)
report = Report("bn_redundant_bias")
images, labels = data.load("fashion_mnist", train=False)
# float64, so that "zero" shows as rounding far below float32's 1e-6.
x, y = images[:128].double(), labels[:128]

# %% [markdown]
# ## The bias's gradient, and what the bias does to the output

# %%
# --8<-- [start:bias]
model = nn.Sequential(
    nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
    nn.Flatten(), nn.Linear(8 * 26 * 26, 10)).double()
conv = model[0]
loss = nn.functional.cross_entropy(model(x), y)
loss.backward()
print("largest |d loss / d conv.bias|:", conv.bias.grad.abs().max().item())
print("largest |d loss / d conv.weight|:", conv.weight.grad.abs().max().item())

with torch.no_grad():
    before = model(x)
    conv.bias += 5.0  # shift every channel by 5 before BN
    after = model(x)
print("largest output change:", (after - before).abs().max().item())
# --8<-- [end:bias]

# %% [markdown]
# In evaluation mode the bias is not cancelled by a batch mean. It is
# absorbed into `running_mean`, which follows it only through its moving
# average (here one training-mode pass has seen the +5, with momentum
# 0.1, so `running_mean` took in a tenth of it). A
# model with `bias=False` and a shifted `running_mean` computes the same
# function, but editing the bias after training changes the eval outputs.

# %%
# --8<-- [start:eval]
model.eval()
with torch.no_grad():
    eval_before = model(x)
    conv.bias -= 5.0
    eval_after = model(x)
print("eval mode, output change:",
      (eval_after - eval_before).abs().max().item())
# --8<-- [end:eval]

# %%
# --8<-- [start:count]
with_bias = nn.Conv2d(64, 128, 3)
without_bias = nn.Conv2d(64, 128, 3, bias=False)
count = sum(p.numel() for p in with_bias.parameters())
saved = count - sum(p.numel() for p in without_bias.parameters())
print(f"Conv2d(64, 128, 3): {count} parameters, bias=False saves {saved}")
# --8<-- [end:count]

# %%
bias_grad = conv.bias.grad.abs().max().item()
weight_grad = conv.weight.grad.abs().max().item()
train_change = (after - before).abs().max().item()
eval_change = (eval_after - eval_before).abs().max().item()
report.values(
    bias_grad=f"{bias_grad:.1e}", weight_grad=f"{weight_grad:.1e}",
    train_change=f"{train_change:.1e}", eval_change=f"{eval_change:.2f}",
    conv_params=count, saved=saved, images=len(x),
)
# Rounding, in float64: far below 1e-10, while the weight gradient (the
# same computation, not cancelled) is well above it.
report.claim("bias_has_no_effect_in_training", All([
    Below("largest |bias gradient|", bias_grad, 1e-10),
    Above("largest |weight gradient|", weight_grad, 1e-10),
    Below("largest output change from adding 5 to every bias",
          train_change, 1e-10)]))
report.claim("bias_edit_changes_eval", Above(
    "largest eval-mode output change from removing the 5 again",
    eval_change, 0.1))
