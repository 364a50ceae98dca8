"""References for general service times (M/G/c, cv > 1) and bursty renewal arrivals
(GI/M/c with two-phase hyperexponential interarrival times).

Four independent kinds of reference, each checked against the others or against a
textbook closed form in ``tests/test_reference_general.py``:

* **ciw** (:func:`simulate`): the builders of :mod:`reference.ciw_models` with a renewal
  arrival stream from :class:`H2Interarrivals` (balanced means) instead of Poisson.
* **FCFS recursion** (:func:`fcfs_response`): the same FCFS multi-server queue by the
  Kiefer–Wolfowitz recursion (each request, in arrival order, starts at the later of its
  arrival and the earliest time a server frees), compiled with Numba so that tens of
  millions of requests per case are cheap. Used where heavy tails (lognormal, CV 2,
  ρ = 0.9) need far more requests than ciw can simulate in minutes. Exact in law for
  random routing (each replica a single queue fed a thinned stream), round robin (each
  replica fed every N-th arrival: one replica's stream is the N-fold sum of the
  interarrival times) and pooled routing; not for state-dependent routing (P2C: ciw only).
* **M/G/1 numerically exact** (:func:`mg1_response_law`): the Pollaczek–Khinchine /
  Beneš compound-geometric law ``P(W ≤ x) = (1 − ρ) Σ ρⁿ F_eⁿ*(x)`` (``F_e`` the
  equilibrium residual of the service law), discretised on a grid of ``h`` and summed with
  a tilted FFT (aliasing below ``e^-30``), then convolved with the service law.
* **GI/M/c exactly** (:func:`gim_c_exact`): the CTMC over (requests in system, arrival
  phase) of a phase-type renewal stream into ``c`` exponential servers, truncated where
  the geometric arrival-epoch tail is below 1e-14; and the same law in closed form
  (:func:`gim_c_takacs`, Takács 1962): ``σ`` the root in (0, 1) of ``σ = A*(cμ(1 − σ))``,
  arrival-epoch probabilities ``q_n = C σ^{n−c}`` for ``n ≥ c − 1``, so
  ``P(wait) = C/(1 − σ)`` and ``W | W > 0 ~ Exp(cμ(1 − σ))``.

Units: seconds and requests/s throughout.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import ciw
import numba
import numpy as np
import numpy.typing as npt
from scipy import optimize, sparse, special, stats
from scipy.sparse import linalg as sparse_linalg

from reference import ciw_models as cm

FloatArray = npt.NDArray[np.float64]
Routing = Literal["single", "random", "round_robin", "pooled", "p2c"]

# --- renewal arrivals: balanced-means H2 -----------------------------------------------------


@dataclass(frozen=True)
class H2:
    """A two-phase hyperexponential law: ``Exp(rate1)`` with probability ``p1``, else
    ``Exp(rate2)``."""

    p1: float
    rate1: float
    rate2: float

    @property
    def mean(self) -> float:
        """``E[X]``."""
        return self.p1 / self.rate1 + (1 - self.p1) / self.rate2

    def moment(self, k: int) -> float:
        """``E[X^k]``."""
        return math.factorial(k) * (self.p1 / self.rate1**k + (1 - self.p1) / self.rate2**k)

    @property
    def scv(self) -> float:
        """Squared coefficient of variation."""
        return self.moment(2) / self.mean**2 - 1

    def lst(self, s: float) -> float:
        """Laplace–Stieltjes transform ``E[e^{−sX}]``."""
        return self.p1 * self.rate1 / (self.rate1 + s) + (1 - self.p1) * self.rate2 / (
            self.rate2 + s
        )

    def tail(self, t: float) -> float:
        """``P(X > t)``."""
        if t <= 0:
            return 1.0
        return self.p1 * math.exp(-self.rate1 * t) + (1 - self.p1) * math.exp(-self.rate2 * t)

    def sample(self, rng: np.random.Generator, size: int) -> FloatArray:
        """``size`` independent draws."""
        first = rng.random(size) < self.p1
        rate = np.where(first, self.rate1, self.rate2)
        return np.asarray(rng.exponential(1.0, size) / rate, dtype=np.float64)


def h2_balanced(mean: float, scv: float) -> H2:
    """The H2 of mean ``mean`` and squared coefficient of variation ``scv ≥ 1`` with
    balanced means (``p1/rate1 = p2/rate2``): ``p1 = (1 + √((scv−1)/(scv+1)))/2``,
    ``rate_i = 2 p_i / mean``."""
    if scv < 1.0:
        raise ValueError("an H2 has scv >= 1")
    p1 = 0.5 * (1.0 + math.sqrt((scv - 1.0) / (scv + 1.0)))
    if p1 >= 1.0:
        return H2(1.0, 1.0 / mean, 1.0 / mean)
    return H2(p1, 2.0 * p1 / mean, 2.0 * (1.0 - p1) / mean)


class H2Interarrivals(ciw.dists.Distribution):  # type: ignore[misc]
    """ciw interarrival law: :class:`H2` drawn from Python's ``random`` (seeded by
    ``ciw.seed``)."""

    def __init__(self, law: H2) -> None:
        self.law = law

    def __repr__(self) -> str:
        return f"H2Interarrivals({self.law})"

    def sample(self, t: float | None = None, ind: Any = None) -> float:
        rate = self.law.rate1 if random.random() < self.law.p1 else self.law.rate2
        return random.expovariate(rate)

    @property
    def mean(self) -> float:
        return self.law.mean


def h2_arrivals(scv: float) -> cm.ArrivalFactory:
    """A ciw arrival factory: balanced-means H2 interarrivals of the given rate and SCV
    (``scv = 1`` gives Poisson)."""

    def make(rate: float) -> Any:
        if scv == 1.0:
            return ciw.dists.Exponential(rate)
        return H2Interarrivals(h2_balanced(1.0 / rate, scv))

    return make


def simulate(
    routing: Routing,
    n_replicas: int,
    lam_total: float,
    service: cm.Service,
    servers: int,
    *,
    arrival_scv: float = 1.0,
    replications: int = 4,
    customers: int = 20_000,
    warmup_customers: int = 2_000,
    seed: int = 1,
    drain_s: float | None = None,
) -> cm.CiwSummary:
    """ciw reference: ``n_replicas`` replicas of ``servers`` FCFS servers under
    ``routing`` (``single``: one node, ``n_replicas`` ignored), fed a renewal stream of
    total rate ``lam_total`` with balanced-H2 interarrivals of SCV ``arrival_scv``."""
    arrivals = h2_arrivals(arrival_scv)
    if routing == "single":
        return cm.simulate_single_node(
            lam_total,
            service,
            servers,
            replications=replications,
            customers=customers,
            warmup_customers=warmup_customers,
            seed=seed,
            drain_s=drain_s,
            arrivals=arrivals,
            arrival_scv=arrival_scv,
        )
    return cm.simulate_routed(
        routing,
        n_replicas,
        lam_total,
        service,
        servers,
        replications=replications,
        customers=customers,
        warmup_customers=warmup_customers,
        seed=seed,
        drain_s=drain_s,
        arrivals=arrivals,
        arrival_scv=arrival_scv,
    )


# --- service laws: sampling, tails, moments ---------------------------------------------------


def lognormal_params(mean: float, cv: float) -> tuple[float, float]:
    """``(μ, σ)`` of the underlying normal: ``σ² = ln(1 + cv²)``, ``μ = ln mean − σ²/2``."""
    sigma2 = math.log1p(cv * cv)
    return math.log(mean) - 0.5 * sigma2, math.sqrt(sigma2)


def service_moment(service: cm.Service, k: int) -> float:
    """``E[S^k]``: lognormal ``m^k (1 + cv²)^{k(k−1)/2}``; gamma ``m^k Π_{j<k}(1 + j cv²)``;
    exponential ``k! m^k``; deterministic ``m^k``."""
    m, cv = service.mean_s, service.cv
    if service.kind == "lognormal":
        return float(m**k * (1 + cv * cv) ** (k * (k - 1) / 2))
    if service.kind == "gamma":
        return m**k * math.prod(1 + j * cv * cv for j in range(k))
    if service.kind == "exponential":
        return math.factorial(k) * m**k
    if service.kind == "deterministic":
        return m**k
    raise ValueError(f"no moments for {service.kind!r}")


def service_tail(service: cm.Service, t: float) -> float:
    """``P(S > t)``."""
    if t <= 0:
        return 1.0
    m, cv = service.mean_s, service.cv
    if service.kind == "lognormal":
        mu, sigma = lognormal_params(m, cv)
        return float(0.5 * special.erfc((math.log(t) - mu) / (sigma * math.sqrt(2))))
    if service.kind == "gamma":
        return float(special.gammaincc(1 / cv**2, t / (m * cv**2)))
    if service.kind == "exponential":
        return math.exp(-t / m)
    if service.kind == "deterministic":
        return 1.0 if t < m else 0.0
    raise ValueError(f"no tail for {service.kind!r}")


def service_quantile(service: cm.Service, q: float) -> float:
    """The ``q``-quantile of ``S``."""
    m, cv = service.mean_s, service.cv
    if service.kind == "lognormal":
        mu, sigma = lognormal_params(m, cv)
        return math.exp(mu + sigma * float(stats.norm.ppf(q)))
    if service.kind == "gamma":
        return float(stats.gamma.ppf(q, 1 / cv**2, scale=m * cv**2))
    if service.kind == "exponential":
        return -m * math.log1p(-q)
    if service.kind == "deterministic":
        return m
    raise ValueError(f"no quantile for {service.kind!r}")


def _integrated_tail(service: cm.Service, x: FloatArray) -> FloatArray:
    """``∫₀ˣ P(S > u) du = x P(S > x) + E[S; S ≤ x]`` in closed form."""
    m, cv = service.mean_s, service.cv
    x = np.maximum(x, 0.0)
    with np.errstate(divide="ignore"):
        if service.kind == "lognormal":
            mu, sigma = lognormal_params(m, cv)
            z = (np.log(x) - mu) / sigma
            tail = 0.5 * special.erfc(z / math.sqrt(2))
            partial = m * 0.5 * special.erfc(-(z - sigma) / math.sqrt(2))
        elif service.kind == "gamma":
            k, scale = 1 / cv**2, m * cv**2
            tail = special.gammaincc(k, x / scale)
            partial = m * special.gammainc(k + 1, x / scale)
        elif service.kind == "exponential":
            tail = np.exp(-x / m)
            partial = m * (1 - tail) - x * tail
        else:
            raise ValueError(f"no integrated tail for {service.kind!r}")
    return np.asarray(x * tail + partial, dtype=np.float64)


def sample_service(service: cm.Service, rng: np.random.Generator, size: int) -> FloatArray:
    """``size`` independent service times."""
    m, cv = service.mean_s, service.cv
    if service.kind == "lognormal":
        mu, sigma = lognormal_params(m, cv)
        return rng.lognormal(mu, sigma, size)
    if service.kind == "gamma":
        return rng.gamma(1 / cv**2, m * cv**2, size)
    if service.kind == "exponential":
        return rng.exponential(m, size)
    if service.kind == "deterministic":
        return np.full(size, m)
    raise ValueError(f"cannot sample {service.kind!r}")


# --- FCFS multi-server recursion --------------------------------------------------------------


@numba.njit(cache=True)
def _fcfs_waits(arrival: FloatArray, work: FloatArray, servers: int) -> FloatArray:
    free = np.zeros(servers)
    waits = np.empty(arrival.shape[0])
    for i in range(arrival.shape[0]):
        k = 0
        for j in range(1, servers):
            if free[j] < free[k]:
                k = j
        start = max(arrival[i], free[k])
        waits[i] = start - arrival[i]
        free[k] = start + work[i]
    return waits


@dataclass(frozen=True)
class SimEstimate:
    """Replication estimates of the FCFS recursion."""

    mean: cm.Estimate
    p95: cm.Estimate
    p99: cm.Estimate
    wait_mean: cm.Estimate
    wait_probability: cm.Estimate
    customers: int


def fcfs_response(
    routing: Routing,
    n_replicas: int,
    lam_total: float,
    service: cm.Service,
    servers: int,
    *,
    arrival_scv: float = 1.0,
    replications: int = 10,
    customers: int = 1_000_000,
    warmup_customers: int = 100_000,
    seed: int = 1,
) -> SimEstimate:
    """The response time of one replica's requests (``single``: one node of ``servers``;
    ``pooled``: one node of ``n_replicas·servers``) by the FCFS recursion, over
    ``replications`` independent runs from empty of ``warmup_customers + customers``
    requests *at the simulated node* (the first ``warmup_customers`` discarded).

    The node's stream: the balanced-H2 renewal stream of SCV ``arrival_scv`` at rate
    ``lam_total`` (single, pooled); its random thinning to ``1/N`` (random: each arrival
    kept with probability ``1/N``); every ``N``-th arrival (round robin).
    """
    if routing == "p2c":
        raise ValueError("state-dependent routing: use the ciw builder")
    law = h2_balanced(1.0 / lam_total, arrival_scv)
    node_servers = servers * (n_replicas if routing == "pooled" else 1)
    rng = np.random.default_rng(seed)
    total = warmup_customers + customers
    values: dict[str, list[float]] = {k: [] for k in ("mean", "p95", "p99", "w", "pw")}
    for _ in range(replications):
        if routing in ("random", "round_robin") and n_replicas > 1:
            if routing == "round_robin":
                counts = np.full(total, n_replicas)
            else:
                counts = rng.geometric(1.0 / n_replicas, total)
            raw = law.sample(rng, int(counts.sum()))
            ends = np.cumsum(counts) - 1
            arrival = np.cumsum(raw)[ends]
        else:
            arrival = np.cumsum(law.sample(rng, total))
        work = sample_service(service, rng, total)
        waits = _fcfs_waits(arrival, work, node_servers)[warmup_customers:]
        response = waits + work[warmup_customers:]
        values["mean"].append(float(response.mean()))
        values["p95"].append(float(np.quantile(response, 0.95)))
        values["p99"].append(float(np.quantile(response, 0.99)))
        values["w"].append(float(waits.mean()))
        values["pw"].append(float(np.mean(waits > 0.0)))
    return SimEstimate(
        mean=cm.estimate(values["mean"]),
        p95=cm.estimate(values["p95"]),
        p99=cm.estimate(values["p99"]),
        wait_mean=cm.estimate(values["w"]),
        wait_probability=cm.estimate(values["pw"]),
        customers=customers,
    )


# --- M/G/1: numerically exact ----------------------------------------------------------------


@dataclass(frozen=True)
class GridLaw:
    """A law on the grid ``0, h, 2h, …``: ``cdf[k] = P(X ≤ k h)`` (nearest-point
    rounding of the continuous law)."""

    h: float
    cdf: FloatArray

    def quantile(self, q: float) -> float:
        """Linear interpolation of the grid CDF (error below ``h``)."""
        k = int(np.searchsorted(self.cdf, q))
        if k == 0:
            return 0.0
        lo, hi = self.cdf[k - 1], self.cdf[k]
        return self.h * (k - 1 + (q - lo) / (hi - lo)) if hi > lo else self.h * k

    def mean(self) -> float:
        """``Σ P(X > kh) h`` (the grid law's mean)."""
        return float(np.sum(1.0 - self.cdf) * self.h)


@dataclass(frozen=True)
class MG1Law:
    """Stationary M/G/1 FCFS: the wait and the response (wait + own service) on a grid."""

    wait: GridLaw
    response: GridLaw
    pk_wait_mean: float

    @property
    def response_mean(self) -> float:
        """Pollaczek–Khinchine (exact): ``λE[S²]/(2(1 − ρ)) + E[S]``."""
        return self.pk_wait_mean + (self.response.mean() - self.wait.mean())


def mg1_response_law(
    lam: float, service: cm.Service, *, h: float | None = None, points: int = 1 << 21
) -> MG1Law:
    """The exact stationary M/G/1 law (Beneš), discretised on ``points`` grid points of
    ``h`` (default ``E[S]/500``). Raises if the grid holds less than ``1 − 1e-7`` of the
    response (widen it)."""
    m = service.mean_s
    rho = lam * m
    if not 0 < rho < 1:
        raise ValueError("need 0 < rho < 1")
    h = m / 500 if h is None else h
    edges = (np.arange(points + 1, dtype=np.float64) - 0.5) * h
    edges[0] = 0.0
    residual_cdf = _integrated_tail(service, edges) / m
    fe = np.diff(residual_cdf)  # mass of [(k−½)h, (k+½)h) at k
    if service.kind == "lognormal":
        mu, sigma = lognormal_params(m, service.cv)
        with np.errstate(divide="ignore"):
            s_cdf = 0.5 * special.erfc(-(np.log(edges) - mu) / (sigma * math.sqrt(2)))
    elif service.kind == "gamma":
        s_cdf = special.gammainc(1 / service.cv**2, edges / (m * service.cv**2))
    else:
        s_cdf = 1.0 - np.exp(-edges / m)
    fs = np.diff(s_cdf)
    # compound geometric g = (1 − ρ)/(1 − ρ f_e) and the convolution with S by FFT on
    # 2·points, tilted by r^k with r^(2 points) = e^-30: the wrap-around is below e^-30
    size = 2 * points
    tilt = math.exp(-30.0 / size) ** np.arange(size)
    pad = np.zeros(points)
    fe_hat = np.fft.rfft(np.concatenate([fe, pad]) * tilt)
    w_pmf = (np.fft.irfft((1 - rho) / (1 - rho * fe_hat), size) / tilt)[:points]
    resp_hat = np.fft.rfft(np.concatenate([w_pmf, pad]) * tilt) * np.fft.rfft(
        np.concatenate([fs, pad]) * tilt
    )
    resp_pmf = (np.fft.irfft(resp_hat, size) / tilt)[:points]
    w_cdf = np.cumsum(w_pmf)
    r_cdf = np.cumsum(resp_pmf)
    if r_cdf[-1] < 1 - 1e-7:
        raise ValueError(f"grid holds only {r_cdf[-1]:.12f} of the response: widen it")
    pk = lam * service_moment(service, 2) / (2 * (1 - rho))
    return MG1Law(GridLaw(h, w_cdf), GridLaw(h, r_cdf), pk)


# --- GI/M/c with phase-type arrivals: exact --------------------------------------------------


@dataclass(frozen=True)
class PhaseType:
    """A phase-type interarrival law: initial vector ``alpha``, sub-generator ``t``."""

    alpha: FloatArray
    t: FloatArray

    @property
    def exit(self) -> FloatArray:
        """Exit rates ``−T 1``."""
        return np.asarray(-self.t.sum(axis=1), dtype=np.float64)

    @property
    def mean(self) -> float:
        """``α (−T)⁻¹ 1``."""
        return float(self.alpha @ np.linalg.solve(-self.t, np.ones(len(self.alpha))))

    def lst(self, s: float) -> float:
        """``α (sI − T)⁻¹ t``."""
        n = len(self.alpha)
        return float(self.alpha @ np.linalg.solve(s * np.eye(n) - self.t, self.exit))


def ph_of_h2(law: H2) -> PhaseType:
    """The H2 as a phase-type law."""
    return PhaseType(
        np.array([law.p1, 1 - law.p1]), np.diag([-law.rate1, -law.rate2]).astype(np.float64)
    )


def ph_thinned(ph: PhaseType, keep: float) -> PhaseType:
    """Interarrival law of a renewal stream thinned at random (each arrival kept with
    probability ``keep``): on each arrival the phase restarts; it is kept or not."""
    t = ph.t + (1 - keep) * np.outer(ph.exit, ph.alpha)
    return PhaseType(ph.alpha.copy(), t)


def ph_every_nth(ph: PhaseType, n: int) -> PhaseType:
    """Interarrival law of every ``n``-th arrival (the ``n``-fold sum)."""
    k = len(ph.alpha)
    t = np.zeros((n * k, n * k))
    for i in range(n):
        t[i * k : (i + 1) * k, i * k : (i + 1) * k] = ph.t
        if i + 1 < n:
            t[i * k : (i + 1) * k, (i + 1) * k : (i + 2) * k] = np.outer(ph.exit, ph.alpha)
    alpha = np.zeros(n * k)
    alpha[:k] = ph.alpha
    return PhaseType(alpha, t)


def routed_stream(routing: Routing, n_replicas: int, lam_total: float, scv: float) -> PhaseType:
    """The interarrival law at one routed unit: the whole stream (single, pooled), its
    random ``1/N`` thinning (random), every ``N``-th arrival (round robin)."""
    ph = ph_of_h2(h2_balanced(1.0 / lam_total, scv))
    if routing == "random" and n_replicas > 1:
        return ph_thinned(ph, 1.0 / n_replicas)
    if routing == "round_robin" and n_replicas > 1:
        return ph_every_nth(ph, n_replicas)
    return ph


def gim_sigma(lst: Callable[[float], float], c_mu: float) -> float:
    """The root ``σ ∈ (0, 1)`` of ``σ = A*(cμ(1 − σ))`` (stable queue)."""

    def f(s: float) -> float:
        return lst(c_mu * (1 - s)) - s

    hi = 1.0 - 1e-9
    if f(hi) >= 0:
        raise ValueError("sigma bracket failed (load too close to 1)")
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-15, rtol=1e-15))


