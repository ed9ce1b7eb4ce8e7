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

**Cost** (a wave of a large town fits thousands of offers; every figure is the straightforward
code's to the last bit: tests/unit/test_estimates.py): logs taken once, the EM's base read once per
offer, a band fitted when first read (a wave reads about one of five), records read by position
so that plain tuples of :class:`OfferRecord`'s fields serve (``dispatch.matching.history`` builds those).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

MAX_P = 0.99
EM_ROUNDS = 4
HOURS = 24
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


_Offers = list[tuple[int, float]]  # (hour, log exposure) of answered or silent offers, in order


def _logs(records: Iterable[OfferRecord]) -> tuple[_Offers, _Offers]:
    answered: _Offers = []
    silent: _Offers = []
    for hour, exposure_s, was_answered, _, _ in records:
        (answered if was_answered else silent).append((hour, math.log(max(exposure_s, 1.0))))
    return answered, silent


def _fit(
    records: Iterable[OfferRecord], base: _Base, sigma: float, delay_strength: float, reply_strength: float
) -> tuple[float, float]:
    """A unit's offsets (log-delay offset, answer-rate ratio) from ``base``, by EM under censoring.

    The priors are offset 0 and ratio 1 with the given strengths: with no records, ``(0, 1)``.
    """
    return _em(*_logs(records), base, sigma, delay_strength, reply_strength)


def _em(
    answered: _Offers, silent: _Offers, base: _Base, sigma: float, delay_strength: float, reply_strength: float
) -> tuple[float, float]:
    """:func:`_fit` of offers logged and split by :func:`_logs`: the hot loop (see the module doc).

    ``min``, ``max`` and the inverse Mills ratio φ(z) / (1 − Φ(z)) (z itself in the far tail)
    are inlined, each by the same operations in the same order, ties and NaN included.
    """
    mu, base_reply = base.mu, base.reply
    expected_replies = sum(base_reply[h] for h, _ in answered) + sum(base_reply[h] for h, _ in silent)
    answered_sum = sum(x - mu[h] for h, x in answered)
    gaps = [x - mu[h] for h, x in silent]
    rates = [base_reply[h] for h, _ in silent]
    erfc, exp, max_p, sqrt2, sqrt_2pi = math.erfc, math.exp, MAX_P, SQRT2, SQRT_2PI
    offset, ratio = 0.0, 1.0
    for _ in range(EM_ROUNDS if silent else 1):
        later, later_sum = 0.0, 0.0
        for gap, rate in zip(gaps, rates, strict=True):
            z = (gap - offset) / sigma
            reply = rate * ratio
            if not reply < max_p:  # min(MAX_P, reply)
                reply = max_p
            tail = 0.5 * erfc(z / sqrt2)
            odds = 1.0 - reply + reply * tail
            if odds < 1e-12:  # max(odds, 1e-12)
                odds = 1e-12
            p_later = reply * tail / odds
            later += p_later
            mills = z if tail < 1e-12 else exp(-0.5 * z * z) / sqrt_2pi / tail
            later_sum += p_later * (offset + sigma * mills)
        offset = (answered_sum + later_sum) / (len(answered) + later + delay_strength)
        ratio = (len(answered) + later + reply_strength) / (expected_replies + reply_strength)
    return offset, ratio


class _Bands(dict[int, tuple[float, float]]):
    """A nurse's offsets per band, ``bands[band]``, each band fitted when first read: it depends
    only on her offers in it and her figures overall, so fitting it then (or never) changes no
    figure. A band without offers reads (0, 1), what ``_em`` gives."""

    def __init__(self, logs: tuple[_Offers, _Offers], pool: _Base, hers: tuple[float, float], sigma: float, k: float):
        super().__init__()
        self.logs, self.pool, self.hers, self.sigma, self.strength = logs, pool, hers, sigma, k

    def __missing__(self, band: int) -> tuple[float, float]:
        answered, silent = ([o for o in offers if BAND_OF[o[0]] == band] for offers in self.logs)
        if not answered and not silent:
            return (0.0, 1.0)
        fitted = self[band] = _em(
            answered, silent, self.pool.moved(*self.hers), self.sigma, self.strength, self.strength
        )
        return fitted


def fit(records: dict[int, list[OfferRecord]], priors: Priors = Priors()) -> Model:
    """Fit the model on each nurse's records (see the module doc)."""
    units = {nurse_id: _logs(own) for nurse_id, own in records.items()}
    everyone = ([a for hers, _ in units.values() for a in hers], [s for _, hers in units.values() for s in hers])
    sigma = _sigma(units.values(), priors)
    flat = _Base(dict.fromkeys(range(HOURS), math.log(priors.delay_s)), dict.fromkeys(range(HOURS), priors.reply))
    overall = flat.moved(*_em(*everyone, flat, sigma, priors.pool_strength, priors.pool_strength))
    by_hour: dict[int, tuple[_Offers, _Offers]] = {hour: ([], []) for hour in range(HOURS)}
    for part, offers in enumerate(everyone):
        for offer in offers:
            by_hour[offer[0]][part].append(offer)
    pool_mu, pool_reply = {}, {}
    for hour in range(HOURS):
        offset, ratio = _em(*by_hour[hour], overall, sigma, priors.band_strength, priors.band_strength)
        pool_mu[hour], pool_reply[hour] = overall.mu[hour] + offset, min(MAX_P, overall.reply[hour] * ratio)
    pool = _Base(pool_mu, pool_reply)
    load_factor, pool_yes, own_yes = _willingness(records, priors)
    nurses: dict[int, NurseFit] = {}
    for nurse_id, logs in units.items():
        offset, ratio = _em(*logs, pool, sigma, priors.nurse_delay, priors.nurse_reply)
        bands = _Bands(logs, pool, (offset, ratio), sigma, priors.nurse_band)
        nurses[nurse_id] = NurseFit(offset, ratio, own_yes[nurse_id], bands)
    return Model(sigma, load_factor, pool_mu, pool_reply, pool_yes, nurses, len(everyone[0]))


def _sigma(units: Iterable[tuple[_Offers, _Offers]], priors: Priors) -> float:
    """The spread of one nurse's log-delays, pooled over nurses with two answers or more.

    Taken from answered offers only, so it leans narrow when offers close fast; kept within bounds.
    """
    squares, dof = 0.0, 0
    for answered, _ in units:
        xs = [x for _, x in answered]
        if len(xs) >= 2:
            mean = sum(xs) / len(xs)
            squares += sum((x - mean) ** 2 for x in xs)
            dof += len(xs) - 1
    prior_dof = 5.0
    variance = (squares + prior_dof * 1.0) / (dof + prior_dof)
    return min(priors.sigma_max, max(priors.sigma_min, math.sqrt(variance)))


def _willingness(records: dict[int, list[OfferRecord]], priors: Priors) -> tuple[float, float, dict[int, float]]:
    """The load factor per patient accepted that day, the pool's yes rate, and each nurse's.

    Answers given with no patient taken that day give each nurse a first rate; answers given
    with some, compared with what that rate predicts and pooled, give the load factor; then
    each nurse's rate counts all her answers, a loaded one as ``factor^load`` of an answer.
    """
    answers = [yes for rs in records.values() for _, _, answered, yes, load in rs if answered and load == 0]
    k = priors.pool_strength
    pool_rate = (sum(answers) + k * priors.yes) / (len(answers) + k)
    loaded_yes, loaded_expected = 0.0, 0.0
    for rs in records.values():
        free = [yes for _, _, answered, yes, load in rs if answered and load == 0]
        rate = (sum(free) + priors.nurse_yes * pool_rate) / (len(free) + priors.nurse_yes)
        for _, _, answered, yes, load in rs:
            if answered and load > 0:
                loaded_yes += yes
                loaded_expected += rate * priors.load ** (load - 1)
    k = priors.load_strength
    factor = min(1.0, (loaded_yes + k * priors.load) / (loaded_expected + k))
    own: dict[int, float] = {}
    for nurse_id, rs in records.items():
        answered = [(yes, load) for _, _, was_answered, yes, load in rs if was_answered]
        weight = sum(factor**load for _, load in answered)
        rate = (sum(yes for yes, _ in answered) + priors.nurse_yes * pool_rate) / (weight + priors.nurse_yes)
        own[nurse_id] = min(MAX_P, rate)
    return factor, pool_rate, own
