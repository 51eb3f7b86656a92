import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import r2_score as sk_r2

from plastinfer.analysis import r2_score


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 20), m=st.integers(1, 6), const=st.booleans())
def test_r2_agrees_with_sklearn(seed, n, m, const):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, m)).astype(np.float32)
    b = (a + 0.5 * rng.normal(size=(n, m))).astype(np.float32)
    if const:  # an output with zero variance follows sklearn's convention
        a[:, 0] = 1.0
    np.testing.assert_allclose(float(r2_score(a, b)), sk_r2(a, b), rtol=1e-4, atol=1e-4)


def test_r2_perfect_and_mean_predictor():
    a = np.arange(12.0).reshape(6, 2)
    assert float(r2_score(a, a)) == 1.0
    assert abs(float(r2_score(a, np.broadcast_to(a.mean(0), a.shape)))) < 1e-6
