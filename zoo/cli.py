"""The `zoo` command line: parse, call the API, print. Nothing else lives here."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

import click

from zoo import __version__
from zoo.assess import BUDGET_RANGE
from zoo.errors import CheckFailed, Interrupted, ZooError


class ZooGroup(click.Group):
    """Turns ZooError into one `error:` line and its exit status, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ZooError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            hint = f"; resume with: {exc.resume}" if isinstance(exc, Interrupted) else ""
            click.echo(f"error: interrupted{hint}", err=True)
            ctx.exit(130)


PLUGIN_FREE_COMMANDS = {"predict", "pull", "serve", "deploy", "encrypt", "keygen"}  # the deployer's paths read bundles, never the plugins


_SAID: set[str] = set()  # the warning lines this command has printed (cleared when a command starts)


def warn(line: str) -> None:
    """One ``warning:`` line on stderr, said once per command however often it comes up."""
    if line not in _SAID:
        _SAID.add(line)
        click.echo(f"warning: {line}", err=True)


def show_zoo_warnings() -> None:
    """zoo's own warnings (``zoo.errors.ZooWarning``: a deprecated part of the plugin contract, an old run's
    config completed) are one ``warning:`` line each, said once; other warnings keep Python's own handling."""
    import warnings

    from zoo.errors import ZooWarning

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, ZooWarning):
            warn(str(message))
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    warnings.simplefilter("always", ZooWarning)  # dedup is warn()'s: each problem once, wherever it arose


def report_plugin_problems() -> None:
    """Load the plugins and report each broken plugin, name conflict or deprecated use once on stderr."""
    from zoo.plugins import plugin_set

    loaded = plugin_set()
    for line in loaded.problems + loaded.deprecations:
        warn(line)


