#!/usr/bin/env python3
"""Time the same ResNet-50 in Keras (TensorFlow from PyPI) on this machine, for the ratios quoted
in the README and the issues. Run by hand, not in CI; prints one JSON object shaped like
`resnet-run bench` so the two can be compared field by field:

    pip install tensorflow-cpu
    python3 Scripts/keras_bench.py [--steps 5]

Measures, after warm-up: seconds per training step (model.train_on_batch: forward, backward, Adam) at
batch 32, inference images/s at batch 32 and latency at batch 1 (model(x, training=False)), and the
process's peak RSS.
"""
import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

from export_keras_fixtures import build_resnet50_signs  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--fit", action="store_true",
                    help="also time a model.fit epoch over 1,080 images (the second of two)")
    args = ap.parse_args()
    keras.backend.set_floatx("float32")
    model = build_resnet50_signs()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.00015),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    b = args.batch_size
    x = rng.random((b, 64, 64, 3), dtype=np.float32)
    y = np.eye(6, dtype=np.float32)[rng.integers(0, 6, b)]
    for _ in range(2):
        model.train_on_batch(x, y)
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - t0)
    times.sort()
    step = times[len(times) // 2]

    infer = tf.function(lambda t: model(t, training=False))
    infer(x)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        infer(x)
    inference = (time.perf_counter() - t0) / args.steps
    x1 = x[:1]
    infer(x1)
    lat = []
    for _ in range(10):
        t0 = time.perf_counter()
        infer(x1)
        lat.append(time.perf_counter() - t0)
    lat.sort()
    fit_epoch = None
    if args.fit:
        xs = rng.random((1080, 64, 64, 3), dtype=np.float32)
        ys = np.eye(6, dtype=np.float32)[rng.integers(0, 6, 1080)]

        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds = time.perf_counter() - self.t0

        timer = Timer()
        model.fit(xs, ys, epochs=2, batch_size=b, verbose=0, callbacks=[timer])
        fit_epoch = round(timer.seconds, 2)
    print(json.dumps({
        "fit_epoch_seconds_1080_images": fit_epoch,
        "framework": f"keras {keras.__version__} / tensorflow {tf.__version__}",
        "batch_size": b,
        "train_step_seconds_median": round(step, 4),
        "epoch_seconds_estimate_1080_images": round(step * (1080 // b + (1080 % b) / b), 2),
        "train_images_per_second": round(b / step, 2),
        "inference_images_per_second": round(b / inference, 2),
        "inference_batch1_ms_median": round(lat[len(lat) // 2] * 1000, 3),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
