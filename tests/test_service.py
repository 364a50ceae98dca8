"""The service model (``capsim.models.service``) against theory, simulation and hand computation.

* Erlang C against the factorial formula in exact rational arithmetic and, for large
  ``c``, against SciPy's Poisson distribution (``B = pmf(c) / cdf(c)``).
* M/M/c mean and percentiles against closed forms written out independently here
  (REFERENCE.md §7), solved with SciPy's ``brentq``; M/M/1 is ``Exp(μ − λ)`` exactly.
* A discrete-event simulation (Ciw) of M/M/c: theory inside a 99 % confidence interval
  from independent replications.
* The fluid regime tick by tick by hand: backlog growth, drops at the timeout limit,
  draining, no ready replica, fewer replicas.
* Hypothesis properties: nothing negative, served ≤ capacity, utilization ≤ 1, CPU ≤
  limit, conservation per tick and over runs, latency monotone in load for fixed
  capacity, quantiles that invert the tail, vectorized equals one-by-one.
"""

from __future__ import annotations

import math
from dataclasses import fields
from fractions import Fraction
from typing import Any

import ciw
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from capsim.models import queueing
from capsim.models import service as svc

# --- independent references ----------------------------------------------------------------


def erlang_c_exact(c: int, a: Fraction) -> Fraction:
    """``C(c, a) = (a^c/c! · c/(c−a)) / (Σ_{k<c} a^k/k! + a^c/c! · c/(c−a))``."""
    top = a**c / math.factorial(c) * Fraction(c) / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def mmc_closed_form(lam: float, mu: float, c: int) -> tuple[float, float, float]:
    """``(C, mean response, p95)`` of a stationary M/M/c, computed only from the textbook."""
    a = lam / mu
    top = a**c / math.factorial(c) * c / (c - a)
    C = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    theta = c * mu - lam
    mean = 1 / mu + C / theta

    def tail(t: float) -> float:
        # P(Exp(θ) + Exp(μ) > t) for θ ≠ μ, then the mixture with no wait.
        hypo = (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
        return (1 - C) * math.exp(-mu * t) + C * hypo

    p95 = optimize.brentq(lambda t: tail(t) - 0.05, 0.0, 1e4, xtol=1e-14, rtol=1e-14)
    return C, mean, p95


def params(**overrides: Any) -> svc.ServiceParams:
    base: dict[str, Any] = {
        "cpu_ms_per_request": 100.0,
        "concurrency": 1,
        "cpu_limit_cores": 1.0,
        "timeout_s": 2.0,
    }
    base.update(overrides)
    return svc.ServiceParams.of(**base)


def run(
    p: svc.ServiceParams, loads: list[float], ready: list[int], dt_s: float = 1.0
) -> list[svc.TickOutput]:
    """Step one service through ``loads``, checking conservation on every tick."""
    state = svc.ServiceState.empty(p.n)
    outputs = []
    for lam, r in zip(loads, ready, strict=True):
        before = state.backlog
        state, out = svc.step(p, state, [lam], [r], dt_s)
        arrived = lam * dt_s
        change = out.backlog[0] - before[0]
        balance = (out.served_rate[0] + out.dropped_rate[0]) * dt_s + change
        assert balance == pytest.approx(arrived, rel=1e-12, abs=1e-12)
        outputs.append(out)
    return outputs


# --- Erlang C ------------------------------------------------------------------------------

ERLANG_CASES = [(1, "1/2"), (2, "3/2"), (4, "16/5"), (10, "17/2"), (16, "72/5"), (50, "45")]


@pytest.mark.parametrize(("c", "a"), ERLANG_CASES)
def test_erlang_c_matches_exact_factorial_formula(c: int, a: str) -> None:
    got = queueing.erlang_c(c, float(Fraction(a)))
    assert float(got) == pytest.approx(float(erlang_c_exact(c, Fraction(a))), rel=1e-12)


def test_erlang_c_vectorized_over_varying_servers() -> None:
    cs = [c for c, _ in ERLANG_CASES]
    a = [float(Fraction(x)) for _, x in ERLANG_CASES]
    expected = [float(erlang_c_exact(c, Fraction(x))) for c, x in ERLANG_CASES]
    np.testing.assert_allclose(queueing.erlang_c(cs, a), expected, rtol=1e-12)


@pytest.mark.parametrize(("c", "a"), [(200, 180.0), (1000, 950.0), (5000, 4990.0)])
def test_erlang_c_large_c_against_scipy_poisson(c: int, a: float) -> None:
    blocking = stats.poisson.pmf(c, a) / stats.poisson.cdf(c, a)
    rho = a / c
    expected = blocking / (1 - rho * (1 - blocking))
    assert float(queueing.erlang_c(c, a)) == pytest.approx(expected, rel=1e-9)


def test_erlang_c_edges() -> None:
    np.testing.assert_array_equal(
        queueing.erlang_c([1, 8, 3, 3], [0.0, 0.0, 3.0, 7.5]), [0, 0, 1, 1]
    )


# --- M/M/c closed forms --------------------------------------------------------------------


@pytest.mark.parametrize("c", [1, 4, 16])
@pytest.mark.parametrize("rho", [0.3, 0.7, 0.9])
def test_mmc_mean_and_p95_match_closed_form(c: int, rho: float) -> None:
    mu = 4.0
    lam = rho * c * mu
    C, mean, p95 = mmc_closed_form(lam, mu, c)
    assert float(queueing.erlang_c(c, lam / mu)) == pytest.approx(C, rel=1e-12)
    # The brief asks for 2 %; the model is exact, so hold it to ~1e-9.
    assert float(queueing.mmc_mean_response_s(lam, mu, c)) == pytest.approx(mean, rel=1e-9)
    assert float(queueing.mmc_response_quantile_s(0.95, lam, mu, c)) == pytest.approx(p95, rel=1e-9)


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.9, 0.99])
def test_mm1_response_is_exponential(rho: float) -> None:
    mu = 10.0
    lam = rho * mu
    rate = mu - lam
    assert float(queueing.mmc_mean_response_s(lam, mu, 1)) == pytest.approx(1 / rate, rel=1e-12)
    for q in (0.5, 0.95, 0.99, 0.999):
        got = float(queueing.mmc_response_quantile_s(q, lam, mu, 1))
        assert got == pytest.approx(-math.log1p(-q) / rate, rel=1e-10)
    t = np.array([0.0, 0.01, 0.3, 2.0, 10.0])
    np.testing.assert_allclose(
        queueing.mmc_response_tail(t, lam, mu, 1), np.exp(-rate * t), rtol=1e-11
    )


