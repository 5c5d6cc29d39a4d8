"""llm/train/plot.py: round ticks and a well-formed SVG of the curves."""
import xml.etree.ElementTree as ElementTree

import pytest

from llm.train.plot import loss_curve_svg, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def test_nice_ticks_cover_the_range_with_round_steps():
    assert nice_ticks(0, 2000) == [0, 500, 1000, 1500, 2000]
    ticks = nice_ticks(1.47, 4.2)
    assert ticks[0] <= 1.47 and ticks[-1] >= 4.2
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:])}
    assert steps == {0.5}
    assert nice_ticks(3.0, 3.0)[-1] > 3.0       # a flat curve still gets a range


def test_svg_has_both_curves_and_a_dot_per_evaluation():
    records = [{"step": s, "train_loss": 4.0 - s / 100} for s in range(10, 201, 10)]
    for record in records[4::5]:
        record["val_loss"] = record["train_loss"] + 0.1
    root = ElementTree.fromstring(loss_curve_svg(records, "run <1>"))
    assert root.tag == SVG + "svg"
    assert len(root.findall(SVG + "polyline")) == 2
    assert len(root.findall(SVG + "circle")) == 4
    train_points = root.findall(SVG + "polyline")[0].get("points").split()
    assert len(train_points) == 20
    ys = [float(point.split(",")[1]) for point in train_points]
    assert ys == sorted(ys)                     # falling loss: rising y (down the picture)
    assert any(text.text == "run <1>" for text in root.iter(SVG + "text"))


def test_no_losses():
    with pytest.raises(ValueError, match="no losses"):
        loss_curve_svg([])
