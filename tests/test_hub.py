"""A zoo that ships its models: bundles with their weights, a hub served over loopback HTTP, `zoo pull` into a
cache that never holds half a bundle, `create_model(name, pretrained=True)` and `zoo predict NAME`.

The hub is the session's tiny cnn-digits bundle (``tiny_bundle``) written by `zoo hub`; each test serves its own
copy with ``http.server`` on 127.0.0.1 (a port the OS picks), counting the requests, and pulls into its own
``ZOO_HOME``. The last test holds the committed built-in zoo to its card.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, TINY_RUNS, invoke_zoo, one_error_line, run_zoo
from onnx_support import resign

import zoo
import zoo.hub
from zoo.bundle import open_bundle
from zoo.fsutil import sha256_file
from zoo.hub import INDEX, SCHEMA, HubError
from zoo.hub.static import write_hub

NAME = "cnn-digits"


class Hub:
    """A folder served over HTTP: the URL, every path asked for, and ways to misbehave per path."""

    def __init__(self, root: Path) -> None:
        self.root, self.requests, self.truncate, self.drop = root, [], set(), set()
        handler = partial(_Handler, self, directory=str(root))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub"

    def bundle_requests(self) -> list[str]:
        return [p for p in self.requests if not p.endswith(INDEX)]


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, hub: Hub, *args, **kwargs) -> None:
        self.hub = hub
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:  # the hub is served under /hub/, as on a real site
        return super().translate_path(path.removeprefix("/hub"))

    def do_GET(self) -> None:
        self.hub.requests.append(self.path)
        relative = self.path.removeprefix("/hub/")
        if relative in self.hub.truncate | self.hub.drop:
            body = Path(self.translate_path(self.path)).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if relative in self.hub.truncate:
                self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


def add_card(bundle: Path, run) -> dict:
    """Give a bundle a card as `zoo publish` would, cheaply: the committed cnn-digits card's JSON with this
    run's metrics and this bundle's checksums (making a real card costs seconds of figures)."""
    card = json.loads((ROOT / "cards" / f"{NAME}.json").read_text())
    card["metrics"]["values"] = run.metrics()["metrics"]
    manifest = open_bundle(bundle).manifest
    card["bundle"]["files"] = [{"file": n, "bytes": (bundle / n).stat().st_size, "sha256": d}
                               for n, d in manifest["files"].items()]
    (bundle / "card").mkdir()
    (bundle / "card" / "card.json").write_text(json.dumps(card))
    (bundle / "card" / "card.md").write_text("# cnn-digits\n")
    return card


@pytest.fixture(scope="module")
def hub_files(tiny_bundle, tiny_run, tmp_path_factory) -> Path:
    """A hub written by `zoo hub` from an exports folder holding the tiny cnn-digits bundle, with a card."""
    root = tmp_path_factory.mktemp("hub")
    shutil.copytree(tiny_bundle(NAME), root / "exports" / NAME)
    add_card(root / "exports" / NAME, tiny_run(NAME))
    write_hub(root / "hub", root / "exports")
    return root / "hub"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty ZOO_HOME, and no built-in zoo, for this test."""
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(zoo.hub, "builtin_root", lambda: tmp_path / "no-builtin")
    return tmp_path / "home"


@pytest.fixture
def serve(tmp_path, hub_files):
    """``serve()``: this test's own copy of the hub, served; stopped after the test."""
    servers = []

    def start() -> Hub:
        hub = Hub(Path(shutil.copytree(hub_files, tmp_path / f"served-{len(servers)}")))
        servers.append(hub.server)
        return hub

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def edit_index(root: Path, change) -> None:
    index = json.loads((root / INDEX).read_text())
    change(index["models"][0])
    (root / INDEX).write_text(json.dumps(index))


