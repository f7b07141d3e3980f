r"""Weight initializers, with Keras 3's formulas and fan rules.

Why the scale matters: for a layer :math:`y = Wx` with independent zero-mean
weights of variance :math:`\sigma^2` and inputs of variance :math:`v`,
:math:`\operatorname{Var}(y_j) = n_{in}\,\sigma^2 v`. Keeping that variance
from growing or shrinking layer after layer asks for :math:`\sigma^2 = 1/n_{in}`
(LeCun 1998), :math:`2/n_{in}` behind a ReLU that zeroes half its inputs
(He et al. 2015), or the compromise :math:`2/(n_{in}+n_{out})` between the
forward and the backward pass (Glorot & Bengio 2010).

All of these are one rule, Keras' ``VarianceScaling(scale, mode, distribution)``:
target variance :math:`\sigma^2 = \text{scale}/n` with :math:`n` = fan_in,
fan_out or their mean, drawn from

* ``uniform``: :math:`U(-\ell, \ell)`, :math:`\ell = \sqrt{3\,\text{scale}/n}`
  (the variance of :math:`U(-\ell,\ell)` is :math:`\ell^2/3`);
* ``truncated_normal``: a normal cut at :math:`\pm 2` of its own standard
  deviation, that deviation being :math:`\sqrt{\text{scale}/n}\,/\,0.87962566103423978`.
  Cutting at :math:`\pm 2` shrinks the standard deviation by the factor
  0.8796... (:math:`\sqrt{1 - 4\varphi(2)/(2\Phi(2)-1)}`), so the values drawn
  end with standard deviation :math:`\sqrt{\text{scale}/n}` again;
* ``untruncated_normal``: :math:`N(0, \text{scale}/n)`.

Fans (``compute_fans``, Keras' rule): a kernel of shape ``(in, out)`` has
fan_in = in, fan_out = out; a conv kernel ``(kh, kw, in, out)`` has
fan_in = kh·kw·in and fan_out = kh·kw·out (every output sees kh·kw·in inputs).

Every initializer is called as ``init(shape, rng, dtype=None)``: the
``np.random.Generator`` is an argument, never global state, so the same seed
gives the same bits. Keras instead stores a ``seed`` in the initializer; a
scratchnet initializer has no seed of its own.

String identifiers live in one table, ``_INITIALIZERS``, at the bottom of this
file; ``get`` reads it.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy import stats

from scratchnet import _checks, config

# Standard deviation of a standard normal truncated to [-2, 2] (Keras' constant).
_TRUNCATED_STDDEV = 0.87962566103423978


def compute_fans(shape) -> tuple[int, int]:
    r"""``(fan_in, fan_out)`` of a weight shape, by Keras' rule.

    * rank 0: (1, 1); rank 1: (shape[0], shape[0]);
    * rank 2 (Dense kernel ``(in, out)``): (shape[0], shape[1]);
    * rank > 2 (conv kernel ``(..., in, out)``): with receptive field
      :math:`r = \prod` shape[:-2], fan_in = shape[-2]·r, fan_out = shape[-1]·r.
    """
    shape = _shape(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _shape(shape) -> tuple[int, ...]:
    """``shape`` as a tuple of non-negative ints, or a clear error."""
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise _checks.invalid("shape", "a tuple of non-negative integers", shape)
    return tuple(int(d) for d in shape)


def _generator(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            "Invalid type for argument rng. Expected an np.random.Generator "
            f"(np.random.default_rng(seed)). Received rng={rng!r}."
        )
    return rng


class Initializer:
    """What every initializer offers: ``init(shape, rng, dtype=None)``, ``get_config``, ``from_config``."""

    def __call__(self, shape, rng, dtype=None) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**_checks.config_arguments(cls, config))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    r"""All zeros: :math:`W = 0`. Keras' default bias initializer. ``rng`` is not used."""

    def __call__(self, shape, rng=None, dtype=None) -> np.ndarray:
        return np.zeros(_shape(shape), dtype=config.resolve_dtype(dtype))


class Ones(Initializer):
    r"""All ones: :math:`W = 1`. ``rng`` is not used."""

    def __call__(self, shape, rng=None, dtype=None) -> np.ndarray:
        return np.ones(_shape(shape), dtype=config.resolve_dtype(dtype))


class RandomNormal(Initializer):
    r"""Untruncated normal: :math:`W_{ij} \sim N(\text{mean}, \text{stddev}^2)`; Keras defaults 0.0, 0.05."""

    def __init__(self, mean=0.0, stddev=0.05):
        self.mean = _checks.number("mean", mean)
        self.stddev = _checks.non_negative_float("stddev", stddev)

    def __call__(self, shape, rng, dtype=None) -> np.ndarray:
        values = _generator(rng).normal(self.mean, self.stddev, size=_shape(shape))
        return values.astype(config.resolve_dtype(dtype))

    def get_config(self) -> dict:
        return {"mean": self.mean, "stddev": self.stddev}


