"""The expected service model (:func:`capsim.models.service.service_tick`) against
independent references: Erlang C, the M/M/c+D closed form (``tests/reference/queues.py``),
processor sharing by Little's law, E_N/M/1 for round robin, and live Ciw runs for an
overload followed by recovery. Never against capsim's own formulas.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import ciw
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import ciw_general as cg
from reference import ciw_models
from reference import queues as ref

from capsim.engine.warm import MAX_SETTLE_STEPS
from capsim.fastpath.kernel import WARM_SETTLE_STEPS
from capsim.models import service as sv
from capsim.models.queueing import ResponseTimeDistribution
from capsim.results.latency import LatencyMixture
from capsim.scenario import service_laws
from capsim.scenario.service_laws import least_request_law

MU = 10.0  # 100 ms of CPU per request


def run(
    rates: list[float],
    replicas: list[float],
    *,
    dt: float = 1.0,
    cpu_s: float = 1.0 / MU,
    slots: float = 1.0,
    cores: float = 1.0,
    tau: float = 30.0,
    routing: str = "random",
    warm: bool = True,
    scv: float = 1.0,
    arrival_scv: float = 1.0,
    queue_limit: float = math.inf,
) -> tuple[np.ndarray, np.ndarray]:
    """Step one service; check conservation at every tick; return (outputs, in-system)."""
    state = np.zeros(sv.STATE_FIELDS)
    ring = np.zeros(sv.ring_length(tau, dt))
    params = sv.service_params(
        dt, cpu_s, slots, cores, tau, routing=sv.ROUTING[routing], work_scv=scv,
        arrival_scv=arrival_scv, queue_limit=queue_limit,
    )  # fmt: skip

    def law(replicas: float) -> np.ndarray:
        return least_request_law(replicas, min(slots, cores), sv.ROUTING[routing])

    if warm:  # warm replicas: the first tick's load has lasted for long (the engine's start)
        sv.warm_up(rates[0], replicas[0], params, law(replicas[0]), state, ring)
    outs, inside = [], []
    arrived = 0.0
    settled = -(state[sv.S_BACKLOG] + state[sv.S_QUEUED] + state[sv.S_PENDING] + state[sv.S_BUSY])
    for lam, r in zip(rates, replicas, strict=True):
        out = np.zeros(sv.OUT_FIELDS)
        sv.service_tick(lam, r, params, law(r), state, ring, out)
        arrived += lam * dt
        settled += out[sv.O_SERVED] + out[sv.O_DROPPED] + out[sv.O_ABANDONED]
        in_system = (
            state[sv.S_BACKLOG] + state[sv.S_QUEUED] + state[sv.S_PENDING] + state[sv.S_BUSY]
        )
        assert arrived == pytest.approx(settled + in_system, rel=1e-9, abs=1e-9)
        assert out[sv.O_SERVED] <= out[sv.O_CAPACITY] * dt * (1 + 1e-12)
        assert min(out[sv.O_SERVED], out[sv.O_DROPPED], out[sv.O_ABANDONED]) >= 0
        outs.append(out)
        inside.append(in_system)
    return np.array(outs), np.array(inside)


def mixture(outs: np.ndarray) -> LatencyMixture:
    law = ResponseTimeDistribution(
        outs[:, sv.O_FIXED],
        outs[:, sv.O_WAIT_P],
        outs[:, sv.O_WAIT_RATE],
        outs[:, sv.O_MU],
        outs[:, sv.O_WAIT_LIMIT],
        outs[:, sv.O_SHARE2],
        outs[:, sv.O_MU2],
    )
    return LatencyMixture.of(law, outs[:, sv.O_SERVED])


@pytest.mark.parametrize("c", [1, 4, 16])
@pytest.mark.parametrize("rho", [0.3, 0.6, 0.8, 0.9, 0.95])
@pytest.mark.parametrize("dt", [1.0, 60.0])
def test_stationary_mmc_equals_erlang_c(c: int, rho: float, dt: float) -> None:
    """Two replicas of c slots on c cores under a steady load: each an M/M/c at λ/2."""
    lam = rho * 2 * c * MU
    outs, _ = run([lam] * 200, [2.0] * 200, dt=dt, slots=c, cores=c, tau=1e4)
    m = mixture(outs[50:])
    per = lam / 2
    assert m.mean_s() == pytest.approx(ref.mmc_response_mean(per, MU, c), rel=0.02)
    for q in (0.95, 0.99):
        assert m.quantile_s(q) == pytest.approx(ref.mmc_response_quantile(per, MU, c, q), rel=0.02)


@pytest.mark.parametrize(
    ("lam", "c", "tau"), [(9.5, 1, 1.0), (38.0, 4, 0.5), (15.0, 1, 1.0), (60.0, 4, 0.5)]
)
def test_timeout_is_mmc_plus_d(lam: float, c: int, tau: float) -> None:
    """A waiting request abandons at τ: the abandoned share and the served response time
    are those of M/M/c+D (also in overload, where the timeout keeps the queue stable)."""
    law = ref.mmc_deterministic_patience(lam, MU, c, tau)
    outs, _ = run([lam] * 3000, [1.0] * 3000, slots=c, cores=c, tau=tau)
    steady = outs[1000:]
    share = steady[:, sv.O_ABANDONED].sum() / (lam * len(steady))
    m = mixture(steady)
    if lam < c * MU:  # the stationary regime carries the closed form exactly
        assert share == pytest.approx(law.abandon_probability, rel=0.02)
        assert m.mean_s() == pytest.approx(law.served_response_mean(), rel=0.02)
        for q in (0.95, 0.99):
            assert m.quantile_s(q) == pytest.approx(law.served_response_quantile(q), rel=0.02)
    else:  # overload: the fluid queue sits at τ of work (every served request waits ~τ)
        assert share == pytest.approx(law.abandon_probability, rel=0.05)
        assert m.quantile_s(0.99) == pytest.approx(law.served_response_quantile(0.99), rel=0.10)
    # no served request waits beyond τ
    assert (steady[:, sv.O_FIXED] + steady[:, sv.O_WAIT_LIMIT] <= tau + 1e-12).all()


def _ciw_overload(seed: int) -> tuple[int, int, float]:
    """Ciw: M/M/1, μ 10, λ 15 for 300 s then 5, patience 10 s. (abandoned, waiting at
    300 s, drain: seconds after 300 s until the last request queued at 300 s starts)."""
    ciw.seed(seed)
    network = ciw.create_network(
        arrival_distributions=[
            ciw.dists.PoissonIntervals(
                rates=[15.0, 5.0], endpoints=[300.0, 500.0], max_sample_date=500.0
            )
        ],
        service_distributions=[ciw.dists.Exponential(MU)],
        number_of_servers=[1],
        reneging_time_distributions=[ciw.dists.Deterministic(10.0)],
    )
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(500.0)
    records = sim.get_all_records()
    abandoned = sum(1 for r in records if r.record_type == "renege")
    intervals = []  # each request's wait: [arrival, service start or abandonment)
    for r in records:
        start = r.exit_date if r.record_type == "renege" else r.service_start_date
        intervals.append((r.arrival_date, start))
    for ind in sim.nodes[1].all_individuals:  # still waiting at the end
        intervals.append((ind.arrival_date, math.inf))
    waiting = sum(1 for a, b in intervals if a <= 300.0 < b)
    # the first instant after 300 s with nobody waiting
    events = sorted(
        [(a, 1) for a, b in intervals if b > 300.0] + [(b, -1) for a, b in intervals if b > 300.0]
    )
    count, drain = 0, math.inf
    for time_s, change in events:
        count += change
        if time_s >= 300.0 and count == 0:
            drain = time_s - 300.0
            break
    return abandoned, waiting, drain


def test_overload_then_recovery_against_ciw() -> None:
    ciw_runs = np.array([_ciw_overload(seed) for seed in range(8)], dtype=float)
    outs, _ = run([15.0] * 300 + [5.0] * 200, [1.0] * 500, tau=10.0, warm=False)
    abandoned = outs[:, sv.O_ABANDONED].sum()
    waiting = outs[299, sv.O_QUEUED]
    after = outs[300:, sv.O_FIXED]
    drain = float(np.argmax(after <= 0.0))  # ticks until the fluid backlog is gone
    mean = ciw_runs.mean(axis=0)
    half = 2.4 * ciw_runs.std(axis=0, ddof=1) / math.sqrt(len(ciw_runs))
    assert abs(abandoned - mean[0]) <= 0.05 * mean[0] + half[0]
    assert abs(waiting - mean[1]) <= 0.05 * mean[1] + half[1]
    assert abs(drain - mean[2]) <= 0.05 * mean[2] + half[2] + 1.0  # one 1-s tick
    # served waits never exceed the timeout (fixed wait + the spread's limit)
    assert (outs[:, sv.O_FIXED] + outs[:, sv.O_WAIT_LIMIT] <= 10.0 + 1e-9).all()


def test_processor_sharing_mean_is_little() -> None:
    """4 slots on 1 core, λ 3/s, 100 ms: the number in system is M/M/1's, so the mean
    response is 1/(μ − λ) = 142.9 ms (c slow servers gave 405 ms)."""
    outs, _ = run([3.0] * 100, [1.0] * 100, slots=4, cores=1)
    expected = ref.limited_ps_mm_mean_response(3.0, MU, 4, 1)
    assert mixture(outs[10:]).mean_s() == pytest.approx(expected, rel=0.02)


def test_pooled_routing_is_one_queue() -> None:
    outs, _ = run([144.0] * 100, [16.0] * 100, routing="pooled", tau=1e4)
    m = mixture(outs[10:])
    assert m.mean_s() == pytest.approx(ref.pooled_response_mean(16, 144.0, MU, 1), rel=0.02)
    assert m.quantile_s(0.99) == pytest.approx(
        ref.pooled_response_quantile(16, 144.0, MU, 1, 0.99), rel=0.02
    )


def test_round_robin_against_erlang_arrivals() -> None:
    """Round robin over 16 replicas at ρ 0.9: each replica sees Erlang-16 gaps (E16/M/1,
    548 ms). capsim's Allen–Cunneen scaling is an approximation: within 10 % (README)."""
    outs, _ = run([144.0] * 100, [16.0] * 100, routing="round_robin", tau=1e4)
    exact = ref.round_robin_response_mean(16, 144.0, MU)
    got = mixture(outs[10:]).mean_s()
    assert got == pytest.approx(exact, rel=0.10)
    random_mean = mixture(run([144.0] * 100, [16.0] * 100, tau=1e4)[0][10:]).mean_s()
    assert got < random_mean  # round robin beats random routing