def emit_json(payload: Any) -> None:
    click.echo(json.dumps(payload, indent=2, sort_keys=False))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain left-aligned text table; the last column is never padded."""
    rows = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = []
    for row in [list(headers)] + rows:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths[:-1])] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines instead of a table.")
key_option = click.option("--key", metavar="KEY",
                          help="A recipient's X25519 private key (PEM; passphrase from ZOO_KEY_PASSPHRASE) for an "
                               "encrypted bundle: decrypted in memory only. Default: the file ZOO_DECRYPTION_KEY names.")


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="zoo")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """A plugin-based model zoo for PyTorch.

    \b
    Examples:
      zoo list                      every model of every installed plugin
      zoo train cnn-digits          train one on its built-in data
      zoo plugins                   which plugins are loaded, and their status
    """
    _SAID.clear()
    show_zoo_warnings()
    if ctx.invoked_subcommand not in PLUGIN_FREE_COMMANDS:
        report_plugin_problems()


@cli.command("list")
@click.argument("pattern", required=False)
@click.option("--family", help="Only models of this family.")
@click.option("--task", help="Only models of this task (classification, reconstruction, generation).")
@click.option("--dataset", metavar="GLOB", help="Only models of the datasets this glob names (e.g. 'ucr-*').")
@click.option("--datasets", "show_datasets", is_flag=True,
              help="List the datasets instead (PATTERN and --dataset then match their names), with their models.")
@json_option
def list_command(pattern: str | None, family: str | None, task: str | None, dataset: str | None,
                 show_datasets: bool, as_json: bool) -> None:
    """List models; PATTERN is a glob on the name.

    WEIGHTS says where published weights for create_model(name, pretrained=True) are: cache (zoo pull),
    builtin (the zoo shipped in the source tree's exports/) or - (none).

    \b
    Examples:
      zoo list
      zoo list 'rnn-*' --json
      zoo list --task classification
      zoo list --dataset 'ucr-*'
      zoo list --datasets
    """
    from zoo.registry import list_models

    if show_datasets:
        _list_datasets(pattern or dataset, list_models(), as_json)
        return
    from zoo.hub import weights_status

    specs = list_models(pattern, family=family, task=task, dataset=dataset)
    weights = weights_status(warn=warn)  # index files only
    if as_json:
        emit_json([{**{k: v for k, v in s.to_dict().items() if k != "default_config"},
                    "weights": weights.get(s.name)} for s in specs])
        return
    if not specs:
        click.echo("no models match", err=True)
        return
    click.echo(table(["NAME", "FAMILY", "TASK", "DATASET", "PLUGIN", "WEIGHTS", "SUMMARY"],
                     [[s.name, s.family, s.task, s.dataset, s.plugin, weights.get(s.name, "-"), s.summary]
                      for s in specs]))


def _list_datasets(pattern: str | None, models: Sequence[Any], as_json: bool) -> None:
    """The datasets of every loaded plugin (``pattern``: a glob on the name), each with the models trained on it."""
    import fnmatch

    from zoo.bundle import shape_text
    from zoo.registry import list_datasets

    found = [d for d in sorted(list_datasets(), key=lambda d: d.name)
             if pattern is None or fnmatch.fnmatchcase(d.name, pattern)]
    trained = {d.name: [m.name for m in models if m.dataset == d.name] for d in found}
    if as_json:
        emit_json([{**{k: v for k, v in d.to_dict().items() if k != "notes"}, "models": trained[d.name]}
                   for d in found])
        return
    if not found:
        click.echo("no datasets match", err=True)
        return
    click.echo(table(["DATASET", "PLUGIN", "LAYOUT", "SHAPE", "CLASSES", "MODELS", "SUMMARY"],
                     [[d.name, d.plugin, d.layout, shape_text(d.sample_shape), d.num_classes,
                       ", ".join(trained[d.name]) or "-", d.summary] for d in found]))


@cli.command("info")
@click.argument("name")
@click.option("--check", is_flag=True,
              help="Also build the model and ask Opacus whether its layers train privately (takes seconds).")
@json_option
def info_command(name: str, check: bool, as_json: bool) -> None:
    """Show one model: its spec, default config, dataset and plugin (torch-free unless --check).

    \b
    Examples:
      zoo info cnn-digits
      zoo info lstm-digits --json
      zoo info cnn-digits --check
    """
    from zoo.bundle import shape_text
    from zoo.plugins import plugin_set
    from zoo.registry import get_dataset, get_model

    loaded = plugin_set()
    spec = get_model(name)
    dataset = loaded.datasets.get(spec.dataset)
    plugin = next(p for p in loaded.plugins if p.name == spec.plugin)
    payload = spec.to_dict()
    payload["dataset_info"] = dataset.to_dict() if dataset else None
    payload["plugin_info"] = plugin.to_dict()
    payload["training_options"] = _training_options(spec, check) if dataset else {}
    if as_json:
        emit_json(payload)
        return
    rows = [["name", spec.name], ["family", spec.family], ["task", spec.task],
            ["dataset", spec.dataset + (f" - {dataset.summary}" if dataset else " (not installed)")],
            ["plugin", f"{plugin.name} ({plugin.distribution} {plugin.version})"], ["summary", spec.summary],
            ["accepts", spec.accepts or (f"{dataset.layout}s shaped {shape_text(dataset.sample_shape)}, "
                                         f"like its dataset" if dataset else "-")]]
    rows += [[option, f"supported ({how['how']})" if how["supported"] else
              f"not supported: {how['reason']}" if how["supported"] is False else f"{how['how']}: {how['reason']}"]
             for option, how in payload["training_options"].items()]
    click.echo(table(["FIELD", "VALUE"], rows))
    click.echo("\nDefault config (change with zoo train --set KEY=VALUE):")
    click.echo(table(["KEY", "DEFAULT", "TYPE", "DESCRIPTION"],
                     [[k, json.dumps(v), type(v).__name__, payload["config_help"][k]]
                      for k, v in spec.default_config.items()]))
    if dataset is None:
        get_dataset(spec.dataset)


@cli.command("plugins")
@json_option
def plugins_command(as_json: bool) -> None:
    """List loaded plugins with their version, hooks and status.

    \b
    Examples:
      zoo plugins
      ZOO_DISABLE_PLUGINS=gan zoo plugins --json

    CARD says whether every model of the plugin has a complete model card (zoo card names what is missing).
    """
    from zoo.cards.static import describe_status, plugin_card_status
    from zoo.plugins import plugin_set

    loaded = plugin_set()
    cards = {p.name: plugin_card_status(p.name) for p in loaded.plugins}
    if as_json:
        emit_json([{**p.to_dict(), "card": cards[p.name],
                    "conflicts": [c.message() for c in loaded.conflicts if p.name in c.plugins],
                    "deprecations": [d for d in loaded.deprecations if d.startswith(f"plugin {p.name!r}:")]}
                   for p in loaded.plugins])
        return
    click.echo(table(["NAME", "DISTRIBUTION", "VERSION", "HOOKS", "STATUS", "CARD"],
                     [[p.name, p.distribution, p.version, ",".join(h.removeprefix("zoo_") for h in p.hooks) or "-",
                       p.status, describe_status(cards[p.name])] for p in loaded.plugins]))
    for conflict in loaded.conflicts:
        click.echo(f"conflict: {conflict.message()}")


def _training_options(spec, check: bool) -> dict[str, dict[str, Any]]:
    """Whether --dp-epsilon and --teacher can train ``spec``, and why not (zoo.options.privacy, zoo.options.distill).

    Torch-free unless ``check``: whether the core's recipe trains the model is known from the plugin's hooks;
    whether Opacus takes its layers needs the built network (and Opacus, seconds to import), so that is
    checked when a private run starts, or now with ``check`` (``supported`` is None until then)."""
    from zoo.options import distill, recipe_refusal

    def privacy_support(s) -> str | None:
        from zoo.models import build_default
        from zoo.options import privacy

        return privacy.support(s, build_default)

    found: dict[str, dict[str, Any]] = {}
    for option, what, how in (("differential privacy", "differential privacy", "--dp-epsilon, Opacus"),
                              ("distillation", "distillation", "--teacher RUN")):
        try:
            reason = recipe_refusal(spec, what)
            if reason is None and option == "differential privacy":
                if not check:
                    found[option] = {"supported": None, "how": how,
                                     "reason": "the core's recipe trains it; Opacus checks its layers when a private "
                                               "run starts (zoo info --check checks them now)"}
                    continue
                reason = privacy_support(spec)
        except ZooError as exc:  # the model cannot even be built: say so here, not as this command's error
            reason = f"the model could not be built ({exc})"
        found[option] = {"supported": True, "how": how} if reason is None else {"supported": False, "reason": reason}
    return found


def _print_metrics(metrics: dict[str, Any]) -> None:
    scalars = [[k, f"{v:.6g}" if isinstance(v, float) else v] for k, v in metrics.items()
               if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
    click.echo(table(["METRIC", "VALUE"], scalars))


@cli.command("train")
@click.argument("name", required=False)
@click.option("--epochs", type=int, help="Epochs to train.")
@click.option("--batch-size", type=int, help="Global batch size (split across processes).")
@click.option("--lr", type=float, help="Learning rate.")
@click.option("--seed", type=int, help="Seed for initialisation, shuffling and sampling.")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="Override a config key (repeatable).")
@click.option("--data", type=click.Path(),
              help="Train on your data: an image folder (a subfolder per class, or train/ val/ test/ holding them), "
                   "a .ts or .csv file of sequences, an .npz (x, y, optional lengths), an IDX file or MNIST's "
                   "folder. Reading options are --set keys: image_size, resample, image_mode, invert, "
                   "max_image_pixels, skip_damaged, cache.")
@click.option("--out", type=click.Path(), help="Run directory (default runs/<name>-<time>).")
@click.option("--resume", type=click.Path(), help="Continue an interrupted run from its checkpoint.")
@click.option("--force", is_flag=True, help="Replace the files of an existing run directory.")
@click.option("--dp-epsilon", type=float, metavar="E",
              help="Train with differential privacy (DP-SGD, Opacus), spending at most epsilon E over all epochs.")
@click.option("--dp-delta", type=float, metavar="D", help="The guarantee's delta (default min(1e-5, 1/(10 N))).")
@click.option("--dp-max-grad-norm", type=float, metavar="C", help="Clip each sample's gradient to norm C (default 1).")
@click.option("--teacher", type=click.Path(), metavar="RUN",
              help="Distil a classifier run on the same data into this model (--set kd_temperature=T kd_alpha=A).")
@click.option("--baseline", type=click.Path(), metavar="RUN",
              help="With --dp-epsilon or --teacher: a run of this model trained without them, measured for the card.")
@click.option("--init", metavar="NAME|RUN|BUNDLE",
              help="Fine-tune: start from these trained weights (a published model, a run, a bundle); the family's "
                   "head is made afresh where the number of classes differs.")
@click.option("--freeze", is_flag=True, help="With --init: train the head alone, every other layer as it was.")
@click.option("--nproc-per-node", type=click.IntRange(min=1), default=1,
              help="Training processes on this machine (torch.distributed; one per GPU on GPUs).")
@click.option("--nnodes", type=click.IntRange(min=1), default=1, help="Machines taking part; each runs this command.")
@click.option("--node-rank", type=click.IntRange(min=0), default=0, help="This machine's index, 0 to NNODES-1.")
@click.option("--rdzv-endpoint", metavar="HOST:PORT", help="Where the machines meet; the same on every machine.")
@click.option("--rdzv-timeout", type=click.IntRange(min=1), default=600, show_default=True,
              help="Seconds to wait for every machine to join.")
@json_option
def train_command(name, epochs, batch_size, lr, seed, assignments, data, out, resume, force, dp_epsilon, dp_delta,
                  dp_max_grad_norm, teacher, baseline, init, freeze, nproc_per_node, nnodes, node_rank, rdzv_endpoint,
                  rdzv_timeout, as_json) -> None:
    """Train a model, evaluate it on the test split and save a run directory.

    \b
    Examples:
      zoo train cnn-digits
      zoo train lstm-digits --epochs 5 --set hidden_size=64 --out runs/lstm
      zoo train cnn-digits --data mnist/ --out runs/cnn-mnist
      zoo train --resume runs/lstm
      zoo train cnn-digits --nproc-per-node 2
      zoo train cnn-digits --dp-epsilon 8 --epochs 40 --batch-size 256 --lr 0.02 --set shift=0
      zoo train cnn-tiny-digits --teacher runs/cnn-digits --set kd_temperature=2
      zoo train cnn-digits --data photos/ --init cnn-digits --set image_size=8
    """
    from zoo.api import train
    from zoo.config import parse_assignments
    from zoo.distributed import Topology, launch
    from zoo.runs import METRICS, open_run
    from zoo.progress import BarProgress

    request = dict(name=name, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                   overrides=parse_assignments(assignments), data=data, out=out, resume=resume,
                   dp_epsilon=dp_epsilon, dp_delta=dp_delta, dp_max_grad_norm=dp_max_grad_norm, teacher=teacher,
                   baseline=baseline, init=init, freeze=freeze)
    topology = Topology(nproc_per_node, nnodes, node_rank, rdzv_endpoint, rdzv_timeout)
    if topology.distributed:
        path = launch(request, topology, force)
        if not (path / METRICS).exists():  # global rank 0 ran on another machine, without a shared --out
            click.echo(f"done: global rank 0 wrote the run to {path} on its own machine")
            return
        run = open_run(path)
    else:
        run = train(**request, force=force, progress=BarProgress(name or Path(resume).name))
    metrics = run.metrics()
    if as_json:
        emit_json({"run": str(run.path), **metrics})
        return
    click.echo(f"run: {run.path}  ({metrics['train_seconds']:.1f} s of training)")
    if run.record["data"].get("note"):  # how the data was read: decoded, from the cache, which layout
        click.echo(f"data: {run.record['data']['note']}")
    if run.record.get("init"):
        start = run.record["init"]
        click.echo(f"fine-tuned from {start['model']} ({start['kind']} {start['source']}, weights sha256 "
                   f"{start['weights_sha256'][:16]}...); head {'replaced' if start['replaced'] else 'kept'}"
                   f"{', the rest frozen' if start['freeze'] else ''}")
    _print_metrics(metrics["metrics"])
    if "privacy" in metrics:
        spent = metrics["privacy"]
        click.echo(f"privacy: epsilon {spent['epsilon']:.4g} spent of {spent['target_epsilon']:.4g} at delta "
                   f"{spent['delta']:.3g} ({spent['accountant']} accountant); membership-inference AUROC "
                   f"{spent['membership_inference']['auroc']:.4g}")
    if "distillation" in metrics:
        taught = metrics["distillation"]
        click.echo(f"distilled from run {taught['teacher']['run']} (temperature {taught['temperature']:.4g}, "
                   f"alpha {taught['alpha']:.4g})")


@cli.command("evaluate")
@click.argument("run", type=click.Path())
@json_option
def evaluate_command(run: str, as_json: bool) -> None:
    """Re-evaluate a run's saved weights on the test split and compare with its metrics.json.

    \b
    Examples:
      zoo evaluate runs/cnn-digits-20260101-120000
      zoo evaluate runs/lstm --json
    """
    from zoo.api import evaluate
    from zoo.runs import open_run

    recorded = open_run(run).metrics()["metrics"]
    fresh = evaluate(run)
    same = json.dumps(fresh, sort_keys=True) == json.dumps(recorded, sort_keys=True)
    if as_json:
        emit_json({"run": run, "metrics": fresh, "matches_recorded": same})
    else:
        _print_metrics(fresh)
        click.echo("matches metrics.json" if same else "DIFFERS from metrics.json", err=not same)
    if not same:
        raise CheckFailed(f"re-evaluation of {run} differs from its metrics.json")


@cli.command("assess")
@click.argument("run", type=click.Path())
@click.option("--budget", type=click.FloatRange(*BUDGET_RANGE), default=1.0, show_default=True,
              help="Scale every assessment's sample counts (recorded with the results; cards use 1).")
@click.option("--force", is_flag=True, help="Measure again even when the stored results are still valid.")
@json_option
def assess_command(run: str, budget: float, force: bool, as_json: bool) -> None:
    """Measure (or show) a run's explainability and safety assessments, kept in RUN/assessments/.

    Every installed plugin may add assessments to any model; stored results are reused while the
    weights, the assessments offered and the budget are unchanged. Exits 1 when one failed.

    \b
    Examples:
      zoo assess runs/cnn-digits
      zoo assess runs/ae-digits --json
      zoo assess runs/cnn-digits --force
    """
    from zoo.assess.runner import assess_run

    results = assess_run(run, budget=budget, force=force)
    entries = results["assessments"]
    if as_json:
        emit_json(results)
    else:
        click.echo(table(["SECTION", "ASSESSMENT", "PLUGIN", "SECONDS", "RESULT"],
                         [[e["section"], e["name"], e["plugin"], f"{e['seconds']:.2f}" if "seconds" in e else "-",
                           e["summary"] if e["status"] == "ok" else f"FAILED: {e['error']}"] for e in entries]))
    failed = [e["name"] for e in entries if e["status"] != "ok"]
    if failed:
        raise CheckFailed(f"{len(failed)} of {len(entries)} assessments failed: {', '.join(failed)}")


def _int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ZooError(f"{option} takes comma-separated whole numbers, got {text!r}") from None
    if not values or min(values) < 1:
        raise ZooError(f"{option} takes comma-separated numbers of 1 or more, got {text!r}")
    return values


def _names(texts: Iterable[str]) -> list[str]:
    return [n.strip() for t in texts for n in t.split(",") if n.strip()]


@cli.command("export")
@click.argument("run", type=click.Path())
@click.option("--out", type=click.Path(), help="Bundle folder (default exports/<model-name>/).")
@click.option("--opset", type=int, help="ONNX opset version (default 18).")
@click.option("--exporter", type=click.Choice(["auto", "torchscript", "dynamo"]),
              help="torch.onnx exporter (default auto: the graph's own, else torchscript, else dynamo where "
                   "torchscript fails or freezes a dynamic axis; the manifest says which made each graph).")
@click.option("--force", is_flag=True, help="Replace an existing bundle.")
@click.option("--variants", metavar="LIST",
              help="Precisions to add beside FP32 (always there): int8, fp16 (comma-separated; default fp32 only).")
@click.option("--encrypt-to", "recipients", multiple=True, metavar="PUBLIC_KEY",
              help="Encrypt the bundle's payload to this X25519 public key (repeatable; see zoo encrypt).")
@json_option
def export_command(run: str, out: str | None, opset: int | None, exporter: str | None, force: bool,
                   variants: str | None, recipients: tuple[str, ...], as_json: bool) -> None:
    """Export a trained run to an ONNX bundle: graphs, manifest, checksums, test vectors.

    int8 uses ONNX Runtime's quantization (static QDQ calibrated on training samples; dynamic for
    recurrent graphs); fp16 keeps float32 inputs and outputs and is meant for GPUs.

    \b
    Examples:
      zoo export runs/cnn-digits-20260101-120000
      zoo export runs/lstm --out bundles/lstm --opset 17
      zoo export runs/ae --exporter dynamo --force
      zoo export runs/cnn-digits --variants fp32,int8,fp16 --out bundles/cnn
      zoo export runs/cnn-digits --encrypt-to alice.pem.pub
    """
    from zoo.bundle import open_bundle, shape_text
    from zoo.bundle.encryption import encrypt_bundle, load_public_key
    from zoo.bundle.export import export_run

    for public in recipients:  # a bad key is refused before anything is exported
        load_public_key(public)
    path = export_run(run, out, opset=opset, exporter=exporter, force=force, variants=variants)
    if recipients:
        encrypt_bundle(path, list(recipients))
    manifest = open_bundle(path).manifest
    if as_json:
        emit_json({"bundle": str(path), **manifest})
        return
    click.echo(f"bundle: {path}  ({manifest['model']}, opset {manifest['opset']}, {manifest['exporter']} exporter)")
    click.echo(table(["GRAPH", "INPUTS", "OUTPUTS"], [
        [g["name"], ", ".join(f"{i['name']} {i['dtype']}{shape_text(i['shape'])}" for i in g["inputs"]),
         ", ".join(f"{o['name']} {o['dtype']}{shape_text(o['shape'])}" for o in g["outputs"])]
        for g in manifest["graphs"]]))
    made = [(g, v, e) for g in manifest["graphs"] for v, e in (g.get("variants") or {}).items()]
    declined = [(g, v, why) for g in manifest["graphs"] for v, why in (g.get("declined_variants") or {}).items()]
    if made or declined:
        sizes = {name: (path / name).stat().st_size for name in manifest["files"]}
        click.echo("\n" + table(["GRAPH", "VARIANT", "FILE", "SIZE", "HOLDS"], [
            [g["name"], v, e["file"], f"{sizes[e['file']] / sizes[g['file']]:.2f}x", e["note"]] for g, v, e in made]
            + [[g["name"], v, "-", "-", f"declined: {why}"] for g, v, why in declined]))
    for g in manifest["graphs"]:
        if g.get("exporter_note"):
            click.echo(f"graph {g['name']}: made by the {g['exporter']} exporter ({g['exporter_note']})", err=True)


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)


def _print_report(report: dict[str, Any]) -> None:
    from zoo.bundle.verify import variant_effect

    click.echo(f"bundle: {report['bundle']}  checksums: {report['checksums']}  reference: {report['reference']}")
    click.echo(table(["PROVIDER", "TF32", "STATUS"],
                     [[m, _number(p["tf32"]), p["status"]] for m, p in report["providers"].items()]))
    ran = [r for r in report["checks"] if r["status"] != "skipped" or r["provider"] == "cpu"]
    click.echo("\n" + table(
        ["GRAPH", "VARIANT", "OUTPUT", "PROVIDER", "CASE", "REFERENCE", "MAX_ABS", "MAX_REL", "NEEDED_ATOL", "ATOL",
         "RTOL", "STATUS"],
        [[r["graph"], r.get("variant", "fp32"), r["output"], r["provider"], r["case"], r["reference"],
          _number(r.get("max_abs")), _number(r.get("max_rel")), _number(r.get("needed_atol")), _number(r.get("atol")),
          _number(r.get("rtol")), r["status"] + (f": {r['reason']}" if r.get("reason") and r["status"] == "fail" else "")]
         for r in ran]))
    keys = ("argmax_agreement", "accuracy_delta", "mse_delta", "max_abs_diff")
    click.echo("\n" + table(["TASK", "VARIANT", "PROVIDER", "SAMPLES", "EFFECT", "STATUS"], [
        [r["task"], r.get("variant", "fp32"), r["provider"], _number(r.get("samples")),
         variant_effect(r) if "metric" in r else ", ".join(f"{k} {_number(r[k])}" for k in keys if k in r) or "-",
         r["status"] if r["status"] != "skipped" else r["reason"]] for r in report["task"]]))
    if report.get("deployment"):
        rows = report["deployment"]["rows"]
        cuda = any("cuda" in r["latency_ms"] for r in rows)
        ms = lambda r, p: " / ".join(_number(v) for v in r["latency_ms"].get(p, {}).values()) or "-"  # noqa: E731
        click.echo("\n" + table(["VARIANT", "BYTES", "SIZE", "CPU_MS_B1/B64", *(["CUDA_MS_B1/B64"] if cuda else []),
                                 "METRIC", "PARITY", "FITS"], [
            [r["variant"], r["bytes"], f"{r['size_ratio']:.2f}x", ms(r, "cpu"), *([ms(r, "cuda")] if cuda else []),
             f"{r['metric']['name']} {_number(r['metric']['value'])}" if r["metric"] else "-", r["parity"], r["fits"]]
            for r in rows]))
    signature = report.get("signature", {})
    if signature.get("status") == "verified":
        click.echo(f"\nsignature: verified ({signature['algorithm']}, key {signature['fingerprint']})")


@cli.command("verify")
@click.argument("bundle", type=click.Path())
@click.option("--providers", default="cpu", show_default=True, help="Execution providers: cpu, cuda (comma-separated).")
@click.option("--batch-sizes", default="1,7,64", show_default=True, help="Batch sizes of the random inputs.")
@click.option("--atol", type=float, help="Absolute tolerance for every output (default: the bundle's declared).")
@click.option("--rtol", type=float, help="Relative tolerance for every output (default: the bundle's declared).")
@click.option("--require", multiple=True, metavar="P", help="Fail unless provider P ran (repeatable or comma-separated).")
@click.option("--public-key", type=click.Path(), metavar="KEY",
              help="Check the bundle's signature with this PEM public key first; any mismatch is exit 2.")
@click.option("--latency", is_flag=True, help="Also time every variant at batch 1 and 64 (the card's Deployment table).")
@click.option("--save", is_flag=True,
              help="Write the report into the bundle (card/verification.json), where zoo card reads it; times too.")
@key_option
@json_option
def verify_command(bundle: str, providers: str, batch_sizes: str, atol: float | None, rtol: float | None,
                   require: tuple[str, ...], public_key: str | None, latency: bool, save: bool, key: str | None,
                   as_json: bool) -> None:
    """Check a bundle's checksums, then ONNX Runtime against PyTorch per graph, output, provider and batch,
    and every int8/fp16 variant against FP32 on the test split within the family's tolerances.

    Exit status 0 only when every check passed and every --require'd provider ran. With --public-key
    the signature is checked before anything else.

    \b
    Examples:
      zoo verify exports/cnn-digits
      zoo verify exports/lstm-digits --providers cpu,cuda --require cuda
      zoo verify exports/ae-digits --batch-sizes 1,256 --atol 1e-6 --json
      zoo verify exports/cnn-digits --public-key publisher.pub --latency
    """
    from zoo.bundle.verify import VerificationFailed, save_report, summary, verify

    report = verify(bundle, providers=_names([providers]), batch_sizes=_int_list(batch_sizes, "--batch-sizes"),
                    require=_names(require), tolerance=(atol, rtol), public_key=public_key, latency=latency or save,
                    key=key)
    if save:
        save_report(bundle, report)
    if as_json:
        emit_json(report)
    else:
        _print_report(report)
    if not report["passed"]:
        raise VerificationFailed(summary(report))
    if not as_json:
        click.echo("\n" + summary(report))


def _default_top_k() -> int:
    """The deployer API's number of classes per answer (imported only when zoo predict runs)."""
    from zoo.bundle.runtime import DEFAULT_TOP_K

    return DEFAULT_TOP_K