def test_wait_rate_equal_to_service_rate() -> None:
    """θ = cμ − λ = μ (c = 4, ρ = 0.75): the hypoexponential tail is (1 + μt) e^{−μt}."""
    mu, c = 2.0, 4
    lam = (c - 1) * mu
    C = float(erlang_c_exact(c, Fraction(3)))
    t = np.array([0.0, 0.1, 1.0, 3.0, 8.0])
    expected = (1 - C) * np.exp(-mu * t) + C * (1 + mu * t) * np.exp(-mu * t)
    np.testing.assert_allclose(queueing.mmc_response_tail(t, lam, mu, c), expected, rtol=1e-12)
    # Continuous across θ = μ: a hair either side gives the same quantile.
    near = queueing.mmc_response_quantile_s(0.95, lam * np.array([1 - 1e-9, 1.0, 1 + 1e-9]), mu, c)
    np.testing.assert_allclose(near, near[1], rtol=1e-7)
    tail_at = queueing.mmc_response_tail(near[1], lam, mu, c)
    assert float(tail_at) == pytest.approx(0.05, rel=1e-10)


def test_unstable_mmc_has_no_stationary_law() -> None:
    assert float(queueing.mmc_mean_response_s(4.0, 1.0, 4)) == math.inf
    assert float(queueing.mmc_response_quantile_s(0.5, 5.0, 1.0, 4)) == math.inf
    assert float(queueing.mmc_response_tail(100.0, 5.0, 1.0, 4)) == 1.0