def pin_manifest(root: Path) -> None:
    """Make the index agree with an edited manifest again, as a hostile hub would."""
    manifest = root / NAME / "manifest.json"
    edit_index(root, lambda m: (m.update(manifest_sha256=sha256_file(manifest)),
                                m["files"]["manifest.json"].update(sha256=sha256_file(manifest),
                                                                    bytes=manifest.stat().st_size),
                                m.update(bytes=sum(f["bytes"] for f in m["files"].values()))))


def cache_is_clean(home: Path) -> bool:
    """Nothing of a bundle in the cache: at most the lock file of the pull that was refused."""
    return not home.exists() or [p.name for p in home.iterdir()] == [".lock"]


def test_the_bundle_carries_its_weights_and_their_config(tiny_bundle, tiny_run):
    bundle = open_bundle(tiny_bundle(NAME))
    assert bundle.manifest["pytorch"] == {"weights": "weights.safetensors", "config": "config.json"}
    weights = bundle.path / "weights.safetensors"
    assert weights.read_bytes() == (tiny_run(NAME).path / "weights.safetensors").read_bytes()
    assert bundle.manifest["files"]["weights.safetensors"] == sha256_file(weights)
    config = json.loads((bundle.path / "config.json").read_text())
    assert config["model"] == NAME and config["config"] == tiny_run(NAME).config
    record = tiny_run(NAME).record["data"]
    assert config["data"] == {"name": "digits", "layout": "image", "sample_shape": [1, 8, 8], "num_classes": 10,
                              "class_names": list("0123456789"), "modality": "image",
                              "splits": {"train": 1257, "val": 180, "test": 360}, "sha256": record["sha256"],
                              "preprocessing": record["preprocessing"]}
    assert bundle.manifest["preprocessing"] == record["preprocessing"]  # what a deployer feeds the graph
    assert bundle.manifest["preprocessing"]["class_names"] == list("0123456789")


@pytest.mark.parametrize("command", ["assess", "evaluate"])
def test_a_bundle_is_never_taken_for_a_run(tiny_bundle, tmp_path, command):
    """Its config.json is not a run record: commands that take a run refuse it, and write nothing into it
    (`zoo card BUNDLE` is the bundle's own command and writes its card)."""
    bundle = TINY_RUNS.copy_bundle(NAME, tmp_path / "bundle")
    before = sorted(p.relative_to(bundle) for p in bundle.rglob("*"))
    result = invoke_zoo(command, str(bundle))
    assert result.code == 2 and one_error_line(result.err) == (
        f"error: {bundle} is a bundle, not a run: give the run it was exported from (zoo train writes one)")
    assert sorted(p.relative_to(bundle) for p in bundle.rglob("*")) == before


def test_the_index_takes_every_fact_from_the_manifest_and_the_card(hub_files, tiny_run, tmp_path):
    [entry] = json.loads((hub_files / INDEX).read_text())["models"]
    bundle = hub_files / NAME
    manifest = open_bundle(bundle).manifest
    on_disk = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
    assert sorted(entry["files"]) == on_disk and "card/card.md" in on_disk
    assert all(entry["files"][n]["sha256"] == sha256_file(bundle / n) for n in on_disk)
    assert entry["bytes"] == sum((bundle / n).stat().st_size for n in on_disk)
    assert entry["manifest_sha256"] == sha256_file(bundle / "manifest.json")
    assert entry["weights"] == {"file": "weights.safetensors", "sha256": manifest["files"]["weights.safetensors"]}
    metrics = tiny_run(NAME).metrics()["metrics"]
    assert entry["metric"] == {"key": "accuracy", "value": metrics["accuracy"], "split": "test", "level": 0.95,
                               "interval": metrics["confidence_intervals"]["accuracy"]}
    assert entry["card"] == {"md": "card/card.md", "json": "card/card.json"}
    assert (entry["family"], entry["task"], entry["dataset"], entry["signed"]) == ("cnn", "classification", "digits",
                                                                                   False)

    from zoo.hub.index import build_index  # a card of another export of the model is not this bundle's card

    stale = Path(shutil.copytree(bundle, tmp_path / "exports" / NAME))
    card = json.loads((stale / "card" / "card.json").read_text())
    card["bundle"]["files"][[f["file"] for f in card["bundle"]["files"]].index("model.onnx")]["sha256"] = "0" * 64
    (stale / "card" / "card.json").write_text(json.dumps(card))
    index, notes = build_index(tmp_path / "exports")
    assert index["models"][0]["metric"] is None and index["models"][0]["card"] == {}
    assert notes == [f"{NAME}: no card facts in the index: {stale / 'card' / 'card.json'}: not the card of this "
                     f"export (another model, or checksums that differ)"]


