"""Student's t quantile without SciPy, checked against SciPy and closed forms."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from capsim.analysis.confidence import student_t_cdf, student_t_quantile

PROBABILITIES = (0.5001, 0.6, 0.75, 0.9, 0.95, 0.975, 0.99, 0.999, 0.9999, 0.025, 0.1)


@pytest.mark.parametrize("df", [*range(1, 61), 100, 250, 1000, 0.5, 1.5, 2.5, 7.25])
def test_quantile_equals_scipy(df: float) -> None:
    for p in PROBABILITIES:
        want = stats.t.ppf(p, df)
        assert student_t_quantile(p, df) == pytest.approx(want, rel=1e-9), (p, df)


def test_closed_forms_and_textbook_values() -> None:
    # df = 1 is Cauchy, df = 2 has t = (2p − 1) / sqrt(2 p (1 − p)); then the printed
    # table of t(0.975) found in statistics textbooks (three decimals).
    assert student_t_quantile(0.975, 1) == pytest.approx(math.tan(math.pi * 0.475), rel=1e-12)
    assert student_t_quantile(0.975, 2) == pytest.approx(0.95 / math.sqrt(0.04875), rel=1e-12)
    table = {1: 12.706, 2: 4.303, 4: 2.776, 9: 2.262, 29: 2.045, 120: 1.980}
    for df, t in table.items():
        assert round(student_t_quantile(0.975, df), 3) == t
    assert student_t_quantile(0.5 + 1e-9, 3) > 0
    assert student_t_quantile(0.3, 5) == -student_t_quantile(0.7, 5)


@given(p=st.floats(1e-6, 1 - 1e-6), df=st.floats(0.2, 500))
def test_cdf_of_the_quantile_is_p(p: float, df: float) -> None:
    t = student_t_quantile(p, df)
    assert student_t_cdf(t, df) == pytest.approx(p, rel=1e-9, abs=1e-12)
    assert student_t_cdf(t, df) == pytest.approx(stats.t.cdf(t, df), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(("p", "df"), [(0.0, 3), (1.0, 3), (0.5, 0), (0.5, -1), (math.nan, 3)])
def test_bad_arguments_are_refused(p: float, df: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        student_t_quantile(p, df)
