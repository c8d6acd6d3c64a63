"""The card's "Use it" section: the calls that run the model, written from the card's facts, never typed.

Every name, dtype and shape comes from the bundle's manifest as the card quotes it (``card["bundle"]``,
``zoo.cards.facts.bundle_facts``): the ``zoo predict`` command, the torch-free Python call (``zoo.load_bundle``),
the plain ONNX Runtime call, and the request to ``zoo serve`` on the Open Inference Protocol (KServe v2).
Blocks are ``zoo.cards.render``'s. Imports ``zoo.bundle`` only (the protocol's datatype names, the deployer API's number of classes shown).
"""
from __future__ import annotations

import json
import math
from typing import Any, Mapping

from zoo.bundle import PROTOCOL_DATATYPES
from zoo.bundle.runtime import DEFAULT_TOP_K as TOP_K

PORT = 8000  # zoo serve's default
SHOWN_VALUES = 100  # a request body is written inline up to this many values per input, else made by Python
_ELIDED = "<zeros>"
PREPROCESSING_SHOWN = ("source_format", "input_shape", "color_mode", "image_size", "resample", "scaling",
                       "rescale_factor", "normalize", "array")  # what a deployer does to a raw file, in order
BATCH = "batch"
IMAGE = "image.png"  # the file an image classifier's calls read


