"""Writing a card to disk: made once, rendered to each format asked for, beside a run or inside a bundle.

The files a card links (its figures and its copy of the verification report, ``zoo.cards.make.linked_files``)
sit beside it under ``figures/<model>/``, which is where its relative links point, so copying a card
means copying those files with it. In a bundle the card lives in the bundle's ``card/`` folder.

A signed bundle's signature covers its card, so the card is written first, naming the key about
to sign (its fingerprint), and the bundle signed last (``sign_bundle``). Signing re-renders the card from
its own JSON: no run, no torch.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from zoo.bundle import MANIFEST, Bundle, open_bundle
from zoo.bundle.signing import key_facts, sign
from zoo.cards.facts import signature_facts
from zoo.cards.render import FORMATS, render
from zoo.fsutil import atomic_write_bytes
from zoo.runs import CARD_DIR

CYCLONEDX = "cyclonedx"  # the card as a CycloneDX 1.6 ML-BOM (zoo.cards.bom), strictly validated when written
SUFFIXES = {**{fmt: f".{fmt}" for fmt in FORMATS}, CYCLONEDX: ".cdx.json"}  # CycloneDX's own file name pattern
WRITTEN = tuple(SUFFIXES)  # every format zoo card writes


def default_card_path(source: str | Path, fmt: str) -> Path:
    """card/card.<suffix> inside the run directory or the bundle."""
    return Path(source) / CARD_DIR / f"card{SUFFIXES[fmt]}"


def write_card(source: str | Path, formats: Sequence[str], out: str | Path | None = None,
               signer: Mapping[str, Any] | None = None) -> tuple[dict, list[Path]]:
    """Make the card of a run or bundle and write it in each format; returns it and the files written.

    ``out`` names the file of the first format; the others take its name with their own suffix.
    ``signer`` (``zoo.bundle.signing.key_facts``) is the key that will sign the bundle after this card.
    """
    first = Path(out) if out is not None else default_card_path(source, formats[0])
    bundle = open_bundle(source) if (Path(source) / MANIFEST).is_file() else None  # checked once, used twice
    shipped = _shipped_card(bundle)
    if shipped is not None:  # a bundle as a deployer holds it: its run is elsewhere, its card came with it
        card = shipped
        pages = [fmt for fmt in formats if fmt != CYCLONEDX]  # formats that link the figures beside them
        if pages and first.parent.resolve() != default_card_path(source, "json").parent.resolve():
            copy_linked_files(card, default_card_path(source, "json").parent, first.parent)
    else:
        from zoo.cards.make import make_card  # the run's model and data (torch): only when a card is made

        card = make_card(source, first.parent)
    manifest = None
    if card["bundle"]["status"] == "exported":
        opened = bundle if bundle is not None else open_bundle(source)
        card["bundle"]["signature"] = signature_facts(opened, signer)
        manifest = opened.manifest
    return card, render_all(card, formats, first, manifest)


def _shipped_card(bundle: Bundle | None) -> dict[str, Any] | None:
    """The card a bundle ships (``card/card.json``) when the bundle's run is not at hand, else None (made from
    the run): so a bundle alone, fresh from a clone or a hub, still renders its card and its BOM."""
    from zoo.errors import ZooError

    shipped = default_card_path(bundle.path, "json") if bundle is not None else None
    if shipped is None or not shipped.is_file():
        return None
    try:
        bundle.run_path()
        return None
    except ZooError:
        return card_json(shipped)


def card_json(path: Path) -> dict[str, Any]:
    """A card as its JSON file holds it, without the front matter that rendering derives again."""
    card = json.loads(path.read_text(encoding="utf-8"))
    card.pop("front_matter", None)
    return card


def render_all(card: Mapping[str, Any], formats: Sequence[str], first: Path,
               manifest: Mapping[str, Any] | None = None) -> list[Path]:
    """``card`` written in each of ``formats``: ``first`` and files of the same name with the others' suffixes;
    the CycloneDX BOM also lists the bundle's files from ``manifest``."""
    stem = first.name[: -len(SUFFIXES[formats[0]])] if first.name.endswith(SUFFIXES[formats[0]]) else first.stem
    written = []
    for fmt in formats:
        path = first if fmt == formats[0] else first.with_name(stem + SUFFIXES[fmt])
        if fmt == CYCLONEDX:
            from zoo.cards.bom import bom_text

            text = bom_text(card, manifest)
        else:
            text = render(card, fmt, first.parent)
        atomic_write_bytes(path, text.encode("utf-8"))
        written.append(path)
    return written


def sign_bundle(bundle: str | Path, key: str | Path) -> dict[str, Any]:
    """Sign a bundle, card included: the card in the bundle (when there is one) first gets the signature
    line for ``key``, re-rendered from its own JSON (no run, no torch; made again from the run when only
    another format is there), then every file is signed."""
    signer = key_facts(key, private=True)
    opened = open_bundle(bundle)
    cards = [f for f in WRITTEN if default_card_path(bundle, f).is_file()]
    if "json" in cards:
        card = card_json(default_card_path(bundle, "json"))
        card["bundle"]["signature"] = signature_facts(opened, signer)
        render_all(card, cards, default_card_path(bundle, cards[0]), opened.manifest)
    elif cards:  # a card without its JSON twin is made again (from the run) to carry the signature line
        write_card(bundle, cards, signer=signer)
    return sign(bundle, key)


def copy_linked_files(card: Mapping[str, Any], source_dir: Path, target_dir: Path) -> None:
    """Copy every file ``card`` links from beside its copy in ``source_dir`` to beside one in ``target_dir``."""
    from zoo.cards.make import linked_files

    for name in linked_files(card):
        atomic_write_bytes(target_dir / name, (source_dir / name).read_bytes())
