"""The rules that decide a claim: a sentence on the site whose truth
depends on a run.

An example never decides a claim by hand. It builds a rule from its
numbers and hands it to ``Report.claim``; the rule decides whether the
sentence holds, says in words what it checked, and lists the numbers it
decided on, which is all the claims page shows. Each rule can also move its
evidence to the opposite case (``opposites``): a rule that still holds
there could never fail, and the build refuses it. ``flaw`` names evidence
that cannot carry a verdict (one seed; every run at the measure's
resolution limit; a bound that is not a number).

>>> rule = Below("largest difference from torch", 3e-7, 1e-5)
>>> rule.holds, rule.words
(True, 'largest difference from torch is below 1e-05')
>>> [r.holds for r in rule.opposites()]
[False]
"""

import math
from dataclasses import dataclass, field

from snippets.support.compare import Comparison, mean, signs

HIGHER, LOWER, MIXED, UNRANKED = "higher", "lower", "mixed", "unranked"
INCREASING, DECREASING = "increasing", "decreasing"


def number(value):
    """A number as the claims page shows it: 4 significant digits.

    >>> number(0.000123456), number(12345.0), number(3)
    ('0.0001235', '1.234e+04', '3')
    """
    return f"{float(value):.4g}"


def signed(value):
    return f"{float(value):+.4g}"


def _finite(*values):
    return all(math.isfinite(float(v)) for v in values)


class Rule:
    """What every rule has. ``supports`` names the kinds of verdict words
    a sentence may use next to this rule (see ``docs_plugin/wording``):
    ``every-seed``, ``noise``, ``direction``, ``same``."""

    supports = frozenset()

    @property
    def holds(self) -> bool:
        raise NotImplementedError

    @property
    def words(self) -> str:
        raise NotImplementedError

    @property
    def evidence(self) -> list:
        raise NotImplementedError

    def opposites(self) -> list:
        raise NotImplementedError

    def flaw(self):
        return None

    def record(self) -> dict:
        args = {name: getattr(self, name)
                for name in self.__dataclass_fields__}
        return {"rule": type(self).__name__, "args": args}


