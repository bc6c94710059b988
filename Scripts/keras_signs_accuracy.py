#!/usr/bin/env python3
"""Train the notebooks' ResNet-50 in Keras on the real SIGNS images in ../shared (first 96 of
test_signs.h5 to train, last 24 to test) and print per-epoch metrics as JSON lines, to compare
with `resnet-run train --data-file ../shared/datasets/signs/test_signs.h5 --split 96` at the same
settings. Run by hand (TensorFlow from PyPI):

    python3 Scripts/keras_signs_accuracy.py [--epochs 8 --batch-size 8 --lr 0.001 --seed 0] [--reshuffle]

With TensorFlow seeded (the default here, for a reproducible run), Keras 3.15's `fit(shuffle=True)`
trains on the same permutation in every epoch; `--reshuffle` seeds numpy only, as the notebooks do,
so Keras draws a new order each epoch like `resnet-run train` (see README, Fidelity).
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402

from export_keras_fixtures import build_resnet50_signs  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets", "signs", "test_signs.h5"))
    ap.add_argument("--split", type=int, default=96)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reshuffle", action="store_true", help="seed numpy only: a new order every epoch")
    args = ap.parse_args()
    if args.reshuffle:
        np.random.seed(args.seed)
    else:
        keras.utils.set_random_seed(args.seed)
    with h5py.File(args.file, "r") as f:
        x = np.array(f["test_set_x"], dtype=np.float32) / 255.0
        y = np.eye(6, dtype=np.float32)[np.array(f["test_set_y"])]
    model = build_resnet50_signs()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=args.lr), loss="categorical_crossentropy", metrics=["accuracy"])

    class Log(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(json.dumps({"epoch": epoch + 1, **{k: round(float(v), 4) for k, v in logs.items()}}), flush=True)

    model.fit(x[:args.split], y[:args.split], epochs=args.epochs, batch_size=args.batch_size, verbose=0,
              validation_data=(x[args.split:], y[args.split:]), callbacks=[Log()])


if __name__ == "__main__":
    main()
