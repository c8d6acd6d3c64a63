"""Model cards for real: tiny trained runs, real captum figures, ONNX bundles and headless Chromium."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import yaml

import zoo
from conftest import ROOT, chromium, dump_dom, invoke_zoo, published_cards, run_zoo
from zoo.cards.make import linked_files
from zoo.cards.schema import STATIC_SCHEMA, validate_card
from zoo.cards.static import static_card
from zoo.cards.facts import augmentation
from zoo.plugins import call_model_hook
from zoo.cards.writer import write_card
from zoo.registry import get_model, list_models

TINY = {  # shift is the core's augmentation key: the two classifiers train with and without it
    "cnn-digits": {"channels": "8,16", "hidden": 32, "shift": 1},
    "lstm-digits": {"hidden_size": 16, "shift": 0},
    "ae-digits": {"hidden": "32"},
    "cgan-digits": {"generator_hidden": "32", "discriminator_hidden": "32"},
}
FIGURES = {"classification": {"examples", "confusion_matrix", "training_curves"},
           "reconstruction": {"reconstructions", "training_curves"},
           "generation": {"samples", "training_curves"}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {name: zoo.train(name, epochs=1, overrides=overrides, out=root / name) for name, overrides in TINY.items()}


@pytest.fixture(scope="module")
def cards(runs, tmp_path_factory):
    """Each tiny run's card in all three formats: (card, {format: path})."""
    root = tmp_path_factory.mktemp("cards")
    made = {}
    for name, run in runs.items():
        card, written = write_card(run.path, ["md", "json", "html"], root / name / "card.md")
        made[name] = card, {p.suffix[1:]: p for p in written}
    return made


