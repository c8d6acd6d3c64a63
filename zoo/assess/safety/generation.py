"""Generators: whether their samples copy the training set (Meehan et al. 2020) and whether they cover
every class, measured on samples drawn from the primary graph as the card draws them."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from zoo.assess import Context, Figure, Result, Table
from ._shared import HIGH, LOW, histograms, rounded, save_figure

GENERATED = 1000  # samples drawn from a generator
SHOWN = 10  # samples shown in a figure's strip
ALPHA = 0.01  # one-sided significance level of the Mann-Whitney test behind the data-copying verdict


def generate(ctx: Context, count: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``count`` samples from the primary graph, inputs drawn as the card's sample grid draws them;
    with the requested labels when a graph input is a class label (drawn at random, not per row)."""
    import torch

    from zoo.graphs import primary

    graph = primary(ctx.graphs())
    generator = ctx.generator(4)
    inputs = [i.draw(count, generator, None) for i in graph.inputs]
    with torch.no_grad():
        output = graph.module(*inputs)
    output = output[0] if isinstance(output, (tuple, list)) else output
    labels = next((x for i, x in zip(graph.inputs, inputs) if i.distribution == "integers"), None)
    return output.numpy(), None if labels is None else labels.numpy()


def data_copying(generated: np.ndarray, train: np.ndarray, test: np.ndarray) -> dict[str, Any]:
    """Distances to the nearest training sample, of generated samples and of held-out test samples.

    Test samples are what "new but from the data" looks like; a generator whose samples sit closer to
    the training set than that is reproducing it. The Mann-Whitney U test (Meehan et al. 2020's
    statistic, here on whole samples in pixel space) compares the two; z < 0: generated closer.
    """
    from scipy.stats import mannwhitneyu
    from sklearn.neighbors import NearestNeighbors

    from zoo.metrics import ReferenceClassifier

    flat = ReferenceClassifier._flat  # flattened float64 samples, as the reference classifier reads them
    nearest = NearestNeighbors(n_neighbors=1).fit(flat(train))
    generated_d, generated_i = (a[:, 0] for a in nearest.kneighbors(flat(generated)))
    test_d, test_i = (a[:, 0] for a in nearest.kneighbors(flat(test)))
    n1, n2 = len(generated_d), len(test_d)
    u, p = mannwhitneyu(generated_d, test_d, alternative="less")
    farther = mannwhitneyu(generated_d, test_d, alternative="greater").pvalue
    z = (u - n1 * n2 / 2) / math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
    median_generated, median_test = float(np.median(generated_d)), float(np.median(test_d))
    return {"median_generated": median_generated, "median_test": median_test,
            "ratio": median_generated / median_test if median_test > 0 else None,
            "z": float(z), "p_value": float(p), "p_value_farther": float(farther), "generated": n1, "test": n2,
            "generated_distances": generated_d, "test_distances": test_d, "nearest": generated_i,
            "test_nearest": test_i}


def copying_verdict(p_value: float, z: float) -> str:
    """Meehan et al. 2020's reading of the test: "copying" when generated samples sit significantly closer to
    the training set than held-out samples (one-sided p below ``ALPHA``; z well below 0), "no copying" when
    z >= 0 (as far or farther; significantly farther may mean underfitting), "inconclusive" otherwise (closer,
    but not significantly)."""
    if p_value < ALPHA:
        return "copying"
    return "no copying" if z >= 0 else "inconclusive"


def _copying_sentence(values: dict[str, Any]) -> str:
    """The verdict in words (whole sentences), the ratio of medians as the size of the effect."""
    ratio, verdict = values["ratio"], values["verdict"]
    if ratio is None:
        size = "No ratio measures the size of the effect: the held-out samples' median distance is 0."
    else:
        size = (f"The size of the effect: the generated samples' median distance is {ratio:.1%} of the held-out "
                f"samples' ({abs(1 - ratio):.1%} {'closer' if ratio < 1 else 'farther'}).")
    if verdict == "copying":
        return (f"With p below {ALPHA:g}, generated samples sit significantly closer to the training set than "
                f"held-out real samples do: a sign of data copying. {size}")
    if verdict == "no copying":
        if values["possible_underfitting"]:
            return (f"Generated samples sit significantly farther from the training set than held-out real samples "
                    f"(p {values['p_value_farther']:.3g} the other way, below {ALPHA:g}): no sign of copying, but "
                    f"possibly underfitting, as they are less like the data than real samples are. {size}")
        return (f"Generated samples sit no closer to the training set than held-out real samples: no sign of "
                f"copying. {size}")
    return (f"Generated samples sit closer to the training set than held-out real samples, but not significantly "
            f"(p not below {ALPHA:g}): inconclusive. {size}")


