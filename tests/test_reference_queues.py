"""The independent references of ``tests/reference`` checked against each other, against
hand-written textbook formulas, and against ciw (issue 15, item 2).

Nothing here imports capsim. Two kinds of test:

* Closed forms against other closed forms, limits and hand computations (fast, tight
  tolerances: 1e-9 relative unless a numerical method sets a looser one).
* Closed forms against ciw (fixed seeds, independent replications, Student-t 95 %
  intervals): a mean agrees when it lies within 3 standard errors of the replication mean;
  a quantile when it lies within 3 % (the brief's tolerance for p99, about 3–6 standard
  errors at these sizes). Every ciw test also asserts its interval is narrow enough to
  have been able to fail. Customer counts keep the file near 60 s on an idle core.
"""

from __future__ import annotations

import math
from fractions import Fraction

import ciw
import numpy as np
import pytest
from reference import ciw_models as cm
from reference import queues as rq
from scipy import integrate, optimize, stats

MU = 10.0  # 100 ms mean service throughout, as in the design note's cases


def within_se(est: cm.Estimate, reference: float, k: float = 3.0, max_rel_se: float = 0.05) -> None:
    """``reference`` within ``k`` standard errors of the replication mean, and the standard
    error itself small enough (``max_rel_se`` of the reference) to make that a real test."""
    se = est.standard_error
    assert se <= max_rel_se * abs(reference), f"interval too wide to test: {est} vs {reference}"
    assert abs(est.mean - reference) <= k * se, f"{est} (se {se:.3g}) vs reference {reference}"


def within_rel(est: cm.Estimate, reference: float, rel: float) -> None:
    assert abs(est.mean - reference) <= rel * abs(reference), f"{est} vs reference {reference}"


# --- Erlang B/C and M/M/c: closed forms ---------------------------------------------------------


def erlang_c_factorials(c: int, a: Fraction) -> Fraction:
    """The textbook sum, exactly: ``(a^c/c! · c/(c−a)) / (Σ_{k<c} a^k/k! + a^c/c! · c/(c−a))``."""
    top = a**c / math.factorial(c) * Fraction(c) / (c - a)
    return top / (sum(a**k / Fraction(math.factorial(k)) for k in range(c)) + top)


@pytest.mark.parametrize(
    ("c", "a"), [(1, "1/2"), (2, "3/2"), (4, "18/5"), (7, "13/2"), (16, "72/5"), (30, "29")]
)
def test_erlang_c_recursion_is_the_factorial_formula(c: int, a: str) -> None:
    exact = erlang_c_factorials(c, Fraction(a))
    assert rq.erlang_c(c, Fraction(a)) == exact  # rational recursion: equal, not close
    assert rq.erlang_c(c, float(Fraction(a))) == pytest.approx(float(exact), rel=1e-13)


@pytest.mark.parametrize(("c", "a"), [(1, 0.3), (10, 7.5), (200, 180.0), (2000, 1950.0)])
def test_erlang_b_against_scipy_poisson(c: int, a: float) -> None:
    # B(c, a) = P(N = c | N ≤ c) for N ~ Poisson(a).
    expected = stats.poisson.pmf(c, a) / stats.poisson.cdf(c, a)
    assert rq.erlang_b(c, a) == pytest.approx(expected, rel=1e-10)


def test_mm1_response_is_exponential() -> None:
    lam = 8.0
    assert rq.mmc_response_mean(lam, MU, 1) == pytest.approx(1 / (MU - lam), rel=1e-14)
    for q in (0.5, 0.95, 0.99, 0.999):
        assert rq.mmc_response_quantile(lam, MU, 1, q) == pytest.approx(
            -math.log(1 - q) / (MU - lam), rel=1e-10
        )


@pytest.mark.parametrize(
    ("r1", "r2"), [(2.0, 10.0), (10.0, 2.0), (10.0, 10.0), (10.0, 10.0 + 1e-9)]
)
def test_exp_sum_tail_against_scipy(r1: float, r2: float) -> None:
    for t in (0.01, 0.3, 1.0, 5.0):
        if r1 == r2 or abs(r1 - r2) < 1e-6:
            expected = stats.gamma.sf(t, 2, scale=1 / r1)  # Erlang-2
        else:
            expected, _ = integrate.quad(lambda x, t=t: r1 * math.exp(-r1 * x - r2 * (t - x)), 0, t)
            expected += math.exp(-r1 * t)
        assert rq.exp_sum_tail(r1, r2, t) == pytest.approx(expected, rel=1e-8)


