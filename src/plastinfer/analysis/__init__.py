"""Metrics, identifiability diagnostics and figures usable on any fitted rule."""

from ._angles import angles_per_rule, rule_angle, rule_coefficients
from ._compare import compare_rules, comparison_markdown
from ._behavior import bernoulli_deviance, paired_comparison, percent_deviance_explained
from ._identifiability import coefficient_conditioning, error_in_weak_directions, taylor_features
from ._metrics import r2_score
from ._portraits import activity_distance, delta_grid, fixed_points, vector_field

__all__ = [
    "bernoulli_deviance",
    "percent_deviance_explained",
    "paired_comparison",
    "r2_score", "taylor_features", "coefficient_conditioning", "error_in_weak_directions",
    "rule_angle", "rule_coefficients", "angles_per_rule",
    "delta_grid", "vector_field", "fixed_points", "activity_distance", "compare_rules", "comparison_markdown"]
