"""Cards rendered for people and machines: Markdown (Hugging Face front matter), JSON, self-contained HTML.

The card is first laid out once as blocks (paragraphs, tables, figures, code): an opening (the figure that
shows what the model does, then its headline metric with the way it reads) and sections; Markdown and HTML
are two small writers of that one layout, so the two never disagree on content. Figures are shown at the
size they were drawn for (``zoo.plots.display_size``), so their text reads like the body's.
"""
from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from zoo.bundle import shape_text
from zoo.cards.figures import MAIN
from zoo.cards.metric_names import better_text, headline_text
from zoo.cards.schema import headline
from zoo.cards.usage import usage_blocks
from zoo.plots import display_size
from zoo.plugins import CORE_PLUGIN
from zoo.specs import LAYOUT_MODALITY, LEARNED, NEAREST_NEIGHBOUR

FORMATS = ("md", "json", "html")
# The Hugging Face Hub's task ids (its pipeline types: huggingface.js packages/tasks/src/pipelines.ts),
# by zoo task and data layout; the front matter's pipeline_tag and the model-index task.type use them,
# as the Hub lists and filters models by these ids only. Why each:
# Keyed by what the samples are (the dataset's modality, ``zoo.specs.DatasetSpec.kind``), not how they are read:
# digits-rows holds images read row by row, so its RNN classifiers still answer which digit an image shows.
HUB_TASKS = {
    ("classification", "image"): "image-classification",
    # the primary graph maps an image to its reconstruction (encoder and decoder are component graphs).
    ("reconstruction", "image"): "image-to-image",
    # noise in, image out. A class-conditional GAN also takes an integer class label: the Hub has no
    # class-conditional task, and text-to-image would promise a text prompt, so both GANs take this id.
    ("generation", "image"): "unconditional-image-generation",
    # the Hub has time-series forecasting but no time-series classification task: the catch-all, with the
    # task named in the tags instead (time-series-classification), never an image task.
}
OTHER_TASK = "other"  # the Hub's catch-all id, for a task and modality not listed above
UNKNOWN_LICENSE = "unknown"  # the Hub's id for a licence the model's plugin did not declare
# ("p", text) | ("table", headers, rows) | ("figure", file, caption) | ("code", language, text) | ("headline", text)
Block = tuple


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def fmt_value(value: Any) -> str:
    """A value as cards and the catalog print it: floats to 4 significant digits, lists and dicts as JSON."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def hardware_text(machine: Mapping[str, Any] | None) -> str:
    """What measured a number, in words: ``an AMD EPYC (2 logical CPUs; torch on 2 threads)``."""
    if not machine:
        return "hardware not recorded"
    cpu = machine.get("cpu") or machine.get("processor") or "unknown CPU"
    parts = [f"{machine.get('logical_cpus', machine.get('cpus'))} logical CPUs"]
    if machine.get("torch_threads"):
        parts.append(f"torch on {machine['torch_threads']} thread{'s' if machine['torch_threads'] != 1 else ''}")
    if machine.get("gpu"):
        parts.append(f"GPU {machine['gpu']}")
    return f"{cpu} ({'; '.join(parts)})"


def scalar_metrics(card: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in card["metrics"]["values"].items() if _number(v)}


def hub_task(card: Mapping[str, Any]) -> str:
    """The Hub task id of the card's model (``HUB_TASKS``), from its task and what its samples are."""
    data = card["training_data"]
    modality = data.get("modality") or LAYOUT_MODALITY.get(data.get("layout"), data.get("layout"))
    return HUB_TASKS.get((card["model_details"]["task"], modality), OTHER_TASK)


