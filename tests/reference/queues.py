"""Closed forms and exact numerical solutions of the queues capsim's service model imitates.

Independent of capsim by construction: NumPy, SciPy, ``fractions`` and ``decimal`` only,
every formula written out here from the textbook (or derived here, then checked against
ciw in ``tests/test_reference_queues.py``). Units: rates in 1/s, times in s, unless a name
says otherwise. ``lam`` is the arrival rate, ``mu`` the service rate of one server (one
request at a time at full speed), ``c`` the number of servers.

Sources (cited per function):

* [K1] L. Kleinrock, *Queueing Systems, Vol. I: Theory*, Wiley 1975.
* [K2] L. Kleinrock, *Queueing Systems, Vol. II: Computer Applications*, Wiley 1976.
* [GH] D. Gross, J. Shortle, J. Thompson, C. Harris, *Fundamentals of Queueing Theory*,
  4th ed., Wiley 2008.
* [IV] V. B. Iversen, *Teletraffic Engineering and Network Planning*, DTU 2015, ch. 10
  (Erlang's M/D/1 waiting-time formula, Crommelin's M/D/c).
* [BH] F. Baccelli, G. Hébuterne, "On queues with impatient customers", Performance '81,
  and R. Brill, M. Posner, "Level crossings in point processes applied to queues",
  Oper. Res. 25 (1977): the virtual-waiting-time level-crossing argument used for M/M/c+D.
* [AH] A. H. Al-Mohy, N. J. Higham, "Computing the action of the matrix exponential",
  SIAM J. Sci. Comput. 33 (2011) — the algorithm behind ``scipy.sparse.linalg.expm_multiply``.

Nothing here is an approximation except where a docstring says so (and then the error is
bounded and checked: truncation of an infinite chain). Kingman's and Allen–Cunneen's
approximations are deliberately absent: they are not references.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from functools import cache, partial
from typing import overload

import numpy as np
import numpy.typing as npt
from scipy import integrate, optimize, sparse, stats
from scipy.sparse import linalg as sparse_linalg
from scipy.special import logsumexp

FloatArray = npt.NDArray[np.float64]

# --- helpers --------------------------------------------------------------------------------


def _check_stable(lam: float, mu: float, servers: int) -> None:
    if lam <= 0 or mu <= 0 or servers < 1:
        raise ValueError(f"need lam > 0, mu > 0, servers >= 1 (got {lam}, {mu}, {servers})")
    if lam >= servers * mu:
        raise ValueError(f"unstable: lam {lam} >= servers·mu {servers * mu}")


def _int_exp(d: float, a: float, b: float, shift: float = 0.0) -> float:
    """``∫_a^b exp(d·x + shift) dx`` for ``a ≤ b``, without overflow or cancellation.

    The exponential is factored out at the end where it is largest, and ``expm1`` keeps
    the ``d → 0`` limit ``(b − a)·exp(shift)`` exact.
    """
    width = b - a
    if width <= 0:
        return 0.0
    if abs(d) * width < 1e-12:
        return math.exp(d * a + shift) * width
    if d > 0:
        return math.exp(d * b + shift) * -math.expm1(-d * width) / d
    return math.exp(d * a + shift) * -math.expm1(d * width) / -d


def exp_sum_tail(rate1: float, rate2: float, t: float) -> float:
    """``P(X₁ + X₂ > t)`` for independent ``X₁ ~ Exp(rate1)``, ``X₂ ~ Exp(rate2)``.

    Hypoexponential survival ``(r₂ e^{−r₁t} − r₁ e^{−r₂t})/(r₂ − r₁)`` ([K1] §4.2), written
    as ``e^{−r₂t} + r₂ ∫_0^t e^{−r₁x} e^{−r₂(t−x)} dx``-free form
    ``e^{−r₂t} + r₂ · ∫_0^t e^{(r₂−r₁)x − r₂t} dx`` so that ``r₁ = r₂`` (the Erlang-2 limit
    ``e^{−rt}(1 + rt)``) needs no special case.
    """
    if t <= 0:
        return 1.0
    return math.exp(-rate2 * t) + rate2 * _int_exp(rate2 - rate1, 0.0, t, -rate2 * t)


def quantile_from_tail(tail: Callable[[float], float], q: float, scale: float) -> float:
    """Smallest ``t ≥ 0`` with ``tail(t) ≤ 1 − q`` for a continuous, non-increasing ``tail``
    (``scale`` is a first guess of the size of ``t``; the bracket doubles from it)."""
    if not 0 < q < 1:
        raise ValueError(f"quantile level must be in (0, 1), got {q}")
    target = 1.0 - q
    if tail(0.0) <= target:
        return 0.0
    hi = max(scale, 1e-12)
    while tail(hi) > target:
        hi *= 2.0
        if hi > 1e12:
            raise ValueError("quantile bracket did not close")
    return float(optimize.brentq(lambda t: tail(t) - target, 0.0, hi, xtol=1e-14, rtol=1e-13))


# --- Erlang B and C -------------------------------------------------------------------------


@overload
def erlang_b(c: int, a: Fraction) -> Fraction: ...
@overload
def erlang_b(c: int, a: float) -> float: ...
def erlang_b(c: int, a: float | Fraction) -> float | Fraction:
    """Erlang's loss formula ``B(c, a) = (a^c/c!) / Σ_{k≤c} a^k/k!`` for offered load ``a``.

    Evaluated by the recursion ``B(0) = 1``, ``B(k) = a B(k−1) / (k + a B(k−1))`` ([IV]
    §4.4; every term positive, so no cancellation, no overflow for any ``c``). With a
    ``Fraction`` argument the result is exact.
    """
    if c < 0:
        raise ValueError(f"c must be >= 0, got {c}")
    b: float | Fraction = Fraction(1) if isinstance(a, Fraction) else 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


@overload
def erlang_c(c: int, a: Fraction) -> Fraction: ...
@overload
def erlang_c(c: int, a: float) -> float: ...
def erlang_c(c: int, a: float | Fraction) -> float | Fraction:
    """Erlang C, ``P(wait > 0)`` in a stationary M/M/c with offered load ``a = λ/μ < c``.

    ``C(c, a) = c·B / (c − a(1 − B))`` with ``B = B(c, a)`` Erlang B ([GH] §2.3, [IV] §9.2);
    equivalently ``(a^c/c! · c/(c−a)) / (Σ_{k<c} a^k/k! + a^c/c! · c/(c−a))``. Exact with a
    ``Fraction`` argument.
    """
    if c < 1 or not 0 <= a < c:
        raise ValueError(f"need c >= 1 and 0 <= a < c, got c={c}, a={a}")
    b = erlang_b(c, a)
    return c * b / (c - a * (1 - b))


# --- M/M/c ----------------------------------------------------------------------------------


def mmc_wait_probability(lam: float, mu: float, c: int) -> float:
    """``P(W > 0) = C(c, λ/μ)`` (Erlang C; PASTA: an arrival waits iff all c are busy)."""
    _check_stable(lam, mu, c)
    return erlang_c(c, lam / mu)


def mmc_wait_tail(lam: float, mu: float, c: int, t: float) -> float:
    """``P(W > t) = C e^{−(cμ−λ)t}`` for FCFS M/M/c, ``t ≥ 0`` ([K1] eq. 3.40; [GH] §2.3.2)."""
    if t < 0:
        return 1.0
    return mmc_wait_probability(lam, mu, c) * math.exp(-(c * mu - lam) * t)


def mmc_wait_mean(lam: float, mu: float, c: int) -> float:
    """``E[W] = C/(cμ − λ)`` ([GH] §2.3)."""
    return mmc_wait_probability(lam, mu, c) / (c * mu - lam)


def mmc_response_mean(lam: float, mu: float, c: int) -> float:
    """``E[R] = C/(cμ − λ) + 1/μ``: response = wait + the request's own ``Exp(μ)`` service."""
    return mmc_wait_mean(lam, mu, c) + 1.0 / mu