# --- discrete-event simulation (Ciw) -------------------------------------------------------


def ciw_replication(c: int, rho: float, seed: int) -> tuple[float, float]:
    """Mean and p95 response of one Ciw M/M/c run (μ = 1) after a warm-up."""
    mu, warmup, customers = 1.0, 1000, 7000
    lam = rho * c * mu
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(lam)],
        service_distributions=[ciw.dists.Exponential(mu)],
        number_of_servers=[c],
    )
    ciw.seed(seed)
    sim = ciw.Simulation(network)
    start, stop = warmup / lam, (warmup + customers) / lam
    # Run past the last counted arrival so every counted customer has left.
    sim.simulate_until_max_time(stop + 60.0 / (mu * (1 - rho)))
    times = [
        r.exit_date - r.arrival_date
        for r in sim.get_all_records()
        if start <= r.arrival_date < stop
    ]
    return float(np.mean(times)), float(np.quantile(times, 0.95))


@pytest.mark.parametrize(("c", "rho"), [(1, 0.5), (8, 0.85), (16, 0.8)])
def test_mmc_against_ciw_simulation(c: int, rho: float) -> None:
    replications = 10
    samples = np.array([ciw_replication(c, rho, 1000 * c + s) for s in range(replications)])
    estimate = samples.mean(axis=0)
    half_width = stats.t.ppf(0.995, replications - 1) * samples.std(axis=0, ddof=1)
    half_width /= math.sqrt(replications)
    theory = np.array(
        [
            float(queueing.mmc_mean_response_s(rho * c, 1.0, c)),
            float(queueing.mmc_response_quantile_s(0.95, rho * c, 1.0, c)),
        ]
    )
    assert np.all(half_width < 0.12 * theory), "interval too wide to test anything"
    assert np.all(np.abs(estimate - theory) <= half_width), (estimate, half_width, theory)


# --- the fluid regime by hand --------------------------------------------------------------


def test_overload_builds_drops_and_drains_by_hand() -> None:
    """μ = 10/s, 2 replicas: capacity 20/s, queue limit 20/s × 2 s = 40 requests."""
    p = params()
    outs = run(p, [30, 30, 30, 30, 30, 5, 5, 5, 5], [2] * 9)
    names = [name for name in vars(outs[0]) if name != "latency"]
    col = {name: [float(getattr(o, name)[0]) for o in outs] for name in names}
    assert col["backlog"] == pytest.approx([10, 20, 30, 40, 40, 25, 10, 0, 0])
    assert col["served_rate"] == pytest.approx([20, 20, 20, 20, 20, 20, 20, 15, 5])
    assert col["dropped_rate"] == pytest.approx([0, 0, 0, 0, 10, 0, 0, 0, 0])
    assert col["capacity_rate"] == pytest.approx([20] * 9)
    assert col["utilization"] == pytest.approx([1, 1, 1, 1, 1, 1, 1, 0.75, 0.25])
    assert col["cpu_used_cores_per_replica"] == pytest.approx(col["utilization"])
    # Wait = mean backlog over the tick / capacity (+ Exp(10) service while ρ ≥ 1, or
    # + M/M/1 response Exp(10 − 2.5) while a backlog drains at ρ = 0.25).
    waits = [5 / 20, 15 / 20, 25 / 20, 35 / 20, 40 / 20, 32.5 / 20, 17.5 / 20, (10 / 3) / 20, 0]
    extra_mean = [0.1] * 5 + [1 / 7.5] * 4
    expected_mean = [1000 * (w + m) for w, m in zip(waits, extra_mean, strict=True)]
    assert col["latency_mean_ms"] == pytest.approx(expected_mean, rel=1e-12)
    extra_p95 = [math.log(20) / 10] * 5 + [math.log(20) / 7.5] * 4
    expected_p95 = [1000 * (w + e) for w, e in zip(waits, extra_p95, strict=True)]
    assert col["latency_p95_ms"] == pytest.approx(expected_p95, rel=1e-10)
    assert outs[4].latency_mean_ms[0] == pytest.approx(1000 * (2.0 + 0.1))  # waits timeout_s


