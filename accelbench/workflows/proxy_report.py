"""What a proxy search writes: `proxy_search.csv`, a plot of Kendall tau against cost with the Pareto
front and the noise ceiling, and the chosen recipe as a preset file with its figures in a header."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from accelbench.pipeline.atomic import write_bytes_atomic
from accelbench.pipeline.ranking import pareto_front
from accelbench.proxy.search import SearchResult
from accelbench.training.recipe import recipe_toml

COLUMNS = ["candidate", "recipe_id", "status", "architectures", "failed", "kendall_tau", "kendall_low", "kendall_high", "spearman",
           "spearman_low", "spearman_high", "cost_s_per_architecture", "cost_ratio", "pareto", "chosen"]


def _front(result: SearchResult) -> list[bool]:
    points = [(r.agreement.kendall_tau, r.cost_ratio) if r.status == "evaluated" and r.agreement and r.cost_ratio else (float("nan"), math.inf)
              for r in result.results]
    return pareto_front(points)


def rows(result: SearchResult) -> list[dict]:
    front = _front(result)
    table = []
    for index, item in enumerate(result.results):
        a = item.agreement
        row = {"candidate": item.candidate.label, "recipe_id": item.candidate.recipe.recipe_id, "status": item.status, "architectures": item.architectures,
               "failed": item.failed, "kendall_tau": a and a.kendall_tau, "kendall_low": a and a.kendall_low, "kendall_high": a and a.kendall_high,
               "spearman": a and a.spearman, "spearman_low": a and a.spearman_low, "spearman_high": a and a.spearman_high,
               "cost_s_per_architecture": item.cost_s, "cost_ratio": item.cost_ratio, "pareto": front[index], "chosen": index == result.chosen}
        table.append({**row, **{f"knob_{key}": value for key, value in item.candidate.changes.items()}})
    return sorted(table, key=lambda r: (r["cost_ratio"] is None, r["cost_ratio"] or 0))


def csv_text(result: SearchResult) -> str:
    table = rows(result)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS + sorted({k for r in table for k in r if k.startswith("knob_")}), lineterminator="\n")
    writer.writeheader()
    for row in table:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()


def _number(value: float | None, digits: int = 3) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def markdown_table(result: SearchResult) -> str:
    noise = result.noise
    lines = [f"reference cost: {result.reference_cost_s:.2f} device-s per architecture; noise ceiling (seed to seed, {noise.compared} architectures): "
             f"Kendall tau {_number(noise.kendall_tau)} [{_number(noise.kendall_low)}, {_number(noise.kendall_high)}]; "
             f"candidates spent {result.spent_s:.0f}{f' of {result.budget_s:.0f}' if result.budget_s else ''} device-s", "",
             "| candidate | status | archs | Kendall tau [95% interval] | Spearman | device-s / arch | cost ratio | Pareto | chosen |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows(result):
        tau = f"{_number(row['kendall_tau'])} [{_number(row['kendall_low'])}, {_number(row['kendall_high'])}]" if row["kendall_tau"] is not None else ""
        lines.append(f"| {row['candidate']} | {row['status']} | {row['architectures']} | {tau} | {_number(row['spearman'])} | "
                     f"{_number(row['cost_s_per_architecture'], 2)} | {_number(row['cost_ratio'])} | {'yes' if row['pareto'] else ''} | {'**yes**' if row['chosen'] else ''} |")
    return "\n".join(lines) + "\n"


def plot(result: SearchResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    front = _front(result)
    figure, axis = plt.subplots(figsize=(7, 4.5))
    noise = result.noise
    if math.isfinite(noise.kendall_tau):
        axis.axhspan(noise.kendall_low, noise.kendall_high, color="grey", alpha=0.2, label="noise ceiling (seed to seed, 95%)")
        axis.axhline(noise.kendall_tau, color="grey", linewidth=1)
    shown = [(i, r) for i, r in enumerate(result.results) if r.agreement and r.cost_ratio and math.isfinite(r.agreement.kendall_tau)]
    for index, item in shown:
        a = item.agreement
        colour = "C3" if index == result.chosen else ("C0" if item.status == "evaluated" else "lightgrey")
        axis.errorbar(item.cost_ratio, a.kendall_tau, yerr=[[a.kendall_tau - a.kendall_low], [a.kendall_high - a.kendall_tau]], fmt="o", color=colour,
                      markersize=7 if index == result.chosen else 4, capsize=2, alpha=0.9)
    ordered = sorted((r.cost_ratio, r.agreement.kendall_tau) for i, r in shown if front[i])
    if ordered:
        axis.plot(*zip(*ordered), color="C1", linewidth=1.2, label="Pareto front")
    if result.chosen is not None:
        axis.plot([], [], "o", color="C3", label=f"chosen: {result.results[result.chosen].candidate.label}")
    axis.plot([], [], "o", color="lightgrey", label="pruned / partial")
    axis.set(xscale="log", xlabel="cost per architecture (share of the reference recipe's)", ylabel="Kendall tau vs the reference",
             title=f"proxy search {result.config.name}")
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=90, metadata={"Software": None})
    plt.close(figure)
    write_bytes_atomic(path, buffer.getvalue())


def chosen_recipe(result: SearchResult) -> str | None:
    if result.chosen is None:
        return None
    item = result.results[result.chosen]
    a, noise = item.agreement, result.noise
    header = (f"Chosen by `accelbench proxy-search` ({result.config.name}): {item.candidate.label}\n"
              f"rule: {result.rule}\n"
              f"Kendall tau {a.kendall_tau:.3f} [{a.kendall_low:.3f}, {a.kendall_high:.3f}] (95%), Spearman {a.spearman:.3f}, against the reference "
              f"recipe on {a.compared} architectures ({item.failed} trainings excluded)\n"
              f"cost {item.cost_s:.2f} device-s per architecture = {item.cost_ratio:.3f} of the reference's {result.reference_cost_s:.2f}\n"
              f"noise ceiling (the reference, seed to seed): Kendall tau {noise.kendall_tau:.3f} [{noise.kendall_low:.3f}, {noise.kendall_high:.3f}]")
    return recipe_toml(item.candidate.recipe.replace(name=f"{result.config.name}-chosen"), header)


def write_report(result: SearchResult, folder: Path) -> dict[str, Path]:
    paths = {"table": folder / "proxy_search.csv", "plot": folder / "proxy_search.png", "recipe": folder / f"{result.config.name}-chosen.toml"}
    write_bytes_atomic(paths["table"], csv_text(result).encode())
    plot(result, paths["plot"])
    recipe = chosen_recipe(result)
    if recipe is not None:
        write_bytes_atomic(paths["recipe"], recipe.encode())
    return paths
