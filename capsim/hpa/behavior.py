"""``spec.behavior`` of an ``autoscaling/v2`` HPA, defaulted exactly as the API server does.

Upstream: ``pkg/apis/autoscaling/v2/defaults.go`` (``GenerateHPAScaleUpRules``,
``GenerateHPAScaleDownRules``, ``copyHPAScalingRules``) and the validation rules of
``pkg/apis/autoscaling/validation``. A missing ``behavior`` stays ``None`` (the legacy
controller path); a partial one is merged field by field with the defaults:

* scaleUp: window 0 s, selectPolicy Max, policies Pods 4 / 15 s and Percent 100 % / 15 s;
* scaleDown: window unset (the controller uses its 300 s flag), selectPolicy Max,
  policy Percent 100 % / 15 s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal, cast

from capsim.hpa.quantity import approximate_float64

__all__ = [
    "MAX_PERIOD_S",
    "MAX_STABILIZATION_WINDOW_S",
    "Behavior",
    "ScalingPolicy",
    "ScalingRules",
    "format_tolerance",
]

PolicyType = Literal["Pods", "Percent"]
SelectPolicy = Literal["Max", "Min", "Disabled"]

MAX_PERIOD_S = 1800
"""Largest ``periodSeconds`` the API server accepts."""
MAX_STABILIZATION_WINDOW_S = 3600
"""Largest ``stabilizationWindowSeconds`` the API server accepts."""

_POLICY_TYPES: tuple[str, ...] = ("Pods", "Percent")
_SELECT_POLICIES: tuple[str, ...] = ("Max", "Min", "Disabled")


@dataclass(frozen=True)
class ScalingPolicy:
    """Allow at most ``value`` pods (``Pods``) or percent (``Percent``) per ``period_s``."""

    type: PolicyType
    value: int
    period_s: int


@dataclass(frozen=True)
class ScalingRules:
    """One direction of ``behavior`` after defaulting.

    ``stabilization_window_s`` is ``None`` only for scale-down when the user left it
    unset: the controller then uses its ``--horizontal-pod-autoscaler-downscale-
    stabilization`` flag (300 s). ``tolerance`` is ``None`` when unset (the controller's
    global tolerance applies); when set it is the float the controller compares with,
    ``Quantity.AsApproximateFloat64()`` of the API server's canonical text
    (:func:`capsim.hpa.quantity.approximate_float64`: ``700m`` → 0.7000000000000001).
    """

    stabilization_window_s: int | None
    select_policy: SelectPolicy
    policies: tuple[ScalingPolicy, ...]
    tolerance: float | None = None

    @property
    def longest_period_s(self) -> int:
        """``getLongestPolicyPeriod``: the largest ``period_s`` (0 without policies)."""
        return max((policy.period_s for policy in self.policies), default=0)


DEFAULT_SCALE_UP = ScalingRules(
    stabilization_window_s=0,
    select_policy="Max",
    policies=(ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15)),
)
DEFAULT_SCALE_DOWN = ScalingRules(
    stabilization_window_s=None,
    select_policy="Max",
    policies=(ScalingPolicy("Percent", 100, 15),),
)


@dataclass(frozen=True)
class Behavior:
    """``spec.behavior`` with every field defaulted (see the module docstring)."""

    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> Behavior | None:
        """Build from a manifest's ``behavior`` mapping (camelCase keys), or ``None``.

        Raises ``ValueError`` whose message starts with the field path inside
        ``behavior`` (``scaleUp.policies[0].value: must be greater than zero, got 0``)
        for anything the API server would reject.
        """
        if spec is None:
            return None
        if not isinstance(spec, Mapping):
            raise ValueError(f"behavior: expected a mapping, got {spec!r}")
        _reject_unknown(spec, ("scaleUp", "scaleDown"), "")
        return cls(
            scale_up=_merge_rules(spec.get("scaleUp"), DEFAULT_SCALE_UP, "scaleUp"),
            scale_down=_merge_rules(spec.get("scaleDown"), DEFAULT_SCALE_DOWN, "scaleDown"),
        )

    def api_problems(self) -> list[str]:
        """Limits the API server enforces that parsing lets through (windows, periods).

        Each entry names the field: ``scaleDown.stabilizationWindowSeconds: must be less
        than or equal to 3600, got 7200``. Empty when the API server would accept it.
        """
        problems: list[str] = []
        for path, rules in (("scaleUp", self.scale_up), ("scaleDown", self.scale_down)):
            window = rules.stabilization_window_s
            if window is not None and window > MAX_STABILIZATION_WINDOW_S:
                problems.append(
                    f"{path}.stabilizationWindowSeconds: must be less than or equal to "
                    f"{MAX_STABILIZATION_WINDOW_S}, got {window}"
                )
            for index, policy in enumerate(rules.policies):
                if policy.period_s > MAX_PERIOD_S:
                    problems.append(
                        f"{path}.policies[{index}].periodSeconds: must be less than or equal "
                        f"to {MAX_PERIOD_S}, got {policy.period_s}"
                    )
        return problems

    def to_spec(self) -> dict[str, Any]:
        """The defaulted behavior as a manifest mapping (what ``kubectl get -o yaml`` shows)."""
        return {
            "scaleUp": _rules_to_spec(self.scale_up),
            "scaleDown": _rules_to_spec(self.scale_down),
        }


def _rules_to_spec(rules: ScalingRules) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if rules.stabilization_window_s is not None:
        out["stabilizationWindowSeconds"] = rules.stabilization_window_s
    out["selectPolicy"] = rules.select_policy
    out["policies"] = [
        {"type": p.type, "value": p.value, "periodSeconds": p.period_s} for p in rules.policies
    ]
    if rules.tolerance is not None:
        out["tolerance"] = format_tolerance(rules.tolerance)
    return out


def format_tolerance(tolerance: float) -> str:
    """A tolerance as the API's quantity text: ``0.1`` → ``"100m"``, ``1`` → ``"1"``.

    The coarsest of milli, micro and nano units that names the float: either the
    decimal itself (``0.7`` → ``"700m"``, as a controller flag gives it) or the text the
    manifest parser turns into that float (0.7000000000000001 → ``"700m"``), so a parsed
    tolerance written back reads back to the same float (``0.00015`` → ``"150u"``). A
    float finer than 1n is rounded to the nearest nano.
    """
    for suffix, per_unit in (("m", 10**3), ("u", 10**6), ("n", 10**9)):
        count = round(tolerance * per_unit)
        text = _quantity_text(count, suffix, per_unit)
        if float(Fraction(count, per_unit)) == tolerance or _reads_as(text, tolerance):
            return text
    return text


def _quantity_text(count: int, suffix: str, per_unit: int) -> str:
    """``count`` units as quantity text, whole numbers without a suffix."""
    return str(count // per_unit) if count % per_unit == 0 else f"{count}{suffix}"


def _reads_as(text: str, tolerance: float) -> bool:
    try:
        return approximate_float64(text) == tolerance
    except ValueError:  # beyond the quantity range: no text names it
        return False


def _reject_unknown(spec: Mapping[str, Any], known: tuple[str, ...], path: str) -> None:
    for key in spec:
        if key not in known:
            where = f"{path}.{key}" if path else str(key)
            raise ValueError(f"{where}: unknown field (expected one of {', '.join(known)})")


INT32_MAX = 2**31 - 1
"""The API's ``int32`` fields (windows, policy values and periods) hold at most this."""