def front_matter(card: Mapping[str, Any]) -> dict[str, Any]:
    """Hugging Face model card metadata: license, datasets, tags and ``model-index`` with the results."""
    details, metrics = card["model_details"], card["metrics"]
    task, tag = details["task"], hub_task(card)
    results = [{"type": k, "name": k, "value": v, "verified": False} for k, v in scalar_metrics(card).items()]
    modality = card["training_data"].get("modality")
    meta: dict[str, Any] = {
        "license": details["license"] if details["license"] != "not declared" else UNKNOWN_LICENSE,
        "library_name": "pytorch",
        "tags": ["zoo", details["family"], task, *([f"{modality}-{task}"] if tag == OTHER_TASK and modality else []),
                 "onnx" if card["bundle"]["status"] == "exported" else "pytorch"],
        "datasets": [details["dataset"]],
        "metrics": [r["type"] for r in results],
    }
    meta["pipeline_tag"] = tag
    if card.get("fine_tuning"):  # Hugging Face's base_model: the model this one was fine-tuned from
        meta["base_model"] = card["fine_tuning"]["model"]
    meta["model-index"] = [{"name": details["name"], "results": [{
        "task": {"type": tag, "name": task},
        "dataset": {"name": card["evaluation_data"]["name"], "type": details["dataset"],
                    "split": metrics["provenance"]["split"]},
        "metrics": results,
    }]}]
    return meta


def _metric_rows(card: Mapping[str, Any]) -> list[list[str]]:
    intervals = card["metrics"]["values"].get("confidence_intervals", {})
    level = intervals.get("level")
    rows = []
    for name, value in scalar_metrics(card).items():
        ci = intervals.get(name)
        rows.append([name, fmt_value(value), f"[{ci[0]:.4g}, {ci[1]:.4g}] ({level:.0%} bootstrap, "
                                        f"{intervals['resamples']} resamples)" if ci else "-",
                     better_text(name) or "-"])
    return rows


def _graph_rows(card: Mapping[str, Any]) -> list[list[str]]:
    def shapes(items):
        return ", ".join(f"{i['name']} {shape_text(i['shape'])}" for i in items)

    return [[g["name"], g.get("role", "-"), f"{g['parameters']:,}", shapes(g["inputs"]), shapes(g["outputs"])]
            for g in card["model_details"]["graphs"]]


