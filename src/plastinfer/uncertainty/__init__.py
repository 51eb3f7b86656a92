"""How much to believe a fitted rule: posterior approximations and identifiability.

- :func:`laplace` → :class:`Laplace`: the Gaussian approximation at a fit's mode from the
  exact Hessian of the problem's per-observation log-likelihood; marginal intervals, sign
  probabilities, AIC/BIC and the identifiability report (which coefficient combinations the
  data determine).
"""

from ._laplace import Laplace, laplace

__all__ = ["Laplace", "laplace"]