def front_matter(markdown: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", markdown, re.S)
    assert match, "no YAML front matter"
    return yaml.safe_load(match.group(1))


# Where machines keep their files; a card read on another machine must name none of them.
MACHINE_DIRS = ("/home/", "/tmp/", "/work/", "/root/", "/Users/", "/var/folders/")
# An absolute path in text: a slash not inside a word, a URL (://host/x) or base64, then two or more parts.
PATH_LIKE = re.compile(r"(?<![\w.:/+~-])/[\w.@+-]+/[\w.@+/-]*")
DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HREF = re.compile(r"<a href=\"([^\"]+)\"")
URL = re.compile(r"^[a-z][a-z0-9+.-]*:|^#")
# Task ids of the Hugging Face Hub (huggingface.js, packages/tasks/src/pipelines.ts), image and general ones.
HUB_TASK_IDS = {
    "image-classification", "image-to-image", "unconditional-image-generation", "text-to-image",
    "image-feature-extraction", "feature-extraction", "image-segmentation", "object-detection",
    "zero-shot-image-classification", "depth-estimation", "image-to-text", "mask-generation",
    "tabular-classification", "tabular-regression", "time-series-forecasting", "text-classification",
    "audio-classification", "other",
}
EXPECTED_HUB_TASK = {"classification": "image-classification", "reconstruction": "image-to-image",
                     "generation": "unconditional-image-generation"}


def absolute_paths(folder: Path, *known: Path) -> list[str]:
    """Every place a file under ``folder`` names an absolute path: the repository's, a ``known`` one
    (a run, a temporary folder), a machine's usual top folders, or any /a/b-like string in the text."""
    needles = {str(ROOT), *(str(k) for k in known), *(str(Path(k).resolve()) for k in known), *MACHINE_DIRS}
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += [f"{path.relative_to(folder)}: {n}" for n in sorted(needles) if n.encode() in data]
        if path.suffix in (".md", ".json", ".html"):
            text = DATA_URI.sub("", data.decode("utf-8"))
            found += [f"{path.relative_to(folder)}: {m}" for m in PATH_LIKE.findall(text)]
    return found


def broken_links(card: Path) -> list[str]:
    """The relative links (Markdown links and images, HTML hrefs) of ``card`` that open no file beside it."""
    text = card.read_text()
    targets = LINK.findall(text) + HREF.findall(text)
    return [t for t in targets if not URL.match(t)
            and (t.startswith("/") or not (card.parent / t.split("#")[0]).is_file())]


def test_absolute_path_scan_finds_what_it_should(tmp_path):
    """The scanners above, on text that must and must not be flagged."""
    (tmp_path / "a.md").write_text("run `/srv/runs/cnn-digits`; [x](https://example.org/a/b) rows/features "
                                   "![f](figures/a.png) [gone](figures/b.png) [abs](/etc/passwd)\n")
    (tmp_path / "b.html").write_text('<img src="data:image/png;base64,ab/cd/ef+/gh/ij=="></td>')
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.png").write_bytes(b"png")
    assert absolute_paths(tmp_path) == ["a.md: /srv/runs/cnn-digits", "a.md: /etc/passwd"]
    assert broken_links(tmp_path / "a.md") == ["figures/b.png", "/etc/passwd"]


def test_every_builtin_model_has_a_complete_static_card():
    for spec in list_models():
        card, problems = static_card(spec)
        assert problems == [], f"{spec.name}: {problems}"
        assert set(STATIC_SCHEMA) <= set(card)


@pytest.mark.parametrize("name", list(TINY))
def test_card_follows_schema_and_quotes_the_run(name, runs, cards):
    card, files = cards[name]
    assert validate_card(card) == []
    recorded = json.loads((runs[name].path / "metrics.json").read_text())
    assert card["metrics"]["values"] == recorded["metrics"]
    assert card["metrics"]["provenance"]["seed"] == recorded["seed"]
    assert card["metrics"]["provenance"]["data_sha256"] == runs[name].record["data"]["sha256"]
    assert json.loads(files["json"].read_text())["metrics"]["values"] == recorded["metrics"]
    assert card["parity"] == {"status": "not verified"} and card["bundle"]["status"] == "not exported"
    spec = get_model(name)
    assert {f["name"] for f in card["figures"]} == FIGURES[spec.task]
    markdown = files["md"].read_text()
    for figure in card["figures"]:
        path = files["md"].parent / figure["file"]
        assert path.stat().st_size > 1000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({figure['file']})" in markdown
    meta = front_matter(markdown)
    assert meta["datasets"] == [spec.dataset] and meta["license"]
    results = meta["model-index"][0]["results"][0]
    assert results["dataset"]["split"] == "test"
    assert {m["type"]: m["value"] for m in results["metrics"]} == {
        k: v for k, v in recorded["metrics"].items() if isinstance(v, (int, float))}


@pytest.mark.parametrize("name", list(TINY))
def test_card_names_no_machine_path_and_its_links_open(name, runs, cards):
    """A card written into a temporary folder: no absolute path in any of its files, every link opens."""
    card, files = cards[name]
    folder = files["md"].parent
    assert absolute_paths(folder, runs[name].path, folder) == []
    assert card["metrics"]["provenance"]["run"] == card["training"]["provenance"]["run"] == name
    for fmt in ("md", "html"):
        assert broken_links(files[fmt]) == []
    assert sorted(LINK.findall(files["md"].read_text())) == sorted(linked_files(card))


@pytest.mark.parametrize("name", list(TINY))
def test_front_matter_uses_a_hub_task_id(name, cards):
    card, files = cards[name]
    meta = front_matter(files["md"].read_text())
    assert meta["pipeline_tag"] in HUB_TASK_IDS
    assert meta["pipeline_tag"] == EXPECTED_HUB_TASK[get_model(name).task]
    assert meta["model-index"][0]["results"][0]["task"]["type"] == meta["pipeline_tag"]


def test_augmentation_sentence_follows_the_run_config(runs, cards):
    """The core states the augmentation from the run's resolved config, never from a plugin's text."""
    shifted, plain = cards["cnn-digits"], cards["lstm-digits"]
    assert runs["cnn-digits"].config["shift"] == 1 and runs["lstm-digits"].config["shift"] == 0
    assert shifted[0]["training_data"]["augmentation"].startswith("random shifts of up to 1 pixel in each direction")
    assert "**Training data preprocessing** (from the run's config): random shifts of up to 1 pixel" in \
        shifted[1]["md"].read_text()
    assert plain[0]["training_data"]["augmentation"].startswith("none")
    assert "**Training data preprocessing** (from the run's config): none" in plain[1]["md"].read_text()
    for name in ("ae-digits", "cgan-digits"):  # no core recipe augments them: the card says nothing
        assert cards[name][0]["training_data"]["augmentation"] is None
        assert "Training data preprocessing" not in cards[name][1]["md"].read_text()
    assert augmentation("classification", "sequence", {"shift": 2}).startswith(
        "random shifts of up to 2 time steps earlier or later (features stay as they are)")
    assert augmentation("classification", "image", {}).startswith("none")


AUGMENTATION_CLAIM = re.compile(r"no augmentation|random shifts?|shifted by|as augmentation|fed as they are", re.I)


def _texts(value) -> list[str]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    return [value] if isinstance(value, str) else []


def test_card_text_restates_no_config_value():
    """A plugin's hand-written text names config keys (`shift`), never their values or their effect."""
    for spec in list_models():
        text = " ".join(_texts(call_model_hook("zoo_model_card", spec)))
        assert not AUGMENTATION_CLAIM.search(text), f"{spec.name}: {AUGMENTATION_CLAIM.search(text).group(0)!r}"
        values = {v for value in spec.default_config.values()
                  for v in (value if isinstance(value, list) else [value])
                  if isinstance(v, (int, float)) and not isinstance(v, bool) and v not in (0, 1)}
        for value in values:
            assert not re.search(rf"(?<![\w.,-]){re.escape(str(value))}(?![\w,]|\.\d)", text), \
                f"{spec.name}: the card text restates the config value {value}"


@pytest.mark.parametrize("name", list(TINY))
def test_model_facts_match_a_rebuilt_model(name, cards):
    """Like torchvision's weights-metadata tests: rebuild the model and check the card's numbers."""
    card, _ = cards[name]
    spec = get_model(name)
    model = zoo.create_model(name, **TINY[name])
    assert card["model_details"]["parameters"] == sum(p.numel() for p in model.parameters())
    dataset = zoo.list_datasets()
    sample_shape = next(list(d.sample_shape) for d in dataset if d.name == spec.dataset)
    graph = card["model_details"]["graphs"][0]
    outputs = graph["outputs"][0]["shape"]
    if spec.task == "generation":
        assert outputs[1:] == sample_shape
        return
    assert graph["inputs"][0]["shape"][0] == "batch" and len(graph["inputs"][0]["shape"]) == 1 + len(sample_shape)
    with torch.no_grad():
        produced = model.eval()(torch.zeros(2, *sample_shape))
    assert outputs[0] == "batch" and outputs[1:] == list(produced.shape[1:])


def test_classifier_card_has_disaggregated_results(cards):
    card, files = cards["cnn-digits"]
    analyses = card["quantitative_analyses"]
    assert set(analyses["per_class"]) == {str(c) for c in range(10)}
    assert analyses["confidence_intervals"]["level"] == 0.95
    broken = {**card, "quantitative_analyses": {"note": "none"}}
    assert "missing quantitative_analyses.per_class" in validate_card(broken)
    assert "| 9 |" in files["md"].read_text()


def test_card_of_a_bundle_quotes_its_files_and_graphs(runs, tmp_path):
    from zoo.bundle.export import export_run

    bundle = export_run(runs["cnn-digits"], tmp_path / "bundle")
    result = run_zoo("card", str(bundle), "--format", "json")
    assert result.code == 0, result.err
    card = json.loads(Path(result.out.strip()).read_text())
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert {f["file"]: f["sha256"] for f in card["bundle"]["files"]} == manifest["files"]
    assert card["bundle"]["onnx_bytes"] == (bundle / "model.onnx").stat().st_size
    onnx_graph, model_graph = card["bundle"]["graphs"][0], card["model_details"]["graphs"][0]
    for side in ("inputs", "outputs"):  # the bundle's also name each dtype, as its manifest does
        assert [{k: i[k] for k in ("name", "shape")} for i in onnx_graph[side]] == model_graph[side]
        assert [i["dtype"] for i in onnx_graph[side]] == [i["dtype"] for i in manifest["graphs"][0][side]]
    assert card["metrics"]["provenance"]["run"] == runs["cnn-digits"].path.name
    assert card["bundle"]["name"] == "bundle" and card["bundle"]["model"] == "cnn-digits"
    assert card["parity"]["status"] == "not verified"
    assert absolute_paths(bundle / "card", bundle, runs["cnn-digits"].path) == []


def test_card_command_errors_are_one_line(tmp_path):
    result = run_zoo("card", str(tmp_path))
    assert result.code == 2 and result.err.startswith("error:") and "neither a run" in result.err
    assert len(result.err.strip().splitlines()) == 1


INCOMPLETE_PLUGIN = """
from zoo import ModelSpec, hookimpl

@hookimpl
def zoo_models():
    return [ModelSpec(name="half-carded", family="half", task="classification", dataset="digits",
                      summary="a model whose card is unfinished",
                      default_config={"epochs": 1, "batch_size": 64, "lr": 0.01, "seed": 0})]

@hookimpl
def zoo_build(spec, config, info):
    if spec.family != "half":
        return None
    import torch
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, info.num_classes))

@hookimpl
def zoo_train(spec, model, data, config, context):
    if spec.family != "half":
        return None
    from zoo.recipes import train_classifier
    return train_classifier(model, data, config, context)

@hookimpl
def zoo_evaluate(spec, model, data, config):
    if spec.family != "half":
        return None
    from zoo.recipes import evaluate_classifier
    return evaluate_classifier(model, data)

@hookimpl
def zoo_model_card(spec):
    if spec.family != "half":
        return None
    return {"description": "A linear layer.", "intended_use": "Tests.", "out_of_scope_use": "Everything else.",
            "data_notes": {"preprocessing": "none"}, "safety": {"risks": "wrong answers"},
            "limitations": "Many."}
"""


def test_plugin_with_incomplete_card_is_reported(plugin_path, tmp_path):
    plugin_path.add("zoo-half", "zoo_half", INCOMPLETE_PLUGIN)
    listing = json.loads(invoke_zoo("plugins", "--json").out)
    plugins = {p["name"]: p for p in listing}
    assert plugins["zoo_half"]["status"] == "ok"
    assert plugins["zoo_half"]["card"]["complete"] is False
    assert plugins["zoo_half"]["card"]["missing"]["half-carded"] == ["missing explainability",
                                                                     "missing safety.misuse"]
    assert all(plugins[n]["card"]["complete"] for n in ("cnn", "rnn", "autoencoder", "gan"))
    table = invoke_zoo("plugins").out
    assert re.search(r"zoo_half .* ok +incomplete: half-carded: missing explainability", table)
    run = tmp_path / "run"
    assert invoke_zoo("train", "half-carded", "--out", str(run)).code == 0
    result = invoke_zoo("card", str(run))
    assert result.code == 2 and "missing explainability; missing safety.misuse" in result.err
    assert not (run / "card" / "card.md").exists()


CHECK_SCRIPT = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e.type)), true);
window.addEventListener('load', () => {
  const images = [...document.images].map(i => i.complete && i.naturalWidth > 0);
  document.body.setAttribute('data-images', JSON.stringify(images));
  document.body.setAttribute('data-errors', JSON.stringify(window.__errors));
});
</script>"""


def test_html_card_opens_in_headless_chromium(cards, tmp_path):
    chromium()
    card, files = cards["cnn-digits"]
    page = tmp_path / "card.html"
    page.write_text(files["html"].read_text().replace("<head>", "<head>" + CHECK_SCRIPT, 1))
    dom = dump_dom(page.as_uri(), tmp_path / "profile", budget_ms=5000)
    assert "<title>cnn-digits - model card</title>" in dom
    assert "<h1>cnn-digits</h1>" in dom
    accuracy = f"{card['metrics']['values']['accuracy']:.4g}"
    assert re.search(rf"<td>accuracy</td><td>{re.escape(accuracy)}</td>", dom)
    images = json.loads(re.search(r'data-images="([^"]*)"', dom).group(1).replace("&quot;", '"'))
    drawn = [f for f in linked_files(card) if f.endswith(".png")]  # the card's figures and its assessments'
    assert len(drawn) > len(card["figures"]) and len(images) == len(drawn) and all(images)
    assert re.search(r'data-errors="([^"]*)"', dom).group(1).replace("&quot;", '"') == "[]"
    assert files["html"].read_text().count('<img src="data:image/png;base64,') == len(drawn)


def test_published_cards_match_the_plugins_today():
    """cards/ holds what `zoo publish` wrote; its static text must still be what the plugins say."""
    published = sorted(published_cards().glob("*.json"))
    assert {p.stem for p in published} == {s.name for s in list_models()}
    for path in published:
        card = json.loads(path.read_text())
        assert validate_card(card) == [], path
        static, _ = static_card(get_model(path.stem))
        assert card["model_details"]["description"] == static["description"]
        assert card["intended_use"] == {"primary": static["intended_use"], "out_of_scope": static["out_of_scope_use"]}
        assert card["training_data"]["notes"] == static["data_notes"]
        assert card["ethical_considerations"] == static["safety"]
        assert card["explainability"]["method"] == static["explainability"]
        assert card["caveats_and_recommendations"] == static["limitations"]
        markdown = path.with_suffix(".md").read_text()
        assert front_matter(markdown)["model-index"][0]["name"] == path.stem
        assert front_matter(markdown)["pipeline_tag"] in HUB_TASK_IDS
        for file in linked_files(card):
            assert (path.parent / file).is_file() and f"]({file})" in markdown


def test_published_cards_name_no_machine_path():
    """Nothing under cards/ (Markdown, JSON, figures, reports) names a path of the machine that wrote it."""
    assert absolute_paths(published_cards()) == []


def test_published_cards_link_only_files_in_the_repository():
    """Every relative link of cards/*.md opens a file of the repository that git does not ignore."""
    folder = published_cards()
    for card in sorted(folder.glob("*.md")):
        assert broken_links(card) == [], card.name
        for target in LINK.findall(card.read_text()):
            if not URL.match(target):
                resolved = (card.parent / target).resolve()
                assert ROOT in resolved.parents, f"{card.name}: {target} is outside the repository"
                if shutil.which("git") and (ROOT / ".git").exists():
                    ignored = subprocess.run(["git", "check-ignore", "-q", str(resolved)], cwd=ROOT)
                    assert ignored.returncode == 1, f"{card.name}: {target} is ignored by git"


@pytest.mark.parametrize("name", list(TINY))
def test_card_opens_with_its_main_figure_then_its_headline(name, cards):
    """Before any table: the figure that shows what the model does, at the size it was drawn for, then the
    headline metric with the way it reads (Markdown and HTML alike)."""
    from zoo.cards.figures import MAIN
    from zoo.plots import DPI, display_size

    card, files = cards[name]
    main = [f for f in card["figures"] if f.get("main")]
    assert [f["name"] for f in main] == [MAIN[get_model(name).task]]
    markdown = files["md"].read_text()
    opening = markdown.split(card["model_details"]["summary"], 1)[1].split("## ", 1)[0]
    width, height = display_size(files["md"].parent / main[0]["file"])
    with open(files["md"].parent / main[0]["file"], "rb") as png:
        from PIL import Image

        assert round(Image.open(png).info["dpi"][0]) == DPI
    key = card["metrics"]["key"]
    way = {"accuracy": "higher is better", "mse": "lower is better", "frechet_distance": "lower is better"}[key]
    figure, caption, headline = [part for part in opening.split("\n\n") if part.strip()][:3]
    assert caption == f"*{main[0]['caption']}*"
    assert figure == f'![{Path(main[0]["file"]).stem}]({main[0]["file"]})'
    assert headline.startswith("**") and way in headline and f"on the test split" in headline
    page = files["html"].read_text()
    glance = page.split('<section id="at-a-glance">', 1)[1].split("</section>", 1)[0].strip()
    assert glance.startswith(f'<figure><img src="data:image/png;base64,') and f'width="{width}" height="{height}"' in glance
    assert '<p class="headline">' in glance and way in glance
    import html

    assert page.count(f'width="{width}" height="{height}" alt="{html.escape(main[0]["caption"])}"') == 1  # once


def test_a_classifier_card_opens_with_test_samples_and_what_it_answers(cards):
    """The classifier's first figure: a test sample of each class with the prediction under it, and the
    samples it gets wrong, counted as its accuracy says."""
    card, _ = cards["cnn-digits"]
    examples = next(f for f in card["figures"] if f["name"] == "examples")
    wrong = round((1 - card["metrics"]["values"]["accuracy"]) * card["evaluation_data"]["size"])
    assert examples.get("main") and examples["caption"].startswith("What the model answers: the first test sample "
                                                                   "of each class")
    assert (f"the {wrong} test sample" in examples["caption"]) if wrong else "right" in examples["caption"]


def test_a_card_names_the_damaged_files_its_data_left_out(tmp_path):
    """skip_damaged leaves files out of a user's image folder: the run records which, and the card says so."""
    import copy

    from zoo.cards.render import render

    card = json.loads((ROOT / "cards" / "cnn-digits.json").read_text())
    assert "Left out as damaged" not in render(card, "md", tmp_path)
    damaged = copy.deepcopy(card)
    damaged["training_data"]["skipped"] = ["cat/cut.jpg", "dog/notes.png"]
    assert "Left out as damaged while reading the data (`skip_damaged`): 2 files, `cat/cut.jpg`, `dog/notes.png`." \
        in render(damaged, "md", tmp_path)
