"""Plots of a store's records: learning curves of the trainings and, per target, the Pareto front of
accuracy against speed. Written to STORE/_report/ at the end of `collect` (and by `status --plots`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from accelbench.pipeline.store import StoreError
from accelbench.pipeline.views import store_spaces, wide


def pareto_mask(accuracy: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Architectures no other one beats on both: higher accuracy and lower cost."""
    order = np.lexsort((-accuracy, cost))
    mask = np.zeros(len(accuracy), dtype=bool)
    best = -np.inf
    for index in order:
        if accuracy[index] > best:
            mask[index], best = True, accuracy[index]
    return mask


def write_store_plots(store, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    folder.mkdir(parents=True, exist_ok=True)
    written = []
    train = store.read_pandas("train", ["arch_id", "status", "curve"])
    train = train[(train["status"] == "ok") & (train["curve"].map(len) > 0)]
    if len(train):
        figure, (loss_axis, top1_axis) = plt.subplots(1, 2, figsize=(10, 4))
        for number, (_, row) in enumerate(train.head(50).iterrows()):
            colour = f"C{number % 10}"
            epochs = [point["epoch"] for point in row["curve"]]
            loss_axis.plot(epochs, [point["train_loss"] for point in row["curve"]], linewidth=0.8, color=colour)
            validated = [(point["epoch"], point["val_top1"]) for point in row["curve"] if point["val_top1"] is not None]
            top1_axis.plot(epochs, [point["train_top1"] for point in row["curve"]], linewidth=0.8, alpha=0.6, color=colour)
            if validated:
                top1_axis.scatter(*zip(*validated), s=12, color=colour)
        loss_axis.set(xlabel="epoch", ylabel="train loss", title=f"learning curves ({min(len(train), 50)} trainings)")
        top1_axis.set(xlabel="epoch", ylabel="top-1 (%): train lines, validation dots")
        figure.tight_layout()
        written.append(folder / "learning_curves.png")
        figure.savefig(written[-1], dpi=90, metadata={"Software": None})
        plt.close(figure)
    for space in store_spaces(store):
        written += pareto_plots(store, space, folder, len(store_spaces(store)) > 1)
    return written


def pareto_plots(store, space: str, folder: Path, named: bool) -> list[Path]:
    """Accuracy against each device metric of one space's architectures; `named`: the space in the file name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    try:
        frame = wide(store, space=space)
    except StoreError:
        return written
    if "val_top1" not in frame.columns:
        return written
    for column in [c for c in frame.columns if c.startswith(("latency_", "throughput_")) and not c.endswith("_std")]:
        rows = frame[["val_top1", column]].dropna()
        if len(rows) < 2:
            continue
        accuracy = rows["val_top1"].to_numpy()
        cost = rows[column].to_numpy() if column.startswith("latency_") else -rows[column].to_numpy()
        front = pareto_mask(accuracy, cost)
        figure, axis = plt.subplots(figsize=(5, 4))
        axis.scatter(rows[column], accuracy, s=10, alpha=0.5, label="architectures")
        ordered = np.argsort(rows[column].to_numpy()[front])
        axis.plot(rows[column].to_numpy()[front][ordered], accuracy[front][ordered], color="C3", marker="o", label="Pareto front")
        axis.set(xlabel=column + (" (ms)" if column.startswith("latency_") else " (images/s)"), ylabel="val_top1 (%)",
                 title=f"accuracy vs {column}" + (f" ({space} space)" if named else ""))
        axis.legend()
        figure.tight_layout()
        written.append(folder / (f"pareto_{space}_{column}.png" if named else f"pareto_{column}.png"))
        figure.savefig(written[-1], dpi=90, metadata={"Software": None})
        plt.close(figure)
    return written
