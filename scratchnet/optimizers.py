r"""Optimizers: one short class per update rule, computed as Keras 3 computes it.

Notation: :math:`\theta` a variable, :math:`g` its gradient, :math:`\eta` the
learning rate, :math:`t` = ``iterations + 1`` (1 on the first step). Every
slot (``m``, ``v``, ...) has the variable's shape and dtype and starts at 0
unless the class says otherwise.

One call of ``apply_gradients(zip(grads, variables))`` does, in Keras' order
(``keras/src/optimizers/base_optimizer.py``):

1. cast each gradient to its variable's dtype (the gradient arrays are never modified);
2. clip, if asked (at most one of the three, see ``clip_gradients``);
3. decoupled weight decay, if ``weight_decay`` is set:
   :math:`\theta \leftarrow \theta - \theta\,\lambda\,\eta` (see ``apply_weight_decay``);
4. the optimizer's own update, in place on each NumPy variable;
5. ``iterations += 1``.

Slots belong to their variable (keyed by the array itself, as Keras keys them by
variable): created the first time a variable is updated, kept while it sits out
a step (a frozen layer), never handed to another variable.

Precision of the hyperparameters (a documented choice, checked in ``parity/``):

* **float32 variables follow TF's float32 handling.** Keras holds the learning
  rate in a float32 variable and casts every Python hyperparameter to the
  variable's dtype, so a float32 step uses float32(:math:`\eta`), float32(:math:`\beta`),
  float32(:math:`\epsilon`); the Adam-family bias-correction powers are
  :math:`\mathrm{float32}(\beta)^{t}` computed in float32, and the scalar
  coefficients (Adam's :math:`\alpha_t`, Nadam's :math:`u_t, \Pi_t`) are computed
  in float32 in TF's order of operations. scratchnet does the same: every
  update computes its scalars as ``c = var.dtype.type`` scalars (``c(self.beta_2) ** c(t)``),
  and a Python float that meets a float32 array is rounded to float32 first (NumPy 2's
  rules, as TF converts it). Where TF writes ``1 - self.beta_1`` with the *Python*
  float (Adam's moment updates) scratchnet does too; where TF writes it with the
  cast tensor (Nadam) so does scratchnet. On 30 Adam steps of the classic MNIST
  CNN this keeps scratchnet float32 within about 1e-7 of Keras float32 (norm-wise
  over all weights, ``parity/`` section 8), where coefficients computed in Python
  floats were 3.2e-6 away on one draw (issue #9 measured 1.6e-4 on another):
  ``1 - 0.999`` and ``1 - float32(0.999)`` differ by 1.3e-5 relative.
* **float64 keeps the exact constants.** A float64 Keras run still rounds
  :math:`\eta, \beta_1, \beta_2` (and Nadam's 0.96) through float32 in places
  (``tf.cast(0.9, float64)`` is 0.8999999761581421); scratchnet computes with
  the Python floats the user wrote, so float64 results are the textbook ones. The
  same code path does both: ``np.float64(0.9)`` is 0.9 exactly. Hyperparameters
  that float32 represents exactly (0.5, 0.875, 0.0078125, ...) make float64
  scratchnet and Keras agree to rounding.

Huge gradients: :math:`g^2` overflows float32 once :math:`|g| > 1.8\cdot10^{19}`
(float64 is fine up to :math:`10^{154}`). Then the optimizers that square the
gradient (Adam, AdamW, Nadam, RMSprop, Adagrad, Adadelta, and clipnorm /
global_clipnorm) get an infinite second moment, as in TF: NumPy warns (or, under
``np.errstate(all="raise")``, raises ``FloatingPointError``) and, if allowed to go
on, the step is :math:`g/\infty = 0` for RMSprop, Adagrad and Adadelta, while
Adam, AdamW and Nadam turn the moment into NaN on the next step
(:math:`v + (g^2 - v)(1-\beta_2)` is :math:`\infty - \infty`), exactly as Keras
does (measured with TF 2.21). SGD and Adamax never square and stay finite.
"""

from __future__ import annotations

import math

import numpy as np

from scratchnet import _checks

# --------------------------------------------------------------------------- shared plain functions


