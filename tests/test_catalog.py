"""The catalog of the published zoo: rows, Markdown and HTML from the committed cards, the README's
generated table, and the page sorted and followed in headless Chromium."""
from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlparse
from urllib.request import url2pathname

import pytest

from conftest import ROOT, chromium, dump_dom, published_cards
from zoo.catalog import (COLUMNS, END, START, catalog_rows, main, to_html, to_markdown, update_readme,
                         write_catalog)
from zoo.cards.render import render
from zoo.errors import CheckFailed

CARDS = ROOT / "cards"


@pytest.fixture(scope="module")
def published() -> dict[str, dict]:
    """The committed cards by file stem."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(published_cards().glob("*.json"))}


class Table(HTMLParser):
    """The catalog table of a page (as written, or as Chromium dumped it): headers and rows as attributes."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.title, self.heads, self.rows, self._in = "", [], [], None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "th":
            self.heads.append(attrs)
        elif tag == "tr" and self.heads:
            self.rows.append([])
        elif tag == "td":
            self.rows[-1].append({**attrs, "text": ""})
        elif tag == "a" and self.rows and self.rows[-1]:
            self.rows[-1][-1]["href"] = attrs.get("href")
        self._in = tag if tag in ("title", "td", "a") else self._in

    def handle_endtag(self, tag):
        self._in = None if tag in ("title", "td") else self._in

    def handle_data(self, data):
        if self._in == "title":
            self.title += data
        elif self._in in ("td", "a") and self.rows and self.rows[-1]:
            self.rows[-1][-1]["text"] += data

    def column(self, key: str) -> list[dict]:
        i = [h["data-key"] for h in self.heads].index(key)
        return [row[i] for row in self.rows]


def test_rows_quote_every_published_card(published):
    rows = catalog_rows(CARDS)
    assert [r["card"] for r in rows] == sorted(published)
    for row in rows:
        card = published[row["card"]]
        details, values = card["model_details"], card["metrics"]["values"]
        assert row["name"] == details["name"] == row["card"]
        assert (row["family"], row["task"], row["parameters"]) == (details["family"], details["task"],
                                                                 details["parameters"])
        assert (row["data"], row["split"], row["samples"]) == tuple(card["evaluation_data"][k]
                                                                    for k in ("name", "split", "size"))
        assert row["metric"] == card["metrics"]["key"] and row["value"] == values[row["metric"]]
        assert row["interval"] == values.get("confidence_intervals", {}).get(row["metric"])
        assert row["bundle_bytes"] == sum(f["bytes"] for f in card["bundle"]["files"])
        assert row["parity"] == card["parity"]["status"]
    assert any(r["interval"] for r in rows), "the classifiers' cards hold bootstrap intervals"


def test_markdown_links_the_tracked_cards(published):
    text = to_markdown(catalog_rows(CARDS))
    lines = text.splitlines()
    assert len(lines) == 2 + len(published)
    for name, line in zip(sorted(published), lines[2:]):
        assert line.startswith(f"| [{name}](cards/{name}.md) |") and (CARDS / f"{name}.md").is_file()
        assert f"| {published[name]['model_details']['parameters']:,} |" in line
    assert "accuracy = 0.9944 [0.9861, 1]" in text  # cnn-digits: value and interval at 4 significant digits


def test_html_is_self_contained_and_sortable_by_number(published):
    page = to_html(catalog_rows(CARDS))
    assert "<script>" in page and "<style>" in page
    assert not any(s in page for s in ("<link", "http://", "https://", "@import"))
    assert page.count(" src=") == page.count(' src="data:image/png;base64,') == len(published)  # thumbnails only
    table = Table(page)
    assert [h["data-key"] for h in table.heads] == [key for key, _, _ in COLUMNS]
    assert [h.get("aria-sort") for h in table.heads] == ["ascending"] + [None] * (len(COLUMNS) - 1)
    assert [c["href"] for c in table.column("model")] == [f"{name}.html" for name in sorted(published)]
    for key, field in (("parameters", "parameters"), ("bundle", "bundle_bytes"), ("metric", "value")):
        assert [float(c["data-sort"]) for c in table.column(key)] == [r[field] for r in catalog_rows(CARDS)]


def test_each_model_shows_its_main_figure_small_beside_its_numbers(published):
    """A thumbnail of the figure its card opens with, inlined, no larger than the box, and the metric's
    direction under it; the whole page stays small enough to open at once (measured: under 100 kB)."""
    import base64
    import io
    import re

    from PIL import Image

    from zoo.cards.render import main_figure

    rows = catalog_rows(CARDS)
    page = to_html(rows)
    for row in rows:
        assert row["figure"] == CARDS / main_figure(published[row["card"]])["file"]
    thumbnails = re.findall(r'<a href="([^"]+)\.html"><img src="data:image/png;base64,([^"]+)" width="(\d+)" '
                            r'height="(\d+)" alt="">', page)
    assert [t[0] for t in thumbnails] == [r["card"] for r in rows]
    for _, data, width, height in thumbnails:
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            assert image.size[0] >= int(width) and image.size[1] >= int(height)  # never enlarged on screen
        assert int(width) <= 160 and int(height) <= 96
    assert page.count("higher is better") == sum(r["metric"] == "accuracy" for r in rows) > 0
    assert page.count("lower is better") == sum(r["metric"] in ("mse", "frechet_distance") for r in rows) > 0
    # One self-contained page: it grows with the zoo, by one thumbnail (64 colours, at most 320x192 pixels: a
    # GAN's grid of samples is the largest, 21 kB) and one row per model; 16 models made 188 kB.
    assert len(page.encode()) < 20_000 + 15_000 * len(rows), len(page.encode())