def test_pull_over_http_then_pretrained_and_predict_by_name(home, serve, tiny_run, tmp_path):
    hub = serve()
    first = invoke_zoo("pull", hub.url, "--json")
    assert first.code == 0, first.err
    [row] = json.loads(first.out)["models"]
    assert row["status"] == "pulled" and Path(row["bundle"]) == home / NAME
    assert sorted(p.name for p in home.iterdir()) == [".lock", NAME, INDEX]
    assert (home / NAME / "card" / "card.md").read_text() == (hub.root / NAME / "card" / "card.md").read_text()
    assert len(hub.bundle_requests()) == len(json.loads((hub.root / INDEX).read_text())["models"][0]["files"])

    hub.requests.clear()
    second = invoke_zoo("pull", hub.url, NAME)
    assert second.code == 0 and second.out.splitlines()[1].split()[:2] == [NAME, "cached"]
    assert hub.bundle_requests() == [] and hub.requests == ["/hub/index.json"]

    listed = {m["name"]: m["weights"] for m in json.loads(invoke_zoo("list", "--json").out)}
    assert listed[NAME] == "cache" and listed["rnn-digits"] is None

    from zoo.models import evaluate_model, load_model_data

    model = zoo.create_model(NAME, pretrained=True)
    assert not model.training
    spec = zoo.get_model(NAME)
    data = load_model_data(spec)
    metrics = evaluate_model(spec, model, data, tiny_run(NAME).config)
    assert metrics["accuracy"] == tiny_run(NAME).metrics()["metrics"]["accuracy"]

    np.save(tmp_path / "x.npy", data.test.x[:5])
    by_name = invoke_zoo("predict", NAME, str(tmp_path / "x.npy"), "--raw", "--out", str(tmp_path / "y.npy"))
    assert by_name.code == 0, by_name.err
    import torch

    with torch.no_grad():
        want = model(torch.from_numpy(data.test.x[:5])).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, atol=1e-5, rtol=1e-4)


def test_predict_by_name_and_list_stay_torch_free(home, serve, tmp_path, without_torch):
    assert invoke_zoo("pull", serve().url).code == 0
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 8, 8), np.float32))
    env = {**without_torch, "ZOO_HOME": str(home)}
    predicted = run_zoo("predict", NAME, str(tmp_path / "x.npy"), "--raw", env=env)
    assert predicted.code == 0 and "output  float32  (2, 10)" in predicted.out, predicted.err
    answered = run_zoo("predict", NAME, str(tmp_path / "x.npy"), "--json", env=env)
    assert answered.code == 0 and [a["input"] for a in json.loads(answered.out)] == ["x.npy[0]", "x.npy[1]"]
    listed = run_zoo("list", NAME, env=env)
    assert listed.code == 0 and listed.out.splitlines()[1].split()[5] == "cache", listed.err


@pytest.mark.parametrize("file", ["model.onnx", "weights.safetensors", "manifest.json"])
def test_a_tampered_file_on_the_server_is_refused_and_nothing_lands_in_the_cache(home, serve, file):
    hub = serve()
    path = hub.root / NAME / file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    result = invoke_zoo("pull", hub.url)
    line = one_error_line(result.err)  # the manifest (read whole) and the streamed files: one text
    assert result.code == 2 and line.endswith(f"/{NAME}/{file}: checksum mismatch with the hub's index "
                                              f"(tampered with or damaged)")
    assert cache_is_clean(home)