def clip_gradients(grads, clipnorm=None, clipvalue=None, global_clipnorm=None) -> list[np.ndarray]:
    r"""Keras' gradient clipping; new arrays, the inputs are not modified. At most one option is set.

    * ``clipnorm`` :math:`c`, per variable: :math:`g \leftarrow g\,c / \max(\|g\|_2, c)`
      (a gradient shorter than :math:`c` is unchanged).
    * ``global_clipnorm`` :math:`c`, over all gradients together: with
      :math:`n = \sqrt{\sum_k \|g_k\|_2^2}`, every :math:`g_k \leftarrow g_k\,c/\max(n, c)`
      (Keras writes the scale as :math:`c\min(1/n, 1/c)`, the same number).
    * ``clipvalue`` :math:`c`, element-wise: :math:`g \leftarrow \mathrm{clip}(g, -c, c)`.

    Pascanu, Mikolov & Bengio, "On the difficulty of training recurrent neural
    networks" (ICML 2013) for norm clipping. TensorFlow's ``clip_by_norm`` and
    ``clip_by_global_norm`` are the first two rules; PyTorch's ``clip_grad_norm_`` is
    the global one with 1e-6 added to the norm.
    """
    grads = list(grads)
    if clipnorm is not None:
        return [g * clipnorm / np.maximum(np.sqrt(np.sum(np.square(g))), clipnorm) for g in grads]
    if global_clipnorm is not None:
        norm = math.sqrt(sum(float(np.sum(np.square(g))) for g in grads))
        scale = global_clipnorm / max(norm, global_clipnorm)
        return [g * scale for g in grads]
    if clipvalue is not None:
        return [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


def apply_weight_decay(variables, weight_decay: float, learning_rate: float) -> None:
    r"""Decoupled weight decay, in place: :math:`\theta \leftarrow \theta - \theta\,\lambda\,\eta`.

    Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (ICLR 2019).
    Keras scales the decay by the learning rate, :math:`\lambda\eta`, applies it
    *before* the optimizer's update and to every variable (biases included).
    PyTorch's ``AdamW`` does the same (:math:`\theta \leftarrow \theta(1 - \eta\lambda)`);
    the paper multiplies by a schedule multiplier instead of :math:`\eta`.
    """
    for var in variables:
        var -= var * weight_decay * learning_rate


def _optional_positive(name: str, value) -> float | None:
    return None if value is None else _checks.positive_float(name, value)


# --------------------------------------------------------------------------- the short base


class Optimizer:
    r"""What every optimizer shares: hyperparameter checks, clipping, weight decay, slots and state.

    A subclass writes three things: ``__init__`` (its hyperparameters),
    ``build_slots(var) -> {name: array}`` and ``update(var, g, slots)``, the
    update equations for one variable at step :math:`t` = ``self.iterations + 1``.
    """

    def __init__(
        self,
        learning_rate,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name="optimizer",
    ):
        self.learning_rate = learning_rate
        self.weight_decay = (
            None
            if weight_decay is None
            else _checks.non_negative_float("weight_decay", weight_decay)
        )
        self.clipnorm = _optional_positive("clipnorm", clipnorm)
        self.clipvalue = _optional_positive("clipvalue", clipvalue)
        self.global_clipnorm = _optional_positive("global_clipnorm", global_clipnorm)
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received clipnorm={clipnorm!r}, clipvalue={clipvalue!r}, "
                f"global_clipnorm={global_clipnorm!r}."
            )
        self.name = _checks.non_empty_string("name", name)
        self.iterations = 0
        # id(variable) -> (variable, its slots {name: array}); holding the variable keeps its id its own
        self._slots: dict[int, tuple[np.ndarray, dict[str, np.ndarray]]] = {}
        self._pending: list[dict[str, np.ndarray]] | None = None  # set_state() before any variable

    @property
    def learning_rate(self) -> float:
        r""":math:`\eta`, a plain float; set it between steps (a schedule callback does)."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        self._learning_rate = _checks.positive_float("learning_rate", value)

    # subclasses override these two
    def build_slots(self, var: np.ndarray) -> dict[str, np.ndarray]:
        """The per-variable state, freshly initialised (shape and dtype of ``var``)."""
        return {}

    def update(self, var: np.ndarray, g: np.ndarray, slots: dict[str, np.ndarray]) -> None:
        """The update equations for one variable at step t = ``iterations + 1``: ``var`` and ``slots`` change in place.

        ``g`` is already cast, clipped and (for decoupled weight decay) ``var``
        already decayed; ``var``, ``g`` and every slot share one shape and dtype.
        """
        raise NotImplementedError

    @np.errstate(under="ignore")
    def apply_gradients(self, grads_and_vars) -> None:
        """One optimisation step on ``(gradient, variable)`` pairs; the variables change in place.

        Each variable's slots belong to that variable (Keras keys them by
        variable too): a variable seen for the first time gets fresh slots, and a
        variable left out of a step (a frozen layer) keeps its own until it comes
        back. Which other variables are passed, and in what order, does not matter.

        Underflow is allowed quietly (also under ``np.errstate(all="raise")``): a
        square of a 1e-20 gradient or a momentum decayed towards 0 that rounds to
        a subnormal or to 0 is the right answer, not an error. Overflow still raises.
        """
        grads, variables = [], []
        for i, (grad, var) in enumerate(grads_and_vars):
            variables.append(_variable(var, i))
            grads.append(_gradient(grad, var, i))
        slots = self._ensure_slots(variables)
        grads = clip_gradients(grads, self.clipnorm, self.clipvalue, self.global_clipnorm)
        if self.weight_decay is not None:
            apply_weight_decay(variables, self.weight_decay, self.learning_rate)
        for g, var, var_slots in zip(grads, variables, slots, strict=True):
            self.update(var, g, var_slots)
        self.iterations += 1

    def _ensure_slots(self, variables: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        """The slots of each variable, created on first sight; state restored by ``set_state`` is bound first."""
        if self._pending is not None:  # set_state() without variables: matched in order, now
            if len(variables) != len(self._pending):
                raise ValueError(
                    f"Invalid value for argument grads_and_vars. Expected {len(self._pending)} "
                    "(gradient, variable) pairs, the variables whose state set_state restored. "
                    f"Received {len(variables)} pairs."
                )
            for i, (var, slots) in enumerate(zip(variables, self._pending, strict=True)):
                _check_slots_fit(slots, var, f"variable {i} in grads_and_vars")
            self._slots = {id(v): (v, s) for v, s in zip(variables, self._pending, strict=True)}
            self._pending = None
        for var in variables:
            if id(var) not in self._slots:  # the dict holds var, so its id stays its own
                self._slots[id(var)] = (var, self.build_slots(var))
        return [self._slots[id(var)][1] for var in variables]

    def get_state(self, variables=None) -> dict:
        """``{"iterations": int, "slots": [{name: array} or None, ...]}``: copies, one entry per variable.

        ``variables`` (e.g. a model's ``weights``) chooses the variables and their
        order; a variable this optimizer has not updated yet gets ``None``. Without
        it: every variable with slots, in the order the optimizer first saw them.
        """
        if variables is None:
            entries = (
                [s for _, s in self._slots.values()] if self._pending is None else self._pending
            )
        else:
            entries = [self._slots.get(id(v), (None, None))[1] for v in variables]
        return {
            "iterations": self.iterations,
            "slots": [None if s is None else {k: a.copy() for k, a in s.items()} for s in entries],
        }

    def set_state(self, state: dict, variables=None) -> None:
        """Restore ``get_state()`` exactly (copies); everything is checked before anything is assigned.

        With ``variables``, ``state["slots"][i]`` belongs to ``variables[i]`` (``None``:
        that variable starts afresh) and must fit its shape and dtype. Without it,
        the slots go to the variables this optimizer already knows, in the order it
        first saw them; an optimizer that has not stepped yet keeps them until the
        first ``apply_gradients``, which matches them to its variables in order.
        """
        if not isinstance(state, dict) or set(state) != {"iterations", "slots"}:
            raise ValueError(
                "Invalid value for argument state. Expected a dict with keys 'iterations' and "
                f"'slots' (from get_state). Received {state!r:.200}."
            )
        iterations, slots = state["iterations"], state["slots"]
        if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)):
            raise TypeError(
                "Invalid type for argument state['iterations']. Expected an integer. "
                f"Received {iterations!r}."
            )
        if iterations < 0:
            raise ValueError(
                "Invalid value for argument state['iterations']. Expected an integer >= 0. "
                f"Received {iterations!r}."
            )
        if not isinstance(slots, (list, tuple)):
            raise ValueError(
                "Invalid value for argument state['slots']. Expected a list with one dict per "
                f"variable. Received {type(slots).__name__}."
            )
        if variables is None and self._slots:
            variables = [v for v, _ in self._slots.values()]
        if variables is not None:
            variables = list(variables)
            if len(slots) != len(variables):
                raise ValueError(
                    f"Invalid value for argument state['slots']. Expected {len(variables)} entries, "
                    f"one per variable. Received {len(slots)}."
                )
        names = sorted(self.build_slots(np.zeros(())))
        restored = []
        for i, s in enumerate(slots):
            where = f"state['slots'][{i}]"
            if s is None and variables is not None:
                restored.append(None)
                continue
            if not isinstance(s, dict) or sorted(s) != names:
                raise ValueError(
                    f"Invalid value for argument {where}. Expected a dict with slots {names} "
                    f"({type(self).__name__} with this configuration). Received "
                    f"{sorted(s) if isinstance(s, dict) else type(s).__name__}."
                )
            arrays = {k: np.array(a, copy=True) for k, a in s.items()}
            ref = variables[i] if variables is not None else next(iter(arrays.values()), None)
            _check_slots_fit(arrays, ref, f"argument {where}", argument=True)
            restored.append(arrays)
        self.iterations = int(iterations)
        if variables is None:
            self._pending = restored if restored else None
            return
        self._pending = None
        for var, arrays in zip(variables, restored, strict=True):
            if arrays is None:
                self._slots.pop(id(var), None)
            else:
                self._slots[id(var)] = (var, arrays)

    def get_config(self) -> dict:
        """The constructor arguments, JSON-able; ``cls.from_config`` rebuilds the optimizer (no state)."""
        return {
            "name": self.name,
            "learning_rate": self.learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
        }

    @classmethod
    def from_config(cls, config: dict):
        return cls(**_checks.config_arguments(cls, config))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _variable(var, i: int) -> np.ndarray:
    if not isinstance(var, np.ndarray) or var.dtype.kind != "f":
        raise TypeError(
            f"Invalid type for variable {i} in grads_and_vars. Expected a float NumPy array "
            f"(updated in place). Received {type(var).__name__}"
            + (f" of dtype {var.dtype}." if isinstance(var, np.ndarray) else ".")
        )
    if not var.flags.writeable:
        raise ValueError(
            f"Invalid value for variable {i} in grads_and_vars. Expected a writeable array "
            "(the optimizer updates it in place). Received a read-only array."
        )
    return var


def _check_slots_fit(slots: dict, var, where: str, argument: bool = False) -> None:
    """Every slot array must be a float array with ``var``'s shape and dtype."""
    if var is None:
        return
    for k, a in slots.items():
        if a.dtype.kind != "f" or a.shape != var.shape or a.dtype != var.dtype:
            if argument:
                raise ValueError(
                    f"Invalid value for {where}[{k!r}]. Expected a float array of shape "
                    f"{var.shape} and dtype {var.dtype}. Received shape {a.shape} and dtype {a.dtype}."
                )
            raise ValueError(
                f"Invalid value for {where}. Expected shape {a.shape} and dtype {a.dtype} "
                f"(its optimizer slot {k!r}). Received shape {var.shape} and dtype {var.dtype}."
            )


def _gradient(grad, var: np.ndarray, i: int) -> np.ndarray:
    g = _checks.float_array(f"grads_and_vars[{i}][0]", grad, var.dtype)  # a copy if cast
    if g.shape != var.shape:
        raise ValueError(
            f"Invalid value for gradient {i} in grads_and_vars. Expected the shape of its "
            f"variable {var.shape}. Received shape {g.shape}."
        )
    return g


# --------------------------------------------------------------------------- the optimizers


def _beta(name: str, value) -> float:
    return _checks.unit_interval(name, value)


class SGD(Optimizer):
    r"""Stochastic gradient descent, with optional (Nesterov) momentum, as Keras.

    .. math::
        \mu = 0:&\quad \theta \leftarrow \theta - \eta g \\
        \mu > 0:&\quad m \leftarrow \mu m - \eta g, \qquad
        \theta \leftarrow \theta + m \quad\text{(nesterov: } \theta \leftarrow \theta + \mu m - \eta g\text{, new } m)

    References: Robbins & Monro (1951); Polyak, "Some methods of speeding up the
    convergence of iteration methods" (1964) for momentum; Sutskever, Martens,
    Dahl & Hinton, "On the importance of initialization and momentum in deep
    learning" (ICML 2013) for this form of Nesterov momentum.

    Keras keeps :math:`\eta` *inside* the velocity. PyTorch keeps it outside
    (:math:`b \leftarrow \mu b + g`, :math:`\theta \leftarrow \theta - \eta b`): the two
    agree while :math:`\eta` is constant and differ once a schedule changes it.
    Slot: ``m`` (only when momentum > 0).
    """

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.0,
        nesterov=False,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name="sgd",
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.momentum = _checks.unit_interval("momentum", momentum)
        self.nesterov = _checks.boolean("nesterov", nesterov)

    def build_slots(self, var):
        return {"m": np.zeros_like(var)} if self.momentum > 0 else {}

    def update(self, var, g, slots):
        lr, mu = self.learning_rate, self.momentum
        if mu == 0:
            var -= g * lr  # θ ← θ − ηg
            return
        m = slots["m"]
        m[...] = m * mu - g * lr  # m ← μm − ηg
        if self.nesterov:
            var += m * mu - g * lr  # θ ← θ + μm − ηg
        else:
            var += m  # θ ← θ + m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class GradientDescent(Optimizer):
    r"""Batch gradient descent: :math:`\theta \leftarrow \theta - \eta g` with :math:`g` the full-data gradient.

    The update is plain SGD's; what differs is the gradient it is given. Here
    :math:`g = \nabla_\theta \frac{1}{n}\sum_{i=1}^{n} \ell_i` over the whole
    training set, one step per epoch (Cauchy, 1847). The optimizer cannot tell
    the two apart: ``Sequential.fit`` sees a ``GradientDescent`` and feeds it
    the full-batch gradient once per epoch. Keras has no such class (it is
    ``SGD`` with ``batch_size`` = the data set size). No slots.
    """

    def __init__(
        self,
        learning_rate=0.01,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name="gradient_descent",
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)

    def update(self, var, g, slots):
        var -= g * self.learning_rate  # θ ← θ − ηg


class Adam(Optimizer):
    r"""Adam, in the "epsilon hat" form Keras uses.

    .. math::
        m &\leftarrow m + (g - m)(1 - \beta_1) \qquad (= \beta_1 m + (1-\beta_1) g) \\
        v &\leftarrow v + (g^2 - v)(1 - \beta_2) \\
        \alpha_t &= \eta\,\sqrt{1 - \beta_2^t}\,/\,(1 - \beta_1^t) \\
        \theta &\leftarrow \theta - \alpha_t\, m / (\sqrt{v} + \hat\epsilon)

    With ``amsgrad``: :math:`\hat v \leftarrow \max(\hat v, v)` and :math:`\hat v` replaces
    :math:`v` in the last line (Reddi, Kale & Kumar, "On the Convergence of Adam
    and Beyond", ICLR 2018; Keras keeps the bias correction).

    Kingma & Ba, "Adam: A Method for Stochastic Optimization" (ICLR 2015). This is
    the formulation in the paragraph before §2.1, with :math:`\hat\epsilon`; Algorithm 1
    divides :math:`\hat m = m/(1-\beta_1^t)` by :math:`\sqrt{\hat v} + \epsilon`,
    :math:`\hat v = v/(1-\beta_2^t)`. The two agree when
    :math:`\epsilon_{\text{alg1}} = \hat\epsilon/\sqrt{1-\beta_2^t}`. PyTorch implements
    Algorithm 1 (default :math:`\epsilon = 10^{-8}`); Keras' default :math:`\hat\epsilon`
    is :math:`10^{-7}`. Slots: ``m``, ``v`` (and ``v_hat`` with amsgrad).

    Precision, as Keras: :math:`\alpha_t` is computed in the variable's dtype from
    :math:`\mathrm{float32}(\eta)` and the powers :math:`\mathrm{float32}(\beta)^t` in a
    float32 run, while the moment updates take :math:`1 - \beta` from the Python
    floats (then rounded to float32), because that is how Keras writes each line.
    In float32, :math:`1 - \mathrm{float32}(0.999)` is 1.3e-5 relative off ``1 - 0.999``:
    the bias correction is where the float32 handling shows.
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name="adam",
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.beta_1 = _beta("beta_1", beta_1)
        self.beta_2 = _beta("beta_2", beta_2)
        self.epsilon = _checks.positive_float("epsilon", epsilon)
        self.amsgrad = _checks.boolean("amsgrad", amsgrad)

    def build_slots(self, var):
        slots = {"m": np.zeros_like(var), "v": np.zeros_like(var)}
        if self.amsgrad:
            slots["v_hat"] = np.zeros_like(var)
        return slots

    def update(self, var, g, slots):
        c = var.dtype.type  # scalars in the variable's dtype, as TF (module docstring)
        t, lr = c(self.iterations + 1), c(self.learning_rate)
        b1, b2, eps = self.beta_1, self.beta_2, self.epsilon
        m, v = slots["m"], slots["v"]
        alpha = lr * np.sqrt(1 - c(b2) ** t) / (1 - c(b1) ** t)  # α_t
        m += (g - m) * (1 - b1)  # m ← m + (g − m)(1 − β1)
        v += (np.square(g) - v) * (1 - b2)  # v ← v + (g² − v)(1 − β2)
        if self.amsgrad:
            v_hat = slots["v_hat"]
            np.maximum(v_hat, v, out=v_hat)  # v̂ ← max(v̂, v)
            v = v_hat
        var -= m * alpha / (np.sqrt(v) + eps)  # θ ← θ − α_t m / (√v + ε̂)

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    r"""Adam with decoupled weight decay: :math:`\theta \leftarrow \theta - \theta\lambda\eta`, then the Adam step.

    Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (ICLR 2019).
    In Keras, AdamW *is* Adam with ``weight_decay`` set (default :math:`\lambda = 0.004`),
    and so it is here: the decay is ``apply_weight_decay``, run by ``apply_gradients``
    before the update. Unlike L2 regularisation (adding :math:`\lambda\theta` to
    :math:`g`), the decay is not divided by :math:`\sqrt{v}`. PyTorch's ``AdamW``
    also multiplies by :math:`\eta` (its default :math:`\lambda` is 0.01).
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name="adamw",
    ):
        if weight_decay is None:
            raise ValueError(
                "Invalid value for argument weight_decay. Expected a float >= 0 for AdamW. "
                "Received weight_decay=None."
            )
        super().__init__(
            learning_rate,
            beta_1,
            beta_2,
            epsilon,
            amsgrad,
            weight_decay,
            clipnorm,
            clipvalue,
            global_clipnorm,
            name,
        )


