"""Running a model's assessments and keeping their results in its run directory.

Every plugin's ``zoo_assessments`` answer is collected plugin by plugin, so a plugin that raises,
or offers a malformed or duplicate assessment, is reported as a failed entry and the rest still run;
a ``measure`` that raises is a failed entry too. Results go to ``<run>/assessments/`` (one JSON file
and the figures), with the provenance every card number carries, and are reused while the run's
weights, the assessments offered and the budget are unchanged.
"""
from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

from zoo import __version__
from zoo.assess import SECTIONS, Assessment, Context, Result
from zoo.errors import ZooError, one_line
from zoo import runs
from zoo.fsutil import atomic_write_json, disk_space, is_disk_full, read_json, replace_dir, sha256_file, staging_dir
from zoo.models import build, load_trained, onnx_graphs
from zoo.plugins import CORE_PLUGIN, each_plugin, plugin_set

FOLDER = runs.ASSESSMENTS
RESULTS = "assessments.json"
SCHEMA = "zoo.assessments/1"


def _answers(spec) -> Iterator[tuple[str, Any, BaseException | None]]:
    """The core's assessments for the model's task first (``zoo.assess.builtin``), then every plugin's
    ``zoo_assessments`` answer, plugin by plugin: ``(plugin, answer, None)`` or ``(plugin, None, exception)``."""
    from zoo.assess.builtin import core_assessments

    yield CORE_PLUGIN, core_assessments(spec), None
    yield from each_plugin(plugin_set().manager.hook.zoo_assessments, spec=spec)


def offered(spec) -> tuple[list[tuple[str, Assessment]], list[dict[str, Any]]]:
    """Every plugin's assessments for ``spec`` as (plugin, assessment), and the failures found while asking."""
    found: list[tuple[str, Assessment]] = []
    failures: list[dict[str, Any]] = []
    for plugin, answer, failure in _answers(spec):
        try:
            if failure is not None:
                raise failure
            answer = answer or []
            if not isinstance(answer, (list, tuple)):
                raise TypeError(f"returned {type(answer).__name__}, expected a list of zoo.assess.Assessment")
            for item in answer:
                problems = (item.problems() if isinstance(item, Assessment)
                            else [f"returned a {type(item).__name__}, expected zoo.assess.Assessment"])
                if not problems and any(item.name == known.name for _, known in found):
                    problems = [f"assessment {item.name!r} is already offered by plugin "
                                f"{next(p for p, a in found if a.name == item.name)!r}"]
                if problems:
                    failures.append(_failed(plugin, getattr(item, "name", "?"), "; ".join(problems)))
                else:
                    found.append((plugin, item))
        except (KeyboardInterrupt, GeneratorExit):
            raise
        except BaseException as exc:  # one plugin's bug (sys.exit included), re-raised here, stays that plugin's
            failures.append(_failed(plugin, "?", f"zoo_assessments failed: {one_line(exc)}"))
    return found, failures


def make_context(spec, model, data, config, budget: float, folder: Path) -> Context:
    """What an assessment of a trained model is handed: the model, its data and, as callables, the graphs
    its plugin exports and the same network untrained (so assessments need nothing above the plugin API)."""
    config = dict(config)
    seed = int(config["seed"])

    def untrained():
        # build seeds torch's global generator: fork_rng leaves the caller's random state as it was
        import torch

        with torch.random.fork_rng(devices=[]):
            return build(spec, {**config, "seed": seed}, data.info).eval()

    return Context(spec, model, data, config, seed=seed, budget=budget, folder=folder,
                   graphs=lambda: onnx_graphs(spec, model, data.info, config), untrained=untrained)


def _failed(plugin: str, name: str, why: str, section: str = "-", title: str = "") -> dict[str, Any]:
    return {"name": name, "plugin": plugin, "section": section, "title": title or name, "status": "failed",
            "error": why}


def _jsonable(result: Result) -> dict[str, Any]:
    out = dataclasses.asdict(result)
    out["tables"] = [dict(t) for t in out["tables"]]
    return out