def main_figure(card: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The figure that shows what the model does (``zoo.cards.figures.MAIN``): the card opens with it and the
    catalog shows it small. Cards made before it was marked: the task's figure by name."""
    figures = card.get("figures") or []
    return (next((f for f in figures if f.get("main")), None)
            or next((f for f in figures if f["name"] == MAIN.get(card["model_details"]["task"])), None)
            or next((f for f in figures if f["name"] == "confusion_matrix"), None))


def _figures(card: Mapping[str, Any], *names: str) -> list[Block]:
    """The card's figures of these names, less the main one (the card opens with it)."""
    first = main_figure(card)
    return [("figure", f["file"], f["caption"]) for f in card["figures"]
            if f["name"] in names and (first is None or f["file"] != first["file"])]


def headline_line(card: Mapping[str, Any]) -> str:
    """``accuracy 0.9944 [0.9861, 1] (95% interval; higher is better), on the test split (360 samples)``."""
    found = headline(card)
    data = card.get("evaluation_data") or {}
    where = f", on the {found['split']} split ({data['size']:,} samples)" if found["split"] and "size" in data else ""
    return headline_text(found["key"], found["value"], found["interval"], found["level"], fmt_value) + where


def opening(card: Mapping[str, Any]) -> list[Block]:
    """What a reader came for, before any table: the main figure, then the headline metric and how it reads."""
    first = main_figure(card)
    return [*([("figure", first["file"], first["caption"])] if first else []), ("headline", headline_line(card))]


def _parity_blocks(card: Mapping[str, Any]) -> list[Block]:
    parity, bundle = card["parity"], card["bundle"]
    report = parity.get("provenance", {}).get("report")
    said = f" ({parity['summary']})" if parity.get("summary") else ""
    blocks: list[Block] = [("p", f"ONNX parity: **{parity['status']}**{said}." + (
        f" Full report of `zoo verify`: [{Path(report).name}]({report})." if report else ""))]
    if parity.get("providers"):
        blocks.append(("table", ["provider", "result", "details"],
                       [[name, p["result"], ", ".join(f"{k}={fmt_value(v)}" for k, v in p.items() if k != "result")]
                        for name, p in parity["providers"].items()]))
    if bundle["status"] == "exported":
        folder = f" (folder `{bundle['name']}`)" if bundle["name"] != bundle["model"] else ""
        blocks.append(("p", f"ONNX bundle of `{bundle['model']}`{folder}: {bundle['format']}, opset {bundle['opset']}, "
                            f"{bundle['exporter']} exporter; ONNX files {bundle['onnx_bytes']:,} bytes. Every "
                            f"checksum below was checked against the files."))
        blocks.append(("table", ["file", "bytes", "sha256"],
                       [[f["file"], f"{f['bytes']:,}", f["sha256"]] for f in bundle["files"]]))
    else:
        blocks.append(("p", "Not exported: no ONNX bundle was given for this card."))
    return blocks


def _ms(latency: Mapping[str, Any] | None) -> str:
    """``0.036 / 1.61``: milliseconds at batch 1 and batch 64."""
    return " / ".join(f"{latency[b]:.3g}" for b in ("1", "64") if b in latency) if latency else "-"


def _task(metric: Mapping[str, Any] | None) -> str:
    if not metric:
        return "-"
    change = f" ({metric['change']:+.2g} vs FP32" + (f", argmax agreement {metric['argmax_agreement']:.4g}"
                                                     if "argmax_agreement" in metric else "") + ")"
    return f"{metric['name']} {metric['value']:.4g}" + (change if metric["change"] or "argmax_agreement" in metric else "")


def _signature_line(bundle: Mapping[str, Any]) -> str:
    """Whether the bundle is signed, by which key (fingerprint only), and how a deployer checks it."""
    signed = bundle.get("signature") or {"status": "not signed"}
    if signed["status"] == "signed":
        return (f"**Signature:** signed with {signed['library']} ({signed['algorithm']}), key fingerprint "
                f"`{signed['fingerprint']}`. The signature (`{signed['signature']}`) covers every file of the "
                f"bundle, this card included. Check it before use with the publisher's public key: "
                f"`zoo verify BUNDLE --public-key publisher.pub` (or `zoo predict BUNDLE INPUT --public-key "
                f"publisher.pub`).")
    if signed["status"] == "stale":
        return f"**Signature:** not valid: {signed['note']}."
    return ("**Signature:** not signed: only the manifest's checksums, the publisher's own claim, vouch for the "
            "files (`zoo sign` signs a bundle).")


def _deployment_blocks(card: Mapping[str, Any]) -> list[Block]:
    """Per variant: size, latency, task metric, parity and fit, as ``zoo verify --latency`` measured them."""
    bundle, measured = card["bundle"], card["parity"].get("deployment")
    if bundle["status"] != "exported":
        return [("p", "Not exported: no ONNX bundle was given for this card, so no variant to deploy.")]
    blocks: list[Block] = []
    if measured:
        rows, prov = measured["rows"], measured["provenance"]
        cuda = any("cuda" in r["latency_ms"] for r in rows)
        blocks.append(("table", ["variant", "size", "ORT CPU ms (batch 1 / 64)",
                                 *(["ORT CUDA ms (batch 1 / 64)"] if cuda else []), "task metric (test split)",
                                 "parity", "fits"],
                       [[r["variant"], "-" if r.get("declined") else f"{r['bytes']:,} bytes ({r['size_ratio']:.2f}x)",
                         _ms(r["latency_ms"].get("cpu")),
                         *([_ms(r["latency_ms"].get("cuda"))] if cuda else []), _task(r["metric"]), r["parity"],
                         r["fits"]] for r in rows]))
        machine = prov["machine"]
        blocks.append(("p", f"Graph `{prov['graph']}`, measured by {prov['measured_by']} on {prov['measured']} "
                            f"(onnxruntime {prov['onnxruntime']}; CPU with {prov['cpu_threads']} intra-op thread on "
                            f"{hardware_text(machine)}"
                            + ("" if cuda else "; no GPU was measured") + f"); latency is the {prov['statistic']}. "
                            f"The task metric is measured {prov['task_metric']}. Parity: FP32 against PyTorch "
                            f"within the declared tolerances; int8 and fp16 against FP32 within the family's "
                            f"task-level tolerances, per provider (see the report)."))
    else:
        blocks.append(("p", f"Variants in this bundle: {', '.join(bundle.get('variants', ['fp32']))}. Latency and "
                            f"the task metric per variant were not measured (`zoo verify BUNDLE --save` or "
                            f"`zoo publish` measures them)."))
    made = bundle.get("variant_files", [])
    if made:
        blocks.append(("table", ["variant", "graph", "bytes", "how it was made", "what it holds"],
                       [[v["variant"], v["graph"], f"{v['bytes']:,}", v["method"], v["note"]] for v in made]))
    blocks.append(("p", _signature_line(bundle)))
    return blocks


def class_label(card: Mapping[str, Any], index: Any) -> str:
    """A class as a card names it: its name where the data names its classes (``cat (2)``), else its number."""
    names = card["training_data"].get("class_names") or []
    name = names[int(index)] if str(index).isdigit() and int(index) < len(names) else None
    return str(index) if name in (None, str(index)) else f"{name} ({index})"


def _per_class(card: Mapping[str, Any]) -> list[Block]:
    analyses = card["quantitative_analyses"]
    if "per_class" not in analyses:
        return [("p", analyses.get("note", ""))]
    rows = [[class_label(card, c), *(fmt_value(r[k]) for k in ("precision", "recall", "f1", "support"))]
            for c, r in analyses["per_class"].items()]
    first = main_figure(card)
    shown = " The confusion matrix opens this card." if first and first["name"] == "confusion_matrix" else ""
    return [("p", "Results per class on the test split (disaggregated, as the Model Cards paper asks)." + shown),
            ("table", ["class", "precision", "recall", "f1", "support"], rows),
            *_figures(card, "confusion_matrix")]


def _augmentation(card: Mapping[str, Any]) -> list[Block]:
    text = card["training_data"].get("augmentation")
    return [("p", f"**Training data preprocessing** (from the run's config): {text}.")] if text else []


def _accuracy(value: Any) -> str:
    return fmt_value(value) if _number(value) else "-"


def _privacy(card: Mapping[str, Any]) -> list[Block]:
    """The guarantee (epsilon, delta and how they were reached), in plain words, and the measured leak."""
    p = card["privacy"]
    attack = p["membership_inference"]
    rows = [[f"this model (epsilon {p['epsilon']:.3g})", card["metrics"]["provenance"]["run"], _accuracy(p["accuracy"]),
             fmt_value(attack["auroc"]), fmt_value(attack["advantage"])]]
    if p.get("baseline"):
        other = p["baseline"]["membership_inference"]
        rows.append(["the same model without differential privacy", p["baseline"]["run"],
                     _accuracy(p["baseline"]["accuracy"]), fmt_value(other["auroc"]), fmt_value(other["advantage"])])
    blocks: list[Block] = [
        ("p", f"Trained with differential privacy (DP-SGD, {p['library']}): **epsilon = {p['epsilon']:.4g}** spent "
              f"(target {p['target_epsilon']:.4g}) at **delta = {p['delta']:.3g}**, as bounded by the "
              f"{p['accountant'].upper()} accountant over {p['steps']} steps. Each step takes every training sample "
              f"independently with probability {p['sample_rate']:.3g} (Poisson sampling, {p['expected_batch_size']} "
              f"samples expected), clips each sample's gradient to L2 norm {p['max_grad_norm']:.3g}, and adds "
              f"Gaussian noise of {p['noise_multiplier']:.3g} times that norm to their sum."),
        ("p", f"**What this means.** {p['meaning']}"),
        ("table", ["model", "run", "test accuracy", "membership-inference AUROC", "advantage"], rows),
        ("p", f"Membership inference measured by zoo: {attack['attack']} ({attack['members']} members, "
              f"{attack['non_members']} non-members). AUROC 0.5 means the attack cannot tell members from "
              f"non-members; 1.0 that it always can. The advantage is the best true-positive minus false-positive "
              f"rate over all loss thresholds." + ("" if p.get("baseline") else
                                                   " No run without differential privacy was given to compare "
                                                   "(`zoo train --baseline RUN`).")),
    ]
    if p.get("layers_changed"):
        blocks.append(("p", "Layers changed so that Opacus can compute per-sample gradients (the trained, exported "
                            "network is the changed one): " + "; ".join(f"`{c}`" for c in p["layers_changed"]) + "."))
    return blocks


def _distillation(card: Mapping[str, Any]) -> list[Block]:
    """The teacher (run id, weights checksum), the loss's settings, and the accuracies with and without it."""
    d = card["distillation"]
    teacher, baseline = d["teacher"], d.get("baseline")
    rows = [["teacher", f"{teacher['run']} ({teacher['model']})", _accuracy(teacher.get("accuracy"))],
            ["this student, with the teacher", card["metrics"]["provenance"]["run"], _accuracy(d["accuracy"])],
            ["the student without the teacher", baseline["run"] if baseline else "not measured",
             _accuracy(baseline["accuracy"]) if baseline else "-"]]
    return [
        ("p", f"Distilled (Hinton et al. 2015) from the teacher run `{teacher['run']}` (model `{teacher['model']}`, "
              f"weights sha256 `{teacher['weights_sha256']}`), trained on the same data (its data sha256 checked "
              f"equal). Loss: alpha x T^2 x KL(teacher || student, both softened at temperature T) + (1 - alpha) x "
              f"cross-entropy on the labels, with T = {d['temperature']:.4g} and alpha = {d['alpha']:.4g}."),
        ("table", ["model", "run", "test accuracy"], rows),
    ]


def _cell(value: Any) -> str:
    return "yes" if value is True else "no" if value is False else fmt_value(value)


def _assessment_blocks(card: Mapping[str, Any], section: str) -> list[Block]:
    """The section's measured assessments, each as its summary, tables and figures, then how they were measured."""
    found = card.get("assessments") or {}
    entries = found.get(section, [])
    if not entries:
        return []
    blocks: list[Block] = []
    for entry in entries:
        by = "" if entry["plugin"] == CORE_PLUGIN else f" (added by plugin `{entry['plugin']}`)"
        if entry["status"] != "ok":
            blocks.append(("p", f"**{entry['title']}**{by}: not measured: {entry['error']}."))
            continue
        blocks.append(("p", f"**{entry['title']}**{by}. {entry['summary']}"))
        for table in entry["tables"]:
            if table.get("caption"):
                blocks.append(("p", table["caption"]))
            blocks.append(("table", list(table["headers"]), [[_cell(c) for c in row] for row in table["rows"]]))
        blocks += [("figure", f["file"], f["caption"]) for f in entry.get("figures", [])]
        if entry.get("method"):
            blocks.append(("p", f"*How:* {entry['method']}"))
    prov = found["provenance"]
    seconds = sum(e.get("seconds", 0) for e in entries)
    blocks.append(("p", f"Measured by zoo {prov['zoo_version']} on run `{prov['run']}` (its {prov['split']} split, "
                        f"unless an entry names another; seed {prov['seed']}, weights sha256 "
                        f"`{prov['weights_sha256'][:16]}...`, sample budget "
                        f"{prov['budget']:g}) in {seconds:.1f} s; kept with the run in `assessments/assessments.json` "
                        f"(`zoo assess RUN`)."))
    return blocks


INIT_KINDS = {"published": "the published model", "run": "the run", "bundle": "the bundle"}


def _fine_tuning(card: Mapping[str, Any]) -> list[Block]:
    """The base model, its weights' checksum, the head made afresh and what was frozen (``--init``)."""
    f = card["fine_tuning"]
    replaced = f.get("replaced") or []
    head = (f"The head (`{f['head']}`) was made afresh for {card['training_data']['num_classes']} classes "
            f"({len(replaced)} tensors: {', '.join(f'`{k}`' for k in replaced)}); every other layer started from "
            f"the base model's weights." if replaced else
            "Every layer, the head included, started from the base model's weights (the classes match).")
    frozen = (f" Only the head trained: {f['frozen_parameters']:,} values outside it were frozen (`--freeze`)."
              if f.get("freeze") else " Every layer trained.")
    return [("p", f"Fine-tuned from `{f['model']}`: the weights of {INIT_KINDS.get(f['kind'], f['kind'])} "
                  f"`{f['source']}`, sha256 `{f['weights_sha256']}` (`zoo train --init`). {head}{frozen}")]


def _published_results(card: Mapping[str, Any]) -> list[Block]:
    """The model beside the results published for its dataset's own split (each with its source), zoo's 1-NN ED
    computed afresh, and the goals it meets or misses, with the margin (``zoo.cards.published.published_comparison``)."""
    p = card["published_results"]
    computed, model = p["computed"], p["model"]
    rows = [[r["method"], r["kind"], r["accuracy"], r["source"]] for r in p["published"]]
    if computed["accuracy"] is None:
        found = computed["note"]
    else:
        found = f"{computed['accuracy']:.4f}"
        if "published" in computed:
            found += (f" (equals the published {computed['published']} to its last digit)"
                      if computed["equals_published"] else f" (differs from the published {computed['published']})")
    rows.append([f"{computed['method']} ({computed['provenance']})", NEAREST_NEIGHBOUR, found,
                 f"{computed['how']}; data sha256 `{computed['data_sha256'][:16]}...`"])
    interval = model.get("interval")
    rows.append([f"this model ({card['model_details']['name']})", LEARNED, f"{model['accuracy']:.4f}" + (
        f" [{interval[0]:.4f}, {interval[1]:.4f}] ({model['level']:.0%} bootstrap interval)" if interval else ""),
        f"run `{card['metrics']['provenance']['run']}`"])
    blocks: list[Block] = [
        ("p", f"Test accuracies on the {p['split']} split of `{p['dataset']}` ({p['test_size']} samples), the "
              f"test split given with the data: the published results were measured on the same split, as their "
              f"sources say. The model trained on the given training part less the validation share zoo draws from "
              f"it; the published methods and zoo's own 1-NN ED used the whole training part."),
        ("table", ["method", "kind", "test accuracy", "source"], rows)]
    for goal in p["goals"]:
        ref = goal["reference"]
        verdict = "met" if goal["met"] else f"missed by {-goal['margin']:.4f} ({-100 * goal['margin']:.2f} points)"
        blocks.append(("p", f"**Goal:** {goal['goal']} ({ref['method']}, {ref['accuracy']}; target "
                            f"{goal['target']:.4f}): **{verdict}** (this model {model['accuracy']:.4f}, margin "
                            f"{goal['margin']:+.4f})."))
    return blocks


def _optional_sections(card: Mapping[str, Any]) -> list[tuple[str, list[Block]]]:
    """Sections only some runs have: Fine-tuning (trained with --init), Privacy (with --dp-epsilon), Distillation
    (with --teacher), Published results on the same split (a dataset that declares them, `DatasetSpec.published`)."""
    found = []
    if card.get("fine_tuning"):
        found.append(("Fine-tuning", _fine_tuning(card)))
    if card.get("privacy"):
        found.append(("Privacy", _privacy(card)))
    if card.get("distillation"):
        found.append(("Distillation", _distillation(card)))
    if card.get("published_results"):
        found.append(("Published results on the same split", _published_results(card)))
    return found


def _skipped(card: Mapping[str, Any]) -> list[Block]:
    """The damaged files the data's reader left out (``skip_damaged``), by their paths inside the data folder."""
    skipped = card["training_data"].get("skipped") or []
    if not skipped:
        return []
    names = ", ".join(f"`{name}`" for name in skipped)
    return [("p", f"Left out as damaged while reading the data (`skip_damaged`): {len(skipped)} "
                  f"file{'' if len(skipped) == 1 else 's'}, {names}.")]


def sections(card: Mapping[str, Any]) -> list[tuple[str, list[Block]]]:
    """The card laid out once, in the Model Cards for Model Reporting order."""
    details, metrics, training = card["model_details"], card["metrics"], card["training"]
    prov = metrics["provenance"]
    notes = card["training_data"]["notes"]
    return [
        ("Use it", usage_blocks(card)),
        ("Model details", [
            ("p", details["description"]),
            ("table", ["fact", "value"], [
                ["family", details["family"]], ["task", details["task"]], ["plugin", details["plugin"]],
                ["parameters", f"{details['parameters']:,}"], ["license", details["license"]],
                ["ONNX size", f"{card['bundle']['onnx_bytes']:,} bytes" if "onnx_bytes" in card["bundle"]
                 else "not exported"],
                ["zoo version", details["zoo_version"]]]),
            ("table", ["graph", "role", "parameters", "inputs", "outputs"], _graph_rows(card)),
            ("p", "Parameter counts and shapes are computed from the model as built by the family's "
                  "zoo_build hook; named axes are dynamic.")]),
        ("Intended use", [("p", card["intended_use"]["primary"]),
                          ("p", "**Out of scope:** " + card["intended_use"]["out_of_scope"])]),
        ("Factors", [("p", card["factors"])]),
        ("Metrics", [
            ("table", ["metric", "value", "95% interval", "reads"], _metric_rows(card)),
            ("p", f"Measured by zoo {prov['zoo_version']} on the {prov['split']} split, seed {prov['seed']}, "
                  f"run id `{prov['run']}`, data sha256 `{prov['data_sha256'][:16]}...`.")]),
        ("Evaluation data", [("p", f"The {card['evaluation_data']['split']} split of "
                                   f"{card['evaluation_data']['name']}: {card['evaluation_data']['size']} "
                                   f"samples, held out from training and model selection.")]),
        ("Training data", [
            ("table", ["note", "text"], [[k.replace("_", " "), v] for k, v in notes.items()]),
            *_augmentation(card),
            *_skipped(card),
            ("table", ["split", "samples"], [[k, str(v)] for k, v in card["training_data"]["splits"].items()])]),
        ("Training", [
            ("p", f"{training['epochs']} epoch{'' if training['epochs'] == 1 else 's'} in "
                  f"{training['seconds']:.1f} s on {hardware_text(training.get('hardware'))} (run id "
                  f"`{training['provenance']['run']}`). The same seed reproduces every number of this card exactly "
                  f"on the same kind of processor and thread count; on another, floating-point sums run in another "
                  f"order and the numbers move slightly (the README says by how much)."),
            ("table", ["config", "value"], [[k, fmt_value(v)] for k, v in training["config"].items()]),
            *_figures(card, "training_curves")]),
        ("Quantitative analyses", _per_class(card)),
        *_optional_sections(card),
        ("Explainability", [*_assessment_blocks(card, "explainability"),
                            ("p", ("**The family's notes.** " if card.get("assessments", {}).get("explainability")
                                   else "") + card["explainability"]["method"]),
                            *_figures(card, *[f["name"] for f in card["figures"] if f["explains"]])]),
        ("ONNX export and parity", _parity_blocks(card)),
        ("Deployment", _deployment_blocks(card)),
        ("Safety and ethical considerations", [
            *_assessment_blocks(card, "safety"),
            ("table", ["aspect", "notes"], [[k.replace("_", " "), v] for k, v in card["ethical_considerations"].items()])]),
        ("Caveats and recommendations", [("p", card["caveats_and_recommendations"])]),
    ]


def md_cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def figure_size(card_dir: Path, file: str) -> tuple[int, int] | None:
    """The CSS pixels a figure is shown at (``zoo.plots.display_size``); None where its PNG cannot be read."""
    try:
        return display_size(Path(card_dir) / file)
    except (OSError, ValueError):
        return None


def _md_block(block: Block) -> list[str]:
    kind = block[0]
    if kind == "p":
        return [block[1], ""]
    if kind == "headline":
        return [f"**{block[1]}**", ""]
    if kind == "code":
        return [f"```{block[1]}", block[2], "```", ""]
    if kind == "table":
        return (["| " + " | ".join(block[1]) + " |", "|" + " --- |" * len(block[1])]
                + ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in block[2]] + [""])
    # Markdown's own image (GitHub and the Hub show it at most as wide as their column)
    return [f"![{Path(block[1]).stem}]({block[1]})", "", f"*{block[2]}*", ""]


