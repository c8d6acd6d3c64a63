"""The catalog of the published zoo: one row per card in ``cards/*.json``, as a page and a Markdown table.

It reads the published cards only (never runs or bundles), so the page and the README's table state
exactly what the cards state: no number is typed or measured again here. The page shows each model's main
figure small (``zoo.cards.render.main_figure``, inlined, so that it opens offline) beside its numbers.

``python -m zoo.catalog`` writes ``cards/index.html``; ``--readme README.md`` rewrites the README's
block between the catalog markers (``--check``: exit 1 when that block differs from the cards).
"""
from __future__ import annotations

import argparse
import base64
import html
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from zoo.cards.metric_names import better_text
from zoo.cards.schema import SCHEMA_ID, CardError, headline, schema_problems
from zoo.cards.render import STYLE, fmt_value, main_figure, md_cell
from zoo.errors import CheckFailed, ZooError, one_line
from zoo.fsutil import atomic_write_bytes, read_json

INDEX = "index.html"
START, END = "<!-- catalog:start -->", "<!-- catalog:end -->"
# (fragment key, header, sort type): the keys are what ``index.html#sort=KEY&dir=asc|desc`` takes.
COLUMNS = (("model", "model", "text"), ("family", "family", "text"), ("task", "task", "text"),
           ("data", "data (split, samples)", "text"), ("metric", "metric", "number"),
           ("parameters", "parameters", "number"), ("bundle", "bundle size", "number"),
           ("parity", "parity", "text"))
RIGHT = ("parameters", "bundle")  # right-aligned: plain numbers (the metric cell is words and numbers)
# What a card must hold for its row (the parts of zoo.cards.schema.CARD_SCHEMA the catalog reads).
ROW_SCHEMA = {"model_details": {"name": str, "family": str, "task": str, "parameters": int},
              "metrics": {"key": str, "values": dict}, "evaluation_data": {"name": str, "split": str, "size": int},
              "parity": {"status": str}, "bundle": {"status": str}}


def catalog_rows(cards_dir: str | Path) -> list[dict[str, Any]]:
    """One row per published card, by file name; JSON files that are not cards are not models."""
    rows = []
    for path in sorted(Path(cards_dir).glob("*.json")):
        try:
            card = read_json(path)
        except (OSError, ValueError) as exc:
            raise CardError(f"{path}: not a readable card ({one_line(exc)})") from None
        if not isinstance(card, dict) or card.get("schema") != SCHEMA_ID:
            continue
        problems = schema_problems(card, ROW_SCHEMA)
        if problems:
            raise CardError(f"{path}: a damaged card: {'; '.join(problems)} (zoo publish writes it again)")
        details, metrics, data = card["model_details"], card["metrics"], card["evaluation_data"]
        if metrics["key"] not in metrics["values"]:
            raise CardError(f"{path}: a damaged card: its headline metric {metrics['key']!r} has no value")
        metric = headline(card)
        files = card["bundle"].get("files")
        figure = main_figure(card) if isinstance(card.get("figures"), list) else None
        picture = Path(cards_dir) / figure["file"] if figure else None
        rows.append({
            "name": details["name"], "family": details["family"], "task": details["task"],
            "data": data["name"], "split": data["split"], "samples": data["size"],
            "metric": metric["key"], "value": metric["value"], "interval": metric["interval"],
            "level": metric["level"],
            "parameters": details["parameters"],
            # the bundle's files as its card lists them: graphs, weights, test data (the card itself, which
            # cannot list its own checksum, aside); None: not exported
            "bundle_bytes": sum(f["bytes"] for f in files) if files else None,
            "parity": card["parity"]["status"],
            "card": path.stem,  # <card>.json / .md / .html sit side by side in cards_dir
            # the card's main figure, where it is beside the card (its thumbnail on the page)
            "figure": picture if picture is not None and picture.is_file() else None,
        })
    return rows


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def _metric(row: dict[str, Any]) -> str:
    """``accuracy = 0.9944 [0.9861, 1]``: the card's headline metric and its interval, where measured."""
    ci = row["interval"]
    return f"{row['metric']} = {fmt_value(row['value'])}" + (f" [{fmt_value(ci[0])}, {fmt_value(ci[1])}]" if ci else "")


