"""What an OpenEPaperLink access point does with an uploaded image, in small.

The AP decodes the JPEG (only JPEG: it uses TJpgDec), maps every pixel to a
panel colour (nearest colour with the AP's weights 3 / 5.47 / 1.53, greys
never becoming red or yellow; ``dither=1`` spreads the error Floyd-Steinberg
style), packs one bit plane per non-white colour and takes the MD5 of that
buffer. The tag database's ``hash`` is the first 8 bytes of that MD5
followed by 8 zero bytes (newproto.cpp ``processXferComplete`` copies the
64-bit ``dataVer``), so a driver cannot predict it from the JPEG it sent.

The simulator looks the colour mapping up at 6 bits per channel, which
differs from the AP's only on colour boundaries. Panels are the AP's own
table (``resources/tagtypes/<hwType>.json``): size and colour table. The
simulator is stricter than the AP about size: an image that is neither
W x H nor H x W is refused instead of being cropped.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

COLORS = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "red": (255, 0, 0),
    "yellow": (255, 255, 0),
}


@dataclass(frozen=True)
class Panel:
    """A tag's display as the AP's tagtypes file describes it."""

    hw_type: int
    name: str
    width: int
    height: int
    colors: tuple[str, ...]


PANELS = {
    p.hw_type: p
    for p in (
        Panel(0x00, 'M2 1.54"', 152, 152, ("white", "black", "red")),
        Panel(0x01, 'M2 2.9"', 296, 128, ("white", "black", "red")),
        Panel(0x02, 'M2 4.2"', 400, 300, ("white", "black", "red")),
        Panel(0x21, 'ST-GM29XXF 2.9"', 296, 128, ("white", "black")),
        Panel(0x28, 'M3 1.6" BWRY', 168, 168, ("white", "black", "red", "yellow")),
    )
}


class RasterError(ValueError):
    """The AP could not turn the upload into a tag image (text as the AP logs it)."""


@dataclass(frozen=True)
class TagImage:
    """Palette indices as the tag shows them, the packed buffer and its AP hash."""

    panel: Panel
    indices: npt.NDArray[np.uint8]  # (height, width) uint8, index into panel.colors
    buffer: bytes

    @property
    def md5(self) -> bytes:
        """MD5 of the packed buffer, as the AP computes it."""
        return hashlib.md5(self.buffer).digest()

    @property
    def db_hash(self) -> str:
        """The ``hash`` the tag database shows once the tag has fetched this image."""
        return self.md5[:8].hex() + "0" * 16

    def counts(self) -> dict[str, int]:
        """Pixels per colour name."""
        values, counts = np.unique(self.indices, return_counts=True)
        return {self.panel.colors[int(v)]: int(c) for v, c in zip(values, counts, strict=True)}

    def region_counts(self, box: tuple[int, int, int, int]) -> dict[str, int]:
        """Pixels per colour inside ``box`` (x0, y0, x1, y1; x1/y1 exclusive)."""
        x0, y0, x1, y1 = box
        values, counts = np.unique(self.indices[y0:y1, x0:x1], return_counts=True)
        return {self.panel.colors[int(v)]: int(c) for v, c in zip(values, counts, strict=True)}


def _pack(panel: Panel, indices: npt.NDArray[np.uint8]) -> TagImage:
    planes = [np.packbits(indices == i).tobytes() for i in range(1, len(panel.colors))]
    return TagImage(panel, indices, b"".join(planes))


def _nearest_exact(colors: tuple[str, ...], rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Nearest panel colour per pixel with the AP's weights; greys stay black/white."""
    pixels = rgb.astype(np.int32)
    grey = (np.abs(pixels[..., 0] - pixels[..., 1]) < 20) & (
        np.abs(pixels[..., 2] - pixels[..., 1]) < 20
    )
    best = np.zeros(pixels.shape[:-1], dtype=np.uint8)
    best_d = np.full(pixels.shape[:-1], np.inf)
    for index, name in enumerate(colors):
        r, g, b = COLORS[name]
        d = (
            3.0 * (pixels[..., 0] - r) ** 2
            + 5.47 * (pixels[..., 1] - g) ** 2
            + 1.53 * (pixels[..., 2] - b) ** 2
        )
        if name not in ("white", "black"):
            d = np.where(grey, np.inf, d)
        closer = d < best_d
        best[closer] = index
        best_d = np.where(closer, d, best_d)
    return best