class RMSprop(Optimizer):
    r"""RMSprop as Keras computes it: :math:`\epsilon` inside the root, no bias correction.

    .. math::
        v &\leftarrow \rho v + (1 - \rho) g^2 \\
        \text{centered:}\quad \bar g &\leftarrow \rho \bar g + (1 - \rho) g,\qquad
            d = v - \bar g^2 + \epsilon \qquad\text{else}\quad d = v + \epsilon \\
        \Delta &= \eta\, g / \sqrt{d} \\
        \text{momentum } \mu > 0:\quad s &\leftarrow \mu s + \Delta,\quad \theta \leftarrow \theta - s
            \qquad\text{else}\quad \theta \leftarrow \theta - \Delta

    Hinton, Srivastava & Swersky, *Neural Networks for Machine Learning*, lecture
    6e (2012); the centered variant is Graves, "Generating Sequences With
    Recurrent Neural Networks" (2013), eq. 38-45. PyTorch puts :math:`\epsilon`
    outside the root (:math:`g/(\sqrt{v} + \epsilon)`, default 1e-8) and its
    default :math:`\rho` is 0.99. Slots: ``v`` (and ``g_bar`` if centered, ``s`` if momentum > 0).
    """

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered=False,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name="rmsprop",
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.rho = _beta("rho", rho)
        self.momentum = _checks.unit_interval("momentum", momentum)
        self.epsilon = _checks.positive_float("epsilon", epsilon)
        self.centered = _checks.boolean("centered", centered)

    def build_slots(self, var):
        slots = {"v": np.zeros_like(var)}
        if self.centered:
            slots["g_bar"] = np.zeros_like(var)
        if self.momentum > 0:
            slots["s"] = np.zeros_like(var)
        return slots

    def update(self, var, g, slots):
        rho, eps = self.rho, self.epsilon
        v = slots["v"]
        v[...] = rho * v + (1 - rho) * np.square(g)  # v ← ρv + (1 − ρ)g²
        if self.centered:
            g_bar = slots["g_bar"]
            g_bar[...] = rho * g_bar + (1 - rho) * g  # ḡ ← ρḡ + (1 − ρ)g
            d = v - np.square(g_bar) + eps  # d = v − ḡ² + ε
        else:
            d = v + eps  # d = v + ε
        increment = self.learning_rate * g / np.sqrt(d)  # Δ = ηg / √d
        if self.momentum > 0:
            s = slots["s"]
            s[...] = self.momentum * s + increment  # s ← μs + Δ
            var -= s  # θ ← θ − s
        else:
            var -= increment  # θ ← θ − Δ

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