def _metric_header(rows: list[dict[str, Any]]) -> str:
    levels = sorted({r["level"] for r in rows if r["level"]})
    return "metric [" + ", ".join(f"{x:.0%}" for x in levels) + " interval]" if levels else "metric"


def _cells(row: dict[str, Any]) -> list[tuple[str, Any]]:
    """(text, sort key) per column: numeric columns sort by the number, not by its text."""
    return [(row["name"], row["name"]), (row["family"], row["family"]), (row["task"], row["task"]),
            (f"{row['data']} ({row['split']}, {row['samples']:,})", row["data"]),
            (_metric(row), row["value"]), (f"{row['parameters']:,}", row["parameters"]),
            (_size(row["bundle_bytes"]), "" if row["bundle_bytes"] is None else row["bundle_bytes"]),
            (row["parity"], row["parity"])]


def to_markdown(rows: list[dict[str, Any]], link_prefix: str = "cards/") -> str:
    """A GitHub table; each model links its Markdown card at ``link_prefix<card>.md``."""
    headers = [h for _, h, _ in COLUMNS]
    headers[4] = _metric_header(rows)
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "".join(" ---: |" if key in RIGHT else " --- |" for key, _, _ in COLUMNS)]
    for row in rows:
        texts = [md_cell(text) for text, _ in _cells(row)]
        texts[0] = f"[{texts[0]}]({link_prefix}{quote(row['card'])}.md)"
        lines.append("| " + " | ".join(texts) + " |")
    return "\n".join(lines) + "\n"


CATALOG_STYLE = (STYLE.replace("max-width:60rem", "max-width:80rem")
                 + "th button{font:inherit;font-weight:bold;background:none;border:0;padding:0;cursor:pointer}"
                 "th[aria-sort=ascending] button::after{content:' \\25B2'}"
                 "th[aria-sort=descending] button::after{content:' \\25BC'}td.number{text-align:right}"
                 "td a img{display:block;margin-bottom:.2rem}td small{color:#555}")

# Sorts the rows by a column's data-sort values (numbers as numbers, a blank last), ties by model name;
# a header click sorts (again: reverses) and puts the order in the fragment, which is read on load.
SCRIPT = """
(function () {
  var table = document.getElementById('catalog'), body = table.tBodies[0];
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  function value(row, i, numeric) {
    var text = row.cells[i].getAttribute('data-sort');
    return numeric ? (text === '' ? NaN : Number(text)) : text;
  }
  function sort(key, dir) {
    var i = heads.findIndex(function (h) { return h.getAttribute('data-key') === key; });
    if (i < 0) return;
    var numeric = heads[i].getAttribute('data-type') === 'number', sign = dir === 'desc' ? -1 : 1;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, i, numeric), y = value(b, i, numeric), order;
      if (numeric && (isNaN(x) || isNaN(y))) order = isNaN(x) - isNaN(y);
      else order = sign * (numeric ? x - y : x.localeCompare(y));
      return order || value(a, 0, false).localeCompare(value(b, 0, false));
    });
    rows.forEach(function (row) { body.appendChild(row); });
    heads.forEach(function (h) { h.removeAttribute('aria-sort'); });
    heads[i].setAttribute('aria-sort', dir === 'desc' ? 'descending' : 'ascending');
  }
  heads.forEach(function (h) {
    h.querySelector('button').addEventListener('click', function () {
      var key = h.getAttribute('data-key'), dir = h.getAttribute('aria-sort') === 'ascending' ? 'desc' : 'asc';
      sort(key, dir);
      try { history.replaceState(null, '', '#sort=' + key + '&dir=' + dir); } catch (e) {}
    });
  });
  function fromFragment() {
    var p = new URLSearchParams(location.hash.slice(1));
    if (p.get('sort')) sort(p.get('sort'), p.get('dir') === 'desc' ? 'desc' : 'asc');
  }
  window.addEventListener('hashchange', fromFragment);
  fromFragment();
})();
"""


def _thumbnail(row: dict[str, Any]) -> str:
    """The row's main figure, small and inlined (a data URI: the page needs no other file); '' without one."""
    if row.get("figure") is None:
        return ""
    from zoo.plots import thumbnail

    data, width, height = thumbnail(row["figure"])
    return (f'<img src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}" width="{width}" '
            f'height="{height}" alt="">')