def _int_field(value: Any, path: str) -> int:
    """An ``int32`` field: a YAML integer (not a boolean, float or text) in range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{path}: expected an integer, got {value!r}")
    if not -(2**31) <= value <= INT32_MAX:
        raise ValueError(f"{path}: must fit a 32-bit integer (at most {INT32_MAX}), got {value}")
    return value


def _merge_rules(spec: Any, defaults: ScalingRules, path: str) -> ScalingRules:
    """``copyHPAScalingRules``: each field the user set replaces the default."""
    if spec is None:
        return defaults
    if not isinstance(spec, Mapping):
        raise ValueError(f"{path}: expected a mapping, got {spec!r}")
    _reject_unknown(
        spec, ("stabilizationWindowSeconds", "selectPolicy", "policies", "tolerance"), path
    )
    window = defaults.stabilization_window_s
    if spec.get("stabilizationWindowSeconds") is not None:
        window = _int_field(
            spec["stabilizationWindowSeconds"], f"{path}.stabilizationWindowSeconds"
        )
        if window < 0:
            raise ValueError(
                f"{path}.stabilizationWindowSeconds: must be greater than or equal to zero, "
                f"got {window}"
            )
    select = defaults.select_policy
    if spec.get("selectPolicy") is not None:
        if spec["selectPolicy"] not in _SELECT_POLICIES:
            raise ValueError(
                f"{path}.selectPolicy: must be one of Max, Min, Disabled, "
                f"got {spec['selectPolicy']!r}"
            )
        select = cast(SelectPolicy, spec["selectPolicy"])
    policies = defaults.policies
    if spec.get("policies") is not None:
        policies = _parse_policies(spec["policies"], f"{path}.policies")
    tolerance = defaults.tolerance
    if spec.get("tolerance") is not None:
        try:
            # The controller compares with AsApproximateFloat64, not the exact decimal.
            tolerance = approximate_float64(spec["tolerance"])
        except ValueError as exc:
            raise ValueError(f"{path}.tolerance: {exc}") from None
        if tolerance < 0:
            raise ValueError(
                f"{path}.tolerance: must be greater than or equal to zero, "
                f"got {spec['tolerance']!r}"
            )
    return ScalingRules(window, select, policies, tolerance)


def _parse_policies(spec: Any, path: str) -> tuple[ScalingPolicy, ...]:
    if not isinstance(spec, list):
        raise ValueError(f"{path}: expected a list, got {spec!r}")
    if not spec:
        raise ValueError(f"{path}: must specify at least one Policy")
    return tuple(_parse_policy(item, f"{path}[{index}]") for index, item in enumerate(spec))


def _parse_policy(spec: Any, path: str) -> ScalingPolicy:
    if not isinstance(spec, Mapping):
        raise ValueError(f"{path}: expected a mapping, got {spec!r}")
    _reject_unknown(spec, ("type", "value", "periodSeconds"), path)
    for key in ("type", "value", "periodSeconds"):
        if spec.get(key) is None:
            raise ValueError(f"{path}.{key}: required field is missing")
    if spec["type"] not in _POLICY_TYPES:
        raise ValueError(f"{path}.type: must be Pods or Percent, got {spec['type']!r}")
    value = _int_field(spec["value"], f"{path}.value")
    if value <= 0:
        raise ValueError(f"{path}.value: must be greater than zero, got {value}")
    period = _int_field(spec["periodSeconds"], f"{path}.periodSeconds")
    if period <= 0:
        raise ValueError(f"{path}.periodSeconds: must be greater than zero, got {period}")
    return ScalingPolicy(cast(PolicyType, spec["type"]), value, period)
