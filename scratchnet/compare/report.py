r"""From finished runs to the report folder: ``results.json``, ``report.md``, ``report.html``, ``figures/``.

Aggregation, per (pair, backend) group over its runs (seeds × folds):

* final train/eval loss and accuracy: mean ± std over runs (std with ddof=1);
* best epoch: the epoch of the highest mean eval accuracy;
* time per epoch: mean training time of one epoch (evaluation excluded);
* per seed, the per-sample correctness on the evaluation set: the test set,
  or with ``--cv`` the out-of-fold predictions (each training sample predicted
  once, by the fold model that did not train on it);
* the 95% bootstrap CI of the accuracy (``stats.bootstrap_ci``), the confusion
  matrix summed over seeds, per-class precision / recall / F1
  (``scratchnet.metrics.classification_report``) and the most confused class pairs.

Ranking, per backend: groups sorted by accuracy; each neighbour pair is tested
with exact McNemar (``stats.mcnemar``) seed by seed on the same samples. A
difference is called real only when every seed's p-value is below
0.05 / m (Bonferroni over the m neighbour comparisons of that ranking);
otherwise the report says the two cannot be told apart. Pairs chained by
such ties form a tier; tiers, not single ranks, are the conclusion.
"""

from __future__ import annotations

import base64

import numpy as np

from scratchnet.compare import experiment, plots, stats
from scratchnet.compare.runner import write_json_atomic

ALPHA = 0.05
HALF_POINT = 0.5  # percentage points: the side-by-side agreement the issue asks for
FIRST_STEP_CHECK = 20  # steps compared in the side-by-side table


def _correct_by_seed(runs) -> tuple[dict, dict]:
    """``({seed: correct (n,) bool}, {seed: (y_true, y_pred)})`` on the evaluation set, folds assembled."""
    by_seed: dict = {}
    for r in runs:
        by_seed.setdefault(r["task"]["seed"], []).append(r)
    correct, labels = {}, {}
    for seed, rs in sorted(by_seed.items()):
        if rs[0]["eval_indices"] is None:
            yt, yp = np.asarray(rs[0]["y_true"]), np.asarray(rs[0]["y_pred"])
        else:  # out-of-fold: put each fold's predictions back at their training-set positions
            idx = np.concatenate([r["eval_indices"] for r in rs])
            order = np.argsort(idx, kind="stable")
            yt = np.concatenate([r["y_true"] for r in rs])[order]
            yp = np.concatenate([r["y_pred"] for r in rs])[order]
        correct[seed], labels[seed] = yt == yp, (yt, yp)
    return correct, labels


def _mean_curves(runs) -> dict:
    keys = ("loss", "accuracy", "test_loss", "test_accuracy", "epoch_time")
    length = min(len(r["history"]["loss"]) for r in runs)
    return {k: np.mean([r["history"][k][:length] for r in runs], axis=0).tolist() for k in keys}


def _mean_diagnostics(runs) -> dict:
    """Per-epoch scalars averaged over runs; histograms of the first run."""
    first = runs[0]["diagnostics"]
    out = {"layers": {}}
    for layer, entry in first.get("layers", {}).items():
        target = out["layers"][layer] = {}
        for key, value in entry.items():
            if key.endswith("_hist"):
                target[key] = value
            else:
                length = min(len(r["diagnostics"]["layers"][layer][key]) for r in runs)
                target[key] = np.mean(
                    [r["diagnostics"]["layers"][layer][key][:length] for r in runs], axis=0
                ).tolist()
    return out


