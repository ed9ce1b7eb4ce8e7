"""How likely, and how soon, each nurse says yes: estimated from her own offers (issue 7).

The adaptive wave policy (``dispatch.matching.policy``) needs, for each candidate, the chance that she
says yes to an offer texted now *within a given time*: the time to the first yes is about
speed, not only about yes. The model, for nurse ``i`` texted at local hour ``h``:

    P(yes within t) = r[i,h] × w[i] × g^load × Φ((ln t − μ[i,h]) / σ)

- ``r[i,h]``: the chance she answers at all (yes or no);
- ``μ[i,h]``, ``σ``: her answer delays are lognormal, median ``exp(μ)``; every answer, yes or
  no, tells how fast she reads her texts, and a nurse on her rounds reads them later;
- ``w[i]``: the chance an answer is yes; ``g`` per patient she already accepted that day
  (a nurse who took a new patient this morning is less likely to take another).

**Censoring.** An offer closed under her (someone else said yes, the request was cancelled)
or still open says only "no answer within this long". Ignoring that would read a slow nurse
as fast (only her quick answers are ever seen), and more so once the adaptive policy itself
closes offers within minutes. Each unit is therefore fitted by EM on a cure-rate lognormal:
an unanswered offer counts as "would have answered later" with its posterior probability,
and then with the expected log-delay beyond its exposure (inverse Mills ratio).

**Smoothing** (empirical Bayes on three levels, so that a newcomer gets the pool's figures and
a nurse with few offers is pulled toward them): the candidates' pooled figures per hour of the
day (thousands of offers: the hour is affordable), pulled toward their overall figures; the
nurse's offset from them over all her offers; her further offset in the hour's band (a few
hours wide: she has a few dozen offers, not thousands). Picking the best of many noisy
estimates favours the lucky (the winner's curse); shrinking each estimate toward the pool by
its own evidence is what keeps the picked nurses' estimates honest.

**Input: sums, not offers** (issue 17). The fit reads each nurse's offers summed
(:class:`Answers`): answered offers per hour (count, Σ log-delay) and Σ log-delay², silent ones
per hour in bins of log-exposure ``BIN`` wide (count and Σ log-exposure), answers and yeses per load; every sum the fit
takes is taken from those, by the same formulas, so exact bins (width 0) give the figures of the
fit one offer at a time up to the rounding of sums taken in another order
(tests/unit/test_estimates.py). A nurse's sums are kept in a row (``nurse_answer_stats``) and a
plan adds her last day's offers to them (``dispatch.matching.history``): a wave costs
O(candidates), not O(their offers). The EM's base is read once per (hour, bin); a band is
fitted when first read (a wave reads about one of five).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

MAX_P = 0.99
EM_ROUNDS = 4
HOURS = 24
BIN = 0.1  # width of a silent offer's log-exposure bin (Answers): exposures within ±5 % of the bin's mean
# Local hour bands a nurse's own figures are kept by: before her morning round ends, late
# morning, lunch, afternoon, evening round. Several hours per band so that a few weeks give
# data; the pool's figures, with many more offers, are kept by the hour.
BANDS: tuple[tuple[int, int], ...] = ((0, 9), (9, 12), (12, 14), (14, 17), (17, 24))


def band_of(hour: int) -> int:
    """The index in ``BANDS`` of a local hour (0-23)."""
    for index, (start, end) in enumerate(BANDS):
        if start <= hour < end:
            return index
    raise ValueError(f"hour {hour} out of range")


class OfferRecord(NamedTuple):
    """One offer texted to a nurse, as the offers table tells it (read by position: see below)."""

    hour: int  # local hour it was texted at (0-23)
    exposure_s: float  # how long she had to answer: until her answer, its closing, or now
    answered: bool
    yes: bool = False
    load: int = 0  # patients she had accepted earlier that local day


@dataclass(frozen=True)
class Priors:
    """Prior figures and strengths (in answers, or in offers for rates)."""

    delay_s: float = 600.0  # median answer delay before any history
    reply: float = 0.6  # chance of an answer at all, before any history
    yes: float = 0.4  # chance an answer is yes, before any history
    load: float = 0.5  # yes-chance factor per patient already accepted that day
    pool_strength: float = 5.0  # weight of the above against the candidates' pooled history
    band_strength: float = 20.0  # pulls the pool's figures at one hour toward its overall ones
    nurse_delay: float = 2.0  # pulls her delay toward the pool's (≈ σ² / between-nurse variance)
    nurse_reply: float = 4.0
    nurse_yes: float = 4.0
    nurse_band: float = 4.0  # pulls her figures in one band toward hers overall
    load_strength: float = 10.0
    sigma_min: float = 0.5  # the spread of one nurse's log-delays, kept within sane bounds
    sigma_max: float = 2.0


@dataclass(frozen=True)
class Estimate:
    """One nurse's figures at one hour of the day."""

    reply: float
    mu: float  # log of her median answer delay, seconds
    yes: float  # chance an answer is yes, before today's load

    def chance(self, within_s: float, sigma: float, load_factor: float = 1.0) -> float:
        """The chance she says yes within ``within_s`` of the text."""
        return self.reply * self.yes * load_factor * _cdf((math.log(max(within_s, 1.0)) - self.mu) / sigma)

    def chance_after(self, waited_s: float, within_s: float, sigma: float, load_factor: float = 1.0) -> float:
        """The chance she says yes in the next ``within_s``, silent ``waited_s`` after the text."""
        before = _cdf((math.log(max(waited_s, 1.0)) - self.mu) / sigma)
        after = _cdf((math.log(max(waited_s + within_s, 1.0)) - self.mu) / sigma)
        silent = 1.0 - self.reply * before
        return self.reply * self.yes * load_factor * (after - before) / max(silent, 1e-9)


