#!/usr/bin/env python3
"""Writes the small JPEG/PNG fixtures of Tests/DatasetsTests/Fixtures/photos and the pixel values
the Swift decoder must produce for them (expected.json), using Pillow as the reference.

Run by hand (not in CI):  pip install pillow numpy && python3 Scripts/make_photo_fixtures.py

Expected pixels are what Keras' load_img would see (PIL, then convert("RGB")), except where this
project differs on purpose, which the entries say:
- EXIF-rotated files: PIL's ImageOps.exif_transpose is applied first (load_img does not);
- 16-bit PNGs: the high byte of each sample (PIL reads 16-bit RGB so, but clips 16-bit grayscale
  at 255 when converting "I;16" to RGB).
Resize references are PIL's Image.resize with NEAREST and BILINEAR, which is what load_img's
`interpolation="nearest"` / `"bilinear"` call.
"""
import io
import json
import os
import struct
import zlib

import numpy as np
from PIL import Image, ImageOps

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "Tests", "DatasetsTests", "Fixtures", "photos")
os.makedirs(OUT, exist_ok=True)
rng = np.random.RandomState(7)
expected = {"decode": {}, "resize": []}


def rgb_list(image):
    a = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return [int(v) for v in a.reshape(-1)]


def hexed(values):
    """Pixel bytes as one hex string (two digits per byte, RGB, rows top to bottom)."""
    return bytes(values).hex()


def record(name, pixels, width, height, tolerance=0, orientation=1, note=None):
    entry = {"width": width, "height": height, "pixels": hexed(pixels), "tolerance": tolerance, "orientation": orientation}
    if note:
        entry["note"] = note
    expected["decode"][name] = entry


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png16(path, samples, color_type):
    """A 16-bit PNG by hand (PIL cannot write 16-bit RGB/RGBA): samples is (h, w, c) uint16."""
    h, w = samples.shape[:2]
    raw = b"".join(b"\x00" + samples[y].astype(">u2").tobytes() for y in range(h))
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0))
    data += png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


# A colourful base picture: gradients plus noise, so rotations and flips are all distinguishable.
def base(w, h):
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x * 37 + y * 91) % 256], axis=-1)
    return np.clip(a + rng.randint(-10, 10, size=a.shape), 0, 255).astype(np.uint8)


# 8-bit grayscale, RGB, RGBA, palette with transparency (PNG).
gray = (np.arange(20).reshape(4, 5) * 13).astype(np.uint8)
Image.fromarray(gray, "L").save(os.path.join(OUT, "gray.png"))
record("gray.png", rgb_list(Image.open(os.path.join(OUT, "gray.png"))), 5, 4)

rgb = base(6, 5)
Image.fromarray(rgb, "RGB").save(os.path.join(OUT, "rgb.png"))
record("rgb.png", rgb_list(Image.open(os.path.join(OUT, "rgb.png"))), 6, 5)

rgba = np.concatenate([base(5, 4), rng.randint(0, 256, size=(4, 5, 1)).astype(np.uint8)], axis=-1)
Image.fromarray(rgba, "RGBA").save(os.path.join(OUT, "rgba.png"))
record("rgba.png", rgb_list(Image.open(os.path.join(OUT, "rgba.png"))), 5, 4, note="alpha dropped, as convert('RGB')")

palette = Image.fromarray(base(6, 4), "RGB").quantize(colors=8)
palette.info["transparency"] = 0
palette.save(os.path.join(OUT, "palette.png"), transparency=0)
record("palette.png", rgb_list(Image.open(os.path.join(OUT, "palette.png"))), 6, 4)

# 16-bit: grayscale, RGB and RGBA, written by hand; expected = high byte.
g16 = (rng.randint(0, 65536, size=(3, 4, 1))).astype(np.uint16)
write_png16(os.path.join(OUT, "gray16.png"), g16, 0)
record("gray16.png", [int(v >> 8) for v in np.repeat(g16, 3, axis=-1).reshape(-1)], 4, 3,
       note="high byte of each sample (PIL clips I;16 at 255 instead)")