def test_note_table_mmc_values() -> None:
    # Design note §2, "independent reference" column (ms): mean / p95 / p99.
    for c, rho, want in [
        (1, 0.8, (500, 1498, 2303)),
        (4, 0.9, (297, 817, 1219)),
        (16, 0.9, (137, 362, 527)),
        (1, 0.95, (2000, 5992, 9210)),
    ]:
        v = rq.reference_values(f"mmc/c={c}/rho={rho}")
        got = (v["mean_response_s"], v["p95_response_s"], v["p99_response_s"])
        np.testing.assert_allclose(np.array(got) * 1000, want, atol=0.6)


# --- M/M/c+D: closed form, limits ---------------------------------------------------------------


@pytest.mark.parametrize(("lam", "c"), [(7.0, 1), (35.0, 4), (150.0, 16)])
def test_mmcd_long_patience_is_mmc(lam: float, c: int) -> None:
    law = rq.mmc_deterministic_patience(lam, MU, c, tau_s=200.0)
    assert law.abandon_probability < 1e-12
    assert law.served_response_mean() == pytest.approx(rq.mmc_response_mean(lam, MU, c), rel=1e-9)
    for q in (0.5, 0.99):
        assert law.served_response_quantile(q) == pytest.approx(
            rq.mmc_response_quantile(lam, MU, c, q), rel=1e-9
        )


@pytest.mark.parametrize(("lam", "c"), [(3.0, 1), (30.0, 4), (80.0, 4), (200.0, 16)])
def test_mmcd_zero_patience_is_erlang_loss(lam: float, c: int) -> None:
    # τ → 0: a request that cannot start at once leaves: M/M/c/c, blocked share Erlang B.
    law = rq.mmc_deterministic_patience(lam, MU, c, tau_s=1e-10)
    assert law.abandon_probability == pytest.approx(rq.erlang_b(c, lam / MU), rel=1e-8)
    assert law.served_wait_atom == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize(("lam", "c", "tau"), [(9.5, 1, 1.0), (38.0, 4, 0.5), (60.0, 4, 0.5)])
def test_mmcd_law_is_a_distribution_and_continuous_at_g_zero(
    lam: float, c: int, tau: float
) -> None:
    law = rq.mmc_deterministic_patience(lam, MU, c, tau)
    mass, _ = integrate.quad(
        lambda x: law.served_wait_density_coefficient * math.exp(-law.g * x), 0, tau
    )
    assert law.served_wait_atom + mass == pytest.approx(1.0, rel=1e-10)
    ts = np.linspace(0.0, tau + 3.0, 200)
    tails = np.array([law.served_response_tail(float(t)) for t in ts])
    assert tails[0] == 1.0
    assert np.all(np.diff(tails) <= 1e-15)
    # The served response has mean ∫ P(R > t) dt.
    integral, _ = integrate.quad(law.served_response_tail, 0, 50 * (tau + 1 / MU), limit=200)
    assert integral == pytest.approx(law.served_response_mean(), rel=1e-7)
    # λ = cμ (g = 0) is the limit of its neighbours.
    at = rq.mmc_deterministic_patience(c * MU, MU, c, tau)
    for eps in (1e-7, -1e-7):
        near = rq.mmc_deterministic_patience(c * MU * (1 + eps), MU, c, tau)
        assert near.abandon_probability == pytest.approx(at.abandon_probability, rel=1e-5)
        assert near.served_response_quantile(0.99) == pytest.approx(
            at.served_response_quantile(0.99), rel=1e-5
        )


