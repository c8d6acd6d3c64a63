"""Plugin discovery through entry points, isolation of broken plugins, and the registry CLI.

Queries of the installed plugins run the CLI in-process (``invoke_zoo``); a fake distribution on
PYTHONPATH, pip, and the torch-free `zoo list` need a process of their own (``run_zoo``).
"""
from __future__ import annotations

import fnmatch
import json
import subprocess
import sys

import pytest

from conftest import ROOT, good_plugin, invoke_zoo, one_error_line, run_zoo, tiny_args

BUILTIN = {"core", "digits", "cnn", "rnn", "autoencoder", "gan"}


def test_builtins_come_through_entry_points():
    result = invoke_zoo("plugins", "--json")
    assert result.code == 0, result.err
    plugins = {p["name"]: p for p in json.loads(result.out)}
    assert BUILTIN <= set(plugins)
    for name in BUILTIN - {"core"}:
        assert plugins[name]["distribution"] == "zoo"
        assert plugins[name]["status"] == "ok"
    assert "zoo_build" in plugins["cnn"]["hooks"] and "zoo_datasets" in plugins["digits"]["hooks"]
    assert set(plugins["cnn"]) == {"name", "distribution", "version", "module", "hooks", "status", "card", "conflicts",
                                   "deprecations"}


def test_list_json_schema_and_filters():
    models = json.loads(invoke_zoo("list", "--json").out)
    assert {"cnn-digits"} <= {m["name"] for m in models}
    for model in models:
        assert {"name", "family", "task", "dataset", "plugin", "summary"} <= set(model)
    names = [m["name"] for m in models]
    cnn = [m["name"] for m in json.loads(invoke_zoo("list", "cnn-*", "--json").out)]
    assert "cnn-digits" in cnn and cnn == [n for n in names if fnmatch.fnmatchcase(n, "cnn-*")]
    both = [m["name"] for m in json.loads(invoke_zoo("list", "?nn-digits", "--json").out)]
    assert sorted(both) == ["cnn-digits", "rnn-digits"]
    by_task = json.loads(invoke_zoo("list", "--task", "classification", "--json").out)
    assert by_task and all(m["task"] == "classification" for m in by_task)
    assert json.loads(invoke_zoo("list", "--family", "nope", "--json").out) == []


def test_info_json_has_config_dataset_and_plugin():
    result = invoke_zoo("info", "cnn-digits", "--json")
    assert result.code == 0, result.err
    info = json.loads(result.out)
    assert info["name"] == "cnn-digits" and info["plugin"] == "cnn"
    assert info["default_config"]["epochs"] >= 1
    assert info["dataset_info"]["name"] == "digits" and info["dataset_info"]["num_classes"] == 10
    assert info["plugin_info"]["distribution"] == "zoo"
    human = invoke_zoo("info", "cnn-digits")
    assert "Default config" in human.out and "batch_size" in human.out


def test_unknown_model_is_one_line_exit_2():
    result = invoke_zoo("info", "cnnn")
    assert result.code == 2
    assert one_error_line(result.err) == "error: unknown model 'cnnn' (did you mean 'cnn-digits'?)"
    assert result.out == ""


def test_third_party_plugin_discovered(plugin_site):
    plugin_site.add("zoo-toy", "zoo_toy", good_plugin("toy-model"))
    models = json.loads(run_zoo("list", "--json", env=plugin_site.env).out)
    toy = next(m for m in models if m["name"] == "toy-model")
    assert toy["plugin"] == "zoo_toy" and toy["family"] == "toy"
    plugins = {p["name"]: p for p in json.loads(run_zoo("plugins", "--json", env=plugin_site.env).out)}
    assert plugins["zoo_toy"]["distribution"] == "zoo-toy" and plugins["zoo_toy"]["version"] == "0.1.0"


def _broken_case(plugin_site, source: str, expected: str):
    plugin_site.add("zoo-bad", "zoo_bad", source)
    listing = run_zoo("list", "--json", env=plugin_site.env)
    assert listing.code == 0, listing.err
    assert "cnn-digits" in {m["name"] for m in json.loads(listing.out)}, "other plugins must keep working"
    warnings = [line for line in listing.err.splitlines() if "zoo_bad" in line]
    assert len(warnings) == 1 and expected in warnings[0], listing.err
    plugins = {p["name"]: p for p in json.loads(run_zoo("plugins", "--json", env=plugin_site.env).out)}
    assert plugins["zoo_bad"]["status"].startswith("broken:") and expected in plugins["zoo_bad"]["status"]
    assert plugins["cnn"]["status"] == "ok"
    assert run_zoo("--help", env=plugin_site.env).code == 0


def test_plugin_that_fails_to_import_is_isolated(plugin_site):
    _broken_case(plugin_site, "import does_not_exist_anywhere\n", "import failed: ModuleNotFoundError")


def test_plugin_that_exits_at_import_is_isolated(plugin_site):
    _broken_case(plugin_site, "import sys\nsys.exit(3)\n", "import failed: SystemExit")


def test_plugin_whose_hook_raises_is_isolated(plugin_site):
    source = "from zoo import hookimpl\n@hookimpl\ndef zoo_models():\n    raise RuntimeError('boom')\n"
    _broken_case(plugin_site, source, "zoo_models() failed: RuntimeError: boom")


def test_plugin_returning_malformed_specs_is_isolated(plugin_site):
    source = "from zoo import hookimpl\n@hookimpl\ndef zoo_models():\n    return [{'name': 'x'}]\n"
    _broken_case(plugin_site, source, "expected ModelSpec")


