"""Drawing for cards and assessments: matplotlib on the Agg backend, PNGs written atomically, legible at the
size a card shows them.

A figure's size in inches is the size a page shows it at, in CSS inches (96 CSS pixels each); it is saved at
``PIXEL_RATIO`` PNG pixels per CSS pixel (the DPI is in the PNG, which is how ``display_size`` and the cards
know the size to show it at), so the picture is never enlarged on screen and stays sharp on high-density
screens. Text is ``TEXT_PT`` points, the 16 CSS pixels of a card's body text at that size: ``save_png`` raises
anything smaller to it (also in a plugin's figures). Legends go outside the data (``legend_outside``).

Part of the plugin API (``zoo.PLUGIN_API``), so that a plugin's assessment draws as the core's do.
Imports only numpy, matplotlib (when drawing), Pillow (when measuring a PNG) and ``zoo.fsutil``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from zoo.fsutil import atomic_write

CSS_DPI = 96  # CSS pixels per inch: a figure of 4 inches shows 384 CSS pixels wide
PIXEL_RATIO = 2  # PNG pixels per CSS pixel
DPI = CSS_DPI * PIXEL_RATIO
TEXT_PT = 12.0  # 12 pt at 96 pixels per inch is 16 CSS pixels: the cards' body text
MAX_WIDTH_IN = 9.5  # a card's text column is 60rem (960 CSS pixels) wide: a wider figure would be shrunk
MAX_HEIGHT_IN = 5.0  # a grid of pictures fits a laptop's first screen (800 pixels) under a card's title
TILE_IN = 0.6  # one small picture (a digit, a sample) in a grid: 58 CSS pixels
_STYLE = {"font.size": TEXT_PT, "axes.titlesize": TEXT_PT, "axes.labelsize": TEXT_PT, "xtick.labelsize": TEXT_PT,
          "ytick.labelsize": TEXT_PT, "legend.fontsize": TEXT_PT, "figure.titlesize": TEXT_PT,
          "legend.title_fontsize": TEXT_PT, "figure.dpi": CSS_DPI, "savefig.dpi": DPI}


def pyplot():
    """matplotlib's pyplot on the Agg backend, with text at ``TEXT_PT`` by default."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(_STYLE)
    return plt


def legible(fig) -> None:
    """Raise every text of ``fig`` smaller than ``TEXT_PT`` (tick labels included) to it."""
    from matplotlib.text import Text

    fig.canvas.draw()  # tick labels exist only once drawn
    for ax in fig.axes:
        for axis in ("x", "y"):
            labels = getattr(ax, f"get_{axis}ticklabels")(which="both")
            if any(label.get_fontsize() < TEXT_PT for label in labels):
                ax.tick_params(axis=axis, which="both", labelsize=TEXT_PT)
    for text in fig.findobj(Text):
        if text.get_text() and text.get_fontsize() < TEXT_PT:
            text.set_fontsize(TEXT_PT)


def save_png(fig, path: Path) -> None:
    """Write ``fig`` as a PNG of ``DPI`` (recorded in the file), its text legible (``legible``), as a palette
    image (``palette``): a card inlines every figure and every bundle carries its card, so bytes count."""
    import io

    from PIL import Image

    legible(fig)
    drawn = io.BytesIO()
    fig.savefig(drawn, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.05, facecolor="white")
    pyplot().close(fig)
    drawn.seek(0)
    with Image.open(drawn) as image:
        indexed = palette(image.convert("RGB"))
    atomic_write(path, lambda tmp: indexed.save(tmp, format="PNG", dpi=(DPI, DPI), optimize=True))


PALETTE_COLOURS = 256


def palette(image):
    """``image`` (RGB) with at most ``PALETTE_COLOURS`` colours, about half the bytes of the RGB PNG: exact when
    the figure has no more (flat plots usually have a few hundred, all from antialiased edges), else a median-cut
    palette without dithering, which moves only those edges' shades (a test bounds the change)."""
    from PIL import Image

    exact = image.getcolors(PALETTE_COLOURS)
    if exact is not None:
        table = [channel for _, colour in exact for channel in colour]
        lookup = Image.new("P", (1, 1))
        lookup.putpalette(table)
        return image.quantize(palette=lookup, dither=Image.Dither.NONE)
    return image.quantize(PALETTE_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def display_size(path: Path) -> tuple[int, int]:
    """The CSS pixels (width, height) a page shows the PNG at: its pixels over its pixel ratio (its DPI over
    ``CSS_DPI``), never more than its own pixels (an older figure of under 96 DPI shows at its own size)."""
    from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
        dpi = image.info.get("dpi", (CSS_DPI, CSS_DPI))[0] or CSS_DPI
    ratio = max(float(dpi) / CSS_DPI, 1.0)
    return max(1, int(width / ratio)), max(1, int(height / ratio))


def legend_outside(fig, where: str = "lower center", columns: int | None = None) -> None:
    """One legend for the whole figure, outside every axes (``fig`` made with ``layout="constrained"``), so
    that it never covers data; entries of the same label in several panels are listed once."""
    handles: dict[str, Any] = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc=f"outside {where}", frameon=False,
                   ncols=columns or min(len(handles), 3))


