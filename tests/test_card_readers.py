"""The published cards as their readers meet them: the way a number reads, how to run each model (its calls
checked against the bundle's manifest, the ONNX Runtime one run on the committed bundle), every figure legible
at the size a page shows it (headless Chromium), and Markdown rendered in the HTML."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, dump_dom, invoke_zoo, published_cards
from zoo.bundle import open_bundle
from zoo.cards.facts import bundle_facts
from zoo.cards.metric_names import better_text, direction, headline_text
from zoo.cards.render import _inline, main_figure, render
from zoo.bundle import PROTOCOL_DATATYPES
from zoo.cards.usage import primary_graph, usage_blocks

EXPORTS = ROOT / "exports"


def test_markdown_the_cards_use_is_rendered_in_html():
    said = _inline("*How:* the **delta** of `a*b*c` [report](figures/x/verification.json); 2 * 3 and x*y stay")
    assert said == ('<em>How:</em> the <strong>delta</strong> of <code>a*b*c</code> '
                    '<a href="figures/x/verification.json">report</a>; 2 * 3 and x*y stay')
    assert _inline("<b> & *") == "&lt;b&gt; &amp; *"


def test_a_metric_reads_with_its_direction_only_where_zoo_knows_it():
    assert headline_text("frechet_distance", 0.8218) == "Frechet distance 0.8218 (lower is better)"
    assert headline_text("accuracy", 0.9944, [0.9861, 1], 0.95) == \
        "accuracy 0.9944 [0.9861, 1] (95% interval; higher is better)"
    assert headline_text("mean_code_activation", 0.41) == "mean_code_activation 0.41"
    assert direction("frechet_distance_baseline") is None and better_text("frechet_distance_baseline") == \
        "a reference, not this model's"
    assert direction("made_up_score") is None and better_text("made_up_score") == ""


def _committed_bundles() -> list[Path]:
    found = sorted(p.parent for p in EXPORTS.glob("*/manifest.json"))
    if not found:
        pytest.skip("exports/ is empty: run `zoo publish`")
    return found


def _use_it(bundle: Path) -> tuple[dict, dict]:
    """The published card of ``bundle`` with today's facts of it, and its "Use it" code blocks by language."""
    card = json.loads((published_cards() / f"{bundle.name}.json").read_text())
    card["bundle"] = bundle_facts(open_bundle(bundle))
    code: dict[str, list[str]] = {}
    for block in usage_blocks(card):
        if block[0] == "code":
            code.setdefault(block[1], []).append(block[2])
    return card, code


def _request_body(serve: str) -> dict:
    """The JSON body the card's curl sends: inline, or printed by the Python line piped into curl (run here)."""
    lines = serve.splitlines()
    last = shlex.split(lines[-1])
    if last[-1] != "@-":
        return json.loads(last[-1])
    program, flag, code = shlex.split(lines[1].removesuffix("|"))
    assert (program, flag) == ("python", "-c") and lines[2].startswith("curl ")
    made = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30)
    return json.loads(made.stdout)


