#!/usr/bin/env python3
"""Keras model files in and out of resnet-swift, checked with Keras itself.

Run by hand (NOT in CI) from anywhere, with TensorFlow from PyPI and a built ``resnet-run``::

    pip install tensorflow-cpu tf_keras h5py     # Keras 3.15 / TF 2.21; tf_keras = Keras 2
    swift build -c release                       # or a debug build: --cli .build/debug/resnet-run
    python3 Scripts/keras_files.py --fixtures    # writes Tests/KerasFilesTests/Fixtures/
    python3 Scripts/keras_files.py --prove       # tiny model: import/evaluate/predict/export vs Keras
    python3 Scripts/keras_files.py --prove --resnet50   # also the notebook's ResNet-50 (untrained)

``--fixtures`` trains the tiny model (16x16x3, 6 classes, the one in export_keras_fixtures.py)
for a few steps in Keras 3 so its BN moving statistics are not the initial ones, and writes it as

* ``tiny-keras3.h5``         -- ``model.save("x.h5")`` by Keras 3 (legacy HDF5),
* ``tiny-keras3.weights.h5`` -- ``model.save_weights("x.weights.h5")`` by Keras 3,
* ``tiny-keras2.h5``         -- ``model.save("x.h5")`` by tf.keras 2 (``tf_keras``), same weights,
* ``tiny-test_signs.h5``     -- 8 test images in the SIGNS layout (uint8 ``test_set_x``, ...),
* ``expected.json``          -- versions, a few weight values, Keras' ``model.predict`` on those
  images and ``model.evaluate`` loss/accuracy (the CI tests compare against these).

``--prove`` makes a fresh database in a temporary directory and, for each format, runs
``resnet-run import``, ``evaluate --json`` (vs ``model.evaluate``: accuracy equal, loss within
1e-5 relative) and ``predict --json`` (vs ``model.predict``, 1e-5), then ``resnet-run export``
(.h5 and ``--weights-only``) and loads the exports with ``keras.models.load_model`` /
``model.load_weights`` (predictions must match), and re-imports them (weights bit-identical).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py  # noqa: E402
import numpy as np  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO_ROOT, "Tests", "KerasFilesTests", "Fixtures")
sys.path.insert(0, os.path.join(REPO_ROOT, "Scripts"))


def builders(keras_module):
    """The notebook's builders (from export_keras_fixtures.py) bound to a Keras module
    (Keras 3 ``keras`` or Keras 2 ``tf_keras``)."""
    src = open(os.path.join(REPO_ROOT, "Scripts", "export_keras_fixtures.py")).read()
    start = src.index("def identity_block")
    end = src.index("# --------------------------------------------------------------------------\n# Helpers")
    ns = {"keras": keras_module, "layers": keras_module.layers,
          "glorot_uniform": keras_module.initializers.glorot_uniform, "NUM_CLASSES": 6}
    exec(src[start:end], ns)
    return ns


def signs_like(n, size, seed):
    """Images (uint8) and labels like SIGNS: class-dependent colour blobs plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 6, size=n)
    x = rng.integers(0, 60, size=(n, size, size, 3)).astype(np.int64)
    for i, c in enumerate(y):
        x[i, :, :, c % 3] += 40 * (c + 1)
    return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)


def write_signs(path, split, x, y):
    with h5py.File(path, "w") as f:
        f[f"{split}_set_x"] = x
        f[f"{split}_set_y"] = y
        f["list_classes"] = np.arange(6, dtype=np.int64)


def keras_trained_tiny(keras, dtype="float32"):
    keras.backend.clear_session()
    keras.backend.set_floatx(dtype)
    keras.utils.set_random_seed(0)
    model = builders(keras)["build_tiny_model"]()
    x, y = signs_like(64, 16, seed=1)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x / 255.0, np.eye(6)[y], epochs=3, batch_size=16, verbose=0)
    return model