def picture(sample: np.ndarray) -> np.ndarray:
    """A sample as a 2-D picture: an image's channels averaged; a sequence as its time x feature grid."""
    return sample.mean(axis=0) if sample.ndim == 3 else sample


def strip(pictures: list[np.ndarray], gap: float = np.nan) -> np.ndarray:
    """2-D pictures side by side as one, a column of ``gap`` between them: one image draws far faster than
    one axis per picture (NaN shows as the background)."""
    column = np.full((pictures[0].shape[0], 1), gap)
    return np.concatenate([part for item in pictures for part in (item, column)][:-1], axis=1)


def show_picture(ax, picture: np.ndarray, **style: Any) -> Any:
    ax.set_xticks([])
    ax.set_yticks([])
    return ax.imshow(picture, interpolation="nearest", **style)


def row_pairs(fig_rows: list[np.ndarray], titles: list[str], path: Path, cmap: str = "gray_r",
              notes: Sequence[Sequence[str | tuple[str, str]] | None] | None = None, title: str | None = None,
              tile: float = TILE_IN) -> None:
    """Rows of small pictures, each row named on its left; ``notes``: per row, the text under each picture
    (a distance, a prediction; a ``(text, colour)`` pair to colour it; lines split by newlines) or None;
    ``title`` above the grid. A picture is ``tile`` inches square, less where the grid would be wider than a
    card (``MAX_WIDTH_IN``) or taller than ``MAX_HEIGHT_IN``.

    Each row is one image (``strip``, light grey between the pictures): one axes per row, so the grid is as
    wide as its pictures and draws fast."""
    import matplotlib

    plt = pyplot()
    columns = max(len(r) for r in fig_rows)
    notes = list(notes) if notes is not None else [None] * len(fig_rows)
    label_in = 0.11 * max((len(t) for t in titles), default=0) + 0.2
    lines = [max((len(str(n[0] if isinstance(n, tuple) else n).splitlines()) for n in row), default=0) if row else 0
             for row in notes]
    extra_in = 0.25 * sum(lines) + 0.05 * len(fig_rows) + (0.4 if title else 0)
    tile = min(tile, (MAX_WIDTH_IN - label_in) / columns, (MAX_HEIGHT_IN - extra_in) / len(fig_rows))
    fig, axes = plt.subplots(len(fig_rows), 1, squeeze=False, layout="constrained",
                             figsize=(tile * columns + label_in, tile * len(fig_rows) * 1.05 + extra_in))
    fig.get_layout_engine().set(h_pad=0.02, hspace=0.0)
    style = matplotlib.colormaps[cmap].with_extremes(bad="#dddddd")
    for ax, samples, name, below in zip(axes[:, 0], fig_rows, titles, notes):
        pictures = [picture(sample) for sample in samples]
        size = pictures[0].shape[1]
        pictures += [np.full_like(pictures[0], np.nan, dtype=float)] * (columns - len(pictures))
        show_picture(ax, strip([p.astype(float) for p in pictures]), cmap=style, vmin=0, vmax=1)
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
        if below:
            texts = [n[0] if isinstance(n, tuple) else n for n in below]
            ax.set_xticks([(size + 1) * i + (size - 1) / 2 for i in range(len(below))], texts)
            ax.tick_params(axis="x", length=0)
            for label, note in zip(ax.get_xticklabels(), below):
                if isinstance(note, tuple):
                    label.set_color(note[1])
    if title:
        fig.suptitle(title)
    save_png(fig, path)


def thumbnail(path: Path, box: tuple[int, int] = (160, 96), colours: int = 64) -> tuple[bytes, int, int]:
    """A small copy of a figure for a page that lists many (the catalog): PNG bytes (a palette of ``colours``,
    ``PIXEL_RATIO`` pixels per CSS pixel where the figure has them) and the CSS width and height to show it at,
    the figure's shape kept within ``box`` CSS pixels."""
    import io

    from PIL import Image

    width, height = display_size(path)
    scale = min(box[0] / width, box[1] / height, 1.0)
    shown = max(1, round(width * scale)), max(1, round(height * scale))
    with Image.open(path) as image:
        pixels = min(PIXEL_RATIO, image.size[0] / shown[0])
        small = image.convert("RGB").resize((max(1, round(shown[0] * pixels)), max(1, round(shown[1] * pixels))),
                                            Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.quantize(colours).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue(), shown[0], shown[1]
