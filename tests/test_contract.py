"""The plugin contract v2: a model is answered by the plugin that declares it; the contract is
checked where it is declared; graphs say their role; plugins import only the plugin API.

Plugins here are real distributions on a real sys.path entry (entry points found by
importlib.metadata); the CLI runs in-process with click's CliRunner.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import zoo
import zoo.plugins
from conftest import ROOT, PluginSite, good_plugin

CONFIG = '{"epochs": 1, "batch_size": 32, "lr": 0.01, "seed": 0}'
# A build hook with no family check: a linear classifier for any model it is asked about.
LINEAR_BUILD = """@hookimpl
def zoo_build(spec, config, info):
    from math import prod
    from torch import nn
    return nn.Sequential(nn.Flatten(), nn.Linear(prod(info.sample_shape), info.num_classes))
"""

# Answers zoo_build (and zoo_model_card) for every model, with no family check: under the old
# contract the newest install won for every model in the zoo.
HIJACKER = f"""
from zoo import ModelSpec, hookimpl

@hookimpl
def zoo_models():
    return [ModelSpec(name="greedy-digits", family="greedy", task="classification", dataset="digits",
                      summary="answers every hook for everyone", default_config={CONFIG})]

{LINEAR_BUILD}
@hookimpl
def zoo_model_card(spec):
    return {{"description": "hijacked"}}
"""

BUILDS_NOTHING = f"""
from zoo import ModelSpec, hookimpl

@hookimpl
def zoo_models():
    return [ModelSpec(name="empty-digits", family="empty", task="classification", dataset="digits",
                      summary="declares a model and builds nothing", default_config={CONFIG})]
"""


def invoke(*args: str):
    from zoo.cli import cli

    zoo.plugins.reset()
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


def test_a_plugin_answering_every_build_changes_no_other_plugins_model(plugin_path):
    plugin_path.add("zoo-greedy", "zoo_greedy", HIJACKER)
    from torch import nn

    from zoo_cnn.models import DigitsCNN

    assert isinstance(zoo.create_model("cnn-digits"), DigitsCNN)
    assert isinstance(zoo.create_model("lstm-digits").rnn, nn.LSTM)
    assert isinstance(zoo.create_model("greedy-digits"), nn.Sequential)  # its own model is still its own
    from zoo.cards.static import static_card

    card, problems = static_card(zoo.get_model("cnn-digits"))
    assert problems == [] and "hijacked" not in card["description"]


def test_the_owner_answers_even_when_the_other_plugin_registers_later_in_a_fresh_process(tmp_path):
    """Entry points load in name order and pluggy calls the last registered first: 'zzz' would win."""
    site = PluginSite(tmp_path)
    site.add("zoo-zzz", "zzz_greedy", HIJACKER)
    code = "import zoo; m = zoo.create_model('cnn-digits'); print(type(m).__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **site.env},
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "DigitsCNN"


def test_a_model_whose_plugin_builds_nothing_is_one_error_line(plugin_path, tmp_path):
    plugin_path.add("zoo-greedy", "zoo_greedy", HIJACKER)  # would have built it under the old contract
    plugin_path.add("zoo-empty", "zoo_empty", BUILDS_NOTHING)
    result = invoke("train", "empty-digits", "--out", str(tmp_path / "run"))
    assert result.exit_code == 1
    assert error_lines(result.output) == [
        "error: plugin 'zoo_empty' declares model 'empty-digits' but gives no zoo_build for it "
        "(zoo_build does not implement it, and the core has no default for task 'classification')"]
    assert "Traceback" not in result.output


def test_wrappers_of_every_plugin_still_run_around_the_owners_answer(plugin_path):
    plugin_path.add("zoo-greedy", "zoo_greedy", HIJACKER)
    plugin_path.add("zoo-watch", "zoo_watch", """
from zoo import hookimpl
SEEN = []

@hookimpl(wrapper=True)
def zoo_build(spec, config, info):
    model = yield
    SEEN.append((spec.name, type(model).__name__))
    return model
""")
    zoo.create_model("cnn-digits")
    import zoo_watch

    assert zoo_watch.SEEN == [("cnn-digits", "DigitsCNN")]


def test_a_family_claimed_by_two_plugins_is_reported(plugin_path):
    plugin_path.add("zoo-cnn2", "zoo_cnn2", f"""
from zoo import ModelSpec, hookimpl

@hookimpl
def zoo_models():
    return [ModelSpec(name="other-cnn", family="cnn", task="classification", dataset="digits",
                      summary="a second plugin using the family name cnn", default_config={CONFIG})]
""")
    result = invoke("plugins", "--json")
    assert result.exit_code == 0
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["zoo_cnn2"]["status"] == "ok"
    conflict = plugins["zoo_cnn2"]["conflicts"]
    assert len(conflict) == 1 and "family 'cnn' is declared by plugins 'cnn' and 'zoo_cnn2'" in conflict[0]
    assert plugins["cnn"]["conflicts"] == conflict
    table = invoke("plugins")
    assert "conflict: family 'cnn'" in table.stdout


@pytest.mark.parametrize("config, expected", [
    ('{"epochs": 1, "batch_size": 8, "lr": 0.1}', "default_config lacks 'seed'"),
    ('{"batch_size": 8, "lr": 0.1, "seed": 0}', "default_config lacks 'epochs'"),
])
def test_a_model_breaking_the_config_contract_makes_its_plugin_broken(plugin_path, config, expected):
    plugin_path.add("zoo-bad", "zoo_bad", f"""