@dataclass(frozen=True)
class GIMcLaw:
    """Stationary GI/M/c: ``W = 0`` with probability ``1 − P_W``, else
    ``Exp(cμ(1 − σ))``; response ``W + Exp(μ)``."""

    mu: float
    c: int
    sigma: float
    wait_probability: float
    truncation_mass: float = 0.0

    @property
    def theta(self) -> float:
        """Rate of the conditional wait, ``cμ(1 − σ)``."""
        return self.c * self.mu * (1 - self.sigma)

    @property
    def wait_mean(self) -> float:
        """``P_W / θ``."""
        return self.wait_probability / self.theta

    def response_mean(self) -> float:
        """``E[W] + 1/μ``."""
        return self.wait_mean + 1 / self.mu

    def response_tail(self, t: float) -> float:
        """``P(W + S > t)``."""
        return mixture_tail(
            t, 1 - self.wait_probability, [(self.wait_probability, self.theta)], [(1.0, self.mu)]
        )

    def response_quantile(self, q: float) -> float:
        """The ``q``-quantile of the response."""
        return tail_quantile(self.response_tail, q, 1 / self.mu)


def gim_c_exact(ph: PhaseType, mu: float, c: int) -> GIMcLaw:
    """GI/M/c by the truncated CTMC over (requests in system, arrival phase)."""
    lam = 1 / ph.mean
    if lam >= c * mu:
        raise ValueError("unstable")
    sigma = gim_sigma(ph.lst, c * mu)
    k_max = c + math.ceil(math.log(1e-14) / math.log(sigma)) + 10 if sigma > 0 else c + 10
    phases = len(ph.alpha)
    exit_rates = ph.exit
    n_states = (k_max + 1) * phases
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for n in range(k_max + 1):
        base = n * phases
        up = min(n + 1, k_max) * phases
        for i in range(phases):
            for j in range(phases):
                if i != j and ph.t[i, j] != 0:
                    rows.append(base + i)
                    cols.append(base + j)
                    vals.append(float(ph.t[i, j]))
                if exit_rates[i] * ph.alpha[j] != 0:
                    rows.append(base + i)
                    cols.append(up + j)
                    vals.append(float(exit_rates[i] * ph.alpha[j]))
            if n > 0:
                rows.append(base + i)
                cols.append(base - phases + i)
                vals.append(mu * min(n, c))
    q = sparse.coo_matrix(
        (np.asarray(vals), (np.asarray(rows), np.asarray(cols))), shape=(n_states, n_states)
    ).tocsr()
    q = q - sparse.diags(np.asarray(q.sum(axis=1)).ravel())
    a_t = q.T.tolil()
    a_t[n_states - 1, :] = np.ones(n_states)
    rhs = np.zeros(n_states)
    rhs[-1] = 1.0
    pi = np.asarray(sparse_linalg.spsolve(a_t.tocsc(), rhs), dtype=np.float64)
    at_arrival = pi.reshape(k_max + 1, phases) @ exit_rates
    at_arrival = at_arrival / at_arrival.sum()
    return GIMcLaw(
        mu=mu,
        c=c,
        sigma=sigma,
        wait_probability=float(at_arrival[c:].sum()),
        truncation_mass=float(at_arrival[-1]),
    )


