import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plastinfer.analysis import activity_distance, delta_grid, fixed_points, vector_field
from plastinfer.rules import hebb, oja


@settings(max_examples=10, deadline=None)
@given(x=st.floats(0.2, 2.0))
def test_oja_fixed_points_are_where_theory_puts_them(x):
    """On y = w x, Oja's h = x² w (1 − w²): w* ∈ {−1, 0, 1}; the origin is a saddle, ±1 stable."""
    fps = fixed_points(oja(), x)
    assert [round(f["w"], 4) for f in fps] == [-1.0, 0.0, 1.0]
    assert [f["stable"] for f in fps] == [True, False, True]
    assert fps[2]["y"] == pytest.approx(x, abs=1e-4)


def test_hebb_has_only_the_unstable_origin():
    fps = fixed_points(hebb(), 0.5)
    assert len(fps) == 1 and fps[0]["w"] == pytest.approx(0.0, abs=1e-6) and not fps[0]["stable"]


def test_delta_grid_and_vector_field_match_the_closed_form():
    xs, ys = np.linspace(-1, 1, 5), np.linspace(-2, 2, 7)
    grid = delta_grid(oja(), xs, ys, w=0.01)
    X, Y = np.meshgrid(xs, ys)
    np.testing.assert_allclose(grid, X * Y - Y**2 * 0.01, atol=1e-6)
    ws = np.linspace(-2, 2, 9)
    dw, dy = vector_field(oja(), ws, ys, x=0.5)
    W, Y = np.meshgrid(ws, ys)
    np.testing.assert_allclose(dw, 0.5 * Y - Y**2 * W, atol=1e-5)
    np.testing.assert_allclose(dy, 0.5 * W - Y, atol=1e-6)


def test_activity_distance_is_zero_for_equal_sets_and_the_shift_for_shifted_ones():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 4))
    assert np.allclose(activity_distance(a, a), 0.0)
    np.testing.assert_allclose(activity_distance(a, a + np.array([0.0, 0.5, 1.0, 2.0])), [0.0, 0.5, 1.0, 2.0], atol=1e-9)
    with pytest.raises(ValueError, match="same T"):
        activity_distance(a, a[:, :3])


def test_portraits_of_a_global_rule_use_the_homogeneous_layer():
    import jax

    from plastinfer.rules import GlobalMLPRule

    rule = GlobalMLPRule(jax.random.PRNGKey(0), 3, 1, width=4, depth=1, out_scale=1.0)
    d = delta_grid(rule, [0.5, 1.0], [-1.0, 0.2], w=0.3)
    x, y, w = jax.numpy.full((1, 3), 1.0), jax.numpy.full((1, 1), 0.2), jax.numpy.full((1, 3), 0.3)
    assert d[1, 1] == pytest.approx(float(rule(x, y, w)[0, 0]), rel=1e-5)