@dataclass(frozen=True)
class Paired(Rule):
    """A paired comparison over seeds: ``values`` of the ``variant`` and
    ``reference`` values, one per seed in the same order; ``expect`` is
    ``HIGHER`` (the variant is higher on every seed), ``LOWER`` (lower on
    every seed), ``MIXED`` (the seeds disagree in sign: within
    seed-to-seed noise) or ``UNRANKED`` (neither higher on every seed nor
    lower on every seed: a tie on some seed is enough, so these seeds do
    not rank the two, which is less than "within noise"). ``scale`` and
    ``unit`` only change how the differences are shown (``scale=100,
    unit=" points"`` for accuracy). ``floor`` is the smallest value the
    measure can take (the first measurement, for a step count): if every
    run sits there, the runs cannot rank anything.

    >>> rule = Paired("test accuracy", "BN", [0.90, 0.91, 0.93],
    ...               "no BN", [0.88, 0.90, 0.90], HIGHER, scale=100,
    ...               unit=" points")
    >>> rule.holds, rule.words
    (True, 'test accuracy of BN minus no BN is higher on every seed')
    >>> rule.evidence[0]
    ('BN minus no BN, seed by seed (points)', '+2, +1, +3')
    >>> rule.evidence[1:]  # doctest: +NORMALIZE_WHITESPACE
    [('mean (range)', '+2 (+1 to +3)'),
     ('seeds higher / lower / tied', '3 / 0 / 0')]
    >>> [r.holds for r in rule.opposites()]
    [False]
    >>> Paired("steps", "a", [100, 100], "b", [100, 100], LOWER,
    ...        floor=100).flaw()
    'every run is at the first value the measure can take (100)'
    """

    measure: str
    variant: str
    values: tuple
    reference_name: str
    reference: tuple
    expect: str
    scale: float = 1
    unit: str = ""
    floor: float = None

    supports = frozenset({"every-seed", "direction"})

    def __post_init__(self):
        if self.expect not in (HIGHER, LOWER, MIXED, UNRANKED):
            raise ValueError(f"expect is {self.expect!r}: use HIGHER, "
                             "LOWER, MIXED or UNRANKED")
        object.__setattr__(self, "values",
                           [float(v) for v in self.values])
        object.__setattr__(self, "reference",
                           [float(v) for v in self.reference])
        Comparison(self.values, self.reference)  # same lengths, not empty
        if self.expect in (MIXED, UNRANKED):
            object.__setattr__(self, "supports", frozenset(
                {"noise", "unranked"} if self.expect == MIXED
                else {"unranked"}))

    @property
    def differences(self):
        return [self.scale * (a - b)
                for a, b in zip(self.values, self.reference)]

    @property
    def holds(self):
        above, below, _ = signs(self.differences)
        n = len(self.differences)
        return {HIGHER: above == n, LOWER: below == n,
                MIXED: above > 0 and below > 0,
                UNRANKED: above < n and below < n}[self.expect]

    @property
    def words(self):
        how = {HIGHER: "is higher on every seed",
               LOWER: "is lower on every seed",
               MIXED: "changes sign from seed to seed (within "
                      "seed-to-seed noise)",
               UNRANKED: "is neither higher on every seed nor lower on "
                         "every seed (not ranked)"}[self.expect]
        return f"{self.measure} of {self.variant} minus " \
               f"{self.reference_name} {how}"

    @property
    def evidence(self):
        d = self.differences
        return [(f"{self.variant} minus {self.reference_name}, seed by "
                 f"seed ({self.unit.strip() or 'difference'})",
                 ", ".join(signed(v) for v in d)),
                ("mean (range)", f"{signed(mean(d))} ({signed(min(d))} to "
                                 f"{signed(max(d))})"),
                ("seeds higher / lower / tied",
                 " / ".join(str(c) for c in signs(d)))]

    def _with(self, values, reference):
        return Paired(self.measure, self.variant, values,
                      self.reference_name, reference, self.expect,
                      self.scale, self.unit, self.floor)

    def opposites(self):
        if self.expect in (HIGHER, LOWER):  # swap the sides on every seed
            return [self._with(self.reference, self.values)]
        # every seed moved to one side, then the other
        spread = [abs(a - b) or 1.0
                  for a, b in zip(self.values, self.reference)]
        return [self._with([b + s for b, s in zip(self.reference, spread)],
                           self.reference),
                self._with([b - s for b, s in zip(self.reference, spread)],
                           self.reference)]

    def flaw(self):
        if len(self.values) < 2:
            return "one seed: a paired comparison needs two or more"
        if not _finite(*self.values, *self.reference):
            return "a value is not a finite number"
        if self.floor is not None and all(
                v == self.floor for v in self.values + self.reference):
            return ("every run is at the first value the measure can "
                    f"take ({number(self.floor)})")
        return None


@dataclass(frozen=True)
class Below(Rule):
    """``value`` is strictly below ``bound`` (an error under a tolerance,
    a loss under a level).

    >>> Below("largest error", 2e-13, 1e-12).holds
    True
    >>> Below("largest error", 2e-13, math.inf).flaw()
    'the bound is not a finite number'
    """

    measure: str
    value: float
    bound: float

    supports = frozenset({"direction", "same"})

    @property
    def holds(self):
        return float(self.value) < float(self.bound)

    @property
    def words(self):
        return f"{self.measure} is below {number(self.bound)}"

    @property
    def evidence(self):
        return [(self.measure, number(self.value)),
                ("bound", number(self.bound))]

    def opposites(self):  # the value mirrored across the bound
        mirrored = 2 * float(self.bound) - float(self.value)
        return [type(self)(self.measure, mirrored, self.bound)]

    def flaw(self):
        if not _finite(self.bound):
            return "the bound is not a finite number"
        if not _finite(self.value):
            return "the value is not a finite number"
        return None


@dataclass(frozen=True)
class Above(Below):
    """``value`` is strictly above ``bound``.

    >>> Above("accuracy gain", 0.03, 0.01).holds
    True
    >>> [r.holds for r in Above("accuracy gain", 0.03, 0.01).opposites()]
    [False]
    """

    supports = frozenset({"direction"})

    @property
    def holds(self):
        return float(self.value) > float(self.bound)

    @property
    def words(self):
        return f"{self.measure} is above {number(self.bound)}"