def mmc_response_tail(lam: float, mu: float, c: int, t: float) -> float:
    """``P(R > t) = (1 − C) e^{−μt} + C · P(Exp(cμ−λ) + Exp(μ) > t)`` ([GH] §2.3.2).

    The wait, given that it is positive, is ``Exp(cμ − λ)`` and independent of the
    request's own service ``Exp(μ)``.
    """
    if t <= 0:
        return 1.0
    big_c = mmc_wait_probability(lam, mu, c)
    return (1 - big_c) * math.exp(-mu * t) + big_c * exp_sum_tail(c * mu - lam, mu, t)


def mmc_response_quantile(lam: float, mu: float, c: int, q: float) -> float:
    """The ``q``-quantile of the response, by ``brentq`` on the exact tail."""
    return quantile_from_tail(lambda t: mmc_response_tail(lam, mu, c, t), q, 1.0 / mu)


def mmc_mean_number_in_system(lam: float, mu: float, c: int) -> float:
    """``L = λ E[R] = C·λ/(cμ − λ) + λ/μ`` (Little)."""
    return lam * mmc_response_mean(lam, mu, c)


def pooled_response_mean(n_replicas: int, lam_total: float, mu: float, c: int) -> float:
    """One queue in front of all ``n_replicas × c`` servers: M/M/(N·c) (Erlang C)."""
    return mmc_response_mean(lam_total, mu, n_replicas * c)


def pooled_response_quantile(
    n_replicas: int, lam_total: float, mu: float, c: int, q: float
) -> float:
    """The ``q``-quantile of the pooled M/M/(N·c) response."""
    return mmc_response_quantile(lam_total, mu, n_replicas * c, q)


# --- M/M/c+D: deterministic patience (the client timeout) -----------------------------------