@cli.command("predict")
@click.argument("bundle", metavar="BUNDLE|NAME", type=click.Path())
@click.argument("inputs", nargs=-1, metavar="INPUT...", type=click.Path())
@click.option("--top-k", type=click.IntRange(min=1), default=lambda: _default_top_k(),
              help="Classifiers: how many classes to show per input (default: the deployer API's, "
                   "zoo.bundle.runtime.DEFAULT_TOP_K).")
@click.option("--n", "count", type=click.IntRange(min=1), default=16, show_default=True,
              help="Generators: how many samples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Generators: the seed of the drawn inputs.")
@click.option("--label", type=int, help="Conditional generators: the class of every sample.")
@click.option("--raw", is_flag=True, help="Print (or --out) the graph's tensors instead of task-level answers.")
@click.option("--graph", "graph_name", help="Graph to run, with --raw (default: the model's primary graph).")
@click.option("--variant", help="Precision to run: fp32 (default), or int8 / fp16 where the bundle has them.")
@click.option("--public-key", type=click.Path(), metavar="KEY",
              help="Check the bundle's signature with this PEM public key before anything else.")
@key_option
@click.option("--out", type=click.Path(),
              help="Write the answer: images as PNG (a .png grid, or a folder of one file per input), tensors with "
                   "--raw as .npy (one output) or .npz.")
