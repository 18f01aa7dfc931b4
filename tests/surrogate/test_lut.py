"""The per-block lookup-table predictor: sums, calibration, scores."""

from __future__ import annotations

import numpy as np
import pytest

from accelbench.search_space import ANB, sample
from accelbench.search_space.blocks import all_blocks, blocks_of
from accelbench.surrogate.lut import Calibration, blocks_per_network, errors, lut_sum
from accelbench.surrogate.models.base import SurrogateError

ARCHITECTURES = sample(30, seed=4)


def test_the_lut_sum_adds_each_block_once_per_use():
    ones = {b.key: 1.0 for b in all_blocks()}
    assert list(lut_sum(ARCHITECTURES, ones)) == [2 + sum(s.layers for s in ANB.stages_of(a.choices)) for a in ARCHITECTURES]
    table = {b.key: float(i) for i, b in enumerate(all_blocks())}
    assert lut_sum(ARCHITECTURES[:1], table)[0] == sum(table[b.key] for b in blocks_of(ARCHITECTURES[0]))
    del table["head"]
    with pytest.raises(SurrogateError, match="lacks 1 blocks \\(head\\)"):
        lut_sum(ARCHITECTURES, table)


def test_calibration_recovers_a_per_call_cost_and_a_scale():
    rng = np.random.default_rng(0)
    table = {b.key: float(rng.uniform(0.05, 1.0)) for b in all_blocks()}
    lut, count = lut_sum(ARCHITECTURES, table), blocks_per_network(ARCHITECTURES)
    measured = 0.9 * lut - 0.02 * count + 0.3  # fused a little (x0.9), each separate call cost 0.02 ms more, fixed 0.3 ms
    calibration = Calibration.fit(lut[:12], count[:12], measured[:12])
    assert (calibration.lut_slope, calibration.per_block, calibration.intercept) == pytest.approx((0.9, -0.02, 0.3), abs=1e-9)
    assert errors(measured[12:], calibration.predict(lut[12:], count[12:]))["within_10"] == 100.0
    few = Calibration.fit(lut[:5], count[:5], measured[:5])  # a handful: the scale alone
    assert (few.per_block, few.intercept) == (0.0, 0.0) and few.lut_slope == pytest.approx(np.median(measured[:5] / lut[:5]))
    assert errors(measured[5:], few.predict(lut[5:], count[5:]))["mape"] < errors(measured[5:], lut[5:])["mape"]
    with pytest.raises(SurrogateError, match="at least 3"):
        Calibration.fit(lut[:2], count[:2], measured[:2])


def test_scores():
    measured = np.array([1.0, 2.0, 4.0, 8.0])
    scores = errors(measured, np.array([1.05, 2.5, 3.9, 8.0]))
    assert scores["kendall_tau"] == pytest.approx(1.0) and scores["within_10"] == 75.0
    assert scores["mape"] == pytest.approx(100 * (0.05 + 0.25 + 0.025 + 0) / 4)


def test_one_table_answers_for_one_space():
    table = {b.key: 1.0 for b in all_blocks("ofa")}
    ofa = sample(3, 0, "ofa")
    assert list(lut_sum(ofa, table)) == [len(blocks_of(a)) for a in ofa]
    with pytest.raises(SurrogateError, match="one block table answers for one space; these architectures are of anb, ofa"):
        lut_sum([*ofa, *ARCHITECTURES[:1]], table)
    with pytest.raises(SurrogateError, match="the block table lacks"):
        lut_sum(ARCHITECTURES[:1], table)
