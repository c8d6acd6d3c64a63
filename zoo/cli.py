"""The `zoo` command line: parse, call the API, print. Nothing else lives here."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

import click

from zoo import __version__
from zoo.errors import ZooError


class ZooGroup(click.Group):
    """Turns ZooError into one `error:` line and its exit status, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ZooError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("error: interrupted; a training run resumes with: zoo train --resume RUN", err=True)
            ctx.exit(130)


def plugins_loaded():
    """The plugin set, with each broken plugin or conflict reported once on stderr."""
    from zoo.plugins import plugin_set

    loaded = plugin_set()
    ctx = click.get_current_context()
    root = ctx.find_root()
    if not root.meta.get("zoo.reported"):
        root.meta["zoo.reported"] = True
        for line in loaded.problems:
            click.echo(f"warning: {line}", err=True)
    return loaded


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


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="zoo")
def cli() -> None:
    """A plugin-based model zoo for PyTorch.

    \b
    Examples:
      zoo list                      every model of every installed plugin
      zoo train cnn-digits          train one on its built-in data
      zoo plugins                   which plugins are loaded, and their status
    """


@cli.command("list")
@click.argument("pattern", required=False)
@click.option("--family", help="Only models of this family.")
@click.option("--task", help="Only models of this task (classification, reconstruction, generation).")
@json_option
def list_command(pattern: str | None, family: str | None, task: str | None, as_json: bool) -> None:
    """List models; PATTERN is a glob on the name.

    \b
    Examples:
      zoo list
      zoo list 'rnn-*' --json
      zoo list --task classification
    """
    from zoo.registry import list_models

    plugins_loaded()
    specs = list_models(pattern, family=family, task=task)
    if as_json:
        emit_json([{k: v for k, v in s.to_dict().items() if k != "default_config"} for s in specs])
        return
    if not specs:
        click.echo("no models match", err=True)
        return
    click.echo(table(["NAME", "FAMILY", "TASK", "DATASET", "PLUGIN", "SUMMARY"],
                     [[s.name, s.family, s.task, s.dataset, s.plugin, s.summary] for s in specs]))


@cli.command("info")
@click.argument("name")
@json_option
def info_command(name: str, as_json: bool) -> None:
    """Show one model: its spec, default config, dataset and plugin.

    \b
    Examples:
      zoo info cnn-digits
      zoo info lstm-digits --json
    """
    from zoo.registry import get_dataset, get_model

    loaded = plugins_loaded()
    spec = get_model(name)
    dataset = loaded.datasets.get(spec.dataset)
    plugin = next(p for p in loaded.plugins if p.name == spec.plugin)
    payload = spec.to_dict()
    payload["dataset_info"] = dataset.to_dict() if dataset else None
    payload["plugin_info"] = plugin.to_dict()
    if as_json:
        emit_json(payload)
        return
    rows = [["name", spec.name], ["family", spec.family], ["task", spec.task],
            ["dataset", spec.dataset + (f" - {dataset.summary}" if dataset else " (not installed)")],
            ["plugin", f"{plugin.name} ({plugin.distribution} {plugin.version})"], ["summary", spec.summary]]
    click.echo(table(["FIELD", "VALUE"], rows))
    click.echo("\nDefault config (change with zoo train --set KEY=VALUE):")
    click.echo(table(["KEY", "DEFAULT"], [[k, json.dumps(v)] for k, v in spec.default_config.items()]))
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
    """
    loaded = plugins_loaded()
    if as_json:
        emit_json([p.to_dict() for p in loaded.plugins])
        return
    click.echo(table(["NAME", "DISTRIBUTION", "VERSION", "HOOKS", "STATUS"],
                     [[p.name, p.distribution, p.version, ",".join(h.removeprefix("zoo_") for h in p.hooks) or "-",
                       p.status] for p in loaded.plugins]))


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
@click.option("--data", type=click.Path(), help="Train on your data: an .npz (x, y), an IDX file or MNIST's folder.")
@click.option("--out", type=click.Path(), help="Run directory (default runs/<name>-<time>).")
@click.option("--resume", type=click.Path(), help="Continue an interrupted run from its checkpoint.")
@click.option("--force", is_flag=True, help="Replace the files of an existing run directory.")
@json_option
def train_command(name, epochs, batch_size, lr, seed, assignments, data, out, resume, force, as_json) -> None:
    """Train a model, evaluate it on the test split and save a run directory.

    \b
    Examples:
      zoo train cnn-digits
      zoo train lstm-digits --epochs 5 --set hidden_size=64 --out runs/lstm
      zoo train cnn-digits --data mnist/ --out runs/cnn-mnist
      zoo train --resume runs/lstm
    """
    from zoo.api import train
    from zoo.config import parse_assignments
    from zoo.training import BarProgress

    plugins_loaded()
    run = train(name, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                overrides=parse_assignments(assignments), data=data, out=out, resume=resume, force=force,
                progress=BarProgress(name or Path(resume).name))
    metrics = run.metrics()
    if as_json:
        emit_json({"run": str(run.path), **metrics})
        return
    click.echo(f"run: {run.path}  ({metrics['train_seconds']:.1f} s of training)")
    _print_metrics(metrics["metrics"])


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

    plugins_loaded()
    recorded = open_run(run).metrics()["metrics"]
    fresh = evaluate(run)
    same = json.dumps(fresh, sort_keys=True) == json.dumps(recorded, sort_keys=True)
    if as_json:
        emit_json({"run": run, "metrics": fresh, "matches_recorded": same})
    else:
        _print_metrics(fresh)
        click.echo("matches metrics.json" if same else "DIFFERS from metrics.json", err=not same)
    if not same:
        raise ZooError(f"re-evaluation of {run} differs from its metrics.json")


def main() -> None:
    cli(prog_name="zoo")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
