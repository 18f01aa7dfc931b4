"""Plots people can read: units on the axes, tick labels that do not overlap, no blank images."""

import itertools
from types import SimpleNamespace

import numpy as np
from PIL import Image

from accelbench.surrogate.plots import predicted_vs_measured_figure, unit_label
from accelbench.workflows.surrogates import write_fit


def drawn_label_boxes(ticks, renderer) -> list:
    """Boxes of an axis's labelled ticks inside its view (major and minor)."""
    low, high = sorted(ticks.get_view_interval())
    pairs = [*zip(ticks.get_majorticklocs(), ticks.get_majorticklabels()), *zip(ticks.get_minorticklocs(), ticks.get_minorticklabels())]
    return [label.get_window_extent(renderer) for location, label in pairs if low <= location <= high and label.get_text()]


def narrow_fit(target: str, low: float, high: float):
    """What the plot reads of a fit, for values within one decade: where log axes crowded their labels."""
    measured = np.random.default_rng(0).uniform(low, high, 300)
    return SimpleNamespace(target=target, model="linear", transform="log", test_measured=measured, test_predicted=measured * 1.02,
                           test={"kendall_tau": 0.9, "r2": 0.9})


def test_predicted_vs_measured_labels_have_units_and_never_overlap(small_fit):
    fits, _, _ = small_fit
    fits = [*fits, narrow_fit("throughput_tpuv2", 1200.0, 1900.0), narrow_fit("latency_zcu102", 2.1, 7.9)]
    figure = predicted_vs_measured_figure(fits)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    for axis, fit in zip(figure.axes, fits):
        assert axis.get_xlabel() == f"measured {unit_label(fit.target)}" and axis.get_ylabel() == f"predicted {unit_label(fit.target)}"
        for ticks in (axis.xaxis, axis.yaxis):
            boxes = drawn_label_boxes(ticks, renderer)
            assert len(boxes) >= 2, f"{fit.target}: fewer than two tick labels"
            assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2)), f"{fit.target}: tick labels overlap"
    assert unit_label("throughput_a100") == "throughput (images/s)" and unit_label("latency_zcu102") == "latency (ms)"
    assert unit_label("val_top1") == "val top1 (%)"


def test_every_picture_a_fit_writes_is_a_picture(small_fit, tmp_path):
    fits, settings, _ = small_fit
    write_fit(fits, settings, tmp_path)
    pictures = sorted(tmp_path.glob("*.png"))
    assert pictures
    for path in pictures:
        with Image.open(path) as image:
            width, height = image.size
            pixels = np.asarray(image.convert("L"), dtype=float)
        assert width >= 300 and height >= 300, path.name
        assert pixels.std() > 10 and (pixels < 128).mean() > 0.005, f"{path.name} is blank"
