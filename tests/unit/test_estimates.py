"""The adaptive policy's estimates (``dispatch.matching.estimates``): hand-computable cases, censoring,
smoothing toward the pool, and the chances a wave is sized with."""

from __future__ import annotations

import math
import random
from statistics import NormalDist

import pytest

from dispatch.matching import estimates
from dispatch.matching.estimates import Answers, Estimate, OfferRecord, Priors, answers_of

PHI = NormalDist().cdf
FLAT = estimates._Base(dict.fromkeys(range(24), math.log(600.0)), dict.fromkeys(range(24), 0.5))


def answered(after_s: float, yes: bool = True, hour: int = 10, load: int = 0) -> OfferRecord:
    return OfferRecord(hour=hour, exposure_s=after_s, answered=True, yes=yes, load=load)


def silent(for_s: float, hour: int = 10) -> OfferRecord:
    return OfferRecord(hour=hour, exposure_s=for_s, answered=False)


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
    model = estimates.fit(answers_of({}))
    assert model.answers == 0 and model.sigma == pytest.approx(1.0) and model.load_factor == pytest.approx(0.5)
    assert model.estimate(42, hour=10) == Estimate(0.6, math.log(600.0), 0.4)


def test_a_quick_nurse_beats_a_slow_one_with_the_same_answers():
    fast = [answered(60, yes=i % 2 == 0) for i in range(6)]
    slow = [answered(1800, yes=i % 2 == 0) for i in range(6)]
    model = estimates.fit(answers_of({1: fast, 2: slow}))
    quick, late = model.estimate(1, 10), model.estimate(2, 10)
    assert quick.yes == pytest.approx(late.yes)
    assert quick.chance(180, model.sigma) > 3 * late.chance(180, model.sigma)
    # A newcomer gets the pool's figures: between the two.
    newcomer = model.estimate(3, 10)
    assert late.mu > newcomer.mu > quick.mu


def test_the_pool_is_kept_by_the_hour_and_a_nurse_by_the_band():
    # Everyone answers in a minute at noon and in twenty at 9:00 (their morning round).
    records = {n: [answered(60, hour=12), answered(60, hour=12), answered(1200, hour=9)] * 3 for n in range(10)}
    model = estimates.fit(answers_of(records))
    assert model.pool_mu[9] > model.pool_mu[12] + 1.0
    assert model.estimate(0, 9).chance(180, model.sigma) < model.estimate(0, 12).chance(180, model.sigma)
    # A nurse who, unlike the others, answers quickly at 9:00 too is read as such in that band.
    records[10] = [answered(60, hour=9)] * 6
    model = estimates.fit(answers_of(records))
    assert model.estimate(10, 9).mu < model.estimate(0, 9).mu - 1.0


def test_a_patient_taken_that_day_lowers_the_next_yes():
    # Half of the answers are yes on a free day, none after a patient was taken.
    free = [answered(60, yes=i % 2 == 0) for i in range(20)]
    loaded = [answered(60, yes=False, load=1) for _ in range(10)]
    model = estimates.fit(answers_of({1: free + loaded}), Priors(load=0.5, load_strength=10))
    assert model.load_factor < 0.5
    # Her own yes rate counts a loaded answer as only factor × an answer.
    assert (
        model.estimate(1, 10).yes
        > estimates.fit(answers_of({1: free + [answered(60, yes=False)] * 10})).estimate(1, 10).yes
    )


# --- the fit of the sums is the straightforward one, to float rounding ----------------------------
# The reference below is the fit as first written, one offer at a time (before the EM was
# inlined, the logs taken once, the bands fitted when read and the offers summed per hour and
# per bin: issue 17). With exact bins (width 0) every figure is the same up to the rounding of
# sums taken in another order: 1e-9 relative.

REL = 1e-9


def _close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-12)