@pytest.mark.parametrize("where, change, named", [
    ("index", lambda m: m.update(bundle="../x"), "bundle folder '../x' is outside the zoo"),
    ("index", lambda m: m["files"].update({"/etc/passwd": {"sha256": "0" * 64, "bytes": 1}}),
     "file '/etc/passwd' is outside the bundle"),
    ("index", lambda m: m["files"].update({"card\\card.md": {"sha256": "0" * 64, "bytes": 1}}),
     "file 'card\\\\card.md' is outside the bundle (bundle paths use '/'"),
    ("manifest", lambda m: m["files"].update({"../x": "0" * 64}), "checksummed file '../x' is outside the bundle"),
    ("manifest", lambda m: m["graphs"][0].update(file="/etc/passwd"), "graph 'model' file '/etc/passwd' is outside"),
    ("index", lambda m: m["files"].update({"card/\ud800": {"sha256": "0" * 64, "bytes": 0}}),
     "file 'card/\\ud800' is not a file name (not UTF-8)"),
    ("manifest", lambda m: m["files"].update({"\ud800": "0" * 64}), "damaged manifest (a path that is not UTF-8)"),
])
def test_a_path_outside_the_bundle_is_refused_before_anything_is_written(home, serve, where, change, named):
    hub = serve()
    if where == "index":
        edit_index(hub.root, change)
    else:
        manifest = json.loads((hub.root / NAME / "manifest.json").read_text())
        change(manifest)
        (hub.root / NAME / "manifest.json").write_text(json.dumps(manifest))
        pin_manifest(hub.root)
    result = invoke_zoo("pull", hub.url)
    assert result.code == 2 and named in one_error_line(result.err)
    assert not home.exists()


@pytest.mark.parametrize("how", ["truncate", "drop"])
def test_an_interrupted_download_leaves_the_cache_clean(home, serve, how):
    hub = serve()
    getattr(hub, how).add(f"{NAME}/weights.safetensors")
    result = invoke_zoo("pull", hub.url)
    assert result.code == 1 and "broke off" in one_error_line(result.err)
    assert cache_is_clean(home)
    getattr(hub, how).clear()
    assert invoke_zoo("pull", hub.url).code == 0 and open_bundle(home / NAME)