@pytest.mark.parametrize("bundle", _committed_bundles() if EXPORTS.is_dir() else [], ids=lambda p: p.name)
def test_use_it_follows_the_manifest_and_its_onnxruntime_call_runs(bundle, monkeypatch, tmp_path):
    card, code = _use_it(bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    graph = next(g for g in manifest["graphs"] if g.get("role") == "primary")
    assert primary_graph(card)["name"] == graph["name"]
    predict, serve = code["bash"]
    python, plain = code["python"]

    # plain ONNX Runtime, run as written in the bundle's folder: one output per name, shaped as the manifest says
    monkeypatch.chdir(bundle)
    scope: dict = {}
    exec(compile(plain, f"{bundle.name}: Use it", "exec"), scope)
    assert f'InferenceSession("{graph["file"]}")' in plain
    for output, got in zip(graph["outputs"], scope["outputs"], strict=True):
        assert got.dtype == np.dtype(output["dtype"])
        assert [d for d, s in zip(got.shape, output["shape"]) if isinstance(s, int)] == \
            [s for s in output["shape"] if isinstance(s, int)]
    for spec in graph["inputs"]:  # zeros, and each sequence's full length for a lengths input
        made = "np.full(" if spec.get("distribution") == "lengths" else "np.zeros("  # the manifest's entry
        assert f'"{spec["name"]}": {made}' in plain and f"np.{spec['dtype']})" in plain

    # the server request: every input by name, with its shape (batch 1) and the protocol's datatype
    body = _request_body(serve)
    assert [i["name"] for i in body["inputs"]] == [i["name"] for i in graph["inputs"]]
    for sent, spec in zip(body["inputs"], graph["inputs"]):
        assert sent["datatype"] == PROTOCOL_DATATYPES[spec["dtype"]] and len(sent["shape"]) == len(spec["shape"])
        assert all(s == d for s, d in zip(sent["shape"], spec["shape"]) if isinstance(d, int))
        assert len(sent["data"]) == int(np.prod(sent["shape"]))
    assert serve.startswith(f"zoo serve {manifest['model']}\n") and f"/v2/models/{manifest['model']}/infer" in serve
    assert f'zoo.load_bundle("{manifest["model"]}")' in python
    assert ("model.generate(" if manifest["task"] == "generation" else "answers = model.predict(") in python

    # the command line: an image file for an image classifier, else the arrays it makes first, run here
    last = predict.splitlines()[-1]
    assert last.startswith(f"zoo predict {manifest['model']} ")
    monkeypatch.chdir(tmp_path)
    words = shlex.split(last)
    if "image.png" in words:  # a model that reads image files: a real one, written as a person would
        from PIL import Image

        Image.fromarray(np.full((40, 40), 200, np.uint8)).save(tmp_path / "image.png")
    elif len(predict.splitlines()) > 1:
        exec(shlex.split(predict.splitlines()[0])[-1], {})  # python -c "...": writes the arrays
    ran = invoke_zoo(*words[1:2], str(bundle), *words[3:])
    assert ran.code == 0, ran.err
    answered = {"classification": "CLASS", "reconstruction": "RECONSTRUCTION_MSE", "generation": "samples of"}
    assert answered[manifest["task"]] in ran.out


# ---------------------------------------------------------------------------------------------- in Chromium

FRAME = 1280, 800  # a laptop's first screen
MEASURE = """<script>
window.addEventListener('load', () => {
  const found = {};
  for (const frame of document.querySelectorAll('iframe')) {
    const doc = frame.contentDocument, text = doc.body.cloneNode(true);
    text.querySelectorAll('pre, code, script, style').forEach(e => e.remove());
    const glance = doc.getElementById('at-a-glance'), main = glance && glance.querySelector('img'),
          headline = glance && glance.querySelector('p.headline');
    found[frame.id] = {
      markers: (text.textContent.match(/\\*\\*|`|\\]\\(|(^|[\\s(])\\*[^\\s*]|[^\\s*]\\*(?=[\\s.,;:)]|$)/g) || []),
      images: [...doc.images].map(i => {
        const box = i.getBoundingClientRect();
        return [i.naturalWidth, i.naturalHeight, box.width, box.height, Number(i.getAttribute('width'))];
      }),
      main: main ? main.getBoundingClientRect().bottom : null,
      headline: headline ? [headline.getBoundingClientRect().bottom, headline.textContent] : null,
    };
  }
  document.body.setAttribute('data-found', JSON.stringify(found));
});
</script>"""


@pytest.mark.browser
def test_every_published_card_reads_in_chromium(tmp_path):
    """All the published cards, rendered by today's code (the figures the card alone can draw again drawn
    now), in one Chromium run: no Markdown marker left as text; every image at least as many pixels as the page
    shows and shown at the size it was drawn for; the main figure and the headline with its direction on the
    first screen."""
    from zoo.cards.figures import confusion_matrix, training_curves

    folder = published_cards()
    shutil.copytree(folder / "figures", tmp_path / "figures")
    frames = []
    for path in sorted(folder.glob("*.json")):
        card = json.loads(path.read_text())
        if (EXPORTS / path.stem / "manifest.json").is_file():
            card["bundle"] = {**bundle_facts(open_bundle(EXPORTS / path.stem)),
                              "signature": card["bundle"].get("signature")}
        for figure in card["figures"]:  # drawn again with today's code where the card holds what they show
            if figure["name"] == "confusion_matrix":
                confusion_matrix(card["quantitative_analyses"]["confusion_matrix"], tmp_path / figure["file"],
                                 card["training_data"].get("class_names") or ())
            elif figure["name"] == "training_curves":
                training_curves(card["training"]["history"], tmp_path / figure["file"])
        (tmp_path / f"{path.stem}.html").write_text(render(card, "html", tmp_path))
        frames.append(f'<iframe id="{path.stem}" src="{path.stem}.html" width="{FRAME[0]}" height="{FRAME[1]}" '
                      f'style="border:0;display:block"></iframe>')
    harness = tmp_path / "all.html"
    harness.write_text(f"<!DOCTYPE html><html><head>{MEASURE}</head><body style='margin:0'>"
                       + "".join(frames) + "</body></html>")
    dom = dump_dom(harness.as_uri(), tmp_path / "profile", budget_ms=15000,
                   flags=("--allow-file-access-from-files", f"--window-size={FRAME[0] + 20},{FRAME[1]}"))
    found = json.loads(re.search(r'data-found="([^"]*)"', dom).group(1).replace("&quot;", '"'))
    assert sorted(found) == sorted(p.stem for p in folder.glob("*.json"))
    for name, page in found.items():
        assert page["markers"] == [], name
        for natural_w, natural_h, shown_w, shown_h, declared in page["images"]:
            assert natural_w >= shown_w and natural_h >= shown_h, (name, natural_w, shown_w)
            assert shown_w == declared, (name, shown_w, declared)  # not squeezed: its text at the body's size
        assert page["main"] is not None and page["main"] <= FRAME[1], (name, page["main"])
        bottom, text = page["headline"]
        assert bottom <= FRAME[1] and re.search(r"(higher|lower) is better", text), (name, bottom, text)


# ---------------------------------------------------------------------------------------------- figures

def test_figures_are_drawn_for_their_displayed_size_with_body_sized_text(tmp_path):
    """A PNG records its DPI, which sets the size a page shows it at (2 PNG pixels per CSS pixel); every text
    of a figure saved through zoo.plots is at least the body's size, however small it was asked to be."""
    from PIL import Image

    from zoo.plots import CSS_DPI, DPI, TEXT_PT, display_size, pyplot, save_png

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1], label="a line")
    ax.set_title("tiny", fontsize=5)
    ax.tick_params(labelsize=4)
    ax.legend(fontsize=3)
    save_png(fig, tmp_path / "f.png")
    sizes = [t.get_fontsize() for t in fig.findobj(lambda a: hasattr(a, "get_fontsize") and a.get_text() != "")]
    assert sizes and min(sizes) >= TEXT_PT
    with Image.open(tmp_path / "f.png") as image:
        assert round(image.info["dpi"][0]) == DPI == 2 * CSS_DPI
        assert display_size(tmp_path / "f.png") == (image.size[0] // 2, image.size[1] // 2)
    old = tmp_path / "old.png"  # a figure of an earlier zoo (80 DPI): shown at its own pixels, never enlarged
    Image.new("RGB", (239, 243)).save(old, dpi=(80, 80))
    assert display_size(old) == (239, 243)


def test_figures_are_palette_pngs_that_change_only_edge_shades(tmp_path):
    """save_png writes an indexed PNG: exact for a figure of at most 256 colours; a figure of more (a colour map
    with antialiased text) gets a median-cut palette that moves few pixels, and those little, at about half the
    bytes of the RGB PNG."""
    import io

    from PIL import Image

    from zoo.plots import pyplot, palette, save_png

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(6, 3))
    left.imshow(np.linspace(0, 1, 4096).reshape(64, 64), cmap="viridis")
    right.plot(np.sin(np.linspace(0, 9, 200)), label="sine")
    right.legend()
    fig.canvas.draw()
    rgb = Image.frombuffer("RGBA", fig.canvas.get_width_height(), fig.canvas.buffer_rgba()).convert("RGB")
    assert rgb.getcolors(256) is None, "the figure must have more than 256 colours to test the lossy path"
    moved = np.abs(np.asarray(palette(rgb).convert("RGB"), int) - np.asarray(rgb, int)).max(axis=2)
    assert moved.mean() < 1.0 and (moved > 32).mean() < 0.01, (moved.mean(), (moved > 32).mean())
    plain, indexed = io.BytesIO(), io.BytesIO()
    rgb.save(plain, "PNG", optimize=True)
    palette(rgb).save(indexed, "PNG", optimize=True)
    assert indexed.tell() < 0.75 * plain.tell()
    save_png(fig, tmp_path / "f.png")
    with Image.open(tmp_path / "f.png") as written:
        assert written.mode == "P"
    few = Image.new("RGB", (20, 10), "white")
    few.paste((31, 119, 180), (0, 0, 10, 10))
    assert np.array_equal(np.asarray(palette(few).convert("RGB")), np.asarray(few)), "exact under 256 colours"


