"""Writing cards to disk, and `zoo publish`: train, evaluate, export, card, for every model in turn.

A card is made once and rendered to each format asked for; the files it links (its figures and
its copy of the verification report, ``zoo.cards.linked_files``) sit beside it under
``figures/<model>/``, which is where its relative links point, so copying a card means copying
those files with it. In a bundle the card lives in the bundle's ``card/`` folder.

A signed bundle's signature covers its card, so the card is written first, naming the key about
to sign (its fingerprint), and the bundle signed last (``sign_bundle``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from zoo.errors import WorkFailed, ZooError
from zoo.fsutil import atomic_write_bytes, atomic_write_json
from zoo.cards.render import FORMATS
from zoo.bundle.variants import PUBLISH_DEFAULT as PUBLISH_VARIANTS

DEFAULT_CARDS = Path("cards")
DEFAULT_RUNS = Path("runs")
DEFAULT_EXPORTS = Path("exports")
# A published bundle carries its card as Markdown and JSON (and the figures they link); the HTML page,
# which inlines every figure again, is written to the cards folder only, to keep shipped bundles small.
BUNDLE_FORMATS = ("md", "json")


def default_card_path(source: str | Path, fmt: str) -> Path:
    """card/card.<fmt> inside the run directory or the bundle."""
    from zoo.cards.facts import CARD_DIR

    return Path(source) / CARD_DIR / f"card.{fmt}"


def write_card(source: str | Path, formats: Sequence[str], out: str | Path | None = None,
               signer: Mapping[str, Any] | None = None) -> tuple[dict, list[Path]]:
    """Make the card of a run or bundle and write it in each format; returns it and the files written.

    ``out`` names the file of the first format; the others take its name with their own suffix.
    ``signer`` (``zoo.bundle.signing.key_facts``) is the key that will sign the bundle after this card.
    """
    from zoo.cards import make_card

    first = Path(out) if out is not None else default_card_path(source, formats[0])
    card = make_card(source, first.parent)
    if card["bundle"]["status"] == "exported":
        from zoo.bundle import open_bundle
        from zoo.cards.facts import signature_facts

        card["bundle"]["signature"] = signature_facts(open_bundle(source), signer)
    return card, _render_all(card, formats, first)


def _render_all(card: Mapping[str, Any], formats: Sequence[str], first: Path) -> list[Path]:
    from zoo.cards.render import render

    written = []
    for fmt in formats:
        path = first if fmt == formats[0] else first.with_suffix(f".{fmt}")
        atomic_write_bytes(path, render(card, fmt, first.parent).encode("utf-8"))
        written.append(path)
    return written


def sign_bundle(bundle: str | Path, key: str | Path) -> dict[str, Any]:
    """Sign a bundle, card included: the card in the bundle (when there is one) first gets the signature
    line for ``key``, re-rendered from its own JSON (no run, no torch; made again from the run when only
    another format is there), then every file is signed."""
    import json

    from zoo.bundle import open_bundle
    from zoo.bundle.signing import key_facts, sign
    from zoo.cards.facts import signature_facts

    signer = key_facts(key, private=True)
    opened = open_bundle(bundle)
    cards = [f for f in FORMATS if default_card_path(bundle, f).is_file()]
    if "json" in cards:
        card = json.loads(default_card_path(bundle, "json").read_text(encoding="utf-8"))
        card.pop("front_matter", None)
        card["bundle"]["signature"] = signature_facts(opened, signer)
        _render_all(card, cards, default_card_path(bundle, cards[0]))
    elif cards:  # a card without its JSON twin is made again (from the run) to carry the signature line
        write_card(bundle, cards, signer=signer)
    return sign(bundle, key)


def available_providers() -> list[str]:
    """Every execution provider this onnxruntime can run here: cpu, and cuda where it is installed."""
    import onnxruntime

    return ["cpu"] + (["cuda"] if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else [])


def copy_linked_files(card: Mapping[str, Any], source_dir: Path, target_dir: Path) -> None:
    """Copy every file ``card`` links from beside its copy in ``source_dir`` to beside one in ``target_dir``."""
    from zoo.cards import linked_files

    for name in linked_files(card):
        atomic_write_bytes(target_dir / name, (source_dir / name).read_bytes())


class PublishError(WorkFailed):
    """Some models could not be published; the others were (exit status 1)."""


@dataclass
class Published:
    """One model's outcome, for the summary table."""

    model: str
    seconds: float
    key_metric: str = "-"
    value: float | None = None
    parity: str = "-"
    card: str | None = None
    bundle: str | None = None
    run: str | None = None
    signature: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def publish_one(name: str, cards: Path, runs: Path, exports: Path, overrides: Mapping[str, Any],
                epochs: int | None, progress: Callable[[str, str], Any], variants: Sequence[str] | None = None,
                sign_key: str | Path | None = None) -> Published:
    """Train with defaults (plus overrides), export with ``variants``, verify and time them, card into the
    bundle (Markdown, JSON) and into ``cards/<name>.md|json|html``, and sign the bundle with ``sign_key``."""
    from zoo.api import train
    from zoo.bundle.export import export_run
    from zoo.cards.facts import VERIFICATION, portable
    from zoo.bundle.verify import verify
    from zoo.training import BarProgress

    started = time.monotonic()
    result = Published(name, 0.0)
    progress(name, "train")
    run = train(name, epochs=epochs, overrides=overrides, out=runs / name, force=True,
                progress=BarProgress(f"{name} train"))
    result.run = str(run.path)
    progress(name, "export")
    bundle = export_run(run, exports / name, force=True, variants=list(variants or PUBLISH_VARIANTS),
                        shipped=True)
    result.bundle = str(bundle)
    progress(name, "verify")
    report = verify(bundle, providers=available_providers(), latency=True)
    atomic_write_json(bundle / VERIFICATION, portable(report))  # shipped: no path of this machine
    progress(name, "card")
    from zoo.bundle.signing import key_facts, sign

    signer = key_facts(sign_key, private=True) if sign_key is not None else None
    card, written = write_card(bundle, BUNDLE_FORMATS, signer=signer)
    if sign_key is not None:
        progress(name, "sign")
        result.signature = sign(bundle, sign_key)["fingerprint"]
    for path in written:
        atomic_write_bytes(cards / f"{name}{path.suffix}", path.read_bytes())
    copy_linked_files(card, written[0].parent, cards)
    _render_all(card, ["html"], cards / f"{name}.html")  # the page the catalog (cards/index.html) links
    result.card = str(cards / f"{name}.md")
    metrics = card["metrics"]
    result.key_metric, result.value = metrics["key"], metrics["values"][metrics["key"]]
    result.parity = card["parity"]["status"]
    result.seconds = round(time.monotonic() - started, 1)
    return result