@dataclass(frozen=True)
class NurseFit:
    """One nurse's offsets from the pool: over all her offers, and per band."""

    delay: float  # added to the pool's log-delay
    reply: float  # multiplies the pool's answer rate
    yes: float  # her chance that an answer is yes, before the day's load
    bands: dict[int, tuple[float, float]]  # band → (extra log-delay, extra answer-rate ratio)


@dataclass(frozen=True)
class Model:
    """Fitted figures for a set of nurses: ask :meth:`estimate` for one nurse at one local hour."""

    sigma: float
    load_factor: float
    pool_mu: dict[int, float]  # hour → the pool's log-delay
    pool_reply: dict[int, float]  # hour → the pool's answer rate
    pool_yes: float
    nurses: dict[int, NurseFit]
    answers: int  # answered offers the model was fitted on

    def estimate(self, nurse_id: int, hour: int) -> Estimate:
        """Her figures when texted at ``hour``; a nurse without history gets the pool's."""
        hers = self.nurses.get(nurse_id)
        if hers is None:
            return Estimate(self.pool_reply[hour], self.pool_mu[hour], self.pool_yes)
        delay, ratio = hers.bands[BAND_OF[hour]]
        reply = min(MAX_P, self.pool_reply[hour] * hers.reply * ratio)
        return Estimate(reply, self.pool_mu[hour] + hers.delay + delay, hers.yes)


SQRT2 = math.sqrt(2.0)
SQRT_2PI = math.sqrt(2.0 * math.pi)
BAND_OF = tuple(band_of(hour) for hour in range(HOURS))  # hour → band


def _cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / SQRT2)


@dataclass(frozen=True)
class _Base:
    """What a unit's records are measured against: per hour, a log-delay and an answer rate."""

    mu: dict[int, float]
    reply: dict[int, float]

    def moved(self, offset: float, ratio: float) -> _Base:
        return _Base(
            {h: m + offset for h, m in self.mu.items()}, {h: min(MAX_P, r * ratio) for h, r in self.reply.items()}
        )


# A unit's offers as the EM reads them: answered ones as (hour, count, sum of log-delays), silent
# ones as (hour, log exposure, count), hours in order.
_Answered = list[tuple[int, float, float]]
_Silent = list[tuple[int, float, float]]
_Logs = tuple[_Answered, _Silent]


def bin_of(x: float, width: float = BIN) -> float:
    """The bin a silent offer's log-exposure is counted in: its index, or ``x`` itself when
    ``width`` is 0 (exact)."""
    return math.floor(x / width) if width else x


