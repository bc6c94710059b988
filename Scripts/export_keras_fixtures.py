#!/usr/bin/env python3
"""Export Keras reference fixtures for the resnet-swift parity tests.

Run by hand (NOT part of CI) from anywhere; paths are resolved relative to the
repository root (the parent of this script's ``Scripts/`` directory)::

    pip install tensorflow-cpu          # TF 2.21 / Keras 3.15 used originally
    python3 Scripts/export_keras_fixtures.py             # both exports
    python3 Scripts/export_keras_fixtures.py --fixtures  # tiny-model fixtures only
    python3 Scripts/export_keras_fixtures.py --summary   # ResNet-50 summary only
    python3 Scripts/export_keras_fixtures.py --init      # glorot_uniform(seed=0) values only
    python3 Scripts/export_keras_fixtures.py --fit       # keras-tiny-fit (200 Adam steps) only

What it writes
--------------
``--fixtures`` (TINY ResNet, float64, batch 8, 16x16x3 input, 6 classes):

* ``Tests/ModelTests/Fixtures/keras-tiny/tensors.bin`` -- raw little-endian
  float64 values of every tensor, concatenated, each in C (row-major) order
  with the Keras layout (NHWC activations, conv kernel (kh, kw, cin, cout),
  dense kernel (in, out)).
* ``Tests/ModelTests/Fixtures/keras-tiny/manifest.json`` -- versions,
  hyper-parameters, ``loss_path`` and a list of
  ``{"name", "shape", "offset", "count"}`` where ``offset``/``count`` are in
  float64 *elements* (byte offset = 8 * offset).

  Tensors: ``input``, ``labels``, ``initial/<layer>/<weight>``, ``logits``,
  ``probabilities`` (training-mode forward, BN on batch statistics),
  ``inference/probabilities`` (training=False, initial weights/moving stats),
  ``loss`` (1,), ``grad/<layer>/<weight>`` (trainable weights), ``grad/input``,
  ``after_step/<layer>/<weight>`` (all weights after one Adam step; BN moving
  statistics as updated by the single training-mode forward).

``--init`` (Keras' seeded initializer, for Sources/Kernels/KerasInit.swift):

* ``Tests/ModelTests/Fixtures/keras-init/values.bin`` + ``manifest.json`` --
  ``keras.initializers.GlorotUniform(seed=s)(shape, dtype)`` for a few shapes,
  seeds and both float dtypes, stored as raw little-endian values of that dtype
  (``offset`` in bytes), so the Swift test compares bit patterns.

``--fit`` (TINY ResNet, float64, 200 training steps):

* ``Tests/ModelTests/Fixtures/keras-tiny-fit/tensors.bin`` + ``manifest.json``
  -- the same tiny model and initial weights as ``--fixtures``, compiled with
  ``Adam(learning_rate=0.001)`` and ``categorical_crossentropy`` and trained with
  ``train_on_batch`` (the step ``model.fit`` runs) on 20 samples in batches of
  8, 8, 4 -- a fresh committed permutation every epoch, so the partial last batch
  and the reshuffle are exercised -- for 200 steps. Tensors: ``input`` (20
  samples), ``labels``, ``initial/<weight>``, ``losses`` (200, the loss
  ``train_on_batch`` reports for each step: the batch's loss before the update),
  ``final/<weight>`` (all weights incl. BN moving statistics after 200 steps),
  ``adam_m/<weight>`` and ``adam_v/<weight>`` (trainable weights); the manifest's
  ``steps`` lists the sample indices of every step's batch.

``--summary`` (FULL ResNet-50 "signs" model of the course notebook, float32,
64x64x3 input, 6 classes):

* ``Tests/NetSpecTests/Fixtures/keras-resnet50-signs-summary.txt`` -- text of
  ``model.summary(line_length=140)``.
* ``Tests/NetSpecTests/Fixtures/keras-resnet50-signs-shapes.json`` -- list of
  ``{"name", "class", "output_shape" (no batch dim), "params"}`` per layer.

The script also self-checks the export (numpy re-computation of the Adam step,
BN moving-stat update, softmax/cross-entropy gradient, and central finite
differences of the loss) and aborts if a check fails.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402
from keras.initializers import glorot_uniform  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GENERATOR = "Scripts/export_keras_fixtures.py"
TINY_DIR = os.path.join(REPO_ROOT, "Tests", "ModelTests", "Fixtures", "keras-tiny")
NETSPEC_DIR = os.path.join(REPO_ROOT, "Tests", "NetSpecTests", "Fixtures")

BATCH = 8
NUM_CLASSES = 6
LEARNING_RATE = 0.001
ADAM = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}
BN = {"momentum": 0.99, "epsilon": 0.001}


# --------------------------------------------------------------------------
# Course-notebook building blocks (names matter: they key the weights).
# --------------------------------------------------------------------------

def identity_block(X, f, filters, stage, block):
    conv_name_base = "res" + str(stage) + block + "_branch"
    bn_name_base = "bn" + str(stage) + block + "_branch"
    F1, F2, F3 = filters
    X_shortcut = X

    X = layers.Conv2D(F1, (1, 1), strides=(1, 1), padding="valid",
                      name=conv_name_base + "2a",
                      kernel_initializer=glorot_uniform(seed=0))(X)
    X = layers.BatchNormalization(axis=3, name=bn_name_base + "2a")(X)
    X = layers.Activation("relu")(X)

    X = layers.Conv2D(F2, (f, f), strides=(1, 1), padding="same",
                      name=conv_name_base + "2b",
                      kernel_initializer=glorot_uniform(seed=0))(X)
    X = layers.BatchNormalization(axis=3, name=bn_name_base + "2b")(X)
    X = layers.Activation("relu")(X)

    X = layers.Conv2D(F3, (1, 1), strides=(1, 1), padding="valid",
                      name=conv_name_base + "2c",
                      kernel_initializer=glorot_uniform(seed=0))(X)
    X = layers.BatchNormalization(axis=3, name=bn_name_base + "2c")(X)

    X = layers.Add()([X, X_shortcut])
    X = layers.Activation("relu")(X)
    return X


def convolutional_block(X, f, filters, stage, block, s=2):
    conv_name_base = "res" + str(stage) + block + "_branch"
    bn_name_base = "bn" + str(stage) + block + "_branch"
    F1, F2, F3 = filters
    X_shortcut = X

    X = layers.Conv2D(F1, (1, 1), strides=(s, s), padding="valid",
                      name=conv_name_base + "2a",
                      kernel_initializer=glorot_uniform(seed=0))(X)
    X = layers.BatchNormalization(axis=3, name=bn_name_base + "2a")(X)
    X = layers.Activation("relu")(X)

    X = layers.Conv2D(F2, (f, f), strides=(1, 1), padding="same",
                      name=conv_name_base + "2b",
                      kernel_initializer=glorot_uniform(seed=0))(X)
    X = layers.BatchNormalization(axis=3, name=bn_name_base + "2b")(X)
    X = layers.Activation("relu")(X)

    X = layers.Conv2D(F3, (1, 1), strides=(1, 1), padding="valid",
                      name=conv_name_base + "2c",
                      kernel_initializer=glorot_uniform(seed=0))(X)
    X = layers.BatchNormalization(axis=3, name=bn_name_base + "2c")(X)

    X_shortcut = layers.Conv2D(F3, (1, 1), strides=(s, s), padding="valid",
                               name=conv_name_base + "1",
                               kernel_initializer=glorot_uniform(seed=0))(X_shortcut)
    X_shortcut = layers.BatchNormalization(axis=3, name=bn_name_base + "1")(X_shortcut)

    X = layers.Add()([X, X_shortcut])
    X = layers.Activation("relu")(X)
    return X


def build_tiny_model():
    X_input = layers.Input((16, 16, 3))
    X = layers.ZeroPadding2D((3, 3))(X_input)                                   # 22x22x3
    X = layers.Conv2D(8, (7, 7), strides=(2, 2), name="conv1",
                      kernel_initializer=glorot_uniform(seed=0))(X)           # 8x8x8
    X = layers.BatchNormalization(axis=3, name="bn_conv1")(X)
    X = layers.Activation("relu")(X)
    X = layers.MaxPooling2D((2, 2), strides=(1, 1))(X)                          # 7x7x8
    X = convolutional_block(X, f=3, filters=[4, 4, 16], stage=2, block="a", s=1)  # 7x7x16
    X = identity_block(X, 2, [4, 4, 16], stage=2, block="b")                    # 7x7x16
    X = convolutional_block(X, f=3, filters=[8, 8, 32], stage=3, block="a", s=2)  # 4x4x32
    X = identity_block(X, 3, [8, 8, 32], stage=3, block="b")                    # 4x4x32
    X = layers.AveragePooling2D((2, 2), name="avg_pool")(X)                     # 2x2x32
    X = layers.Flatten()(X)                                                     # 128
    X = layers.Dense(NUM_CLASSES, activation="softmax", name="fc6",
                     kernel_initializer=glorot_uniform(seed=0))(X)
    return keras.Model(inputs=X_input, outputs=X, name="ResNetTiny")


def build_resnet50_signs(input_shape=(64, 64, 3), classes=6):
    X_input = layers.Input(input_shape)
    X = layers.ZeroPadding2D((3, 3))(X_input)
    X = layers.Conv2D(64, (7, 7), strides=(2, 2), name="conv1",
                      kernel_initializer=glorot_uniform(seed=0))(X)
    X = layers.BatchNormalization(axis=3, name="bn_conv1")(X)
    X = layers.Activation("relu")(X)
    X = layers.MaxPooling2D((3, 3), strides=(2, 2))(X)

    X = convolutional_block(X, f=3, filters=[64, 64, 256], stage=2, block="a", s=1)
    X = identity_block(X, 3, [64, 64, 256], stage=2, block="b")
    X = identity_block(X, 3, [64, 64, 256], stage=2, block="c")

    X = convolutional_block(X, f=3, filters=[128, 128, 512], stage=3, block="a", s=2)
    for b in "bcd":
        X = identity_block(X, 3, [128, 128, 512], stage=3, block=b)

    X = convolutional_block(X, f=3, filters=[256, 256, 1024], stage=4, block="a", s=2)
    for b in "bcdef":
        X = identity_block(X, 3, [256, 256, 1024], stage=4, block=b)

    X = convolutional_block(X, f=3, filters=[512, 512, 2048], stage=5, block="a", s=2)
    for b in "bc":
        X = identity_block(X, 3, [512, 512, 2048], stage=5, block=b)

    X = layers.AveragePooling2D((2, 2), name="avg_pool")(X)
    X = layers.Flatten()(X)
    X = layers.Dense(classes, activation="softmax", name="fc" + str(classes),
                     kernel_initializer=glorot_uniform(seed=0))(X)
    return keras.Model(inputs=X_input, outputs=X, name="ResNet50")


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def weight_key(layer, var):
    # Keras 3: var.name is the short name ("kernel", "moving_mean", ...).
    name = var.name.split("/")[-1].split(":")[0]
    return layer.name + "/" + name


def model_weights(model):
    """[(key, variable)] for every weight of every layer, in layer order."""
    out = []
    for layer in model.layers:
        for var in layer.weights:
            out.append((weight_key(layer, var), var))
    return out


class Writer:
    def __init__(self):
        self.entries = []
        self.chunks = []
        self.offset = 0

    def add(self, name, value):
        arr = np.asarray(value, dtype=np.float64)
        assert np.all(np.isfinite(arr)), name
        assert name not in {e["name"] for e in self.entries}, name
        count = int(arr.size)
        self.entries.append({"name": name, "shape": [int(d) for d in arr.shape],
                             "offset": self.offset, "count": count})
        self.chunks.append(np.ascontiguousarray(arr).astype("<f8").tobytes())
        self.offset += count


def dump_json(obj, path):
    """Pretty JSON with each list-of-dicts element on its own line."""
    def enc(o, indent):
        pad = " " * indent
        if isinstance(o, dict):
            items = [f'{pad} {json.dumps(k)}: {enc(v, indent + 1)}' for k, v in o.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(o, list) and o and all(isinstance(e, dict) for e in o):
            rows = [pad + " " + json.dumps(e) for e in o]
            return "[\n" + ",\n".join(rows) + "\n" + pad + "]"
        return json.dumps(o)
    with open(path, "w") as f:
        f.write(enc(obj, 0) + "\n")


def check_close(what, got, want, tol):
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    err = float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))))
    status = "ok" if err <= tol else "FAIL"
    print(f"  check {what:55s} max rel/abs err {err:.3e} (tol {tol:.0e}) {status}")
    if err > tol:
        raise SystemExit(f"self-check failed: {what}")
    return err


def numpy_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------
# Tiny-model fixtures
# --------------------------------------------------------------------------

def export_tiny():
    keras.backend.clear_session()
    keras.backend.set_floatx("float64")
    keras.utils.set_random_seed(0)

    model = build_tiny_model()
    weights = model_weights(model)
    for key, var in weights:
        assert var.dtype == "float64", (key, var.dtype)

    # Non-trivial BN statistics / affine params and biases (kernels keep
    # Keras' glorot_uniform(seed=0) values).
    prng = np.random.default_rng(20240601)
    for key, var in weights:
        short = key.split("/")[-1]
        shape = tuple(var.shape)
        if short == "kernel":
            continue
        lo_hi = {"gamma": (0.5, 1.5), "beta": (-0.5, 0.5),
                 "moving_mean": (-0.2, 0.2), "moving_variance": (0.5, 1.5),
                 "bias": (-0.1, 0.1)}[short]
        var.assign(prng.uniform(*lo_hi, size=shape))

    # Note duplicated kernels (same shape + same stateless seed => same values).
    seen = {}
    for key, var in weights:
        if key.endswith("/kernel"):
            v = var.numpy()
            for other, ov in seen.items():
                if ov.shape == v.shape and np.array_equal(ov, v):
                    print(f"  note: {key} is identical to {other} (glorot_uniform(seed=0) is stateless)")
            seen[key] = v

    # Data.
    rng = np.random.default_rng(1234)
    x_np = rng.standard_normal((BATCH, 16, 16, 3))
    while True:
        cls = rng.integers(0, NUM_CLASSES, size=BATCH)
        if len(set(cls.tolist())) >= 3:
            break
    y_np = np.eye(NUM_CLASSES)[cls]

    initial = {key: var.numpy().copy() for key, var in weights}

    # Inference-mode forward with the initial weights (no state change).
    inf_probs = model(x_np, training=False).numpy()
    for key, var in weights:
        assert np.array_equal(var.numpy(), initial[key]), key

    # Probe model: one training-mode call yields flatten output, probabilities
    # and the inputs of every BN layer (for self-checks) -> moving statistics
    # are updated exactly once.
    flatten_layer = [l for l in model.layers if isinstance(l, layers.Flatten)][0]
    bn_layers = [l for l in model.layers if isinstance(l, layers.BatchNormalization)]
    probe = keras.Model(model.inputs,
                        [flatten_layer.output, model.output] + [l.input for l in bn_layers])

    # Record which cross-entropy path Keras takes.
    from keras.src.backend.tensorflow import nn as tf_nn
    orig_get_logits = tf_nn._get_logits
    observed = []

    def spy_get_logits(output, from_logits, op_type, fn_name):
        res = orig_get_logits(output, from_logits, op_type, fn_name)
        observed.append({"fn": fn_name, "from_logits": bool(res[1]),
                         "has_keras_logits": hasattr(output, "_keras_logits")})
        return res

    tf_nn._get_logits = spy_get_logits
    loss_fn = keras.losses.CategoricalCrossentropy()
    x_tf = tf.constant(x_np, dtype=tf.float64)
    y_tf = tf.constant(y_np, dtype=tf.float64)
    trainable = model.trainable_variables
    try:
        with tf.GradientTape() as tape:
            tape.watch(x_tf)
            outs = probe(x_tf, training=True)
            flat, probs = outs[0], outs[1]
            bn_inputs = [o.numpy() for o in outs[2:]]
            probs_has_logits_attr = hasattr(probs, "_keras_logits")
            loss = loss_fn(y_tf, probs)
        grads = tape.gradient(loss, trainable + [x_tf])
    finally:
        tf_nn._get_logits = orig_get_logits
    assert len(observed) == 1, observed
    eager_from_logits = observed[0]["from_logits"]
    loss_path = "from_logits" if eager_from_logits else "clipped_probabilities"
    print(f"  eager GradientTape loss path: {loss_path} "
          f"(probabilities carry _keras_logits: {probs_has_logits_attr})")

    grad_input = grads[-1].numpy()
    grads = grads[:-1]
    fc6 = model.get_layer("fc6")
    W, b = fc6.kernel.numpy(), fc6.bias.numpy()
    flat_np = flat.numpy()
    logits_tf = tf.matmul(flat, fc6.kernel) + fc6.bias  # same ops as Dense.call
    logits = logits_tf.numpy()
    if probs_has_logits_attr:
        assert np.array_equal(probs._keras_logits.numpy(), logits), "logits mismatch"
    probs_np = probs.numpy()
    loss_np = float(loss.numpy())

    after_forward = {key: var.numpy().copy() for key, var in weights}

    # One Adam step.
    opt = keras.optimizers.Adam(learning_rate=LEARNING_RATE, **ADAM)
    opt.apply_gradients(zip(grads, trainable))
    after_step = {key: var.numpy().copy() for key, var in weights}

    # ---------------- self-checks ----------------
    print("self-checks:")
    # Forward / loss.
    check_close("probabilities == softmax(flatten @ W + b)", probs_np,
                numpy_softmax(flat_np @ W + b), 1e-14)
    ce_logits = float(np.mean(-np.sum(y_np * (logits - logits.max(1, keepdims=True)
                                              - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True))), 1)))
    pc = np.clip(probs_np / probs_np.sum(1, keepdims=True), 1e-7, 1 - 1e-7)
    ce_clip = float(np.mean(-np.sum(y_np * np.log(pc), 1)))
    check_close("loss vs numpy CE (log-softmax of logits)", loss_np, ce_logits, 1e-13)
    check_close("loss vs numpy CE (clipped probabilities)", loss_np, ce_clip, 1e-13)
    print(f"  min probability {probs_np.min():.3e} (clip at 1e-7 inactive: {probs_np.min() > 1e-7})")
    # dL/dlogits = (p - y) / N  =>  fc6 bias/kernel grads.
    dlogits = (probs_np - y_np) / BATCH
    gmap = {}
    for var, g in zip(trainable, grads):
        for key, v2 in weights:
            if v2 is var:
                gmap[key] = g.numpy()
    check_close("grad/fc6/bias == sum_n (p - y)/N", gmap["fc6/bias"], dlogits.sum(0), 1e-14)
    check_close("grad/fc6/kernel == flatten^T (p - y)/N", gmap["fc6/kernel"], flat_np.T @ dlogits, 1e-13)
    # BN moving statistics: biased batch variance, momentum update.
    for layer, xin in zip(bn_layers, bn_inputs):
        mean = xin.mean(axis=(0, 1, 2))
        var_b = xin.var(axis=(0, 1, 2))  # ddof=0 (biased)
        mm = initial[layer.name + "/moving_mean"]
        mv = initial[layer.name + "/moving_variance"]
        check_close(f"{layer.name} moving_mean update", after_forward[layer.name + "/moving_mean"],
                    mm * 0.99 + mean * (1.0 - 0.99), 1e-14)
        check_close(f"{layer.name} moving_variance update (biased)",
                    after_forward[layer.name + "/moving_variance"],
                    mv * 0.99 + var_b * (1.0 - 0.99), 1e-14)
        n = xin.size // xin.shape[-1]
        alt = mv * 0.99 + var_b * n / (n - 1) * (1.0 - 0.99)
        assert np.max(np.abs(alt - after_forward[layer.name + "/moving_variance"])) > 1e-9
        # Moving stats are not touched by Adam.
        assert np.array_equal(after_forward[layer.name + "/moving_mean"],
                              after_step[layer.name + "/moving_mean"])
    # Adam step in numpy.
    # Keras 3 Adam.update_step (TF backend), step t = 1:
    #   m += (g - m) * (1 - beta_1)          # python double 1 - 0.9
    #   v += (g^2 - v) * (1 - beta_2)        # python double 1 - 0.999
    #   alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
    #   w -= m * alpha / (sqrt(v) + epsilon)  # epsilon-hat, outside sqrt
    # QUIRK: beta_1^t / beta_2^t use ops.cast(self.beta_1, float64) ==
    # tf.cast(python float) which goes through a float32 tensor, so the bias
    # correction uses float32-rounded betas (0.8999999761581421,
    # 0.9990000128746033) even for float64 variables.
    b1, b2, eps = ADAM["beta_1"], ADAM["beta_2"], ADAM["epsilon"]
    b1_f32, b2_f32 = float(np.float32(b1)), float(np.float32(b2))
    lr = LEARNING_RATE

    def adam_np(key, g, bc1, bc2):
        m = 0.0 + (g - 0.0) * (1 - b1)
        v = 0.0 + (g * g - 0.0) * (1 - b2)
        alpha = lr * np.sqrt(1 - bc2 ** 1) / (1 - bc1 ** 1)
        return initial[key] - (m * alpha) / (np.sqrt(v) + eps)

    max_adam_err = max_adam_err_f64 = 0.0
    for key, g in gmap.items():
        err = float(np.max(np.abs(after_step[key] - adam_np(key, g, b1_f32, b2_f32))))
        max_adam_err = max(max_adam_err, err)
        if err > 1e-12:
            raise SystemExit(f"Adam check failed for {key}: {err}")
        max_adam_err_f64 = max(max_adam_err_f64, float(np.max(np.abs(
            after_step[key] - adam_np(key, g, b1, b2)))))
    print(f"  check {'Adam step (numpy, f32-rounded bias-correction betas)':55s} max abs err {max_adam_err:.3e} (tol 1e-12) ok")
    print(f"  info: with exact double betas in the bias correction the max abs err would be {max_adam_err_f64:.3e}")

    # Finite differences on a fresh copy (training-mode forward, but moving
    # statistics restored after each evaluation).
    fd_model = build_tiny_model()
    fd_model.set_weights([initial[k] for k, _ in model_weights(model)])
    fd_weights = model_weights(fd_model)

    def fd_loss(x_val, override=None):
        saved = [v.numpy().copy() for _, v in fd_weights]
        if override is not None:
            k, val = override
            dict(fd_weights)[k].assign(val)
        p = fd_model(tf.constant(x_val), training=True)
        value = float(keras.losses.CategoricalCrossentropy()(y_tf, p).numpy())
        for (_, v), s in zip(fd_weights, saved):
            v.assign(s)
        return value

    check_close("fresh-copy loss == exported loss", fd_loss(x_np), loss_np, 1e-14)
    h = 1e-5
    for idx in [(0, 0, 0, 0), (3, 7, 9, 1), (7, 15, 15, 2), (5, 2, 13, 0)]:
        xp, xm = x_np.copy(), x_np.copy()
        xp[idx] += h
        xm[idx] -= h
        fd = (fd_loss(xp) - fd_loss(xm)) / (2 * h)
        check_close(f"finite diff d loss / d input{list(idx)}", fd, grad_input[idx], 1e-8)
    for key, idx in [("bn_conv1/gamma", (3,)), ("res2b_branch2b/kernel", (1, 0, 2, 3)),
                     ("res3a_branch1/bias", (5,)), ("bn3b_branch2c/beta", (7,)),
                     ("conv1/kernel", (6, 0, 2, 1))]:
        base = initial[key]
        vp, vm = base.copy(), base.copy()
        vp[idx] += h
        vm[idx] -= h
        fd = (fd_loss(x_np, (key, vp)) - fd_loss(x_np, (key, vm))) / (2 * h)
        check_close(f"finite diff d loss / d {key}{list(idx)}", fd, gmap[key][idx], 1e-8)

    # Graph-mode (tf.function, as model.fit uses) loss path, for the record.
    observed.clear()
    tf_nn._get_logits = spy_get_logits
    try:
        @tf.function
        def graph_loss(xv):
            p = fd_model(xv, training=False)
            return keras.losses.CategoricalCrossentropy()(y_tf, p)
        graph_loss(x_tf)
    finally:
        tf_nn._get_logits = orig_get_logits
    graph_from_logits = bool(observed and observed[0]["from_logits"])
    print(f"  tf.function (model.fit-style) loss path: "
          f"{'from_logits' if graph_from_logits else 'clipped_probabilities'}")

    # ---------------- write ----------------
    w = Writer()
    w.add("input", x_np)
    w.add("labels", y_np)
    for key, _ in weights:
        w.add("initial/" + key, initial[key])
    w.add("logits", logits)
    w.add("probabilities", probs_np)
    w.add("inference/probabilities", inf_probs)
    w.add("loss", np.array([loss_np]))
    trainable_keys = [k for k, v in weights if any(v is t for t in trainable)]
    for key in trainable_keys:
        w.add("grad/" + key, gmap[key])
    w.add("grad/input", grad_input)
    for key, _ in weights:
        w.add("after_step/" + key, after_step[key])

    manifest = {
        "generator": GENERATOR,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "dtype": "float64",
        "byte_order": "little",
        "batch": BATCH,
        "learning_rate": LEARNING_RATE,
        "adam": dict(ADAM),
        "adam_bias_correction_betas": {
            "beta_1": b1_f32, "beta_2": b2_f32,
            "note": ("Keras 3 TF backend computes beta^t from tf.cast(python float) which rounds "
                     "through float32; the moment updates use the exact double (1 - beta). "
                     "alpha = lr*sqrt(1-beta_2^t)/(1-beta_1^t); w -= m*alpha/(sqrt(v)+epsilon)."),
        },
        "batchnorm": dict(BN),
        "loss": "keras.losses.CategoricalCrossentropy() (sum_over_batch_size)",
        "loss_path": loss_path,
        "loss_path_detail": {
            "eager_gradient_tape": loss_path,
            "tf_function_model_fit": "from_logits" if graph_from_logits else "clipped_probabilities",
            "probabilities_have_keras_logits": bool(probs_has_logits_attr),
            "min_probability": float(probs_np.min()),
            "note": ("from_logits => tf.nn.softmax_cross_entropy_with_logits on fc6 pre-activation; "
                     "clipped => p/sum(p) clipped to [1e-7, 1-1e-7] then -sum(y*log p). "
                     "Identical here to ~1e-16 because min probability > 1e-7."),
        },
        "labels_classes": [int(c) for c in cls],
        "layers": [l.name for l in model.layers],
        "trainable": trainable_keys,
        "tensors": w.entries,
    }

    os.makedirs(TINY_DIR, exist_ok=True)
    bin_path = os.path.join(TINY_DIR, "tensors.bin")
    with open(bin_path, "wb") as f:
        for c in w.chunks:
            f.write(c)
    man_path = os.path.join(TINY_DIR, "manifest.json")
    dump_json(manifest, man_path)
    assert os.path.getsize(bin_path) == 8 * w.offset

    # Round-trip check of the written files.
    raw = np.fromfile(bin_path, dtype="<f8")
    with open(man_path) as f:
        man = json.load(f)
    byname = {e["name"]: e for e in man["tensors"]}
    e = byname["after_step/conv1/kernel"]
    assert np.array_equal(raw[e["offset"]:e["offset"] + e["count"]].reshape(e["shape"]),
                          after_step["conv1/kernel"])

    print(f"loss = {loss_np!r}; loss_path = {loss_path}")
    print(f"wrote {bin_path} ({os.path.getsize(bin_path)} bytes, {w.offset} float64)")
    print(f"wrote {man_path} ({os.path.getsize(man_path)} bytes, {len(w.entries)} tensors)")


# --------------------------------------------------------------------------
# Seeded initializer values (glorot_uniform(seed=...))
# --------------------------------------------------------------------------

INIT_DIR = os.path.join(REPO_ROOT, "Tests", "ModelTests", "Fixtures", "keras-init")
# (shape, seed): conv kernels of the tiny model and of ResNet-50, a dense kernel, counts that are
# not a multiple of a Philox block (4 float32 / 2 float64 values), and other seeds.
INIT_CASES = [((7, 7, 3, 8), 0), ((1, 1, 8, 4), 0), ((3, 3, 4, 4), 0), ((2, 2, 4, 4), 0),
              ((128, 6), 0), ((3, 3, 64, 64), 0), ((5, 3), 0), ((1, 1, 3, 1), 0),
              ((3, 3, 4, 4), 1), ((3, 3, 4, 4), 12345), ((3, 3, 4, 4), 2**33 + 7)]


def export_init():
    keras.backend.clear_session()
    entries, chunks, offset = [], [], 0
    for dtype in ["float32", "float64"]:
        for shape, seed in INIT_CASES:
            if dtype == "float64" and shape == (3, 3, 64, 64):
                continue  # keep the fixture small; float32 is the training dtype
            values = keras.initializers.GlorotUniform(seed=seed)(shape, dtype=dtype)
            arr = np.asarray(values)
            assert arr.dtype == np.dtype(dtype), arr.dtype
            again = np.asarray(keras.initializers.GlorotUniform(seed=seed)(shape, dtype=dtype))
            assert np.array_equal(arr, again), "an integer seed is stateless"
            fan_in, fan_out = keras.src.initializers.random_initializers.compute_fans(shape)
            raw = np.ascontiguousarray(arr).astype("<f4" if dtype == "float32" else "<f8").tobytes()
            entries.append({"dtype": dtype, "shape": list(shape), "seed": seed, "fan_in": fan_in,
                            "fan_out": fan_out, "offset": offset, "count": int(arr.size)})
            chunks.append(raw)
            offset += len(raw)

    # The layer path gives the same values: the tiny model's kernels equal the direct calls.
    keras.backend.set_floatx("float64")
    model = build_tiny_model()
    direct = np.asarray(keras.initializers.GlorotUniform(seed=0)((7, 7, 3, 8), dtype="float64"))
    assert np.array_equal(model.get_layer("conv1").kernel.numpy(), direct)
    # Equal shapes, equal values (the notebook's duplicated kernels).
    assert np.array_equal(model.get_layer("res2a_branch2c").kernel.numpy(),
                          model.get_layer("res2b_branch2c").kernel.numpy())
    keras.backend.set_floatx("float32")

    os.makedirs(INIT_DIR, exist_ok=True)
    with open(os.path.join(INIT_DIR, "values.bin"), "wb") as f:
        for c in chunks:
            f.write(c)
    manifest = {
        "generator": GENERATOR, "tensorflow": tf.__version__, "keras": keras.__version__,
        "numpy": np.__version__, "byte_order": "little", "offset_unit": "bytes",
        "call": "keras.initializers.GlorotUniform(seed=seed)(shape, dtype=dtype)",
        "cases": entries,
    }
    dump_json(manifest, os.path.join(INIT_DIR, "manifest.json"))
    print(f"wrote {INIT_DIR} ({offset} bytes, {len(entries)} tensors)")


# --------------------------------------------------------------------------
# 200 training steps of the tiny model (keras-tiny-fit)
# --------------------------------------------------------------------------

FIT_DIR = os.path.join(REPO_ROOT, "Tests", "ModelTests", "Fixtures", "keras-tiny-fit")
FIT_SAMPLES = 20
FIT_STEPS = 200


def tiny_initial_weights():
    """The --fixtures model's initial weights (kernels glorot_uniform(seed=0), the rest drawn from
    a fixed numpy generator), rebuilt the same way."""
    keras.backend.clear_session()
    keras.backend.set_floatx("float64")
    keras.utils.set_random_seed(0)
    model = build_tiny_model()
    prng = np.random.default_rng(20240601)
    for key, var in model_weights(model):
        short = key.split("/")[-1]
        if short == "kernel":
            continue
        lo_hi = {"gamma": (0.5, 1.5), "beta": (-0.5, 0.5),
                 "moving_mean": (-0.2, 0.2), "moving_variance": (0.5, 1.5),
                 "bias": (-0.1, 0.1)}[short]
        var.assign(prng.uniform(*lo_hi, size=tuple(var.shape)))
    return model


def export_fit():
    model = tiny_initial_weights()
    weights = model_weights(model)
    initial = {key: var.numpy().copy() for key, var in weights}
    # Same initial weights as the one-step fixture, when it is there.
    one_step = os.path.join(TINY_DIR, "manifest.json")
    if os.path.exists(one_step):
        with open(one_step) as f:
            man = json.load(f)
        raw = np.fromfile(os.path.join(TINY_DIR, "tensors.bin"), dtype="<f8")
        for e in man["tensors"]:
            if e["name"].startswith("initial/"):
                ref = raw[e["offset"]:e["offset"] + e["count"]].reshape(e["shape"])
                assert np.array_equal(ref, initial[e["name"][len("initial/"):]]), e["name"]
        print("  initial weights identical to keras-tiny's")

    rng = np.random.default_rng(4321)
    x_np = rng.standard_normal((FIT_SAMPLES, 16, 16, 3))
    cls = np.arange(FIT_SAMPLES) % NUM_CLASSES
    rng.shuffle(cls)
    y_np = np.eye(NUM_CLASSES)[cls]
    steps = []
    while len(steps) < FIT_STEPS:
        perm = rng.permutation(FIT_SAMPLES)
        for start in range(0, FIT_SAMPLES, BATCH):
            if len(steps) < FIT_STEPS:
                steps.append([int(i) for i in perm[start:start + BATCH]])

    opt = keras.optimizers.Adam(learning_rate=LEARNING_RATE, **ADAM)
    model.compile(optimizer=opt, loss="categorical_crossentropy", jit_compile=False)
    losses = []
    for idx in steps:
        loss = model.train_on_batch(x_np[idx], y_np[idx])
        losses.append(float(loss))
    assert int(opt.iterations.numpy()) == FIT_STEPS
    trainable = model.trainable_variables
    trainable_keys = [k for k, v in weights if any(v is t for t in trainable)]

    w = Writer()
    w.add("input", x_np)
    w.add("labels", y_np)
    for key, _ in weights:
        w.add("initial/" + key, initial[key])
    w.add("losses", np.array(losses))
    for key, var in weights:
        w.add("final/" + key, var.numpy())
    byvar = dict((id(v), k) for k, v in weights)
    for var in trainable:
        i = opt._get_variable_index(var)
        w.add("adam_m/" + byvar[id(var)], opt._momentums[i].numpy())
        w.add("adam_v/" + byvar[id(var)], opt._velocities[i].numpy())

    manifest = {
        "generator": GENERATOR, "tensorflow": tf.__version__, "keras": keras.__version__,
        "numpy": np.__version__, "dtype": "float64", "byte_order": "little",
        "samples": FIT_SAMPLES, "batch": BATCH, "learning_rate": LEARNING_RATE, "adam": dict(ADAM),
        "batchnorm": dict(BN), "loss": "categorical_crossentropy",
        "training": "model.compile(Adam(lr), 'categorical_crossentropy', jit_compile=False); "
                    "model.train_on_batch(input[steps[i]], labels[steps[i]]) for i in 0..<200",
        "trainable": trainable_keys,
        "steps": steps,
        "tensors": w.entries,
    }
    os.makedirs(FIT_DIR, exist_ok=True)
    with open(os.path.join(FIT_DIR, "tensors.bin"), "wb") as f:
        for c in w.chunks:
            f.write(c)
    dump_json(manifest, os.path.join(FIT_DIR, "manifest.json"))
    print(f"  losses: first {losses[0]:.6f}, step 100 {losses[99]:.6f}, last {losses[-1]:.6f}")
    print(f"wrote {FIT_DIR} ({8 * w.offset} bytes, {len(w.entries)} tensors)")


# --------------------------------------------------------------------------
# Full ResNet-50 summary
# --------------------------------------------------------------------------

def export_summary():
    keras.backend.clear_session()  # resets auto-generated layer names
    keras.backend.set_floatx("float32")
    keras.utils.set_random_seed(0)
    model = build_resnet50_signs()

    # Keras 3 renders the summary with a `rich` Console whose width is NOT
    # taken from line_length when capturing for print_fn (it falls back to the
    # terminal width, 80 when not a tty, truncating the right-hand columns).
    # rich honours $COLUMNS, so pin it to the line length while rendering.
    line_length = 140
    lines = []
    saved_columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(line_length)
    try:
        model.summary(line_length=line_length, print_fn=lambda s, **kw: lines.append(s))
    finally:
        if saved_columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved_columns
    text = "\n".join(lines)
    if not text.endswith("\n"):
        text += "\n"
    os.makedirs(NETSPEC_DIR, exist_ok=True)
    sum_path = os.path.join(NETSPEC_DIR, "keras-resnet50-signs-summary.txt")
    with open(sum_path, "w", encoding="utf-8") as f:
        f.write(text)

    shapes = []
    for layer in model.layers:
        out = layer.output
        shapes.append({"name": layer.name, "class": type(layer).__name__,
                       "output_shape": [int(d) for d in out.shape[1:]],
                       "params": int(layer.count_params())})
    shp_path = os.path.join(NETSPEC_DIR, "keras-resnet50-signs-shapes.json")
    dump_json(shapes, shp_path)
    with open(shp_path) as f:
        assert json.load(f) == shapes

    total = int(model.count_params())
    trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    non_trainable = int(sum(np.prod(v.shape) for v in model.non_trainable_weights))
    print(f"ResNet50 params: total {total:,}, trainable {trainable:,}, non-trainable {non_trainable:,}")
    expected = (23_600_006, 23_546_886, 53_120)
    if (total, trainable, non_trainable) != expected:
        raise SystemExit(f"unexpected parameter totals, want {expected}")
    assert sum(s["params"] for s in shapes) == total
    print(f"wrote {sum_path} ({os.path.getsize(sum_path)} bytes)")
    print(f"wrote {shp_path} ({os.path.getsize(shp_path)} bytes, {len(shapes)} layers)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fixtures", action="store_true", help="export tiny-model fixtures only")
    ap.add_argument("--summary", action="store_true", help="export ResNet-50 summary only")
    ap.add_argument("--init", action="store_true", help="export glorot_uniform(seed) values only")
    ap.add_argument("--fit", action="store_true", help="export the 200-step tiny training only")
    args = ap.parse_args(argv)
    both = not (args.fixtures or args.summary or args.init or args.fit)
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, numpy {np.__version__}")
    if args.fixtures or both:
        export_tiny()
    if args.summary or both:
        export_summary()
    if args.init or both:
        export_init()
    if args.fit or both:
        export_fit()


if __name__ == "__main__":
    sys.exit(main())
