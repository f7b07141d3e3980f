r"""scratchnet against the TensorFlow path a Keras user would take, op by op and model by model.

``python -m benchmarks`` (or ``scratchnet bench``) times the same work on the
same inputs and weights in scratchnet and in TensorFlow (eager, inside
``tf.function``, Keras ``fit``/``predict``, Keras with XLA), interleaved, and
writes ``benchmarks/results/<machine>-<date>.json``, a markdown table and the
plots. Each timing sits beside the max difference of its outputs against
TensorFlow's. See ``benchmarks/README.md``.

Modules: ``timing`` (interleaved repeats, medians and spread, the machine's
description), ``ops`` (per-operation cases), ``model_cases`` (training step,
epoch, predict, peak memory), ``report`` (table and plots), ``cli`` (the entry point).
"""
