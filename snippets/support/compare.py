"""How the site compares two variants trained over several seeds: one
procedure, stated here and used by every study.

Each variant is trained once per seed, and one seed gives every variant
the same batches (and the same initial weights where the architectures
allow). For a metric measured on each run:

- the **effect** is the difference of the two means, in the metric's
  units, shown with the range of the per-seed differences (variant minus
  reference, seed by seed);
- the **verdict** is *better* (or *worse*) only when every seed of one
  variant beats every seed of the other: its worst run beats the other's
  best. Otherwise the difference is *within seed-to-seed noise*: the runs
  overlap, and these seeds cannot rank the two;
- with a single seed there is no verdict (*one seed*): a page says so
  rather than rank two runs.

Each comparison uses its own two sets of runs, never a spread pooled over
a whole table. This is a description of the runs at hand, not a
significance test: three seeds that do not overlap are a strong hint,
not a proof.
"""

from dataclasses import dataclass

BETTER, WORSE, NOISE, ONE_SEED = ("better", "worse",
                                  "within seed-to-seed noise", "one seed")


def mean(values):
    """The plain mean of a sequence of numbers.

    >>> mean([1, 2, 6])
    3.0
    """
    return sum(values) / len(values)


@dataclass(frozen=True)
class Comparison:
    """``values`` of a variant against ``reference`` values, one per seed
    (in the same seed order), for a metric where ``higher_is_better``.

    >>> c = Comparison([0.86, 0.87, 0.88], [0.80, 0.82, 0.81])
    >>> c.verdict, round(c.effect, 3), [round(v, 3) for v in c.paired]
    ('better', 0.06, [0.05, 0.07])
    >>> Comparison([0.80, 0.84], [0.83, 0.86]).verdict
    'within seed-to-seed noise'
    >>> Comparison([0.5], [0.9]).verdict
    'one seed'
    >>> Comparison([1.2, 1.3], [0.9, 1.0], higher_is_better=False).verdict
    'worse'
    """

    values: tuple
    reference: tuple
    higher_is_better: bool = True

    def __post_init__(self):
        values, reference = tuple(map(float, self.values)), \
            tuple(map(float, self.reference))
        if not values or len(values) != len(reference):
            raise ValueError("compare one value per seed on both sides, "
                             f"got {len(values)} and {len(reference)}")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "reference", reference)

    @property
    def mean(self):
        return mean(self.values)

    @property
    def reference_mean(self):
        return mean(self.reference)

    @property
    def effect(self):
        """Mean of the variant minus mean of the reference."""
        return self.mean - self.reference_mean

    @property
    def paired(self):
        """``[min, max]`` of the per-seed differences."""
        diffs = [a - b for a, b in zip(self.values, self.reference)]
        return [min(diffs), max(diffs)]

    @property
    def verdict(self):
        if len(self.values) == 1:
            return ONE_SEED
        if min(self.values) > max(self.reference):
            return BETTER if self.higher_is_better else WORSE
        if max(self.values) < min(self.reference):
            return WORSE if self.higher_is_better else BETTER
        return NOISE

    def describe(self, unit=""):
        """The effect in words, e.g. ``+6.0 points (+5.0 to +7.0 by seed)``.

        >>> Comparison([0.86, 0.87], [0.80, 0.82]).describe(" points")
        '+0.055 points (+0.05 to +0.06 by seed)'
        """
        low, high = self.paired
        return (f"{self.effect:+.3g}{unit} ({low:+.3g} to {high:+.3g} "
                "by seed)")