def aggregate(results, pairs, backends) -> list[dict]:
    """One dict per (pair, backend) with every number of the ranking, in pair then backend order."""
    from scratchnet.metrics import classification_report, confusion_matrix

    groups = []
    for pair in pairs:
        for backend in backends:
            runs = [r for r in results if not r.get("error") and not r.get("diverged") and f"{r['task']['activation']}+{r['task']['optimizer']}" == pair
                    and r["task"]["backend"] == backend and r["history"]["loss"]]  # fmt: skip
            if not runs:
                continue
            correct, labels = _correct_by_seed(runs)
            matrix = np.stack(list(correct.values()))  # (S, n)
            low, high = stats.bootstrap_ci(matrix)
            yt = np.concatenate([t for t, _ in labels.values()])
            yp = np.concatenate([p for _, p in labels.values()])
            cm = confusion_matrix(yt, yp, num_classes=10)
            per_class, _ = classification_report(yt, yp, num_classes=10)
            curves = _mean_curves(runs)
            final = {}
            for key in ("loss", "accuracy", "test_loss", "test_accuracy"):
                mean, std = stats.mean_std([r["history"][key][-1] for r in runs])
                final[key] = {"mean": mean, "std": std}
            groups.append({
                "pair": pair,
                "backend": backend,
                "runs": len(runs),
                "seeds": sorted(correct),
                "final": final,
                "accuracy": float(matrix.mean()),
                "ci95": [low, high],
                "best_epoch": int(np.argmax(curves["test_accuracy"])) + 1,
                "time_per_epoch": float(np.mean([t for r in runs for t in r["history"]["epoch_time"]])),
                "curves": curves,
                "confusion": cm.tolist(),
                "per_class": {str(k): per_class[str(k)] for k in range(10)},
                "macro_f1": per_class["macro avg"]["f1-score"],
                "most_confused": stats.most_confused(cm),
                "diagnostics": _mean_diagnostics(runs) if backend == "scratchnet" else {},
                "first_steps": runs[0]["first_steps"],
                "first_steps_seed": runs[0]["task"]["seed"],
                "_correct": correct,
            })  # fmt: skip
    return groups


def rank(groups, backend) -> dict:
    """The ranking of one backend with McNemar between neighbours and the tiers they imply."""
    ranked = sorted((g for g in groups if g["backend"] == backend), key=lambda g: -g["accuracy"])
    m = max(len(ranked) - 1, 1)
    threshold = ALPHA / m
    comparisons, tiers = [], [[ranked[0]["pair"]]] if ranked else []
    for a, b in zip(ranked, ranked[1:], strict=False):
        seeds = sorted(set(a["_correct"]) & set(b["_correct"]))
        tests = [{"seed": s, **stats.mcnemar(a["_correct"][s], b["_correct"][s])} for s in seeds]
        real = bool(tests) and all(t["p_value"] < threshold for t in tests)
        comparisons.append({
            "better": a["pair"], "worse": b["pair"],
            "difference_pp": 100 * (a["accuracy"] - b["accuracy"]),
            "tests": tests, "threshold": threshold, "distinguishable": real,
        })  # fmt: skip
        if real:
            tiers.append([b["pair"]])
        else:
            tiers[-1].append(b["pair"])
    return {
        "backend": backend,
        "order": [g["pair"] for g in ranked],
        "comparisons": comparisons,
        "tiers": tiers,
    }


def side_by_side(groups, pairs) -> list[dict]:
    """Per pair with both backends: the accuracy gap, the first steps' loss gap, McNemar between them."""
    rows = []
    for pair in pairs:
        sn = next((g for g in groups if g["pair"] == pair and g["backend"] == "scratchnet"), None)
        tf = next((g for g in groups if g["pair"] == pair and g["backend"] == "tensorflow"), None)
        if sn is None or tf is None:
            continue
        a, b = np.asarray(sn["first_steps"]), np.asarray(tf["first_steps"])
        k = min(len(a), len(b), FIRST_STEP_CHECK)
        gap = float(np.max(np.abs(a[:k] - b[:k]) / np.abs(b[:k]))) if k else None
        seeds = sorted(set(sn["_correct"]) & set(tf["_correct"]))
        tests = [{"seed": s, **stats.mcnemar(sn["_correct"][s], tf["_correct"][s])} for s in seeds]
        diff = 100 * (sn["accuracy"] - tf["accuracy"])
        rows.append({
            "pair": pair,
            "scratchnet_accuracy": sn["accuracy"], "tensorflow_accuracy": tf["accuracy"],
            "difference_pp": diff, "within_half_point": abs(diff) <= HALF_POINT,
            "first_steps_compared": k, "first_steps_max_rel_diff": gap,
            "mcnemar": tests,
        })  # fmt: skip
    return rows