@dataclass
class Answers:
    """One nurse's (or a pool's) offers, summed as the fit reads them (issue 17).

    Every sum the fit takes over offers is taken from these: answered offers per local hour
    (count, Σx with x = ln max(exposure, 1 s)) and Σx² over them all (for :func:`_sigma`:
    Σ(x − mean)² = Σx² − (Σx)²/n); silent (censored) offers per local hour in bins of x
    ``BIN`` wide, each bin's count and Σx: the EM reads a bin as its count of offers at the
    bin's mean x (the mean, not the centre, so that the error is of the second order: the EM's
    terms are smooth in x, and their first-order deviations cancel over the bin; width 0 keeps
    each x); answers and yeses per load (patients accepted earlier that local day). Kept in a
    row per nurse (``nurse_answer_stats``, :mod:`dispatch.matching.answer_stats`), added to or
    subtracted from one offer at a time by its key (:func:`key_of`).
    """

    answered: dict[int, list[float]] = field(default_factory=dict)  # hour → [count, Σx]
    squares: float = 0.0  # Σx² over her answered offers
    silent: dict[int, dict[float, list[float]]] = field(default_factory=dict)  # hour → {bin: [count, Σx]}
    willing: dict[int, list[int]] = field(default_factory=dict)  # load → [answers, yeses]

    @classmethod
    def of(cls, records: Iterable[OfferRecord], width: float = 0.0) -> Answers:
        """The sums of ``records`` (plain tuples serve); ``width`` 0 keeps every silent x exact."""
        answers = cls()
        for record in records:
            answers.add(record, width)
        return answers

    def add(self, record: OfferRecord | tuple, width: float = BIN, sign: int = 1) -> None:
        hour, exposure_s, answered, yes, load = record
        x = math.log(max(exposure_s, 1.0))
        if answered:
            self.answer(hour, x, bool(yes), load, sign)
        else:
            self.silence(hour, bin_of(x, width), sign, 1, x)

    def subtract(self, record: OfferRecord | tuple, width: float = BIN) -> None:
        self.add(record, width, -1)

    def answer(self, hour: int, x: float, yes: bool, load: int, sign: int = 1) -> None:
        count, total = self.answered.get(hour, (0, 0.0))
        count += sign
        if count:
            self.answered[hour] = [count, total + sign * x]
        else:  # an hour emptied: no rounding residue kept
            self.answered.pop(hour, None)
        self.squares = self.squares + sign * x * x if self.answered else 0.0
        answers, yeses = self.willing.get(load, (0, 0))
        answers, yeses = answers + sign, yeses + sign * yes
        if answers or yeses:
            self.willing[load] = [answers, yeses]
        else:
            self.willing.pop(load, None)

    def silence(self, hour: int, key: float, sign: int, count: float, total: float) -> None:
        """``count`` silent offers of log-exposures summing to ``total`` in bin ``key`` of ``hour``."""
        bins = self.silent.setdefault(hour, {})
        mine = bins.get(key, (0, 0.0))
        left = mine[0] + sign * count
        if left:
            bins[key] = [left, mine[1] + sign * total]
        else:  # a bin emptied: no rounding residue kept
            bins.pop(key, None)
            if not bins:
                del self.silent[hour]

    def merge(self, other: Answers, sign: int = 1) -> None:
        """Add (``sign`` 1) or subtract (−1) another's sums."""
        for hour, (count, total) in other.answered.items():
            mine = self.answered.get(hour, (0, 0.0))
            if mine[0] + sign * count:
                self.answered[hour] = [mine[0] + sign * count, mine[1] + sign * total]
            else:
                self.answered.pop(hour, None)
        self.squares = self.squares + sign * other.squares if self.answered else 0.0
        for hour, bins in other.silent.items():
            for key, (count, total) in bins.items():
                self.silence(hour, key, sign, count, total)
        for load, (answers, yeses) in other.willing.items():
            mine = self.willing.get(load, (0, 0))
            if mine[0] + sign * answers or mine[1] + sign * yeses:
                self.willing[load] = [mine[0] + sign * answers, mine[1] + sign * yeses]
            else:
                self.willing.pop(load, None)

    def copy(self) -> Answers:
        return Answers(
            {h: list(v) for h, v in self.answered.items()},
            self.squares,
            {h: {k: list(v) for k, v in b.items()} for h, b in self.silent.items()},
            {k: list(v) for k, v in self.willing.items()},
        )

    def answers(self) -> float:
        return sum(count for count, _ in self.willing.values())

    def yeses(self) -> float:
        return sum(yeses for _, yeses in self.willing.values())

    def silences(self) -> float:
        return sum(count for bins in self.silent.values() for count, _ in bins.values())

    def logs(self, hours: Iterable[int] | None = None) -> _Logs:
        """What :func:`_em` reads, for ``hours`` only when given: a silent bin as its count at its mean."""
        keep = range(HOURS) if hours is None else hours
        answered = [(h, *self.answered[h]) for h in keep if h in self.answered]
        silent = [
            (h, total / count, count)
            for h in keep
            if h in self.silent
            for _, (count, total) in sorted(self.silent[h].items())
        ]
        return answered, silent  # type: ignore[return-value]

    # --- as kept in the database (JSON: keys are strings) ---------------------------------------

    def to_json(self) -> dict:
        return {
            "a": {str(h): v for h, v in sorted(self.answered.items())},
            "q": self.squares,
            "s": {str(h): {str(k): v for k, v in sorted(bins.items())} for h, bins in sorted(self.silent.items())},
            "w": {str(k): v for k, v in sorted(self.willing.items())},
        }

    @classmethod
    def from_json(cls, data: dict | None) -> Answers:
        if not data:
            return cls()
        return cls(
            {int(h): list(v) for h, v in data.get("a", {}).items()},
            float(data.get("q", 0.0)),
            {int(h): {int(k): list(v) for k, v in bins.items()} for h, bins in data.get("s", {}).items()},
            {int(k): list(v) for k, v in data.get("w", {}).items()},
        )

    def apply(self, key: str, sign: int = 1, width: float = BIN) -> None:
        """Add (or subtract) one offer's contribution as :func:`key_of` wrote it."""
        kind, *parts = key.split("|")
        if kind == "a":
            self.answer(int(parts[0]), float(parts[1]), parts[2] == "1", int(parts[3]), sign)
        elif kind == "s":
            x = float(parts[1])
            self.silence(int(parts[0]), bin_of(x, width), sign, 1, x)
        else:
            raise ValueError(f"not an offer's contribution: {key!r}")