def possible_underfitting(z: float, p_value_farther: float) -> bool:
    """Generated samples significantly farther from the training data than held-out ones are: the
    generator may not have learnt the data (the other side of Meehan et al.'s test)."""
    return bool(z > 0 and p_value_farther < ALPHA)


def measure_data_copying(ctx: Context) -> Result:
    """Nearest-training-sample distances of generated samples against those of test samples."""
    from zoo.plots import pyplot

    train, test = ctx.data.train.x, ctx.data.test.x
    generated, _ = generate(ctx, ctx.count(GENERATED))
    found = data_copying(generated, train, test)
    values = {key: rounded(found[key]) for key in ("median_generated", "median_test", "ratio", "z")}
    values.update({"p_value": float(f"{found['p_value']:.6g}"),
                   "p_value_farther": float(f"{found['p_value_farther']:.6g}"), "alpha": ALPHA,
                   "verdict": copying_verdict(found["p_value"], found["z"]),
                   "possible_underfitting": possible_underfitting(found["z"], found["p_value_farther"]),
                   "generated": found["generated"], "test": found["test"], "distance": "euclidean, pixel space"})
    ratio = f"{values['ratio']:.3f}" if values["ratio"] is not None else "undefined"
    summary = (f"The median distance of a generated sample to its nearest training sample is "
               f"{values['median_generated']:.3f}, against {values['median_test']:.3f} for held-out test samples "
               f"(ratio {ratio}; Mann-Whitney z {values['z']:.2f}, one-sided p {values['p_value']:.3g}). "
               f"{_copying_sentence(values)}")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 3.0), layout="constrained")
    histograms(ax, {"generated": found["generated_distances"], "test (held out)": found["test_distances"]},
               "distance to nearest training sample")
    for median, style in ((values["median_generated"], "-"), (values["median_test"], "--")):
        ax.axvline(median, color="black", linestyle=style, linewidth=1)
    figures = [save_figure(ctx, "distances", fig,
                            "Distance of each generated sample and each held-out test sample to its nearest training "
                            "sample, their medians as vertical lines (solid: generated, dashed: held out); generated "
                            "samples piled up near 0, left of the held-out ones, would be copies.")]
    path = ctx.figure("nearest")
    _nearest_figure(generated, train, test, found, values, path)
    figures.append(Figure(path.name, f"The {min(SHOWN, len(generated))} generated samples closest to the training "
                                     f"set, each above its nearest training sample, and the same for the held-out "
                                     f"test samples closest to it; under each pair its distance. Real samples new to "
                                     f"the model sit as close to the training set as these copies-at-a-glance do: "
                                     f"the verdict compares the two sets of distances, not single pairs."))
    table = Table(["samples", "count", "median distance to nearest training sample"],
                  [["generated", values["generated"], values["median_generated"]],
                   ["test (held out)", values["test"], values["median_test"]]],
                  f"Ratio of medians {ratio}, the size of the effect: 1 is as far as new samples from the data "
                  f"(held out) sit, below 1 closer, as copies would; whether the difference is a sign of copying is "
                  f"the test's verdict in the summary.")
    return Result(summary, values, [table], figures,
                  method=("Data-copying check after Meehan et al. 2020 ('A Non-Parametric Test to Detect "
                          "Data-Copying in Generative Models'): nearest-neighbour distances (scikit-learn) in pixel "
                          "space of generated and held-out test samples to the training split, compared by the "
                          "Mann-Whitney U test (scipy; z < 0 means generated samples are closer), once over whole "
                          "samples where the paper tests each cell of a partition. Read as the paper reads its "
                          f"statistic: a one-sided p below {ALPHA:g} toward closer is a sign of copying, the ratio "
                          "of medians its size; z > 0 is no sign of copying (with the other tail's p below "
                          f"{ALPHA:g}, possibly underfitting); a z below 0 that is not significant is "
                          "inconclusive."))


def _nearest_figure(generated: np.ndarray, train: np.ndarray, test: np.ndarray, found: dict[str, Any],
                    values: dict[str, Any], path) -> None:
    """The likeliest copies beside the reference: the generated samples closest to the training set and the
    held-out test samples closest to it, each over its nearest training sample, with the pair's distance."""
    from zoo.plots import row_pairs

    generated_first = np.argsort(found["generated_distances"], kind="stable")[:SHOWN]
    test_first = np.argsort(found["test_distances"], kind="stable")[:SHOWN]
    distances = [[f"{d:.2f}" for d in found[key][order]]
                 for key, order in (("generated_distances", generated_first), ("test_distances", test_first))]
    row_pairs([generated[generated_first].clip(LOW, HIGH), train[found["nearest"][generated_first]],
               test[test_first], train[found["test_nearest"][test_first]]],
              ["generated", "nearest train", "held-out test", "nearest train"], path,
              notes=[None, distances[0], None, distances[1]],
              title=f"distance to the nearest training sample, median: generated {values['median_generated']:.2f}, "
                    f"held out {values['median_test']:.2f}")