def export_fixtures():
    import keras
    import tf_keras
    os.makedirs(FIXTURES, exist_ok=True)
    model = keras_trained_tiny(keras)
    paths = {k: os.path.join(FIXTURES, n) for k, n in [
        ("keras3", "tiny-keras3.h5"), ("keras3-weights", "tiny-keras3.weights.h5"),
        ("keras2", "tiny-keras2.h5"), ("test", "tiny-test_signs.h5")]}
    model.save(paths["keras3"])
    model.save_weights(paths["keras3-weights"])

    tf_keras.backend.clear_session()
    k2 = builders(tf_keras)["build_tiny_model"]()
    k2.set_weights(model.get_weights())
    k2.save(paths["keras2"])

    x, y = signs_like(8, 16, seed=2)
    write_signs(paths["test"], "test", x, y)
    xf = x / 255.0
    probs = model.predict(xf, verbose=0)
    loss, acc = model.evaluate(xf, np.eye(6)[y], verbose=0)
    assert np.allclose(k2.predict(xf, verbose=0), probs, atol=1e-6)

    weights = {}
    for layer in model.layers:
        for var in layer.weights:
            name = layer.name + "/" + var.name.split("/")[-1].split(":")[0]
            weights[name] = np.asarray(var.numpy()).ravel()
    sample = {n: [float(v) for v in weights[n][:3]] for n in
              ["conv1/kernel", "conv1/bias", "bn_conv1/gamma", "bn_conv1/moving_mean",
               "bn_conv1/moving_variance", "bn3b_branch2c/moving_variance", "fc6/kernel", "fc6/bias"]}
    expected = {
        "generator": "Scripts/keras_files.py --fixtures",
        "keras": keras.__version__, "tf_keras": tf_keras.__version__,
        "note": "tiny model trained 3 epochs on 64 synthetic images (BN statistics moved); float32",
        "weights_first_values": sample,
        "test_labels": [int(v) for v in y],
        "predict": [[float(v) for v in row] for row in probs],
        "evaluate": {"loss": float(loss), "accuracy": float(acc)},
    }
    with open(os.path.join(FIXTURES, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    for p in list(paths.values()) + [os.path.join(FIXTURES, "expected.json")]:
        print(f"wrote {os.path.relpath(p, REPO_ROOT)} ({os.path.getsize(p)} bytes)")


def cli(args, cwd, binary):
    r = subprocess.run([binary] + args, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"resnet-run {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    return json.loads(lines[-1]) if lines else r.stdout


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-30)


def prove(keras, model, name, files, test_path, x, y, binary, work, dtype_tol=1e-5):
    """Import each of `files`, compare evaluate/predict with Keras, export, load in Keras."""
    xf = x / 255.0
    k_probs = model.predict(xf, verbose=0)
    if getattr(model, "optimizer", None) is None:
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    k_loss, k_acc = model.evaluate(xf, np.eye(6)[y], verbose=0, batch_size=32)
    print(f"{name}: Keras model.evaluate loss {k_loss:.8f} accuracy {k_acc:.6f} on {len(y)} images")
    db = os.path.join(work, "experiments.db")
    worst = 0.0
    for fmt, path in files.items():
        t0 = time.perf_counter()
        imp = cli(["import", path, "--db", db, "--label", f"{name}-{fmt}", "--json"], work, binary)
        t_imp = time.perf_counter() - t0
        run = str(imp["run"])
        ev = cli(["evaluate", "--run", run, "--db", db, "--data", test_path, "--json"], work, binary)
        p_err = 0.0
        for i in range(min(len(y), 8)):
            pr = cli(["predict", "--run", run, "--db", db, "--data", test_path, "--index", str(i), "--json"], work, binary)
            p_err = max(p_err, float(np.max(np.abs(np.array(pr["probabilities"]) - k_probs[i]))))
        acc_ok = round(k_acc * len(y)) == ev["correct"]  # Keras reports a float32 mean
        loss_rel = rel(ev["loss"], k_loss)
        worst = max(worst, p_err)
        print(f"  {fmt:16s} run {run} ({imp['model']}, import {imp['seconds']:.3f} s in-process, {t_imp:.2f} s wall): "
              f"loss {ev['loss']:.8f} (rel diff {loss_rel:.2e}), accuracy {ev['accuracy']:.6f} "
              f"({'equal' if acc_ok else 'DIFFERENT'}), predict max abs diff {p_err:.2e}")
        if not acc_ok or p_err > dtype_tol:
            raise SystemExit(f"{name} {fmt}: not equal to Keras")
        if loss_rel > 1e-5:
            print(f"  NOTE: loss differs by {loss_rel:.2e} relative (Keras' loss path vs ours; see README)")

    # Export the first run and load it in Keras.
    out_h5 = os.path.join(work, f"{name}-export.h5")
    out_w = os.path.join(work, f"{name}-export.weights.h5")
    e1 = cli(["export", "--run", run, "--db", db, out_h5, "--json"], work, binary)
    e2 = cli(["export", "--run", run, "--db", db, "--weights-only", out_w, "--json"], work, binary)
    loaded = keras.models.load_model(out_h5)
    d1 = float(np.max(np.abs(loaded.predict(xf, verbose=0) - k_probs)))
    model.load_weights(out_w)
    d2 = float(np.max(np.abs(model.predict(xf, verbose=0) - k_probs)))
    print(f"  export .h5 {e1['bytes']} bytes in {e1['seconds']:.3f} s: keras.models.load_model predicts max abs diff {d1:.2e}")
    print(f"  export .weights.h5 {e2['bytes']} bytes in {e2['seconds']:.3f} s: model.load_weights predicts max abs diff {d2:.2e}")
    if d1 != 0.0 or d2 != 0.0:
        raise SystemExit(f"{name}: the export does not give Keras' predictions back exactly")
    for path in (out_h5, out_w):
        again = cli(["import", path, "--db", db, "--json"], work, binary)
        print(f"  re-import of {os.path.basename(path)}: run {again['run']}")
    return worst


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fixtures", action="store_true")
    ap.add_argument("--prove", action="store_true")
    ap.add_argument("--resnet50", action="store_true", help="with --prove: also the notebook's ResNet-50")
    ap.add_argument("--cli", default=None, help="resnet-run binary (default: .build/release, else .build/debug)")
    args = ap.parse_args(argv)
    if args.fixtures:
        export_fixtures()
    if not args.prove:
        return
    import keras
    import tf_keras
    binary = args.cli or next(p for p in [os.path.join(REPO_ROOT, ".build", c, "resnet-run") for c in ("release", "debug")]
                              if os.path.exists(p))
    print(f"Keras {keras.__version__}, tf_keras {tf_keras.__version__}, resnet-run {binary}")
    work = tempfile.mkdtemp(prefix="keras-files-")
    try:
        model = keras_trained_tiny(keras)
        x, y = signs_like(40, 16, seed=3)
        test = os.path.join(work, "tiny_test_signs.h5")
        write_signs(test, "test", x, y)
        files = {"keras3-h5": os.path.join(work, "tiny.h5"), "keras3-weights-h5": os.path.join(work, "tiny.weights.h5"),
                 "keras2-h5": os.path.join(work, "tiny-k2.h5")}
        model.save(files["keras3-h5"])
        model.save_weights(files["keras3-weights-h5"])
        tf_keras.backend.clear_session()
        k2 = builders(tf_keras)["build_tiny_model"]()
        k2.set_weights(model.get_weights())
        k2.save(files["keras2-h5"])
        prove(keras, model, "tiny", files, test, x, y, binary, work)

        if args.resnet50:
            keras.backend.clear_session()
            keras.backend.set_floatx("float32")
            keras.utils.set_random_seed(0)
            r50 = builders(keras)["build_resnet50_signs"]()
            # Untrained, but with non-trivial BN statistics so they are checked too.
            rng = np.random.default_rng(7)
            for layer in r50.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    c = layer.gamma.shape[0]
                    layer.moving_mean.assign(rng.uniform(-0.1, 0.1, c).astype("float32"))
                    layer.moving_variance.assign(rng.uniform(0.5, 1.5, c).astype("float32"))
            x, y = signs_like(120, 64, seed=4)
            test = os.path.join(work, "r50_test_signs.h5")
            write_signs(test, "test", x, y)
            path = os.path.join(work, "ResNet50.h5")
            t0 = time.perf_counter()
            r50.save(path)
            print(f"Keras model.save(ResNet50.h5): {time.perf_counter() - t0:.2f} s, {os.path.getsize(path)} bytes")
            # The course's ResNet50.h5 is a Keras 2 file: write the same weights with tf_keras too.
            tf_keras.backend.clear_session()
            k2 = builders(tf_keras)["build_resnet50_signs"]()
            k2.set_weights(r50.get_weights())
            path2 = os.path.join(work, "ResNet50-k2.h5")
            k2.save(path2)
            del k2
            prove(keras, r50, "resnet50", {"keras3-h5": path, "keras2-h5": path2}, test, x, y, binary, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