def to_markdown(card: Mapping[str, Any]) -> str:
    """The card in Markdown with Hugging Face front matter."""
    lines = ["---", yaml.safe_dump(front_matter(card), sort_keys=False).rstrip(), "---", "",
             f"# {card['model_details']['name']}", "", card["model_details"]["summary"], ""]
    for block in opening(card):
        lines += _md_block(block)
    for title, blocks in sections(card):
        lines += [f"## {title}", ""]
        for block in blocks:
            lines += _md_block(block)
    return "\n".join(lines)


def to_json(card: Mapping[str, Any]) -> str:
    return json.dumps({"front_matter": front_matter(card), **card}, indent=2) + "\n"


_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_STRONG = re.compile(r"\*\*([^*]+)\*\*")
_EM = re.compile(r"(?<![\w*])\*([^*\s](?:[^*]*[^*\s])?)\*(?![\w*])")
_KEPT = re.compile("\x00(\\d+)\x00")


def _inline(text: str) -> str:
    """The Markdown the cards use, in an escaped paragraph: `code`, [links](file), **strong** and *emphasis*.
    Code is set aside first, so that a ``*`` inside it stays as it is."""
    escaped = html.escape(text)
    kept: list[str] = []

    def keep(match: re.Match) -> str:
        kept.append(f"<code>{match.group(1)}</code>")
        return f"\x00{len(kept) - 1}\x00"

    escaped = _CODE.sub(keep, escaped)
    escaped = _LINK.sub(r'<a href="\2">\1</a>', escaped)
    escaped = _STRONG.sub(r"<strong>\1</strong>", escaped)
    escaped = _EM.sub(r"<em>\1</em>", escaped)
    return _KEPT.sub(lambda m: kept[int(m.group(1))], escaped)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