@click.option("--force", is_flag=True, help="Replace files that --out would overwrite.")
@json_option
def predict_command(bundle: str, inputs: tuple[str, ...], top_k: int, count: int, seed: int, label: int | None,
                    raw: bool, graph_name: str | None, variant: str | None, public_key: str | None, key: str | None,
                    out: str | None, force: bool, as_json: bool) -> None:
    """Answer with a bundle, or a published model by name, with numpy, Pillow and onnxruntime only (no torch).

    INPUT: image files or folders of images, .csv or .ts files of sequences, read by the preprocessing the
    bundle records; or .npy/.npz tensors (an .npz names the graph's inputs). Classifiers print each
    input's top classes by name with their probabilities; autoencoders the reconstruction error (and with
    --out, the reconstructions as PNG); generators take no input and write --n samples. A NAME that is not a
    path runs that model's published bundle (the cache, then the built-in zoo).

    \b
    Examples:
      zoo predict cnn-digits digit.png
      zoo predict cnn-digits photos/ --top-k 1 --json
      zoo predict exports/lstm-digits series.ts
      zoo predict ae-digits digit.png --out reconstructions/
      zoo predict cgan-digits --n 16 --label 3 --out threes.png
      zoo predict exports/cnn-digits images.npy --raw --out logits.npy
      zoo predict exports/cnn-digits images.npy --variant int8 --public-key publisher.pub
    """
    from zoo.bundle import shape_text
    from zoo.bundle.writing import save_images, save_outputs
    from zoo.hub.index import load_bundle

    model = load_bundle(bundle, graph=graph_name, variant=variant, public_key=public_key, key=key)
    if raw or graph_name is not None:
        if not inputs:
            raise ZooError("--raw runs the graph on tensors: give an .npy or .npz INPUT")
        outputs = model.run(model.read(list(inputs)).feeds)
        if out is not None:
            _refuse_existing(out, force)
            save_outputs(outputs, out)
        if as_json:
            emit_json({name: array.tolist() for name, array in outputs.items()})
        elif out is None:
            click.echo(table(["OUTPUT", "DTYPE", "SHAPE"],
                             [[n, a.dtype, shape_text(a.shape)] for n, a in outputs.items()]))
        else:
            click.echo(f"written: {out}  ({', '.join(f'{n} {shape_text(a.shape)}' for n, a in outputs.items())})")
        return
    if model.task == "generation":
        if inputs:
            raise ZooError(f"{model.name} is a generator: it takes no INPUT (ask for --n samples, --label, --seed)")
        generated = model.generate(count, seed, label)
        written = save_images(generated.images, out, model.preprocessing, force=force) if out else []
        if as_json:
            emit_json({**generated.to_dict(), "written": [str(p) for p in written]})
        else:
            click.echo(f"{len(generated.images)} samples of {model.name} (seed {seed}"
                       + (f", label {label}" if label is not None else "") + ")"
                       + (f"; written: {', '.join(map(str, written[:3]))}{' ...' if len(written) > 3 else ''}"
                          if written else "; --out samples.png writes them"))
        return
    if not inputs:
        raise ZooError(f"give an INPUT for {model.name}: image files or folders, .csv/.ts sequences, .npy/.npz "
                       f"tensors")
    answers = model.predict(list(inputs), top_k=top_k)
    written = []
    if out is not None:
        if model.task != "reconstruction":
            raise ZooError("--out writes images (reconstructions, samples); for tensors add --raw")
        written = save_images([a.reconstruction for a in answers], out, model.preprocessing,
                              [Path(a.source).name for a in answers], force=force)
    if as_json:
        emit_json([a.to_dict() for a in answers])
        return
    if model.task == "classification":
        click.echo(table(["INPUT", "CLASS", "PROBABILITY", *(["NEXT"] if top_k > 1 else [])],
                         [[a.source, a.label, f"{a.top[0][1]:.4f}",
                           *([", ".join(f"{n} {p:.4f}" for n, p in a.top[1:])] if top_k > 1 else [])]
                          for a in answers]))
    else:
        click.echo(table(["INPUT", "RECONSTRUCTION_MSE"], [[a.source, f"{a.error:.6g}"] for a in answers]))
    if written:
        click.echo(f"written: {len(written)} PNG file{'s' if len(written) != 1 else ''} under {out}")