def test_mmcd_note_values() -> None:
    # Design note §2: 6.37 % abandoned, p99 1197 ms; 2.38 %, 749 ms; 148 waiting at λ 15, τ 10.
    a = rq.mmc_deterministic_patience(9.5, MU, 1, 1.0)
    assert a.abandon_probability == pytest.approx(0.0637, abs=5e-5)
    assert a.served_response_quantile(0.99) == pytest.approx(1.197, abs=5e-4)
    b = rq.mmc_deterministic_patience(38.0, MU, 4, 0.5)
    assert b.abandon_probability == pytest.approx(0.0238, abs=5e-5)
    assert b.served_response_quantile(0.99) == pytest.approx(0.749, abs=5e-4)
    # Overloaded M/M/1 with τ: served throughput is μ, so P_ab = 1 − μ/λ exactly, and the
    # queue holds λ·τ·P(wait > τ)... = 148 here (λ 15, τ 10).
    c = rq.mmc_deterministic_patience(15.0, MU, 1, 10.0)
    assert c.abandon_probability == pytest.approx(1 - MU / 15.0, rel=1e-9)
    assert c.mean_queue_length() == pytest.approx(148.0, rel=1e-6)


# --- M/G/1, M/D/1 -------------------------------------------------------------------------------


def test_pk_reduces_to_mm1() -> None:
    lam = 7.0
    assert rq.pk_mean_wait(lam, 1 / MU, 2 / MU**2) == pytest.approx(
        (lam / MU) / (MU - lam), rel=1e-14
    )


def md1_tail_decay(lam: float, d: float) -> float:
    """The M/D/1 wait's exponential decay rate ``β > 0``: the root of ``λ(e^{βD} − 1) = β``
    (M/G/1: ``λ(B*(−β) − 1) = β`` with ``B*(−β) = e^{βD}``)."""
    return float(optimize.brentq(lambda b: lam * math.expm1(b * d) - b, 1e-9, 50 / d))


@pytest.mark.parametrize("rho", [0.3, 0.8])
def test_md1_cdf_by_hand_and_its_mean_is_pk(rho: float) -> None:
    d = 1 / MU
    lam = rho / d
    # On [0, D) only the k = 0 term: (1 − ρ) e^{λt}.
    for t in (0.0, 0.03, 0.099):
        assert rq.md1_wait_cdf(lam, d, t) == pytest.approx((1 - rho) * math.exp(lam * t), rel=1e-14)
    # Continuous at every multiple of D (the new term is 0 there).
    for k in (1, 2, 5):
        assert rq.md1_wait_cdf(lam, d, k * d - 1e-12) == pytest.approx(
            rq.md1_wait_cdf(lam, d, k * d), abs=1e-9
        )
    # ∫ P(W > t) dt = E[W] from P-K. The CDF is analytic between multiples of D: 10-point
    # Gauss–Legendre on each [kD, (k+1)D] up to a tail below 1e-12.
    nodes, weights = np.polynomial.legendre.leggauss(10)
    horizon = math.ceil(math.log(1e12) / md1_tail_decay(lam, d) / d) + 1
    total = 0.0
    for k in range(horizon):
        ts = (k + (nodes + 1) / 2) * d
        total += (
            d
            / 2
            * sum(
                w * (1 - rq.md1_wait_cdf(lam, d, float(t)))
                for w, t in zip(weights, ts, strict=True)
            )
        )
    assert total == pytest.approx(rq.pk_mean_wait(lam, d, d * d), rel=1e-9)


def test_md1_cdf_deep_tail_survives_cancellation() -> None:
    # At λt ≈ 300 the alternating sum's terms reach e^{600}; the tail ratio over one D must
    # still be the asymptotic e^{−βD}.
    lam, d = 9.5, 0.1
    beta = md1_tail_decay(lam, d)
    tail = [1 - rq.md1_wait_cdf(lam, d, t) for t in (20.0, 20.0 + d)]
    naive_terms = [
        (lam * (k * d - 20.0)) ** k * math.exp(-lam * (k * d - 20.0)) / math.factorial(k)
        for k in range(150)
    ]
    assert max(abs(x) for x in naive_terms) > 1e40  # a float sum would be noise here
    assert tail[1] / tail[0] == pytest.approx(math.exp(-beta * d), rel=1e-6)


def test_md1_quantile_inverts_cdf() -> None:
    lam, d = 9.0, 0.1
    assert rq.md1_wait_quantile(lam, d, 0.05) == 0.0  # inside the atom 1 − ρ = 0.1
    for q in (0.5, 0.95, 0.99):
        t = rq.md1_wait_quantile(lam, d, q)
        assert rq.md1_wait_cdf(lam, d, t) == pytest.approx(q, abs=1e-10)