@dataclass(frozen=True)
class MMcDLaw:
    """Stationary M/M/c+D: FCFS, c exponential servers, every request abandons the queue
    when it has *waited* ``tau_s`` without starting service; once in service it completes.

    Derivation ([BH], written out here). Let ``V`` be the virtual waiting time: the wait an
    arrival would get (the time until a server frees *for it*, counting only the requests
    ahead that will be served). With ``n < c`` busy, ``V = 0``; the chain over those states
    is Erlang's, ``πₙ ∝ aⁿ/n!`` (``a = λ/μ``). With all c busy, ``V`` falls at slope 1, and an
    arrival that sees ``V < τ`` is served and pushes ``V`` up by ``Exp(cμ)`` (memoryless:
    the next of c busy servers to free). An arrival that sees ``V ≥ τ`` abandons and leaves
    ``V`` unchanged. Level crossing at ``x`` (down-crossings ``f(x)`` = up-crossings):
    ``f(x) = λπ_{c−1} e^{−cμx} + λ∫_0^{min(x,τ)} f(y) e^{−cμ(x−y)} dy``, solved by

    * ``f(x) = λ p e^{−g x}`` on ``(0, τ]``, ``g = cμ − λ``, ``p = π_{c−1}``;
    * ``f(x) = f(τ) e^{−cμ(x−τ)}`` for ``x > τ``;
    * ``Z = Σ_{n<c} πₙ + λp(1 − e^{−gτ})/g + λp e^{−gτ}/(cμ)`` (``g → 0``: ``λpτ``);
    * ``P_ab = P(V > τ) = λp e^{−gτ}/(cμ Z)`` (PASTA);
    * served wait = ``V`` given ``V ≤ τ``: an atom ``Σπₙ/(Z(1−P_ab))`` at 0 and the density
      ``λp e^{−gx}/(Z(1−P_ab))`` on ``(0, τ]``; served response = wait + ``Exp(μ)``.

    Valid for every ``λ > 0`` including ``λ ≥ cμ`` (then ``g ≤ 0``). Computed in log space
    (``πₙ`` for large ``c`` overflow a float otherwise).
    """

    lam: float
    mu: float
    c: int
    tau_s: float
    abandon_probability: float
    served_wait_atom: float
    """``P(W = 0 | served)``."""
    served_wait_density_coefficient: float
    """``K`` in the served-wait density ``K e^{−g x}`` on ``(0, τ]``."""
    g: float
    """``cμ − λ`` (1/s); negative in overload."""
    queue_mean_time_s: float
    """``E[min(V, τ)]``: mean time an arrival spends in the queue (abandoning ones: ``τ``)."""

    def served_wait_mean(self) -> float:
        """``∫_0^τ x K e^{−gx} dx`` (numerical quadrature of the closed-form density)."""
        value, _ = integrate.quad(
            lambda x: x * self._served_wait_density(x), 0.0, self.tau_s, epsabs=0.0, epsrel=1e-12
        )
        return float(value)

    def _served_wait_density(self, x: float) -> float:
        return self.served_wait_density_coefficient * math.exp(-self.g * x)

    def served_response_mean(self) -> float:
        """``E[W | served] + 1/μ``."""
        return self.served_wait_mean() + 1.0 / self.mu

    def served_response_tail(self, t: float) -> float:
        """``P(R > t | served)``, ``R = W + S``, ``S ~ Exp(μ)`` independent of ``W``:
        ``atom·e^{−μt} + K∫_0^{min(t,τ)} e^{−gx} e^{−μ(t−x)} dx + K∫_{min(t,τ)}^τ e^{−gx} dx``."""
        if t <= 0:
            return 1.0
        m = min(t, self.tau_s)
        k = self.served_wait_density_coefficient
        through_service = k * _int_exp(self.mu - self.g, 0.0, m, -self.mu * t)
        still_waiting = k * _int_exp(-self.g, m, self.tau_s)
        return self.served_wait_atom * math.exp(-self.mu * t) + through_service + still_waiting

    def served_response_quantile(self, q: float) -> float:
        """The ``q``-quantile of the served response, by ``brentq`` on the exact tail."""
        return quantile_from_tail(self.served_response_tail, q, self.tau_s + 1.0 / self.mu)

    def mean_queue_length(self) -> float:
        """Mean number waiting in the queue, *including* requests that will abandon:
        ``λ E[min(V, τ)]`` (Little; each arrival queues ``min(V, τ)``)."""
        return self.lam * self.queue_mean_time_s

    def mean_in_service(self) -> float:
        """Mean busy servers, ``λ(1 − P_ab)/μ`` (Little on the servers)."""
        return self.lam * (1 - self.abandon_probability) / self.mu