def gim_c_takacs(lst: Callable[[float], float], lam: float, mu: float, c: int) -> GIMcLaw:
    """GI/M/c in closed form (Takács 1962; Gross & Harris, *Fundamentals of Queueing
    Theory*, GI/M/c): with ``β_j = A*(jμ)``, ``C_j = Π_{i≤j} β_i/(1 − β_i)``,
    ``1/C = 1/(1 − σ) + Σ_{j=1}^{c} binom(c, j)/(C_j (1 − β_j)) · (c(1 − β_j) − j)/(c(1 − σ) − j)``
    and ``P(wait) = C/(1 − σ)``. Exact; the alternating sum loses digits for large ``c``
    (kept to ``c ≤ 30`` here)."""
    if c > 30:
        raise ValueError("the alternating sum is unstable beyond c = 30")
    if lam >= c * mu:
        raise ValueError("unstable")
    sigma = gim_sigma(lst, c * mu)
    total = 1.0 / (1 - sigma)
    prod = 1.0
    for j in range(1, c + 1):
        beta = lst(j * mu)
        prod *= beta / (1 - beta)
        total += (
            math.comb(c, j) / (prod * (1 - beta)) * (c * (1 - beta) - j) / (c * (1 - sigma) - j)
        )
    const = 1.0 / total
    return GIMcLaw(mu=mu, c=c, sigma=sigma, wait_probability=const / (1 - sigma))


