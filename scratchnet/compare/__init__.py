r"""``scratchnet compare``: the activation × optimizer study on MNIST, side by side with TensorFlow.

Modules, in the order a run uses them:

* ``cli``: the options, their checks (before any training), the plan of tasks;
* ``experiment``: one task — the model, the data split, the batch order, the
  scratchnet training loop with its per-epoch diagnostics;
* ``tensorflow_side``: the same task in Keras (TensorFlow imported lazily, here only);
* ``runner``: running the tasks (this process, ``--jobs`` processes or a Dask
  cluster), writing each result atomically as it finishes, resuming;
* ``stats``: bootstrap confidence intervals and McNemar's exact test;
* ``plots`` and ``report``: the figures, ``results.json``, ``report.md`` and
  the self-contained ``report.html`` (Jinja2 templates in ``templates/``).

``import scratchnet`` does not import this package; the command line imports
it when ``compare`` is asked for. It needs matplotlib and jinja2 (the
``compare`` extra), TensorFlow for the side-by-side runs (``tf``) and
``distributed`` for ``--scheduler`` (``dask``).
"""
