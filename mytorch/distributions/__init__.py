"""`mytorch.distributions`: probability distributions with torch.distributions' API, built
from mytorch Tensor ops so log_prob, entropy, kl_divergence and rsample are differentiable
in the parameters. Samples come from mytorch's generators (mytorch.manual_seed reproduces).

>>> d = mytorch.distributions.Normal(mytorch.zeros(3, requires_grad=True), 1.0)
>>> d.log_prob(d.rsample((100,))).mean().backward()
"""
from mytorch.distributions import constraints
from mytorch.distributions.bernoulli import Bernoulli
from mytorch.distributions.categorical import Categorical, OneHotCategorical
from mytorch.distributions.distribution import Distribution
from mytorch.distributions.exponential import Exponential
from mytorch.distributions.kl import kl_divergence, register_kl
from mytorch.distributions.laplace import Laplace
from mytorch.distributions.multivariate_normal import MultivariateNormal
from mytorch.distributions.normal import Normal
from mytorch.distributions.uniform import Uniform

__all__ = ["Bernoulli", "Categorical", "Distribution", "Exponential", "Laplace",
           "MultivariateNormal", "Normal", "OneHotCategorical", "Uniform", "constraints",
           "kl_divergence", "register_kl"]
