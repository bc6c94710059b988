#!/usr/bin/env python3
"""Measure resnet-swift against Keras in one sitting, for the README's figures and issue notes.

Run by hand, not in CI (it takes 10-20 minutes on 2 cores and wants a quiet machine):

    python3 Scripts/bench_sitting.py [--rounds 3] [--portable [LEVEL,...]] [--keras-python /path/to/venv/bin/python]
                                     [--out Scripts/figures/DATE.md]

What it does, in this order, so that every figure comes from the same sitting:
1. `swift build -c release --product resnet-run` (the default, -target-cpu native build) and, with
   --portable, the same with RESNET_TARGET_CPU=LEVEL for each level given (default x86-64-v3;
   `--portable x86-64-v2,x86-64-v3` for both) into .build-v2, .build-v3.
2. `--rounds` rounds, each: `resnet-run bench` of every build, then `Scripts/keras_bench.py` (when a
   Python with TensorFlow is given or is this one). Interleaving rounds spreads the machine's drift
   over both sides; the table reports the median over rounds of each side's own median.
3. Peak RSS of the processes a user runs: `resnet-run train --synthetic --epochs 1` and
   `resnet-run predict` of one photo on the run it recorded (per-process rusage from wait4).

OPENBLAS_CORETYPE is removed from the environment of every run unless --keep-coretype is given, so
OpenBLAS picks the kernels for this CPU (a VM may set it to an older family; `bench` notes that).
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fidelity_side_by_side import cpu_name  # noqa: E402  (standard library only at import)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTO = os.path.join(ROOT, "Tests", "DatasetsTests", "Fixtures", "photos", "exif6.jpg")


def log(message):
    print(message, file=sys.stderr, flush=True)


def environment(keep_coretype, extra=None):
    env = dict(os.environ)
    if not keep_coretype:
        env.pop("OPENBLAS_CORETYPE", None)
    env.update(extra or {})
    return env


def build(scratch, target_cpu, env):
    command = ["swift", "build", "-c", "release", "--product", "resnet-run"]
    if scratch:
        command += ["--scratch-path", scratch]
    extra = {"RESNET_TARGET_CPU": target_cpu} if target_cpu else {}
    log("building: " + " ".join(command) + (f" (RESNET_TARGET_CPU={target_cpu})" if target_cpu else ""))
    subprocess.run(command, cwd=ROOT, env={**env, **extra}, check=True, stdout=subprocess.DEVNULL)
    path = os.path.join(ROOT, scratch or ".build", "release", "resnet-run")
    if not os.access(path, os.X_OK):
        sys.exit(f"bench_sitting.py: error: {path} was not built")
    return path


def run_json(command, env):
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or [""])[-1]
        sys.exit(f"bench_sitting.py: error: {' '.join(command)} exited {result.returncode}: {last}")
    return json.loads(result.stdout)


def peak_rss(command, env, cwd):
    """Runs `command` and returns (exit status, its own peak RSS in bytes, stdout)."""
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return process.returncode, usage.ru_maxrss * 1024, out.read().decode()


def median(rounds, key):
    values = [r[key] for r in rounds if r.get(key) is not None]
    return statistics.median(values) if values else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10, help="timed training steps per bench")
    ap.add_argument("--portable", nargs="?", const="x86-64-v3", metavar="LEVEL,...",
                    help="also build and bench RESNET_TARGET_CPU=LEVEL for each level (default x86-64-v3)")
    ap.add_argument("--keras-python", help="a Python with tensorflow and keras (default: this one, if it has them)")
    ap.add_argument("--keep-coretype", action="store_true", help="keep OPENBLAS_CORETYPE from the environment")
    ap.add_argument("--out", help="also write the Markdown table here")
    args = ap.parse_args()
    if args.rounds < 1:
        sys.exit("bench_sitting.py: error: --rounds must be at least 1")

    env = environment(args.keep_coretype)
    builds = {"native": build(None, None, env)}
    for level in (args.portable.split(",") if args.portable else []):
        if level not in ("x86-64-v2", "x86-64-v3", "x86-64-v4"):
            sys.exit(f"bench_sitting.py: error: --portable {level}: use x86-64-v2, x86-64-v3 or x86-64-v4")
        builds[level] = build(".build-" + level.removeprefix("x86-64-"), level, env)

    keras_python = args.keras_python or sys.executable
    probe = subprocess.run([keras_python, "-c", "import tensorflow, keras"], capture_output=True)
    if probe.returncode != 0:
        if args.keras_python:
            sys.exit(f"bench_sitting.py: error: --keras-python {keras_python} cannot import tensorflow and keras")
        log("no TensorFlow in this Python: Keras is skipped (give --keras-python)")
        keras_python = None

    ours = {name: [] for name in builds}
    keras = []
    for r in range(args.rounds):
        for name, binary in builds.items():
            log(f"round {r + 1}/{args.rounds}: resnet-run bench ({name})")
            ours[name].append(run_json([binary, "bench", "--steps", str(args.steps)], env))
        if keras_python:
            log(f"round {r + 1}/{args.rounds}: Scripts/keras_bench.py")
            keras.append(run_json([keras_python, os.path.join(ROOT, "Scripts", "keras_bench.py"),
                                   "--steps", str(args.steps)], env))

    log("peak RSS of train and predict")
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "experiments.db")
        binary = builds["native"]
        status, train_rss, _ = peak_rss([binary, "train", "--synthetic", "--epochs", "1", "--db", db], env, tmp)
        if status != 0:
            sys.exit(f"bench_sitting.py: error: resnet-run train exited {status}")
        status, predict_rss, _ = peak_rss([binary, "predict", "last", PHOTO, "--db", db], env, tmp)
        if status != 0:
            sys.exit(f"bench_sitting.py: error: resnet-run predict exited {status}")

    rows = [
        ("training step, batch 32 (s)", "train_step_seconds_median", lambda v: f"{v:.3f}", True),
        ("training, share of the sgemm peak", "train_fraction_of_sgemm_peak", lambda v: f"{100 * v:.1f} %", None),
        ("sgemm peak (GFLOP/s)", "sgemm_peak_gflops", lambda v: f"{v:.0f}", None),
        ("inference, batch 32 (img/s)", "inference_images_per_second", lambda v: f"{v:.0f}", False),
        ("inference latency, batch 1 (ms)", "inference_batch1_ms_median", lambda v: f"{v:.1f}", True),
        ("peak RSS of bench (MB)", "peak_rss_bytes", lambda v: f"{v / 1e6:.0f}", True),
    ]
    names = list(builds)
    header = "| figure | " + " | ".join(f"resnet-swift ({n})" for n in names)
    header += " | Keras | ratio (native vs Keras) |" if keras else " |"
    lines = [header, "|" + " --- |" * (len(names) + 1 + (2 if keras else 0))]
    for label, key, fmt, lower_is_better in rows:
        cells = [median(ours[n], key) for n in names]
        line = f"| {label} | " + " | ".join(fmt(c) if c is not None else "-" for c in cells)
        if keras:
            k = median(keras, key)
            ratio = "-"
            if k is not None and cells[0] and lower_is_better is not None:
                ratio = f"{(k / cells[0]) if lower_is_better else (cells[0] / k):.2f}×"
            line += f" | {fmt(k) if k is not None else '-'} | {ratio} |"
        else:
            line += " |"
        lines.append(line)
    lines.append(f"| peak RSS of `train --synthetic --epochs 1` (MB) | {train_rss / 1e6:.0f} |"
                 + " |" * (len(names) - 1 + (2 if keras else 0)))
    lines.append(f"| peak RSS of `predict` of one photo (MB) | {predict_rss / 1e6:.0f} |"
                 + " |" * (len(names) - 1 + (2 if keras else 0)))
    first = ours[names[0]][0]
    context = (f"{datetime.date.today()}, {cpu_name()}, {os.cpu_count()} cores; OpenBLAS kernels "
               f"{first.get('blas_core')}; {args.rounds} round(s) of {args.steps} steps, medians"
               + (f"; {keras[0].get('framework')}" if keras else ""))
    table = context + "\n\n" + "\n".join(lines) + "\n"
    print(table)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(table)
            f.write("\n<details><summary>raw JSON</summary>\n\n```json\n")
            f.write(json.dumps({"resnet_swift": ours, "keras": keras, "train_peak_rss_bytes": train_rss,
                                "predict_peak_rss_bytes": predict_rss}, indent=1, sort_keys=True))
            f.write("\n```\n</details>\n")


if __name__ == "__main__":
    main()