def _source_tree_readme(cards: Path) -> Path | None:
    """./README.md when it holds the catalog table and the cards go to ./cards (zoo publish in the source tree):
    the README's table then states what the new cards say, and the README's commands work in any order."""
    from zoo.catalog import START

    readme = Path("README.md")
    if cards.resolve() != Path("cards").resolve() or not readme.is_file():
        return None
    return readme if START in readme.read_text(encoding="utf-8", errors="replace") else None


def _refuse_existing(path: str, force: bool) -> None:
    if Path(path).exists() and not force:
        raise ZooError(f"{path} already exists; choose another --out or pass --force to replace it")


@cli.command("card")
@click.argument("source", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["md", "json", "html", "cyclonedx"]), default="md",
              show_default=True, help="Markdown with Hugging Face front matter, machine-readable JSON, one "
                                      "self-contained HTML page, or a CycloneDX 1.6 ML-BOM (card.cdx.json).")
@click.option("--out", type=click.Path(), help="Card file (default: card/card.FORMAT inside the run or bundle).")
def card_command(source: str, fmt: str, out: str | None) -> None:
    """Write the model card of a run or an ONNX bundle: measured metrics, computed facts, figures.

    \b
    Examples:
      zoo card runs/cnn-digits-20260101-120000
      zoo card exports/cnn-digits --format html --out cnn-digits.html
      zoo card exports/cnn-digits --format cyclonedx --out cnn-digits.cdx.json
    """
    from zoo.cards.writer import write_card

    _, written = write_card(source, [fmt], out)
    click.echo(str(written[0]))


