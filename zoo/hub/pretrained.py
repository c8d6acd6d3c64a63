"""``zoo.create_model(name, pretrained=True)``: the published network, its weights checked before loading.

The order of checks, each a one-line ``ZooError`` (never a silent load):

1. the name is a model of an installed plugin, published with weights, in the cache or else the built-in
   zoo (``zoo.hub.find``);
2. its index entry's paths stay inside its bundle; its manifest is the one the index pins (SHA-256);
3. every checksum of the manifest holds (``open_bundle``), and the manifest is the entry's bundle;
4. the weights' bytes, read once, have the SHA-256 of the manifest (step 3 showed it is the index's);
5. ``config.json`` is of this model and of the plugin that provides it here;
6. the plugin's ``zoo_build`` makes the network from that config and the recorded data facts (no data
   is loaded), and the weights load into it with strict key checking.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Mapping

from zoo.errors import ZooError, one_line
from zoo.fsutil import read_json
from zoo.hub import INDEX, HubError, find


class WeightsError(HubError):
    """Published weights that do not match their checksums or do not fit the network."""


def _weights_bytes(folder, entry: Mapping[str, Any], manifest: Mapping[str, Any]) -> bytes:
    """The weights' bytes, read once, with the manifest's SHA-256 (``open_published`` has shown it to be the
    index's too): what is loaded is what was checked, even if the file changed since."""
    name = entry["weights"]["file"]
    data = (folder / name).read_bytes()
    digest, expected = hashlib.sha256(data).hexdigest(), manifest["files"].get(name)
    if digest != expected:
        raise WeightsError(f"{folder / name}: SHA-256 {digest[:12]}… is not the manifest's "
                           f"{str(expected)[:12]}… (changed since it was published); refusing to load it")
    return data


def published_weights(name: str) -> tuple[bytes, dict[str, Any], Any, Path]:
    """The published weights of ``name``, checked (see the module), read once: (bytes, the bundle's config.json
    record, the model's spec, the weights file's path). Torch is not imported here."""
    from zoo.hub.index import open_published
    from zoo.registry import get_model
    from zoo.runs import WEIGHTS_FORMAT

    spec = get_model(name)  # an unknown name is the registry's one line, with its suggestion
    hit = find(name, weights=True)
    opened = open_published(hit.root, hit.entry, f"{hit.root / INDEX}")
    folder, manifest = opened.path, opened.manifest
    data = _weights_bytes(folder, hit.entry, manifest)
    config_file = folder / manifest["pytorch"]["config"]
    try:
        record = read_json(config_file)
        record["data"]["layout"], record["config"]  # noqa: B018 - the fields every reader needs
    except (ValueError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise WeightsError(f"{config_file}: damaged ({one_line(exc)})") from None
    if record.get("format") != WEIGHTS_FORMAT:
        raise WeightsError(f"{config_file}: not a bundle's weights config (format {record.get('format')!r}, "
                           f"expected {WEIGHTS_FORMAT!r})")
    if record.get("model") != name or record.get("plugin") not in (None, spec.plugin):
        raise WeightsError(f"{folder}: its weights are of {record.get('model')!r} from plugin "
                           f"{record.get('plugin')!r}, not {name!r} from {spec.plugin!r}")
    return data, record, spec, folder / hit.entry["weights"]["file"]


def load_pretrained(name: str):
    """The model ``name`` with its published weights, in eval mode (see the module for what is checked)."""
    from safetensors import SafetensorError
    from safetensors.torch import load as load_tensors

    from zoo.data import DataInfo
    from zoo.models import build, completed_config
    from zoo.runs import RunError, load_state

    data, record, spec, weights = published_weights(name)
    facts = record["data"]
    try:
        lengths = facts.get("lengths") or [None, None]
        info = DataInfo(facts["name"], facts["layout"], tuple(facts["sample_shape"]), int(facts["num_classes"]),
                        tuple(facts.get("class_names") or ()), lengths[0], lengths[1])
    except (KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"{weights.parent}: its config.json is damaged ({one_line(exc)})") from None
    model = build(spec, completed_config(spec, dict(record["config"]), f"the published {name}"), info)
    try:
        tensors = load_tensors(data)
    except (SafetensorError, ValueError) as exc:
        raise WeightsError(f"{weights}: not a safetensors file ({one_line(exc)})") from None
    try:
        load_state(model, tensors, weights)
    except RunError as exc:
        raise WeightsError(str(exc)) from None
    return model.eval()


def refuse_overrides(data: Any, overrides: Mapping[str, Any]) -> None:
    """Published weights fit only the published config: ``data`` and overrides would silently not apply."""
    if data is not None or overrides:
        given = ", ".join([*(["data"] if data is not None else []), *overrides])
        raise ZooError(f"pretrained=True builds the published config and data shape; drop {given} "
                       f"(train with them instead: zoo.train)")