def mmc_deterministic_patience(lam: float, mu: float, c: int, tau_s: float) -> MMcDLaw:
    """The M/M/c+D law (see :class:`MMcDLaw` for the derivation and its assumptions)."""
    if lam <= 0 or mu <= 0 or c < 1 or tau_s <= 0:
        raise ValueError(f"need lam, mu, tau_s > 0 and c >= 1 (got {lam}, {mu}, {c}, {tau_s})")
    a = lam / mu
    g = c * mu - lam
    log_pi = [n * math.log(a) - math.lgamma(n + 1) for n in range(c)]
    log_atom = float(logsumexp(log_pi))
    log_lp = math.log(lam) + log_pi[c - 1]  # log(λ p)
    log_mid = log_lp + math.log(_int_exp(-g, 0.0, tau_s))  # λp ∫_0^τ e^{−gx} dx
    log_tail = log_lp - g * tau_s - math.log(c * mu)  # λp e^{−gτ}/(cμ)
    log_z = float(logsumexp([log_atom, log_mid, log_tail]))
    log_served = float(logsumexp([log_atom, log_mid]))
    abandon = math.exp(log_tail - log_z)
    atom = math.exp(log_atom - log_served)
    k = math.exp(log_lp - log_served)
    # E[min(V, τ)] = (∫_0^τ x f(x) dx + τ·P(V > τ)·Z) / Z
    first_moment, _ = integrate.quad(
        lambda x: x * math.exp(log_lp - g * x - log_z), 0.0, tau_s, epsabs=0.0, epsrel=1e-12
    )
    return MMcDLaw(
        lam=lam,
        mu=mu,
        c=c,
        tau_s=tau_s,
        abandon_probability=abandon,
        served_wait_atom=atom,
        served_wait_density_coefficient=k,
        g=g,
        queue_mean_time_s=float(first_moment) + tau_s * abandon,
    )


# --- M/G/1 and M/D/1 ------------------------------------------------------------------------


def pk_mean_wait(lam: float, service_mean_s: float, service_second_moment_s2: float) -> float:
    """Pollaczek–Khinchine: M/G/1 FCFS mean wait ``λE[S²]/(2(1 − ρ))``, ``ρ = λE[S]``
    ([K1] eq. 5.72)."""
    rho = lam * service_mean_s
    if not 0 < rho < 1:
        raise ValueError(f"need 0 < rho < 1, got {rho}")
    return lam * service_second_moment_s2 / (2 * (1 - rho))


def pk_mean_response(lam: float, service_mean_s: float, service_second_moment_s2: float) -> float:
    """M/G/1 FCFS mean response: P-K mean wait + ``E[S]``."""
    return pk_mean_wait(lam, service_mean_s, service_second_moment_s2) + service_mean_s


def lognormal_moments(mean_s: float, cv: float) -> tuple[float, float]:
    """``(E[S], E[S²])`` of a lognormal with the given mean and coefficient of variation:
    ``E[S²] = m²(1 + CV²)``."""
    return mean_s, mean_s * mean_s * (1 + cv * cv)


def md1_wait_cdf(lam: float, d_s: float, t: float) -> float:
    """Erlang's M/D/1 FCFS waiting-time distribution ([IV] §10.4.2):

    ``P(W ≤ t) = (1 − ρ) Σ_{k=0}^{⌊t/D⌋} (λ(kD − t))^k e^{−λ(kD − t)} / k!``, ``ρ = λD``.

    The terms alternate in sign and grow like ``e^{2λt}``, so the float sum cancels
    catastrophically for ``λt`` beyond ~15. It is evaluated in ``decimal`` with
    ``2λt/ln 10 + 30`` significant digits (every digit the cancellation can eat, plus 30):
    exact to double precision for any ``t``, slower as ``λt`` grows.
    """
    rho = lam * d_s
    if not 0 < rho < 1:
        raise ValueError(f"need 0 < rho < 1, got {rho}")
    if t < 0:
        return 0.0
    kmax = math.floor(t / d_s)
    digits = int(2 * lam * t / math.log(10)) + int(math.log10(kmax + 1)) + 30
    with localcontext() as ctx:
        ctx.prec = digits
        lam_d, d_d, t_d = Decimal(lam), Decimal(d_s), Decimal(t)
        total = Decimal(0)
        factorial = Decimal(1)
        for k in range(kmax + 1):
            if k > 0:
                factorial *= k
            x = lam_d * (k * d_d - t_d)
            power = x**k if k > 0 else Decimal(1)  # Decimal refuses 0**0
            total += power * (-x).exp() / factorial
        value = (1 - Decimal(rho)) * total
    return min(1.0, max(0.0, float(value)))


def md1_wait_quantile(lam: float, d_s: float, q: float) -> float:
    """The ``q``-quantile of the M/D/1 wait (0 when ``q ≤ 1 − ρ``, the atom at zero)."""
    return quantile_from_tail(lambda t: 1.0 - md1_wait_cdf(lam, d_s, t), q, d_s)


def md1_response_quantile(lam: float, d_s: float, q: float) -> float:
    """Response = wait + ``D``: its ``q``-quantile is the wait's plus ``D``."""
    return md1_wait_quantile(lam, d_s, q) + d_s


# --- processor sharing ----------------------------------------------------------------------


def mg1_ps_mean_response(lam: float, service_mean_s: float) -> float:
    """M/G/1 egalitarian processor sharing: ``E[R] = E[S]/(1 − ρ)`` for *any* service law
    (insensitivity; [K2] §4.4)."""
    rho = lam * service_mean_s
    if not 0 < rho < 1:
        raise ValueError(f"need 0 < rho < 1, got {rho}")
    return service_mean_s / (1 - rho)