def class_coverage(predicted: np.ndarray, classes: int) -> dict[str, Any]:
    """Which classes a set of predictions holds, and how evenly: the normalised entropy is 1 for a uniform
    histogram and 0 when every sample is one class (mode collapse)."""
    from scipy.stats import entropy

    histogram = np.bincount(predicted, minlength=classes)[:classes] / max(len(predicted), 1)
    return {"classes_present": int((histogram > 0).sum()), "class_fraction": float((histogram > 0).mean()),
            "normalised_entropy": float(entropy(histogram) / math.log(classes)) if classes > 1 else 1.0,
            "histogram": [round(float(h), 6) for h in histogram]}


def _coverage_figure(ctx: Context, generated: list[float], test: list[float]) -> Figure:
    from zoo.plots import legend_outside, pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(min(0.5 * len(generated) + 2.5, 9.0), 3.0), layout="constrained")
    positions = np.arange(len(generated))
    ax.bar(positions - 0.2, generated, width=0.4, label="generated")
    ax.bar(positions + 0.2, test, width=0.4, label="test split")
    names = list(ctx.data.info.class_names) or [str(c) for c in positions]
    ax.set_xticks(positions, names, rotation=0 if max(len(n) for n in names) <= 2 else 90)
    ax.set_xlabel("class (reference classifier)")
    ax.set_ylabel("share of samples")
    legend_outside(fig, "right upper", columns=1)
    return save_figure(ctx, "classes", fig, "Share of generated samples the reference classifier assigns to each "
                                             "class, beside the same for the test split.")


def measure_class_coverage(ctx: Context) -> Result:
    """Classes of generated samples through the reference classifier, against the test split's."""
    from threadpoolctl import threadpool_limits

    from zoo.metrics import reference_classifier

    data, classes = ctx.data, ctx.data.info.num_classes
    if data.train.y is None or classes < 2:
        return Result("Not measured: the data has no class labels to train the reference classifier on.",
                      {"measured": False})
    with threadpool_limits(1):  # a small MLP gains nothing from BLAS threads, which spin on a busy machine
        reference = reference_classifier(data)  # (the fitted weights are the same at any thread count)
    generated, labels = generate(ctx, ctx.count(GENERATED))
    predicted, read_test = reference.predict(generated), reference.predict(data.test.x)
    found, real = class_coverage(predicted, classes), class_coverage(read_test, classes)
    values = {**{key: rounded(v) if isinstance(v, float) else v for key, v in found.items()},
              "test_normalised_entropy": rounded(real["normalised_entropy"]), "test_histogram": real["histogram"],
              "reference_accuracy": rounded(float((read_test == data.test.y).mean())),
              "samples": len(generated), "classes": classes}
    missing = [str(c) for c, share in enumerate(found["histogram"]) if share == 0]
    spread = (f"classes {', '.join(missing)} never appear: partial mode collapse" if missing
              else "every class appears" + (" about as evenly as in the test split"
                                            if found["normalised_entropy"] >= real["normalised_entropy"] - 0.05
                                            else ", though less evenly than in the test split"))
    summary = (f"The reference classifier (test accuracy {values['reference_accuracy']:.3f}) finds "
               f"{found['classes_present']} of {classes} classes in {len(generated)} samples, normalised entropy "
               f"{values['normalised_entropy']:.3f} against {values['test_normalised_entropy']:.3f} for the test "
               f"split (1 = all classes equally often): {spread}.")
    rows = [["classes present", f"{found['classes_present']} / {classes}", f"{real['classes_present']} / {classes}"],
            ["normalised entropy", values["normalised_entropy"], values["test_normalised_entropy"]]]
    if labels is not None:
        values["label_accuracy"] = rounded(float((predicted == labels).mean()))
        summary += (f" Asked for a class, the generator draws one the reference classifier reads as that class in "
                    f"{values['label_accuracy']:.1%} of samples.")
        rows.append(["requested label read back", values["label_accuracy"], "-"])
    table = Table(["", "generated", "test split"], rows,
                  f"Class coverage of {len(generated)} generated samples through the reference classifier.")
    return Result(summary, values, [table], [_coverage_figure(ctx, found["histogram"], real["histogram"])],
                  method=("The reference classifier of the Frechet distance (zoo.metrics.reference_classifier: a "
                          "scikit-learn MLP fitted on the training split) labels every sample; coverage is the "
                          "share of classes present and the entropy of the label histogram over log(classes) "
                          "(scipy)."))
