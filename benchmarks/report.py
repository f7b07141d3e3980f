r"""The markdown table, the targets of issue 7 and the two plots, from a results JSON."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

# (label, model family, kind, batch, threads-busy note, target ratio scratchnet/Keras)
TARGETS = [
    ("classic fit, batch 32", "classic", "step", 32, False, 2.0),
    ("classic fit, batch 128", "classic", "step", 128, False, 1.5),
    ("deeper fit, batch 32", "deeper", "step", 32, False, 1.3),
    ("deeper fit, batch 128", "deeper", "step", 128, False, 1.0),
    ("deeper fit, batch 128, one core busy", "deeper", "step", 128, True, 1.0),
    ("classic predict, batch 128", "classic", "predict", 128, False, 1.5),
    ("deeper predict, batch 128", "deeper", "predict", 128, False, 1.0),
]


def _partner(rows, row, backend):
    """The row of ``backend`` timed in the same case as ``row`` (same rounds)."""
    keys = ("family", "case", "kind", "batch", "dtype", "threads", "note")
    for r in rows:
        if r["backend"] == backend and all(r[k] == row[k] for k in keys):
            return r
    return None


def _find(rows, family, kind, batch, busy, dtype, backend, threads="all"):
    for r in rows:
        if (
            r["family"] == family
            and r["kind"] == kind
            and r["batch"] == batch
            and r["dtype"] == dtype
            and r["backend"] == backend
            and r["threads"] == threads
            and ("one core busy" in r["note"]) == busy
        ):
            return r
    return None


def ratio(sn, other):
    """Speed ratio other/scratchnet time per round (> 1: scratchnet faster): median, min, max."""
    per_round = np.asarray(other["per_round_s"]) / np.asarray(sn["per_round_s"])
    return {
        "median": float(np.median(per_round)),
        "min": float(per_round.min()),
        "max": float(per_round.max()),
        "rounds": len(per_round),
    }


def targets(rows, memory):
    """Each target of the issue: measured ratio, spread, met or not (None when not measured)."""
    out = []
    for label, family, kind, batch, busy, goal in TARGETS:
        ks = _find(rows, family, kind, batch, busy, "float32", "keras")
        sn = ks and _partner(rows, ks, "scratchnet")
        entry = {"target": label, "goal": f">= {goal}x Keras", "measured": None, "met": None}
        if sn and ks:
            r = ratio(sn, ks)
            entry.update(measured=r, met=r["median"] >= goal, loadavg=sn["loadavg"])
        out.append(entry)
    if memory and memory.get("scratchnet") and memory.get("keras"):
        sn, ks = np.median(memory["scratchnet"]), np.median(memory["keras"])
        out.append(
            {
                "target": "peak RSS of a full MNIST epoch (classic, batch 32)",
                "goal": "<= 1.5x Keras'",
                "measured": {
                    "scratchnet_mib": float(sn),
                    "keras_mib": float(ks),
                    "ratio": float(sn / ks),
                },
                "met": bool(sn / ks <= 1.5),
            }
        )
    for family in ("classic", "deeper"):
        for batch in (32, 128):
            ks = _find(rows, family, "step", batch, False, "float64", "keras")
            sn = ks and _partner(rows, ks, "scratchnet")
            if sn and ks:
                out.append(
                    {
                        "target": f"float64 {family} fit, batch {batch}",
                        "goal": "reported (no target)",
                        "measured": ratio(sn, ks),
                        "met": None,
                    }
                )
    return out


def _fmt_time(t):
    if t is None:
        return ""
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.2f} ms"
    return f"{t * 1e6:.0f} µs"


def _fmt_diff(d):
    return "" if d is None else f"{d:.1e}"


def markdown(result) -> str:
    """The targets, then one table per (dtype, threads): a row per case, a column per backend."""
    rows = result["rows"]
    lines = [f"# Benchmark results: {result['meta']['machine']}, {result['meta']['date']}", ""]
    meta = result["meta"]
    lines += [
        f"CPU: {meta.get('cpu_model')} ({meta.get('cpus_usable')} usable); NumPy {meta.get('numpy')}, "
        f"TensorFlow {meta.get('tensorflow')}, Keras {meta.get('keras')}; GPU seen by TF: {meta.get('gpus') or 'none'}; "
        f"scratchnet at commit {meta.get('commit') or 'unknown'}.",
        f"Load average at start {meta.get('loadavg_start')}, at end {meta.get('loadavg_end')}. "
        "Times are medians over interleaved rounds, [25th-75th percentile]; Δ is the max absolute "
        "difference of the outputs (forward and every gradient) from TF eager (ops) or Keras fit (models).",
        "",
    ]
    tg = result.get("targets") or []
    if tg:
        lines += [
            "## Targets (issue 7)",
            "",
            "| target | goal | measured | met |",
            "|---|---|---|---|",
        ]
        for t in tg:
            m = t["measured"]
            if m is None:
                shown = "not measured"
            elif "ratio" in m:
                shown = f"{m['ratio']:.2f}x ({m['scratchnet_mib']:.0f} vs {m['keras_mib']:.0f} MiB)"
            else:
                shown = (
                    f"{m['median']:.2f}x (rounds {m['min']:.2f}-{m['max']:.2f}, n={m['rounds']})"
                )
            met = {True: "yes", False: "**no**", None: "-"}[t["met"]]
            lines.append(f"| {t['target']} | {t['goal']} | {shown} | {met} |")
        lines.append("")
    groups = defaultdict(list)
    for r in rows:
        groups[(r["dtype"], r["threads"])].append(r)
    for (dtype, threads), group in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        backends = []
        for r in group:
            if r["backend"] not in backends:
                backends.append(r["backend"])
        lines += [
            f"## {dtype}, threads: {threads}",
            "",
            "| case | kind | batch | " + " | ".join(backends) + " |",
            "|---|---|---|" + "---|" * len(backends),
        ]
        cases = defaultdict(dict)
        for r in group:
            cases[(r["family"], r["case"], r["kind"], r["batch"], r["note"])][r["backend"]] = r
        for (_family, case, kind, batch, note), by_backend in cases.items():
            cells = []
            for b in backends:
                r = by_backend.get(b)
                if r is None:
                    cells.append("")
                    continue
                t = r["time_per_step_s"]
                k = r["time_per_step_s"] / r["time_s"]
                spread = f"[{_fmt_time(r['time_p25_s'] * k)}-{_fmt_time(r['time_p75_s'] * k)}]"
                diff = "" if r["max_diff"] is None else f" Δ {_fmt_diff(r['max_diff'])}"
                cells.append(f"{_fmt_time(t)} {spread}{diff}")
            per = ""
            if kind in ("step", "epoch"):
                per = f" per step ({note.split(' steps per call')[0]} steps/call)"
            busy = " (one core busy)" if "one core busy" in note else ""
            lines.append(
                f"| {case}{busy} | {kind}{per} | {batch if batch else ''} | "
                + " | ".join(cells)
                + " |"
            )
        lines.append("")
    if result.get("memory"):
        lines += ["## Peak RSS of one epoch (fresh processes)", ""]
        for b, values in result["memory"].items():
            if b.startswith("_"):
                continue
            lines.append(f"- {b}: " + ", ".join(f"{v:.0f} MiB" for v in values))
        lines.append("")
    return "\n".join(lines)


def plots(result, stem) -> list[str]:
    """Throughput vs batch size per backend, and a per-op bar chart at batch 32; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["rows"] if r["dtype"] == "float32" and r["threads"] == "all"]
    paths = []
    # 1. throughput vs batch size
    series = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["batch"] and r["samples_per_s"] and "one core busy" not in r["note"]:
            if r["family"] == "activations" and "relu" not in r["case"]:
                continue
            series[r["case"]][r["backend"]].append((r["batch"], r["samples_per_s"]))
    cases = [c for c in series if len({b for pts in series[c].values() for b, _ in pts}) > 1]
    if cases:
        cols = 3
        rows_n = -(-len(cases) // cols)
        fig, axes = plt.subplots(rows_n, cols, figsize=(5 * cols, 3.6 * rows_n), squeeze=False)
        for ax, case in zip(axes.flat, cases, strict=False):
            for backend, pts in sorted(series[case].items()):
                pts.sort()
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=backend)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(case, fontsize=9)
            ax.set_xlabel("batch size")
            ax.set_ylabel("samples / s")
            ax.legend(fontsize=7)
        for ax in list(axes.flat)[len(cases) :]:
            ax.axis("off")
        fig.suptitle(
            f"Throughput vs batch size (float32), {result['meta']['machine']} {result['meta']['date']}"
        )
        fig.tight_layout()
        path = f"{stem}-throughput.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    # 2. per-op bars at one batch size
    batch = 32 if any(r["batch"] == 32 for r in rows) else max((r["batch"] or 0) for r in rows)
    ops = [r for r in rows if r["kind"] in ("fwd+bwd", "update") and r["batch"] in (batch, None)]
    if ops:
        names = list(dict.fromkeys(r["case"] for r in ops))
        backends = list(dict.fromkeys(r["backend"] for r in ops))
        fig, ax = plt.subplots(figsize=(10, 0.32 * len(names) * len(backends) / 2 + 2))
        height = 0.8 / len(backends)
        for i, b in enumerate(backends):
            vals = {r["case"]: r["time_s"] for r in ops if r["backend"] == b}
            ys = [j + i * height for j in range(len(names))]
            ax.barh(ys, [vals.get(n, 0) * 1e6 for n in names], height=height, label=b)
        ax.set_yticks([j + 0.4 - height / 2 for j in range(len(names))])
        ax.set_yticklabels(names, fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel(f"µs per forward+backward (optimizers: per update), batch {batch}, float32")
        ax.invert_yaxis()
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = f"{stem}-ops.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def main(argv=None) -> int:
    """``python -m benchmarks.report RESULTS.json``: rewrite its table and plots from the JSON."""
    import json
    import sys
    from pathlib import Path

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].endswith(".json"):
        print(
            "usage: python -m benchmarks.report benchmarks/results/<machine>-<date>.json",
            file=sys.stderr,
        )
        return 2
    result = json.loads(Path(args[0]).read_text())
    stem = args[0][: -len(".json")]
    Path(f"{stem}.md").write_text(markdown(result))
    written = [f"{stem}.md", *plots(result, stem)]
    print("wrote " + ", ".join(written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
