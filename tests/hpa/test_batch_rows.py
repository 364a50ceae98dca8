"""The compiled row-by-row sync (``capsim.hpa.batch_rows.reconcile_rows``) against the
scalar controller (``hpa.reconcile``, which follows upstream's ``horizontal.go``) and the
NumPy batch form (``hpa.reconcile_batch``): same replicas, reason, metric proposal and
stabilized recommendation at every sync, and the same history content (recommendations
as a set; scale events in upstream list order), over random fleets of behaviors,
bounds, irregular sync times, failing metrics and outside resizes.
"""

from __future__ import annotations

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st
from test_vectorized import LOPSIDED_BEHAVIORS as LOPSIDED
from test_vectorized import Fleet, fleet_params, fleets, random_proposals

from capsim import hpa
from capsim.engine.kubernetes.hpa_controller import compiled_hpa_rows
from capsim.hpa import batch_rows as rows


def _recommendations(history: hpa.BatchHistory, i: int) -> list[tuple[float, int]]:
    used = ~np.isnan(history.rec_time[i])
    return sorted(zip(history.rec_time[i][used], history.rec_value[i][used], strict=True))


@settings(max_examples=250, deadline=None)
@given(fleet=st.one_of(fleets(), fleets(LOPSIDED)))
def test_reconcile_rows_equals_scalar_and_batch(fleet: Fleet) -> None:
    n = len(fleet.behaviors)
    rng = np.random.default_rng(fleet.seed)
    params = fleet_params(fleet)
    mins = np.array(fleet.min_replicas, dtype=np.int64)
    maxs = np.array(fleet.max_replicas, dtype=np.int64)
    config_int, config_float, policies = rows.pack_config(params, mins, maxs)
    packed = rows.PackedHistory(params, sync_period_s=fleet.sync_period_s)
    batch_history = hpa.BatchHistory.for_behavior(params, sync_period_s=fleet.sync_period_s)
    histories = [hpa.HpaHistory() for _ in range(n)]
    reconcile_rows = compiled_hpa_rows()["reconcile_rows"]
    out = np.zeros((n, rows.OUT_FIELDS), dtype=np.int64)
    current = np.array(fleet.initial, dtype=np.int64)
    for now in fleet.times:
        nudge = rng.integers(0, 100, size=n) < fleet.nudge_percent
        current = np.where(nudge, rng.integers(0, maxs + 6), current)
        proposals = random_proposals(rng, current, maxs, fleet.metrics)
        ok = rng.integers(0, 100, size=proposals.shape) >= fleet.error_percent
        code = reconcile_rows(
            current, np.where(ok, proposals, -1), config_int, config_float, policies,
            packed.recommendations, packed.events, packed.lengths, now, out,
        )  # fmt: skip
        assert code == 0
        batch = hpa.reconcile_batch(
            current, proposals, ok, min_replicas=mins, max_replicas=maxs, params=params,
            history=batch_history, now=now,
        )  # fmt: skip
        batch_history = batch.history
        for i in range(n):
            want = hpa.reconcile(
                int(current[i]),
                [
                    int(p) if g else hpa.MetricsError("x")
                    for p, g in zip(proposals[i], ok[i], strict=True)
                ],
                min_replicas=fleet.min_replicas[i],
                max_replicas=fleet.max_replicas[i],
                behavior=fleet.behaviors[i],
                history=histories[i],
                now=now,
                downscale_stabilization_s=fleet.flag,
                scale_up_limit_factor=fleet.factor,
                scale_up_limit_minimum=fleet.minimum,
            )
            histories[i] = want.history
            event(f"reconcile: {want.reason}")
            context = f"row {i} at {now}: {fleet.behaviors[i]}, {want}, out {out[i]}"
            assert out[i, rows.O_REPLICAS] == want.replicas, context
            assert hpa.REASONS[out[i, rows.O_REASON]] == want.reason, context
            assert bool(out[i, rows.O_NORMALIZED]) == (want.metric_replicas is not None), context
            if want.metric_replicas is not None:
                assert out[i, rows.O_METRIC] == want.metric_replicas, context
                assert out[i, rows.O_STABILIZED] == want.stabilized, context
        unpacked = packed.unpacked()
        for i in range(n):
            assert _recommendations(unpacked, i) == _recommendations(batch_history, i)
        for name in ("up_len", "down_len"):
            assert np.array_equal(getattr(unpacked, name), getattr(batch_history, name))
        for times, changes, length in (
            ("up_time", "up_change", "up_len"),
            ("down_time", "down_change", "down_len"),
        ):
            for i in range(n):
                used = int(getattr(batch_history, length)[i])
                for field in (times, changes):
                    assert np.array_equal(
                        getattr(unpacked, field)[i, :used], getattr(batch_history, field)[i, :used]
                    ), (field, i)
        current = out[:, rows.O_REPLICAS].copy()


def test_a_full_history_is_an_error_not_a_silent_loss() -> None:
    """Histories sized for a slower sync than the one run overflow: the code says so."""
    params = hpa.BatchBehavior.from_behaviors([None])
    packed = rows.PackedHistory(params, sync_period_s=300.0)  # 1 + 2 slots for 300 s
    config_int, config_float, policies = rows.pack_config(params, np.array([1]), np.array([10]))
    out = np.zeros((1, rows.OUT_FIELDS), dtype=np.int64)
    reconcile_rows = compiled_hpa_rows()["reconcile_rows"]
    codes = [
        reconcile_rows(
            np.array([3]),
            np.array([[3]]),
            config_int,
            config_float,
            policies,
            packed.recommendations,
            packed.events,
            packed.lengths,
            float(t),
            out,
        )
        for t in range(0, 300, 15)
    ]
    assert codes[:2] == [0, 0]  # 3 slots: the seed and the first two syncs fill them
    assert rows.ERR_RECOMMENDATIONS_FULL in codes
    assert "history is full" in rows.ERRORS[rows.ERR_RECOMMENDATIONS_FULL]