def test_ctrl_c_mid_pull_leaves_nothing_and_a_killed_pull_is_swept(home, hub_files, monkeypatch):
    import zoo.hub.pull as pulling

    real, calls = pulling.fetch, []

    def interrupted(*args):
        calls.append(args[1])
        if len(calls) == 3:
            raise KeyboardInterrupt
        real(*args)

    monkeypatch.setattr(pulling, "fetch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pulling.pull(str(hub_files))
    assert cache_is_clean(home)
    monkeypatch.setattr(pulling, "fetch", real)
    (home / f"{pulling.TMP_PREFIX}{NAME}-killed").mkdir()  # what a kill -9 would leave
    assert [r["status"] for r in pulling.pull(str(hub_files))] == ["pulled"]
    assert sorted(p.name for p in home.iterdir()) == [".lock", NAME, INDEX]


def test_a_cached_copy_whose_card_changed_is_fetched_again_through_a_swept_folder(home, hub_files, monkeypatch):
    """The card and bundle.sig are not in the manifest: a cached copy is checked against the index for them too;
    a bundle is fetched into a folder that the next pull sweeps if this one is killed."""
    import zoo.hub.pull as pulling

    real, staged = pulling.fetch, set()

    def recording(source, relative, dest, facts):
        staged.add(dest.relative_to(home).parts[0])
        real(source, relative, dest, facts)

    monkeypatch.setattr(pulling, "fetch", recording)
    assert [r["status"] for r in pulling.pull(str(hub_files))] == ["pulled"]
    assert len(staged) == 1 and next(iter(staged)).startswith(f"{pulling.TMP_PREFIX}{NAME}-")
    assert [r["status"] for r in pulling.pull(str(hub_files))] == ["cached"]
    card = home / NAME / "card" / "card.md"
    card.write_text("changed")
    assert [r["status"] for r in pulling.pull(str(hub_files))] == ["pulled"]
    assert card.read_text() == (hub_files / NAME / "card" / "card.md").read_text()


def test_changed_weights_are_never_loaded(home, hub_files):
    assert invoke_zoo("pull", str(hub_files)).code == 0
    weights = home / NAME / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(zoo.ZooError, match="weights.safetensors: checksum mismatch"):
        zoo.create_model(NAME, pretrained=True)
    resign(home / NAME)  # the manifest made to agree ...
    with pytest.raises(zoo.ZooError, match="not the manifest .* pins"):  # ... is not the one the index pins
        zoo.create_model(NAME, pretrained=True)
    edit_index(home, lambda m: m.update(manifest_sha256=sha256_file(home / NAME / "manifest.json")))
    with pytest.raises(zoo.ZooError, match="manifest_sha256 differs"):
        zoo.create_model(NAME, pretrained=True)


def test_weights_load_with_strict_keys_even_when_every_checksum_agrees(home, hub_files):
    from zoo.hub.index import describe

    assert invoke_zoo("pull", str(hub_files)).code == 0
    config = json.loads((home / NAME / "config.json").read_text())
    config["config"]["hidden"] = 8  # a consistent republish of the wrong network: index, manifest, files agree
    (home / NAME / "config.json").write_text(json.dumps(config))
    resign(home / NAME)
    index = json.loads((home / INDEX).read_text())
    index["models"] = [describe(home / NAME)[0]]
    (home / INDEX).write_text(json.dumps(index))
    with pytest.raises(zoo.ZooError, match="weights.safetensors: weights do not fit the model"):
        zoo.create_model(NAME, pretrained=True)


def test_no_published_weights_is_one_line_naming_zoo_pull(home, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 8, 8), np.float32))
    result = invoke_zoo("predict", NAME, str(tmp_path / "x.npy"))
    assert result.code == 2 and f"zoo pull SOURCE {NAME}" in one_error_line(result.err)
    with pytest.raises(zoo.ZooError, match=f"no published model '{NAME}' .*zoo pull SOURCE {NAME}"):
        zoo.create_model(NAME, pretrained=True)
    with pytest.raises(zoo.ZooError, match="pretrained=True builds the published config .* drop hidden"):
        zoo.create_model(NAME, pretrained=True, hidden=8)


def test_signed_bundles_are_checked_with_the_public_key(home, serve, tmp_path, keys):
    from zoo.bundle.signing import sign

    hub = serve()
    exports = tmp_path / "exports"
    shutil.copytree(hub.root / NAME, exports / NAME)
    sign(exports / NAME, keys["publisher"])
    write_hub(hub.root, exports, force=True)
    refused = invoke_zoo("pull", hub.url, "--public-key", str(keys["other"].with_suffix(".pub")))
    assert refused.code == 2 and "signed with another key" in one_error_line(refused.err)
    assert one_error_line(refused.err).startswith(f"error: {hub.url}/{NAME}: signature check failed")  # the hub's
    assert cache_is_clean(home)
    assert invoke_zoo("pull", hub.url, "--public-key", str(keys["publisher"].with_suffix(".pub"))).code == 0
    assert json.loads((home / INDEX).read_text())["models"][0]["signed"] is True


def test_the_index_never_calls_a_bundle_signed_whose_signature_no_longer_covers_it(hub_files, tmp_path, keys):
    from zoo.bundle.signing import sign
    from zoo.hub.index import build_index

    exports = tmp_path / "exports"
    shutil.copytree(hub_files / NAME, exports / NAME)
    sign(exports / NAME, keys["publisher"])
    index, notes = build_index(exports)
    assert notes == [] and index["models"][0]["signed"] is True
    (exports / NAME / "card" / "notes.txt").write_text("added after signing\n")
    index, notes = build_index(exports)
    assert index["models"] == [] and notes == [
        f"{NAME}: left out of the index: {exports / NAME}: its signature no longer covers its files (added since "
        f"signing: card/notes.txt); sign it again (zoo sign) or remove bundle.sig"]
    result = invoke_zoo("hub", str(tmp_path / "site"), "--exports", str(exports))
    assert result.code == 2 and "its signature no longer covers its files" in result.err