def test_no_replica_drops_everything_queued() -> None:
    outs, _ = run([30.0] * 5 + [30.0] * 3, [1.0] * 5 + [0.0] * 3, tau=10.0)
    assert outs[5:, sv.O_SERVED].sum() == 0
    assert outs[5, sv.O_DROPPED] >= 30.0
    assert math.isnan(outs[5, sv.O_FIXED])


def test_warm_settle_steps_agree() -> None:
    assert WARM_SETTLE_STEPS == MAX_SETTLE_STEPS


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.tuples(st.floats(0, 80), st.integers(0, 6)), min_size=1, max_size=60),
    slots=st.integers(1, 4),
    cpu_s=st.sampled_from([0.01, 0.1, 2.0, 30.0]),
    cores=st.sampled_from([0.5, 1.0, 1.5, 2.0, 4.0]),
    tau=st.sampled_from([0.3, 1.0, 5.0, 30.0]),
    dt=st.sampled_from([0.5, 1.0, 15.0]),
    routing=st.sampled_from(
        ["random", "round_robin", "pooled", "least_request", "join_shortest_queue"]
    ),
    queue_limit=st.sampled_from([math.inf, 0.0, 2.0, 50.0]),
    arrival_scv=st.sampled_from([0.0, 1.0, 4.0]),
)
def test_conservation_and_bounds(
    steps: list[tuple[float, int]],
    slots: int,
    cpu_s: float,
    cores: float,
    tau: float,
    dt: float,
    routing: str,
    queue_limit: float,
    arrival_scv: float,
) -> None:
    """Arrivals = served + dropped + abandoned + in system after every tick (checked in
    :func:`run`); served never above capacity; no served wait beyond τ; CPU ≤ the limit;
    a queue limit holds."""
    rates = [lam for lam, _ in steps]
    replicas = [float(r) for _, r in steps]
    outs, inside = run(
        rates, replicas, dt=dt, cpu_s=cpu_s, slots=slots, cores=cores, tau=tau, routing=routing,
        queue_limit=queue_limit, arrival_scv=arrival_scv,
    )  # fmt: skip
    assert (outs[:, sv.O_SERVED] >= 0).all()
    assert (inside >= -1e-9).all()
    served = outs[:, sv.O_SERVED] > 0
    waits = outs[served, sv.O_FIXED] + outs[served, sv.O_WAIT_LIMIT]
    assert (waits <= tau * (1 + 1e-12)).all()
    assert (outs[:, sv.O_CPU] <= cores + 1e-12).all()