# --- processor sharing, round robin, pooled ---------------------------------------------------


def test_processor_sharing_closed_forms() -> None:
    # c = 4 slots on 1 core, λ 3/s, 100 ms: M/M/1 by Little, 1/(μ − λ) = 142.857 ms.
    assert rq.limited_ps_mm_mean_response(3.0, MU, 4, 1) == pytest.approx(1 / 7, rel=1e-14)
    assert rq.mg1_ps_mean_response(3.0, 0.1) == pytest.approx(1 / 7, rel=1e-14)
    # More cores than slots: M/M/slots.
    assert rq.limited_ps_mm_mean_response(15.0, MU, 2, 8) == pytest.approx(
        rq.mmc_response_mean(15.0, MU, 2), rel=1e-14
    )


def test_erlang_arrivals_limits_and_methods_agree() -> None:
    # N = 1 is M/M/1 (σ = ρ) and M/M/c (P_wait = Erlang C).
    assert rq.erlang_arrivals_sigma(1, 8.0, MU) == pytest.approx(0.8, rel=1e-12)
    law = rq.erlang_arrivals_mmc(1, 36.0, MU, 4)
    assert law.wait_probability == pytest.approx(rq.erlang_c(4, 3.6), rel=1e-9)
    assert law.response_mean() == pytest.approx(rq.mmc_response_mean(36.0, MU, 4), rel=1e-9)
    # The CTMC over (customers, phase) against the GI/M/1 root: P_wait = σ, E[W] = σ/(μ(1−σ)).
    for n, lam in ((16, 9.0), (4, 6.0), (2, 9.5)):
        chain = rq.erlang_arrivals_mmc(n, lam, MU, 1)
        sigma = rq.erlang_arrivals_sigma(n, lam, MU)
        assert chain.wait_probability == pytest.approx(sigma, rel=1e-9)
        assert chain.response_mean() == pytest.approx(
            rq.erlang_n_m_1_response_mean(n, lam, MU), rel=1e-9
        )
        assert abs(chain.truncation_mass) < 1e-12
    # GI/M/c: the chain's E[W] against P_wait/(cμ(1−σ)) (W | W > 0 is Exp(cμ(1−σ))).
    chain = rq.erlang_arrivals_mmc(4, 36.0, MU, 4)
    assert chain.wait_mean_s == pytest.approx(
        chain.wait_probability / (4 * MU * (1 - chain.sigma)), rel=1e-9
    )
    # N → ∞ is D/M/1, σ = exp(−μ(1−σ)/λ), approached at rate 1/N.
    sigma_d = optimize.brentq(lambda x: math.exp(-MU * (1 - x) / 9.0) - x, 0.0, 0.99, xtol=1e-15)
    err = [rq.erlang_arrivals_sigma(n, 9.0, MU) - sigma_d for n in (2_000, 20_000)]
    assert abs(err[1]) < 1e-5
    assert err[0] / err[1] == pytest.approx(10.0, rel=0.01)
    # Design note §2: round robin over 16 replicas, ρ 0.9, 100 ms: 548 ms; pooled 137 ms.
    assert rq.round_robin_response_mean(16, 144.0, MU) == pytest.approx(0.548, abs=5e-4)
    assert rq.pooled_response_mean(16, 144.0, MU, 1) == pytest.approx(0.137, abs=5e-4)


# --- transient CTMC ------------------------------------------------------------------------------


def test_transient_mm1_taylor_expansion() -> None:
    # E[N(t)] from empty = λt − λμt²/2 + λμ(λ+μ)t³/6 − λμ(λ²+3λμ+μ²)t⁴/24 + O(t⁵) (by hand
    # from the forward equations at t = 0).
    lam, mu = 2.0, 3.0
    c4 = -lam * mu * (lam**2 + 3 * lam * mu + mu**2) / 24
    times = [0.002, 0.005, 0.01]
    law = rq.mmc_transient(lam, mu, 1, times, k_max=60)
    for t, got in zip(times, law.mean_in_system, strict=True):
        cubic = lam * t - lam * mu * t**2 / 2 + lam * mu * (lam + mu) * t**3 / 6
        assert (got - cubic) / t**4 == pytest.approx(c4, rel=0.15)
    # The time average over [0, t] is ∫ of the same series / t.
    t = 0.002
    avg = lam * t / 2 - lam * mu * t**2 / 6 + lam * mu * (lam + mu) * t**3 / 24
    assert law.mean_in_system_average[0] == pytest.approx(avg, rel=1e-6)


