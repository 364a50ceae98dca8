"""Hypothesis strategies for HPA behaviors, shared by the property and equivalence tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from capsim import hpa

PERIODS = st.one_of(st.sampled_from([15, 30, 45, 60, 90, 120, 300, 600]), st.integers(1, 900))
WINDOWS = st.one_of(st.sampled_from([0, 15, 30, 60, 120, 300]), st.integers(0, 900))
SELECTS = st.sampled_from(["Max", "Min", "Disabled"])


def policy_specs(up: bool) -> st.SearchStrategy[dict[str, Any]]:
    percent = st.integers(1, 400) if up else st.one_of(st.integers(1, 100), st.integers(101, 150))
    return st.one_of(
        st.fixed_dictionaries(
            {"type": st.just("Pods"), "value": st.integers(1, 12), "periodSeconds": PERIODS}
        ),
        st.fixed_dictionaries(
            {"type": st.just("Percent"), "value": percent, "periodSeconds": PERIODS}
        ),
    )


def rules_specs(up: bool, max_policies: int = 3) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "stabilizationWindowSeconds": WINDOWS,
            "selectPolicy": SELECTS,
            "policies": st.lists(policy_specs(up), min_size=1, max_size=max_policies),
        },
    )


def behavior_from(spec: dict[str, Any]) -> hpa.Behavior:
    behavior = hpa.Behavior.from_spec(spec)
    assert behavior is not None
    return behavior


BEHAVIOR_SPECS = st.fixed_dictionaries(
    {}, optional={"scaleUp": rules_specs(up=True), "scaleDown": rules_specs(up=False)}
)
BEHAVIORS: st.SearchStrategy[hpa.Behavior] = BEHAVIOR_SPECS.map(behavior_from)
MAYBE_BEHAVIORS: st.SearchStrategy[hpa.Behavior | None] = st.one_of(st.none(), BEHAVIORS)


def lopsided_rules(short: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Rules whose periods are all short (loose limits) or all long (tight limits)."""
    period = st.integers(10, 45) if short else st.integers(120, 900)
    value = st.integers(5, 50) if short else st.integers(1, 3)
    return st.fixed_dictionaries(
        {
            "stabilizationWindowSeconds": st.sampled_from([0, 0, 15, 30]),
            "selectPolicy": st.sampled_from(["Max", "Min"]),
            "policies": st.lists(
                st.builds(
                    lambda v, p: {"type": "Pods", "value": v, "periodSeconds": p}, value, period
                ),
                min_size=1,
                max_size=2,
            ),
        }
    )


# One direction keeps its events much longer than the other, so the other direction's
# list reuses stale slots this one still counts: which stale entry is overwritten shows.
LOPSIDED: st.SearchStrategy[hpa.Behavior] = st.one_of(
    st.builds(
        lambda up, down: {"scaleUp": up, "scaleDown": down},
        lopsided_rules(short=True),
        lopsided_rules(short=False),
    ),
    st.builds(
        lambda up, down: {"scaleUp": up, "scaleDown": down},
        lopsided_rules(short=False),
        lopsided_rules(short=True),
    ),
).map(behavior_from)
