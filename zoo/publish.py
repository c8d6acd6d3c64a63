"""Writing cards to disk, and `zoo publish`: train, evaluate, export, card, for every model in turn.

A card is made once and rendered to each format asked for; the files it links (its figures and
its copy of the verification report, ``zoo.cards.linked_files``) sit beside it under
``figures/<model>/``, which is where its relative links point, so copying a card means copying
those files with it. In a bundle the card lives in the bundle's ``card/`` folder.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from zoo.errors import WorkFailed, ZooError
from zoo.fsutil import atomic_write_bytes, atomic_write_json
from zoo.cards.render import FORMATS

DEFAULT_CARDS = Path("cards")
DEFAULT_RUNS = Path("runs")
DEFAULT_EXPORTS = Path("exports")


def default_card_path(source: str | Path, fmt: str) -> Path:
    """card/card.<fmt> inside the run directory or the bundle."""
    from zoo.cards.facts import CARD_DIR

    return Path(source) / CARD_DIR / f"card.{fmt}"


def write_card(source: str | Path, formats: Sequence[str], out: str | Path | None = None) -> tuple[dict, list[Path]]:
    """Make the card of a run or bundle and write it in each format; returns it and the files written.

    ``out`` names the file of the first format; the others take its name with their own suffix.
    """
    from zoo.cards import make_card
    from zoo.cards.render import render

    first = Path(out) if out is not None else default_card_path(source, formats[0])
    card = make_card(source, first.parent)
    written = []
    for fmt in formats:
        path = first if fmt == formats[0] else first.with_suffix(f".{fmt}")
        atomic_write_bytes(path, render(card, fmt, first.parent).encode("utf-8"))
        written.append(path)
    return card, written


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
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def publish_one(name: str, cards: Path, runs: Path, exports: Path, overrides: Mapping[str, Any],
                epochs: int | None, progress: Callable[[str, str], Any]) -> Published:
    """Train with defaults (plus overrides), export, card into the bundle and into ``cards/<name>.md``."""
    from zoo.api import train
    from zoo.bundle.export import export_run
    from zoo.cards.facts import VERIFICATION
    from zoo.bundle.verify import verify
    from zoo.training import BarProgress

    started = time.monotonic()
    result = Published(name, 0.0)
    progress(name, "train")
    run = train(name, epochs=epochs, overrides=overrides, out=runs / name, force=True,
                progress=BarProgress(f"{name} train"))
    result.run = str(run.path)
    progress(name, "export")
    bundle = export_run(run, exports / name, force=True)
    result.bundle = str(bundle)
    progress(name, "verify")
    atomic_write_json(bundle / VERIFICATION, verify(bundle, providers=available_providers()))
    progress(name, "card")
    card, written = write_card(bundle, FORMATS)
    for path in written[:2]:  # the Markdown card and its JSON twin; HTML stays in the bundle
        atomic_write_bytes(cards / f"{name}{path.suffix}", path.read_bytes())
    copy_linked_files(card, written[0].parent, cards)
    result.card = str(cards / f"{name}.md")
    metrics = card["metrics"]
    result.key_metric, result.value = metrics["key"], metrics["values"][metrics["key"]]
    result.parity = card["parity"]["status"]
    result.seconds = round(time.monotonic() - started, 1)
    return result


def publish(names: Sequence[str], cards: Path = DEFAULT_CARDS, runs: Path = DEFAULT_RUNS,
            exports: Path = DEFAULT_EXPORTS, overrides: Mapping[str, Any] | None = None, epochs: int | None = None,
            progress: Callable[[str, str], Any] = lambda name, step: None) -> list[Published]:
    """Publish each named model (default: every registered one); one failure does not stop the rest."""
    from zoo.registry import get_model, list_models

    specs = [get_model(n) for n in names] if names else list_models()
    results = []
    for spec in specs:
        started = time.monotonic()
        try:
            results.append(publish_one(spec.name, Path(cards), Path(runs), Path(exports), overrides or {},
                                       epochs, progress))
        except ZooError as exc:
            results.append(Published(spec.name, round(time.monotonic() - started, 1), error=str(exc)))
    return results