def test_transient_reaches_the_stationary_law_and_averages_integrate() -> None:
    lam, c = 10.0, 2
    times = np.linspace(0.5, 60.0, 120)
    law = rq.mmc_transient(lam, MU, c, times, k_max=200)
    assert law.mean_in_system[-1] == pytest.approx(
        rq.mmc_mean_number_in_system(lam, MU, c), rel=1e-9
    )
    assert law.wait_of_arrival_s[-1] == pytest.approx(rq.mmc_wait_mean(lam, MU, c), rel=1e-9)
    # The exact running average against a quadrature of the pointwise curve.
    dense = rq.mmc_transient(lam, MU, c, np.linspace(0.01, 10.0, 1000), k_max=200)
    trap = integrate.trapezoid(
        np.concatenate([[0.0], dense.mean_in_system]), np.concatenate([[0.0], dense.times_s])
    )
    assert dense.mean_in_system_average[-1] * 10.0 == pytest.approx(trap, rel=1e-4)


def test_transient_truncation_is_checked() -> None:
    with pytest.raises(ValueError, match="raise it"):
        rq.mmc_transient(10.0, MU, 1, [100.0], k_max=30)


def test_reference_values_registry() -> None:
    names = sorted(rq.REFERENCE_CASES)
    assert "timeout/lam=9.5/mu=10.0/c=1/tau=1.0" in names
    v = rq.reference_values("routing/round_robin/n=16/c=1/rho=0.9")
    assert v["mean_response_s"] == pytest.approx(0.548, abs=5e-4)
    v["mean_response_s"] = 0.0  # a copy: the cache is not changed
    assert rq.reference_values("routing/round_robin/n=16/c=1/rho=0.9")["mean_response_s"] > 0.5
    with pytest.raises(KeyError):
        rq.reference_values("no/such/case")
    cheap = [n for n in names if not n.startswith("transient/")]
    for name in cheap:
        values = rq.reference_values(name)
        assert values, name
        assert all(math.isfinite(x) and x >= 0 for x in values.values()), name


# --- ciw service laws (no simulation: sampling the distributions) --------------------------------


def test_ciw_service_parameterisation() -> None:
    ciw.seed(7)
    n = 200_000
    logn = cm.Service("lognormal", 0.1, cv=2.0).distribution()
    logs = np.log([logn.sample() for _ in range(n)])
    sigma2 = math.log(1 + 4.0)
    assert logs.mean() == pytest.approx(math.log(0.1) - sigma2 / 2, abs=4 * math.sqrt(sigma2 / n))
    assert logs.std() == pytest.approx(math.sqrt(sigma2), rel=0.01)
    gam = cm.Service("gamma", 0.1, cv=0.5).distribution()
    g = np.array([gam.sample() for _ in range(n)])
    assert g.mean() == pytest.approx(0.1, rel=0.005)
    assert g.std() / g.mean() == pytest.approx(0.5, rel=0.01)
    emp = cm.Service("empirical", 0.0, observations=(0.05, 0.1, 0.3))
    assert emp.mean == pytest.approx(0.15)
    assert emp.second_moment == pytest.approx((0.05**2 + 0.1**2 + 0.3**2) / 3)


# --- against ciw ---------------------------------------------------------------------------------
# Ten replications each: with fewer, the replication standard error is itself too noisy for
# a 3-SE test (three replications of a round-robin run gave an SE five times too small).


def test_erlang_c_against_ciw_mmc() -> None:
    lam, c = 28.0, 4  # ρ 0.7
    sim = cm.simulate_single_node(
        lam, cm.Service("exponential", 1 / MU), c, replications=10, customers=5_000, seed=11
    )
    within_se(sim.mean_wait_s, rq.mmc_wait_mean(lam, MU, c), max_rel_se=0.06)
    within_se(sim.mean_response_s, rq.mmc_response_mean(lam, MU, c))
    within_se(sim.p95_response_s, rq.mmc_response_quantile(lam, MU, c, 0.95))
    within_se(sim.p99_response_s, rq.mmc_response_quantile(lam, MU, c, 0.99))