def limited_ps_mm_mean_response(lam: float, mu: float, slots: int, cores: int) -> float:
    """``slots`` requests share ``cores`` cores (each runs at ``cores/max(n, cores)`` of a
    core's speed), the rest wait FIFO; exponential work of mean ``1/μ`` core-seconds.

    The number in system is birth–death with death rate ``μ·min(n, slots, cores)``: with
    ``slots ≥ cores`` that is M/M/``cores`` exactly, so ``E[R] = L/λ`` is the M/M/k mean
    response (Little). ``slots < cores`` is M/M/``slots``.
    """
    return mmc_response_mean(lam, mu, min(slots, cores))


# --- round robin: Erlang-N arrivals to each replica ------------------------------------------


def erlang_arrivals_sigma(n_phases: int, lam: float, mu: float, c: int = 1) -> float:
    """The root ``σ ∈ (0, 1)`` of ``σ = A*(cμ(1 − σ))`` for Erlang-``N`` interarrivals of
    rate ``λ`` per replica, ``A*(s) = (Nλ/(Nλ + s))^N`` ([K1] §6.4, GI/M/m).

    Round robin over ``N`` replicas of a Poisson(``Λ``) stream gives each replica every
    ``N``-th arrival: interarrival Erlang(``N``, ``Λ``), ``λ = Λ/N`` per replica.
    """
    _check_stable(lam, mu, c)
    rate = n_phases * lam

    def h(s: float) -> float:
        return math.exp(-n_phases * math.log1p(c * mu * (1 - s) / rate)) - s

    # Just below the trivial root σ = 1, h ≈ ε(1 − 1/ρ) < 0; ε scaled to stay clear of
    # rounding (h's curvature is O(ε²) there).
    rho = lam / (c * mu)
    hi = 1.0 - 1e-6 * (1.0 - rho)
    if h(hi) >= 0:
        raise ValueError("sigma bracket failed (rho too close to 1)")
    return float(optimize.brentq(h, 0.0, hi, xtol=1e-15, rtol=1e-15))


def erlang_n_m_1_response_mean(n_phases: int, lam: float, mu: float) -> float:
    """E_N/M/1 FCFS: the response is exactly ``Exp(μ(1 − σ))``, mean ``1/(μ(1 − σ))``
    ([K1] eq. 6.30–6.35)."""
    return 1.0 / (mu * (1 - erlang_arrivals_sigma(n_phases, lam, mu)))


def erlang_n_m_1_response_tail(n_phases: int, lam: float, mu: float, t: float) -> float:
    """E_N/M/1 response tail ``e^{−μ(1−σ)t}``."""
    if t <= 0:
        return 1.0
    return math.exp(-mu * (1 - erlang_arrivals_sigma(n_phases, lam, mu)) * t)


def round_robin_response_mean(n_replicas: int, lam_total: float, mu: float) -> float:
    """Round robin over ``n_replicas`` single-server exponential replicas: E_N/M/1 with
    ``λ = Λ/N`` per replica."""
    return erlang_n_m_1_response_mean(n_replicas, lam_total / n_replicas, mu)


@dataclass(frozen=True)
class ErlangArrivalsMMc:
    """Stationary E_N/M/c (Erlang-``N`` interarrivals of rate ``λ``, ``c`` exponential
    servers, FCFS), solved as the CTMC over (number in system, arrival phase).

    The phase advances at rate ``Nλ``; leaving phase ``N`` is an arrival. Arrivals see the
    chain's distribution restricted to phase ``N`` (the phase-``N`` exit rate is constant),
    ``qₙ``. Then ``P(wait) = Σ_{n≥c} qₙ``, ``E[W] = Σ_{n≥c} qₙ (n−c+1)/(cμ)``, and, because
    ``qₙ`` is geometric with ratio ``σ`` for ``n ≥ c − 1`` ([K1] §6.4), ``W | W > 0 ~
    Exp(cμ(1 − σ))``. The chain is truncated at ``K`` customers with ``σ^{K−c} < 10⁻¹⁴``
    (arrivals at ``K`` are lost); ``truncation_mass`` is the arrival-epoch mass at ``K``.
    """

    n_phases: int
    lam: float
    mu: float
    c: int
    sigma: float
    wait_probability: float
    wait_mean_s: float
    truncation_mass: float

    def response_mean(self) -> float:
        """``E[W] + 1/μ``."""
        return self.wait_mean_s + 1.0 / self.mu

    def response_tail(self, t: float) -> float:
        """``(1 − P_w) e^{−μt} + P_w · P(Exp(cμ(1−σ)) + Exp(μ) > t)``."""
        if t <= 0:
            return 1.0
        p_w = self.wait_probability
        theta = self.c * self.mu * (1 - self.sigma)
        return (1 - p_w) * math.exp(-self.mu * t) + p_w * exp_sum_tail(theta, self.mu, t)

    def response_quantile(self, q: float) -> float:
        """The ``q``-quantile of the response, by ``brentq`` on the tail."""
        return quantile_from_tail(self.response_tail, q, 1.0 / self.mu)