def test_backlog_reaching_the_limit_mid_tick() -> None:
    """Backlog 30 → 50 at +20/s is cut at the limit 40 half-way: mean backlog 37.5."""
    state = svc.ServiceState(np.array([30.0]))
    state, out = svc.step(params(), state, [40.0], [2], 1.0)
    assert (out.served_rate[0], out.dropped_rate[0], state.backlog[0]) == (20, 10, 40)
    assert out.latency.fixed_wait_s[0] == pytest.approx(37.5 / 20, rel=1e-12)
    assert out.latency_mean_ms[0] == pytest.approx(1000 * (37.5 / 20 + 0.1), rel=1e-12)


@pytest.mark.parametrize(("concurrency", "ready", "rho"), [(1, 3, 0.9), (4, 2, 0.7), (16, 5, 0.3)])
def test_step_without_backlog_is_exactly_mmc(concurrency: int, ready: int, rho: float) -> None:
    p = params(concurrency=concurrency, cpu_limit_cores=float(concurrency))
    mu = 10.0
    lam = rho * ready * concurrency * mu
    (out,) = run(p, [lam], [ready])
    per = (lam / ready, mu, concurrency)
    assert out.latency_mean_ms[0] == pytest.approx(1000 * queueing.mmc_mean_response_s(*per)[()])
    for q, got in ((0.95, out.latency_p95_ms), (0.99, out.latency_p99_ms)):
        assert got[0] == pytest.approx(1000 * queueing.mmc_response_quantile_s(q, *per)[()])
    assert out.utilization[0] == pytest.approx(rho)
    assert out.backlog[0] == 0


def test_no_ready_replica_drops_everything() -> None:
    p = params()
    state = svc.ServiceState(np.array([12.0]))
    state, out = svc.step(p, state, [7.0], [0], 2.0)
    assert out.dropped_rate[0] == pytest.approx((12 + 14) / 2)
    assert out.served_rate[0] == 0
    assert state.backlog[0] == 0
    assert out.utilization[0] == 0
    assert out.cpu_used_cores_per_replica[0] == 0
    assert out.memory_used_mib_per_replica[0] == 0
    assert np.isnan([out.latency_mean_ms[0], out.latency_p95_ms[0], out.latency_p99_ms[0]]).all()


def test_fewer_replicas_lower_the_queue_limit() -> None:
    p = params()
    state = svc.ServiceState(np.array([40.0]))
    state, out = svc.step(p, state, [10.0], [1], 1.0)  # capacity 10/s, limit 20
    assert (out.served_rate[0], out.dropped_rate[0], state.backlog[0]) == (10, 20, 20)


def test_stationary_usage_by_hand() -> None:
    """10 req/s over 2 replicas of μ = 10/s: ρ = 0.5, M/M/1 in system ρ/(1−ρ) = 1."""
    p = params(idle_cpu_cores=0.05, memory_mib=256.0, memory_mib_per_request=8.0)
    (out,) = run(p, [10.0], [2])
    assert out.cpu_used_cores_per_replica[0] == pytest.approx(0.55)
    assert out.memory_used_mib_per_replica[0] == pytest.approx(256 + 8 * 1.0)
    assert out.utilization[0] == pytest.approx(0.5)
    assert out.latency_mean_ms[0] == pytest.approx(1000 / (10 - 5))
    assert out.latency_p99_ms[0] == pytest.approx(1000 * math.log(100) / 5)
    # The idle baseline is capped at the limit with the busy share.
    (busy,) = run(params(idle_cpu_cores=0.5), [19.0], [2])
    assert busy.cpu_used_cores_per_replica[0] == 1.0