c16 = (rng.randint(0, 65536, size=(3, 4, 3))).astype(np.uint16)
write_png16(os.path.join(OUT, "rgb16.png"), c16, 2)
assert rgb_list(Image.open(os.path.join(OUT, "rgb16.png"))) == [int(v >> 8) for v in c16.reshape(-1)], "PIL reads 16-bit RGB as the high byte"
record("rgb16.png", [int(v >> 8) for v in c16.reshape(-1)], 4, 3)
a16 = (rng.randint(0, 65536, size=(3, 4, 4))).astype(np.uint16)
write_png16(os.path.join(OUT, "rgba16.png"), a16, 6)
record("rgba16.png", [int(v >> 8) for v in a16[..., :3].reshape(-1)], 4, 3)

# JPEG: colour, grayscale, CMYK (PIL writes Adobe-style inverted CMYK).
photo = base(16, 12)
Image.fromarray(photo, "RGB").save(os.path.join(OUT, "photo.jpg"), quality=95)
record("photo.jpg", rgb_list(Image.open(os.path.join(OUT, "photo.jpg"))), 16, 12, tolerance=1)
Image.fromarray(gray, "L").save(os.path.join(OUT, "gray.jpg"), quality=95)
record("gray.jpg", rgb_list(Image.open(os.path.join(OUT, "gray.jpg"))), 5, 4, tolerance=1)
Image.fromarray(photo, "RGB").convert("CMYK").save(os.path.join(OUT, "cmyk.jpg"), quality=95)
record("cmyk.jpg", rgb_list(Image.open(os.path.join(OUT, "cmyk.jpg"))), 16, 12, tolerance=2)

# EXIF orientations 2...8 on an 8x6 JPEG, and orientation 6 in a PNG eXIf chunk.
small = base(8, 6)
for orientation in range(2, 9):
    exif = Image.Exif()
    exif[0x0112] = orientation
    name = f"exif{orientation}.jpg"
    Image.fromarray(small, "RGB").save(os.path.join(OUT, name), quality=95, exif=exif.tobytes())
    upright = ImageOps.exif_transpose(Image.open(os.path.join(OUT, name)))
    record(name, rgb_list(upright), upright.size[0], upright.size[1], tolerance=1, orientation=orientation,
           note="EXIF orientation applied (ImageOps.exif_transpose); load_img itself ignores it")
exif = Image.Exif()
exif[0x0112] = 6
Image.fromarray(small, "RGB").save(os.path.join(OUT, "exif6.png"), exif=exif.tobytes())
upright = ImageOps.exif_transpose(Image.open(os.path.join(OUT, "exif6.png")))
record("exif6.png", rgb_list(upright), upright.size[0], upright.size[1], orientation=6)

# Truncated files: the first part of a valid one (errors expected, no pixels).
big = base(40, 30)
buffer = io.BytesIO()
Image.fromarray(big, "RGB").save(buffer, "JPEG", quality=90)
with open(os.path.join(OUT, "truncated.jpg"), "wb") as f:
    f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
buffer = io.BytesIO()
Image.fromarray(big, "RGB").save(buffer, "PNG")
with open(os.path.join(OUT, "truncated.png"), "wb") as f:
    f.write(buffer.getvalue()[: len(buffer.getvalue()) * 2 // 3])
with open(os.path.join(OUT, "not-an-image.png"), "wb") as f:
    f.write(b"GIF89a this is not a PNG")

# Resizing: one noisy 37x23 RGB picture, PIL's NEAREST and BILINEAR to several sizes.
source = rng.randint(0, 256, size=(23, 37, 3)).astype(np.uint8)
Image.fromarray(source, "RGB").save(os.path.join(OUT, "resize-source.png"))
for (w, h) in [(16, 16), (45, 30), (10, 30), (5, 23)]:
    for name, flt in [("nearest", Image.NEAREST), ("bilinear", Image.BILINEAR)]:
        out = Image.fromarray(source, "RGB").resize((w, h), flt)
        expected["resize"].append({"source": "resize-source.png", "width": w, "height": h, "interpolation": name,
                                   "pixels": hexed(rgb_list(out))})

with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump(expected, f, separators=(",", ":"))
    f.write("\n")
print("wrote", OUT, sorted(os.listdir(OUT)))