def _reference_em(records, base, sigma, delay_strength, reply_strength):
    def mills(z):
        tail = 0.5 * math.erfc(z / math.sqrt(2.0))
        return z if tail < 1e-12 else math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi) / tail

    answered = [(r.hour, math.log(max(r.exposure_s, 1.0))) for r in records if r.answered]
    silent = [(r.hour, math.log(max(r.exposure_s, 1.0))) for r in records if not r.answered]
    expected_replies = sum(base.reply[h] for h, _ in answered) + sum(base.reply[h] for h, _ in silent)
    answered_sum = sum(x - base.mu[h] for h, x in answered)
    offset, ratio = 0.0, 1.0
    for _ in range(estimates.EM_ROUNDS if silent else 1):
        later, later_sum = 0.0, 0.0
        for hour, x in silent:
            z = (x - base.mu[hour] - offset) / sigma
            reply = min(estimates.MAX_P, base.reply[hour] * ratio)
            tail = 0.5 * math.erfc(z / math.sqrt(2.0))
            p_later = reply * tail / max(1.0 - reply + reply * tail, 1e-12)
            later += p_later
            later_sum += p_later * (offset + sigma * mills(z))
        offset = (answered_sum + later_sum) / (len(answered) + later + delay_strength)
        ratio = (len(answered) + later + reply_strength) / (expected_replies + reply_strength)
    return offset, ratio


def _reference_fit(records, priors=Priors()):
    """(sigma, load factor, pool's figures by hour, pool's yes, {nurse: (offset, ratio, yes, bands)})."""
    everyone = [r for rs in records.values() for r in rs]
    squares, dof = 0.0, 0
    for own in records.values():
        xs = [math.log(max(r.exposure_s, 1.0)) for r in own if r.answered]
        if len(xs) >= 2:
            mean = sum(xs) / len(xs)
            squares += sum((x - mean) ** 2 for x in xs)
            dof += len(xs) - 1
    sigma = min(priors.sigma_max, max(priors.sigma_min, math.sqrt((squares + 5.0 * 1.0) / (dof + 5.0))))
    flat = estimates._Base(dict.fromkeys(range(24), math.log(priors.delay_s)), dict.fromkeys(range(24), priors.reply))
    overall = flat.moved(*_reference_em(everyone, flat, sigma, priors.pool_strength, priors.pool_strength))
    hourly = [
        _reference_em([r for r in everyone if r.hour == h], overall, sigma, priors.band_strength, priors.band_strength)
        for h in range(24)
    ]
    pool = estimates._Base(
        {h: overall.mu[h] + hourly[h][0] for h in range(24)},
        {h: min(estimates.MAX_P, overall.reply[h] * hourly[h][1]) for h in range(24)},
    )
    free = [r for rs in records.values() for r in rs if r.answered and r.load == 0]
    pool_rate = (sum(r.yes for r in free) + priors.pool_strength * priors.yes) / (len(free) + priors.pool_strength)
    loaded_yes, loaded_expected = 0.0, 0.0
    for rs in records.values():
        hers = [r for r in rs if r.answered and r.load == 0]
        rate = (sum(r.yes for r in hers) + priors.nurse_yes * pool_rate) / (len(hers) + priors.nurse_yes)
        for r in rs:
            if r.answered and r.load > 0:
                loaded_yes += r.yes
                loaded_expected += rate * priors.load ** (r.load - 1)
    k = priors.load_strength
    factor = min(1.0, (loaded_yes + k * priors.load) / (loaded_expected + k))
    nurses = {}
    for nurse_id, own in records.items():
        offset, ratio = _reference_em(own, pool, sigma, priors.nurse_delay, priors.nurse_reply)
        answered = [r for r in own if r.answered]
        rate = (sum(r.yes for r in answered) + priors.nurse_yes * pool_rate) / (
            sum(factor**r.load for r in answered) + priors.nurse_yes
        )
        hers = pool.moved(offset, ratio)
        bands = {
            b: _reference_em([r for r in own if estimates.band_of(r.hour) == b], hers, sigma, 4.0, 4.0)
            for b in {estimates.band_of(r.hour) for r in own}
        }
        nurses[nurse_id] = (offset, ratio, min(estimates.MAX_P, rate), bands)
    return sigma, factor, pool.mu, pool.reply, pool_rate, nurses