@pytest.mark.parametrize(
    ("concurrency", "limit", "service_s", "replica_capacity"),
    [(4, 1.0, 0.4, 10.0), (4, 8.0, 0.1, 40.0), (2, 0.5, 0.4, 5.0), (1, 4.0, 0.1, 10.0)],
)
def test_server_speed_from_cpu_limit(
    concurrency: int, limit: float, service_s: float, replica_capacity: float
) -> None:
    p = params(concurrency=concurrency, cpu_limit_cores=limit)
    assert 1 / svc.service_rate_per_s(p)[0] == pytest.approx(service_s)
    assert svc.replica_capacity_per_s(p)[0] == pytest.approx(replica_capacity)
    (out,) = run(p, [100.0], [1])
    assert out.cpu_used_cores_per_replica[0] == pytest.approx(min(limit, concurrency))


# --- request-weighted percentiles over ticks -----------------------------------------------


def test_pooled_quantile_is_request_weighted() -> None:
    """Ticks with T ~ Exp(2) (3 requests) and Exp(0.5) (1 request); a NaN tick unserved."""
    law = queueing.ResponseTimeDistribution(
        fixed_wait_s=np.array([0.0, 0.0, np.nan]),
        wait_probability=np.array([0.0, 0.0, 0.0]),
        wait_rate_per_s=np.array([1.0, 1.0, 1.0]),
        service_rate_per_s=np.array([2.0, 0.5, 1.0]),
    )

    def tail(t: float) -> float:
        return 0.75 * math.exp(-2 * t) + 0.25 * math.exp(-0.5 * t)

    expected = optimize.brentq(lambda t: tail(t) - 0.05, 0, 100, xtol=1e-14, rtol=1e-14)
    got = queueing.pooled_response_time_quantile_s(law, [3.0, 1.0, 0.0], 0.95)
    assert got == pytest.approx(expected, rel=1e-10)
    assert math.isnan(queueing.pooled_response_time_quantile_s(law, [0, 0, 0], 0.95))


