"""How much to believe a fitted rule: posteriors, identifiability and model comparison.

- :func:`posterior` — one entry point: ``posterior(fit_result, method="laplace" | "nuts")``
  (a per-subject fit gives one posterior per subject);
- :func:`laplace` → :class:`Laplace`: the Gaussian approximation at a fit's mode from the
  exact Hessian of the problem's per-observation log-likelihood; marginal intervals, sign
  probabilities, AIC/BIC and the identifiability report (which coefficient combinations the
  data determine);
- :func:`nuts` → :class:`Posterior`: NUTS samples (BlackJAX), preconditioned by the Laplace
  fit; summaries with R-hat and ESS, WAIC and PSIS-LOO (ArviZ);
- :func:`hierarchical`: partial pooling across subjects (population mean and spread of every
  coefficient, per-subject coefficients), NUTS; :func:`population_summary`;
- :func:`profile` → :class:`Profile` (likelihood-ratio interval of one coefficient, following
  curved ridges), :func:`likelihood_ratio` (tests of chosen values: "is the truth / is 0
  inside the interval", calibrated without a prior) and :func:`ensemble` (multi-start fits:
  the spread of optima);
- :func:`make_target` → :class:`PosteriorTarget`: the posterior as a Problem over a flat,
  named coefficient vector (priors: Gaussian, Laplace, flat) — what every method works on.
"""

from ._laplace import Laplace, laplace
from ._hierarchical import hierarchical, hierarchical_from_samples, hierarchical_laplace, population_summary
from ._posterior import Posterior, nuts, posterior
from ._profile import LikelihoodRatio, Profile, ensemble, likelihood_ratio, profile
from ._target import PosteriorTarget, find_mode, make_target

__all__ = ["Laplace", "laplace", "Posterior", "nuts", "posterior", "hierarchical", "hierarchical_laplace", "hierarchical_from_samples",
           "population_summary", "Profile", "profile", "ensemble", "LikelihoodRatio", "likelihood_ratio",
           "PosteriorTarget", "make_target", "find_mode"]