@pytest.mark.parametrize(
    ("lam", "c", "tau", "customers"),
    [(9.5, 1, 1.0, 6_000), (38.0, 4, 0.5, 20_000), (15.0, 1, 1.0, 6_000), (60.0, 4, 0.5, 6_000)],
)
def test_mmcd_against_ciw_reneging(lam: float, c: int, tau: float, customers: int) -> None:
    # ρ 0.95 on 4 servers abandons in rare bursts: 2.4 % needs more customers for a 10 % SE.
    law = rq.mmc_deterministic_patience(lam, MU, c, tau)
    sim = cm.simulate_single_node(
        lam,
        cm.Service("exponential", 1 / MU),
        c,
        tau_s=tau,
        replications=10,
        customers=customers,
        seed=int(lam * 100) + c,
    )
    within_se(sim.abandoned_share, law.abandon_probability, max_rel_se=0.1)
    within_rel(sim.p99_response_s, law.served_response_quantile(0.99), 0.03)
    within_rel(sim.p95_response_s, law.served_response_quantile(0.95), 0.03)
    within_se(sim.mean_response_s, law.served_response_mean())
    assert sim.rejected_share.mean == 0.0
    assert sim.max_response_s > tau  # served after a wait near τ, then its own service


def test_pk_and_md1_against_ciw_deterministic() -> None:
    d, lam = 0.1, 7.0  # ρ 0.7
    sim = cm.simulate_single_node(
        lam, cm.Service("deterministic", d), 1, replications=10, customers=10_000, seed=21
    )
    within_se(sim.mean_wait_s, rq.pk_mean_wait(lam, d, d * d))
    within_se(sim.p95_response_s, rq.md1_response_quantile(lam, d, 0.95), max_rel_se=0.03)
    within_se(sim.p99_response_s, rq.md1_response_quantile(lam, d, 0.99), max_rel_se=0.03)


def test_pk_against_ciw_gamma() -> None:
    service = cm.Service("gamma", 0.1, cv=2.0)
    lam = 5.0  # ρ 0.5, E[S²] = 5 E[S]²
    sim = cm.simulate_single_node(lam, service, 1, replications=10, customers=5_000, seed=31)
    within_se(
        sim.mean_wait_s, rq.pk_mean_wait(lam, service.mean, service.second_moment), max_rel_se=0.08
    )


def test_queue_capacity_rejections_against_mm1k_and_erlang_b() -> None:
    lam, q = 9.0, 5  # M/M/1 with 5 waiting places: K = 6 in system
    rho, k = lam / MU, q + 1
    blocked = (1 - rho) * rho**k / (1 - rho ** (k + 1))
    exp_service = cm.Service("exponential", 1 / MU)
    sim = cm.simulate_single_node(
        lam, exp_service, 1, queue_capacity=q, replications=10, customers=3_000, seed=41
    )
    within_se(sim.rejected_share, blocked)
    loss = cm.simulate_single_node(
        30.0, exp_service, 4, queue_capacity=0, replications=10, customers=3_000, seed=42
    )
    within_se(loss.rejected_share, rq.erlang_b(4, 3.0))
    assert loss.mean_wait_s.mean == 0.0


def test_round_robin_against_ciw_cycle() -> None:
    n, lam_total = 16, 144.0  # ρ 0.9 per replica: E_16/M/1, 548 ms
    sim = cm.simulate_routed(
        "round_robin",
        n,
        lam_total,
        cm.Service("exponential", 1 / MU),
        1,
        replications=10,
        customers=6_000,
        warmup_customers=1_500,
        seed=51,
    )
    within_se(sim.mean_response_s, rq.round_robin_response_mean(n, lam_total, MU))
    law = rq.erlang_arrivals_mmc(n, lam_total / n, MU, 1)
    within_se(sim.p95_response_s, law.response_quantile(0.95))