def erlang_arrivals_mmc(n_phases: int, lam: float, mu: float, c: int) -> ErlangArrivalsMMc:
    """Solve E_N/M/c exactly (see :class:`ErlangArrivalsMMc`)."""
    sigma = erlang_arrivals_sigma(n_phases, lam, mu, c)
    k_max = c + math.ceil(math.log(1e-14) / math.log(sigma)) + 10 if sigma > 0 else c + 10
    n_states = (k_max + 1) * n_phases
    rate = n_phases * lam
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []

    def index(n: int, j: int) -> int:
        return n * n_phases + j

    for n in range(k_max + 1):
        for j in range(n_phases):
            s = index(n, j)
            if j < n_phases - 1:
                rows.append(s)
                cols.append(index(n, j + 1))
                vals.append(rate)
            else:  # an arrival: phase restarts, one more customer (lost at the cap)
                rows.append(s)
                cols.append(index(min(n + 1, k_max), 0))
                vals.append(rate)
            if n > 0:
                rows.append(s)
                cols.append(index(n - 1, j))
                vals.append(mu * min(n, c))
    q = sparse.coo_matrix(
        (np.asarray(vals, dtype=np.float64), (rows, cols)), shape=(n_states, n_states)
    ).tocsr()
    q = q - sparse.diags(np.asarray(q.sum(axis=1)).ravel())
    # Solve π Q = 0, Σπ = 1: transpose, replace the last balance equation by normalisation.
    a_t = q.T.tolil()
    a_t[n_states - 1, :] = np.ones(n_states)
    rhs = np.zeros(n_states)
    rhs[-1] = 1.0
    pi = np.asarray(sparse_linalg.spsolve(a_t.tocsc(), rhs), dtype=np.float64)
    at_arrival = pi.reshape(k_max + 1, n_phases)[:, n_phases - 1]
    at_arrival = at_arrival / at_arrival.sum()
    counts = np.arange(k_max + 1)
    waiting = counts >= c
    return ErlangArrivalsMMc(
        n_phases=n_phases,
        lam=lam,
        mu=mu,
        c=c,
        sigma=sigma,
        wait_probability=float(at_arrival[waiting].sum()),
        wait_mean_s=float((at_arrival[waiting] * (counts[waiting] - c + 1)).sum() / (c * mu)),
        truncation_mass=float(at_arrival[-1]),
    )


# --- transient M/M/c from empty (exact CTMC) -------------------------------------------------


@dataclass(frozen=True)
class MMcTransient:
    """Transient M/M/c started empty at ``t = 0``, at each of ``times_s``.

    ``*_average`` are averages over ``[0, t]`` (time averages; with Poisson arrivals of
    constant rate also arrival averages, by PASTA). ``wait_of_arrival_s`` is the mean FCFS
    wait of a request arriving at ``t``: ``E[(N(t) − c + 1)⁺]/(cμ)``.
    """

    mu: float
    times_s: FloatArray
    mean_in_system: FloatArray
    mean_queue: FloatArray
    wait_of_arrival_s: FloatArray
    mean_in_system_average: FloatArray
    mean_queue_average: FloatArray
    wait_of_arrival_average_s: FloatArray
    truncation_mass: float
    """``λ∫_0^T p_K(s) ds`` at the last time ``T``: the expected number of arrivals the
    truncated chain lost at its cap, which bounds the probability that it has left the true
    chain's path by ``T`` (they coincide until the first lost arrival), hence the total
    variation distance of every ``p(t)``, ``t ≤ T``."""

    def response_of_arrival_s(self) -> FloatArray:
        """Mean response of a request arriving at each time: ``wait + 1/μ``."""
        return self.wait_of_arrival_s + 1.0 / self.mu

    def response_of_arrival_average_s(self) -> FloatArray:
        """Mean response averaged over arrivals in ``[0, t]``."""
        return self.wait_of_arrival_average_s + 1.0 / self.mu