def _random_records(seed: int, nurses: int = 12) -> dict[int, list[OfferRecord]]:
    """Offers at every hour, exposures from 0 to 10 days (the far tail too), from nurses who
    answer rarely to nurses who answer nearly always (answer rates clamped at MAX_P)."""
    rng = random.Random(seed)
    records = {}
    for nurse_id in sorted(rng.sample(range(1, 1000), nurses)):
        answers = rng.choice([0.1, 0.3, 0.95])
        records[nurse_id] = [
            OfferRecord(
                hour=rng.choice([rng.randrange(24), 8, 9, 10]),
                exposure_s=rng.choice([0.0, 0.4, rng.expovariate(1 / 600), rng.uniform(1, 864000)]),
                answered=(answered := rng.random() < answers),
                yes=answered and rng.random() < 0.5,
                load=rng.choice([0, 0, 0, 1, 2]),
            )
            for _ in range(rng.randrange(0, 40))
        ]
    return records


@pytest.mark.parametrize("seed", range(8))
def test_the_fit_of_exact_sums_is_the_straightforward_one(seed):
    records = _random_records(seed)
    sigma, factor, pool_mu, pool_reply, pool_yes, nurses = _reference_fit(records)
    model = estimates.fit(answers_of(records))
    assert _close((model.sigma, model.load_factor, model.pool_mu, model.pool_reply, model.pool_yes),
                  (sigma, factor, pool_mu, pool_reply, pool_yes))  # fmt: skip
    for nurse_id, (offset, ratio, yes, bands) in nurses.items():
        hers = model.nurses[nurse_id]
        assert _close((hers.delay, hers.reply, hers.yes), (offset, ratio, yes))
        # Each band fitted when read is the band fitted eagerly; a band without offers is (0, 1).
        for band in range(len(estimates.BANDS)):
            assert _close(hers.bands[band], bands.get(band, (0.0, 1.0)))
    # The far tail (the Mills ratio's z) and the clamp at MAX_P are reached by these records.
    assert _close(
        estimates._fit(records[min(records)], FLAT, 0.5, 2, 4), _reference_em(records[min(records)], FLAT, 0.5, 2, 4)
    )


def test_records_are_read_by_position_so_plain_tuples_serve():
    records = _random_records(99)
    plain = {n: [tuple(r) for r in rs] for n, rs in records.items()}
    named, bare = estimates.fit(answers_of(records)), estimates.fit(answers_of(plain))
    for nurse_id in [*records, 0]:
        for hour in range(24):
            assert bare.estimate(nurse_id, hour) == named.estimate(nurse_id, hour)
    assert estimates.OfferRecord(9, 60.0, True, True, 1) == (9, 60.0, True, True, 1)


def test_binned_silences_give_nearly_the_same_figures():
    # Silent offers counted in bins (exposures within ±5 %), each bin read at its offers' mean:
    # every chance a wave is sized with moves by far less than a thousandth of itself.
    records = _random_records(3, nurses=40)
    exact, binned = estimates.fit(answers_of(records)), estimates.fit(answers_of(records, estimates.BIN))
    assert exact.answers == binned.answers
    for nurse_id in [*records, 0]:
        for hour in (8, 10, 14, 18):
            a, b = (m.estimate(nurse_id, hour).chance(180, m.sigma) for m in (exact, binned))
            assert abs(a - b) < 1e-3 * max(a, 0.01)


def test_sums_add_subtract_merge_and_keep_as_json():
    records = _random_records(4)
    whole = Answers()
    for rs in records.values():
        whole.merge(Answers.of(rs, estimates.BIN))
    kept = Answers.from_json(whole.to_json())
    assert kept == whole
    # One offer at a time by its key, then each taken away again: back to nothing.
    by_key = Answers()
    keys = [estimates.key_of(r) for rs in records.values() for r in rs]
    for key in keys:
        by_key.apply(key)
    assert _close(by_key.to_json(), whole.to_json())
    for key in keys:
        by_key.apply(key, -1)
    assert by_key == Answers()
    # An answered offer's key keeps its log-delay exactly; a silent one its bin.
    assert estimates.key_of(OfferRecord(9, 60.0, True, True, 2)) == f"a|9|{math.log(60.0)!r}|1|2"
    assert estimates.key_of(OfferRecord(9, 60.0, False)) == f"s|9|{math.log(60.0)!r}"
    half = Answers.of(records[min(records)], estimates.BIN)
    rest = whole.copy()
    rest.merge(half, -1)
    rest.merge(half)
    assert _close(rest.to_json(), whole.to_json())