class RandomUniform(Initializer):
    r"""Uniform: :math:`W_{ij} \sim U(\text{minval}, \text{maxval})`; Keras defaults -0.05, 0.05."""

    def __init__(self, minval=-0.05, maxval=0.05):
        self.minval = _checks.number("minval", minval)
        self.maxval = _checks.number("maxval", maxval)
        if self.maxval < self.minval:
            raise _checks.invalid("maxval", f"a number >= minval={self.minval!r}", maxval)

    def __call__(self, shape, rng, dtype=None) -> np.ndarray:
        values = _generator(rng).uniform(self.minval, self.maxval, size=_shape(shape))
        return values.astype(config.resolve_dtype(dtype))

    def get_config(self) -> dict:
        return {"minval": self.minval, "maxval": self.maxval}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("uniform", "truncated_normal", "untruncated_normal")


class VarianceScaling(Initializer):
    r"""Target variance :math:`\sigma^2 = \text{scale}/n`, :math:`n` chosen by ``mode``.

    With :math:`(f_{in}, f_{out})` = ``compute_fans(shape)``:
    :math:`n = \max(1, f_{in})`, :math:`\max(1, f_{out})` or :math:`\max(1, (f_{in}+f_{out})/2)`.

    * ``uniform``: :math:`U(-\ell, \ell)`, :math:`\ell = \sqrt{3\,\text{scale}/n}`.
    * ``truncated_normal`` (Keras' default; ``"normal"`` is accepted as its alias):
      :math:`N(0, s^2)` restricted to :math:`[-2s, 2s]`,
      :math:`s = \sqrt{\text{scale}/n}\,/\,0.87962566103423978`, so the standard
      deviation of what is drawn is :math:`\sqrt{\text{scale}/n}`.
      Sampled with ``scipy.stats.truncnorm`` (inverse-CDF sampling); TensorFlow
      redraws out-of-range values instead: same distribution, other bits.
    * ``untruncated_normal``: :math:`N(0, \text{scale}/n)`.

    Reference: Keras ``keras.initializers.VarianceScaling``.
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal"):
        self.scale = _checks.positive_float("scale", scale)
        self.mode = _checks.one_of("mode", mode, _MODES)
        if isinstance(distribution, str) and distribution.lower() == "normal":
            distribution = "truncated_normal"
        self.distribution = _checks.one_of("distribution", distribution, _DISTRIBUTIONS)

    def _n(self, shape) -> float:
        fan_in, fan_out = compute_fans(shape)
        if self.mode == "fan_in":
            return max(1.0, fan_in)
        if self.mode == "fan_out":
            return max(1.0, fan_out)
        return max(1.0, (fan_in + fan_out) / 2.0)

    def __call__(self, shape, rng, dtype=None) -> np.ndarray:
        shape, rng, dtype = _shape(shape), _generator(rng), config.resolve_dtype(dtype)
        variance = self.scale / self._n(shape)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            values = rng.uniform(-limit, limit, size=shape)
        elif self.distribution == "truncated_normal":
            stddev = math.sqrt(variance) / _TRUNCATED_STDDEV
            values = stats.truncnorm.rvs(-2.0, 2.0, scale=stddev, size=shape, random_state=rng)
        else:
            values = rng.normal(0.0, math.sqrt(variance), size=shape)
        return np.asarray(values).astype(dtype)

    def get_config(self) -> dict:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution}


class _FixedVarianceScaling(VarianceScaling):
    """A named VarianceScaling: its constructor takes no arguments, its config is ``{}``."""

    def get_config(self) -> dict:
        return {}


class GlorotUniform(_FixedVarianceScaling):
    r"""Glorot (Xavier) uniform: :math:`U(-\ell, \ell)`, :math:`\ell = \sqrt{6 / (f_{in} + f_{out})}`.

    VarianceScaling(1.0, "fan_avg", "uniform"): variance :math:`2/(f_{in}+f_{out})`,
    the compromise between keeping forward activations (:math:`1/f_{in}`) and
    backward gradients (:math:`1/f_{out}`) at constant variance. Keras' default
    kernel initializer.

    Reference: Glorot & Bengio (2010), "Understanding the difficulty of training
    deep feedforward neural networks", AISTATS, eq. 16.
    """

    def __init__(self):
        super().__init__(1.0, "fan_avg", "uniform")


class GlorotNormal(_FixedVarianceScaling):
    r"""Glorot (Xavier) normal: truncated normal with standard deviation :math:`\sqrt{2 / (f_{in} + f_{out})}`.

    VarianceScaling(1.0, "fan_avg", "truncated_normal"): the pre-truncation
    deviation is :math:`\sqrt{2/(f_{in}+f_{out})}/0.8796...`, cut at :math:`\pm 2` of it.

    Reference: Glorot & Bengio (2010), AISTATS.
    """

    def __init__(self):
        super().__init__(1.0, "fan_avg", "truncated_normal")


class HeNormal(_FixedVarianceScaling):
    r"""He (Kaiming) normal: truncated normal with standard deviation :math:`\sqrt{2 / f_{in}}`.

    VarianceScaling(2.0, "fan_in", "truncated_normal"). A ReLU zeroes half of
    its inputs, halving the second moment, so the weights double the variance:
    :math:`\tfrac12 f_{in} \operatorname{Var}(W) = 1`.

    Reference: He, Zhang, Ren & Sun (2015), "Delving Deep into Rectifiers", ICCV, eq. 10.
    """

    def __init__(self):
        super().__init__(2.0, "fan_in", "truncated_normal")


class HeUniform(_FixedVarianceScaling):
    r"""He (Kaiming) uniform: :math:`U(-\ell, \ell)`, :math:`\ell = \sqrt{6 / f_{in}}`.

    VarianceScaling(2.0, "fan_in", "uniform"): variance :math:`\ell^2/3 = 2/f_{in}`.

    Reference: He, Zhang, Ren & Sun (2015), ICCV.
    """

    def __init__(self):
        super().__init__(2.0, "fan_in", "uniform")


class LecunNormal(_FixedVarianceScaling):
    r"""LeCun normal: truncated normal with standard deviation :math:`\sqrt{1 / f_{in}}`.

    VarianceScaling(1.0, "fan_in", "truncated_normal"); the initializer SELU
    networks assume (Klambauer et al. 2017).

    Reference: LeCun, Bottou, Orr & Müller (1998), "Efficient BackProp", §4.6.
    """

    def __init__(self):
        super().__init__(1.0, "fan_in", "truncated_normal")


class LecunUniform(_FixedVarianceScaling):
    r"""LeCun uniform: :math:`U(-\ell, \ell)`, :math:`\ell = \sqrt{3 / f_{in}}`.

    VarianceScaling(1.0, "fan_in", "uniform"): variance :math:`1/f_{in}`.

    Reference: LeCun, Bottou, Orr & Müller (1998), "Efficient BackProp", §4.6.
    """

    def __init__(self):
        super().__init__(1.0, "fan_in", "uniform")


# The one table of string identifiers (Keras' snake-case names).
_INITIALIZERS: dict[str, type[Initializer]] = {
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_normal": HeNormal,
    "he_uniform": HeUniform,
    "lecun_normal": LecunNormal,
    "lecun_uniform": LecunUniform,
    "zeros": Zeros,
    "ones": Ones,
    "random_normal": RandomNormal,
    "random_uniform": RandomUniform,
    "variance_scaling": VarianceScaling,
}

# Keras' lower-case aliases (``keras.initializers.glorot_uniform`` is the class ``GlorotUniform``):
# the same classes under a second name, so ``kernel_initializer=initializers.he_normal()`` works.
glorot_uniform = GlorotUniform
glorot_normal = GlorotNormal
he_normal = HeNormal
he_uniform = HeUniform
lecun_normal = LecunNormal
lecun_uniform = LecunUniform
zeros = Zeros
ones = Ones
random_normal = RandomNormal
random_uniform = RandomUniform
variance_scaling = VarianceScaling


def serialize(initializer: Initializer) -> dict:
    """``{"class_name": "GlorotUniform", "config": {...}}``, what ``get`` accepts back."""
    if not isinstance(initializer, Initializer):
        raise TypeError(
            "Invalid type for argument initializer. Expected an Initializer. "
            f"Received initializer={initializer!r}."
        )
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}


def get(identifier) -> Initializer:
    """Resolve an initializer: a name of ``_INITIALIZERS``, an ``Initializer`` (or its class), or ``serialize``'s dict."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return (
            identifier()
        )  # Keras accepts the class itself: kernel_initializer=initializers.he_normal
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _INITIALIZERS:
            raise _checks.invalid("initializer", f"one of {sorted(_INITIALIZERS)}", identifier)
        return _INITIALIZERS[key]()
    if isinstance(identifier, dict):
        by_class_name = {cls.__name__: cls for cls in _INITIALIZERS.values()}
        if set(identifier) != {"class_name", "config"} or not isinstance(
            identifier["config"], dict
        ):
            raise _checks.invalid(
                "initializer", 'a dict {"class_name": ..., "config": {...}}', identifier
            )
        cls = by_class_name.get(identifier["class_name"])
        if cls is None:
            raise _checks.invalid(
                "initializer", f"a class_name in {sorted(by_class_name)}", identifier
            )
        return cls.from_config(identifier["config"])
    raise TypeError(
        "Invalid type for argument initializer. Expected a name, an Initializer or a "
        f'{{"class_name": ..., "config": ...}} dict. Received initializer={identifier!r}.'
    )
