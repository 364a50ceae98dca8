"""Row-wise pooled latency (all record intervals at once) equals the one-row reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capsim.models import queueing as q


def law(rng: np.random.Generator, n: int, m: int, backlog: bool) -> q.ResponseTimeDistribution:
    return q.ResponseTimeDistribution(
        rng.uniform(0, 0.5, (n, m)) if backlog else np.zeros((n, m)),
        rng.uniform(0, 1, (n, m)),
        rng.uniform(0.5, 20, (n, m)),
        rng.uniform(2, 30, (n, m)),
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(1, 70), st.booleans())
def test_row_quantiles_and_means_equal_the_reference(
    seed: int, n: int, m: int, backlog: bool
) -> None:
    rng = np.random.default_rng(seed)
    dist = law(rng, n, m, backlog)
    weights = rng.uniform(0, 10, (n, m)) * (rng.uniform(size=(n, m)) > 0.3)
    quantiles = q.pooled_row_quantiles_s(dist, weights, (0.5, 0.95, 0.99))
    means = q.pooled_row_means_s(dist, weights)
    for i in range(n):
        row = q.ResponseTimeDistribution(
            dist.fixed_wait_s[i],
            dist.wait_probability[i],
            dist.wait_rate_per_s[i],
            dist.service_rate_per_s[i],
        )
        if weights[i].sum() == 0:
            assert np.isnan(quantiles[:, i]).all()
            assert np.isnan(means[i])
            continue
        for k, level in enumerate((0.5, 0.95, 0.99)):
            reference = q.pooled_response_time_quantile_s(row, weights[i], level)
            assert quantiles[k, i] == pytest.approx(reference, rel=1e-8)
        expected = np.dot(weights[i], q.response_time_mean_s(row)) / weights[i].sum()
        assert means[i] == pytest.approx(expected, rel=1e-12)


def test_identical_ticks_pool_to_the_tick_itself() -> None:
    dist = law(np.random.default_rng(1), 1, 1, True)
    repeated = q.ResponseTimeDistribution(
        *(
            np.repeat(getattr(dist, f), 50, axis=1)
            for f in ("fixed_wait_s", "wait_probability", "wait_rate_per_s", "service_rate_per_s")
        )
    )
    pooled = q.pooled_row_quantiles_s(repeated, np.ones((1, 50)), (0.95,))
    single = q.response_time_quantile_s(dist, 0.95)
    assert pooled[0, 0] == pytest.approx(float(single[0, 0]), rel=1e-9)