def test_plugin_with_invalid_spec_field_is_isolated(plugin_site):
    source = good_plugin("bad-task").replace('task="classification"', 'task="dreaming"')
    _broken_case(plugin_site, source, "task 'dreaming' is not one of")


def test_misspelt_hook_marks_plugin_broken(plugin_site):
    source = good_plugin("typo-model").replace("def zoo_models", "def zoo_modles")
    _broken_case(plugin_site, source, "hook 'zoo_modles' matches no hookspec")


def test_duplicate_model_names_name_both_plugins(plugin_site):
    plugin_site.add("zoo-one", "zoo_one", good_plugin("twin"))
    plugin_site.add("zoo-two", "zoo_two", good_plugin("twin"))
    listing = run_zoo("list", "--json", env=plugin_site.env)
    assert listing.code == 0
    assert "twin" not in {m["name"] for m in json.loads(listing.out)}
    assert "'zoo_one' and 'zoo_two'" in listing.err
    info = run_zoo("info", "twin", env=plugin_site.env)
    assert info.code == 2 and "'zoo_one' and 'zoo_two'" in info.err and "ZOO_DISABLE_PLUGINS" in info.err
    fixed = run_zoo("info", "twin", "--json", env={**plugin_site.env, "ZOO_DISABLE_PLUGINS": "zoo_two"})
    assert fixed.code == 0 and json.loads(fixed.out)["plugin"] == "zoo_one"


def test_disabling_plugins_by_name():
    result = invoke_zoo("plugins", "--json", env={"ZOO_DISABLE_PLUGINS": "cnn, rnn"})
    statuses = {p["name"]: p["status"] for p in json.loads(result.out)}
    assert statuses["cnn"].startswith("disabled") and statuses["rnn"].startswith("disabled")
    assert statuses["gan"] == "ok"
    models = json.loads(invoke_zoo("list", "--json", env={"ZOO_DISABLE_PLUGINS": "cnn"}).out)
    assert not any(m["family"] == "cnn" for m in models) and any(m["family"] == "rnn" for m in models)
    disabled = invoke_zoo("info", "cnn-digits", env={"ZOO_DISABLE_PLUGINS": "cnn"})
    assert disabled.code == 2 and "unknown model 'cnn-digits'" in one_error_line(disabled.err)
    assert json.loads(invoke_zoo("info", "cnn-digits", "--json").out)["plugin"] == "cnn", "enabled again"


def test_zoo_list_does_not_import_torch():
    code = ("import sys\nfrom zoo.cli import cli\n"
            "try:\n    cli(['list', '--json'], standalone_mode=False)\nfinally:\n"
            "    print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "NO-TORCH"


def test_help_and_version_everywhere():
    from zoo.cli import cli

    assert invoke_zoo("--version").out.startswith("zoo, version")
    top = invoke_zoo("--help")
    assert top.code == 0 and "Examples:" in top.out
    assert len(cli.commands) >= 10
    for command in cli.commands:
        assert command in top.out, f"zoo --help lists {command}"
        result = invoke_zoo(command, "--help")
        assert result.code == 0 and result.err == "", command
        assert result.out.startswith(f"Usage: zoo {command} "), command
        assert "\n  Examples:\n" in result.out, f"zoo {command} --help has an Examples: block"
        examples = result.out.split("\n  Examples:\n", 1)[1].split("\n\n")[0]
        assert f"    zoo {command}" in examples, f"zoo {command}'s examples show zoo {command}"


@pytest.mark.slow
def test_example_plugin_installed_with_pip(tmp_path):
    """The third-party example, installed for real, appears in `zoo list` and trains."""
    target = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--target", str(target), str(ROOT / "examples" / "zoo-mlp")],
                         capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    env = {"PYTHONPATH": str(target)}
    models = {m["name"]: m for m in json.loads(run_zoo("list", "--json", env=env).out)}
    assert models["mlp-digits"]["plugin"] == "mlp"
    plugins = {p["name"]: p for p in json.loads(run_zoo("plugins", "--json", env=env).out)}
    assert plugins["mlp"]["distribution"] == "zoo-mlp" and plugins["mlp"]["status"] == "ok"
    assert plugins["mlp"]["card"]["complete"] is True, plugins["mlp"]["card"]
    trained = run_zoo("train", "mlp-digits", "--epochs", "2", "--out", str(tmp_path / "run"), "--json", env=env)
    assert trained.code == 0, trained.err
    assert json.loads(trained.out)["metrics"]["accuracy"] > 0.5


@pytest.mark.slow
def test_a_plugin_can_wrap_another_plugins_training(plugin_site, tmp_path):
    """The documented wrapper use: a tracker sees every training run's history."""
    log = tmp_path / "tracked.txt"
    plugin_site.add("zoo-tracker", "zoo_tracker", f"""
from zoo import hookimpl

@hookimpl(wrapper=True)
def zoo_train(spec, model, data, config, context):
    history = yield
    with open({str(log)!r}, "a") as handle:
        handle.write(f"{{spec.name}} {{len(history)}}\\n")
    return history
""")
    result = run_zoo("train", "cnn-digits", *tiny_args("cnn-digits", epochs=2), "--out", str(tmp_path / "run"),
                     env=plugin_site.env)
    assert result.code == 0, result.err
    assert log.read_text() == "cnn-digits 2\n"