def primary_graph(card: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The bundle's graph a deployer runs (role ``primary``, else the only or first one); None if not exported."""
    graphs = card["bundle"].get("graphs") or []
    return next((g for g in graphs if g.get("role") == "primary"), graphs[0] if graphs else None)


def example_shape(graph: Mapping[str, Any], spec: Mapping[str, Any]) -> list[int]:
    """One sample's shape: batch 1, another named axis at the length the bundle's test vectors have (else the
    smallest its declared range allows)."""
    lengths = graph.get("example_lengths") or {}
    ranges = spec.get("ranges") or {}
    return [1 if d == BATCH else int(lengths.get(d, (ranges.get(d) or [1])[0])) if isinstance(d, str) else int(d)
            for d in spec["shape"]]


def _tuple(shape: list[int]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def example_value(graph: Mapping[str, Any], spec: Mapping[str, Any]) -> int:
    """The value every element of the example input holds: 0, or for a ``lengths`` input (each padded
    sequence's length) the full length of its axis in the example, so the calls run as written."""
    if not spec.get("axis"):  # only a lengths input names the axis it measures (zoo.graphs.GraphInput)
        return 0
    for other in graph["inputs"]:
        if spec.get("axis") in other["shape"]:
            return example_shape(graph, other)[other["shape"].index(spec["axis"])]
    return 1


def _example_array(graph: Mapping[str, Any], spec: Mapping[str, Any]) -> str:
    """numpy code for the example input: zeros, or each sequence's full length (``example_value``)."""
    value = example_value(graph, spec)
    if value:
        return f"np.full({_tuple(example_shape(graph, spec))}, {value}, np.{spec['dtype']})"
    return f"np.zeros({_tuple(example_shape(graph, spec))}, np.{spec['dtype']})"


def _feeds(graph: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{json.dumps(i['name'])}: {_example_array(graph, i)}" for i in graph["inputs"]) + "}"


SAMPLES = 16  # a generator's samples in the calls


def reads_images(card: Mapping[str, Any]) -> bool:
    """Whether the bundle records how an image file becomes an input (``zoo.sources.images``' rule): then
    ``zoo predict`` and ``model.predict`` take image files, decoded as training read its data."""
    return "color_mode" in (card["bundle"].get("preprocessing") or {})


def image_classifier(card: Mapping[str, Any]) -> bool:
    """A classifier that takes image files (``reads_images``)."""
    return card["model_details"]["task"] == "classification" and reads_images(card)


def predict_command(card: Mapping[str, Any], graph: Mapping[str, Any]) -> str:
    """``zoo predict`` as the task asks: a generator's samples as PNG; a raw image for a model that reads image
    files (its top classes, or its reconstruction as PNG); else an .npy (.npz for several inputs) of the primary
    graph's inputs, made first with numpy."""
    model, task = card["bundle"]["model"], card["model_details"]["task"]
    if task == "generation":
        return f"zoo predict {model} --n {SAMPLES} --out samples.png"
    if image_classifier(card):
        top = min(TOP_K, int(card["training_data"].get("num_classes") or TOP_K))
        return f"zoo predict {model} {IMAGE} --top-k {top}"
    if reads_images(card) and task == "reconstruction":
        return f"zoo predict {model} {IMAGE} --out reconstructions/"
    if len(graph["inputs"]) == 1:
        make = f"np.save('input.npy', {_example_array(graph, graph['inputs'][0])})"
        return f'python -c "import numpy as np; {make}"\nzoo predict {model} input.npy'
    make = f"np.savez('inputs.npz', " + ", ".join(f"{i['name']}={_example_array(graph, i)}" for i in graph["inputs"]) + ")"
    return f'python -c "import numpy as np; {make}"\nzoo predict {model} inputs.npz'


def python_call(card: Mapping[str, Any], graph: Mapping[str, Any]) -> str:
    """The deployer's Python API (``zoo.load_bundle``): numpy, onnxruntime and Pillow only, never torch."""
    model = card["bundle"]["model"]
    if card["model_details"]["task"] == "generation":
        return f'import zoo\nmodel = zoo.load_bundle("{model}")\nsamples = model.generate({SAMPLES}).images'
    if reads_images(card):
        given, head = f'["{IMAGE}"]', ""
    else:  # a batch of arrays: one array for a graph of one input, else one per input name
        given = _feeds(graph) if len(graph["inputs"]) > 1 else _example_array(graph, graph["inputs"][0])
        head = "import numpy as np\n"
    return f'{head}import zoo\nmodel = zoo.load_bundle("{model}")\nanswers = model.predict({given})'


def onnxruntime_call(graph: Mapping[str, Any]) -> str:
    """The graph on plain ONNX Runtime: its file, output names and one zero input per name, dtype and shape."""
    outputs = json.dumps([o["name"] for o in graph["outputs"]])
    return ("import numpy as np\nimport onnxruntime\n"
            f'session = onnxruntime.InferenceSession("{graph["file"]}")\n'
            f"outputs = session.run({outputs}, {_feeds(graph)})")


def infer_request(card: Mapping[str, Any], graph: Mapping[str, Any]) -> dict[str, Any]:
    """The body of an Open Inference Protocol ``infer`` request: each input's name, shape, datatype and data
    (``example_value``)."""
    inputs = []
    for spec in graph["inputs"]:
        shape = example_shape(graph, spec)
        datatype = PROTOCOL_DATATYPES.get(spec["dtype"], spec["dtype"])
        inputs.append({"name": spec["name"], "shape": shape, "datatype": datatype,
                       "data": [example_value(graph, spec)] * math.prod(shape)})
    return {"inputs": inputs}


def server_request(card: Mapping[str, Any], graph: Mapping[str, Any]) -> str:
    """``zoo serve`` and a curl request that runs as written: the body inline while it is short, else made by a
    one-line Python program (each input's example data) piped into curl, never an elided, unparseable body."""
    model = card["bundle"]["model"]
    body = infer_request(card, graph)
    curl = (f"curl -X POST http://127.0.0.1:{PORT}/v2/models/{model}/infer \\\n"
            f"  -H 'Content-Type: application/json' -d ")
    if all(len(i["data"]) <= SHOWN_VALUES for i in body["inputs"]):
        return f"zoo serve {model}\n{curl}'{json.dumps(body)}'"
    made = [f"[{i['data'][0] if i['data'] else 0}] * {len(i['data'])}" for i in body["inputs"]]
    for i in body["inputs"]:
        i["data"] = _ELIDED
    text = json.dumps(body)
    for data in made:  # the body as a Python expression: each input's data written as [value] * size
        text = text.replace(json.dumps(_ELIDED), data, 1)
    return f"zoo serve {model}\npython -c 'import json; print(json.dumps({text}))' |\n{curl}@-"


def _signature(graph: Mapping[str, Any]) -> str:
    def one(spec: Mapping[str, Any]) -> str:
        shape = ", ".join(str(d) for d in spec["shape"])
        return f"`{spec['name']}` " + (f"{spec['dtype']} " if spec.get("dtype") else "") + f"({shape})"

    return (f"Graph `{graph['name']}` (file `{graph['file']}`) takes " + ", ".join(one(i) for i in graph["inputs"])
            + " and returns " + ", ".join(one(o) for o in graph["outputs"]) + "; named axes are dynamic.")


def _preprocessing(card: Mapping[str, Any]) -> list[tuple]:
    record = card["bundle"].get("preprocessing") or {}
    rows = [[key.replace("_", " "), json.dumps(record[key]) if not isinstance(record[key], str) else record[key]]
            for key in PREPROCESSING_SHOWN if record.get(key) not in (None, "", [])]
    if not rows:
        return []
    return [("p", "What the model reads, as the bundle records it (`zoo predict` and `zoo.load_bundle` apply it "
                  "to raw files; give the plain ONNX Runtime call arrays already made this way):"),
            ("table", ["preprocessing", "value"], rows)]


def usage_blocks(card: Mapping[str, Any]) -> list[tuple]:
    """The section's blocks: what the graph takes, then each way to call it, as code blocks."""
    graph = primary_graph(card)
    if graph is None or card["bundle"].get("status") != "exported":
        return [("p", "Not exported yet: `zoo export RUN` writes the ONNX bundle, and its card shows how to run it.")]
    if not all("dtype" in i for i in graph["inputs"]):
        return [("p", _signature(graph)),
                ("p", "This card was made before cards recorded the inputs' dtypes: read them in the bundle's "
                      "`manifest.json`, or make the card again (`zoo card BUNDLE`).")]
    return [
        ("p", _signature(graph)),
        *_preprocessing(card),
        ("p", "**Command line** (onnxruntime and numpy only; a published model by name, or a bundle's folder):"),
        ("code", "bash", predict_command(card, graph)),
        ("p", "**Python**, without torch:"),
        ("code", "python", python_call(card, graph)),
        ("p", f"**Plain ONNX Runtime**, in the bundle's folder (`{graph['file']}` beside `manifest.json`):"),
        ("code", "python", onnxruntime_call(graph)),
        ("p", f"**Over HTTP** (Open Inference Protocol, as KServe and Triton speak it), one sample of zeros:"),
        ("code", "bash", server_request(card, graph)),
    ]
