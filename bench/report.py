"""latest.md (the table the README quotes) and latest.png (throughput by size)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _fmt_ratio(value: float) -> str:
    return f"{value:.2f}"


def write_markdown(result: dict[str, Any], path: Path) -> None:
    m = result["machine"]
    lines = [
        f"# s3tasks benchmark ({result['mode']} run)",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB RAM, "
        f"Python {m['python']}, load average at start {m['load_average_at_start'][0]:.2f}; "
        f"commit {m['git_commit']}, finished {result['finished_at']}, "
        f"{result['wall_seconds']:.0f} s. S3 (the baseline of cases 1, 2 and 4): "
        f"{result['s3_server']} on loopback.",
        "",
        "| # | case | s3tasks | baseline (same run) | ratio | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in result["cases"]:
        goal = f"{c['goal']['op']} {c['goal']['bound']:g}"
        note = f" ({c['note']})" if c["note"] else ""
        lines.append(
            f"| {c['case']} | {c['title']}{note} | {c['measured']} | {c['baseline']} | "
            f"{_fmt_ratio(c['ratio'])} | {goal} | {'yes' if c['met'] else '**no**'} |"
        )
    sizes = _sizes(result)
    if sizes:
        lines += [
            "",
            "Throughput by size (median of the repetitions, min-max in brackets, MiB/s):",
            "",
            "| size | upload web | put_object | ratio | download web | get_object | ratio |",
            "|---|---|---|---|---|---|---|",
        ]
    for s in sizes:
        cells = [f"{s['size_mib']:g} MiB"]
        for key, ratio in (
            ("upload_web_mib_s", None),
            ("upload_direct_mib_s", "upload_ratio"),
            ("download_web_mib_s", None),
            ("download_direct_mib_s", "download_ratio"),
        ):
            v = s[key]
            cells.append(f"{v['median']:.0f} ({v['min']:.0f}-{v['max']:.0f})")
            if ratio:
                cells.append(_fmt_ratio(s[ratio]))
        lines.append("| " + " | ".join(cells) + " |")
    if result["notes"]:
        lines += ["", "Notes: " + "; ".join(result["notes"])]
    path.write_text("\n".join(lines) + "\n")


def _sizes(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Throughput by size, from cases 1-2 (absent from a run of other cases only)."""
    for c in result["cases"]:
        if c["case"] == 1:
            sizes: list[dict[str, Any]] = c["details"]["sizes"]
            return sizes
    return []


def write_chart(result: dict[str, Any], path: Path) -> None:
    sizes = _sizes(result)
    if not sizes:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [s["size_mib"] for s in sizes]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    series = (
        ("upload_web_mib_s", "upload through web", "tab:blue", "-"),
        ("upload_direct_mib_s", "put_object (direct)", "tab:blue", "--"),
        ("download_web_mib_s", "download through web", "tab:orange", "-"),
        ("download_direct_mib_s", "get_object (direct)", "tab:orange", "--"),
    )
    for key, label, colour, style in series:
        med = [s[key]["median"] for s in sizes]
        low = [s[key]["median"] - s[key]["min"] for s in sizes]
        high = [s[key]["max"] - s[key]["median"] for s in sizes]
        ax.errorbar(
            x, med, yerr=[low, high], label=label, color=colour, linestyle=style,
            marker="o", capsize=3,
        )  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_xticks(x, [f"{v:g} MiB" for v in x])
    ax.set_xlabel("object size")
    ax.set_ylabel("MiB/s (median, min-max)")
    server = result["s3_server"].split(" (", 1)[0]
    ax.set_title(f"s3tasks throughput by size vs direct S3 ({server}), {result['mode']} run")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