def publish(names: Sequence[str], cards: Path = DEFAULT_CARDS, runs: Path = DEFAULT_RUNS,
            exports: Path = DEFAULT_EXPORTS, overrides: Mapping[str, Any] | None = None, epochs: int | None = None,
            progress: Callable[[str, str], Any] = lambda name, step: None, variants: str | Sequence[str] | None = None,
            sign_key: str | Path | None = None) -> list[Published]:
    """Publish each named model (default: every registered one); one failure does not stop the rest.

    ``variants`` defaults to every precision (``zoo.bundle.variants.PUBLISH_DEFAULT``); a bad
    ``sign_key`` or variant name is refused before anything is trained.
    """
    from zoo.bundle.variants import parse
    from zoo.registry import get_model, list_models

    variants = parse(variants, default=PUBLISH_VARIANTS)
    if sign_key is not None:
        from zoo.bundle.signing import key_facts

        key_facts(sign_key, private=True)
    specs = [get_model(n) for n in names] if names else list_models()
    results = []
    for spec in specs:
        started = time.monotonic()
        try:
            results.append(publish_one(spec.name, Path(cards), Path(runs), Path(exports), overrides or {},
                                       epochs, progress, variants, sign_key))
        except ZooError as exc:
            results.append(Published(spec.name, round(time.monotonic() - started, 1), error=str(exc)))
    from zoo.hub.index import write_index

    _, notes = write_index(Path(exports), Path(cards))  # exports/index.json: every bundle there that opens cleanly
    for note in notes:  # a bundle left out of the index, a card not used: said, as zoo hub says them
        progress("index", f"warning: {note}")
    from zoo.catalog import write_catalog

    write_catalog(Path(cards))  # every card in the folder, not only this call's models
    return results