@pytest.mark.parametrize("rho", [1.0, 0.999])
def test_growth_from_empty_follows_the_exact_chain(rho: float) -> None:
    """M/M/1 from empty at ρ ≈ 1 for an hour (no timeout): the mean response of a request
    arriving at 1 h, and averaged over the hour, within 2 % of the exact CTMC (the
    stationary formula would say 100 ms at ρ = 1 and 100 s at ρ = 0.999)."""
    exact = ref.mmc_transient(rho * MU, MU, 1, [3600.0], k_max=3000)
    outs, _ = run([rho * MU] * 3600, [1.0] * 3600, tau=1e4, warm=False)
    last = mixture(outs[-1:]).mean_s()
    hour = mixture(outs).mean_s()
    assert last == pytest.approx(float(exact.response_of_arrival_s()[-1]), rel=0.02)
    assert hour == pytest.approx(float(exact.response_of_arrival_average_s()[-1]), rel=0.02)


def test_readme_accuracy_table_is_the_scripts_output() -> None:
    """The README's accuracy table is what ``scripts/accuracy_table.py`` prints (the fast
    sections are recomputed here; the transient and Ciw rows by the tests above and by
    ``tests/test_reference_queues.py``)."""
    import importlib.util

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location(
        "accuracy_table", root / "scripts" / "accuracy_table.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    readme = (root / "README.md").read_text(encoding="utf-8")
    for rows in (module.mmc_rows(), module.timeout_rows(), module.routing_rows()):
        for line in rows:
            assert line in readme, line


@pytest.mark.parametrize("rho", [0.3, 0.6, 0.9])
@pytest.mark.parametrize(("scv", "second_moment"), [(0.0, 0.01), (0.25, 0.0125)])
def test_mg1_mean_is_pollaczek_khinchine(rho: float, scv: float, second_moment: float) -> None:
    """One slot on one core with deterministic work (or cv 0.5): the mean response is
    Pollaczek–Khinchine's exactly (E[S] = 100 ms, E[S²] = 0.01 or 0.0125 s²)."""
    lam = rho * MU
    outs, _ = run([lam] * 100, [1.0] * 100, tau=1e4, scv=scv)
    assert mixture(outs).mean_s() == pytest.approx(
        ref.pk_mean_response(lam, 0.1, second_moment), rel=0.005
    )


def test_work_shape_fields() -> None:
    """A cv above 1 is a valid shape (the scenario refuses it under the expected model
    and takes it under the exact one: tests/engine/test_exact_engine.py); a lognormal or
    gamma needs its cv; deterministic work has none."""
    from pydantic import ValidationError

    from capsim.scenario import ServiceTime

    assert ServiceTime(distribution="lognormal", cv=2.0).scv == 4.0
    with pytest.raises(ValidationError, match="less than or equal to 10"):
        ServiceTime(distribution="lognormal", cv=11.0)
    with pytest.raises(ValidationError, match="needs its cv"):
        ServiceTime(distribution="gamma")
    assert ServiceTime(distribution="deterministic").scv == 0.0


def test_in_flight_follows_a_falling_load() -> None:
    """10 replicas of one slot, the load falling slowly from 50 to 20 req/s: requests in
    flight stay at the M/M/1 level of each moment, ρ/(1 − ρ) per replica (Little), not at
    the busy level of a draining queue."""
    rates = list(np.linspace(50.0, 20.0, 600))
    outs, _ = run(rates, [10.0] * 600)
    for tick in (100, 300, 500, 599):
        rho = rates[tick] / 10 / MU
        assert outs[tick, sv.O_IN_FLIGHT] / 10 == pytest.approx(rho / (1 - rho), rel=0.05)


def test_a_sub_core_limit_slows_each_request() -> None:
    """One slot on a 250m limit, 65 ms of CPU per request: a request alone runs at a
    quarter core, so the replica is an M/M/1 with rate 0.25/0.065 s⁻¹ and the mean
    response is 1/(μ − λ) (not the full-core 65 ms plus a wait)."""
    mu = 0.25 / 0.065
    outs, _ = run([2.0] * 50, [1.0] * 50, cpu_s=0.065, cores=0.25, tau=1e4)
    assert mixture(outs).mean_s() == pytest.approx(1 / (mu - 2.0), rel=0.005)
    in_flight = outs[-1, sv.O_IN_FLIGHT]
    assert in_flight == pytest.approx((2.0 / mu) / (1 - 2.0 / mu), rel=0.005)


@pytest.mark.parametrize("c", [1, 4])
@pytest.mark.parametrize("held", [0, 1, 5, 20])
@pytest.mark.parametrize("rho", [0.5, 0.9, 1.2])
def test_queue_limit_against_mm_c_k(c: int, held: int, rho: float) -> None:
    """A queue of ``held`` places in front of c slots (timeout far away): the refused
    share and the mean response are the exact M/M/c/K's; the p99 within −6 … +8 %
    (the wait's shape is the model's truncated exponential: README, accuracy table)."""
    lam = rho * c * MU
    refused, mean, p99 = ref.mmck(lam, MU, c, held)
    outs, _ = run([lam] * 50, [1.0] * 50, slots=c, cores=c, tau=1e4, queue_limit=float(held))
    arrived = lam * len(outs)
    assert outs[:, sv.O_DROPPED].sum() / arrived == pytest.approx(refused, rel=1e-9, abs=1e-15)
    assert outs[:, sv.O_ABANDONED].sum() == 0.0
    m = mixture(outs)
    assert m.mean_s() == pytest.approx(mean, rel=1e-6)
    assert -0.065 <= m.quantile_s(0.99) / p99 - 1.0 <= 0.08


def test_queue_limit_bounds_the_queue_in_overload() -> None:
    """Three times the capacity on 4 replicas holding 10 requests each: what exceeds the
    capacity is refused at once (nothing abandons), and the waiting requests never exceed
    the 40 places by more than the stationary law's own queue."""
    outs, inside = run([3 * 4 * MU] * 120, [4.0] * 120, tau=30.0, queue_limit=10.0)
    steady = outs[20:]
    assert outs[:, sv.O_ABANDONED].sum() == 0.0
    refused = steady[:, sv.O_DROPPED].sum() / (3 * 4 * MU * len(steady))
    assert refused == pytest.approx(2.0 / 3.0, rel=0.02)
    assert (steady[:, sv.O_QUEUED] <= 40.0 + 1e-9).all()
    assert (inside[20:] <= 40.0 + 4.0 + 1e-9).all()


@pytest.mark.parametrize("routing", ["random", "round_robin", "pooled"])
@pytest.mark.parametrize("dispersion", [1.0, 2.0, 4.0, 10.0])
@pytest.mark.parametrize(("c", "rho"), [(1, 0.6), (1, 0.9), (4, 0.6), (4, 0.9)])
def test_bursty_arrivals_against_exact_gi_m_c(
    routing: Literal["random", "round_robin", "pooled"], dispersion: float, c: int, rho: float
) -> None:
    """Arrivals a renewal stream whose gaps have squared coefficient of variation
    ``dispersion`` (balanced two-phase hyperexponential), 4 replicas of c slots: each
    routed unit is an exact GI/M/c (the Markov chain over the gap's phases in
    ``tests/reference/ciw_general.py``). Mean, p95 and p99 of the response within 5.1 %
    (the worst case, pooled over 16 slots at dispersion 10, is +5.0 % on the mean)."""
    replicas = 4
    lam = rho * c * MU * replicas
    unit = c * replicas if routing == "pooled" else c
    exact = cg.gim_c_exact(cg.routed_stream(routing, replicas, lam, dispersion), MU, unit)
    outs, _ = run(
        [lam] * 30, [float(replicas)] * 30, slots=c, cores=c, tau=1e4, routing=routing,
        arrival_scv=dispersion,
    )  # fmt: skip
    m = mixture(outs)
    assert m.mean_s() == pytest.approx(exact.response_mean(), rel=0.051)
    assert m.quantile_s(0.95) == pytest.approx(exact.response_quantile(0.95), rel=0.051)
    assert m.quantile_s(0.99) == pytest.approx(exact.response_quantile(0.99), rel=0.051)


@pytest.mark.parametrize(
    ("kind", "cv", "scv"),
    [("deterministic", 1.0, 0.0), ("lognormal", 0.5, 0.25), ("gamma", 0.5, 0.25)],
)
@pytest.mark.parametrize("rho", [0.3, 0.6, 0.9])
def test_one_slot_with_general_work_against_the_exact_mg1(
    kind: Literal["deterministic", "lognormal", "gamma"], cv: float, scv: float, rho: float
) -> None:
    """One slot on one core, Poisson arrivals, work deterministic or of cv 0.5: the mean
    response is Pollaczek–Khinchine's and p95/p99 within 5 % of the exact M/G/1 law
    (Erlang's M/D/1 distribution; Beneš's formula on a grid for lognormal and gamma, in
    ``tests/reference/ciw_general.py``). The model's waits decay at the exact
    Cramér–Lundberg rate of its work law; the worst case is gamma at ρ 0.3, +4.5 % on p99."""
    lam = rho * MU
    if kind == "deterministic":
        reference = (
            ref.pk_mean_response(lam, 1 / MU, 1 / MU**2),
            ref.md1_response_quantile(lam, 1 / MU, 0.95),
            ref.md1_response_quantile(lam, 1 / MU, 0.99),
        )
    else:
        law = cg.mg1_response_law(lam, ciw_models.Service(kind, 1 / MU, cv), points=1 << 19)
        reference = (law.response_mean, law.response.quantile(0.95), law.response.quantile(0.99))
    outs, _ = run([lam] * 30, [1.0] * 30, tau=1e4, scv=scv)
    m = mixture(outs)
    assert m.mean_s() == pytest.approx(reference[0], rel=1e-6)
    assert m.quantile_s(0.95) == pytest.approx(reference[1], rel=0.05)
    assert m.quantile_s(0.99) == pytest.approx(reference[2], rel=0.05)


@pytest.mark.parametrize("routing", ["random", "round_robin", "pooled"])
@pytest.mark.parametrize(("c", "rho"), [(1, 0.6), (1, 0.9), (4, 0.6), (4, 0.9)])
def test_deterministic_work_under_each_routing(
    routing: Literal["random", "round_robin", "pooled"], c: int, rho: float
) -> None:
    """Deterministic work on 4 replicas of c slots against a per-request FCFS recursion
    (``tests/reference/ciw_general.py``, exact in law for these routings): random and
    pooled within 5 % (plus the reference's 95 % half-width) on mean, p95 and p99; round
    robin, whose regular arrivals the Allen–Cunneen factor over-states, on the slow side
    by at most 15 % (README, accuracy table)."""
    lam = rho * c * MU * 4
    ref_ = cg.fcfs_response(
        routing, 4, lam, ciw_models.Service("deterministic", 1 / MU, 1.0), c,
        replications=4, customers=200_000, warmup_customers=20_000,
    )  # fmt: skip
    outs, _ = run([lam] * 30, [4.0] * 30, slots=c, cores=c, tau=1e4, routing=routing, scv=0.0)
    m = mixture(outs)
    for got, estimate in (
        (m.mean_s(), ref_.mean),
        (m.quantile_s(0.95), ref_.p95),
        (m.quantile_s(0.99), ref_.p99),
    ):
        error = got / estimate.mean - 1.0
        slack = estimate.half_width / estimate.mean
        if routing == "round_robin":
            assert -0.01 - slack <= error <= 0.15 + slack
        else:
            assert abs(error) <= 0.05 + slack


def test_least_request_tables_are_bounded_and_err_on_the_slow_side() -> None:
    """Above LAW_MAX_REPLICAS replicas the table of that many is used (a table costs time
    linear in the replicas), and its waits are no shorter than the law's at the real
    count: power-of-two choices at 512 replicas, ρ 0.9."""
    cap = service_laws.LAW_MAX_REPLICAS
    big = least_request_law(512.0, 1.0, sv.ROUTING["least_request"])
    assert big is least_request_law(float(cap), 1.0, sv.ROUTING["least_request"])
    lam = 0.9 * 512 * MU
    p, wait = service_laws._compiled()["least_request_wait"](lam, 512.0, 1.0, MU, 2.0)
    outs, _ = run([lam] * 20, [512.0] * 20, tau=1e4, routing="least_request")
    assert mixture(outs).mean_s() >= (1 / MU + p * wait) * (1 - 1e-9)
