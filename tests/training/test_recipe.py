import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelbench.training.recipe import ANB_PROXY, PRESETS, Recipe, RecipeError, get_recipe


def test_anb_proxy_resolution_per_epoch():
    assert [ANB_PROXY.resolution_at(epoch) for epoch in range(16)] == [160] * 12 + [192] * 4


def test_anb_proxy_lr_per_iteration():
    iterations = 2503  # ImageNet at batch 512
    lr = lambda epoch, iteration: ANB_PROXY.lr_at(epoch, iteration, iterations)  # noqa: E731
    assert lr(0, 0) == pytest.approx(0.425e-4)
    assert lr(1, 0) == pytest.approx(0.425e-4 + (0.425 - 0.425e-4) / 2)
    assert lr(2, 0) == pytest.approx(0.425)
    assert lr(9, 0) == pytest.approx(0.425 * 7 / 14)
    assert lr(15, iterations - 1) == pytest.approx(0.425 / 14 / iterations)
    # linear up, then linear down, changing every iteration
    values = [lr(epoch, i) for epoch in range(16) for i in range(0, iterations, 500)]
    peak = values.index(max(values))
    assert values[:peak] == sorted(values[:peak]) and values[peak:] == sorted(values[peak:], reverse=True)
    assert len(set(values)) == len(values)


def test_anb_proxy_is_the_reference_scheme():
    r = ANB_PROXY
    assert (r.epochs, r.batch_per_device, r.devices, r.global_batch, r.lr) == (16, 512, 4, 2048, 0.425)  # torchrun on 4 GPUs
    assert (r.momentum, r.weight_decay, r.label_smoothing) == (0.9, 1e-4, 0.1)
    assert (r.trainability_batch, r.trainability_resolution, r.untrainable_above_bytes) == (512, 192, 22.0e9)
    assert r.trainability_rule() == "peak device memory, weights included, of one step at 512 images per device, 192 px, AMP > 22e9 bytes"
    assert (r.val_resolution, r.val_crop_ratio, r.crop_scale_min, r.dropout, r.stochastic_depth) == (256, 224 / 256, 0.08, 0.2, 0.2)
    assert [epoch for epoch in range(16) if r.validates(epoch)] == [13, 14, 15]
    assert (r.top1_convention, r.activation, r.mixed_precision, r.channels_last) == ("best_of_validated", "relu", True, True)


def test_presets_and_ids():
    assert set(PRESETS) >= {"anb-proxy", "smoke", "full"}
    ids = {recipe.recipe_id for recipe in PRESETS.values()}
    assert len(ids) == len(PRESETS)
    assert ANB_PROXY.replace(name="renamed").recipe_id == ANB_PROXY.recipe_id
    assert ANB_PROXY.replace(lr=0.4).recipe_id != ANB_PROXY.recipe_id


@given(st.sampled_from(list(PRESETS.values())))
def test_round_trip(recipe):
    assert Recipe.from_dict(recipe.to_dict()) == recipe


@pytest.mark.parametrize(
    "change, message",
    [
        ({"epochs": 0}, "epochs=0 is not allowed; it must be an integer > 0"),
        ({"lr": -1.0}, "lr=-1.0 is not allowed"),
        ({"lr_peak_epoch": 16}, "lr_peak_epoch=16 is not allowed"),
        ({"momentum": 1.0}, "momentum=1.0 is not allowed"),
        ({"min_resolution": 224}, "max_resolution=192 is not allowed; it must be >= min_resolution=224"),
        ({"activation": "gelu"}, "activation='gelu' is not allowed; choices are relu, silu"),
        ({"top1_convention": "mean"}, "top1_convention='mean' is not allowed"),
        ({"batch_per_device": "512"}, "batch_per_device='512' is not allowed"),
        ({"devices": 0}, "devices=0 is not allowed"),
        ({"untrainable_above_bytes": -1}, "untrainable_above_bytes=-1 is not allowed"),
        ({"validate_last_epochs": 17}, "validate_last_epochs=17 is not allowed"),
    ],
)
def test_invalid_values_name_the_field(change, message):
    with pytest.raises(RecipeError) as error:
        ANB_PROXY.replace(**change)
    assert message in str(error.value)


def test_unknown_fields_and_presets():
    with pytest.raises(RecipeError, match="unknown key epoch; allowed are name, epochs"):
        ANB_PROXY.replace(epoch=3)
    with pytest.raises(RecipeError, match="recipe='nope' is unknown; presets are anb-proxy, smoke, full"):
        get_recipe("nope")


def test_the_global_batch_is_part_of_the_id():
    assert ANB_PROXY.replace(devices=1).recipe_id != ANB_PROXY.recipe_id
    assert ANB_PROXY.replace(batch_per_device=256, devices=8).recipe_id != ANB_PROXY.recipe_id


def test_recipe_show_prints_the_resolved_values(capsys):
    import json

    from accelbench.workflows.cli import main

    assert main(["recipe", "show", "anb-proxy"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["epochs"], shown["batch_per_device"], shown["devices"], shown["global_batch"], shown["peak_lr"]) == (16, 512, 4, 2048, 0.425)
    assert shown["recipe_id"] == ANB_PROXY.recipe_id and shown["name"] == "anb-proxy"
    assert main(["recipe", "show", "nope"]) == 2
