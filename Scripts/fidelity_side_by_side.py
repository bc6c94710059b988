#!/usr/bin/env python3
"""Train the notebook's ResNet-50 in Keras and with `resnet-run train` on the same SIGNS-layout
files and print per-epoch train loss / accuracy and held-out accuracy side by side (issue #12).

Settings are the notebook's: Adam(learning_rate=0.00015), batch 32, categorical cross-entropy,
float32, `model.fit(..., shuffle=True)` with the test file as validation data. Keras' kernels are
`glorot_uniform(seed=0)` (the notebook's), so `resnet-run train --init keras` starts from the
*identical* weights (bit for bit, Sources/Kernels/KerasInit.swift); `--init default` is ours.
The batch order is not shared: Keras shuffles with its own generator, ours with the run's --seed.
Beware `keras:SEED`: with TensorFlow seeded (`keras.utils.set_random_seed`), Keras 3.15's
`fit(shuffle=True)` on arrays draws the *same* permutation in every epoch (each epoch's new
iterator restarts the seeded `tf.random.shuffle`; `keras-unseeded` reshuffles, as the notebook
does: it seeds numpy only). `keras-unseeded:SEED` is therefore not reproducible. The seed of a
run changes only the shuffle for Keras and for `--init keras`, and shuffle and weights for ours
with `--init default`. (The 200-step CI test, KerasFitTests, uses an identical batch order.)

Run by hand (TensorFlow, Keras, h5py from PyPI; a release build of resnet-run):

    python3 Scripts/make_digits_signs.py --out /tmp/digits
    swift build -c release --product resnet-run
    python3 Scripts/fidelity_side_by_side.py run --data /tmp/digits --epochs 20 \\
        --jsonl Scripts/fidelity/DATE-digits.jsonl ours:keras:0 keras:0 ours:default:0 ...
    python3 Scripts/fidelity_side_by_side.py report Scripts/fidelity/DATE-digits.jsonl \\
        > Scripts/fidelity/DATE-digits.md

A run is FRAMEWORK:INIT:SEED for ours (`ours:keras:1`) and `keras:SEED` for Keras;
`keras-our-order:SEED` trains Keras on exactly the batches `resnet-run train --seed SEED` trains
on, in its order (its xoshiro256** shuffle reproduced here), so with `ours:keras:SEED` both start
from the same weights and see the same batches. `run` appends
one JSON line per epoch as it goes (so an interrupted session keeps what finished) and a first
line describing the machine; `report` prints the per-epoch table and, per configuration, the mean
and spread (min-max) of the last epoch's train loss, train accuracy and held-out accuracy.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
SCRIPTS = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(SCRIPTS)
LR = 0.00015
BATCH = 32


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def emit(path, obj):
    line = json.dumps(obj)
    print(line, flush=True)
    with open(path, "a") as f:
        f.write(line + "\n")


M64 = (1 << 64) - 1


class Xoshiro256:
    """resnet-run's shuffle generator (Sources/Kernels/Random.swift): xoshiro256** seeded by SplitMix64."""

    def __init__(self, seed):
        self.s = []
        x = seed
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    def next(self):
        s = self.s
        rot = lambda v, k: ((v << k) | (v >> (64 - k))) & M64
        result = (rot((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rot(s[3], 45)
        return result


def our_orders(seed, n, epochs):
    """The per-epoch training order of `resnet-run train --seed seed` (Trainer.run: Fisher-Yates
    from the identity with Trainer.shuffleRNG)."""
    rng = Xoshiro256(seed ^ 0x5348_5546_464C_4521)
    orders = []
    for _ in range(epochs):
        order = list(range(n))
        for i in range(n - 1, 0, -1):
            j = rng.next() % (i + 1)
            order[i], order[j] = order[j], order[i]
        orders.append(order)
    return orders


def run_keras(args, seed, our_order=False, seeded=True):
    import h5py
    import numpy as np
    import keras
    sys.path.insert(0, SCRIPTS)
    from export_keras_fixtures import build_resnet50_signs

    def load(name, prefix):
        with h5py.File(os.path.join(args.data, name), "r") as f:
            x = np.array(f[prefix + "_set_x"], dtype=np.float32) / 255.0
            y = np.eye(6, dtype=np.float32)[np.array(f[prefix + "_set_y"]).reshape(-1)]
        return x, y

    x_train, y_train = load("train_signs.h5", "train")
    x_test, y_test = load("test_signs.h5", "test")
    keras.backend.clear_session()
    keras.backend.set_floatx("float32")
    if seeded:
        keras.utils.set_random_seed(seed)
    else:
        # The notebook seeds numpy only (`np.random.seed(1)`), never TensorFlow.
        np.random.seed(seed)
    model = build_resnet50_signs()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LR), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    started = [time.monotonic()]

    class Log(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            started[0] = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            emit(args.jsonl, {"framework": "keras", "init": "keras" if seeded else "keras-unseeded", "seed": seed,
                              "epoch": epoch + 1,
                              "loss": float(logs["loss"]), "accuracy": float(logs["accuracy"]),
                              "heldout_loss": float(logs["val_loss"]), "heldout_accuracy": float(logs["val_accuracy"]),
                              "seconds": round(time.monotonic() - started[0], 1)})

    if not our_order:
        model.fit(x_train, y_train, epochs=args.epochs, batch_size=BATCH, shuffle=True, verbose=0,
                  validation_data=(x_test, y_test), callbacks=[Log()])
        return
    # The batches resnet-run --seed SEED trains on, in its order: one fit call per epoch on the
    # permuted arrays, unshuffled (the optimizer and BN state carry over between calls).
    init = "keras-our-order"
    for epoch, order in enumerate(our_orders(seed, len(x_train), args.epochs)):
        started = time.monotonic()
        h = model.fit(x_train[order], y_train[order], initial_epoch=epoch, epochs=epoch + 1, batch_size=BATCH,
                      shuffle=False, verbose=0, validation_data=(x_test, y_test))
        logs = {k: v[-1] for k, v in h.history.items()}
        emit(args.jsonl, {"framework": "keras", "init": init, "seed": seed, "epoch": epoch + 1,
                          "loss": float(logs["loss"]), "accuracy": float(logs["accuracy"]),
                          "heldout_loss": float(logs["val_loss"]), "heldout_accuracy": float(logs["val_accuracy"]),
                          "seconds": round(time.monotonic() - started, 1)})


def run_ours(args, init, seed):
    exe = args.resnet_run or os.path.join(REPO_ROOT, ".build", "release", "resnet-run")
    cmd = [exe, "train", "--data", args.data, "--lr", str(LR), "--batch-size", str(BATCH), "--epochs", str(args.epochs),
           "--seed", str(seed), "--init", init, "--db", args.db, "--format", "json",
           "--label", f"fidelity-{init}-{seed}"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as p:
        for line in p.stdout:
            obj = json.loads(line)
            if "epoch" not in obj:
                continue
            emit(args.jsonl, {"framework": "ours", "init": init, "seed": seed, "epoch": obj["epoch"],
                              "loss": obj["loss"], "accuracy": obj["accuracy"],
                              "heldout_loss": obj["test_loss"], "heldout_accuracy": obj["test_accuracy"],
                              "seconds": round(obj["seconds"], 1), "run": obj["run"]})
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit status {p.returncode}")


def cmd_run(args):
    meta = {"meta": True, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
            "cpu": cpu_name(), "cores": os.cpu_count(), "data": os.path.abspath(args.data), "epochs": args.epochs,
            "lr": LR, "batch_size": BATCH, "runs": args.runs}
    try:
        import keras
        import tensorflow as tf
        meta.update({"tensorflow": tf.__version__, "keras": keras.__version__})
    except ImportError:
        pass
    emit(args.jsonl, meta)
    for spec in args.runs:
        parts = spec.split(":")
        if parts[0] == "keras" and len(parts) == 2:
            run_keras(args, int(parts[1]))
        elif parts[0] == "keras-unseeded" and len(parts) == 2:
            run_keras(args, int(parts[1]), seeded=False)
        elif parts[0] == "keras-our-order" and len(parts) == 2:
            run_keras(args, int(parts[1]), our_order=True)
        elif parts[0] == "ours" and len(parts) == 3 and parts[1] in ("keras", "default"):
            run_ours(args, parts[1], int(parts[2]))
        else:
            raise SystemExit(f"run spec '{spec}': use keras:SEED, keras-unseeded:SEED, keras-our-order:SEED or "
                             "ours:INIT:SEED (INIT keras or default)")


def cmd_report(args):
    metas, rows = [], []
    with open(args.jsonl) as f:
        for line in f:
            obj = json.loads(line)
            (metas if obj.get("meta") else rows).append(obj)
    configs = {}
    for r in rows:
        configs.setdefault((r["framework"], r["init"]), {}).setdefault(r["seed"], []).append(r)
    name = {("keras", "keras"): "Keras 3, TF seeded (one permutation, every epoch)",
            ("keras", "keras-unseeded"): "Keras 3 as the notebook runs it (TF unseeded: reshuffled every epoch)",
            ("keras", "keras-our-order"): "Keras 3, resnet-run's batch order", ("ours", "keras"): "ours --init keras",
            ("ours", "default"): "ours --init default"}
    out = []
    if metas:
        m = metas[0]
        dates = sorted({x["date"] for x in metas})
        span = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
        out.append(f"# Fidelity side by side: {os.path.basename(m['data'])}, {span}")
        out.append("")
        out.append(f"CPU: {m['cpu']} ({m['cores']} cores, shared with other work: timings are noisy). "
                   f"TensorFlow {m.get('tensorflow', '?')}, Keras {m.get('keras', '?')}. "
                   f"lr {m['lr']}, batch {m['batch_size']}, Adam, categorical cross-entropy, float32. "
                   f"Held-out = the test file, evaluated after every epoch (Keras: validation_data).")
        out.append("")
    out.append("## Last epoch, per configuration (mean, min-max over seeds)")
    out.append("")
    out.append("Bumps, per seed: epochs after the third whose train loss is above 0.01 and more than 1.5 times "
               "the epoch before's.")
    out.append("")
    out.append("| configuration | seeds | epochs | train loss | train accuracy | held-out accuracy | bumps | s/epoch |")
    out.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for key, seeds in configs.items():
        last = [runs[-1] for runs in seeds.values()]
        epochs = sorted({r["epoch"] for r in last})

        def stat(field, digits=4):
            values = [r[field] for r in last]
            mean = statistics.fmean(values)
            if len(values) == 1:
                return f"{mean:.{digits}f}"
            return f"{mean:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"
        secs = statistics.fmean(r["seconds"] for runs in seeds.values() for r in runs)

        def bumps(runs):
            ordered = sorted(runs, key=lambda r: r["epoch"])
            return sum(1 for a, b in zip(ordered, ordered[1:])
                       if b["epoch"] > 3 and b["loss"] > 0.01 and b["loss"] > 1.5 * a["loss"])
        out.append(f"| {name.get(key, key)} | {', '.join(str(s) for s in seeds)} | {'/'.join(map(str, epochs))} | "
                   f"{stat('loss')} | {stat('accuracy')} | {stat('heldout_accuracy')} | "
                   f"{' / '.join(str(bumps(runs)) for runs in seeds.values())} | {secs:.0f} |")
    out.append("")
    out.append("## Per epoch: train loss / train accuracy / held-out accuracy")
    out.append("")
    columns = [(key, seed) for key, seeds in configs.items() for seed in seeds]
    out.append("| epoch | " + " | ".join(f"{name.get(k, k)} seed {s}" for k, s in columns) + " |")
    out.append("| --- |" + " --- |" * len(columns))
    last_epoch = max((r["epoch"] for r in rows), default=0)
    for e in range(1, last_epoch + 1):
        cells = []
        for k, s in columns:
            r = next((r for r in configs[k][s] if r["epoch"] == e), None)
            cells.append(f"{r['loss']:.4f} / {r['accuracy']:.3f} / {r['heldout_accuracy']:.3f}" if r else "")
        out.append(f"| {e} | " + " | ".join(cells) + " |")
    print("\n".join(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train and append per-epoch JSON lines")
    r.add_argument("--data", required=True, help="directory with train_signs.h5 and test_signs.h5")
    r.add_argument("--epochs", type=int, default=20)
    r.add_argument("--jsonl", required=True, help="file to append to")
    r.add_argument("--db", default="/tmp/fidelity-runs.db", help="experiment database for our runs")
    r.add_argument("--resnet-run", help="the binary (default .build/release/resnet-run)")
    r.add_argument("runs", nargs="+", help="keras:SEED, keras-unseeded:SEED, keras-our-order:SEED or ours:INIT:SEED")
    p = sub.add_parser("report", help="markdown table from a JSON-lines file")
    p.add_argument("jsonl")
    args = ap.parse_args()
    cmd_run(args) if args.command == "run" else cmd_report(args)


if __name__ == "__main__":
    main()