def test_the_confusion_matrix_names_its_classes_and_writes_counts_as_large_as_the_body():
    from zoo.cards.figures import confusion_figure
    from zoo.plots import CSS_DPI, TEXT_PT

    matrix = [[36, 0, 1], [0, 35, 0], [2, 0, 34]]
    fig, written = confusion_figure(matrix, ["cat", "dog", "zebra"])
    ax = fig.axes[0]
    assert written and [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "zebra"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog", "zebra"]
    counts = [t for t in ax.texts]
    assert sorted(t.get_text() for t in counts) == ["1", "2", "34", "35", "36"]
    assert all(t.get_fontsize() >= TEXT_PT for t in counts)
    cell_px = ax.get_window_extent().width / len(matrix) * CSS_DPI / fig.dpi  # CSS pixels per cell as shown
    assert cell_px >= 2 * TEXT_PT * CSS_DPI / 72  # room for a two-digit count of body-sized text
    fig, _ = confusion_figure(matrix)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0", "1", "2"]


def test_the_committed_pages_are_what_todays_renderer_makes_of_their_cards():
    """A reader opens cards/NAME.md, cards/NAME.html and the bundle's card/card.md as committed: each must be
    what the renderer of this commit makes of the card's JSON, so a page left from an older zoo fails here."""
    from zoo.cards.render import render

    cards = published_cards()
    stale = []
    for path in sorted(cards.glob("*.json")):
        card = json.loads(path.read_text())
        card.pop("front_matter", None)
        for fmt in ("md", "html"):
            if render(card, fmt, cards) != path.with_suffix(f".{fmt}").read_text():
                stale.append(f"cards/{path.stem}.{fmt}")
        shipped = ROOT / "exports" / path.stem / "card" / "card.md"
        if shipped.read_text() != path.with_suffix(".md").read_text():
            stale.append(f"exports/{path.stem}/card/card.md")
    assert stale == [], stale
