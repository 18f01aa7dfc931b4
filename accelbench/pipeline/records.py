"""The record tables (`archs`, `train`, `profile`): Arrow schemas declared once, and rows made from results.

Every row carries `schema_version`; a change of columns bumps it. Failures are rows too: `status`
says what happened and `error` why.
"""

from __future__ import annotations

import json
import socket
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

from accelbench.search_space import ANB, Architecture, count_macs, count_params
from accelbench.search_space.blocks import input_shape
from accelbench.common.errors import InputError

SCHEMA_VERSION = 2  # 2: dataset identity, the trainability rule, timings apart, trained weights, typed targets
STATUSES = ("ok", "untrainable", "diverged", "failed", "unavailable", "noisy")  # noisy: a profile measured under other load


class RecordError(InputError):
    """A row that does not fit its table's schema."""


def _anb_key_fields() -> list[pa.Field]:
    """The anb space's choices as columns (null in rows of other spaces, whose choices are in `compact`)."""
    return [pa.field(key, pa.bool_() if key.endswith("_se") else pa.int8()) for key in ANB.keys]


def _provenance_fields() -> list[pa.Field]:
    return [
        pa.field("host", pa.string()),
        pa.field("started_at", pa.timestamp("ms", tz="UTC")),
        pa.field("finished_at", pa.timestamp("ms", tz="UTC")),
        pa.field("code_version", pa.string()),
        pa.field("error", pa.string()),
        pa.field("schema_version", pa.int16(), nullable=False),
    ]


ARCHS = pa.schema(
    [
        pa.field("task_key", pa.string(), nullable=False),
        pa.field("arch_id", pa.string(), nullable=False),
        pa.field("space", pa.string(), nullable=False),
        pa.field("compact", pa.string(), nullable=False),
        *_anb_key_fields(),
        pa.field("params", pa.int64(), nullable=False),
        pa.field("macs", pa.int64(), nullable=False),  # at the architecture's resolution (anb: 224 px, the reference's thop convention)
        pa.field("schema_version", pa.int16(), nullable=False),
    ]
)

CURVE_POINT = pa.struct(
    [
        pa.field("epoch", pa.int32()),
        pa.field("resolution", pa.int32()),
        pa.field("lr", pa.float64()),
        pa.field("train_loss", pa.float64()),
        pa.field("train_top1", pa.float64()),
        pa.field("val_top1", pa.float64()),
        pa.field("val_top5", pa.float64()),
    ]
)

TRAIN = pa.schema(
    [
        pa.field("task_key", pa.string(), nullable=False),
        pa.field("arch_id", pa.string(), nullable=False),
        pa.field("recipe_id", pa.string(), nullable=False),
        pa.field("recipe_name", pa.string()),
        pa.field("seed", pa.int64(), nullable=False),
        pa.field("data_id", pa.string()),  # fingerprint of the dataset's file list (training.folders.identify)
        pa.field("status", pa.string(), nullable=False),
        pa.field("val_top1", pa.float64()),  # best top-1 of the validated epochs
        pa.field("val_top5", pa.float64()),  # best top-5 of the validated epochs, on its own (as the reference)
        pa.field("top1_convention", pa.string()),
        pa.field("curve", pa.list_(CURVE_POINT)),
        pa.field("random_weight_top1", pa.float64()),
        pa.field("train_time_s", pa.float64()),  # the training epochs (validation included), all devices
        pa.field("check_time_s", pa.float64()),  # the trainability check
        pa.field("random_weight_time_s", pa.float64()),
        pa.field("device_name", pa.string()),
        pa.field("device_count", pa.int32()),
        pa.field("train_images", pa.int64()),  # per epoch, after the recipe's data subset
        pa.field("num_classes", pa.int32()),
        pa.field("check_memory_bytes", pa.int64()),  # the trainability rule's figure
        pa.field("peak_memory_bytes", pa.int64()),  # the training's peak on the first device (CUDA)
        pa.field("trainability_rule", pa.string()),  # the rule applied, in words
        pa.field("weights_path", pa.string()),  # trained weights (safetensors), relative to the store
        pa.field("weights_sha256", pa.string()),
        pa.field("attempts", pa.int32()),
        *_provenance_fields(),
    ]
)