@dataclass(frozen=True)
class Greater(Rule):
    """``first`` is greater than ``factor`` times ``second`` plus
    ``margin``: one number ahead of another, by a stated margin.

    >>> rule = Greater("accuracy after update_bn", 0.84,
    ...                "accuracy with stale statistics", 0.61, margin=0.01)
    >>> print(rule.words)
    accuracy after update_bn is above accuracy with stale statistics + 0.01
    >>> [r.holds for r in rule.opposites()]
    [False]
    >>> Greater("a", 5, "b", 1, factor=10).holds
    False
    """

    first_name: str
    first: float
    second_name: str
    second: float
    factor: float = 1
    margin: float = 0

    supports = frozenset({"direction"})

    def __post_init__(self):
        if self.factor < 1 or self.margin < 0:
            raise ValueError("Greater needs factor >= 1 and margin >= 0")

    @property
    def holds(self):
        return float(self.first) > (self.factor * float(self.second)
                                    + self.margin)

    @property
    def words(self):
        second = self.second_name
        if self.factor != 1:
            second = f"{number(self.factor)} x {second}"
        if self.margin:
            second = f"{second} + {number(self.margin)}"
        return f"{self.first_name} is above {second}"

    @property
    def evidence(self):
        return [(self.first_name, number(self.first)),
                (self.second_name, number(self.second))]

    def opposites(self):  # the two numbers swapped
        return [Greater(self.first_name, self.second, self.second_name,
                        self.first, self.factor, self.margin)]

    def flaw(self):
        if not _finite(self.first, self.second, self.margin):
            return "a value is not a finite number"
        return None


@dataclass(frozen=True)
class Equal(Rule):
    """``value`` is exactly ``expected`` (a count, a bit-for-bit result).

    >>> Equal("weights changed by the step", 0.0, 0.0).holds
    True
    >>> [r.holds for r in Equal("x", 0.0, 0.0).opposites()]
    [False]
    """

    measure: str
    value: float
    expected: float

    supports = frozenset({"same"})

    @property
    def holds(self):
        return float(self.value) == float(self.expected)

    @property
    def words(self):
        return f"{self.measure} is exactly {number(self.expected)}"

    @property
    def evidence(self):
        return [(self.measure, number(self.value))]

    def opposites(self):
        moved = float(self.expected) + (abs(float(self.expected)) or 1.0)
        return [Equal(self.measure, moved, self.expected)]


@dataclass(frozen=True)
class Ordered(Rule):
    """``values`` (named by ``labels``) rise (``INCREASING``) or fall
    (``DECREASING``) strictly from each to the next: a monotone trend.

    >>> rule = Ordered("error", ["1", "2", "4"], [0.3, 0.2, 0.1],
    ...                DECREASING)
    >>> rule.holds, rule.words
    (True, 'error falls at each step from 1 to 4')
    >>> [r.holds for r in rule.opposites()]
    [False]
    """

    measure: str
    labels: tuple
    values: tuple
    expect: str

    supports = frozenset({"direction"})

    def __post_init__(self):
        if self.expect not in (INCREASING, DECREASING):
            raise ValueError("expect INCREASING or DECREASING")
        object.__setattr__(self, "labels", [str(x) for x in self.labels])
        object.__setattr__(self, "values", [float(v) for v in self.values])
        if len(self.labels) != len(self.values):
            raise ValueError("one label per value")

    @property
    def holds(self):
        pairs = list(zip(self.values, self.values[1:]))
        if self.expect == INCREASING:
            return all(a < b for a, b in pairs)
        return all(a > b for a, b in pairs)

    @property
    def words(self):
        how = "rises" if self.expect == INCREASING else "falls"
        return (f"{self.measure} {how} at each step from {self.labels[0]} "
                f"to {self.labels[-1]}")

    @property
    def evidence(self):
        return [(label, number(v))
                for label, v in zip(self.labels, self.values)]

    def opposites(self):
        return [Ordered(self.measure, self.labels, self.values[::-1],
                        self.expect)]

    def flaw(self):
        if len(self.values) < 2:
            return "a trend needs two or more values"
        return None


