"""`zoo.serve`: the committed bundles on the Open Inference Protocol, talked to by Triton's own HTTP client and by
plain HTTP, on real servers bound to 127.0.0.1 (two in this process, shared by the module: one batching, one
not; others started where a test needs its own), and once as a real subprocess for SIGTERM and torch."""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as triton
from prometheus_client.parser import text_string_to_metric_families

from zoo.bundle import BundleError, checksums, random_inputs
from zoo.serve import ServeError, ServeOptions, ServerThread, load_bundle_model

ROOT = Path(__file__).resolve().parents[1]
CNN, LSTM = ROOT / "exports" / "cnn-digits", ROOT / "exports" / "lstm-digits"
MAX_BATCH, MAX_BODY = 16, 1 << 20
LIMITS = dict(max_batch_size=MAX_BATCH, max_body_bytes=MAX_BODY)


@pytest.fixture(scope="module")
def server():
    """Both digit classifiers, requests stacked into batches."""
    with ServerThread([CNN, LSTM], options=ServeOptions(batching=True, **LIMITS)) as running:
        running.wait_ready()
        yield running


@pytest.fixture(scope="module")
def unbatched():
    """The same models, every request its own ONNX Runtime run."""
    with ServerThread([CNN, LSTM], options=ServeOptions(batching=False, **LIMITS)) as running:
        running.wait_ready()
        yield running


def client(url: str) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(url.removeprefix("http://"))