PROFILE = pa.schema(
    [
        pa.field("task_key", pa.string(), nullable=False),
        pa.field("arch_id", pa.string(), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        pa.field("target_id", pa.string(), nullable=False),
        pa.field("backend", pa.string()),
        pa.field("device", pa.string()),
        pa.field("batch", pa.int32()),
        pa.field("precision", pa.string()),
        pa.field("resolution", pa.int32()),
        pa.field("threads", pa.int32()),
        # which of this target's numbers are results: "latency" (ms per batch), "throughput" (images/s)
        pa.field("reported", pa.list_(pa.string())),
        pa.field("status", pa.string(), nullable=False),
        pa.field("latency_ms_median", pa.float64()),
        pa.field("latency_ms_mean", pa.float64()),
        pa.field("latency_ms_std", pa.float64()),
        pa.field("latency_ms_p90", pa.float64()),
        pa.field("n", pa.int32()),
        pa.field("throughput_ips", pa.float64()),
        pa.field("throughput_ips_std", pa.float64()),
        pa.field("accuracy_top1", pa.float64()),  # where the target also evaluates (quantised models on the FPGA)
        pa.field("accuracy_top5", pa.float64()),
        pa.field("samples_ms", pa.list_(pa.float64())),
        pa.field("build_time_s", pa.float64()),
        pa.field("other_load", pa.float64()),
        pa.field("environment", pa.string()),  # JSON: library versions, device, Ray node
        pa.field("attempts", pa.int32()),
        *_provenance_fields(),
    ]
)

# One row per (block of the space, target): a per-block latency table. The measurement columns are the
# profile table's; the block's own describe it (search_space.blocks).
BLOCKS = pa.schema(
    [
        pa.field("task_key", pa.string(), nullable=False),
        pa.field("block_id", pa.string(), nullable=False),
        pa.field("block", pa.string(), nullable=False),  # e.g. s3-e6k5se-first, stem, head
        pa.field("kind", pa.string(), nullable=False),
        pa.field("stage", pa.int8()),
        pa.field("expansion", pa.int8()),
        pa.field("kernel", pa.int8()),
        pa.field("se", pa.bool_()),
        pa.field("first", pa.bool_()),
        pa.field("input_channels", pa.int32()),
        pa.field("input_size", pa.int32()),  # spatial, in a network of the target's resolution
        *[f for f in PROFILE if f.name not in ("task_key", "arch_id", "reported", "accuracy_top1", "accuracy_top5")],
    ]
)

SCHEMAS: dict[str, pa.Schema] = {"archs": ARCHS, "train": TRAIN, "profile": PROFILE, "blocks": BLOCKS}


def schema_of(table: str) -> pa.Schema:
    try:
        return SCHEMAS[table]
    except KeyError:
        raise RecordError(f"table={table!r} is unknown; tables are {', '.join(SCHEMAS)}") from None


# --- task keys: arch_id/stage/config_id ---
def train_config_id(recipe_id: str, seed: int, data_id: str | None = None) -> str:
    return f"{recipe_id}-d{data_id}-s{seed}" if data_id else f"{recipe_id}-s{seed}"


def task_key(arch_id: str, table: str, config_id: str) -> str:
    return f"{arch_id}/{table}/{config_id}"


def row(table: str, **values: Any) -> dict[str, Any]:
    """A row of `table` from the values given: every column the schema allows may be left out when
    nullable (None), none may be unknown; required ones must be given."""
    schema = schema_of(table)
    unknown = sorted(set(values) - set(schema.names))
    if unknown:
        raise RecordError(f"{table}: unknown columns {unknown}")
    missing = sorted(f.name for f in schema if not f.nullable and f.name != "schema_version" and values.get(f.name) is None)
    if missing:
        raise RecordError(f"{table} row ({values.get('task_key')}): missing required columns {missing}")
    return {name: values.get(name) for name in schema.names if name != "schema_version"}


def to_table(table: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as an Arrow table of the table's schema; a missing, unknown or mistyped column is an error."""
    schema = schema_of(table)
    names = set(schema.names)
    for number, values in enumerate(rows):
        values.setdefault("schema_version", SCHEMA_VERSION)
        unknown, missing = sorted(set(values) - names), sorted(names - set(values))
        if unknown or missing:
            raise RecordError(f"{table} row {number} ({values.get('task_key')}): unknown columns {unknown}, missing columns {missing}")
        if values.get("status") is not None and values["status"] not in STATUSES:
            raise RecordError(f"{table} row {number}: status={values['status']!r} is not allowed; choices are {', '.join(STATUSES)}")
    try:
        return pa.Table.from_pylist(rows, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as error:
        raise RecordError(f"{table}: rows do not fit the schema: {error}") from None


def now() -> datetime:
    return datetime.now(timezone.utc)


def provenance(started_at: datetime, error: str | None, code_version: str) -> dict[str, Any]:
    return {"host": socket.gethostname(), "started_at": started_at, "finished_at": now(), "code_version": code_version, "error": error}


def arch_row(architecture: Architecture) -> dict[str, Any]:
    return {
        "task_key": task_key(architecture.arch_id, "archs", architecture.space),
        "arch_id": architecture.arch_id,
        "space": architecture.space,
        "compact": architecture.compact(),
        **{key: None for key in ANB.keys},
        **(architecture.to_reference() if architecture.space == ANB.name else {}),
        "params": count_params(architecture),
        "macs": count_macs(architecture),
    }


def train_row(result: dict[str, Any], data_id: str | None, started_at: datetime, code_version: str, attempts: int, weights: tuple[str, str] | None = None) -> dict[str, Any]:
    """A `training.trainer.TrainResult.to_dict()` as a `train` row; `weights`: (path in the store, sha256)."""
    values = dict(result)
    error = values.pop("error")
    values["curve"] = [dict(point) for point in values["curve"]]
    path, digest = weights or (None, None)
    return row(
        "train",
        task_key=task_key(values["arch_id"], "train", train_config_id(values["recipe_id"], values["seed"], data_id)),
        **values,
        data_id=data_id,
        weights_path=path,
        weights_sha256=digest,
        attempts=attempts,
        **provenance(started_at, error, code_version),
    )


REPORTABLE = ("latency", "throughput")


def default_report(batch: int) -> tuple[str, ...]:
    """Batch 1 measures latency; larger batches measure throughput."""
    return ("latency",) if batch == 1 else ("throughput",)


def profile_row(measurement: dict[str, Any], report: tuple[str, ...], started_at: datetime, code_version: str, attempts: int) -> dict[str, Any]:
    """A `profiling.protocol.Measurement.to_row()` as a `profile` row; `report` names its results."""
    values = dict(measurement)
    error = values.pop("error")
    throughput, median, std = values["throughput_ips"], values["latency_ms_median"], values["latency_ms_std"]
    if values.get("throughput_ips_std") is None and throughput and median and std is not None:
        # first-order error propagation of throughput = batch * 1000 / latency
        values["throughput_ips_std"] = throughput * std / median
    values["environment"] = json.dumps(values["environment"], sort_keys=True, default=str)
    return row(
        "profile",
        task_key=task_key(values["arch_id"], "profile", values["target_id"]),
        **values,
        reported=list(report),
        attempts=attempts,
        **provenance(started_at, error, code_version),
    )


def block_row(measurement: dict[str, Any], block, started_at: datetime, code_version: str, attempts: int) -> dict[str, Any]:
    """A block's `profiling.protocol.Measurement.to_row()` (its `arch_id` is the block id) as a `blocks` row."""
    values = dict(measurement)
    error = values.pop("error")
    block_id = values.pop("arch_id")
    for column in ("accuracy_top1", "accuracy_top5"):
        values.pop(column, None)
    values["environment"] = json.dumps(values["environment"], sort_keys=True, default=str)
    channels, size, _ = input_shape(block, values["resolution"])
    return row(
        "blocks",
        task_key=task_key(block_id, "blocks", values["target_id"]),
        block_id=block_id, block=block.key, kind=block.kind, stage=block.stage, expansion=block.expansion, kernel=block.kernel, se=block.se,
        first=block.first, input_channels=channels, input_size=size,
        **values,
        attempts=attempts,
        **provenance(started_at, error, code_version),
    )
