#!/usr/bin/env python3
"""Plots of one mbv2-bench report (schema mbv2-bench-report/1), PNG and SVG.

Per batch:
  <stem>-layers-b<N>.{png,svg}    per-layer median time, custom vs best cuDNN variant, log
                                  scale, speedup written over each layer
  <stem>-roofline-b<N>.{png,svg}  achieved GFLOP/s against arithmetic intensity (FLOPs / min
                                  bytes) under the measured bandwidth and FP32 ceilings
A regime other than "warm" adds it to the name: <stem>-layers-cold-b<N>.png.

Results that did not pass (incorrect, not_supported, not_run) or were not timed are never
plotted as times; the layer plot marks them at the bottom, the roofline lists them.

Usage: /usr/bin/python3 reports/plot_report.py REPORT.json [--out-dir DIR] [--regime warm]
Exit: 0 plots written, 2 bad arguments or an unreadable / invalid report.
"""
import argparse
import json
import math
import os
import sys

SCHEMA = "mbv2-bench-report/1"
CUSTOM = "custom"
FAST_COLOR, SLOW_COLOR = "#1a7f37", "#cf222e"  # win / loss


class ReportError(Exception):
    """A report this script cannot plot; the message is printed on one line."""


def fail(message):
    print(f"plot_report.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def load_report(path):
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    except OSError as e:
        raise ReportError(f"cannot open report '{path}': {e.strerror}")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ReportError(f"{path}: report is not valid JSON ({e})")
    if not isinstance(report, dict):
        raise ReportError(f"{path}: report is not a JSON object")
    if report.get("schema") != SCHEMA:
        raise ReportError(f"{path}: report schema is '{report.get('schema')}', expected '{SCHEMA}'")
    for key in ("device", "config", "layers"):
        if key not in report:
            raise ReportError(f"{path}: report has no \"{key}\" field")
    return report


def timed_median(result):
    """Median in µs of a passed, timed result; None for everything else."""
    if result.get("disposition") != "passed":
        return None
    timing = result.get("timing")
    if not isinstance(timing, dict):
        return None
    median = timing.get("median_us")
    if not isinstance(median, (int, float)) or not math.isfinite(median) or median <= 0:
        return None
    return float(median)


def is_cudnn(backend):
    return backend.startswith("cudnn")


def variant(backend):
    return backend[len("cudnn-"):] if backend.startswith("cudnn-") else backend


def pick(row):
    """(custom result or None, best passed cuDNN result or None) of one layer row."""
    results = row.get("results", [])
    custom = next((r for r in results if r.get("backend") == CUSTOM), None)
    best = None
    for r in results:
        t = timed_median(r)
        if is_cudnn(r.get("backend", "")) and t is not None:
            if best is None or t < timed_median(best):
                best = r
    return custom, best


def why_not(result):
    """Short label for a result that cannot be plotted."""
    if result is None:
        return "absent"
    d = result.get("disposition", "?")
    if d == "passed":
        return "not timed"
    return {"incorrect": "INCORRECT", "not_supported": "not supp.", "not_run": "not run"}.get(d, d)


def rows_for(report, batch, regime):
    rows = [r for r in report["layers"] if r.get("batch") == batch and r.get("regime") == regime]
    return sorted(rows, key=lambda r: r.get("index", 0))


def batches_of(report):
    seen = list(report["config"].get("batches", []))
    for r in report["layers"]:
        if r.get("batch") not in seen:
            seen.append(r.get("batch"))
    return seen


def achieved_gflops(row, result):
    g = result.get("gflops")
    if isinstance(g, (int, float)) and math.isfinite(g) and g > 0:
        return float(g)
    return row.get("flops", 0) / (timed_median(result) * 1e3)


def title_of(report, batch, regime):
    device = report["device"].get("name") or "unknown GPU"
    precision = report["config"].get("precision") or "?"
    return f"{device} · {precision} · batch {batch} · {regime}"


def save(fig, out_dir, stem):
    paths = []
    for ext in ("png", "svg"):
        path = os.path.join(out_dir, f"{stem}.{ext}")
        # No date in the SVG so a regenerated plot of the same report diffs clean.
        meta = {"Date": None} if ext == "svg" else {}
        fig.savefig(path, dpi=150, bbox_inches="tight", metadata=meta)
        paths.append(path)
    return paths


def plot_layers(plt, report, rows, batch, regime):
    """Grouped bars on a log axis: custom and best cuDNN per layer, speedup on top."""
    n = len(rows)
    fig, ax = plt.subplots(figsize=(max(10.0, 0.32 * n + 2.0), 5.5))
    xs, labels, wins, compared, variants = [], [], 0, 0, {}
    ours_x, ours_y, best_x, best_y, skipped = [], [], [], [], []
    pairs = []
    for x, row in enumerate(rows):
        custom, best = pick(row)
        xs.append(x)
        labels.append(f"{row.get('index')} {row.get('role') or row.get('kind', '')}")
        t_ours = timed_median(custom) if custom else None
        t_best = timed_median(best) if best else None
        if t_ours is not None:
            ours_x.append(x - 0.2)
            ours_y.append(t_ours)
        else:
            skipped.append((x - 0.2, f"custom {why_not(custom)}"))
        if t_best is not None:
            best_x.append(x + 0.2)
            best_y.append(t_best)
            variants[variant(best["backend"])] = variants.get(variant(best["backend"]), 0) + 1
        else:
            skipped.append((x + 0.2, "no cuDNN passed"))
        if t_ours is not None and t_best is not None:
            compared += 1
            wins += t_ours < t_best
            pairs.append((x, max(t_ours, t_best), t_best / t_ours))
    ax.bar(ours_x, ours_y, width=0.4, color="#0969da", label="custom")
    best_label = "best cuDNN"
    if variants:  # which variant won how many layers
        best_label += " (" + ", ".join(f"{v} ×{c}" for v, c in sorted(variants.items())) + ")"
    ax.bar(best_x, best_y, width=0.4, color="#8c959f", label=best_label)
    ax.set_yscale("log")
    for x, top, speedup in pairs:
        ax.text(x, top * 1.08, f"{speedup:.2f}×", ha="center", va="bottom", rotation=90,
                fontsize=6, color=FAST_COLOR if speedup > 1 else SLOW_COLOR)
    if ours_y or best_y:
        ax.set_ylim(min(ours_y + best_y) / 2.5, max(ours_y + best_y) * 2.5)
    else:
        ax.set_ylim(0.1, 100.0)  # nothing timed: an empty axis that still shows the marks
    for x, text in skipped:
        # Marked on the floor of the axis: a skipped bar must not look like a fast one.
        ax.plot([x], [ax.get_ylim()[0] * 1.15], marker="x", color=SLOW_COLOR, ms=5)
        ax.annotate(text, (x, ax.get_ylim()[0] * 1.4), rotation=90, fontsize=5,
                    color=SLOW_COLOR, ha="center", va="bottom")
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, rotation=90, fontsize=6)
    ax.set_xlim(-0.7, n - 0.3)
    ax.set_ylabel("median time per layer (µs, log scale)")
    ax.set_title(f"{title_of(report, batch, regime)} — custom faster on {wins} of {compared} "
                 f"layers (speedup = best cuDNN / custom)", fontsize=9)
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    return fig


