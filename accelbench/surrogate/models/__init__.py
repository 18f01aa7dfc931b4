"""The registry of surrogate models: one file each, one small interface (`base.Model`)."""

from __future__ import annotations

from accelbench.surrogate.models.base import Model, SurrogateError
from accelbench.surrogate.models.block_additive import BlockAdditiveModel, BlockAdditiveRobustModel, BlockQueueModel, BlockQueueRobustModel
from accelbench.surrogate.models.lightgbm import LightGbmModel
from accelbench.surrogate.models.linear import LinearModel
from accelbench.surrogate.models.random_forest import RandomForestModel
from accelbench.surrogate.models.xgboost import XgboostModel

MODELS: dict[str, type[Model]] = {model.name: model for model in (XgboostModel, LightGbmModel, RandomForestModel, LinearModel, BlockAdditiveModel, BlockQueueModel, BlockAdditiveRobustModel, BlockQueueRobustModel)}


def get_model(name: str) -> type[Model]:
    try:
        return MODELS[name]
    except KeyError:
        raise SurrogateError(f"model={name!r} is unknown; choices are {', '.join(MODELS)}") from None


__all__ = ["MODELS", "Model", "SurrogateError", "get_model"]