def _pct(x) -> str:
    return f"{100 * x:.2f}%"


def conclusions(groups, rankings, sbs, eval_name, n_eval) -> list[str]:
    """Plain sentences: what the statistics can and cannot tell apart."""
    lines = []
    for rk in rankings:
        if not rk["order"]:
            continue
        head = f"{rk['backend']}: "
        if len(rk["order"]) == 1:
            lines.append(head + f"one pair only ({rk['order'][0]}); nothing to rank.")
            continue
        tiers = " > ".join("{" + ", ".join(t) + "}" for t in rk["tiers"])
        lines.append(
            head
            + f"tiers by McNemar between neighbours (Bonferroni p < {rk['comparisons'][0]['threshold']:.3g}): {tiers}."
        )
        for c in rk["comparisons"]:
            ps = ", ".join(f"{t['p_value']:.2g}" for t in c["tests"])
            verdict = (
                "a real difference: the paired test on the same samples rejects equal error rates"
                if c["distinguishable"]
                else "cannot be told apart on this evaluation set: the gap is within what chance produces"
            )
            lines.append(
                f"  {c['better']} vs {c['worse']}: {c['difference_pp']:+.2f} pp (p = {ps}) — {verdict}."
            )
    widths = [100 * (g["ci95"][1] - g["ci95"][0]) / 2 for g in groups]
    if widths:
        lines.append(
            f"The 95% bootstrap intervals are ±{min(widths):.2f} to ±{max(widths):.2f} pp wide on {n_eval:,} "
            f"{eval_name} samples: gaps smaller than that are noise unless the paired test says otherwise "
            "(McNemar is sharper than comparing intervals, because both models see the same samples)."
        )
    seeds = max((len(g["seeds"]) for g in groups), default=0)
    if seeds < 2 and len(groups) > 1:
        lines.append(
            "One seed per pair: McNemar compares these particular trained networks on this test set. "
            "How much a pair's accuracy moves with another initialisation and batch order is not "
            "measured, so a 'different' verdict is about these networks, not yet about the recipe "
            "(use --seeds 0,1,2 for mean ± std and a seed-by-seed test)."
        )
    for row in sbs:
        lines.append(
            f"Side by side, {row['pair']}: scratchnet {_pct(row['scratchnet_accuracy'])} vs TensorFlow "
            f"{_pct(row['tensorflow_accuracy'])} ({row['difference_pp']:+.2f} pp, "
            + ("within" if row["within_half_point"] else "OUTSIDE")
            + f" ±{HALF_POINT} pp); first {row['first_steps_compared']} steps' losses agree to "
            + (
                f"{row['first_steps_max_rel_diff']:.1e} relative."
                if row["first_steps_max_rel_diff"] is not None
                else "n/a."
            )
        )
    return lines


def summary_table(groups, rankings, eval_name) -> str:
    """The one-screen table printed at the end of a run."""
    head = f"{'#':>2}  {'pair':<22} {'backend':<10} {eval_name + ' acc':>15} {'95% CI':>17} {eval_name + ' loss':>11} {'best':>4} {'s/epoch':>7}"
    lines = [head, "-" * len(head)]
    by = {(g["pair"], g["backend"]): g for g in groups}
    for rk in rankings:
        for i, pair in enumerate(rk["order"], 1):
            g = by[(pair, rk["backend"])]
            acc = g["final"]["test_accuracy"]
            sd = f"±{100 * acc['std']:.2f}" if g["runs"] > 1 else ""
            lines.append(
                f"{i:>2}  {pair:<22} {rk['backend']:<10} {100 * g['accuracy']:>8.2f}%{sd:>6} "
                f"[{100 * g['ci95'][0]:.2f}, {100 * g['ci95'][1]:.2f}] {g['final']['test_loss']['mean']:>11.4f} "
                f"{g['best_epoch']:>4} {g['time_per_epoch']:>7.1f}"
            )
    return "\n".join(lines)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)