@dataclass(frozen=True)
class Extreme(Rule):
    """Of ``values`` (``{label: value}``), ``which`` is the lowest
    (``LOWER``) or the highest (``HIGHER``), strictly.

    >>> rule = Extreme("accuracy", {"2": 0.6, "4": 0.7, "8": 0.8}, "2",
    ...                LOWER)
    >>> rule.holds, rule.words
    (True, 'accuracy is lowest at 2')
    >>> [r.holds for r in rule.opposites()]
    [False]
    """

    measure: str
    values: dict
    which: str
    expect: str

    supports = frozenset({"direction"})

    def __post_init__(self):
        object.__setattr__(self, "values", {str(k): float(v)
                                            for k, v in self.values.items()})
        object.__setattr__(self, "which", str(self.which))
        if self.which not in self.values or self.expect not in (HIGHER,
                                                                LOWER):
            raise ValueError("name one of the values, and HIGHER or LOWER")

    @property
    def holds(self):
        mine = self.values[self.which]
        others = [v for k, v in self.values.items() if k != self.which]
        if self.expect == LOWER:
            return all(mine < v for v in others)
        return all(mine > v for v in others)

    @property
    def words(self):
        how = "lowest" if self.expect == LOWER else "highest"
        return f"{self.measure} is {how} at {self.which}"

    @property
    def evidence(self):
        return [(k, number(v)) for k, v in self.values.items()]

    def opposites(self):  # the named value swapped with the other end
        pick = max if self.expect == LOWER else min
        other = pick((k for k in self.values if k != self.which),
                     key=self.values.get)
        swapped = dict(self.values)
        swapped[self.which], swapped[other] = (self.values[other],
                                               self.values[self.which])
        return [Extreme(self.measure, swapped, self.which, self.expect)]

    def flaw(self):
        if len(self.values) < 2:
            return "an extreme needs two or more values"
        return None


@dataclass(frozen=True)
class All(Rule):
    """Every one of ``parts`` holds. Its opposites are each part's
    opposites, the other parts kept: so every part must be able to fail.

    >>> rule = All([Below("error", 1e-9, 1e-6), Above("gain", 2.0, 1.0)])
    >>> rule.holds, rule.words
    (True, 'error is below 1e-06; and gain is above 1')
    >>> [r.holds for r in rule.opposites()]
    [False, False]
    """

    parts: tuple = field(default_factory=tuple)

    def __post_init__(self):
        object.__setattr__(self, "parts", list(self.parts))
        if not self.parts or not all(isinstance(p, Rule)
                                     for p in self.parts):
            raise ValueError("All takes one or more rules")

    @property
    def supports(self):
        return frozenset().union(*(p.supports for p in self.parts))

    @property
    def holds(self):
        return all(p.holds for p in self.parts)

    @property
    def words(self):
        return "; and ".join(p.words for p in self.parts)

    @property
    def evidence(self):
        return [item for p in self.parts for item in p.evidence]

    def opposites(self):
        return [All(self.parts[:i] + [o] + self.parts[i + 1:])
                for i, p in enumerate(self.parts) for o in p.opposites()]

    def flaw(self):
        return next((f for f in (p.flaw() for p in self.parts) if f), None)

    def record(self):
        return {"rule": "All", "args": {"parts": [p.record()
                                                  for p in self.parts]}}


RULES = {rule.__name__: rule for rule in
         (Paired, Below, Above, Greater, Equal, Ordered, Extreme, All)}


def from_record(record):
    """The rule a claims file recorded (``Rule.record``), rebuilt.

    >>> rule = All([Paired("loss", "a", [1, 2], "b", [2, 3], LOWER)])
    >>> from_record(rule.record()) == rule
    True
    """
    kind, args = RULES[record["rule"]], dict(record["args"])
    if kind is All:
        return All([from_record(part) for part in args["parts"]])
    return kind(**args)


def could_fail(rule):
    """Why ``rule`` is no check at all, or None: a flaw in its evidence,
    or an opposite case in which it still holds.

    >>> could_fail(Below("error", 0.5, 1.0)) is None
    True
    >>> could_fail(Greater("a", 2.0, "b", 1.0))
    >>> print(could_fail(Paired("s", "a", [1.0], "b", [2.0], LOWER)))
    one seed: a paired comparison needs two or more
    """
    flaw = rule.flaw()
    if flaw:
        return flaw
    if not rule.holds:
        return None  # a rule that fails here has failed on evidence
    for opposite in rule.opposites():
        if opposite.holds:
            return ("it still holds with its evidence moved to the "
                    f"opposite case ({opposite.evidence})")
    return None
