r"""Symbolic tensors and the layer graph behind the functional API.

``x = layers.Input(shape=(28, 28, 1))`` is a ``SymbolicTensor``: a shape
(batch axis ``None``), a dtype, and the ``Node`` that produced it. Calling a
layer on symbolic tensors (``y = Dense(10)(x)``) computes nothing: it records a
``Node(layer, inputs, output)`` and returns a new symbolic tensor, as Keras'
``KerasTensor`` does. ``scratchnet.models.Model(inputs, outputs)`` then walks
the nodes back from its outputs.

The model is a directed acyclic graph of nodes. ``topological_nodes`` orders
them so that every node comes after the nodes that feed it (Kahn's algorithm
on the reverse reachability from the outputs); the forward pass visits them in
that order and the backward pass in the reverse one. Where a tensor feeds
several layers, its gradient is the SUM of what each consumer sends back
(the multivariate chain rule: :math:`\partial L/\partial t = \sum_c J_c^\top\, \partial L/\partial y_c`).

Reference: Goodfellow et al. (2016), §6.5.6, Algorithms 6.5 and 6.6 (general back-propagation).
"""

from __future__ import annotations

import numpy as np


class SymbolicTensor:
    """A placeholder for a batch: ``shape`` (with ``None`` for the batch axis), ``dtype``, and its producer.

    ``node`` is the ``Node`` whose output this is (an ``InputLayer``'s node for a
    model input). It holds no values.
    """

    def __init__(self, shape, dtype, node=None):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.node = node

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        layer = self.node.layer.name if self.node is not None else None
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype.name} from layer={layer!r}>"


class Node:
    """One call of a layer in a graph: ``layer`` applied to ``inputs`` gave ``output``.

    ``list_call``: the layer was called on a list (a merge layer), so its
    ``forward`` takes a list and its ``backward`` returns one.
    """

    def __init__(
        self, layer, inputs: list[SymbolicTensor], output: SymbolicTensor, list_call=False
    ):
        self.layer = layer
        self.inputs = list(inputs)
        self.output = output
        self.list_call = bool(list_call)
        output.node = self

    def __repr__(self) -> str:
        return f"<Node {self.layer.name}: {len(self.inputs)} input(s)>"


def is_symbolic(x) -> bool:
    """True for a ``SymbolicTensor`` or a non-empty list/tuple of them."""
    if isinstance(x, SymbolicTensor):
        return True
    return (
        isinstance(x, (list, tuple)) and bool(x) and all(isinstance(v, SymbolicTensor) for v in x)
    )


def call_symbolic(layer, x) -> SymbolicTensor:
    """Record ``layer(x)`` for symbolic ``x``: check the shapes, add a ``Node``, return its output.

    Nothing is built here: ``Model`` builds every layer with its own generator.
    """
    inputs = [x] if isinstance(x, SymbolicTensor) else list(x)
    shapes = [t.shape[1:] for t in inputs]
    shape = shapes[0] if isinstance(x, SymbolicTensor) else shapes
    out_shape = tuple(layer.compute_output_shape(shape))
    if layer.input_shape is not None and shape != layer.input_shape:
        raise ValueError(
            f"Invalid value for argument inputs. Expected inputs of shape {layer.input_shape} "
            f"for layer {layer.name!r} (declared or built before). Received shape {shape}."
        )
    output = SymbolicTensor((None, *out_shape), layer.dtype)
    Node(layer, inputs, output, list_call=not isinstance(x, SymbolicTensor))
    return output


def topological_nodes(inputs: list[SymbolicTensor], outputs: list[SymbolicTensor]) -> list[Node]:
    """The nodes from ``inputs`` to ``outputs``, each after every node that feeds it; the inputs' first.

    ``inputs`` must be ``Input`` tensors. Raises ``ValueError`` when an output
    depends on an ``Input`` that is not among ``inputs``.
    """
    input_ids = {id(t) for t in inputs}
    nodes: dict[int, Node] = {id(t.node): t.node for t in inputs}
    stack = list(outputs)
    while stack:  # every node reachable backwards from the outputs
        t = stack.pop()
        if id(t.node) in nodes:
            continue
        if not t.node.inputs and id(t) not in input_ids:
            raise ValueError(
                f"Invalid value for argument outputs. The graph reaches the input {t!r}, which is "
                "not among the model's inputs: pass every Input the outputs depend on."
            )
        nodes[id(t.node)] = t.node
        stack.extend(t.node.inputs)
    # Kahn's algorithm: a node is ready once every node producing one of its inputs is placed.
    waiting = {key: len(node.inputs) for key, node in nodes.items()}
    consumers: dict[int, list[Node]] = {}
    for node in nodes.values():
        for t in node.inputs:
            consumers.setdefault(id(t.node), []).append(node)
    ready = list(dict.fromkeys(t.node for t in inputs))
    order: list[Node] = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for consumer in consumers.get(id(node), []):
            waiting[id(consumer)] -= 1
            if waiting[id(consumer)] == 0:
                ready.append(consumer)
    return order
