#!/usr/bin/env python3
"""Write a SIGNS-shaped stand-in data set with real structure: scikit-learn's handwritten digits.

The course's SIGNS photos are not redistributable, so the fidelity comparison (Scripts/
fidelity_side_by_side.py) runs on this instead: `sklearn.datasets.load_digits` (1,797 8x8 images,
16 grey levels, bundled with scikit-learn, no download) restricted to the digits 0-5 (1,083
images), each pixel scaled to 0-255 (round(v * 255 / 16)), upsampled 8x to 64x64 by pixel
replication and repeated over 3 channels, written in the layout `resnet-run train --data DIR` and
the notebooks read:

    DIR/train_signs.h5: train_set_x uint8 (N, 64, 64, 3), train_set_y int64 (N,), list_classes int64 (6,)
    DIR/test_signs.h5:  test_set_x  uint8 (M, 64, 64, 3), test_set_y  int64 (M,), list_classes int64 (6,)

Split (deterministic, about 80/20 and stratified by position): image i of the 0-5 subset, in
load_digits' order, is a test image when i % 5 == 4.

Run by hand (scikit-learn and h5py from PyPI):

    python3 Scripts/make_digits_signs.py --out /tmp/digits      # prints sizes and sha256 of both files
"""
import argparse
import hashlib
import os

import h5py
import numpy as np
from sklearn.datasets import load_digits

CLASSES = 6
SCALE = 8  # 8x8 -> 64x64


def images_and_labels():
    digits = load_digits()
    keep = digits.target < CLASSES
    images = digits.images[keep]            # (n, 8, 8) float, 0..16
    labels = digits.target[keep].astype(np.int64)
    pixels = np.rint(images * (255.0 / 16.0)).astype(np.uint8)
    big = np.kron(pixels, np.ones((SCALE, SCALE), dtype=np.uint8))   # (n, 64, 64)
    rgb = np.repeat(big[..., None], 3, axis=-1)                       # (n, 64, 64, 3)
    return np.ascontiguousarray(rgb), labels


def write(path, prefix, x, y):
    with h5py.File(path, "w") as f:
        f.create_dataset(prefix + "_set_x", data=x)
        f.create_dataset(prefix + "_set_y", data=y)
        f.create_dataset("list_classes", data=np.arange(CLASSES, dtype=np.int64))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="directory for train_signs.h5 and test_signs.h5")
    args = ap.parse_args()
    x, y = images_and_labels()
    test = np.arange(len(y)) % 5 == 4
    os.makedirs(args.out, exist_ok=True)
    for name, prefix, mask in [("train_signs.h5", "train", ~test), ("test_signs.h5", "test", test)]:
        path = os.path.join(args.out, name)
        write(path, prefix, x[mask], y[mask])
        digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
        counts = np.bincount(y[mask], minlength=CLASSES).tolist()
        print(f"{path}: {int(mask.sum())} images, per class {counts}, sha256 {digest}")


if __name__ == "__main__":
    main()
