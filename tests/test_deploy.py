"""`zoo.deploy`: a Triton model repository from every committed bundle, each config.pbtxt parsed by Triton's own
``ModelConfig`` protobuf message (from the tritonclient wheel) and checked against the graph ONNX Runtime
loads from the copy; the KServe InferenceService parsed with PyYAML. Triton and Kubernetes are not run here."""
from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import onnxruntime as ort
import pytest
import tritonclient
import yaml
from google.protobuf import text_format

from zoo.bundle import BundleError, sha256_file
from zoo.deploy import DeployError, TritonOptions, inference_service, write_inference_service, write_repository

ROOT = Path(__file__).resolve().parents[1]
BUNDLES = sorted(p.parent for p in (ROOT / "exports").glob("*/manifest.json"))


def _model_config_module():
    """Triton's ModelConfig message, loaded from its file: importing it through tritonclient.grpc needs grpcio."""
    path = Path(tritonclient.__file__).parent / "grpc" / "model_config_pb2.py"
    spec = importlib.util.spec_from_file_location("triton_model_config_pb2", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


model_config_pb2 = _model_config_module()


def parse(text: str):
    return text_format.Parse(text, model_config_pb2.ModelConfig())


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    out = tmp_path_factory.mktemp("triton") / "models"
    return out, write_repository(BUNDLES, out)


def test_every_committed_bundle_becomes_a_model_triton_parses(repository):
    out, folders = repository
    assert len(BUNDLES) >= 9 and [f.name for f in folders] == [b.name for b in BUNDLES]
    assert sorted(p.name for p in out.iterdir()) == sorted(b.name for b in BUNDLES)  # no staging left behind
    for bundle, folder in zip(BUNDLES, folders):
        manifest = json.loads((bundle / "manifest.json").read_text())
        graph = next(g for g in manifest["graphs"] if g["role"] == "primary")
        config = parse((folder / "config.pbtxt").read_text())
        assert config.name == folder.name == manifest["model"]
        assert config.platform == "onnxruntime_onnx" and config.max_batch_size == 64
        copy = folder / "1" / "model.onnx"
        assert sha256_file(copy) == manifest["files"][graph["file"]]
        session = ort.InferenceSession(str(copy), providers=["CPUExecutionProvider"])
        for declared, actual in [(config.input, session.get_inputs()), (config.output, session.get_outputs())]:
            assert [t.name for t in declared] == [a.name for a in actual]
            for tensor, node in zip(declared, actual):
                wanted = [d if isinstance(d, int) else -1 for d in node.shape[1:]]  # the batch axis left out
                if wanted:
                    assert list(tensor.dims) == wanted and not tensor.HasField("reshape")
                else:  # one value per row: dims [1] reshaped to a scalar
                    assert list(tensor.dims) == [1] and list(tensor.reshape.shape) == []
                kind = {"tensor(float)": "TYPE_FP32", "tensor(int64)": "TYPE_INT64"}[node.type]
                assert model_config_pb2.DataType.Name(tensor.data_type) == kind
        assert config.HasField("dynamic_batching") and config.dynamic_batching.max_queue_delay_microseconds == 0
        assert [(g.count, model_config_pb2.ModelInstanceGroup.Kind.Name(g.kind)) for g in config.instance_group] \
            == [(1, "KIND_CPU")]


def test_a_misspelt_field_or_type_does_not_parse(repository):
    """The parse is really consulted: Triton's message refuses what it does not define."""
    text = (repository[1][0] / "config.pbtxt").read_text()
    parse(text)
    for wrong in [text.replace("max_batch_size", "max_batch_sise"), text.replace("TYPE_FP32", "TYPE_FP23"),
                  text.replace("instance_group", "instance_groups")]:
        with pytest.raises(text_format.ParseError):
            parse(wrong)


def test_options_reach_the_config(tmp_path):
    options = TritonOptions(max_batch_size=32, instances=2, kind="KIND_GPU", max_queue_delay_us=500,
                            preferred_batch_sizes=(8, 16))
    (folder,) = write_repository([ROOT / "exports" / "lstm-digits"], tmp_path, options=options)
    config = parse((folder / "config.pbtxt").read_text())
    assert config.max_batch_size == 32 and list(config.input[0].dims) == [-1, 8]
    assert list(config.dynamic_batching.preferred_batch_size) == [8, 16]
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    group = config.instance_group[0]
    assert (group.count, group.kind) == (2, model_config_pb2.ModelInstanceGroup.KIND_GPU)
    for bad, message in [(dict(kind="KIND_TPU"), "kind must be one of"), (dict(instances=0), "instances must be"),
                         (dict(preferred_batch_sizes=(128,)), "must lie in 1..64")]:
        with pytest.raises(DeployError, match=message):
            TritonOptions(**bad)


def test_nothing_is_overwritten_without_force_and_a_bad_bundle_writes_nothing(tmp_path):
    cnn, lstm = ROOT / "exports" / "cnn-digits", ROOT / "exports" / "lstm-digits"
    out = tmp_path / "repo"
    (out / "someone-elses-model").mkdir(parents=True)
    write_repository([cnn], out)
    config = out / "cnn-digits" / "config.pbtxt"
    config.write_text("# edited by hand\n")
    with pytest.raises(DeployError, match=r"already holds cnn-digits; use force"):
        write_repository([lstm, cnn], out)
    assert config.read_text() == "# edited by hand\n" and not (out / "lstm-digits").exists()
    tampered = shutil.copytree(lstm, tmp_path / "lstm-digits")
    with open(tampered / "model.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match="checksum mismatch"):
        write_repository([cnn, tampered], out, force=True)
    assert config.read_text() == "# edited by hand\n"
    write_repository([cnn, lstm], out, force=True)
    assert parse(config.read_text()).name == "cnn-digits"
    assert sorted(p.name for p in out.iterdir()) == ["cnn-digits", "lstm-digits", "someone-elses-model"]
    with pytest.raises(DeployError, match="two bundles are both model 'cnn-digits'"):
        write_repository([cnn, cnn], tmp_path / "other")


def test_kserve_inference_service_serves_the_repository(tmp_path):
    path = write_inference_service(tmp_path / "isvc.yaml", "zoo-digits", "s3://models/zoo/triton", cpu="2")
    document = yaml.safe_load(path.read_text())
    assert document["apiVersion"] == "serving.kserve.io/v1beta1" and document["kind"] == "InferenceService"
    assert document["metadata"]["name"] == "zoo-digits"
    model = document["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "onnx"} and model["protocolVersion"] == "v2"
    assert model["storageUri"] == "s3://models/zoo/triton" and model["runtime"] == "kserve-tritonserver"
    assert model["resources"]["requests"]["cpu"] == "2"
    with pytest.raises(DeployError, match="already exists; use force"):
        write_inference_service(path, "zoo-digits", "gs://elsewhere")
    write_inference_service(path, "zoo-digits", "gs://elsewhere", force=True)
    assert yaml.safe_load(path.read_text())["spec"]["predictor"]["model"]["storageUri"] == "gs://elsewhere"
    for name, uri, message in [("Zoo_Digits", "s3://m", "DNS-1035 label"), ("zoo", "models/zoo", "with its scheme")]:
        with pytest.raises(DeployError, match=message):
            inference_service(name, uri)


def test_zoo_deploy_from_the_command_line_and_an_encrypted_bundle_refused(tmp_path):
    from conftest import invoke_zoo, one_error_line

    repo = tmp_path / "models"
    result = invoke_zoo("deploy", "triton", "cnn-digits", "lstm-digits", "--out", str(repo), "--instances", "2")
    assert result.code == 0, result.err
    assert sorted(p.name for p in repo.iterdir()) == ["cnn-digits", "lstm-digits"]
    assert "count: 2" in (repo / "cnn-digits" / "config.pbtxt").read_text()
    again = invoke_zoo("deploy", "triton", "cnn-digits", "--out", str(repo))
    assert again.code == 2 and one_error_line(again.err)
    secret = shutil.copytree(ROOT / "exports" / "cnn-digits", tmp_path / "secret" / "cnn-digits")
    assert invoke_zoo("keygen", str(tmp_path / "k.pem")).code == 0
    assert invoke_zoo("encrypt", str(secret), "--to", str(tmp_path / "k.pem.pub")).code == 0
    refused = invoke_zoo("deploy", "triton", str(secret), "--out", str(tmp_path / "other"))
    assert refused.code == 2 and "its graphs are encrypted" in one_error_line(refused.err)
    assert not (tmp_path / "other").exists()
    yaml_file = tmp_path / "isvc.yaml"
    made = invoke_zoo("deploy", "kserve", "--name", "zoo-digits", "--storage-uri", "s3://bucket/zoo", "--out",
                      str(yaml_file))
    assert made.code == 0 and "protocolVersion: v2" in yaml_file.read_text()