from zoo import ModelSpec, hookimpl

@hookimpl
def zoo_models():
    return [ModelSpec(name="bad-digits", family="bad", task="classification", dataset="digits",
                      summary="breaks the config contract", default_config={config})]
""")
    result = invoke("plugins", "--json")
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["zoo_bad"]["status"].startswith("broken: zoo_models() failed: SpecError")
    assert expected in plugins["zoo_bad"]["status"]
    assert plugins["cnn"]["status"] == "ok"
    train = invoke("train", "bad-digits")  # no traceback: the model is left out, the plugin named broken
    errors = error_lines(train.output)
    assert train.exit_code == 2 and len(errors) == 1 and errors[0].startswith("error: unknown model 'bad-digits'")
    assert f"warning: plugin 'zoo_bad' is broken: zoo_models() failed: SpecError" in train.output


def test_a_plugin_written_for_the_first_contract_still_works_with_one_warning_per_problem(plugin_path, tmp_path):
    plugin_path.add("zoo-old", "zoo_old", FIRST_CONTRACT)
    keys = ("warning: plugin 'zoo_old': model 'old-digits': config keys 'width', 'depth' have no description "
            "(add them to ModelSpec.config_help; deprecated since plugin contract 2.1, refused from 3.0)")
    roles = ("warning: plugin 'zoo_old', zoo_onnx_graphs for 'old-digits': graphs 'model', 'features' name no "
             "role; 'model' is taken as the primary graph and the others as components (give each OnnxGraph a "
             "role; several graphs without roles are deprecated since plugin contract 2.1, refused from 3.0)")
    plugins = {p["name"]: p for p in json.loads(invoke("plugins", "--json").stdout)}
    assert plugins["zoo_old"]["status"] == "ok" and plugins["zoo_old"]["card"]["complete"]
    assert plugins["zoo_old"]["deprecations"] == [keys.removeprefix("warning: ")]
    listed = invoke("list", "old-*")
    assert "old-digits" in listed.stdout and listed.stderr.splitlines() == [keys]
    info = json.loads(invoke("info", "old-digits", "--json").stdout)
    assert info["config_help"]["width"] == "(no description)"
    run, bundle = tmp_path / "run", tmp_path / "bundle"
    trained = invoke("train", "old-digits", "--out", str(run))
    assert trained.exit_code == 0 and trained.stderr.count("warning:") == 1
    exported = invoke("export", str(run), "--out", str(bundle))
    assert exported.exit_code == 0, exported.output
    assert [line for line in exported.stderr.splitlines() if line.startswith("warning:")] == [keys, roles]
    verified = invoke("verify", str(bundle), "--batch-sizes", "3")
    assert verified.exit_code == 0, verified.output
    assert verified.stderr.count(roles) == 1  # said once, though every check asked for the graphs
    from zoo.bundle import open_bundle

    assert {g.name: g.role for g in open_bundle(bundle).graphs} == {"model": "primary", "features": "component"}


def test_a_plugin_that_needs_a_newer_contract_is_reported_broken_with_the_reason(plugin_path):
    plugin_path.add("zoo-future", "zoo_future", """
from zoo.hookspecs import require_contract

require_contract("2.99")
""")
    plugins = {p["name"]: p for p in json.loads(invoke("plugins", "--json").stdout)}
    assert plugins["zoo_future"]["status"] == ("broken: import failed: ContractVersionError: needs plugin "
                                               "contract 2.99, this zoo offers 2.2 (upgrade zoo)")
    assert plugins["cnn"]["status"] == "ok"


def test_info_shows_every_config_key_with_type_and_description():
    result = invoke("info", "cnn-digits")
    assert result.exit_code == 0
    rows = {line.split()[0]: line for line in result.stdout.split("Default config", 1)[1].splitlines()[2:] if line}
    spec = zoo.get_model("cnn-digits")
    assert set(rows) == set(spec.default_config)
    assert "passes over the training split" in rows["epochs"] and " int " in rows["epochs"]
    assert "output channels of each conv stage" in rows["channels"] and " list " in rows["channels"]
    described = json.loads(invoke("info", "gan-digits", "--json").stdout)["config_help"]
    assert all(described.values()) and set(described) == set(zoo.get_model("gan-digits").default_config)


ROLES_PLUGIN = f"""
from zoo import ModelSpec, hookimpl

@hookimpl
def zoo_models():
    return [ModelSpec(name="twohead-digits", family="twohead", task="classification", dataset="digits",
                      summary="declares two primary graphs", default_config={CONFIG})]