# --- tails of exponential mixtures ------------------------------------------------------------


def exp_sum_tail(a: float, b: float, t: float) -> float:
    """``P(Exp(a) + Exp(b) > t)``, ``t ≥ 0`` (``a = b``: Erlang-2)."""
    if t <= 0:
        return 1.0
    if abs(a - b) < 1e-9 * max(a, b):
        return math.exp(-a * t) * (1 + a * t)
    return (b * math.exp(-a * t) - a * math.exp(-b * t)) / (b - a)


def mixture_tail(
    t: float,
    atom: float,
    waits: Sequence[tuple[float, float]],
    work: Sequence[tuple[float, float]],
    shift: float = 0.0,
) -> float:
    """``P(W + S > t)`` for ``W`` = 0 with probability ``atom``, else ``Exp(rate)`` with
    each ``(probability, rate)`` of ``waits``; ``S = shift + Exp(rate)`` with each
    ``(probability, rate)`` of ``work``; ``W``, ``S`` independent."""
    x = t - shift
    if x <= 0:
        return 1.0
    tail = atom * sum(p * math.exp(-r * x) for p, r in work)
    for pw, rw in waits:
        for ps, rs in work:
            tail += pw * ps * exp_sum_tail(rw, rs, x)
    return tail


def tail_quantile(tail: Callable[[float], float], q: float, scale: float) -> float:
    """The ``t`` with ``tail(t) = 1 − q`` (``tail`` decreasing), by bracketing and brentq."""
    target = 1.0 - q
    hi = scale
    while tail(hi) > target:
        hi *= 2.0
    return float(optimize.brentq(lambda t: tail(t) - target, 0.0, hi, xtol=1e-12 * hi))