def test_a_bundle_whose_card_is_only_markdown_is_indexed_with_a_line_saying_what_is_missing(hub_files, tmp_path):
    from zoo.hub.index import build_index

    exports = tmp_path / "exports"
    shutil.copytree(hub_files / NAME, exports / NAME)
    (exports / NAME / "card" / "card.json").unlink()
    index, notes = build_index(exports)
    assert [m["metric"] for m in index["models"]] == [None]
    assert notes == [f"{NAME}: no card facts in the index: its card is in card.md only, and the index reads a "
                     f"card's facts (metric, parameters, parity) from its JSON: write it with `zoo card {NAME} "
                     f"--format json` (and sign the bundle again if it is signed)"]


def test_pull_from_a_folder_that_does_not_exist_says_so(home, tmp_path):
    result = invoke_zoo("pull", str(tmp_path / "nowhere"))
    assert result.code == 2 and one_error_line(result.err) == (
        f"error: {tmp_path / 'nowhere'}: no such folder; give a hub folder (zoo hub DIR writes one) or an "
        f"http(s):// URL")


def test_zoo_hub_refuses_to_overwrite_and_unknown_names_are_one_line(home, hub_files, tmp_path):
    exports = hub_files.parent / "exports"
    result = invoke_zoo("hub", str(hub_files), "--exports", str(exports))
    assert result.code == 2 and "--force" in one_error_line(result.err)
    result = invoke_zoo("pull", str(hub_files), "cnn-digitz")
    assert result.code == 2 and "unknown model 'cnn-digitz' (did you mean 'cnn-digits'?)" in one_error_line(result.err)
    assert not home.exists()


def test_zoo_hub_with_no_bundle_is_one_line_and_keeps_the_old_hub(hub_files, tmp_path):
    """A folder holding no bundle (here one bundle itself) is refused, even with --force: no empty hub."""
    before = sorted(p.relative_to(hub_files) for p in hub_files.rglob("*"))
    for exports, says in ((hub_files.parent / "exports" / NAME, " (it is one bundle: give the folder that holds it)"),
                          (tmp_path, "")):
        result = invoke_zoo("hub", str(hub_files), "--exports", str(exports), "--force")
        assert result.code == 2 and one_error_line(result.err) == f"error: {exports}: no bundle to serve{says}"
    assert sorted(p.relative_to(hub_files) for p in hub_files.rglob("*")) == before


@pytest.mark.parametrize("field", ["name", "bundle"])
def test_a_name_the_cache_uses_itself_is_refused(home, hub_files, tmp_path, field):
    hub = Path(shutil.copytree(hub_files, tmp_path / "hub"))
    edit_index(hub, lambda m: m.update({field: INDEX}))  # a bundle folder where the cache's index.json is
    result = invoke_zoo("pull", str(hub))
    what = {"name": "model name", "bundle": "bundle folder"}[field]
    assert result.code == 2 and f"{what} 'index.json' is a name the zoo uses itself" in one_error_line(result.err)
    edit_index(hub, lambda m: m.update({field: "x" * 201}))  # no room for the temporary names made from it
    result = invoke_zoo("pull", str(hub))
    assert result.code == 2 and "is longer than 200 bytes" in one_error_line(result.err)
    assert not home.exists()


