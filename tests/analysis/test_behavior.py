import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import wilcoxon

from plastinfer.analysis import bernoulli_deviance, paired_comparison, percent_deviance_explained


def test_deviance_closed_forms():
    o = np.array([1, 0, 1, 1])
    assert bernoulli_deviance(np.full(4, 0.5), o) == pytest.approx(8 * np.log(2))
    assert bernoulli_deviance(o.astype(float), o) == pytest.approx(0.0, abs=1e-5)
    assert bernoulli_deviance(np.full(4, 0.5), o, mask=[True, False, False, False]) == pytest.approx(2 * np.log(2))
    assert percent_deviance_explained(5.0, 5.0) == 0.0
    assert percent_deviance_explained(0.0, 5.0) == 100.0
    assert percent_deviance_explained(10.0, 5.0) == -100.0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-50, 50), min_size=5, max_size=20), st.floats(0.5, 5.0))
def test_paired_comparison_agrees_with_scipy_and_sees_a_shift(a, shift):
    a = np.asarray(a)
    b = a + shift + 0.01 * np.arange(a.size)
    out = paired_comparison(a, b, names=("without_w", "with_w"))
    assert out["n_with_w_better"] == a.size and out["median_difference"] > 0
    assert out["p_value"] == pytest.approx(wilcoxon(b, a).pvalue)


def test_paired_comparison_errors():
    with pytest.raises(ValueError, match="equal length"):
        paired_comparison([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="finite"):
        paired_comparison([1, np.nan], [1, 2])
