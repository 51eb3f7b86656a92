import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plastinfer import Taylor, anti_hebb, oja
from plastinfer.analysis import angles_per_rule, rule_angle

coefs = st.lists(st.floats(-3, 3, allow_nan=False), min_size=27, max_size=27).filter(lambda v: np.linalg.norm(v) > 1e-3)


def _rule(values):
    return Taylor.from_terms(dict(zip(Taylor.zeros().names, values)))


@settings(max_examples=40, deadline=None)
@given(coefs, coefs, st.floats(0.01, 100))
def test_angle_is_invariant_to_positive_scale_and_flips_with_sign(a, b, c):
    ang = rule_angle(_rule(a), _rule(b))
    assert rule_angle(_rule([c * v for v in a]), _rule(b)) == pytest.approx(ang, abs=1e-3)
    assert rule_angle(_rule([-v for v in a]), _rule(b)) == pytest.approx(180.0 - ang, abs=1e-3)


def test_known_angles():
    assert rule_angle(oja(), oja(3.0)) == pytest.approx(0.0, abs=1e-3)
    # Hebb (x·y) against Oja (x·y − y²w): 45°
    assert rule_angle(Taylor.from_terms({"x1y1w0": 1.0}), oja()) == pytest.approx(45.0)
    assert angles_per_rule((oja(), anti_hebb()), (oja(), anti_hebb(2.0))) == pytest.approx([0.0, 0.0], abs=1e-3)
    assert rule_angle(Taylor.zeros(), oja()) == 90.0
    with pytest.raises(ValueError, match="coefficients"):
        rule_angle(Taylor.zeros(("x", "y", "w", "r")), oja())