@cli.command("publish")
@click.argument("names", nargs=-1)
@click.option("--out", type=click.Path(), default="cards", show_default=True,
              help="Folder for the published cards: OUT/NAME.md and OUT/figures/NAME/.")
@click.option("--runs", type=click.Path(), default="runs", show_default=True, help="Runs go to RUNS/NAME.")
@click.option("--exports", type=click.Path(), default="exports", show_default=True,
              help="Bundles go to EXPORTS/NAME, with their card in EXPORTS/NAME/card/.")
@click.option("--epochs", type=int, help="Train every model for this many epochs instead of its default.")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE", help="Override a config key (repeatable).")
@click.option("--variants", metavar="LIST",
              help="Precisions each bundle holds (default: fp32,int8,fp16; FP32 always), verified and timed for "
                   "the card's Deployment table.")
@click.option("--sign-key", type=click.Path(), metavar="KEY",
              help="Sign each bundle, card included, with this PEM EC private key (P-256/384/521).")
@click.option("--encrypt-to", "recipients", multiple=True, metavar="PUBLIC_KEY",
              help="Encrypt each bundle's payload to this X25519 public key (repeatable), after it is verified and "
                   "before its card is written and it is signed.")
@click.option("--readme", type=click.Path(), metavar="PATH",
              help="Rewrite this README's catalog table from the cards (default: ./README.md when it has the "
                   "catalog markers and the cards go to ./cards, as in the source tree).")
@click.option("--jobs", type=click.IntRange(min=1), metavar="N",
              help="Models published at once, each in its own process (default: one per CPU core). Every model "
                   "trains on one thread whatever N is, so N changes the time, never a number.")
@json_option
def publish_command(names, out, runs, exports, epochs, assignments, variants, sign_key, recipients, readme, jobs,
                    as_json) -> None:
    """Train, evaluate, export, verify and write the card of each model (default: every registered model).

    \b
    Examples:
      zoo publish
      zoo publish cnn-digits lstm-digits --out /tmp/cards
      zoo publish cnn-digits --epochs 2 --set channels=8,16 --out /tmp/cards --runs /tmp/runs --exports /tmp/exports
      zoo publish cnn-digits --variants fp32,int8 --sign-key key.pem
      zoo publish --jobs 1
    """
    from zoo.config import parse_assignments
    from zoo.progress import step_line
    from zoo.publish import PublishError, publish

    results = publish(names, Path(out), Path(runs), Path(exports), parse_assignments(assignments), epochs, step_line,
                      variants=variants, sign_key=sign_key, recipients=recipients,
                      readme=readme if readme is not None else _source_tree_readme(Path(out)), jobs=jobs)
    if as_json:
        emit_json([r.to_dict() for r in results])
    else:
        click.echo(table(["MODEL", "KEY METRIC", "PARITY", "SECONDS", "CARD"],
                         [[r.model, f"{r.key_metric}={r.value:.4g}" if r.value is not None else "-", r.parity,
                           f"{r.seconds:.1f}", r.card or f"FAILED: {r.error}"] for r in results]))
    failed = [r for r in results if r.error]
    if failed:
        raise PublishError(f"{len(failed)} of {len(results)} models failed: "
                           + "; ".join(f"{r.model} ({r.error})" for r in failed))


@cli.command("sign")
@click.argument("bundle", type=click.Path())
@click.option("--key", required=True, type=click.Path(), metavar="KEY",
              help="PEM elliptic-curve private key (P-256, P-384 or P-521); it never leaves this machine.")
@json_option
def sign_command(bundle: str, key: str, as_json: bool) -> None:
    """Sign every file of a bundle, its card included (OpenSSF model-signing, offline), into BUNDLE/bundle.sig.

    The bundle's checksums must hold; its card (when there is one) first gets the key's fingerprint.
    Deployers check with the public key: zoo verify BUNDLE --public-key KEY.

    \b
    Examples:
      openssl ecparam -name prime256v1 -genkey -noout -out key.pem
      openssl ec -in key.pem -pubout -out publisher.pub
      zoo sign exports/cnn-digits --key key.pem
    """
    from zoo.cards.writer import sign_bundle

    signed = sign_bundle(bundle, key)
    if as_json:
        emit_json({"bundle": bundle, **signed})
        return
    click.echo(f"signed: {Path(bundle) / signed['signature']}  ({signed['algorithm']}, key {signed['fingerprint']})")