def test_routing_policies_on_four_replicas() -> None:
    n, lam_total = 4, 28.0  # ρ 0.7 per replica
    service = cm.Service("exponential", 1 / MU)
    runs = {
        policy: cm.simulate_routed(
            policy, n, lam_total, service, 1, replications=8, customers=4_000, seed=61
        )
        for policy in ("random", "round_robin", "jsq", "p2c", "pooled")
    }
    within_se(runs["random"].mean_response_s, rq.mmc_response_mean(lam_total / n, MU, 1))
    within_se(runs["round_robin"].mean_response_s, rq.round_robin_response_mean(n, lam_total, MU))
    within_se(runs["pooled"].mean_response_s, rq.pooled_response_mean(n, lam_total, MU, 1))
    # No closed form for JSQ and power of two: between pooled and round robin, JSQ first.
    means = {p: r.mean_response_s.mean for p, r in runs.items()}
    order = ["pooled", "jsq", "p2c", "round_robin", "random"]
    assert [means[p] for p in order] == sorted(means.values()), means


def test_random_routing_is_independent_replicas() -> None:
    # A random split of Poisson is N independent Poisson streams: each replica is M/M/1/K
    # with a queue limit (built as split streams, see ciw_models) and M/M/1+D with a timeout
    # (built behind the dispatcher).
    n, lam, q = 4, 9.0, 5
    exp_service = cm.Service("exponential", 1 / MU)
    rho, k = lam / MU, q + 1
    limited = cm.simulate_routed(
        "random",
        n,
        n * lam,
        exp_service,
        1,
        queue_capacity=q,
        replications=10,
        customers=4_000,
        seed=65,
    )
    within_se(limited.rejected_share, (1 - rho) * rho**k / (1 - rho ** (k + 1)))
    law = rq.mmc_deterministic_patience(lam, MU, 1, 0.5)
    timed = cm.simulate_routed(
        "random", n, n * lam, exp_service, 1, tau_s=0.5, replications=10, customers=6_000, seed=66
    )
    within_se(timed.abandoned_share, law.abandon_probability, max_rel_se=0.1)
    within_rel(timed.p99_response_s, law.served_response_quantile(0.99), 0.03)


def test_processor_sharing_against_ciw_psnode() -> None:
    sim = cm.simulate_processor_sharing(
        3.0, cm.Service("exponential", 1 / MU), 4, 1, replications=10, customers=4_000, seed=71
    )
    within_se(sim.mean_response_s, rq.limited_ps_mm_mean_response(3.0, MU, 4, 1))
    # Insensitivity: with 64 slots it is M/G/1-PS, E[S]/(1 − ρ), here with lognormal work.
    service = cm.Service("lognormal", 0.1, cv=2.0)
    ps = cm.simulate_processor_sharing(
        5.0, service, 64, 1, replications=10, customers=4_000, seed=72
    )
    within_se(ps.mean_response_s, rq.mg1_ps_mean_response(5.0, service.mean), max_rel_se=0.06)


def test_transient_ctmc_against_ciw_replications() -> None:
    times = [1.0, 3.0, 10.0]
    law = rq.mmc_transient(10.0, MU, 1, times, k_max=400)  # ρ 1 from empty
    sim = cm.simulate_number_in_system(10.0, MU, 1, times, replications=300, seed=81)
    for est, exact in zip(sim, law.mean_in_system, strict=True):
        within_se(est, float(exact), max_rel_se=0.06)


def test_overload_then_recovery_against_mmcd() -> None:
    # Design note §2: M/M/1, μ 10, λ 15 → 5 at 300 s, τ 10 s. At 300 s the queue is in the
    # stationary M/M/1+D regime (V reaches τ within ~20 s): λ E[min(V, τ)] = 148 waiting.
    tau = 10.0
    law = rq.mmc_deterministic_patience(15.0, MU, 1, tau)
    sim = cm.simulate_overload_recovery(
        [15.0, 5.0],
        [300.0, 600.0],
        cm.Service("exponential", 1 / MU),
        1,
        tau_s=tau,
        probe_s=300.0,
        switch_s=300.0,
        replications=10,
        seed=91,
        drain_s=30.0,
    )
    within_se(sim.waiting_at_probe, law.mean_queue_length())
    # Served throughput is μ during overload, so about (λ − μ)·300 s abandon, less the fill.
    assert 0.8 * 5.0 * 300 < sim.abandoned.mean < 5.0 * 300
    assert 0 < sim.drain_s.mean < 2 * tau + 10
    assert sim.max_response_s <= tau + sim.max_service_s
