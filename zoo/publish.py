"""`zoo publish`: train, evaluate, export, verify, card and sign every model, then index the zoo.

A workflow over the API, the bundle, the cards and the hub's index (it imports any layer below it).
One model's failure never stops the others; each one's outcome is a ``Published`` row.

Models are published ``jobs`` at a time, each in a process of its own (one per CPU core by default), and
every model trains, is verified and is assessed on one thread (``TRAIN_THREADS``) however many run at once:
the zoo's many small models gain nothing from a second thread, while two of them at once use both cores, and
a fixed thread count keeps the numbers the same for any ``jobs`` and any number of cores (floating-point sums
in another order would move them). The index, the catalog and the README are written once, at the end.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
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
from zoo.training import SilentProgress, torch_threads

DEFAULT_CARDS = Path("cards")
DEFAULT_RUNS = Path("runs")
DEFAULT_EXPORTS = Path("exports")
# A published bundle carries its card as Markdown, JSON and a CycloneDX ML-BOM (and the figures they link); the
# HTML page, which inlines every figure again, is written to the cards folder only, to keep bundles small.
BUNDLE_FORMATS = ("md", "json", CYCLONEDX)
CARDS_FOLDER_FORMATS = ("md", "json")  # cards/ holds the people's formats (and the page); the BOM ships in the bundle
TRAIN_THREADS = 1  # torch threads per model, whatever --jobs is (see the module's docstring)


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


def _silent(name: str, step: str) -> None:
    """No step lines (the API's default)."""


def publish_one(name: str, cards: Path, runs: Path, exports: Path, overrides: Mapping[str, Any],
                epochs: int | None, progress: Callable[[str, str], Any], variants: Sequence[str] | None = None,
                sign_key: str | Path | None = None, recipients: Sequence[str | Path] = (),
                bar: bool = True) -> Published:
    """Train with defaults (plus overrides), export with ``variants``, verify and time them, card into the
    bundle (Markdown, JSON) and into ``cards/<name>.md|json|html``, and sign the bundle with ``sign_key``.
    ``bar``: a progress bar over training (off where several models share the terminal)."""
    started = time.monotonic()
    result = Published(name, 0.0)
    progress(name, "train")
    run = train(name, epochs=epochs, overrides=overrides, out=runs / name, force=True,
                progress=BarProgress(f"{name} train") if bar else SilentProgress())
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


def publish_guarded(name: str, *args: Any, **kwargs: Any) -> Published:
    """``publish_one`` on ``TRAIN_THREADS`` threads, its failure caught as the model's row: a plugin's or a
    library's bug in one model never skips the models after it (run in a worker process, or in this one)."""
    started = time.monotonic()
    try:
        with torch_threads(TRAIN_THREADS):
            return publish_one(name, *args, **kwargs)
    except ZooError as exc:
        return Published(name, round(time.monotonic() - started, 1), error=str(exc))
    except Exception as exc:
        return Published(name, round(time.monotonic() - started, 1), error=one_line(exc))


def publish(names: Sequence[str], cards: Path = DEFAULT_CARDS, runs: Path = DEFAULT_RUNS,
            exports: Path = DEFAULT_EXPORTS, overrides: Mapping[str, Any] | None = None, epochs: int | None = None,
            progress: Callable[[str, str], Any] = _silent, variants: str | Sequence[str] | None = None,
            sign_key: str | Path | None = None, recipients: Sequence[str | Path] = (),
            readme: str | Path | None = None, jobs: int | None = None) -> list[Published]:
    """Publish each named model (default: every registered one); one failure does not stop the rest.

    ``jobs`` models at once (default: the CPU cores), each in a process of its own; one model, or ``jobs`` 1,
    runs in this process with a progress bar. ``progress`` must then be a module-level function (workers get
    it by name). The zoo's index, the catalog page and (with ``readme``) the README's catalog table are then
    rewritten from every card in the folder, so that the README states what the cards now say.

    ``variants`` defaults to every precision (``zoo.bundle.variants.PUBLISH_DEFAULT``); a bad
    ``sign_key`` or variant name is refused before anything is trained.
    """
    variants = parse(variants, default=PUBLISH_VARIANTS)
    if sign_key is not None:
        key_facts(sign_key, private=True)
    for public in recipients:
        load_public_key(public)
    specs = [get_model(n) for n in names] if names else list_models()
    common = (Path(cards), Path(runs), Path(exports), dict(overrides or {}), epochs, progress, variants, sign_key,
              list(recipients))
    jobs = min(jobs or os.cpu_count() or 1, len(specs))
    if jobs <= 1:
        results = [publish_guarded(spec.name, *common) for spec in specs]
    else:
        results = _in_workers([spec.name for spec in specs], common, jobs)
    _, notes = write_index(Path(exports), Path(cards))  # exports/index.json: every bundle there that opens cleanly
    for note in notes:  # a bundle left out of the index, a card not used: said, as zoo hub says them
        progress("index", f"warning: {note}")
    write_catalog(Path(cards))  # every card in the folder, not only this call's models
    if readme is not None:
        update_readme(readme, cards)
        progress("readme", f"catalog table rewritten from {cards}")
    return results


def _in_workers(names: list[str], common: tuple, jobs: int) -> list[Published]:
    """Each model in one of ``jobs`` fresh processes (spawned: no state shared with this one), in order of
    submission; a worker that dies (killed, out of memory) fails its model and those it had not begun."""
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(publish_guarded, name, *common, bar=False) for name in names]
        try:
            results = []
            for name, future in zip(names, futures):
                try:
                    results.append(future.result())
                except BrokenProcessPool:
                    results.append(Published(name, 0.0, error="its worker process died (killed, or out of memory)"))
            return results
        except KeyboardInterrupt:  # Ctrl-C reached the workers too: let them go, start nothing more
            pool.shutdown(wait=True, cancel_futures=True)
            raise