def key_of(record: OfferRecord | tuple) -> str:
    """An offer's contribution as a short text: ``a|hour|x|yes|load`` or ``s|hour|x`` (x exact:
    ``repr`` reads back to the same float, so that subtracting it takes out what was added)."""
    hour, exposure_s, answered, yes, load = record
    x = math.log(max(exposure_s, 1.0))
    if answered:
        return f"a|{hour}|{x!r}|{int(bool(yes))}|{load}"
    return f"s|{hour}|{x!r}"


def _fit(
    records: Iterable[OfferRecord], base: _Base, sigma: float, delay_strength: float, reply_strength: float
) -> tuple[float, float]:
    """A unit's offsets (log-delay offset, answer-rate ratio) from ``base``, by EM under censoring.

    The priors are offset 0 and ratio 1 with the given strengths: with no records, ``(0, 1)``.
    """
    return _em(*Answers.of(records).logs(), base, sigma, delay_strength, reply_strength)


def _em(
    answered: _Answered, silent: _Silent, base: _Base, sigma: float, delay_strength: float, reply_strength: float
) -> tuple[float, float]:
    """:func:`_fit` of a unit's sums (:meth:`Answers.logs`): the hot loop, one step per silent
    bin weighted by its count.

    ``min``, ``max`` and the inverse Mills ratio φ(z) / (1 − Φ(z)) (z itself in the far tail)
    are inlined, each by the same operations in the same order, ties and NaN included.
    """
    mu, base_reply = base.mu, base.reply
    count = sum(n for _, n, _ in answered)
    expected_replies = sum(base_reply[h] * n for h, n, _ in answered) + sum(base_reply[h] * w for h, _, w in silent)
    answered_sum = sum(total - n * mu[h] for h, n, total in answered)
    gaps = [x - mu[h] for h, x, _ in silent]
    rates = [base_reply[h] for h, _, _ in silent]
    weights = [w for _, _, w in silent]
    erfc, exp, max_p, sqrt2, sqrt_2pi = math.erfc, math.exp, MAX_P, SQRT2, SQRT_2PI
    offset, ratio = 0.0, 1.0
    for _ in range(EM_ROUNDS if silent else 1):
        later, later_sum = 0.0, 0.0
        for gap, rate, weight in zip(gaps, rates, weights, strict=True):
            z = (gap - offset) / sigma
            reply = rate * ratio
            if not reply < max_p:  # min(MAX_P, reply)
                reply = max_p
            tail = 0.5 * erfc(z / sqrt2)
            odds = 1.0 - reply + reply * tail
            if odds < 1e-12:  # max(odds, 1e-12)
                odds = 1e-12
            p_later = weight * reply * tail / odds
            later += p_later
            mills = z if tail < 1e-12 else exp(-0.5 * z * z) / sqrt_2pi / tail
            later_sum += p_later * (offset + sigma * mills)
        offset = (answered_sum + later_sum) / (count + later + delay_strength)
        ratio = (count + later + reply_strength) / (expected_replies + reply_strength)
    return offset, ratio


BAND_HOURS = tuple(tuple(range(start, end)) for start, end in BANDS)


class _Bands(dict[int, tuple[float, float]]):
    """A nurse's offsets per band, ``bands[band]``, each band fitted when first read: it depends
    only on her offers in it and her figures overall, so fitting it then (or never) changes no
    figure. A band without offers reads (0, 1), what ``_em`` gives."""

    def __init__(self, answers: Answers, pool: _Base, hers: tuple[float, float], sigma: float, k: float):
        super().__init__()
        self.answers, self.pool, self.hers, self.sigma, self.strength = answers, pool, hers, sigma, k

    def __missing__(self, band: int) -> tuple[float, float]:
        answered, silent = self.answers.logs(BAND_HOURS[band])
        if not answered and not silent:
            return (0.0, 1.0)
        fitted = self[band] = _em(
            answered, silent, self.pool.moved(*self.hers), self.sigma, self.strength, self.strength
        )
        return fitted