{LINEAR_BUILD}
@hookimpl
def zoo_onnx_graphs(spec, model, info, config):
    import torch
    from zoo.graphs import GraphInput, OnnxGraph
    x = torch.rand(2, *info.sample_shape)
    return [OnnxGraph("a", model, [GraphInput("input", x)], ["logits"], role="primary"),
            OnnxGraph("b", model, [GraphInput("input", x)], ["logits"], role="primary")]
"""

# A plugin written from the README of the first contract: its config keys have no descriptions and its
# two graphs name no role. Contract 2.1 deprecates both (one warning line each) and keeps it working.
FIRST_CONTRACT = """
from zoo import ModelSpec, hookimpl

@hookimpl
def zoo_models():
    return [ModelSpec(name="old-digits", family="old", task="classification", dataset="digits",
                      summary="written for the first plugin contract",
                      default_config={"epochs": 1, "batch_size": 64, "lr": 0.01, "seed": 0, "width": 16,
                                      "depth": 1})]

@hookimpl
def zoo_build(spec, config, info):
    from math import prod
    from torch import nn
    return nn.Sequential(nn.Flatten(), nn.Linear(prod(info.sample_shape), config["width"]), nn.ReLU(),
                         nn.Linear(config["width"], info.num_classes))

@hookimpl
def zoo_onnx_graphs(spec, model, info, config):
    import torch
    from zoo.graphs import GraphInput, OnnxGraph
    x = torch.rand(2, *info.sample_shape)
    return [OnnxGraph("model", model, [GraphInput("input", x)], ["logits"]),
            OnnxGraph("features", model[:3], [GraphInput("input", x)], ["features"])]

@hookimpl
def zoo_model_card(spec):
    text = "A small dense classifier written for the first plugin contract."
    return {"description": text, "intended_use": text, "out_of_scope_use": text, "data_notes": {"preprocessing": text},
            "explainability": text, "safety": {"risks": text, "misuse": text}, "limitations": text}
"""


def test_graphs_must_name_exactly_one_primary(plugin_path, tmp_path):
    plugin_path.add("zoo-twohead", "zoo_twohead", ROLES_PLUGIN)
    run = zoo.train("twohead-digits", out=tmp_path / "run")
    result = invoke("export", str(run.path), "--out", str(tmp_path / "bundle"))
    assert result.exit_code == 1
    assert error_lines(result.output) == [
        "error: plugin 'zoo_twohead', zoo_onnx_graphs for 'twohead-digits': exactly one graph must have role "
        "'primary', got 2 (a, b)"]
    assert not (tmp_path / "bundle").exists()


def test_the_primary_graph_is_what_predict_runs_by_default(tmp_path):
    from zoo.bundle import open_bundle
    from zoo.graphs import COMPONENT, PRIMARY

    from onnx_support import exported

    bundle = open_bundle(exported("ae-digits"))
    roles = {g.name: g.role for g in bundle.graphs}
    assert roles == {"model": PRIMARY, "encoder": COMPONENT, "decoder": COMPONENT}
    assert bundle.graph().name == "model"


# The modules a plugin may import: the plugin API. Everything else in zoo is internal.
def _zoo_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "zoo":
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "zoo"}
    return found


CORE_ASSESSMENTS = [ROOT / "zoo" / "assess" / "explain", ROOT / "zoo" / "assess" / "safety"]


def test_plugins_and_the_core_assessments_import_only_the_plugin_api():
    sources = [*(ROOT / "plugins").rglob("*.py"), *(ROOT / "examples").rglob("*.py"),
               *(p for folder in CORE_ASSESSMENTS for p in folder.rglob("*.py"))]
    assert len(sources) >= 20
    for source in sources:
        internal = _zoo_imports(source) - set(zoo.PLUGIN_API)
        assert not internal, f"{source.relative_to(ROOT)} imports internal modules {sorted(internal)}"


@pytest.mark.parametrize("folder", CORE_ASSESSMENTS, ids=lambda p: p.name)
def test_a_core_assessment_copied_into_a_plugin_works_unchanged(plugin_path, folder):
    """The core's assessments are the template a plugin author copies: the copy, files unchanged, imports
    only the plugin API and offers the same assessments from the plugin's own package."""
    import shutil

    copy = plugin_path.root / f"zoo_copied_{folder.name}"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for source in copy.rglob("*.py"):
        assert (folder / source.name).read_bytes() == source.read_bytes()
        assert _zoo_imports(source) <= set(zoo.PLUGIN_API), source.name
    import importlib

    copied = importlib.import_module(copy.name)
    original = importlib.import_module(f"zoo.assess.{folder.name}")
    for name in ("cnn-digits", "ae-digits", "gan-digits"):
        spec = zoo.get_model(name)
        theirs = copied.assessments(spec)
        assert [a.name for a in theirs] == [a.name for a in original.assessments(spec)]
        assert all(a.measure.__module__.startswith(copy.name) for a in theirs)


def test_no_family_guard_is_left():
    for path in [*(ROOT / "plugins").rglob("*.py"), *(ROOT / "examples").rglob("*.py"), ROOT / "README.md"]:
        assert "spec.family !=" not in path.read_text(), path
