"""`zoo publish`: train, evaluate, export, verify, card and sign every model in turn, then index the zoo.

A workflow over the API, the bundle, the cards and the hub's index (it imports any layer below it).
One model's failure never stops the others; each one's outcome is a ``Published`` row.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from zoo.api import train
from zoo.bundle.encryption import encrypt_bundle, load_public_key
from zoo.bundle.export import export_run
from zoo.bundle.signing import key_facts, sign
from zoo.bundle.variants import PUBLISH_DEFAULT as PUBLISH_VARIANTS
from zoo.bundle.variants import parse
from zoo.bundle.verify import save_report, summary, verify
from zoo.cards.writer import CYCLONEDX, copy_linked_files, render_all, write_card
from zoo.catalog import update_readme, write_catalog
from zoo.errors import WorkFailed, ZooError, one_line
from zoo.fsutil import atomic_write_bytes
from zoo.hub.index import write_index
from zoo.progress import BarProgress
from zoo.registry import get_model, list_models

DEFAULT_CARDS = Path("cards")
DEFAULT_RUNS = Path("runs")
DEFAULT_EXPORTS = Path("exports")
# A published bundle carries its card as Markdown, JSON and a CycloneDX ML-BOM (and the figures they link); the
# HTML page, which inlines every figure again, is written to the cards folder only, to keep bundles small.
BUNDLE_FORMATS = ("md", "json", CYCLONEDX)
CARDS_FOLDER_FORMATS = ("md", "json")  # cards/ holds the people's formats (and the page); the BOM ships in the bundle


def available_providers() -> list[str]:
    """Every execution provider this onnxruntime can run here: cpu, and cuda where it is installed."""
    import onnxruntime

    return ["cpu"] + (["cuda"] if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else [])


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
                sign_key: str | Path | None = None, recipients: Sequence[str | Path] = ()) -> Published:
    """Train with defaults (plus overrides), export with ``variants``, verify and time them, card into the
    bundle (Markdown, JSON) and into ``cards/<name>.md|json|html``, and sign the bundle with ``sign_key``."""
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
    save_report(bundle, report)
    if not report["passed"]:  # the bundle and its card (saying "not verified", and why) are still written
        result.error = summary(report)
    if recipients:  # verified in the clear on this machine; shipped encrypted, its card and signature over that
        progress(name, "encrypt")
        encrypt_bundle(bundle, list(recipients))
    progress(name, "card")
    signer = key_facts(sign_key, private=True) if sign_key is not None else None
    card, written = write_card(bundle, BUNDLE_FORMATS, signer=signer)
    if sign_key is not None:
        progress(name, "sign")
        result.signature = sign(bundle, sign_key)["fingerprint"]
    for path, fmt in zip(written, BUNDLE_FORMATS):
        if fmt in CARDS_FOLDER_FORMATS:
            atomic_write_bytes(cards / f"{name}{path.suffix}", path.read_bytes())
    copy_linked_files(card, written[0].parent, cards)
    render_all(card, ["html"], cards / f"{name}.html")  # the page the catalog (cards/index.html) links
    result.card = str(cards / f"{name}.md")
    metrics = card["metrics"]
    result.key_metric, result.value = metrics["key"], metrics["values"][metrics["key"]]
    result.parity = card["parity"]["status"]
    result.seconds = round(time.monotonic() - started, 1)
    return result


def publish(names: Sequence[str], cards: Path = DEFAULT_CARDS, runs: Path = DEFAULT_RUNS,
            exports: Path = DEFAULT_EXPORTS, overrides: Mapping[str, Any] | None = None, epochs: int | None = None,
            progress: Callable[[str, str], Any] = lambda name, step: None, variants: str | Sequence[str] | None = None,
            sign_key: str | Path | None = None, recipients: Sequence[str | Path] = (),
            readme: str | Path | None = None) -> list[Published]:
    """Publish each named model (default: every registered one); one failure does not stop the rest.

    The zoo's index, the catalog page and (with ``readme``) the README's catalog table are then rewritten
    from every card in the folder, so that the README states what the cards now say.

    ``variants`` defaults to every precision (``zoo.bundle.variants.PUBLISH_DEFAULT``); a bad
    ``sign_key`` or variant name is refused before anything is trained.
    """
    variants = parse(variants, default=PUBLISH_VARIANTS)
    if sign_key is not None:
        key_facts(sign_key, private=True)
    for public in recipients:
        load_public_key(public)
    specs = [get_model(n) for n in names] if names else list_models()
    results = []
    for spec in specs:
        started = time.monotonic()
        try:
            results.append(publish_one(spec.name, Path(cards), Path(runs), Path(exports), overrides or {},
                                       epochs, progress, variants, sign_key, recipients))
        except ZooError as exc:
            results.append(Published(spec.name, round(time.monotonic() - started, 1), error=str(exc)))
        except Exception as exc:  # a plugin's or a library's bug in one model never skips the models after it
            results.append(Published(spec.name, round(time.monotonic() - started, 1), error=one_line(exc)))
    _, notes = write_index(Path(exports), Path(cards))  # exports/index.json: every bundle there that opens cleanly
    for note in notes:  # a bundle left out of the index, a card not used: said, as zoo hub says them
        progress("index", f"warning: {note}")
    write_catalog(Path(cards))  # every card in the folder, not only this call's models
    if readme is not None:
        update_readme(readme, cards)
        progress("readme", f"catalog table rewritten from {cards}")
    return results
