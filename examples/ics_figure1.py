# %% [markdown]
# # Ioffe & Szegedy's Figure 1, on Fashion-MNIST
#
# A fully connected network with 3 hidden layers of 100 sigmoid units,
# trained with mini-batches of 60, with and without BatchNorm before each
# sigmoid, same optimizer and learning rate. We record the test accuracy,
# the 15th, 50th and 85th percentiles of the input to one sigmoid of the
# last hidden layer, and how much every hidden layer's input distribution
# moves between measurements.

# %%
import matplotlib.pyplot as plt
import torch

from snippets.support import data
from snippets.experiments.ics import sigmoid_inputs, sigmoid_mlp
from snippets.support.report import FAST, Report
from snippets.support.training import accuracy, train

report = Report("ics_figure1")
x_train, y_train = data.load("fashion_mnist", train=True)
x_test, y_test = data.load("fashion_mnist", train=False)
STEPS = 300 if FAST else 20_000
EVERY = 30 if FAST else 400          # measure every EVERY steps
BATCH, LR = 60, 0.5
x_watch = x_test[:1000]              # fixed images to watch the sigmoids

# %%
# --8<-- [start:run]
history = {}
for norm in ["none", "bn"]:
    torch.manual_seed(0)
    model = sigmoid_mlp(norm)
    record = {"step": [], "accuracy": [], "percentiles": [], "mean": [],
              "std": []}

    def watch(step, model=model, record=record):
        if step % EVERY:
            return
        inputs = sigmoid_inputs(model, x_watch)  # as seen in training
        record["step"].append(step)
        record["accuracy"].append(accuracy(model, x_test, y_test))
        model.train()  # accuracy() switched to eval mode
        last = inputs[-1][:, 0]  # one sigmoid of the last hidden layer
        record["percentiles"].append(
            torch.quantile(last, torch.tensor([0.15, 0.5, 0.85])).tolist())
        record["mean"].append([h.mean(0) for h in inputs])  # per layer
        record["std"].append([h.std(0) for h in inputs])

    epochs = -(-STEPS * BATCH // len(x_train))
    train(model, x_train, y_train, epochs=epochs, batch_size=BATCH,
          optimizer=torch.optim.SGD(model.parameters(), lr=LR),
          max_steps=STEPS, callback=watch, label=norm)
    history[norm] = record
# --8<-- [end:run]

# %%
labels = {"none": "without BN", "bn": "with BN"}
fig, ax = plt.subplots()
for norm, record in history.items():
    ax.plot(record["step"], record["accuracy"], label=labels[norm])
ax.set_xlabel("training step (mini-batches of 60)")
ax.set_ylabel("test accuracy")
ax.set_title("(a) Test accuracy", fontsize=10)
ax.legend()
report.figure(fig, "accuracy")

# %%
fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.0), sharey=True)
for ax, (norm, record) in zip(axes, history.items()):
    p = torch.tensor(record["percentiles"])
    for k, name in enumerate(["15th", "50th", "85th"]):
        ax.plot(record["step"], p[:, k], color="C0", alpha=[0.5, 1, 0.5][k],
                label=f"{name} percentile")
    ax.set_title(f"({'b' if norm == 'none' else 'c'}) {labels[norm]}",
                 fontsize=10)
    ax.set_xlabel("training step")
axes[0].set_ylabel("input of one last-layer sigmoid")
axes[1].legend(fontsize=8)
report.figure(fig, "percentiles")

# %% [markdown]
# ## How far the distributions move
#
# For each hidden layer, the change of each sigmoid's input mean and
# standard deviation (over the watched images) between two measurements,
# averaged over the 100 units.

# %%
# --8<-- [start:shift]
def shift(record, layer):
    """Average |change of mean| + |change of std| between measurements."""
    out = []
    for t in range(1, len(record["step"])):
        d_mean = record["mean"][t][layer] - record["mean"][t - 1][layer]
        d_std = record["std"][t][layer] - record["std"][t - 1][layer]
        out.append((d_mean.abs() + d_std.abs()).mean().item())
    return out
# --8<-- [end:shift]


fig, axes = plt.subplots(1, 3, figsize=(7.2, 2.8), sharey=True)
for layer, ax in enumerate(axes):
    for norm, record in history.items():
        ax.plot(record["step"][1:], shift(record, layer), label=labels[norm])
    ax.set_yscale("log")
    ax.set_title(f"hidden layer {layer + 1}", fontsize=10)
    ax.set_xlabel("training step")
axes[0].set_ylabel(f"input shift per {EVERY} steps")
axes[2].legend(fontsize=8)
report.figure(fig, "shift")

# %%
def first_step_reaching(record, level):
    for step, acc in zip(record["step"], record["accuracy"]):
        if acc >= level:
            return step
    return None


final = {n: r["accuracy"][-1] for n, r in history.items()}
target = 0.95 * final["none"]
reach = {n: first_step_reaching(r, target) for n, r in history.items()}
mean_shift = {n: sum(sum(shift(r, l)) for l in range(3)) / (3 * len(
    shift(r, 0))) for n, r in history.items()}
report.table("results", ["Network", f"Test accuracy after {STEPS} steps",
                         f"First measured step at {target:.1%}",
                         "Mean input shift (all layers)"], [
    [labels[n], f"{final[n]:.2%}", str(reach[n]), f"{mean_shift[n]:.4f}"]
    for n in history])
report.values(
    steps=STEPS, every=EVERY, lr=LR, acc_plain=f"{final['none']:.2%}",
    acc_bn=f"{final['bn']:.2%}", target=f"{target:.1%}",
    reach_plain=str(reach["none"]), reach_bn=str(reach["bn"]),
    shift_plain=f"{mean_shift['none']:.4f}",
    shift_bn=f"{mean_shift['bn']:.4f}",
    paper_ratio=f"{50_000 / STEPS:.1f}",
    bn_accuracy_word="higher" if final["bn"] > final["none"] else "lower",
    spread=f"{abs(final['bn'] - final['none']):.2%}",
    # One seed cannot separate a gap under a point from noise.
    end_sentence=(f"It did not end clearly more accurate (a gap of "
                  f"{abs(final['bn'] - final['none']):.2%})."
                  if abs(final["bn"] - final["none"]) < 0.01 else
                  "It also ended "
                  f"{100 * (final['bn'] - final['none']):+.2f} points "
                  "of test accuracy apart."),
    shift_word="less" if mean_shift["bn"] < mean_shift["none"] else "more",
)
