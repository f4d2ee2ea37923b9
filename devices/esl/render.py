"""Price-tag images: one layout, drawn with Pillow or sent as an AP JSON template.

The layout is computed once as a list of boxes and texts
(:func:`layout_tag`); :func:`render_tag` draws it into a palette image whose
palette is exactly the panel's colours, and :func:`json_template` writes the
same boxes and texts in OpenEPaperLink's JSON-template form (``/jsonupload``)
for access points that draw on their own.

Output is deterministic: the same content, mode and panel give the same
pixels and the same encoded bytes (the font is the one Pillow ships, text is
drawn without anti-aliasing because a palette image has no in-between
colours, and the encoders run with fixed settings). ``RenderedTag.pixel_hash``
therefore identifies what a tag shows and is used to confirm a change.

Text is limited to what Pillow's bundled font (Aileron) can draw: Latin
letters, digits and common punctuation. Currency is printed as its ISO code,
because the font has no euro sign.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from PIL import Image, ImageDraw, ImageFont

from devices.esl.displays import Display
from devices.esl.model import TagContent, TagMode

ImageFormat = Literal["jpeg", "bmp", "png", "raw"]

LAYOUTS = ("standard", "price_only")
"""Layout ids a ``TagContent.layout`` may name."""

JPEG_QUALITY = 95
"""High enough that the access point's nearest-colour mapping recovers every pixel's colour."""

MIN_FONT_PX = 8
_REF_PX = 100
AP_TEMPLATE_FONT = "Signika-SB.ttf"
"""A TrueType font every OpenEPaperLink AP ships (contentmanager ``drawString`` scales it)."""


@dataclass(frozen=True, slots=True)
class Box:
    """A filled rectangle; ``x1``/``y1`` exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int
    color: str


@dataclass(frozen=True, slots=True)
class Text:
    """A line of text whose ink starts at ``x`` (left) or ends at ``x`` (right), top at ``y``."""

    x: int
    y: int
    text: str
    size_px: int
    color: str
    align: Literal["left", "right"] = "left"
    bold: bool = False


Op = Box | Text


@lru_cache(maxsize=256)
def _font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size_px)


