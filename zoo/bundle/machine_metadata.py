"""What an ONNX graph says about the machine that exported it: stripped before a bundle is written, scanned after.

The dynamo exporter (torch 2.13, ``torch/onnx/_internal/exporter/_core.py:_set_node_metadata``) writes five
``metadata_props`` on every node, unconditionally: ``namespace``, ``pkg.torch.onnx.class_hierarchy``,
``pkg.torch.onnx.name_scopes``, ``pkg.torch.onnx.fx_node`` and ``pkg.torch.onnx.stack_trace`` (Python stack
traces with the absolute source paths of torch and of the plugin); ``pkg.torch.export.*`` and
``pkg.onnxscript.*`` props on the graph and its values; nothing in ``doc_string`` but another exporter may.
None of it is read by ONNX Runtime or by ``onnx.checker``: removing it changes no output.

May import: onnx, the standard library. No torch: the deployer's path may scan a bundle.
"""
from __future__ import annotations

import re
import site
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

# A source or binary file named by an absolute path (POSIX or Windows), as stack traces quote them. A
# TorchScript node name such as "/encoder/layers.0/self_attn/Reshape_4" has no such suffix and is not one.
TEXT_BYTES = ("s", "strings", "string_data")  # AttributeProto.s/.strings, TensorProto.string_data: text as bytes
SOURCE_PATH = re.compile(r"(?:[A-Za-z]:\\|(?<![\w.])/)[^\s\"'<>|:]*\.(?:py|pyc|pyx|so|dll|dylib|c|cc|cpp|h|hpp)\b")


def _messages(message) -> Iterator[Any]:
    """``message`` and every protobuf message inside it, depth first (subgraphs and functions included)."""
    yield message
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        items = value if field.is_repeated else [value]
        for item in items:
            yield from _messages(item)


def strip_machine_metadata(model) -> dict[str, int]:
    """Remove every ``metadata_props`` entry and ``doc_string`` below the model, in place; returns the counts.

    Kept: the model's own ``metadata_props`` (a bundle's writer may set them on purpose; exporters do not),
    ``producer_name``/``producer_version`` (the torch version, which the manifest records anyway), names,
    shapes and ``value_info``. Walks nodes, values, initializers, graphs of control-flow attributes and
    local functions alike.
    """
    removed = {"metadata_props": 0, "doc_string": 0}
    for message in _messages(model):
        fields = message.DESCRIPTOR.fields_by_name
        if "metadata_props" in fields and message is not model:
            removed["metadata_props"] += len(message.metadata_props)
            del message.metadata_props[:]
        if "doc_string" in fields and message.doc_string:
            removed["doc_string"] += 1
            message.doc_string = ""
    return removed


def machine_roots(extra: Iterable[str | Path] = ()) -> list[str]:
    """This machine's folders that an exported graph must never name: the interpreter's prefixes and
    site-packages, the home, the current and the temporary folders, and ``extra`` (a plugin's source)."""
    found = [sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages(), site.getusersitepackages(),
             sysconfig.get_paths()["stdlib"], str(Path.home()), str(Path.cwd()), tempfile.gettempdir(), *map(str, extra)]
    roots = {str(Path(p).resolve()) for p in found if p}
    return sorted(r for r in roots if len(Path(r).parts) > 1)  # never "/" itself


def _strings(model) -> Iterator[tuple[str, str]]:
    """(where, text) for every text field of the model: names, doc strings, metadata, string attributes."""
    for message in _messages(model):
        kind = message.DESCRIPTOR.name
        for field, value in message.ListFields():
            if field.type == field.TYPE_STRING:
                for text in (value if field.is_repeated else [value]):
                    yield f"{kind}.{field.name}", text
            elif field.type == field.TYPE_BYTES and field.name in TEXT_BYTES:  # string attributes and tensors
                for raw in (value if field.is_repeated else [value]):
                    yield f"{kind}.{field.name}", raw.decode("utf-8", "replace")


def machine_paths(model, extra_roots: Iterable[str | Path] = ()) -> list[str]:
    """Every absolute path of a source file, and every string naming one of ``machine_roots``, that the model
    holds (as ``where: path``); empty for a portable graph. Tensor data is not read: only text fields."""
    roots = [re.compile(re.escape(root) + r"(?![\w.-])[^\s\"'<>|]*") for root in machine_roots(extra_roots)]
    found: dict[str, None] = {}
    for where, text in _strings(model):
        hits = SOURCE_PATH.findall(text) + [m.group(0) for root in roots for m in root.finditer(text)]
        for hit in hits:
            found.setdefault(f"{where}: {hit}", None)
    return list(found)