def test_text_is_escaped_and_non_cards_are_skipped(published, tmp_path):
    card = json.loads((CARDS / "cnn-digits.json").read_text())
    card["model_details"]["name"] = card["model_details"]["family"] = '<b>x</b> | "y" & z'
    (tmp_path / "odd.json").write_text(json.dumps(card))
    (tmp_path / "notes.json").write_text(json.dumps({"not": "a card"}))
    rows = catalog_rows(tmp_path)
    assert [r["card"] for r in rows] == ["odd"]
    page = to_html(rows)
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt; | &quot;y&quot; &amp; z" in page
    assert Table(page).rows[0][0]["text"] == '<b>x</b> | "y" & z'
    assert r'<b>x</b> \| "y" & z' in to_markdown(rows)  # a pipe cannot end the Markdown cell


def test_write_catalog_replaces_the_page(published, tmp_path):
    for path in CARDS.glob("*.json"):
        shutil.copy(path, tmp_path)
    shutil.copytree(CARDS / "figures", tmp_path / "figures")
    (tmp_path / "index.html").write_text("old")
    assert write_catalog(tmp_path) == tmp_path / "index.html"
    assert (tmp_path / "index.html").read_text() == to_html(catalog_rows(CARDS))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left


def test_readme_table_is_generated_from_the_cards(published):
    """Fails when cards change without `python -m zoo.catalog --readme README.md`."""
    assert update_readme(ROOT / "README.md", CARDS, check=True) is False
    text = (ROOT / "README.md").read_text()
    assert text[text.index(START) + len(START):text.index(END)].strip() == to_markdown(catalog_rows(CARDS)).strip()


@pytest.mark.parametrize("text, says", [
    ("{", "not a readable card (JSONDecodeError"),
    ('{"schema": "zoo.card/1", "model_details": {"name": "x"}}', "a damaged card: missing model_details.family"),
])
def test_a_damaged_card_is_one_error_line(published, tmp_path, capsys, text, says):
    cards = tmp_path / "cards"
    shutil.copytree(ROOT / "cards", cards, ignore=shutil.ignore_patterns("figures", "*.html", "*.md"))
    (cards / "broken.json").write_text(text)
    assert main(["--cards", str(cards)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {cards / 'broken.json'}: ") and says in err[0], err
    assert main(["--readme", str(tmp_path / "missing.md"), "--cards", str(cards)]) == 2
    assert "missing.md: cannot be read (FileNotFoundError" in capsys.readouterr().err


def test_readme_check_and_rewrite(published, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{START}\nstale\n{END}\n\nafter\n")
    (tmp_path / "cards").mkdir()
    shutil.copy(CARDS / "cnn-digits.json", tmp_path / "cards")
    with pytest.raises(CheckFailed):
        update_readme(readme, tmp_path / "cards", check=True)
    assert main(["--readme", str(readme), "--check"]) == 1 and "stale" in readme.read_text()
    assert main(["--readme", str(readme)]) == 0
    assert readme.read_text() == f"# x\n\n{START}\n\n{to_markdown(catalog_rows(tmp_path / 'cards'))}\n{END}\n\nafter\n"
    assert main(["--readme", str(readme), "--check"]) == 0
    readme.write_text("no markers\n")
    assert main(["--readme", str(readme)]) == 2 and "catalog:start" in capsys.readouterr().err


CLICK_SCRIPT = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e.type)), true);
window.addEventListener('load', () => {
  const button = document.querySelector('th[data-key="bundle"] button');
  button.click(); button.click();
  document.body.setAttribute('data-hash', location.hash);
  document.body.setAttribute('data-errors', JSON.stringify(window.__errors));
});
</script>"""


@pytest.mark.browser
def test_catalog_sorts_and_links_in_headless_chromium(published, tmp_path):
    chromium()
    for path in CARDS.glob("*.json"):
        shutil.copy(path, tmp_path)
    shutil.copytree(CARDS / "figures", tmp_path / "figures")
    for name, card in published.items():  # the real card pages, as `zoo publish` writes them beside the index
        (tmp_path / f"{name}.html").write_text(render(card, "html", tmp_path))
    index = write_catalog(tmp_path)

    url = index.as_uri() + "#sort=parameters&dir=asc"
    table = Table(dump_dom(url, tmp_path / "profile"))
    parameters = [int(c["data-sort"]) for c in table.column("parameters")]
    assert len(parameters) == len(published) and parameters == sorted(parameters)
    assert [h.get("aria-sort") for h in table.heads if h.get("aria-sort")] == ["ascending"]
    assert table.heads[[h["data-key"] for h in table.heads].index("parameters")]["aria-sort"] == "ascending"

    first = table.column("model")[0]
    card_page = urljoin(url, first["href"])
    assert Path(url2pathname(urlparse(card_page).path)) == tmp_path / f"{first['text']}.html"
    assert Table(dump_dom(card_page, tmp_path / "profile")).title == f"{first['text']} - model card"

    clicked = tmp_path / "clicked.html"  # a header clicked twice: descending, and the order in the fragment
    clicked.write_text(index.read_text().replace("<head>", "<head>" + CLICK_SCRIPT, 1))
    dom = dump_dom(clicked.as_uri(), tmp_path / "profile")
    table = Table(dom)
    sizes = [int(c["data-sort"]) for c in table.column("bundle")]
    assert sizes == sorted(sizes, reverse=True)
    assert [h.get("aria-sort") for h in table.heads if h.get("aria-sort")] == ["descending"]
    assert 'data-hash="#sort=bundle&amp;dir=desc"' in dom and 'data-errors="[]"' in dom