# --- state-dependent routing: FCFS replicas behind a router (compiled) -----------------------

ROUTED_CODES: dict[str, int] = {"random": 0, "round_robin": 1, "p2c": 2, "jsq": 3}
"""Router codes of :func:`_routed_waits` (``pooled`` is one node: :func:`_fcfs_waits`)."""


@numba.njit(cache=True)
def _heap_push(heap: FloatArray, size: int, value: float) -> None:
    """Push ``value`` onto the binary min-heap ``heap[:size]`` (room for one more)."""
    i = size
    heap[i] = value
    while i > 0:
        parent = (i - 1) // 2
        if heap[parent] <= heap[i]:
            break
        heap[parent], heap[i] = heap[i], heap[parent]
        i = parent


@numba.njit(cache=True)
def _heap_pop(heap: FloatArray, size: int) -> None:
    """Remove the minimum of the binary min-heap ``heap[:size]`` (``size ≥ 1``)."""
    last = size - 1
    heap[0] = heap[last]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= last:
            break
        small = left
        if left + 1 < last and heap[left + 1] < heap[left]:
            small = left + 1
        if heap[i] <= heap[small]:
            break
        heap[i], heap[small] = heap[small], heap[i]
        i = small


@numba.njit(cache=True)
def _routed_waits(
    arrival: FloatArray,
    work: FloatArray,
    code: int,
    n_replicas: int,
    servers: int,
    u_first: FloatArray,
    u_second: FloatArray,
    u_tie: FloatArray,
) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """Waits (and replicas) of requests routed at arrival to ``n_replicas`` FCFS replicas
    of ``servers`` servers each.

    Each replica is the Kiefer–Wolfowitz recursion (a request starts at the later of its
    arrival and its replica's earliest free server), so a request's departure is known when
    it arrives; a per-replica min-heap of the departures of the requests still there gives
    the number in system (queued + in service) that the router sees at each arrival (a
    departure at the arrival instant has left). Routers: ``random`` (``u_first`` picks a
    replica uniformly), ``round_robin`` (request ``i`` to replica ``i mod N``), ``p2c``
    (two distinct replicas uniformly, the one with fewer in system, a tie by ``u_tie``)
    and ``jsq`` (the fewest in system over all replicas, ties uniformly by ``u_tie``).
    """
    n = arrival.shape[0]
    free = np.zeros((n_replicas, servers))
    cap = 64
    heaps = np.empty((n_replicas, cap))
    sizes = np.zeros(n_replicas, dtype=np.int64)
    counting = code == 2 or code == 3
    waits = np.empty(n)
    chosen = np.empty(n, dtype=np.int64)
    for i in range(n):
        t = arrival[i]
        if counting:
            for r in range(n_replicas):
                while sizes[r] > 0 and heaps[r, 0] <= t:
                    _heap_pop(heaps[r], sizes[r])
                    sizes[r] -= 1
        if code == 0:
            r = min(int(u_first[i] * n_replicas), n_replicas - 1)
        elif code == 1:
            r = i % n_replicas
        elif code == 2:
            a = min(int(u_first[i] * n_replicas), n_replicas - 1)
            b = min(int(u_second[i] * (n_replicas - 1)), n_replicas - 2)
            if b >= a:
                b += 1
            if sizes[a] < sizes[b]:
                r = a
            elif sizes[b] < sizes[a]:
                r = b
            else:
                r = a if u_tie[i] < 0.5 else b
        else:
            least = sizes.min()
            ties = 0
            for j in range(n_replicas):
                if sizes[j] == least:
                    ties += 1
            pick = min(int(u_tie[i] * ties), ties - 1)
            r = -1
            for j in range(n_replicas):
                if sizes[j] == least:
                    if pick == 0:
                        r = j
                        break
                    pick -= 1
        k = 0
        for j in range(1, servers):
            if free[r, j] < free[r, k]:
                k = j
        start = max(t, free[r, k])
        waits[i] = start - t
        free[r, k] = start + work[i]
        chosen[i] = r
        if counting:
            if sizes[r] == cap:
                grown = np.empty((n_replicas, 2 * cap))
                grown[:, :cap] = heaps
                heaps = grown
                cap *= 2
            _heap_push(heaps[r], sizes[r], start + work[i])
            sizes[r] += 1
    return waits, chosen


