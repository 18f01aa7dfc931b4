"""Benchmark releases: `DIR/<name>-<version>/` holding the compacted records, the surrogates, the
search space, a report and `manifest.json` (sha256 of every file, configs, code version, counts).

Everything is a function of the store's records and the fit settings: no timestamps, no host names,
sorted rows, fixed seeds and thread counts, so the same inputs regenerate byte-identical files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

import pyarrow.parquet as pq

from accelbench.common.errors import InputError, check_name
from accelbench.pipeline.records import SCHEMAS
from accelbench.pipeline.store import Store, status_counts
from accelbench.pipeline.views import rwe_correlation, wide
from accelbench.surrogate.fit import FitSettings
from accelbench.surrogate.manifest import MANIFEST, file_hashes
from accelbench.workflows.errors import UsageError
from accelbench.workflows.output import OUTPUT_MARK

FORMAT = 1


def release_folder(out: str | Path, name: str, version: str) -> Path:
    for label, value in (("--name", name), ("--version", version)):
        try:
            check_name(value, label)
        except InputError as error:
            raise UsageError(str(error)) from None
    return Path(out) / f"{name}-{version}"


def reused_fit(store: Store, fit_folder: Path, recipe_id: str | None, space: str | None) -> tuple[object, FitSettings, list[str], str | None]:
    """(records frame, settings, targets, recipe_id) of a `fit` output made from exactly the records `store` holds."""
    from accelbench.surrogate.saved import INDEX
    from accelbench.workflows.surrogates import records_of

    try:
        index = json.loads((fit_folder / INDEX).read_text())
    except (OSError, ValueError) as error:
        raise UsageError(f"--fit {fit_folder}: not a readable `accelbench fit` output ({INDEX}: {error})") from None
    records = index.get("records") if isinstance(index, dict) else None
    if not isinstance(records, dict):
        raise UsageError(f"--fit {fit_folder}: it does not say which records it was fitted on (a fit-device output, or a fit made before "
                         "fits recorded that): fit again, or release without --fit")
    if recipe_id not in (None, records.get("recipe_id")):
        raise UsageError(f"--fit {fit_folder} was fitted on recipe {records.get('recipe_id')!r}, not --recipe-id {recipe_id!r}")
    fitted_space = records.get("space", "anb")
    if space not in (None, fitted_space):
        raise UsageError(f"--fit {fit_folder} was fitted on the {fitted_space} space, not --space {space}")
    include_noisy = bool(records.get("include_noisy", False))
    frame = wide(store, records.get("recipe_id"), include_noisy=include_noisy, space=fitted_space)
    found = records_of(frame, records.get("recipe_id"), include_noisy)
    if found["sha256"] != records.get("sha256"):
        raise UsageError(f"--fit {fit_folder} was fitted on other records ({records.get('architectures')} architectures) than {store.uri} holds now "
                         f"({found['architectures']}): fit again, or release without --fit")
    values = {key: tuple(value) if isinstance(value, list) else value for key, value in index["settings"].items()}
    return frame, FitSettings(**values), list(index["targets"]), records.get("recipe_id")


def copy_fit(fit_folder: Path, target: Path) -> None:
    """Every file of a fit output but its output mark; links are refused (a release holds plain files)."""
    for path in sorted(fit_folder.rglob("*")):
        if path.is_symlink():
            raise UsageError(f"--fit {fit_folder}: {path} is a symbolic link; a release copies plain files only")
        if path.is_file() and path.name != OUTPUT_MARK:
            destination = target / path.relative_to(fit_folder)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(path.read_bytes())


def space_records(store: Store, table: str, space: str, spaces: list[str]):
    """A table's records of one space's architectures (all of them in a store of that space alone)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from accelbench.search_space.blocks import all_blocks

    arrow = store.read(table)
    if spaces == [space]:
        return arrow
    if table == "archs":
        return arrow.filter(pc.equal(arrow.column("space"), space))
    if table == "blocks":
        wanted = pa.array([block.block_id for block in all_blocks(space)])
        return arrow.filter(pc.is_in(arrow.column("block_id"), value_set=wanted))
    archs = store.read("archs", ["arch_id", "space"])
    wanted = archs.filter(pc.equal(archs.column("space"), space)).column("arch_id")
    return arrow.filter(pc.is_in(arrow.column("arch_id"), value_set=wanted.combine_chunks()))