@cli.command("keygen")
@click.argument("private_key", metavar="KEY.pem", type=click.Path())
@click.option("--signing", is_flag=True,
              help="A P-256 key to sign bundles with (zoo sign, zoo publish --sign-key) instead of an X25519 key "
                   "to receive encrypted bundles.")
@click.option("--passphrase-env", metavar="VAR",
              help="Protect the private key with the passphrase in this environment variable (encryption keys).")
@click.option("--force", is_flag=True, help="Replace existing key files.")
@json_option
def keygen_command(private_key: str, signing: bool, passphrase_env: str | None, force: bool, as_json: bool) -> None:
    """Make a key pair: KEY.pem (private, readable by you only) and KEY.pem.pub (public, to give away).

    An encryption key (X25519) receives bundles encrypted to it (zoo encrypt --to KEY.pem.pub); a signing key
    (--signing, P-256) signs bundles (zoo sign --key KEY.pem) that others check with KEY.pem.pub.

    \b
    Examples:
      zoo keygen recipient.pem
      ZOO_KEY_PASSPHRASE=... zoo keygen recipient.pem --passphrase-env ZOO_KEY_PASSPHRASE
      zoo keygen publisher.pem --signing
    """
    import os

    from zoo.bundle.encryption import generate_keypair, write_keypair

    passphrase = None
    if passphrase_env is not None:
        passphrase = os.environ.get(passphrase_env)
        if not passphrase:
            raise ZooError(f"--passphrase-env {passphrase_env}: that variable is not set or empty")
    if signing:
        if passphrase is not None:
            raise ZooError("--signing keys are written without a passphrase (zoo sign reads unencrypted PEM keys); "
                           "keep the file on the signing machine only")
        from cryptography.hazmat.primitives.asymmetric import ec

        facts = write_keypair(ec.generate_private_key(ec.SECP256R1()), private_key, force=force)
    else:
        facts = generate_keypair(private_key, passphrase=passphrase, force=force)
    if as_json:
        emit_json(facts)
        return
    click.echo(f"private key: {facts['private_key']}  (keep it secret)\npublic key:  {facts['public_key']}  "
               f"({facts['algorithm']}, {facts['key_id']})")


@cli.command("encrypt")
@click.argument("bundle", type=click.Path())
@click.option("--to", "recipients", multiple=True, metavar="PUBLIC_KEY",
              help="Encrypt the bundle's payload to this X25519 public key (repeatable).")
@click.option("--add", "added", multiple=True, metavar="PUBLIC_KEY",
              help="An encrypted bundle: wrap its data key for one more recipient (needs --key).")
@click.option("--remove", "removed", multiple=True, metavar="KEY_ID|PUBLIC_KEY",
              help="An encrypted bundle: drop a recipient (the last one is never removed).")
@key_option
@json_option
def encrypt_command(bundle: str, recipients: tuple[str, ...], added: tuple[str, ...], removed: tuple[str, ...],
                    key: str | None, as_json: bool) -> None:
    """Encrypt a bundle's graphs, weights and test vectors at rest (AES-256-GCM, the key wrapped per recipient
    with HPKE, X25519); the manifest, config and card stay readable. Or change who can read an encrypted one
    (re-wrapping the key, not re-encrypting the files). Sign after encrypting: the signature covers it all.

    \b
    Examples:
      zoo keygen alice.pem && zoo encrypt exports/cnn-digits --to alice.pem.pub
      zoo encrypt exports/cnn-digits --add bob.pem.pub --key alice.pem
      zoo encrypt exports/cnn-digits --remove bob.pem.pub
      zoo predict exports/cnn-digits digit.png --key alice.pem
    """
    from zoo.bundle import open_bundle
    from zoo.bundle.encryption import add_recipient, encrypt_bundle, encryption_facts, remove_recipient

    if not (recipients or added or removed):
        raise ZooError("name the recipients: --to PUBLIC_KEY (or --add / --remove for an encrypted bundle)")
    open_bundle(bundle)  # every checksum holds before anything is rewritten
    if recipients:
        if added or removed:
            raise ZooError("--to encrypts a plain bundle; --add and --remove change an encrypted one's recipients")
        encrypt_bundle(bundle, list(recipients))
    for public in added:
        if key is None:
            raise ZooError("--add needs --key: a current recipient's private key unwraps the data key to wrap it again")
        add_recipient(bundle, key, public)
    for recipient in removed:
        remove_recipient(bundle, recipient)
    facts = encryption_facts(open_bundle(bundle).manifest)
    if as_json:
        emit_json({"bundle": bundle, **facts})
        return
    click.echo(f"encrypted: {bundle}  ({facts.get('cipher')}; recipients: {', '.join(facts.get('recipients', []))})")


@cli.command("serve")
@click.argument("bundles", nargs=-1, required=True, metavar="BUNDLE|NAME...")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but 127.0.0.1 serves other machines too.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0: any free port.")
@click.option("--public-key", type=click.Path(), metavar="KEY",
              help="Check each bundle's signature with this PEM public key before it is served.")