def build(results, settings, out, meta) -> str:
    """Write the report folder; return the summary table (and conclusions) for the terminal."""
    import jinja2

    pairs, backends = meta["pairs"], meta["backends"]
    groups = aggregate(results, pairs, backends)
    eval_name = "test" if settings.cv is None else "validation"
    n_eval = len(next(iter(groups[0]["_correct"].values()))) if groups else 0
    rankings = [rank(groups, b) for b in backends]
    sbs = side_by_side(groups, pairs)
    text = conclusions(groups, rankings, sbs, eval_name, n_eval)
    failed = [{"key": r["key"], "error": r.get("error") or f"diverged: {r['diverged']}"}
              for r in results if r.get("error") or r.get("diverged")]  # fmt: skip
    present = [p for p in pairs if any(g["pair"] == p for g in groups)]

    figures = {}  # name -> (title, png bytes)
    if groups:
        figures["curves"] = (
            "Learning curves, all pairs",
            plots.learning_curves(groups, pairs, eval_name),
        )
        sn = [g for g in groups if g["backend"] == "scratchnet"]
        if sn:
            figures["dynamics"] = (
                "Gradient norms, dead and saturated units per epoch (scratchnet)",
                plots.dynamics(sn, pairs),
            )
        acts = list(dict.fromkeys(p.split("+")[0] for p in present))
        figures["activations"] = (
            "The activation functions and their derivatives (scratchnet's code)",
            plots.activation_functions(acts),
        )
    per_pair = []
    for pair in present:
        pg = [g for g in groups if g["pair"] == pair]
        slug = _slug(pair)
        figures[f"pair_{slug}_curves"] = (
            f"{pair}: scratchnet and TensorFlow overlaid",
            plots.side_by_side(pg, eval_name),
        )
        figures[f"pair_{slug}_confusion"] = (f"{pair}: confusion matrices", plots.confusion(pg))
        sn = next((g for g in pg if g["backend"] == "scratchnet"), None)
        if sn is not None and sn["diagnostics"].get("layers"):
            figures[f"pair_{slug}_histograms"] = (
                f"{pair}: activations and gradients at the end of training",
                plots.histograms(sn),
            )
        per_pair.append({"pair": pair, "slug": slug, "groups": pg})

    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for name, (_, png) in figures.items():
        (fig_dir / f"{name}.png").write_bytes(png)

    public = [{k: v for k, v in g.items() if not k.startswith("_")} for g in groups]
    payload = {
        "meta": meta,
        "settings": settings.fingerprint() | {"threads_per_process": settings.threads},
        "evaluation_set": {"name": eval_name, "samples": n_eval},
        "groups": public,
        "rankings": rankings,
        "side_by_side": sbs,
        "conclusions": text,
        "failed": failed,
        "runs": [
            {"key": r["key"], "task": r["task"], "history": r["history"], "first_steps": r["first_steps"],
             "diagnostics": r["diagnostics"], "wall_time": r.get("wall_time"), "threads": r.get("threads")}
            for r in results if not r.get("error")
        ],
    }  # fmt: skip
    write_json_atomic(out / "results.json", payload)

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("scratchnet.compare", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda x, d=2: "n/a" if x is None else f"{100 * x:.{d}f}"
    context = {
        "meta": meta, "settings": payload["settings"], "eval_name": eval_name, "n_eval": n_eval,
        "groups": public, "rankings": rankings, "sbs": sbs, "conclusions": text, "failed": failed,
        "per_pair": per_pair, "summary": summary_table(groups, rankings, eval_name),
        "figures": {k: {"title": t, "file": f"figures/{k}.png",
                        "data": base64.b64encode(png).decode("ascii")} for k, (t, png) in figures.items()},
        "half_point": HALF_POINT,
        "probe": min(experiment.PROBE, settings.subset or experiment.PROBE),
    }  # fmt: skip
    for name in ("report.html", "report.md"):
        html = env.get_template(f"{name}.j2").render(**context)
        tmp = out / f".{name}.tmp"
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(out / name)
    return context["summary"] + "\n\n" + "\n".join(text)
