"""The general-case references (``reference.ciw_general``) agree with closed forms and
with each other, so that they can be trusted as references for M/G/c (cv > 1) and
bursty (H2 renewal) arrivals.

Closed forms written here: M/M/1 response ``Exp(μ − λ)``; Pollaczek–Khinchine mean;
Erlang C; GI/M/1 ``P(wait) = σ`` and response ``Exp(μ(1 − σ))``; the SCV of a thinned
and of an every-N-th renewal stream.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from reference import ciw_general as g
from reference import ciw_models as cm


def _erlang_c(c: int, a: float) -> float:
    """Erlang C from its textbook sum."""
    rho = a / c
    top = a**c / math.factorial(c) / (1 - rho)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def _ph_moment(ph: g.PhaseType, k: int) -> float:
    """``k! α (−T)^{−k} 1``."""
    inv = np.linalg.inv(-ph.t)
    return float(
        math.factorial(k) * ph.alpha @ np.linalg.matrix_power(inv, k) @ np.ones(len(ph.alpha))
    )


def test_h2_balanced_has_its_mean_scv_and_balanced_means() -> None:
    for scv in (1.0, 2.0, 4.0, 10.0):
        law = g.h2_balanced(0.25, scv)
        assert law.mean == pytest.approx(0.25, rel=1e-12)
        assert law.scv == pytest.approx(scv, rel=1e-12)
        assert law.p1 / law.rate1 == pytest.approx((1 - law.p1) / law.rate2, rel=1e-12)


@pytest.mark.parametrize("kind", ["lognormal", "gamma"])
def test_service_moments_and_quantiles_match_scipy(kind: str) -> None:
    service = cm.Service(kind, 0.2, 2.0)  # type: ignore[arg-type]
    rng = np.random.default_rng(3)
    draws = g.sample_service(service, rng, 2_000_000)
    assert draws.mean() == pytest.approx(0.2, rel=0.01)
    assert g.service_moment(service, 2) == pytest.approx(0.2**2 * 5, rel=1e-12)
    q = g.service_quantile(service, 0.95)
    assert g.service_tail(service, q) == pytest.approx(0.05, rel=1e-9)
    assert np.mean(draws > q) == pytest.approx(0.05, rel=0.02)


def test_mg1_grid_law_is_mm1_for_exponential_service() -> None:
    lam, mu = 0.8, 1.0
    law = g.mg1_response_law(lam, cm.Service("exponential", 1 / mu), points=1 << 19, h=1 / 200)
    assert law.response_mean == pytest.approx(1 / (mu - lam), rel=1e-6)
    for q in (0.5, 0.95, 0.99):
        exact = -math.log(1 - q) / (mu - lam)
        assert law.response.quantile(q) == pytest.approx(exact, abs=2 / 200)
    assert law.wait.cdf[0] == pytest.approx(1 - lam / mu, abs=2e-3)  # the atom at 0


@pytest.mark.parametrize(("kind", "cv", "rho"), [("lognormal", 2.0, 0.6), ("gamma", 1.5, 0.9)])
def test_mg1_grid_law_mean_is_pollaczek_khinchine(kind: str, cv: float, rho: float) -> None:
    service = cm.Service(kind, 1.0, cv)  # type: ignore[arg-type]
    law = g.mg1_response_law(rho, service, points=1 << 20)
    pk = rho * (1 + cv * cv) / (2 * (1 - rho))
    assert law.pk_wait_mean == pytest.approx(pk, rel=1e-12)
    assert law.wait.mean() == pytest.approx(pk, rel=2e-3)
    assert law.response.mean() == pytest.approx(pk + 1.0, rel=2e-3)


def test_ciw_and_fcfs_recursion_agree_with_exact_mg1_lognormal() -> None:
    service = cm.Service("lognormal", 1.0, 1.5)
    rho = 0.6
    law = g.mg1_response_law(rho, service, points=1 << 20)
    exact = (law.response_mean, law.response.quantile(0.95), law.response.quantile(0.99))
    sim = g.fcfs_response(
        "single", 1, rho, service, 1, replications=8, customers=400_000, warmup_customers=20_000
    )
    for est, value in zip((sim.mean, sim.p95, sim.p99), exact, strict=True):
        assert est.contains(value, widen=2.0), (est, value)
    assert sim.wait_probability.contains(rho, widen=2.0)
    ref = g.simulate(
        "single", 1, rho, service, 1, replications=6, customers=25_000, warmup_customers=2_000
    )
    for est, value in zip((ref.mean_response_s, ref.p95_response_s), exact[:2], strict=True):
        assert est.contains(value, widen=2.0), (est, value)


def test_fcfs_recursion_is_erlang_c_for_mm4() -> None:
    lam, c = 3.2, 4
    sim = g.fcfs_response(
        "single",
        1,
        lam,
        cm.Service("exponential", 1.0),
        c,
        replications=6,
        customers=300_000,
        warmup_customers=10_000,
    )
    pw = _erlang_c(c, lam)
    assert sim.wait_probability.contains(pw, widen=2.0)
    assert sim.mean.contains(1 + pw / (c - lam), widen=2.0)


@pytest.mark.parametrize(("n", "scv"), [(4, 4.0), (16, 10.0)])
def test_routed_streams_have_the_thinned_and_summed_scv(n: int, scv: float) -> None:
    lam = 8.0
    for routing, want_scv in (("random", 1 + (scv - 1) / n), ("round_robin", scv / n)):
        ph = g.routed_stream(routing, n, lam, scv)  # type: ignore[arg-type]
        m1 = _ph_moment(ph, 1)
        assert m1 == pytest.approx(n / lam, rel=1e-10)
        assert _ph_moment(ph, 2) / m1**2 - 1 == pytest.approx(want_scv, rel=1e-9)


def test_gim1_exact_wait_probability_is_sigma_and_poisson_is_erlang_c() -> None:
    ph = g.ph_of_h2(g.h2_balanced(1 / 0.8, 4.0))
    law = g.gim_c_exact(ph, 1.0, 1)
    assert law.wait_probability == pytest.approx(law.sigma, abs=1e-10)
    assert law.sigma == pytest.approx(ph.lst(1 - law.sigma), abs=1e-12)
    poisson = g.gim_c_exact(g.ph_of_h2(g.h2_balanced(1 / 3.2, 1.0)), 1.0, 4)
    assert poisson.sigma == pytest.approx(0.8, abs=1e-10)
    assert poisson.wait_probability == pytest.approx(_erlang_c(4, 3.2), abs=1e-10)


@pytest.mark.parametrize("routing", ["single", "random", "round_robin", "pooled"])
def test_gimc_ctmc_and_takacs_agree(routing: str) -> None:
    lam = 4 * 0.85 if routing == "single" else 4 * 4 * 0.85
    ph = g.routed_stream(routing, 4, lam, 10.0)  # type: ignore[arg-type]
    c = 16 if routing == "pooled" else 4
    exact = g.gim_c_exact(ph, 1.0, c)
    closed = g.gim_c_takacs(ph.lst, 1 / ph.mean, 1.0, c)
    assert closed.sigma == pytest.approx(exact.sigma, abs=1e-12)
    assert closed.wait_probability == pytest.approx(exact.wait_probability, abs=1e-9)
    assert exact.truncation_mass < 1e-12


def test_ciw_h2_arrivals_give_gim1_response() -> None:
    lam, mu, scv = 0.6, 1.0, 4.0
    law = g.gim_c_exact(g.ph_of_h2(g.h2_balanced(1 / lam, scv)), mu, 1)
    ref = g.simulate(
        "single",
        1,
        lam,
        cm.Service("exponential", 1 / mu),
        1,
        arrival_scv=scv,
        replications=6,
        customers=25_000,
    )
    assert ref.wait_probability is not None
    assert ref.wait_probability.contains(law.sigma, widen=2.0)
    assert ref.mean_response_s.contains(1 / (mu * (1 - law.sigma)), widen=2.0)
    assert ref.p95_response_s.contains(law.response_quantile(0.95), widen=2.0)


def test_ciw_random_routing_of_h2_stream_is_thinned_gimc() -> None:
    n, c, scv = 4, 2, 4.0
    lam_total = n * c * 0.7
    law = g.gim_c_exact(g.routed_stream("random", n, lam_total, scv), 1.0, c)
    ref = g.simulate(
        "random",
        n,
        lam_total,
        cm.Service("exponential", 1.0),
        c,
        arrival_scv=scv,
        replications=5,
        customers=25_000,
    )
    assert ref.wait_probability is not None
    assert ref.wait_probability.contains(law.wait_probability, widen=2.0)
    assert ref.mean_response_s.contains(law.response_mean(), widen=2.0)