def plot_roofline(plt, report, rows, batch, regime):
    """Achieved GFLOP/s vs FLOPs per byte under the measured ceilings, log-log."""
    fig, ax = plt.subplots(figsize=(8.0, 6.0))
    series = {"custom": ([], [], []), "best cuDNN": ([], [], [])}
    skipped = []
    for row in rows:
        flops, nbytes = row.get("flops", 0), row.get("bytes", 0)
        if not flops or not nbytes or flops <= 0 or nbytes <= 0:
            skipped.append(f"layer {row.get('index')}: no FLOPs/bytes")
            continue
        ai = flops / nbytes
        custom, best = pick(row)
        points = []
        for name, result in (("custom", custom), ("best cuDNN", best)):
            if result is not None and timed_median(result) is not None:
                g = achieved_gflops(row, result)
                series[name][0].append(ai)
                series[name][1].append(g)
                series[name][2].append(row.get("index"))
                points.append(g)
            else:
                why = f"custom {why_not(result)}" if name == "custom" else "no cuDNN variant passed"
                skipped.append(f"layer {row.get('index')}: {why}")
        if len(points) == 2:
            ax.plot([ai, ai], points, color="#d0d7de", lw=0.8, zorder=1)
    all_x = series["custom"][0] + series["best cuDNN"][0]
    all_y = series["custom"][1] + series["best cuDNN"][1]
    ceilings = report["device"].get("ceilings") or {}
    bw = float(ceilings.get("bandwidth_gbps") or 0)
    peak = float(ceilings.get("fp32_gflops") or 0)
    x_lo = min(all_x) / 3 if all_x else 0.05
    x_hi = max(all_x) * 3 if all_x else 100.0
    if bw > 0 and peak > 0:
        x_lo, x_hi = min(x_lo, peak / bw / 4), max(x_hi, peak / bw * 4)
        ridge = peak / bw
        ax.plot([x_lo, ridge], [bw * x_lo, peak], color="black", lw=1.2)
        ax.plot([ridge, x_hi], [peak, peak], color="black", lw=1.2)
        ax.text(x_lo * 1.2, bw * x_lo * 1.35, f"{bw:.0f} GB/s (measured copy)", fontsize=7,
                rotation=0, va="bottom")
        ax.text(x_hi / 1.2, peak * 1.1, f"{peak:.0f} GFLOP/s FP32 (measured FMA)", fontsize=7,
                ha="right", va="bottom")
    else:
        skipped.append("no measured ceilings in the report")
    styles = {"custom": ("o", "#0969da"), "best cuDNN": ("^", "#8c959f")}
    for name, (xs, ys, idx) in series.items():
        marker, color = styles[name]
        ax.scatter(xs, ys, marker=marker, color=color, s=22, label=name, zorder=3,
                   edgecolors="black", linewidths=0.3)
        if name == "custom":
            for x, y, i in zip(xs, ys, idx):
                ax.annotate(str(i), (x, y), textcoords="offset points", xytext=(3, 3), fontsize=5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x_lo, x_hi)
    if all_y:
        y_hi = max(all_y + ([peak] if peak > 0 else []))
        ax.set_ylim(min(all_y) / 3, y_hi * 2)
    elif peak > 0:
        ax.set_ylim(bw * x_lo / 3, peak * 2)
    else:
        ax.set_ylim(1.0, 1e5)
    ax.set_xlabel("arithmetic intensity (FLOPs / min bytes)")
    ax.set_ylabel("achieved GFLOP/s")
    ax.set_title(f"{title_of(report, batch, regime)} — roofline (labels: layer index)", fontsize=9)
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    if skipped:
        shown = skipped[:8] + ([f"... {len(skipped) - 8} more"] if len(skipped) > 8 else [])
        ax.text(0.99, 0.01, "not plotted:\n" + "\n".join(shown), transform=ax.transAxes,
                fontsize=6, ha="right", va="bottom", color=SLOW_COLOR,
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    return fig


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description="Plot an mbv2-bench report (PNG and SVG).")
    parser.add_argument("report", help="report JSON (schema mbv2-bench-report/1)")
    parser.add_argument("--out-dir", default=os.path.join(here, "plots"),
                        help="where the plots go (default: reports/plots)")
    parser.add_argument("--regime", default="warm", help="per-layer regime to plot (default warm)")
    args = parser.parse_args(argv)

    try:
        report = load_report(args.report)
    except ReportError as e:
        fail(str(e))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        fail(f"matplotlib is not available ({e}); run with /usr/bin/python3")
    plt.rcParams["svg.hashsalt"] = "mbv2-bench"  # stable SVG ids
    try:
        os.makedirs(args.out_dir, exist_ok=True)
    except OSError as e:
        fail(f"cannot create '{args.out_dir}': {e.strerror}")

    stem = os.path.splitext(os.path.basename(args.report))[0]
    tag = "" if args.regime == "warm" else f"-{args.regime}"
    written = []
    try:
        for batch in batches_of(report):
            rows = rows_for(report, batch, args.regime)
            if not rows:
                continue
            for kind, plot in (("layers", plot_layers), ("roofline", plot_roofline)):
                fig = plot(plt, report, rows, batch, args.regime)
                written += save(fig, args.out_dir, f"{stem}-{kind}{tag}-b{batch}")
                plt.close(fig)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        fail(f"{args.report}: report does not match schema {SCHEMA} ({type(e).__name__}: {e})")
    except OSError as e:
        fail(f"cannot write plots to '{args.out_dir}': {e.strerror}")
    if not written:
        fail(f"{args.report}: no per-layer rows in regime '{args.regime}' to plot")
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