def test_a_damaged_cache_index_is_one_line_and_zoo_list_keeps_the_other_zoo(home, hub_files, tmp_path, monkeypatch):
    (home / INDEX).mkdir(parents=True)  # what pulling a model named index.json used to leave
    monkeypatch.setattr(zoo.hub, "builtin_root", lambda: hub_files)
    unreadable = f"{home / INDEX}: cannot be read (IsADirectoryError"
    for args in (("pull", str(hub_files)), ("predict", NAME, str(tmp_path / "x.npy"))):
        result = invoke_zoo(*args)
        assert result.code == 2 and unreadable in one_error_line(result.err)
        if args[0] == "pull":  # the way out, said; the damaged index is the user's to move, never removed
            assert one_error_line(result.err).endswith("; move it away and pull again (the models it listed are "
                                                       "then pulled afresh)")
    warned: list[str] = []
    assert zoo.hub.weights_status(warn=warned.append) == {NAME: "builtin"}  # zoo list's WEIGHTS column
    assert len(warned) == 1 and warned[0].startswith(unreadable)
    assert warned[0].endswith("; the models of the cache zoo are left out")
    with pytest.raises(HubError, match=re.escape(unreadable)):
        zoo.hub.weights_status()
    listed = invoke_zoo("list", NAME)
    assert listed.code == 0 and listed.out.splitlines()[1].split()[5] == "builtin"
    assert listed.err.startswith(f"warning: {unreadable}") and len(listed.err.splitlines()) == 1
    (home / INDEX).rmdir()
    nameless = json.dumps({"schema": SCHEMA, "models": [{"name": ["x"]}]})
    for text, problem in [("[" * 100_000, "damaged index (RecursionError"),
                          (nameless, "damaged index (a model without a name)")]:
        (home / INDEX).write_text(text)
        with pytest.raises(HubError, match=re.escape(f"{home / INDEX}: {problem}")):
            zoo.hub.read_index(home)
    assert (home / INDEX).read_text() == text  # nothing of the damaged cache is removed


def test_sizes_are_bounded_before_anything_is_fetched(home, serve, monkeypatch):
    import zoo.hub.pull as pulling

    hub = serve()
    entry = json.loads((hub.root / INDEX).read_text())["models"][0]
    edit_index(hub.root, lambda m: m.update(bytes=m["bytes"] + 1))
    result = invoke_zoo("pull", hub.url)
    assert result.code == 2 and "its 'bytes' (" in one_error_line(result.err)
    assert "is not the sum of its files' sizes" in result.err
    edit_index(hub.root, lambda m: m.update(bytes=entry["bytes"]))
    with pytest.raises(HubError, match=f"total {entry['bytes']} bytes, more than the {entry['bytes'] - 1} allowed"):
        pulling.pull(hub.url, max_bytes=entry["bytes"] - 1)
    limit = pulling.MANIFEST_LIMIT
    monkeypatch.setattr(pulling, "MANIFEST_LIMIT", entry["files"]["manifest.json"]["bytes"] - 1)
    with pytest.raises(HubError, match="more than the .* a manifest may have"):
        pulling.pull(hub.url)
    assert hub.bundle_requests() == [] and not home.exists()
    monkeypatch.setattr(pulling, "MANIFEST_LIMIT", limit)
    assert [r["status"] for r in pulling.pull(hub.url, max_bytes=entry["bytes"])] == ["pulled"]
    assert [r["status"] for r in pulling.pull(hub.url, max_bytes=0)] == ["cached"]  # nothing to download
    (home / NAME / "config.json").write_text("changed")  # a damaged copy fetched again counts too
    with pytest.raises(HubError, match="damaged in the cache; fetching it again .* more than the 0 allowed"):
        pulling.pull(hub.url, max_bytes=0)
    assert (home / NAME / "config.json").read_text() == "changed"


def test_a_hub_file_that_is_not_a_plain_file_is_refused_without_hanging(home, hub_files, tmp_path):
    hub = Path(shutil.copytree(hub_files, tmp_path / "hub"))
    (hub / NAME / "model.onnx").unlink()
    os.mkfifo(hub / NAME / "model.onnx")  # opening it for reading would wait for a writer forever
    result = invoke_zoo("pull", str(hub))
    assert result.code == 2 and f"{NAME}/model.onnx: not a plain file" in one_error_line(result.err)
    assert cache_is_clean(home)