def answers_of(records: dict[int, Iterable[OfferRecord]], width: float = 0.0) -> dict[int, Answers]:
    """Each nurse's records summed (:meth:`Answers.of`), nurses in the same order."""
    return {nurse_id: Answers.of(own, width) for nurse_id, own in records.items()}


def fit(units: dict[int, Answers], priors: Priors = Priors()) -> Model:
    """Fit the model on each nurse's sums (see the module doc)."""
    everyone = Answers()
    for own in units.values():
        everyone.merge(own)
    sigma = _sigma(units.values(), priors)
    flat = _Base(dict.fromkeys(range(HOURS), math.log(priors.delay_s)), dict.fromkeys(range(HOURS), priors.reply))
    overall = flat.moved(*_em(*everyone.logs(), flat, sigma, priors.pool_strength, priors.pool_strength))
    pool_mu, pool_reply = {}, {}
    for hour in range(HOURS):
        offset, ratio = _em(*everyone.logs((hour,)), overall, sigma, priors.band_strength, priors.band_strength)
        pool_mu[hour], pool_reply[hour] = overall.mu[hour] + offset, min(MAX_P, overall.reply[hour] * ratio)
    pool = _Base(pool_mu, pool_reply)
    load_factor, pool_yes, own_yes = _willingness(units, priors)
    nurses: dict[int, NurseFit] = {}
    for nurse_id, answers in units.items():
        offset, ratio = _em(*answers.logs(), pool, sigma, priors.nurse_delay, priors.nurse_reply)
        bands = _Bands(answers, pool, (offset, ratio), sigma, priors.nurse_band)
        nurses[nurse_id] = NurseFit(offset, ratio, own_yes[nurse_id], bands)
    return Model(sigma, load_factor, pool_mu, pool_reply, pool_yes, nurses, everyone.answers())


def _sigma(units: Iterable[Answers], priors: Priors) -> float:
    """The spread of one nurse's log-delays, pooled over nurses with two answers or more.

    Taken from answered offers only, so it leans narrow when offers close fast; kept within bounds.
    """
    squares, dof = 0.0, 0.0
    for answers in units:
        count = sum(n for n, _ in answers.answered.values())
        if count >= 2:
            total = sum(t for _, t in answers.answered.values())
            squares += max(0.0, answers.squares - total * total / count)  # Σ(x − mean)²
            dof += count - 1
    prior_dof = 5.0
    variance = (squares + prior_dof * 1.0) / (dof + prior_dof)
    return min(priors.sigma_max, max(priors.sigma_min, math.sqrt(variance)))


def _willingness(units: dict[int, Answers], priors: Priors) -> tuple[float, float, dict[int, float]]:
    """The load factor per patient accepted that day, the pool's yes rate, and each nurse's.

    Answers given with no patient taken that day give each nurse a first rate; answers given
    with some, compared with what that rate predicts and pooled, give the load factor; then
    each nurse's rate counts all her answers, a loaded one as ``factor^load`` of an answer.
    """
    free_answers = sum(a.willing.get(0, (0, 0))[0] for a in units.values())
    free_yeses = sum(a.willing.get(0, (0, 0))[1] for a in units.values())
    k = priors.pool_strength
    pool_rate = (free_yeses + k * priors.yes) / (free_answers + k)
    loaded_yes, loaded_expected = 0.0, 0.0
    for answers in units.values():
        free, free_yes = answers.willing.get(0, (0, 0))
        rate = (free_yes + priors.nurse_yes * pool_rate) / (free + priors.nurse_yes)
        for load, (count, yeses) in sorted(answers.willing.items()):
            if load > 0:
                loaded_yes += yeses
                loaded_expected += count * rate * priors.load ** (load - 1)
    k = priors.load_strength
    factor = min(1.0, (loaded_yes + k * priors.load) / (loaded_expected + k))
    own: dict[int, float] = {}
    for nurse_id, answers in units.items():
        weight = sum(count * factor**load for load, (count, _) in sorted(answers.willing.items()))
        rate = (answers.yeses() + priors.nurse_yes * pool_rate) / (weight + priors.nurse_yes)
        own[nurse_id] = min(MAX_P, rate)
    return factor, pool_rate, own