def mmc_transient(
    lam: float,
    mu: float,
    c: int,
    times_s: Sequence[float] | FloatArray,
    k_max: int,
    tolerance: float = 1e-10,
) -> MMcTransient:
    """Exact transient M/M/c from empty: ``p(t) = p(0) e^{Qt}`` for the birth–death
    generator ``Q`` (births ``λ``, deaths ``μ·min(n, c)``), truncated at ``k_max`` customers
    (arrivals at ``k_max`` are lost), by ``scipy.sparse.linalg.expm_multiply`` ([AH]).

    The averages over ``[0, t]`` are exact too: the augmented system ``d/dt [p; I] =
    [Qᵀp; p]`` carries ``I(t) = ∫_0^t p``. Truncation check: the truncated and the true chain
    coincide until the first arrival lost at ``k_max``; the expected number of those by the
    last time, ``λ I_K(T)``, bounds their total variation distance, and above ``tolerance``
    it is a ``ValueError`` (raise ``k_max``). Any ``λ`` is allowed (transients at ``ρ ≥ 1``
    are the point). Cost grows like ``(λ + cμ)·t·k_max``: one hour of M/M/1 at μ = 10 with
    K = 2000 takes ~7 s; M/M/4 needs K ≈ 5000 (~50 s).
    """
    if lam <= 0 or mu <= 0 or c < 1 or k_max <= c:
        raise ValueError("need lam, mu > 0, c >= 1, k_max > c")
    times = np.asarray(times_s, dtype=np.float64)
    if times.ndim != 1 or times.size == 0 or np.any(times <= 0) or np.any(np.diff(times) <= 0):
        raise ValueError("times_s must be positive and strictly increasing")
    size = k_max + 1
    n = np.arange(size, dtype=np.float64)
    birth = np.full(size - 1, lam)
    death = mu * np.minimum(n[1:], c)
    out_rate = np.concatenate([birth, [0.0]]) + np.concatenate([[0.0], death])
    # Column-oriented forward operator: dp/dt = Qᵀ p.
    q_t = sparse.diags([birth, -out_rate, death], [-1, 0, 1], format="csr")
    augmented = sparse.bmat([[q_t, None], [sparse.identity(size), None]], format="csr")
    augmented.resize((2 * size, 2 * size))
    state = np.zeros(2 * size)
    state[0] = 1.0
    previous = 0.0
    queue = np.maximum(n - c, 0.0)
    ahead = np.maximum(n - c + 1, 0.0)
    rows: list[tuple[float, float, float, float, float, float]] = []
    for t in times:
        state = np.asarray(sparse_linalg.expm_multiply(augmented * (t - previous), state))
        previous = float(t)
        p, integral = state[:size], state[size:]
        rows.append(
            (
                float(n @ p),
                float(queue @ p),
                float(ahead @ p) / (c * mu),
                float(n @ integral) / t,
                float(queue @ integral) / t,
                float(ahead @ integral) / (c * mu * t),
            )
        )
    lost = lam * float(state[size + k_max])
    if lost > tolerance:
        raise ValueError(f"truncation at k_max={k_max} lost {lost:.2e} arrivals: raise it")
    cols = np.array(rows, dtype=np.float64).T
    return MMcTransient(
        mu=mu,
        times_s=times,
        mean_in_system=cols[0],
        mean_queue=cols[1],
        wait_of_arrival_s=cols[2],
        mean_in_system_average=cols[3],
        mean_queue_average=cols[4],
        wait_of_arrival_average_s=cols[5],
        truncation_mass=lost,
    )


# --- named cases for the accuracy table ------------------------------------------------------

MU_PER_SLOT = 10.0
"""The service rate of the §4.3 cases: 100 ms mean service."""


def mmck(lam: float, mu: float, c: int, held: int) -> tuple[float, float, float]:
    """M/M/c/K written out (K = ``held`` waiting places): (P(refused), mean response of an
    admitted request, p99 of its response). An admitted arrival finding ``j ≥ c`` in the
    system waits Erlang(j − c + 1, cμ), then its Exp(μ) service."""
    weights = [1.0]
    for n in range(1, c + held + 1):
        weights.append(weights[-1] * lam / (mu * min(n, c)))
    p = np.array(weights) / sum(weights)
    admitted = p[: c + held] / (1.0 - p[c + held])
    mean = 1.0 / mu + sum(admitted[j] * (j - c + 1) / (c * mu) for j in range(c, c + held))

    def tail(t: float) -> float:
        total = admitted[:c].sum() * math.exp(-mu * t)
        for j in range(c, c + held):
            k = j - c + 1
            wait = stats.gamma(k, scale=1.0 / (c * mu))
            inner = integrate.quad(lambda x, w=wait: w.pdf(x) * math.exp(-mu * (t - x)), 0.0, t)[0]
            total += admitted[j] * (wait.sf(t) + inner)
        return float(total)

    p99 = float(optimize.brentq(lambda t: tail(t) - 0.01, 1e-9, 100.0))
    return float(p[c + held]), float(mean), p99


def _mmc_case(c: int, rho: float) -> dict[str, float]:
    lam = rho * c * MU_PER_SLOT
    return {
        "wait_probability": mmc_wait_probability(lam, MU_PER_SLOT, c),
        "mean_response_s": mmc_response_mean(lam, MU_PER_SLOT, c),
        "p95_response_s": mmc_response_quantile(lam, MU_PER_SLOT, c, 0.95),
        "p99_response_s": mmc_response_quantile(lam, MU_PER_SLOT, c, 0.99),
    }


def _timeout_case(lam: float, mu: float, c: int, tau_s: float) -> dict[str, float]:
    law = mmc_deterministic_patience(lam, mu, c, tau_s)
    return {
        "abandoned_share": law.abandon_probability,
        "mean_response_s": law.served_response_mean(),
        "p95_response_s": law.served_response_quantile(0.95),
        "p99_response_s": law.served_response_quantile(0.99),
        "mean_queue": law.mean_queue_length(),
    }


def _md1_case(rho: float) -> dict[str, float]:
    d = 1.0 / MU_PER_SLOT
    lam = rho / d
    return {
        "mean_response_s": pk_mean_response(lam, d, d * d),
        "p95_response_s": md1_response_quantile(lam, d, 0.95),
        "p99_response_s": md1_response_quantile(lam, d, 0.99),
    }