STYLE = ("body{font-family:system-ui,sans-serif;font-size:16px;max-width:60rem;margin:2rem auto;padding:0 1rem;"
         "color:#222}table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem;"
         "text-align:left;font-size:.9rem;vertical-align:top}code{font-size:.85rem}figure{margin:1rem 0}"
         "figcaption{font-size:.85rem;color:#555}img{max-width:100%;height:auto}"
         "pre{background:#f6f8fa;padding:.6rem .8rem;overflow-x:auto;border-radius:4px}"
         "p.headline{font-size:1.25rem;font-weight:600;margin:.5rem 0 1.5rem}")


def _html_block(block: Block, card_dir: Path) -> str:
    kind = block[0]
    if kind == "p":
        return f"<p>{_inline(block[1])}</p>"
    if kind == "headline":
        return f'<p class="headline">{_inline(block[1])}</p>'
    if kind == "code":
        return f'<pre><code class="language-{html.escape(block[1])}">{html.escape(block[2])}</code></pre>'
    if kind == "table":
        head = "".join(f"<th>{html.escape(h)}</th>" for h in block[1])
        body = "".join("<tr>" + "".join(f"<td>{_inline(str(c))}</td>" for c in row) + "</tr>" for row in block[2])
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    size = figure_size(card_dir, block[1])
    sized = f' width="{size[0]}" height="{size[1]}"' if size else ""
    return (f"<figure><img src=\"{_data_uri(card_dir / block[1])}\"{sized} alt=\"{html.escape(block[2])}\">"
            f"<figcaption>{html.escape(block[2])}</figcaption></figure>")


def to_html(card: Mapping[str, Any], card_dir: Path) -> str:
    """One page with every figure inlined as a data URI: it opens anywhere, offline."""
    name = html.escape(card["model_details"]["name"])
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{name} - model card</title>",
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<style>{STYLE}</style></head><body>", f"<h1>{name}</h1>",
             f"<p>{_inline(card['model_details']['summary'])}</p>",
             "<section id=\"at-a-glance\">", *(_html_block(b, card_dir) for b in opening(card)), "</section>"]
    for title, blocks in sections(card):
        slug = title.lower().replace(" ", "-")
        parts.append(f"<section id=\"{slug}\"><h2>{html.escape(title)}</h2>")
        parts += [_html_block(block, card_dir) for block in blocks]
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render(card: Mapping[str, Any], fmt: str, card_dir: Path) -> str:
    if fmt == "md":
        return to_markdown(card)
    if fmt == "json":
        return to_json(card)
    return to_html(card, card_dir)
