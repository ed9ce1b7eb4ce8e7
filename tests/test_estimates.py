"""The adaptive policy's estimates (``dispatch.estimates``): hand-computable cases, censoring,
smoothing toward the pool, and the chances a wave is sized with."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from dispatch import estimates
from dispatch.estimates import Estimate, Priors, Record

PHI = NormalDist().cdf
FLAT = estimates._Base(dict.fromkeys(range(24), math.log(600.0)), dict.fromkeys(range(24), 0.5))


def answered(after_s: float, yes: bool = True, hour: int = 10, load: int = 0) -> Record:
    return Record(hour=hour, exposure_s=after_s, answered=True, yes=yes, load=load)


def silent(for_s: float, hour: int = 10) -> Record:
    return Record(hour=hour, exposure_s=for_s, answered=False)


def test_bands_cover_the_day():
    assert [estimates.band_of(h) for h in (0, 8, 9, 11, 12, 13, 14, 16, 17, 23)] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    with pytest.raises(ValueError):
        estimates.band_of(24)


def test_a_unit_with_only_answers_is_a_closed_form():
    # Three answers after 60 s where the base says 600 s: the log-delay offset is their mean
    # log ratio shrunk by 2 pseudo-answers, 3 ln(0.1) / (3 + 2); the answer-rate ratio is the
    # answers over the base's expected 3 × 0.5, both plus 4 pseudo-offers: 7 / 5.5.
    offset, ratio = estimates._fit([answered(60)] * 3, FLAT, 1.0, delay_strength=2, reply_strength=4)
    assert offset == pytest.approx(3 * math.log(0.1) / 5)
    assert ratio == pytest.approx(7 / 5.5)
    assert estimates._fit([], FLAT, 1.0, 2, 4) == (0.0, 1.0)


def test_silence_counts_by_how_long_it_lasted():
    # Ten offers closed under her after 20 s tell almost nothing (she could not have answered
    # yet); ten offers left unanswered for three hours say she does not answer.
    _, closed_fast = estimates._fit([silent(20)] * 10, FLAT, 1.0, 2, 4)
    _, ignored = estimates._fit([silent(3 * 3600)] * 10, FLAT, 1.0, 2, 4)
    assert closed_fast > 0.97
    assert ignored < 0.5


def test_offers_closed_before_her_answer_make_a_nurse_slower_than_her_answers_say():
    # Both answered five offers after a minute; one also let five offers close unanswered after
    # a minute: she is not as quick as her five answers alone suggest.
    quick, _ = estimates._fit([answered(60)] * 5, FLAT, 1.0, 2, 4)
    hidden, _ = estimates._fit([answered(60)] * 5 + [silent(60)] * 5, FLAT, 1.0, 2, 4)
    assert hidden > quick


def test_chance_within_and_after_silence():
    her = Estimate(reply=0.5, mu=math.log(120), yes=0.5)
    assert her.chance(120, sigma=1.0) == pytest.approx(0.125)  # half answer, half of them by 2 min, half yes
    assert her.chance(120, sigma=1.0, load_factor=0.5) == pytest.approx(0.0625)
    # Silent 2 minutes after the text: the next 2 minutes hold Φ(ln 2) − ½ of her answers, out
    # of the 1 − 0.5 × 0.5 chance that she was going to be silent this long.
    assert her.chance_after(120, 120, sigma=1.0) == pytest.approx(0.25 * (PHI(math.log(2)) - 0.5) / 0.75)


def test_no_history_gives_the_priors():
    model = estimates.fit({})
    assert model.answers == 0 and model.sigma == pytest.approx(1.0) and model.load_factor == pytest.approx(0.5)
    assert model.estimate(42, hour=10) == Estimate(0.6, math.log(600.0), 0.4)


def test_a_quick_nurse_beats_a_slow_one_with_the_same_answers():
    fast = [answered(60, yes=i % 2 == 0) for i in range(6)]
    slow = [answered(1800, yes=i % 2 == 0) for i in range(6)]
    model = estimates.fit({1: fast, 2: slow})
    quick, late = model.estimate(1, 10), model.estimate(2, 10)
    assert quick.yes == pytest.approx(late.yes)
    assert quick.chance(180, model.sigma) > 3 * late.chance(180, model.sigma)
    # A newcomer gets the pool's figures: between the two.
    newcomer = model.estimate(3, 10)
    assert late.mu > newcomer.mu > quick.mu


def test_the_pool_is_kept_by_the_hour_and_a_nurse_by_the_band():
    # Everyone answers in a minute at noon and in twenty at 9:00 (their morning round).
    records = {n: [answered(60, hour=12), answered(60, hour=12), answered(1200, hour=9)] * 3 for n in range(10)}
    model = estimates.fit(records)
    assert model.pool_mu[9] > model.pool_mu[12] + 1.0
    assert model.estimate(0, 9).chance(180, model.sigma) < model.estimate(0, 12).chance(180, model.sigma)
    # A nurse who, unlike the others, answers quickly at 9:00 too is read as such in that band.
    records[10] = [answered(60, hour=9)] * 6
    model = estimates.fit(records)
    assert model.estimate(10, 9).mu < model.estimate(0, 9).mu - 1.0


def test_a_patient_taken_that_day_lowers_the_next_yes():
    # Half of the answers are yes on a free day, none after a patient was taken.
    free = [answered(60, yes=i % 2 == 0) for i in range(20)]
    loaded = [answered(60, yes=False, load=1) for _ in range(10)]
    model = estimates.fit({1: free + loaded}, Priors(load=0.5, load_strength=10))
    assert model.load_factor < 0.5
    # Her own yes rate counts a loaded answer as only factor × an answer.
    assert model.estimate(1, 10).yes > estimates.fit({1: free + [answered(60, yes=False)] * 10}).estimate(1, 10).yes