def _measure(plugin: str, assessment: Assessment, context: Context) -> dict[str, Any]:
    """Run one assessment; its figures are named after it; a failure is an entry, not an exception."""
    context.prefix = f"{assessment.name}-"
    started = time.perf_counter()
    try:
        # One thread: the work is thousands of tiny tensor operations (a LIME or KernelSHAP perturbation, a PGD
        # step), where handing work between threads costs more than it saves (on the 2-core machine one thread
        # was faster even when idle, and two beside any busy process 5-16x slower), and the numbers stay the same.
        from zoo.training import torch_threads

        with torch_threads(1):
            result = assessment.measure(context)
        if not isinstance(result, Result):
            raise TypeError(f"measure returned {type(result).__name__}, expected zoo.assess.Result")
        for figure in result.figures:
            if not (context.folder / figure.file).is_file():
                raise ValueError(f"figure {figure.file!r} was not written (use Context.figure)")
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except BaseException as exc:  # sys.exit in a plugin's measure is that assessment's failure too
        if is_disk_full(exc):  # the machine's problem, not the assessment's: stop, keep the old results
            raise
        return _failed(plugin, assessment.name, one_line(exc), assessment.section,
                       assessment.title)
    return {"name": assessment.name, "plugin": plugin, "section": assessment.section, "title": assessment.title,
            "status": "ok", "seconds": round(time.perf_counter() - started, 3), **_jsonable(result)}


def _offered_by(found: list[tuple[str, Assessment]]) -> list[str]:
    """Each assessment with the plugin and version that measure it: a plugin upgrade measures again."""
    versions = {info.name: info.version for info in plugin_set().plugins}
    return sorted(f"{a.name} ({plugin} {versions.get(plugin, '?')})" for plugin, a in found)


def _fingerprint(run, budget: float, names: list[str]) -> dict[str, Any]:
    record = run.record
    return {"run": runs.run_id(run.path), "split": "test", "seed": int(record["config"]["seed"]),
            "zoo_version": __version__, "weights_sha256": sha256_file(run.path / runs.WEIGHTS),
            "data_sha256": record["data"]["sha256"], "budget": budget, "assessments": sorted(names)}


ENTRY_KEYS = ("name", "plugin", "section", "title", "status")
OK_KEYS = ("summary", "values", "tables", "figures", "method")


def _usable(results: Any, folder: Path) -> bool:
    """Whether stored results are whole: the schema, every entry's keys, every figure on disk."""
    if not isinstance(results, dict) or results.get("schema") != SCHEMA or not isinstance(results.get("assessments"), list):
        return False
    for entry in results["assessments"]:
        if not isinstance(entry, dict) or any(k not in entry for k in ENTRY_KEYS):
            return False
        if entry["status"] == "ok" and (any(k not in entry for k in OK_KEYS) or not all(
                isinstance(f, dict) and (folder / str(f.get("file", ""))).is_file() for f in entry["figures"])):
            return False
    return True


def stored(run_path: str | Path) -> dict[str, Any] | None:
    """The results kept in a run directory; None when it has none, or none that can be used (damaged,
    unreadable, a figure missing): those are measured again."""
    folder = Path(run_path) / FOLDER
    try:
        results = read_json(folder / RESULTS)
    except (OSError, ValueError, ZooError):
        return None
    return results if _usable(results, folder) else None


def assess_run(run_path: str | Path, budget: float = 1.0, force: bool = False, trained: tuple | None = None,
               ) -> dict[str, Any]:
    """Measure every assessment offered for the run's model, or reuse the stored results when still valid.

    Valid means: same weights (SHA-256), same assessments offered by the same plugin versions, same budget,
    same zoo version. ``trained`` is ``zoo.models.load_trained(run_path)`` when the caller has it already
    (the card does), so the model is not built and the data not loaded twice.
    """
    spec, model, data, config, run = trained if trained is not None else load_trained(run_path)
    found, failures = offered(spec)
    provenance = _fingerprint(run, budget, _offered_by(found))
    folder = Path(run.path) / FOLDER
    kept = None if force else stored(run.path)
    if kept is not None and kept.get("provenance") == provenance:
        return kept
    claimed = runs.claimed(run.path)
    runs.claim(run.path)  # one writer per run directory: a second `zoo assess` of it is one error line
    try:
        scratch = staging_dir(folder)
        try:
            context = make_context(spec, model, data, config, budget, scratch)
            with disk_space(f"the assessments of {run.path}"):  # a full disk: one line, the old results kept
                entries = [_measure(plugin, assessment, context) for plugin, assessment in found]
            results = {"schema": SCHEMA, "model": spec.name, "provenance": provenance,
                       "assessments": sorted(entries + failures, key=_section_order)}
            atomic_write_json(scratch / RESULTS, results)
            replace_dir(scratch, folder)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)  # gone already when it was put in place
    finally:
        if not claimed:
            runs.release(run.path)
    return results


def _section_order(entry: dict[str, Any]) -> int:
    return SECTIONS.index(entry["section"]) if entry["section"] in SECTIONS else len(SECTIONS)


def by_section(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The entries grouped by the card section they belong in."""
    grouped: dict[str, list[dict[str, Any]]] = {s: [] for s in SECTIONS}
    for entry in results["assessments"]:
        grouped.setdefault(entry["section"] if entry["section"] in SECTIONS else "safety", []).append(entry)
    return grouped
