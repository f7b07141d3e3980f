r"""The figures of the comparison report, drawn with matplotlib (``Figure`` objects, no pyplot state).

Every function takes numbers from the aggregated results and returns PNG
bytes; the report embeds them (HTML, base64) and writes them next to
``report.md``. Colours: one per pair, the same in every figure; line style:
solid for scratchnet, dashed for TensorFlow.
"""

from __future__ import annotations

import io

import numpy as np

STYLE = {"scratchnet": "-", "tensorflow": "--"}
CURVES = (
    ("loss", "train loss"),
    ("test_loss", "{eval} loss"),
    ("accuracy", "train accuracy"),
    ("test_accuracy", "{eval} accuracy"),
)


def _figure(width, height):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="tight")


def _png(fig) -> bytes:
    from matplotlib.ticker import MaxNLocator

    for ax in fig.axes:
        if ax.get_xlabel() == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _epoch_axes(fig, axes, legend_size) -> bytes:
    """Label the x axes "epoch", add grids and legends; the PNG."""
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=legend_size)
    return _png(fig)


def colour(i: int):
    from matplotlib import colormaps

    return colormaps["tab10"](i % 10)


def learning_curves(groups, pairs, eval_name: str) -> bytes:
    """Train/eval loss and accuracy per epoch, every pair and backend on shared axes."""
    fig = _figure(11, 7.5)
    axes = fig.subplots(2, 2, sharex=True)
    for ax, (key, title) in zip(axes.ravel(), CURVES, strict=True):
        for g in groups:
            y = np.asarray(g["curves"][key])
            x = np.arange(1, len(y) + 1)
            ax.plot(x, y, STYLE[g["backend"]], color=colour(pairs.index(g["pair"])), marker=".",
                    label=f"{g['pair']} ({g['backend']})")  # fmt: skip
        ax.set_title(title.format(eval=eval_name))
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if "loss" in key:
            ax.set_yscale("log")
    axes[0, 0].legend(fontsize=8)
    return _png(fig)


def side_by_side(pair_groups, eval_name: str) -> bytes:
    """One pair: scratchnet and TensorFlow curves overlaid (loss, accuracy; train and eval)."""
    fig = _figure(10, 3.6)
    axes = fig.subplots(1, 2)
    panels = ((axes[0], ("loss", "test_loss"), 1), (axes[1], ("accuracy", "test_accuracy"), 100))
    for g in pair_groups:
        for ax, keys, scale in panels:
            for key, shade in zip(keys, (0.45, 1.0), strict=True):  # train faint, eval solid
                y = scale * np.asarray(g["curves"][key])
                ax.plot(np.arange(1, len(y) + 1), y, STYLE[g["backend"]], marker=".", alpha=shade,
                        color="C0" if g["backend"] == "scratchnet" else "C3",
                        label=f"{g['backend']} {'train' if key == keys[0] else eval_name}")  # fmt: skip
    axes[0].set_title(f"{pair_groups[0]['pair']}: loss")
    axes[1].set_title(f"{pair_groups[0]['pair']}: accuracy (%)")
    return _epoch_axes(fig, axes, legend_size=8)


def confusion(pair_groups) -> bytes:
    """Confusion matrices of one pair, one panel per backend (rows: true class, columns: predicted)."""
    fig = _figure(4.6 * len(pair_groups), 4.2)
    axes = np.atleast_1d(fig.subplots(1, len(pair_groups)))
    for ax, g in zip(axes, pair_groups, strict=True):
        m = np.asarray(g["confusion"])
        off = m.astype(float)
        np.fill_diagonal(off, np.nan)  # colour the errors; the diagonal would swamp them
        ax.imshow(off, cmap="Reds")
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7,
                        color="black" if i != j else "tab:blue")  # fmt: skip
        ax.set_title(f"{g['pair']} ({g['backend']})")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_xticks(range(m.shape[1]))
        ax.set_yticks(range(m.shape[0]))
    return _png(fig)


def histograms(group) -> bytes:
    """One pair (scratchnet): each layer's activation and kernel-gradient histograms at the end of training."""
    panels = []
    for layer, entry in group["diagnostics"]["layers"].items():
        for key in ("activation_hist", "gradient_hist"):
            if key in entry:
                panels.append((layer, entry[key]))
    fig = _figure(3.2 * max(len(panels), 1), 3.0)
    axes = np.atleast_1d(fig.subplots(1, max(len(panels), 1)))
    for ax, (layer, h) in zip(axes, panels, strict=False):
        edges = np.asarray(h["edges"])
        ax.stairs(np.asarray(h["counts"]), edges, fill=True, alpha=0.7)
        ax.set_yscale("symlog")
        ax.set_title(f"{layer}: {h['what']}", fontsize=9)
        ax.tick_params(labelsize=7)
    return _png(fig)


def dynamics(groups, pairs) -> bytes:
    """Per epoch (0 = initial weights), scratchnet side: gradient norms, dead and saturated fractions."""
    fig = _figure(13, 3.8)
    axes = fig.subplots(1, 3)
    for g in groups:
        layers = g["diagnostics"]["layers"]
        c = colour(pairs.index(g["pair"]))
        for layer, style in zip(layers, ("-", "--", ":", "-."), strict=False):
            y = layers[layer]["grad_norm"]
            axes[0].plot(range(len(y)), y, style, color=c, marker=".", label=f"{g['pair']} {layer}")
            for ax, key in ((axes[1], "dead_fraction"), (axes[2], "saturated_fraction")):
                if key in layers[layer]:
                    y = 100 * np.asarray(layers[layer][key])
                    ax.plot(
                        range(len(y)), y, style, color=c, marker=".", label=f"{g['pair']} {layer}"
                    )
    axes[0].set_yscale("log")
    axes[0].set_title("gradient norm per layer (probe batch)")
    axes[1].set_title("dead units (%): f'(z) = 0 on every probe sample")
    axes[2].set_title("saturated entries (%): f'(z) < 5% of max f'")
    return _epoch_axes(fig, axes, legend_size=7)


def activation_functions(names) -> bytes:
    """Each activation f and its derivative f', evaluated by scratchnet's own forward and backward."""
    from scratchnet import activations

    fig = _figure(3.3 * len(names), 3.0)
    axes = np.atleast_1d(fig.subplots(1, len(names)))
    x = np.linspace(-5, 5, 1001)
    for ax, name in zip(axes, names, strict=True):
        act = activations.get(name)
        y = act(x)
        ax.plot(x, y, label="f(x)")
        ax.plot(x, act.backward(x, y, np.ones_like(x)), "--", label="f'(x)")
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _png(fig)