def test_long_names_and_an_unusable_cache_are_one_line_naming_the_path(home, hub_files, tmp_path):
    from zoo.hub.pull import Source, fetch

    hub = Path(shutil.copytree(hub_files, tmp_path / "hub"))
    long = f"card/{'x' * 300}"
    edit_index(hub, lambda m: m["files"].update({long: {"sha256": "0" * 64, "bytes": 0}}))
    result = invoke_zoo("pull", str(hub))
    assert result.code == 2 and f"file {long[:60]!r}... has a name longer than 255 bytes" in one_error_line(result.err)
    assert not home.exists()
    facts = json.loads((hub / INDEX).read_text())["models"][0]["files"]["model.onnx"]
    with pytest.raises(HubError, match=re.escape(f"{tmp_path / ('y' * 300)}: cannot be written in the cache "
                                                 f"(OSError: [Errno 36]")):
        fetch(Source(str(hub)), f"{NAME}/model.onnx", tmp_path / ("y" * 300), facts)
    home.parent.mkdir(exist_ok=True)
    home.write_text("not a folder")
    result = invoke_zoo("pull", str(hub_files))
    assert result.code == 2 and f"{home}: the cache cannot be used (FileExistsError" in one_error_line(result.err)
    assert home.read_text() == "not a folder"


@pytest.mark.parametrize("typed", [".", ".."])
def test_zoo_hub_refuses_the_current_folder_and_those_above_it(hub_files, tmp_path, monkeypatch, typed):
    here = tmp_path / "site" / "sub"
    here.mkdir(parents=True)
    (here / "keep").write_text("mine")
    monkeypatch.chdir(here)
    result = invoke_zoo("hub", typed, "--exports", str(hub_files.parent / "exports"), "--force")
    assert result.code == 2 and "zoo hub replaces its DIR whole" in one_error_line(result.err)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["keep", "site", "sub"]  # no ..old- or .tmp- folder


def test_builtin_zoo_pretrained_matches_card(tmp_path, monkeypatch):
    """The committed zoo: a fresh clone predicts and loads cnn-digits without training, at its card's accuracy."""
    import torch

    from zoo.models import evaluate_model, load_model_data

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "empty-cache"))
    card = json.loads((ROOT / "cards" / f"{NAME}.json").read_text())
    index = {m["name"]: m for m in json.loads((ROOT / "exports" / INDEX).read_text())["models"]}
    stated = card["metrics"]["values"]["accuracy"]
    assert index[NAME]["metric"]["value"] == stated and index[NAME]["weights"]

    model = zoo.create_model(NAME, pretrained=True)
    spec = zoo.get_model(NAME)
    data = load_model_data(spec)
    config = json.loads((ROOT / "exports" / NAME / "config.json").read_text())["config"]
    assert evaluate_model(spec, model, data, config)["accuracy"] == stated

    np.save(tmp_path / "x.npy", data.test.x)
    result = invoke_zoo("predict", NAME, str(tmp_path / "x.npy"), "--raw", "--out", str(tmp_path / "y.npy"))
    assert result.code == 0, result.err
    with torch.no_grad():
        want = model(torch.from_numpy(data.test.x)).argmax(1).numpy()
    got = np.load(tmp_path / "y.npy").argmax(1)
    np.testing.assert_array_equal(got, want)
    assert (got == data.test.y).mean() == stated


def test_the_committed_zoo_stays_under_16_mb():
    """A fresh clone carries every bundle the index names and no more than 16 MB of them (10 MB until the UCR/UEA
    archive's models joined, issue 23)
    (benchmarks/zoo_size.py says where the bytes go)."""
    exports = ROOT / "exports"
    index = json.loads((exports / INDEX).read_text())
    named = {m["bundle"] for m in index["models"]}
    assert named == {p.name for p in exports.iterdir() if p.is_dir()}
    total = sum(p.stat().st_size for p in exports.rglob("*") if p.is_file())
    assert total < 16_000_000, f"exports/ holds {total:,} bytes"
