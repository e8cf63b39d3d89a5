"""How the site compares two variants trained over several seeds: one
procedure, stated here and used by every study.

Each variant is trained once per seed, and one seed gives every variant
the same batches (and the same initial weights where the architectures
allow). The design is *paired*, so the comparison is too. For a metric
measured on each run:

- the **effect** is seed by seed: the variant's value minus the
  reference's on the same seed. The site gives the mean of these
  differences, their range, and how many seeds agree in sign;
- the **verdict** is *better* (or *worse*) when the difference favours the
  variant (or the reference) on every seed, *within seed-to-seed noise*
  when the seeds disagree in sign (at least one each way), and *tied* when
  some seeds differ one way and the rest not at all;
- with a single seed there is no verdict (*one seed*).

What this may be said to show: it **describes** the runs at hand, it does
not test a hypothesis. "Lower on all 3 seeds, by 1.2 to 1.7 points" is a
description the site states. It is not proof of an effect: if the two
variants were alike and each seed's difference were as likely positive as
negative, all n seeds would still agree in sign with probability
2 * 0.5**n, which is 0.25 for 3 seeds and 0.0625 for 5. So the site never
calls a difference *significant* or *real*; it says on how many seeds a
difference went which way and by how much. "Within seed-to-seed noise" is
said only when the seeds disagree in sign: then these seeds cannot even
say which variant came out ahead.
"""

from dataclasses import dataclass

BETTER, WORSE, NOISE, TIED, ONE_SEED = (
    "better", "worse", "within seed-to-seed noise", "tied", "one seed")


def mean(values):
    """The plain mean of a sequence of numbers.

    >>> mean([1, 2, 6])
    3.0
    """
    return sum(values) / len(values)


def same_sign_chance(seeds):
    """How often ``seeds`` paired differences all share a sign when the
    two variants are alike (each difference as likely positive as
    negative): 2 * 0.5**seeds.

    >>> same_sign_chance(3), same_sign_chance(5)
    (0.25, 0.0625)
    """
    return 2 * 0.5 ** seeds


def signs(differences):
    """How many differences are above, below and at zero.

    >>> signs([0.5, -1, 0, 2])
    (2, 1, 1)
    """
    return (sum(d > 0 for d in differences),
            sum(d < 0 for d in differences),
            sum(d == 0 for d in differences))


@dataclass(frozen=True)
class Comparison:
    """``values`` of a variant against ``reference`` values, one per seed
    (in the same seed order), for a metric where ``higher_is_better``
    (None: neither is; the verdict then says *higher* or *lower*).

    >>> c = Comparison([0.86, 0.87, 0.88], [0.80, 0.82, 0.81])
    >>> c.verdict, round(c.effect, 3), [round(v, 3) for v in c.paired]
    ('better', 0.06, [0.05, 0.07])
    >>> Comparison([0.80, 0.84], [0.83, 0.86]).verdict  # overlapping runs
    'worse'
    >>> Comparison([0.80, 0.87], [0.83, 0.86]).verdict
    'within seed-to-seed noise'
    >>> Comparison([0.5], [0.9]).verdict
    'one seed'
    >>> Comparison([1.2, 1.3], [0.9, 1.0], higher_is_better=False).verdict
    'worse'
    >>> Comparison([1.0, 1.3], [1.0, 1.0]).verdict
    'tied'
    >>> Comparison([0.1, 0.2], [0.3, 0.4], higher_is_better=None).verdict
    'lower'
    """

    values: tuple
    reference: tuple
    higher_is_better: bool | None = True

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
    def differences(self):
        """Variant minus reference, seed by seed."""
        return [a - b for a, b in zip(self.values, self.reference)]

    @property
    def effect(self):
        """The mean of the per-seed differences."""
        return mean(self.differences)

    @property
    def paired(self):
        """``[min, max]`` of the per-seed differences."""
        return [min(self.differences), max(self.differences)]

    @property
    def verdict(self):
        if len(self.values) == 1:
            return ONE_SEED
        above, below, _ = signs(self.differences)
        if above and below:
            return NOISE
        if above == len(self.values):
            return {True: BETTER, False: WORSE, None: "higher"}[
                self.higher_is_better]
        if below == len(self.values):
            return {True: WORSE, False: BETTER, None: "lower"}[
                self.higher_is_better]
        return TIED

    def describe(self, unit="", scale=1):
        """The effect in words, e.g. ``+6.0 points (+5.0 to +7.0 by seed,
        3 of 3 seeds higher)``.

        >>> Comparison([0.86, 0.87], [0.80, 0.82]).describe(" points", 100)
        '+5.5 points (+5 to +6 by seed; higher on 2 of 2 seeds)'
        """
        low, high = (scale * d for d in self.paired)
        above, below, _ = signs(self.differences)
        count = (f"higher on {above} of {len(self.values)} seeds"
                 if above >= below else
                 f"lower on {below} of {len(self.values)} seeds")
        return (f"{scale * self.effect:+.3g}{unit} ({low:+.3g} to "
                f"{high:+.3g} by seed; {count})")