def _stroke(size_px: int, bold: bool) -> int:
    return max(1, size_px // 28) if bold else 0


@lru_cache(maxsize=8192)
def text_bbox(text: str, size_px: int, bold: bool = False) -> tuple[int, int, int, int]:
    """Ink box of ``text`` relative to the drawing origin (left, top, right, bottom)."""
    left, top, right, bottom = _font(size_px).getbbox(text, stroke_width=_stroke(size_px, bold))
    return int(left), int(top), int(right), int(bottom)


def _fits(text: str, size_px: int, width: int, height: int, bold: bool) -> bool:
    left, top, right, bottom = text_bbox(text, size_px, bold)
    return right - left <= width and bottom - top <= height


@lru_cache(maxsize=4096)
def fit_size(text: str, width: int, height: int, *, bold: bool = False, max_px: int = 400) -> int:
    """Largest font size (px) at which ``text`` fits ``width`` x ``height`` (MIN_FONT_PX floor).

    Glyph boxes grow almost linearly with the size, so one measurement at a
    reference size gives a guess that is then corrected a pixel at a time:
    two or three measurements instead of a bisection's seven.
    """
    cap = max(MIN_FONT_PX, min(max_px, height * 2))
    left, top, right, bottom = text_bbox(text, _REF_PX, bold)
    guess = min(
        cap,
        int(_REF_PX * width / max(1, right - left)),
        int(_REF_PX * height / max(1, bottom - top)),
    )
    size = max(MIN_FONT_PX, guess)
    while size > MIN_FONT_PX and not _fits(text, size, width, height, bold):
        size -= 1
    while size < cap and _fits(text, size + 1, width, height, bold):
        size += 1
    return size


def _shorten(text: str, size_px: int, width: int) -> str:
    """``text`` cut with '...' so that it fits ``width`` at ``size_px``."""
    if _fits(text, size_px, width, 10**6, False):
        return text
    for cut in range(len(text) - 1, 0, -1):
        candidate = text[:cut].rstrip() + "..."
        if _fits(candidate, size_px, width, 10**6, False):
            return candidate
    return "..."


def _line(text: str, x: int, y: int, width: int, height: int, color: str, **kw: Any) -> Text:
    """A text line as large as fits the box, shortened at the smallest size."""
    size = fit_size(text, width, height, bold=bool(kw.get("bold")))
    if size == MIN_FONT_PX:
        text = _shorten(text, size, width)
    if kw.get("align") == "right":
        x = x + width
    return Text(x, y, text, size, color, **kw)


def layout_tag(
    content: TagContent,
    display: Display,
    mode: TagMode = TagMode.NORMAL,
    message: str | None = None,
) -> list[Op]:
    """Boxes and texts of one tag; ``message`` is a shelf message shown in the banner.

    Modes: ``normal`` shows the promo banner (the price in the accent colour
    while a promo runs); ``no_animations`` drops the banner; ``dimmed``
    draws name, price and unit price in black only; ``blank`` draws nothing.
    The unit price stays in every mode but blank (price-marking law).
    """
    if content.layout not in LAYOUTS:
        raise ValueError(f"{content.sku}: unknown layout {content.layout!r} (known: {LAYOUTS})")
    if mode is TagMode.BLANK:
        return []
    w, h = display.width, display.height
    margin = max(2, h // 32)
    accent = display.accent if mode is not TagMode.DIMMED else None
    banner_text = message if message is not None else content.promo
    show_banner = banner_text is not None and (message is not None or mode is TagMode.NORMAL)
    ops: list[Op] = []
    bottom = h
    if show_banner and banner_text:
        banner_h = max(12, round(h * 0.2))
        bottom = h - banner_h
        ops.append(Box(0, bottom, w, h, accent or "black"))
        ops.append(
            _line(
                banner_text,
                margin,
                bottom + margin,
                w - 2 * margin,
                banner_h - 2 * margin,
                "white",
                bold=True,
            )
        )
    name_h = max(10, round(h * 0.17))
    ops.append(_line(content.name, margin, margin, w - 2 * margin, name_h, "black"))
    top = margin + name_h + margin
    small_h = max(9, round(h * 0.1))
    show_unit = content.unit_price is not None and content.layout == "standard"
    price_bottom = bottom - margin - (small_h + margin if show_unit else 0)
    price_color = accent if accent and content.promo and mode is TagMode.NORMAL else "black"
    currency_w = max(20, w // 7)
    ops.append(
        _line(
            content.price_text,
            margin,
            top,
            w - 3 * margin - currency_w,
            max(MIN_FONT_PX, price_bottom - top),
            price_color,
            align="right",
            bold=True,
        )
    )
    ops.append(
        _line(content.currency, w - margin - currency_w, top, currency_w, small_h, price_color)
    )
    if show_unit and content.unit_price:
        ops.append(
            _line(
                content.unit_price,
                margin,
                bottom - margin - small_h,
                w - 2 * margin,
                small_h,
                "black",
            )
        )
    return ops


@dataclass(frozen=True)
class RenderedTag:
    """A palette image of exactly the panel's size and colours, and its pixel hash.

    ``pixel_hash`` is SHA-256 over the size, the palette and the palette
    indices, so it changes only when what the tag shows changes.
    """

    display: Display
    image: Image.Image
    pixel_hash: str

    def encode(self, fmt: ImageFormat = "jpeg") -> bytes:
        """The image as the access point takes it.

        ``jpeg`` for OpenEPaperLink's ``/imgupload`` (4:4:4, no chroma
        subsampling, so red edges stay red); ``bmp``/``png`` keep the
        palette; ``raw`` is one palette index per pixel, row by row.
        """
        if fmt == "raw":
            return self.image.tobytes()
        out = io.BytesIO()
        if fmt == "jpeg":
            self.image.convert("RGB").save(
                out, "JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=False
            )
        elif fmt == "bmp":
            self.image.save(out, "BMP")
        elif fmt == "png":
            self.image.save(out, "PNG", optimize=False, compress_level=6)
        else:
            raise ValueError(f"unknown image format {fmt!r} (jpeg, bmp, png, raw)")
        return out.getvalue()

    def color_counts(self) -> dict[str, int]:
        """Pixels per palette colour name."""
        counts: dict[str, int] = dict.fromkeys(self.display.colors, 0)
        for count, index in self.image.getcolors(maxcolors=256) or []:
            assert isinstance(index, int)  # a palette image's colours are indices
            counts[self.display.colors[index]] = count
        return counts


def _new_canvas(display: Display) -> Image.Image:
    image = Image.new("P", (display.width, display.height), 0)
    flat = [v for rgb in display.palette_rgb() for v in rgb]
    image.putpalette(flat)
    return image


def _finish(display: Display, image: Image.Image) -> RenderedTag:
    digest = hashlib.sha256()
    digest.update(f"{display.width}x{display.height}:{','.join(display.colors)}:".encode())
    digest.update(image.tobytes())
    return RenderedTag(display, image, digest.hexdigest())


def draw_ops(display: Display, ops: Sequence[Op]) -> RenderedTag:
    """Draw ``ops`` onto a white canvas of the panel."""
    image = _new_canvas(display)
    draw = ImageDraw.Draw(image)
    for op in ops:
        if isinstance(op, Box):
            draw.rectangle((op.x0, op.y0, op.x1 - 1, op.y1 - 1), fill=display.index(op.color))
            continue
        stroke = _stroke(op.size_px, op.bold)
        left, top, right, _ = text_bbox(op.text, op.size_px, op.bold)
        x = op.x - left if op.align == "left" else op.x - right
        ink = display.index(op.color)
        draw.text(
            (x, op.y - top),
            op.text,
            font=_font(op.size_px),
            fill=ink,
            stroke_width=stroke,
            stroke_fill=ink,
        )
    return _finish(display, image)


def render_tag(
    content: TagContent,
    display: Display,
    mode: TagMode = TagMode.NORMAL,
    message: str | None = None,
) -> RenderedTag:
    """The tag image for ``content`` in ``mode`` (see :func:`layout_tag`)."""
    return draw_ops(display, layout_tag(content, display, mode, message))


def render_test_pattern(display: Display) -> RenderedTag:
    """Colour bars, a one-pixel border and the panel's size: for commissioning a tag.

    Each palette colour gets a vertical bar, so a panel that cannot show a
    colour (or an AP that maps it wrongly) is visible at a glance.
    """
    w, h = display.width, display.height
    ops: list[Op] = []
    bar_w = w // len(display.colors)
    bar_top = h // 2
    for i, color in enumerate(display.colors):
        ops.append(
            Box(
                i * bar_w, bar_top, w if i == len(display.colors) - 1 else (i + 1) * bar_w, h, color
            )
        )
    ops += [
        Box(0, 0, w, 1, "black"),
        Box(0, h - 1, w, h, "black"),
        Box(0, 0, 1, h, "black"),
        Box(w - 1, 0, w, h, "black"),
    ]
    ops.append(_line(f"{w}x{h}", 4, 4, w - 8, bar_top - 8, "black", bold=True))
    return draw_ops(display, ops)


def json_template(
    content: TagContent,
    display: Display,
    mode: TagMode = TagMode.NORMAL,
    message: str | None = None,
) -> list[dict[str, list[Any]]]:
    """The layout as an OpenEPaperLink JSON template for ``POST /jsonupload``.

    Element forms follow the AP's ``drawElement`` (contentmanager.cpp):
    ``{"box": [x, y, w, h, color]}`` and ``{"text": [x, y, text, font, color,
    align, size]}`` with align 0 = top-left, 2 = top-right. The AP draws with
    its own font, so glyph widths differ slightly from :func:`render_tag`.
    """
    out: list[dict[str, list[Any]]] = []
    for op in layout_tag(content, display, mode, message):
        if isinstance(op, Box):
            out.append({"box": [op.x0, op.y0, op.x1 - op.x0, op.y1 - op.y0, op.color]})
        else:
            align = 0 if op.align == "left" else 2
            out.append(
                {"text": [op.x, op.y, op.text, AP_TEMPLATE_FONT, op.color, align, op.size_px]}
            )
    return out