def _lognormal_mg1_case(rho: float, cv: float) -> dict[str, float]:
    m, m2 = lognormal_moments(1.0 / MU_PER_SLOT, cv)
    return {"mean_response_s": pk_mean_response(rho / m, m, m2)}


def _ps_case(slots: int, cores: int, lam: float) -> dict[str, float]:
    return {"mean_response_s": limited_ps_mm_mean_response(lam, MU_PER_SLOT, slots, cores)}


def _round_robin_case(n: int, c: int, rho: float) -> dict[str, float]:
    lam = rho * c * MU_PER_SLOT  # per replica
    law = erlang_arrivals_mmc(n, lam, MU_PER_SLOT, c)
    return {
        "mean_response_s": law.response_mean(),
        "p95_response_s": law.response_quantile(0.95),
        "p99_response_s": law.response_quantile(0.99),
    }


def _random_case(c: int, rho: float) -> dict[str, float]:
    # A random split of a Poisson stream is N independent Poisson streams: M/M/c per replica.
    return _mmc_case(c, rho)


def _pooled_case(n: int, c: int, rho: float) -> dict[str, float]:
    return _mmc_case(n * c, rho)


def _transient_case(rho: float, c: int, hours: float = 1.0) -> dict[str, float]:
    lam = rho * c * MU_PER_SLOT
    horizon = 3600.0 * hours
    # Truncation: K ≈ the mean plus ten spreads of the reflected walk, checked by mmc_transient.
    spread = math.sqrt((lam + c * MU_PER_SLOT) * horizon)
    k_max = c + int(max(0.0, lam - c * MU_PER_SLOT) * horizon + 10 * spread)
    law = mmc_transient(lam, MU_PER_SLOT, c, [horizon], k_max=k_max)
    return {
        "mean_response_at_end_s": float(law.response_of_arrival_s()[-1]),
        "mean_response_average_s": float(law.response_of_arrival_average_s()[-1]),
        "mean_in_system_at_end": float(law.mean_in_system[-1]),
    }


def _build_cases() -> dict[str, Callable[[], dict[str, float]]]:
    cases: dict[str, Callable[[], dict[str, float]]] = {}
    for c in (1, 4, 16):
        for rho in (0.3, 0.6, 0.8, 0.9, 0.95):
            cases[f"mmc/c={c}/rho={rho}"] = partial(_mmc_case, c, rho)
    for lam, mu, c, tau in (
        (9.5, 10.0, 1, 1.0),
        (38.0, 10.0, 4, 0.5),
        (15.0, 10.0, 1, 1.0),
        (60.0, 10.0, 4, 0.5),
    ):
        cases[f"timeout/lam={lam}/mu={mu}/c={c}/tau={tau}"] = partial(
            _timeout_case, lam, mu, c, tau
        )
    for rho in (0.6, 0.9):
        cases[f"md1/rho={rho}"] = partial(_md1_case, rho)
        cases[f"lognormal_mg1/cv=2/rho={rho}"] = partial(_lognormal_mg1_case, rho, 2.0)
    cases["ps/slots=4/cores=1/lam=3"] = partial(_ps_case, 4, 1, 3.0)
    for rho in (0.6, 0.9):
        cases[f"ps/slots=64/cores=1/rho={rho}"] = partial(_ps_case, 64, 1, rho * MU_PER_SLOT)
    for n in (4, 16):
        for c in (1, 4):
            for rho in (0.6, 0.9):
                suffix = f"n={n}/c={c}/rho={rho}"
                cases[f"routing/round_robin/{suffix}"] = partial(_round_robin_case, n, c, rho)
                cases[f"routing/random/{suffix}"] = partial(_random_case, c, rho)
                cases[f"routing/pooled/{suffix}"] = partial(_pooled_case, n, c, rho)
    for c in (1, 4):
        for rho in (0.999, 1.0):
            cases[f"transient/c={c}/rho={rho}/1h"] = partial(_transient_case, rho, c)
    return cases


REFERENCE_CASES: dict[str, Callable[[], dict[str, float]]] = _build_cases()
"""Named cases of the accuracy table (design note §4.3), each a zero-argument function
returning ``{metric: reference value}`` (seconds, shares). μ = 10/s per slot throughout;
``rho`` is per replica (``λ = ρ·c·μ`` per replica; the total is ``N`` times that). Routing
"random" is M/M/c per replica exactly (a random split of Poisson is Poisson); JSQ and
power-of-two have no closed form and are absent (ciw only). Transient cases take seconds."""


@cache
def _cached_values(case: str) -> tuple[tuple[str, float], ...]:
    return tuple(REFERENCE_CASES[case]().items())


def reference_values(case: str) -> dict[str, float]:
    """Reference metrics of a named case (see :data:`REFERENCE_CASES` for the names);
    computed once per process, a fresh dict each call."""
    if case not in REFERENCE_CASES:
        raise KeyError(f"unknown reference case {case!r}; known: {sorted(REFERENCE_CASES)}")
    return dict(_cached_values(case))