def write_release(store: Store, name: str, version: str, settings: FitSettings, targets: list[str] | None, recipe_id: str | None, folder: Path, log: TextIO,
                  fit_folder: Path | None = None, include_noisy: bool = False, space: str | None = None) -> dict:
    """`fit_folder`: an `accelbench fit` output of these very records, reused (with its settings) instead of fitting again.
    `space`: whose architectures (None: the store's only space, or the fit's); a release holds one space's records."""
    from accelbench.pipeline.views import choose_space, store_spaces
    from accelbench.pipeline.run import code_version
    from accelbench.search_space.configspace import configspace_json
    from accelbench.surrogate.report import metrics_markdown
    from accelbench.workflows.surrogates import fit_store, records_of, write_fit

    if fit_folder is not None:
        frame, settings, fitted, recipe_id = reused_fit(store, fit_folder, recipe_id, space)
        space = frame["space"].iloc[0] if len(frame) else space
    space = choose_space(store, space)
    spaces = store_spaces(store)
    counts = {}
    (folder / "records").mkdir(parents=True)
    for table in SCHEMAS:
        arrow = space_records(store, table, space, spaces).sort_by("task_key")
        pq.write_table(arrow, folder / "records" / f"{table}.parquet", compression="zstd")
        counts[table] = {"rows": arrow.num_rows, **({"statuses": status_counts(arrow)} if "status" in arrow.column_names else {})}
    if fit_folder is None:
        fits, frame = fit_store(store, settings, targets, recipe_id, log, include_noisy, space)
        write_fit(fits, settings, folder / "surrogates", records_of(frame, recipe_id, include_noisy))
        fitted, metrics = [fit.target for fit in fits], metrics_markdown(fits)
    else:
        copy_fit(fit_folder, folder / "surrogates")
        metrics = (folder / "surrogates" / "metrics.md").read_text()
    (folder / "configspace.json").write_text(configspace_json(space))
    report = folder / "report"
    report.mkdir()
    sources = ["metrics.csv", "predicted_vs_measured.png", *sorted(p.name for p in (folder / "surrogates").glob("block*"))]
    for source in sources:
        (report / source).write_bytes((folder / "surrogates" / source).read_bytes())
    blocks = "".join(f"\n![learned per-block costs of {name[len('block_costs_'):-4]}]({name})\n" for name in sources if name.startswith("block_costs_"))
    correlation = rwe_correlation(frame)
    if correlation:
        blocks += (f"\nRandom-weight evaluation: its top-1 ranks the {correlation['architectures']} architectures with Kendall tau "
                   f"{correlation['kendall_tau']:.3f} (Spearman {correlation['spearman']:.3f}) against the trained top-1.\n")
    (report / "README.md").write_text(
        f"# {name} {version}\n\n{len(frame)} architectures{'' if space == 'anb' else f' of the {space} space'}; surrogates for {len(fitted)} targets, scored on a held-out test split. "
        f"Intervals: cross-conformal at the level given, with their coverage of the test split; the noise ceiling is the tau "
        f"between two simulated repeats of every record, with the spread between the records' repeats of the same work (the tau between "
        f"those repeats themselves beside it) or else the recorded measurement spread.\n\n"
        f"{metrics}\n![predicted vs measured](predicted_vs_measured.png)\n{blocks}"
    )
    manifest = {
        "format": FORMAT,
        "name": name,
        "version": version,
        **({"space": space} if space != "anb" else {}),  # none named: anb, as in releases before there were several spaces
        "code_version": code_version(),
        "counts": counts,
        "intervals": {"method": "cross-conformal", "level": settings.interval_level, "folds": settings.calibration_folds},
        "configs": {"fit": {**settings.__dict__, "models": list(settings.models), "transforms": list(settings.transforms)}, "targets": fitted, "recipe_id": recipe_id, "sweeps": store.saved_sweeps()},
        "files": file_hashes(folder),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest
