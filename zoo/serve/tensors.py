"""Open Inference Protocol (KServe v2 / Triton REST) inference bodies: JSON tensors and the binary extension.

Requests: a JSON object (``inputs``: ``name``, ``shape``, ``datatype``, ``data`` or, with the binary tensor
extension, ``parameters.binary_data_size`` and the raw little-endian bytes after the JSON, whose length the
``Inference-Header-Content-Length`` header gives). Responses: JSON, or JSON then raw bytes for each output
asked for in binary (``parameters.binary_data: true`` on a requested output, or ``binary_data_output: true``
in the request's parameters). BYTES elements travel in binary as a 4-byte little-endian length then the bytes.

Every malformed body is a ``RequestError`` (one line, an HTTP status). Imports numpy, json and
``zoo.serve.model`` / ``zoo.errors`` only.
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from zoo.errors import ZooError
from zoo.serve.model import DTYPES, datatype

HEADER_LENGTH = "inference-header-content-length"
JSON_TYPE = "application/json"
BINARY_TYPE = "application/octet-stream"


class RequestError(ZooError):
    """A request the server refuses: ``status`` is its HTTP status (400 unless said otherwise)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Tensor:
    """One input of a request, decoded: a numpy array of the declared datatype and shape."""

    name: str
    array: np.ndarray


@dataclass
class RequestedOutput:
    name: str
    binary: bool
    classification: int = 0  # Triton's classification extension: the top-k classes as "score:index:name"


@dataclass
class InferRequest:
    id: str | None
    inputs: list[Tensor]
    outputs: list[RequestedOutput] | None  # None: every output, as JSON unless binary_data_output
    binary_default: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)


def _object(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError(f"{what} must be a JSON object")
    return value


def _shape(value: Any, name: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                              for d in value):
        raise RequestError(f"input {name!r}: shape must be a list of sizes (integers >= 0), got {value!r}")
    return tuple(value)


def _bytes_elements(raw: bytes, count: int, name: str) -> np.ndarray:
    """BYTES elements from the binary extension's length-prefixed encoding."""
    items, offset = [], 0
    for _ in range(count):
        if offset + 4 > len(raw):
            raise RequestError(f"input {name!r}: binary BYTES data ends inside an element's length")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise RequestError(f"input {name!r}: binary BYTES data ends inside an element")
        items.append(raw[offset:offset + length])
        offset += length
    if offset != len(raw):
        raise RequestError(f"input {name!r}: binary BYTES data holds more than the {count} elements of its shape")
    array = np.empty(count, dtype=object)
    array[:] = items
    return array


def _decode_json_data(data: Any, dtype: np.dtype, count: int, name: str) -> np.ndarray:
    """JSON ``data`` (flat or nested, row-major) as ``count`` elements of ``dtype``: numbers for numeric types
    (no strings or nulls, no fractions for integers), strings for BYTES."""
    if not isinstance(data, list):
        raise RequestError(f"input {name!r}: data must be a JSON list (or use the binary tensor extension)")
    try:
        values = np.asarray(data).ravel()
    except ValueError:
        raise RequestError(f"input {name!r}: data is a ragged nested list") from None
    allowed = "U" if dtype == object else "b" if dtype.kind == "b" else "biu" if dtype.kind in "iu" else "biuf"
    if values.size and values.dtype.kind not in allowed:
        raise RequestError(f"input {name!r}: data is not a list of {datatype(dtype)} values")
    if values.size != count:
        raise RequestError(f"input {name!r}: shape holds {count} elements but data has {values.size}")
    if dtype == object:
        array = np.empty(count, dtype=object)
        array[:] = [v.encode() for v in values.tolist()]
        return array
    try:
        return values.astype(dtype)
    except OverflowError as exc:
        raise RequestError(f"input {name!r}: data is not a list of {datatype(dtype)} values ({exc})") from None


def parse_request(body: bytes, header_length: str | None) -> InferRequest:
    """Decode an inference request body (JSON, or JSON then binary tensors) into arrays of the declared types."""
    if header_length is None:
        header, binary = body, b""
    else:
        try:
            length = int(header_length)
        except ValueError:
            raise RequestError(f"Inference-Header-Content-Length must be an integer, got {header_length!r}") from None
        if not 0 <= length <= len(body):
            raise RequestError(f"Inference-Header-Content-Length is {length} but the body has {len(body)} bytes")
        header, binary = body[:length], body[length:]
    try:
        payload = json.loads(header)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(f"the request is not valid JSON ({exc})") from None
    payload = _object(payload, "the request")
    parameters = _object(payload.get("parameters"), "the request's parameters")
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError("the request must list its 'inputs'")
    tensors, offset = [], 0
    for entry in inputs:
        entry = _object(entry, "each input")
        name = entry.get("name")
        if not isinstance(name, str):
            raise RequestError("each input needs a 'name' (a string)")
        shape = _shape(entry.get("shape"), name)
        declared = entry.get("datatype")
        if declared not in DTYPES:
            raise RequestError(f"input {name!r}: unknown datatype {declared!r} (one of {', '.join(DTYPES)})")
        dtype, count = DTYPES[declared], math.prod(shape)
        if count == 0:  # ONNX Runtime 1.32 aborts the whole process on an LSTM given a batch of 0 rows
            raise RequestError(f"input {name!r}: shape {list(shape)} holds no elements; send at least one")
        size = _object(entry.get("parameters"), f"input {name!r} parameters").get("binary_data_size")
        if size is None:
            array = _decode_json_data(entry.get("data"), dtype, count, name)
        else:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise RequestError(f"input {name!r}: binary_data_size must be an integer >= 0, got {size!r}")
            if offset + size > len(binary):
                raise RequestError(f"input {name!r}: binary_data_size {size} runs past the end of the body "
                                   f"({len(binary) - offset} bytes left after the JSON header)")
            raw = binary[offset:offset + size]
            offset += size
            if dtype == object:
                array = _bytes_elements(raw, count, name)
            else:
                if size != count * dtype.itemsize:
                    raise RequestError(f"input {name!r}: shape {list(shape)} of {declared} takes "
                                       f"{count * dtype.itemsize} bytes, binary_data_size is {size}")
                array = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype, copy=False)
        tensors.append(Tensor(name, array.reshape(shape)))
    if offset != len(binary):
        raise RequestError(f"the body has {len(binary) - offset} bytes after the tensors its JSON header declares")
    outputs = payload.get("outputs")
    requested = None
    binary_default = parameters.get("binary_data_output") is True
    if outputs is not None:
        if not isinstance(outputs, list):
            raise RequestError("'outputs' must be a list")
        requested = []
        for entry in outputs:
            entry = _object(entry, "each requested output")
            if not isinstance(entry.get("name"), str):
                raise RequestError("each requested output needs a 'name' (a string)")
            options = _object(entry.get("parameters"), f"output {entry['name']!r} parameters")
            top = options.get("classification", 0)
            if not isinstance(top, int) or isinstance(top, bool) or top < 0:
                raise RequestError(f"output {entry['name']!r}: classification must be an integer >= 0, got {top!r}")
            requested.append(RequestedOutput(entry["name"], bool(options.get("binary_data", binary_default)), top))
    request_id = payload.get("id")
    return InferRequest(None if request_id is None else str(request_id), tensors, requested, binary_default,
                        parameters)


def _binary(array: np.ndarray) -> bytes:
    if array.dtype == object:
        return b"".join(struct.pack("<I", len(item)) + item for item in (_as_bytes(v) for v in array.ravel()))
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def _as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _json_data(array: np.ndarray) -> list:
    if array.dtype == object:
        return [v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in array.ravel()]
    return array.ravel().tolist()


def encode_response(model: str, version: str, request_id: str | None,
                    outputs: Sequence[tuple[str, np.ndarray, bool]]) -> tuple[bytes, dict[str, str]]:
    """The response body and its headers: JSON, or JSON then the binary outputs (``(name, array, binary)``)."""
    described, chunks = [], []
    for name, array, binary in outputs:
        entry: dict[str, Any] = {"name": name, "datatype": datatype(array.dtype), "shape": list(array.shape)}
        if binary:
            chunk = _binary(array)
            entry["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            entry["data"] = _json_data(array)
        described.append(entry)
    payload: dict[str, Any] = {"model_name": model, "model_version": version}
    if request_id is not None:
        payload["id"] = request_id
    payload["outputs"] = described
    header = json.dumps(payload, separators=(",", ":")).encode()
    if not chunks:
        return header, {"content-type": JSON_TYPE}
    return header + b"".join(chunks), {"content-type": BINARY_TYPE, HEADER_LENGTH: str(len(header))}


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()