@lru_cache(maxsize=16)
def _lut(colors: tuple[str, ...]) -> npt.NDArray[np.uint8]:
    """The exact mapping for every colour at 6 bits per channel (centre of each cell)."""
    levels = (np.arange(64, dtype=np.int32) << 2) + 2
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    cube = np.stack([r, g, b], axis=-1).reshape(-1, 3).astype(np.uint8)
    return _nearest_exact(colors, cube)


def _nearest(panel: Panel, rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """:func:`_nearest_exact` through a lookup table: a JPEG of a whole tag in a millisecond."""
    q = rgb >> 2
    index = (q[..., 0].astype(np.int32) << 12) | (q[..., 1].astype(np.int32) << 6) | q[..., 2]
    mapped: npt.NDArray[np.uint8] = _lut(panel.colors)[index]
    return mapped


def from_jpeg(panel: Panel, data: bytes, dither: int) -> TagImage:
    """Decode an upload like ``jpg2buffer`` + ``spr2buffer`` would."""
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise RasterError(f"invalid jpg ({exc})") from None
    if image.format != "JPEG":
        raise RasterError(f"invalid jpg (got {image.format})")
    size = (panel.width, panel.height)
    if image.size == (panel.height, panel.width) and size != image.size:
        image = image.rotate(90, expand=True)
    if image.size != size:
        raise RasterError(
            f"image {image.size[0]}x{image.size[1]} does not fit the "
            f"{panel.width}x{panel.height} panel of hwType 0x{panel.hw_type:02X}"
        )
    rgb = image.convert("RGB")
    if dither:
        palette = Image.new("P", (1, 1))
        flat = [v for name in panel.colors for v in COLORS[name]]
        palette.putpalette(flat + flat[:3] * (256 - len(panel.colors)))
        quantized = rgb.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG)
        indices = np.asarray(quantized, dtype=np.uint8).copy()
        indices[indices >= len(panel.colors)] = 0
    else:
        indices = _nearest(panel, np.asarray(rgb))
    return _pack(panel, indices)


def from_template(panel: Panel, elements: object) -> TagImage:
    """Draw a JSON template (``/jsonupload``): text, box and line elements.

    Fonts are the simulator's own (Pillow's default at the requested size):
    the point is a deterministic image per template, not the AP's glyphs.
    """
    if not isinstance(elements, list):
        raise RasterError("json error: template must be an array of elements")
    image = Image.new("P", (panel.width, panel.height), 0)
    draw = ImageDraw.Draw(image)

    def color(value: object) -> int:
        name = {"0": "white", "1": "black", "2": "red", "3": "yellow"}.get(str(value), str(value))
        return panel.colors.index(name) if name in panel.colors else 1

    for element in elements:
        if not isinstance(element, dict):
            raise RasterError("json error: element is not an object")
        try:
            if "box" in element:
                x, y, w, h, c = element["box"][:5]
                draw.rectangle(
                    (int(x), int(y), int(x) + int(w) - 1, int(y) + int(h) - 1), fill=color(c)
                )
            elif "text" in element:
                args = element["text"]
                x, y, text = int(args[0]), int(args[1]), str(args[2])
                c = args[4] if len(args) > 4 else "black"
                align = int(args[5]) if len(args) > 5 else 0
                size = int(args[6]) if len(args) > 6 and args[6] else 16
                font = ImageFont.load_default(size=size)
                anchor = {0: "lt", 1: "mt", 2: "rt"}.get(align, "lt")
                draw.text((x, y), text, font=font, fill=color(c), anchor=anchor)
            elif "line" in element:
                x0, y0, x1, y1, c = element["line"][:5]
                draw.line((int(x0), int(y0), int(x1), int(y1)), fill=color(c))
        except (TypeError, ValueError, IndexError) as exc:
            raise RasterError(f"json error: bad element {element!r}: {exc}") from None
    return _pack(panel, np.asarray(image, dtype=np.uint8).copy())


def blank(panel: Panel) -> TagImage:
    """An all-white image (a tag that never got content)."""
    return _pack(panel, np.zeros((panel.height, panel.width), dtype=np.uint8))
