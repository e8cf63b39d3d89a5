"""The one training loop and the one evaluation every example uses."""

from itertools import islice

import torch
from torch import nn

from snippets.support.data import batches

try:  # a progress bar on a terminal, nothing in a log or a notebook
    from tqdm import tqdm
except ImportError:  # optional: the examples need only torch and friends
    def tqdm(iterable, **kwargs):
        return iterable


# --8<-- [start:train]
def train(model, x, y, *, epochs, batch_size, optimizer, seed=0,
          max_steps=None, label="train", callback=None):
    """Train ``model`` with cross-entropy; return the loss of every step.

    ``callback(step)``, if given, runs after every optimizer step (to
    record statistics during training without a second loop).

    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> x = torch.randn(64, 4)
    >>> y = (x[:, 0] > 0).long()  # a rule the model can learn
    >>> model = nn.Linear(4, 2)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.5)
    >>> losses = train(model, x, y, epochs=3, batch_size=16, optimizer=opt)
    >>> len(losses), sum(losses[-4:]) < sum(losses[:4])
    (12, True)
    """
    generator = torch.Generator().manual_seed(seed)  # same batches each run
    total = epochs * -(-len(x) // batch_size)
    if max_steps is not None:
        total = min(total, max_steps)
    stream = (batch for _ in range(epochs)
              for batch in batches(x, y, batch_size, generator))
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    model.train()  # BN uses batch statistics and updates running ones
    for xb, yb in tqdm(islice(stream, total), total=total, desc=label,
                       disable=None, leave=False):
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if callback is not None:
            callback(len(losses))
    return losses
# --8<-- [end:train]


# --8<-- [start:evaluate]
@torch.no_grad()
def accuracy(model, x, y, batch_size=1000):
    """Fraction of ``x`` classified correctly, in eval mode.

    >>> model = nn.Linear(2, 2)
    >>> with torch.no_grad():
    ...     _ = model.weight.copy_(torch.eye(2)), model.bias.zero_()
    >>> accuracy(model, torch.tensor([[1., 0.], [0., 1.]]),
    ...          torch.tensor([0, 0]))
    0.5
    """
    model.eval()  # BN must use its running statistics here
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = model(x[start:start + batch_size])
        correct += (logits.argmax(1) == y[start:start + batch_size]).sum()
    return correct.item() / len(x)
# --8<-- [end:evaluate]


def smooth(values, window):
    """Moving average over ``window`` steps (for readable loss curves).

    >>> smooth([1.0, 2.0, 3.0, 4.0], 2)
    [1.5, 2.5, 3.5]
    """
    t = torch.tensor(values, dtype=torch.float64)
    window = max(1, min(window, len(t)))
    kernel = torch.full((window,), 1.0 / window, dtype=torch.float64)
    out = torch.nn.functional.conv1d(t.view(1, 1, -1), kernel.view(1, 1, -1))
    return [round(v, 10) for v in out.flatten().tolist()]