def routed_fcfs_response(
    routing: Routing | Literal["jsq"],
    n_replicas: int,
    lam_total: float,
    service: cm.Service,
    servers: int,
    *,
    arrival_scv: float = 1.0,
    replications: int = 10,
    customers: int = 1_000_000,
    warmup_customers: int = 100_000,
    seed: int = 1,
) -> SimEstimate:
    """The response time over *all* requests of ``n_replicas`` FCFS replicas of
    ``servers`` servers behind a router that sees every replica's number in system:
    ``random``, ``round_robin``, ``p2c`` (power of two choices), ``jsq`` (join the
    shortest queue), or ``pooled`` (one node of ``n_replicas·servers``), over
    ``replications`` independent runs from empty of ``warmup_customers + customers``
    requests of the whole stream (balanced-H2 renewal of SCV ``arrival_scv`` at rate
    ``lam_total``), the first ``warmup_customers`` discarded.

    Exact in law for every router (an event-by-event simulation: each replica's FCFS
    recursion plus the departures still to come); for random, round robin and pooled it
    is the law :func:`fcfs_response` samples one replica of. Routers' tie-breaks are
    uniform, as in ciw's ``LoadBalancing(tie_break="random")`` and
    :class:`reference.ciw_models.PowerOfTwoChoices`.
    """
    if routing == "single":
        raise ValueError("'single' is fcfs_response; name a routing policy")
    law = h2_balanced(1.0 / lam_total, arrival_scv)
    rng = np.random.default_rng(seed)
    total = warmup_customers + customers
    values: dict[str, list[float]] = {k: [] for k in ("mean", "p95", "p99", "w", "pw")}
    for _ in range(replications):
        arrival = np.cumsum(law.sample(rng, total))
        work = sample_service(service, rng, total)
        if routing == "pooled" or n_replicas == 1:
            node = servers * n_replicas
            waits = _fcfs_waits(arrival, work, node)
        else:
            u = rng.random((3, total))
            waits, _ = _routed_waits(
                arrival, work, ROUTED_CODES[routing], n_replicas, servers, u[0], u[1], u[2]
            )
        waits = waits[warmup_customers:]
        response = waits + work[warmup_customers:]
        values["mean"].append(float(response.mean()))
        values["p95"].append(float(np.quantile(response, 0.95)))
        values["p99"].append(float(np.quantile(response, 0.99)))
        values["w"].append(float(waits.mean()))
        values["pw"].append(float(np.mean(waits > 0.0)))
    return SimEstimate(
        mean=cm.estimate(values["mean"]),
        p95=cm.estimate(values["p95"]),
        p99=cm.estimate(values["p99"]),
        wait_mean=cm.estimate(values["w"]),
        wait_probability=cm.estimate(values["pw"]),
        customers=customers,
    )