def test_pooled_quantile_of_identical_ticks_is_the_tick_quantile() -> None:
    p = params(concurrency=4, cpu_limit_cores=4.0)
    outs = run(p, [25.0, 25.0, 60.0, 25.0], [1, 1, 1, 1])
    stacked = queueing.ResponseTimeDistribution(
        *(np.concatenate([getattr(o.latency, f) for o in outs]) for f in vars(outs[0].latency))
    )
    got = queueing.pooled_response_time_quantile_s(stacked, [1.0, 1.0, 0.0, 0.0], 0.99)
    assert 1000 * got == pytest.approx(outs[0].latency_p99_ms[0], rel=1e-10)
    weights = [o.served_rate[0] for o in outs]
    pooled = queueing.pooled_response_time_quantile_s(stacked, weights, 0.95)
    each = [o.latency_p95_ms[0] / 1000 for o in outs]
    assert min(each) <= pooled <= max(each)
    share = np.array(weights) / sum(weights)
    assert share @ queueing.response_time_tail(stacked, pooled) == pytest.approx(0.05, rel=1e-9)


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cpu_ms_per_request", -5.0, r"cpu_ms_per_request\[0\]: must be > 0 and finite, got -5.0"),
        ("cpu_limit_cores", 0.0, r"cpu_limit_cores\[0\]: must be > 0 and finite, got 0.0"),
        ("timeout_s", math.nan, r"timeout_s\[0\]: must be > 0 and finite, got nan"),
        ("idle_cpu_cores", -0.1, r"idle_cpu_cores\[0\]: must be >= 0 and finite, got -0.1"),
        ("memory_mib", math.inf, r"memory_mib\[0\]: must be >= 0 and finite, got inf"),
        ("concurrency", 0, r"concurrency\[0\]: must be an integer >= 1, got 0.0"),
        ("concurrency", 2.5, r"concurrency\[0\]: must be an integer >= 1, got 2.5"),
    ],
)
def test_params_errors_name_field_and_value(field: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        params(**{field: value})


def test_step_input_errors() -> None:
    p = params(cpu_ms_per_request=[100.0, 50.0])
    state = svc.ServiceState.empty(2)
    with pytest.raises(ValueError, match=r"arrival_rate\[1\]: must be >= 0 and finite, got -1.0"):
        svc.step(p, state, [1.0, -1.0], [1, 1], 1.0)
    with pytest.raises(ValueError, match=r"ready\[0\]: must be an integer >= 0, got 1.5"):
        svc.step(p, state, [1.0, 1.0], [1.5, 1], 1.0)
    with pytest.raises(ValueError, match=r"dt_s: must be > 0 and finite, got 0.0"):
        svc.step(p, state, [1.0, 1.0], [1, 1], 0.0)
    with pytest.raises(ValueError, match=r"state.backlog: must have shape \(2,\)"):
        svc.step(p, svc.ServiceState.empty(3), [1.0, 1.0], [1, 1], 1.0)
    with pytest.raises(ValueError, match=r"ServiceState.backlog\[0\]: must be >= 0"):
        svc.ServiceState(np.array([-1.0]))
    with pytest.raises(ValueError, match=r"quantile q: must be in \(0, 1\), got 1.0"):
        queueing.mmc_response_quantile_s(1.0, 1.0, 2.0, 1)
    with pytest.raises(ValueError, match=r"ServiceParams.timeout_s: must have shape \(2,\)"):
        svc.ServiceParams(**{**vars(p), "timeout_s": np.ones(3)})


def test_params_are_read_only() -> None:
    p = params()
    with pytest.raises(ValueError, match="read-only"):
        p.cpu_ms_per_request[0] = 1.0


# --- properties ----------------------------------------------------------------------------


@st.composite
def services(draw: st.DrawFn, n: int) -> svc.ServiceParams:
    def each(strategy: st.SearchStrategy[float]) -> list[float]:
        return draw(st.lists(strategy, min_size=n, max_size=n))

    return svc.ServiceParams.of(
        cpu_ms_per_request=each(st.floats(0.5, 2000.0)),
        concurrency=each(st.integers(1, 64)),
        cpu_limit_cores=each(st.floats(0.05, 16.0)),
        timeout_s=each(st.floats(0.1, 120.0)),
        idle_cpu_cores=each(st.floats(0.0, 0.5)),
        memory_mib=each(st.floats(0.0, 4096.0)),
        memory_mib_per_request=each(st.floats(0.0, 64.0)),
    )


@st.composite
def ticks(draw: st.DrawFn) -> tuple[svc.ServiceParams, np.ndarray, np.ndarray, np.ndarray, float]:
    n = draw(st.integers(1, 4))
    p = draw(services(n))
    capacity = svc.replica_capacity_per_s(p)
    ready = np.array(draw(st.lists(st.integers(0, 20), min_size=n, max_size=n)))
    # Load as a multiple of one replica's capacity, so every regime is reached.
    load = np.array(draw(st.lists(st.floats(0.0, 30.0), min_size=n, max_size=n))) * capacity
    limit = np.maximum(ready, 1) * capacity * p.timeout_s
    backlog = np.array(draw(st.lists(st.floats(0.0, 1.5), min_size=n, max_size=n))) * limit
    return p, backlog, load, ready, draw(st.floats(0.01, 60.0))


@settings(max_examples=300)
@given(ticks())
def test_step_invariants(
    case: tuple[svc.ServiceParams, np.ndarray, np.ndarray, np.ndarray, float],
) -> None:
    p, backlog, load, ready, dt = case
    state, out = svc.step(p, svc.ServiceState(backlog), load, ready, dt)
    for name in ("served_rate", "dropped_rate", "backlog", "utilization"):
        assert np.all(getattr(out, name) >= 0), name
    assert np.all(out.cpu_used_cores_per_replica >= 0)
    assert np.all(out.served_rate <= out.capacity_rate)
    assert np.all(out.utilization <= 1)
    assert np.all(out.cpu_used_cores_per_replica <= p.cpu_limit_cores)
    assert np.all(out.backlog <= out.capacity_rate * p.timeout_s)
    np.testing.assert_array_equal(state.backlog, out.backlog)
    scale = backlog + load * dt + 1.0
    balance = (out.served_rate + out.dropped_rate) * dt + out.backlog - backlog
    np.testing.assert_allclose(balance, load * dt, rtol=0, atol=1e-12 * scale.max())
    up = ready > 0
    latencies = (out.latency_mean_ms, out.latency_p95_ms, out.latency_p99_ms)
    for lat in latencies:
        assert np.all(np.isnan(lat) == ~up)
        assert np.all(lat[up] >= 0)
    assert np.all(out.latency_p99_ms[up] >= out.latency_p95_ms[up])
    assert np.all(out.memory_used_mib_per_replica[up] >= p.memory_mib[up])
    # A request never waits in the fluid queue longer than the timeout.
    assert np.all(out.latency.fixed_wait_s[up] <= p.timeout_s[up] * (1 + 1e-12))


@settings(max_examples=200)
@given(
    services(1),
    st.integers(1, 10),
    st.floats(0.0, 1.0),
    st.floats(0.0, 0.999),
    st.floats(0.0, 0.999),
    st.booleans(),
    st.floats(0.1, 30.0),
)
def test_latency_monotone_in_load_for_fixed_capacity(
    p: svc.ServiceParams,
    ready: int,
    backlog_share: float,
    x: float,
    y: float,
    overloaded: bool,
    dt: float,
) -> None:
    """Same capacity and starting backlog: more load never lowers latency.

    Compared on one side of ρ = 1 (the stationary M/M/c wait diverges as ρ → 1⁻ while an
    overloaded tick starts from the current backlog; see the module docstring).
    """
    capacity = ready * float(svc.replica_capacity_per_s(p)[0])
    state = svc.ServiceState(np.array([backlog_share * capacity * float(p.timeout_s[0])]))
    low, high = sorted((x, y))
    if overloaded:
        loads = [capacity * (1 + 5 * low), capacity * (1 + 5 * high)]
    else:
        loads = [capacity * low, capacity * high]
    a = svc.step(p, state, [loads[0]], [ready], dt)[1]
    b = svc.step(p, state, [loads[1]], [ready], dt)[1]
    for name in ("latency_mean_ms", "latency_p95_ms", "latency_p99_ms"):
        before, after = float(getattr(a, name)[0]), float(getattr(b, name)[0])
        assert after >= before * (1 - 1e-9), (name, before, after)


@settings(max_examples=100)
@given(services(1), st.lists(st.tuples(st.floats(0.0, 40.0), st.integers(0, 5)), max_size=30))
def test_conservation_over_a_run(p: svc.ServiceParams, steps: list[tuple[float, int]]) -> None:
    capacity = float(svc.replica_capacity_per_s(p)[0])
    state = svc.ServiceState.empty(1)
    arrived = served = dropped = 0.0
    for share, ready in steps:
        state, out = svc.step(p, state, [share * capacity], [ready], 1.5)
        arrived += share * capacity * 1.5
        served += float(out.served_rate[0]) * 1.5
        dropped += float(out.dropped_rate[0]) * 1.5
    assert served + dropped + float(state.backlog[0]) == pytest.approx(arrived, rel=1e-9, abs=1e-9)


@settings(max_examples=200)
@given(
    st.integers(1, 200),
    st.floats(0.0, 0.999),
    st.floats(0.01, 1000.0),
    st.floats(0.0, 100.0),
    st.floats(0.001, 0.9999),
)
def test_quantile_inverts_tail(c: int, rho: float, mu: float, wait: float, q: float) -> None:
    lam = rho * c * mu
    shifted = queueing.ResponseTimeDistribution(
        np.array(wait), queueing.erlang_c(c, lam / mu), np.array(c * mu - lam), np.array(mu)
    )
    t = queueing.response_time_quantile_s(shifted, q)
    assert float(queueing.response_time_tail(shifted, t)) == pytest.approx(1 - q, rel=1e-9)


@settings(max_examples=50)
@given(ticks())
def test_vectorized_equals_one_by_one(
    case: tuple[svc.ServiceParams, np.ndarray, np.ndarray, np.ndarray, float],
) -> None:
    p, backlog, load, ready, dt = case
    _, together = svc.step(p, svc.ServiceState(backlog), load, ready, dt)
    for i in range(p.n):
        one = svc.ServiceParams(*(getattr(p, f.name)[i : i + 1] for f in fields(p)))
        _, alone = svc.step(
            one, svc.ServiceState(backlog[i : i + 1]), load[i : i + 1], ready[i : i + 1], dt
        )
        for name, value in vars(alone).items():
            if name != "latency":
                np.testing.assert_allclose(getattr(together, name)[i], value[0], rtol=1e-12)


# --- blocks of ticks -------------------------------------------------------------------------


@settings(max_examples=60)
@given(
    ticks=st.integers(1, 40),
    services=st.integers(1, 4),
    overload=st.floats(0.0, 3.0),
    seed=st.integers(0, 2**16),
)
def test_block_steps_equal_tick_by_tick_steps(
    ticks: int, services: int, overload: float, seed: int
) -> None:
    """Blocks (re-stepped from the true backlog wherever one builds) give the recurrence
    of single steps: same backlog, served, dropped, CPU and latency law per tick."""
    rng = np.random.default_rng(seed)
    p = params(
        cpu_ms_per_request=list(rng.uniform(10, 200, services)),
        concurrency=list(rng.integers(1, 6, services)),
        cpu_limit_cores=list(rng.uniform(0.25, 2, services)),
        timeout_s=list(rng.uniform(0.5, 5, services)),
    )
    ready = rng.integers(0, 4, services)
    capacity = ready * p.replica_capacity_per_s
    # Load around capacity × overload, so some runs build, drop and drain a backlog.
    rates = rng.uniform(0.2, 1.0, (ticks, services)) * np.maximum(capacity, 1.0) * overload
    state = svc.ServiceState.empty(services)
    expected = []
    for k in range(ticks):
        state, out = svc.step(p, state, rates[k], ready, 1.0, quantiles=False)
        expected.append(out)
    block_state, first = svc.ServiceState.empty(services), 0
    got: list[tuple[int, svc.TickOutput]] = []
    while first < ticks:
        block_state, out = svc.step_block(p, block_state, rates[first:], ready, 1.0)
        got.append((first, out))
        first += out.backlog.shape[0]
    assert first == ticks
    assert block_state.backlog == pytest.approx(state.backlog, rel=1e-12, abs=1e-12)
    for start, out in got:
        for row in range(out.backlog.shape[0]):
            want = expected[start + row]
            for name in ("backlog", "served_rate", "dropped_rate", "cpu_used_cores_per_replica"):
                value = np.broadcast_to(getattr(out, name), out.backlog.shape)[row]
                assert value == pytest.approx(getattr(want, name), rel=1e-12, abs=1e-12), name
            law = np.broadcast_to(out.latency.fixed_wait_s, out.backlog.shape)[row]
            np.testing.assert_allclose(law, want.latency.fixed_wait_s, rtol=1e-12, atol=1e-12)