@key_option
@click.option("--max-batch-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="The most rows one request may carry, and the most rows batching stacks into one run.")
@click.option("--no-batching", is_flag=True, help="Run every request on its own (batching is on: see the README).")
@click.option("--max-queue-delay-ms", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="How long a batch may wait for company (0: never).")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Threads running ONNX Runtime.")
@click.option("--max-body-bytes", type=click.IntRange(min=1), default=16 * 2**20, show_default=True,
              help="The largest request body (413 above).")
def serve_command(bundles: tuple[str, ...], host: str, port: int, public_key: str | None, key: str | None,
                  max_batch_size: int, no_batching: bool, max_queue_delay_ms: float, workers: int,
                  max_body_bytes: int) -> None:
    """Serve bundles (or published models by name) on the Open Inference Protocol (KServe v2 / Triton REST).

    GET /v2/health/live, /v2/health/ready (true once every model is loaded), /v2, /v2/models/NAME; POST
    /v2/models/NAME/infer with JSON or binary tensors; classifiers also answer `probabilities` and `label`;
    request counts and latencies at /metrics. SIGTERM drains requests in flight and exits 0. Torch-free.

    \b
    Examples:
      zoo serve cnn-digits lstm-digits
      zoo serve exports/cnn-digits --port 9000 --public-key publisher.pub
      curl -s localhost:8000/v2/models/cnn-digits
    """
    import functools

    from zoo.hub.index import bundle_or_name
    from zoo.serve import ServeOptions, serve
    from zoo.serve.bundle_model import load_bundle_model

    opened = [bundle_or_name(b, public_key, key) for b in bundles]  # signatures and checksums first
    options = ServeOptions(max_batch_size=max_batch_size, batching=not no_batching,
                           max_queue_delay_ms=max_queue_delay_ms, workers=workers, max_body_bytes=max_body_bytes)
    serve(opened, host, port, options=options, loader=functools.partial(load_bundle_model, threads=1),
          announce=lambda line: click.echo(line, err=True))


@cli.group("deploy")
def deploy_group() -> None:
    """Write the files that serve bundles on the engines that exist: Triton model repositories, KServe.

    \b
    Examples:
      zoo deploy triton cnn-digits lstm-digits --out models
      zoo deploy kserve --name zoo-digits --storage-uri s3://bucket/zoo --out isvc.yaml
    """


@deploy_group.command("triton")
@click.argument("bundles", nargs=-1, required=True, metavar="BUNDLE|NAME...")
@click.option("--out", required=True, type=click.Path(), metavar="REPO", help="The Triton model repository.")
@click.option("--max-batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--instances", type=click.IntRange(min=1), default=1, show_default=True,
              help="Model instances (instance_group count).")
@click.option("--gpu", is_flag=True, help="Instances on GPUs (KIND_GPU) instead of CPUs.")
@click.option("--force", is_flag=True, help="Replace models of the same name already in REPO.")
@json_option
def deploy_triton_command(bundles: tuple[str, ...], out: str, max_batch_size: int, instances: int, gpu: bool,
                          force: bool, as_json: bool) -> None:
    """Write a Triton model repository: REPO/NAME/config.pbtxt (platform onnxruntime_onnx, dims with -1 for named
    axes, dynamic batching, instance groups) and REPO/NAME/1/model.onnx, one model per bundle.

    \b
    Examples:
      zoo deploy triton cnn-digits lstm-digits --out models
      tritonserver --model-repository=models      # not run here: Triton does not install from pip
    """
    from zoo.deploy.triton import TritonOptions, write_repository
    from zoo.hub.index import bundle_or_name

    paths = [bundle_or_name(b).path for b in bundles]
    written = write_repository(paths, out, force=force, options=TritonOptions(
        max_batch_size=max_batch_size, instances=instances, kind="KIND_GPU" if gpu else "KIND_CPU"))
    if as_json:
        emit_json({"repository": out, "models": [str(p) for p in written]})
        return
    for path in written:
        click.echo(f"written: {path}/config.pbtxt, {path}/1/model.onnx")


@deploy_group.command("kserve")
@click.option("--name", required=True, help="The InferenceService's name (a DNS label).")
@click.option("--storage-uri", required=True, help="Where the Triton model repository lies (s3://, gs://, pvc://...).")
@click.option("--out", required=True, type=click.Path(), metavar="FILE", help="The YAML file to write.")
@click.option("--force", is_flag=True, help="Replace FILE.")
def deploy_kserve_command(name: str, storage_uri: str, out: str, force: bool) -> None:
    """Write a KServe InferenceService (ONNX model format, protocol v2) serving a Triton model repository.

    \b
    Examples:
      zoo deploy triton cnn-digits --out models && aws s3 sync models s3://bucket/zoo
      zoo deploy kserve --name zoo-digits --storage-uri s3://bucket/zoo --out isvc.yaml && kubectl apply -f isvc.yaml
    """
    from zoo.deploy.kserve import write_inference_service

    click.echo(f"written: {write_inference_service(out, name, storage_uri, force=force)}")


@cli.command("hub")
@click.argument("dest", metavar="DIR", type=click.Path())
@click.option("--exports", type=click.Path(), default="exports", show_default=True,
              help="The bundles to publish (zoo publish writes them here).")
@click.option("--cards", type=click.Path(), default="cards", show_default=True,
              help="Cards to take the headline facts from when a bundle has no card of its own.")
@click.option("--force", is_flag=True, help="Replace an existing DIR.")
@json_option
def hub_command(dest: str, exports: str, cards: str, force: bool, as_json: bool) -> None:
    """Write a hub: index.json and a copy of every bundle that opens cleanly, as plain files.

    Serve DIR with any static web server or object store; others fetch from it with zoo pull.

    \b
    Examples:
      zoo hub /srv/zoo
      zoo hub site/zoo --exports /tmp/exports --force && python -m http.server -d site
    """
    from zoo.hub.static import write_hub

    index, notes = write_hub(dest, exports, cards, force)
    for note in notes:
        warn(note)
    if as_json:
        emit_json({"hub": dest, **index})
        return
    click.echo(table(["MODEL", "FILES", "BYTES", "WEIGHTS", "PARITY"],
                     [[m["name"], len(m["files"]), m["bytes"], "yes" if m["weights"] else "-", m["parity"] or "-"]
                      for m in index["models"]]))
    click.echo(f"hub: {dest}  ({len(index['models'])} models, {sum(m['bytes'] for m in index['models'])} bytes)")


@cli.command("pull")
@click.argument("source")
@click.argument("names", nargs=-1)
@click.option("--public-key", type=click.Path(), metavar="KEY",
              help="Also check each bundle's signature with this PEM public key before it enters the cache.")
@click.option("--force", is_flag=True, help="Download again even what the cache already holds.")
@click.option("--max-bytes", type=click.IntRange(min=0), metavar="N",
              help="Download at most N bytes in all; the hub's index is checked before anything is fetched.")
@json_option
def pull_command(source: str, names: tuple[str, ...], public_key: str | None, force: bool, max_bytes: int | None,
                 as_json: bool) -> None:
    """Fetch published models from a hub (a folder or an http(s):// URL) into the cache ($ZOO_HOME).

    Every file is checked against the hub's index and the bundle's manifest before the bundle enters
    the cache; what is already cached and unchanged is not downloaded again.

    \b
    Examples:
      zoo pull https://example.org/zoo
      zoo pull https://example.org/zoo cnn-digits --public-key publisher.pub
      zoo pull ../shared-zoo lstm-digits --json
    """
    from zoo.hub import zoo_home
    from zoo.hub.pull import pull

    rows = pull(source, _names(names), public_key=public_key, force=force, max_bytes=max_bytes)
    if as_json:
        emit_json({"cache": str(zoo_home()), "models": rows})
        return
    click.echo(table(["MODEL", "STATUS", "FILES", "BYTES", "BUNDLE"],
                     [[r["name"], r["status"], r["files"], r["bytes"], r["bundle"]] for r in rows]))


def main() -> None:
    cli(prog_name="zoo")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