class Adagrad(Optimizer):
    r"""Adagrad: per-coordinate steps shrinking with the sum of squared gradients.

    .. math::
        a \leftarrow a + g^2 \quad (a_0 = 0.1), \qquad
        \theta \leftarrow \theta - \eta\, g / \sqrt{a + \epsilon}

    Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and
    Stochastic Optimization" (JMLR 2011). Keras starts the accumulator at
    ``initial_accumulator_value`` = 0.1 and puts :math:`\epsilon` inside the root;
    PyTorch starts at 0 and uses :math:`g/(\sqrt{a} + \epsilon)`, :math:`\epsilon` = 1e-10.
    Slot: ``a``.
    """

    def __init__(
        self,
        learning_rate=0.001,
        initial_accumulator_value=0.1,
        epsilon=1e-7,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name="adagrad",
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.initial_accumulator_value = _checks.non_negative_float(
            "initial_accumulator_value", initial_accumulator_value
        )
        self.epsilon = _checks.positive_float("epsilon", epsilon)

    def build_slots(self, var):
        return {"a": np.full_like(var, self.initial_accumulator_value)}

    def update(self, var, g, slots):
        a = slots["a"]
        a += np.square(g)  # a ← a + g²
        var -= self.learning_rate * g / np.sqrt(a + self.epsilon)  # θ ← θ − ηg / √(a + ε)

    def get_config(self):
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


class Adadelta(Optimizer):
    r"""Adadelta: the gradient scaled by the RMS of past updates :math:`\Delta` over the RMS of gradients.

    .. math::
        E_{g} &\leftarrow \rho E_{g} + (1 - \rho) g^2 \\
        \Delta &= -\sqrt{E_{\Delta} + \epsilon}\; g \,/\, \sqrt{E_{g} + \epsilon}
            \qquad (E_\Delta \text{ from the previous step}) \\
        E_{\Delta} &\leftarrow \rho E_{\Delta} + (1 - \rho) \Delta^2 \\
        \theta &\leftarrow \theta + \eta \Delta

    Zeiler, "ADADELTA: An Adaptive Learning Rate Method" (2012), Algorithm 1. The
    paper has no learning rate (:math:`\eta = 1`); Keras' default is 0.001, at which
    Adadelta barely moves: say which :math:`\eta` a comparison used. :math:`E_\Delta`
    accumulates the *unscaled* :math:`\Delta`, while the step taken is :math:`\eta\Delta`:
    only for :math:`\eta = 1` is :math:`\sqrt{E_\Delta + \epsilon}` the RMS of past
    steps (the paper's reading, which gives Adadelta its "units" argument); for any
    other :math:`\eta` it is the RMS of past steps divided by :math:`\eta`. PyTorch's
    default is :math:`\eta = 1`, :math:`\rho = 0.9`, :math:`\epsilon = 10^{-6}`.
    Slots: ``e_g2`` (:math:`E_g`), ``e_delta2`` (:math:`E_\Delta`).
    """

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.95,
        epsilon=1e-7,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name="adadelta",
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.rho = _beta("rho", rho)
        self.epsilon = _checks.positive_float("epsilon", epsilon)

    def build_slots(self, var):
        return {"e_g2": np.zeros_like(var), "e_delta2": np.zeros_like(var)}

    def update(self, var, g, slots):
        rho, eps = self.rho, self.epsilon
        e_g2, e_delta2 = slots["e_g2"], slots["e_delta2"]
        e_g2[...] = rho * e_g2 + (1 - rho) * np.square(g)  # E_g ← ρE_g + (1 − ρ)g²
        delta = -(np.sqrt(e_delta2 + eps) * g) / np.sqrt(e_g2 + eps)  # Δ, old E_Δ
        e_delta2[...] = rho * e_delta2 + (1 - rho) * np.square(delta)  # E_Δ ← ρE_Δ + (1 − ρ)Δ²
        var += self.learning_rate * delta  # θ ← θ + ηΔ

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Nadam(Optimizer):
    r"""Nadam: Adam with Nesterov momentum and a warming-up momentum schedule, as Keras 3.

    .. math::
        u_t &= \beta_1\,(1 - \tfrac12\, 0.96^{t}), \qquad
        \Pi_t = \prod_{i=1}^{t} u_i \\
        m &\leftarrow m + (g - m)(1 - \beta_1), \qquad v \leftarrow v + (g^2 - v)(1 - \beta_2) \\
        \hat m &= \frac{u_{t+1}\, m}{1 - \Pi_t u_{t+1}} + \frac{(1 - u_t)\, g}{1 - \Pi_t},
            \qquad \hat v = \frac{v}{1 - \beta_2^t} \\
        \theta &\leftarrow \theta - \eta\, \hat m / (\sqrt{\hat v} + \epsilon)

    Dozat, "Incorporating Nesterov Momentum into Adam" (ICLR 2016 workshop),
    Algorithm 2. **The schedule is Keras 3's, not the paper's.** The paper (after
    Sutskever et al. 2013) warms the momentum up as
    :math:`u_t = \beta_1(1 - \tfrac12 0.96^{t/250})`; standalone Keras 2 and tf.keras
    2.x (``schedule_decay`` = 0.004) and PyTorch's ``NAdam`` (``momentum_decay`` =
    0.004) keep that :math:`0.96^{0.004 t}`. Keras 3 (``keras/src/optimizers/nadam.py``)
    writes :math:`0.96^{t}`: its :math:`u_t` is within 1% of :math:`\beta_1` after
    about 100 steps, where the paper's takes about 25,000. scratchnet follows Keras 3
    because matching Keras 3 number for number is what ``parity/`` checks; a
    reader porting a tf.keras 2.x or PyTorch Nadam run will see a different
    early trajectory. :math:`\Pi_t` depends only on :math:`t`, so it is not a slot:
    it is recomputed from the step count (cached between steps), multiplied up in
    Keras' order :math:`\Pi_t = (\Pi_{t-1}\beta_1)(1 - \tfrac12 0.96^t)`. In float32,
    :math:`\beta_1, \beta_2` and 0.96 are cast to float32 and every scalar, including
    :math:`1 - \beta_1` and :math:`1 - \beta_2`, is computed in float32, as Keras does.
    PyTorch also uses Adam's Algorithm-1 :math:`\epsilon`. Slots: ``m``, ``v``.
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name="nadam",
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.beta_1 = _beta("beta_1", beta_1)
        self.beta_2 = _beta("beta_2", beta_2)
        self.epsilon = _checks.positive_float("epsilon", epsilon)
        self._u_product = {}  # dtype -> (t, Π_t), Π_0 = 1 (the empty product)

    def build_slots(self, var):
        return {"m": np.zeros_like(var), "v": np.zeros_like(var)}

    def _u(self, t, c) -> np.floating:
        r""":math:`u_t = \beta_1(1 - \tfrac12 0.96^t)` computed in the scalar type ``c``."""
        return c(self.beta_1) * (1 - c(0.5) * c(0.96) ** c(t))

    def _pi(self, t: int, c) -> np.floating:
        r""":math:`\Pi_t` in the scalar type ``c``, multiplied up in the same order every time, so a resumed run gets the same bits."""
        cached_t, product = self._u_product.get(c, (0, c(1)))
        if cached_t > t:
            cached_t, product = 0, c(1)
        for i in range(cached_t + 1, t + 1):
            product = product * c(self.beta_1) * (1 - c(0.5) * c(0.96) ** c(i))  # Keras' order
        self._u_product[c] = (t, product)
        return product

    def update(self, var, g, slots):
        c = var.dtype.type  # scalars in the variable's dtype, as TF (module docstring)
        t, lr = self.iterations + 1, c(self.learning_rate)
        b1, b2 = c(self.beta_1), c(self.beta_2)
        m, v = slots["m"], slots["v"]
        u_t, u_next = self._u(t, c), self._u(t + 1, c)
        pi_t = self._pi(t, c)  # Π_t, includes u_t
        m += (g - m) * (1 - b1)  # m ← m + (g − m)(1 − β1)
        v += (np.square(g) - v) * (1 - b2)  # v ← v + (g² − v)(1 − β2)
        m_hat = u_next * m / (1 - pi_t * u_next) + (1 - u_t) * g / (1 - pi_t)
        v_hat = v / (1 - b2 ** c(t))
        var -= m_hat * lr / (np.sqrt(v_hat) + self.epsilon)

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


class Adamax(Optimizer):
    r"""Adamax: Adam with the infinity norm in place of the second moment.

    .. math::
        m \leftarrow \beta_1 m + (1 - \beta_1) g, \qquad
        u \leftarrow \max(\beta_2 u, |g|), \qquad
        \theta \leftarrow \theta - \eta\, m / \big((1 - \beta_1^t)(u + \epsilon)\big)

    Kingma & Ba, "Adam" (ICLR 2015), §7.1, Algorithm 2. The paper has no
    :math:`\epsilon` (Keras adds 1e-7 to :math:`u`, PyTorch adds 1e-8 inside the max:
    :math:`\max(\beta_2 u, |g| + \epsilon)`). Keras writes the first line as
    :math:`m \leftarrow m + (g - m)(1 - \beta_1)`. Never squares :math:`g`. Slots: ``m``, ``u``.
    In float32 the bias correction :math:`1 - \beta_1^t` uses
    :math:`\mathrm{float32}(\beta_1)^t` computed in float32, as Keras does.
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name="adamax",
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.beta_1 = _beta("beta_1", beta_1)
        self.beta_2 = _beta("beta_2", beta_2)
        self.epsilon = _checks.positive_float("epsilon", epsilon)

    def build_slots(self, var):
        return {"m": np.zeros_like(var), "u": np.zeros_like(var)}

    def update(self, var, g, slots):
        c = var.dtype.type  # scalars in the variable's dtype, as TF (module docstring)
        t, b1 = c(self.iterations + 1), self.beta_1
        m, u = slots["m"], slots["u"]
        m += (g - m) * (1 - b1)  # m ← β1 m + (1 − β1) g
        np.maximum(self.beta_2 * u, np.abs(g), out=u)  # u ← max(β2 u, |g|)
        var -= self.learning_rate * m / ((1 - c(b1) ** t) * (u + self.epsilon))

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


# The one table of string identifiers: name -> (class, constructor arguments).
_OPTIMIZERS: dict[str, tuple[type[Optimizer], dict]] = {
    "sgd": (SGD, {}),
    "momentum": (SGD, {"momentum": 0.9}),
    "nesterov": (SGD, {"momentum": 0.9, "nesterov": True}),
    "gd": (GradientDescent, {}),
    "adam": (Adam, {}),
    "adamw": (AdamW, {}),
    "rmsprop": (RMSprop, {}),
    "adagrad": (Adagrad, {}),
    "adadelta": (Adadelta, {}),
    "nadam": (Nadam, {}),
    "adamax": (Adamax, {}),
}


def serialize(optimizer: Optimizer) -> dict:
    """``{"class_name": ..., "config": ...}``, JSON-able (no state); ``get`` reads it back."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            "Invalid type for argument optimizer. Expected an Optimizer instance. "
            f"Received optimizer={optimizer!r}."
        )
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def get(identifier) -> Optimizer:
    """Resolve an optimizer: a name from ``_OPTIMIZERS`` (a fresh instance), an instance, or a dict from ``serialize``."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _OPTIMIZERS:
            raise ValueError(
                f"Invalid value for argument optimizer. Expected one of {sorted(_OPTIMIZERS)}. "
                f"Received optimizer={identifier!r}."
            )
        cls, kwargs = _OPTIMIZERS[key]
        return cls(**kwargs)
    if isinstance(identifier, dict):
        classes = {cls.__name__: cls for cls, _ in _OPTIMIZERS.values()}
        if set(identifier) != {"class_name", "config"} or identifier["class_name"] not in classes:
            raise ValueError(
                "Invalid value for argument optimizer. Expected a dict {'class_name': one of "
                f"{sorted(classes)}, 'config': {{...}}}} (from serialize). "
                f"Received optimizer={identifier!r}."
            )
        return classes[identifier["class_name"]].from_config(identifier["config"])
    raise TypeError(
        "Invalid type for argument optimizer. Expected a name, an Optimizer instance or a "
        f"serialized dict. Received optimizer={identifier!r}."
    )