def request(url: str, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
    """Plain HTTP: (status, JSON body, headers)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, json.loads(response.read()), dict(response.getheaders())
    finally:
        connection.close()


def infer_json(url: str, model: str, array: np.ndarray, **extra) -> tuple[int, dict]:
    payload = {"inputs": [{"name": "input", "shape": list(array.shape), "datatype": "FP32",
                           "data": array.ravel().tolist()}], **extra}
    status, body, _ = request(url, "POST", f"/v2/models/{model}/infer", json.dumps(payload).encode())
    return status, body


def digits(bundle: Path, rows: int = 8, seed: int = 0) -> np.ndarray:
    """Inputs the model takes, drawn as its manifest says (uniform in [0, 1)); the LSTM reads 8 steps."""
    shape = (1, 8, 8) if bundle.name == "cnn-digits" else (8, 8)
    return np.random.default_rng(seed).random((rows, *shape), dtype=np.float32)


def onnxruntime_outputs(bundle: Path, array: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": array})[0]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def test_health_and_metadata_come_from_the_manifests(server):
    triton_client = client(server.url)
    assert triton_client.is_server_live() and triton_client.is_server_ready()
    assert triton_client.get_server_metadata()["extensions"] == ["binary_tensor_data", "classification"]
    cnn = triton_client.get_model_metadata("cnn-digits")
    assert cnn["platform"] == "onnxruntime_onnx" and cnn["versions"] == ["1"]
    assert cnn["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 1, 8, 8]}]
    assert cnn["outputs"] == [{"name": "output", "datatype": "FP32", "shape": [-1, 10]},
                              {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
                              {"name": "label", "datatype": "BYTES", "shape": [-1]}]
    lstm = triton_client.get_model_metadata("lstm-digits", model_version="1")
    assert lstm["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, -1, 8]}]
    assert triton_client.is_model_ready("lstm-digits") and not triton_client.is_model_ready("gan-digits")
    assert request(server.url, "GET", "/v2/health/live")[:2] == (200, {"live": True})
    assert request(server.url, "GET", "/v2/models/cnn-digits/ready")[:2] == (200, {"name": "cnn-digits",
                                                                                    "ready": True})
    for path, message in [("/v2/models/gan-digits", "unknown model 'gan-digits'"),
                          ("/v2/models/cnn-digits/versions/2", "has no version '2'"),
                          ("/v3/models", "no such endpoint")]:
        status, body, _ = request(server.url, "GET", path)
        assert status == 404 and message in body["error"]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_triton_client_gets_what_onnxruntime_computes(server, unbatched, binary):
    for running in (server, unbatched):
        triton_client = client(running.url)
        for bundle in (CNN, LSTM):
            array = digits(bundle)
            given = triton.InferInput("input", list(array.shape), "FP32")
            given.set_data_from_numpy(array, binary_data=binary)
            wanted = [triton.InferRequestedOutput(name, binary_data=binary) for name in ("output", "label")]
            result = triton_client.infer(bundle.name, [given], outputs=wanted, request_id="r-7")
            expected = onnxruntime_outputs(bundle, array)
            np.testing.assert_allclose(result.as_numpy("output"), expected, rtol=1e-6, atol=1e-6)
            labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label")]
            assert labels == [str(i) for i in expected.argmax(axis=1)]
            assert result.get_response()["id"] == "r-7"


def test_every_committed_bundle_serves_what_onnxruntime_computes():
    """Autoencoders and generators too: several inputs, INT64 labels, no task outputs for non-classifiers."""
    bundles = sorted(p.parent for p in (ROOT / "exports").glob("*/manifest.json"))
    with ServerThread(bundles) as running:
        running.wait_ready()
        triton_client = client(running.url)
        for bundle in bundles:
            manifest = json.loads((bundle / "manifest.json").read_text())
            graph = next(g for g in manifest["graphs"] if g["role"] == "primary")
            axes = {d: 3 for spec in graph["inputs"] for d in spec["shape"] if isinstance(d, str) and d != "batch"}
            arrays = random_inputs(graph["inputs"], 3, axes, seed=1)  # as zoo verify draws them: lengths too
            given = []
            for name, array in arrays.items():
                given.append(triton.InferInput(name, list(array.shape), "INT64" if array.dtype == np.int64 else "FP32"))
                given[-1].set_data_from_numpy(array)
            result = triton_client.infer(bundle.name, given)
            session = ort.InferenceSession(str(bundle / graph["file"]), providers=["CPUExecutionProvider"])
            expected = dict(zip([o["name"] for o in graph["outputs"]], session.run(None, arrays)))
            answered = [o["name"] for o in result.get_response()["outputs"]]
            classifier = manifest["task"] == "classification"
            assert answered == list(expected) + (["probabilities", "label"] if classifier else [])
            for name, value in expected.items():
                np.testing.assert_allclose(result.as_numpy(name), value, rtol=1e-5, atol=1e-5)


def test_classifiers_answer_with_probabilities_and_top_classes(server):
    array = digits(CNN)[:4]
    logits = onnxruntime_outputs(CNN, array)
    status, body = infer_json(server.url, "cnn-digits", array)  # no outputs named: every output, as JSON
    assert status == 200 and [o["name"] for o in body["outputs"]] == ["output", "probabilities", "label"]
    probabilities = np.array(body["outputs"][1]["data"], dtype=np.float32).reshape(4, 10)
    np.testing.assert_allclose(probabilities, softmax(logits.astype(np.float64)), rtol=1e-5, atol=1e-7)
    ranked = triton.InferRequestedOutput("probabilities", binary_data=True, class_count=3)
    given = triton.InferInput("input", list(array.shape), "FP32")
    given.set_data_from_numpy(array)
    top = client(server.url).infer("cnn-digits", [given], outputs=[ranked]).as_numpy("probabilities")
    assert top.shape == (4, 3)
    first = top[0, 0].decode().split(":")
    best = int(logits[0].argmax())
    assert first[1:] == [str(best), str(best)] and float(first[0]) == pytest.approx(probabilities[0, best], abs=1e-6)


def test_class_names_recorded_in_the_bundle_name_the_label(tmp_path):
    bundle = shutil.copytree(CNN, tmp_path / "cnn-digits")
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["preprocessing"] = {**manifest.get("preprocessing", {}), "class_names": names}  # the deployer's record
    manifest["files"] = checksums(bundle)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    array = digits(CNN)[:3]
    with ServerThread([bundle]) as running:
        running.wait_ready()
        status, body = infer_json(running.url, "cnn-digits", array, outputs=[{"name": "label"}])
    assert status == 200
    assert body["outputs"][0]["data"] == [names[i] for i in onnxruntime_outputs(CNN, array).argmax(axis=1)]


GOOD = {"name": "input", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": [0.5] * 64}
HEADER = json.dumps({"inputs": [{**{k: v for k, v in GOOD.items() if k != "data"},
                                 "parameters": {"binary_data_size": 256}}]}).encode()
BAD_REQUESTS = {
    "malformed JSON": (b'{"inputs": [', {}, 400, "not valid JSON"),
    "not an object": (b"[1, 2]", {}, 400, "must be a JSON object"),
    "no inputs": (b"{}", {}, 400, "must list its 'inputs'"),
    "unknown input": ({**GOOD, "name": "pixels"}, {}, 400, "has no input 'pixels' (it takes input)"),
    "wrong datatype": ({**GOOD, "datatype": "FP64"}, {}, 400, "is FP32, the request sent FP64"),
    "unknown datatype": ({**GOOD, "datatype": "FLOAT"}, {}, 400, "unknown datatype 'FLOAT'"),
    "shape and data disagree": ({**GOOD, "data": [0.5] * 63}, {}, 400, "shape holds 64 elements but data has 63"),
    "strings for numbers": ({**GOOD, "data": ["a"] * 64}, {}, 400, "not a list of FP32 values"),
    "nulls for numbers": ({**GOOD, "data": [None] * 64}, {}, 400, "not a list of FP32 values"),
    "ragged data": ({**GOOD, "data": [[0.5] * 63, [0.5]]}, {}, 400, "ragged"),
    "negative shape": ({**GOOD, "shape": [-1, 1, 8, 8]}, {}, 400, "shape must be a list of sizes"),
    "wrong rank": ({**GOOD, "shape": [1, 64]}, {}, 400, "must be shaped (batch, 1, 8, 8)"),
    "batch over the limit": ({**GOOD, "shape": [MAX_BATCH + 1, 1, 8, 8], "data": [0.5] * 64 * (MAX_BATCH + 1)}, {},
                             400, f"over this server's max batch size of {MAX_BATCH}"),
    "body over the limit": (b"[" + b"0.5, " * (MAX_BODY // 5) + b"0.5]", {}, 413, f"limit of {MAX_BODY} bytes"),
    "header length not a number": (HEADER + bytes(256), {"Inference-Header-Content-Length": "ten"}, 400,
                                   "must be an integer"),
    "header length past the body": (HEADER + bytes(256), {"Inference-Header-Content-Length": "99999"}, 400,
                                    "but the body has"),
    "header length cuts the JSON": (HEADER + bytes(256), {"Inference-Header-Content-Length": "20"}, 400,
                                    "not valid JSON"),
    "binary size disagrees with shape": (HEADER + bytes(200), {"Inference-Header-Content-Length": str(len(HEADER))},
                                         400, "runs past the end of the body"),
    "binary size that is not the shape's": (HEADER.replace(b"256", b"200") + bytes(200),
                                            {"Inference-Header-Content-Length": str(len(HEADER))}, 400,
                                            "takes 256 bytes, binary_data_size is 200"),
    "bytes after the tensors": (HEADER + bytes(300), {"Inference-Header-Content-Length": str(len(HEADER))}, 400,
                                "44 bytes after the tensors"),
    "unknown output": ({"inputs": [GOOD], "outputs": [{"name": "logits"}]}, {}, 400, "has no output 'logits'"),
    "classification of a label": ({"inputs": [GOOD], "outputs": [{"name": "label", "parameters": {
        "classification": 2}}]}, {}, 400, "holds no class scores to rank"),
}


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=list(BAD_REQUESTS))
def test_every_bad_request_is_a_4xx_with_a_clear_message_and_the_server_goes_on(server, case):
    body, headers, status, message = BAD_REQUESTS[case]
    if isinstance(body, dict):
        body = json.dumps(body if "inputs" in body else {"inputs": [body]}).encode()
    got, answer, _ = request(server.url, "POST", "/v2/models/cnn-digits/infer", body, headers)
    assert got == status and message in answer["error"], answer
    assert "\n" not in answer["error"]
    assert infer_json(server.url, "cnn-digits", digits(CNN)[:1])[0] == 200


def test_an_empty_tensor_is_refused_before_onnxruntime_sees_it(server):
    """ONNX Runtime 1.32 aborts the process when the LSTM is run on 0 rows: the server never runs one."""
    for shape in ([0, 8, 8], [2, 0, 8]):
        status, answer = infer_json(server.url, "lstm-digits", np.zeros(shape, np.float32))
        assert status == 400 and f"shape {shape} holds no elements" in answer["error"]
    assert infer_json(server.url, "lstm-digits", digits(LSTM)[:1])[0] == 200


def test_a_chunked_body_over_the_limit_is_refused_while_it_is_read(server):
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    chunks = (b"[" + b"0.5," * 20000 for _ in range(20))  # about 1.6 MB, no Content-Length
    connection.request("POST", "/v2/models/cnn-digits/infer", body=chunks, encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 413 and f"limit of {MAX_BODY} bytes" in json.loads(response.read())["error"]
    assert infer_json(server.url, "cnn-digits", digits(CNN)[:1])[0] == 200


def test_unknown_model_version_or_method_is_refused(server):
    for method, path, status, message in [
            ("POST", "/v2/models/gan-digits/infer", 404, "unknown model 'gan-digits'"),
            ("POST", "/v2/models/cnn-digits/versions/9/infer", 404, "has no version '9'"),
            ("GET", "/v2/models/cnn-digits/infer", 405, "GET is not allowed")]:
        got, answer, _ = request(server.url, method, path, json.dumps({"inputs": [GOOD]}).encode())
        assert (got, message in answer["error"]) == (status, True), answer


def test_binary_request_without_the_triton_client(server):
    array = digits(LSTM)[:2]
    header = json.dumps({"inputs": [{"name": "input", "shape": list(array.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": array.nbytes}}],
                         "parameters": {"binary_data_output": True}}).encode()
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("POST", "/v2/models/lstm-digits/versions/1/infer", header + array.tobytes(),
                       {"Inference-Header-Content-Length": str(len(header))})
    response = connection.getresponse()
    body, length = response.read(), int(response.getheader("Inference-Header-Content-Length"))
    described = json.loads(body[:length])["outputs"]
    assert [o["parameters"]["binary_data_size"] for o in described] == [80, 80, 4 * 2 + 2]
    logits = np.frombuffer(body[length:length + 80], dtype="<f4").reshape(2, 10)
    np.testing.assert_allclose(logits, onnxruntime_outputs(LSTM, array), rtol=1e-6, atol=1e-6)


def test_load_from_16_threads_on_loopback(server, unbatched):
    """A few hundred requests at once, every answer right; batching stacks some of them into one run."""
    array = digits(CNN, rows=64)
    expected = onnxruntime_outputs(CNN, array)

    def metric(running, name):
        families = text_string_to_metric_families(_metrics(running.url))
        return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples
                if f.name == name}

    for running in (server, unbatched):
        runs_before = metric(running, "zoo_inference_batch_rows")
        failures, answers = [], []

        def worker(seed: int) -> None:
            triton_client = client(running.url)
            for i in range(20):
                row = (seed * 20 + i) % len(array)
                given = triton.InferInput("input", [1, 1, 8, 8], "FP32")
                given.set_data_from_numpy(array[row:row + 1], binary_data=bool(i % 2))
                try:
                    result = triton_client.infer("cnn-digits", [given], outputs=[
                        triton.InferRequestedOutput("output", binary_data=bool(i % 2))])
                    answers.append((row, result.as_numpy("output")))
                except Exception as exc:  # collected: the main thread asserts
                    failures.append(exc)

        start = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        assert not failures and len(answers) == 320 and elapsed < 20
        for row, output in answers:
            np.testing.assert_allclose(output[0], expected[row], rtol=1e-5, atol=1e-5)
        runs_after = metric(running, "zoo_inference_batch_rows")
        key = ("zoo_inference_batch_rows_count", (("model", "cnn-digits"),))
        rows = ("zoo_inference_batch_rows_sum", (("model", "cnn-digits"),))
        assert runs_after[rows] - runs_before[rows] == 320
        runs = runs_after[key] - runs_before[key]
        assert runs <= 320 if running is server else runs == 320


def _metrics(url: str) -> str:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", "/metrics")
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/plain")
    return response.read().decode()


def test_metrics_count_what_was_sent(server):
    def counts() -> dict[tuple[str, str], float]:
        found = {}
        for family in text_string_to_metric_families(_metrics(server.url)):
            for sample in family.samples:
                if sample.name == "zoo_inference_requests_total":
                    found[sample.labels["model"], sample.labels["outcome"]] = sample.value
                if sample.name == "zoo_inference_request_duration_seconds_count":
                    found[sample.labels["model"], "timed"] = sample.value
        return found

    before = counts()
    for _ in range(3):
        assert infer_json(server.url, "lstm-digits", digits(LSTM)[:2])[0] == 200
    for _ in range(2):
        assert infer_json(server.url, "lstm-digits", np.zeros((1, 4, 7), np.float32))[0] == 400
    assert infer_json(server.url, "no-such-model", digits(LSTM)[:1])[0] == 404
    after = counts()
    delta = {key: after[key] - before.get(key, 0) for key in after}
    assert delta[("lstm-digits", "success")] == 3 and delta[("lstm-digits", "client_error")] == 2
    assert delta[("lstm-digits", "timed")] == 5 and delta[("unknown", "client_error")] == 1
    assert delta[("cnn-digits", "success")] == 0 and delta[("lstm-digits", "server_error")] == 0


def test_ready_only_once_every_model_is_loaded():
    release = threading.Event()

    def slow_for_lstm(path):
        if Path(path).name == "lstm-digits":
            assert release.wait(30)
        return load_bundle_model(path)

    with ServerThread([CNN, LSTM], loader=slow_for_lstm) as running:
        deadline = time.monotonic() + 30
        while request(running.url, "GET", "/v2/models/cnn-digits/ready")[0] != 200:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert request(running.url, "GET", "/v2/health/live")[:2] == (200, {"live": True})
        assert request(running.url, "GET", "/v2/health/ready")[:2] == (503, {"ready": False})
        status, answer = infer_json(running.url, "lstm-digits", digits(LSTM)[:1])
        assert status == 503 and "not ready (models are loading)" in answer["error"]
        release.set()
        running.wait_ready()
        assert request(running.url, "GET", "/v2/health/ready")[:2] == (200, {"ready": True})
        assert infer_json(running.url, "lstm-digits", digits(LSTM)[:1])[0] == 200


def test_a_bundle_that_fails_its_checks_stops_the_server(tmp_path):
    bundle = shutil.copytree(CNN, tmp_path / "cnn-digits")
    with open(bundle / "model.onnx", "ab") as handle:
        handle.write(b"\0")
    with ServerThread([LSTM, bundle]) as running:
        with pytest.raises(BundleError, match="checksum mismatch"):
            running.wait_ready()
    with pytest.raises(ServeError, match="serve each name once"), ServerThread([CNN, CNN]) as running:
        running.wait_ready()


def test_signed_bundles_are_checked_before_they_are_served(tmp_path, keys):
    from zoo.bundle.signing import SignatureError, sign

    bundle = shutil.copytree(CNN, tmp_path / "cnn-digits", ignore=shutil.ignore_patterns("card"))
    sign(bundle, keys["publisher"])
    with ServerThread([bundle], public_key=keys["publisher"].with_suffix(".pub")) as running:
        running.wait_ready()
        assert infer_json(running.url, "cnn-digits", digits(CNN)[:1])[0] == 200
    with ServerThread([bundle], public_key=keys["other"].with_suffix(".pub")) as running:
        with pytest.raises(SignatureError):
            running.wait_ready()


def test_a_busy_port_is_one_error_line(server):
    port = int(server.url.rsplit(":", 1)[1])
    with pytest.raises(ServeError, match=rf"cannot listen on 127.0.0.1:{port} \("):
        ServerThread([CNN], port=port)


SERVE = """
import sys
from zoo.serve import serve
serve(sys.argv[1:], port=0, announce=lambda line: print(line, flush=True))
print("stopped", flush=True)
"""


def test_sigterm_drains_the_request_in_flight_and_exits_0_without_torch(tmp_path):
    """A real process with torch unimportable (a tripwire file records any attempt): SIGTERM arrives while a
    request's body is half sent; the server stops taking connections, answers that request, exits 0."""
    fake = tmp_path / "site" / "torch"
    fake.mkdir(parents=True)
    tripwire = tmp_path / "torch-was-imported"
    (fake / "__init__.py").write_text(f"open({str(tripwire)!r}, 'w').close()\n"
                                      f"raise ImportError('torch must not be imported when serving')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent), str(ROOT)])}
    process = subprocess.Popen([sys.executable, "-c", SERVE, str(CNN), str(LSTM)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = re.search(r"http://[\d.]+:\d+", process.stdout.readline()).group(0)
        assert url.startswith("http://127.0.0.1:")  # the default host
        deadline = time.monotonic() + 60
        while request(url, "GET", "/v2/health/ready")[0] != 200:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        array = digits(LSTM)[:3]
        body = json.dumps({"inputs": [{"name": "input", "shape": list(array.shape), "datatype": "FP32",
                                       "data": array.ravel().tolist()}]}).encode()
        host, port = url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.putrequest("POST", "/v2/models/lstm-digits/infer")
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body[: len(body) // 2])
        time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        while True:  # the listener closes within a tick (0.1 s) of the signal
            try:
                request(url, "GET", "/v2/health/live")
            except ConnectionRefusedError:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)
        assert process.poll() is None  # still waiting for the request in flight
        connection.send(body[len(body) // 2:])
        response = connection.getresponse()
        assert response.status == 200
        logits = np.array(json.loads(response.read())["outputs"][0]["data"], dtype=np.float32).reshape(3, 10)
        np.testing.assert_allclose(logits, onnxruntime_outputs(LSTM, array), rtol=1e-6, atol=1e-6)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert out.strip() == "stopped" and not tripwire.exists()


def test_zoo_serve_from_the_command_line_answers_like_zoo_predict_and_drains_on_sigterm(tmp_path, without_torch):
    """`zoo serve NAME` as a deployer runs it: torch unimportable, a published model by name, port 0; the
    listening line names the URL; SIGTERM ends it with status 0."""
    import urllib.error
    import urllib.request

    env = {**os.environ, **without_torch, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "zoo", "serve", "cnn-digits", "--port", "0"],
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stderr.readline()
        url = re.search(r"listening on (http://\S+)", line).group(1)
        deadline = time.monotonic() + 60
        def ready() -> bool:
            try:
                return json.loads(urllib.request.urlopen(f"{url}/v2/health/ready").read())["ready"] is True
            except urllib.error.HTTPError as exc:  # 503 {"ready": false} while the model loads
                return json.loads(exc.read())["ready"] is True

        while not ready():
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        array = digits(CNN)[:2]
        status, body = infer_json(url, "cnn-digits", array, outputs=[{"name": "label"}])
        assert status == 200
        np.save(tmp_path / "x.npy", array)
        predicted = subprocess.run([sys.executable, "-m", "zoo", "predict", "cnn-digits", str(tmp_path / "x.npy"),
                                    "--json"], capture_output=True, text=True, env=env)
        assert body["outputs"][0]["data"] == [a["label"] for a in json.loads(predicted.stdout)]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