def to_html(rows: list[dict[str, Any]]) -> str:
    """One self-contained page (inline CSS and JS, no other file): it opens offline from file://.

    Rows come in card-file order, which is model-name order, so the model column starts ascending.
    """
    esc = html.escape
    ascending = ' aria-sort="ascending"'
    heads = "".join(
        f'<th scope="col" data-key="{key}" data-type="{kind}"{ascending if key == "model" else ""}>'
        f'<button type="button">{esc(_metric_header(rows) if key == "metric" else header)}</button></th>'
        for key, header, kind in COLUMNS)
    body = []
    for row in rows:
        cells = []
        for (text, sort), (key, _, _) in zip(_cells(row), COLUMNS):
            shown = (f'<a href="{esc(quote(row["card"]))}.html">{_thumbnail(row)}{esc(text)}</a>' if key == "model"
                     else f"{esc(text)}<br><small>{esc(better_text(row['metric']))}</small>"
                     if key == "metric" and better_text(row["metric"]) else esc(text))
            title = f' title="{row["bundle_bytes"]:,} bytes"' if key == "bundle" and sort != "" else ""
            number = ' class="number"' if key in RIGHT else ""
            cells.append(f'<td data-sort="{esc(str(sort))}"{number}{title}>{shown}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join([
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>zoo - the published models</title><style>{CATALOG_STYLE}</style></head><body>",
        "<h1>The published zoo</h1>",
        f"<p>{len(rows)} models, each as its card states it (the figure its card opens with; the headline "
        "metric on the evaluation split, with its bootstrap interval where the family measures one). Click a "
        "column header to sort; click it again to reverse. <code>index.html#sort=parameters&amp;dir=desc</code> "
        "opens the page sorted.</p>",
        f'<table id="catalog"><thead><tr>{heads}</tr></thead><tbody>',
        *body,
        "</tbody></table>",
        f"<script>{SCRIPT}</script>",
        "</body></html>\n"])


def write_catalog(cards_dir: str | Path) -> Path:
    """Write ``cards_dir/index.html`` atomically: a reader never sees half a page."""
    path = Path(cards_dir) / INDEX
    atomic_write_bytes(path, to_html(catalog_rows(cards_dir)).encode("utf-8"))
    return path


def with_block(text: str, table: str, where: str = "README") -> str:
    """``text`` with the block between the catalog markers replaced by ``table``; nothing else changes."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start or text.count(START) != 1 or text.count(END) != 1:
        raise ZooError(f"{where} needs one {START} line followed by one {END} line around the catalog table")
    return text[:start + len(START)] + "\n\n" + table + "\n" + text[end:]


def update_readme(readme: str | Path, cards_dir: str | Path, check: bool = False) -> bool:
    """Rewrite the README's catalog block from the cards (atomically); whether it changed.

    With ``check`` nothing is written, and a block that differs is a CheckFailed (exit 1).
    """
    readme = Path(readme)
    prefix = Path(os.path.relpath(Path(cards_dir).resolve(), readme.resolve().parent)).as_posix() + "/"
    try:
        text = readme.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise ZooError(f"{readme}: cannot be read ({one_line(exc)})") from None
    new = with_block(text, to_markdown(catalog_rows(cards_dir), prefix), str(readme))
    if new == text:
        return False
    if check:
        raise CheckFailed(f"{readme}'s catalog differs from {cards_dir}/*.json: run python -m zoo.catalog "
                          f"--readme {readme}")
    atomic_write_bytes(readme, new.encode("utf-8"))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo.catalog", description=__doc__.splitlines()[0])
    parser.add_argument("--cards", default=None, help="the published cards (default: cards/ beside the README, "
                                                      "or ./cards)")
    parser.add_argument("--readme", help="rewrite this README's block between the catalog markers")
    parser.add_argument("--check", action="store_true", help="with --readme: exit 1 if the block differs, "
                                                             "write nothing")
    args = parser.parse_args(argv)
    if args.check and not args.readme:
        parser.error("--check needs --readme")
    cards = Path(args.cards) if args.cards else (Path(args.readme).parent if args.readme else Path()) / "cards"
    try:
        if not any(cards.glob("*.json")):
            raise ZooError(f"{cards} holds no published card (*.json): run zoo publish")
        if args.readme:
            changed = update_readme(args.readme, cards, check=args.check)
            print(f"{args.readme}: catalog {'updated' if changed else 'up to date'}")
        else:
            print(write_catalog(cards))
    except ZooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
