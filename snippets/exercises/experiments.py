"""Answers to the research questions on the exercises page, each checked by
its doctest against PyTorch (and by tests/test_lenet.py)."""

# The imports marked noqa are used by the doctests alone.
import torch
from torch import nn  # noqa: F401


# --8<-- [start:whitening]
def covariance_rank(batch_size, num_features, seed=0):
    """Rank of the covariance matrix estimated from one mini-batch.

    Full whitening divides by the square root of this matrix. With fewer
    samples than features it is singular: some directions have exactly
    zero variance in the batch, and only eps keeps the division finite.

    >>> covariance_rank(256, 120)  # fc1 of LeNet, batch 256: full rank
    120
    >>> covariance_rank(64, 120)  # a batch of 64: at most 63 directions
    63
    """
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, num_features, generator=g,
                    dtype=torch.float64)
    x = x - x.mean(0)  # centring costs one rank
    covariance = x.T @ x / batch_size
    return int(torch.linalg.matrix_rank(covariance))


def eigenvector_gradient(eigenvalues):
    """Gradient of a loss on the eigenvectors ``torch.linalg.eigh``
    returns, for a diagonal matrix with these eigenvalues.

    >>> bool(eigenvector_gradient([1.0, 2.0, 3.0]).isfinite().all())
    True
    >>> bool(eigenvector_gradient([1.0, 1.0, 3.0]).isnan().any())  # repeated
    True
    """
    matrix = torch.diag(torch.tensor(eigenvalues, dtype=torch.float64))
    matrix.requires_grad_()
    _, vectors = torch.linalg.eigh(matrix)
    vectors.sum().backward()
    return matrix.grad
# --8<-- [end:whitening]


# --8<-- [start:whiten]
def whiten(x, eps=1e-5):
    """ZCA-whiten a batch (N, F): zero mean, identity covariance, which is
    what BatchNorm does per feature, extended to every pair of features.

    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> mix = torch.randn(4, 4, dtype=torch.float64)
    >>> x = torch.randn(512, 4, dtype=torch.float64) @ mix  # correlated
    >>> cov = lambda z: (z - z.mean(0)).T @ (z - z.mean(0)) / len(z)
    >>> one = torch.ones(4, dtype=torch.float64)
    >>> bn = nn.BatchNorm1d(4, affine=False).double()(x)
    >>> bool(torch.allclose(cov(bn).diagonal(), one, atol=1e-4))
    True
    >>> float(cov(bn).triu(1).abs().max()) > 0.1  # still correlated
    True
    >>> bool(torch.allclose(cov(whiten(x, eps=0)), one.diag(), atol=1e-8))
    True
    """
    x = x - x.mean(0)
    covariance = x.T @ x / len(x)
    values, vectors = torch.linalg.eigh(covariance)
    inverse_sqrt = vectors @ torch.diag((values + eps).rsqrt()) @ vectors.T
    return x @ inverse_sqrt
# --8<-- [end:whiten]


# --8<-- [start:pit]
def probability_integral_transform(x):
    """Map each feature of a batch to its empirical CDF value in (0, 1):
    the rank of each value among the batch, scaled. The result is uniform
    whatever the input's distribution, but ranks are piecewise constant,
    so the gradient is zero almost everywhere.

    >>> x = torch.tensor([[3.0], [-1.0], [10.0], [0.5]], requires_grad=True)
    >>> u = probability_integral_transform(x)
    >>> u.flatten().tolist()
    [0.625, 0.125, 0.875, 0.375]
    >>> u.requires_grad  # ranks come from argsort: no gradient flows
    False
    """
    ranks = x.argsort(0).argsort(0).to(x.dtype)
    return (ranks + 0.5) / len(x)
# --8<-- [end:pit]
