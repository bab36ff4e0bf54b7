"""Demo payload: a Monte Carlo estimate of pi that writes a real output file.

``python -m pandawms.examples.mc_pi --seed S --samples N --output FILE`` throws N random points in the
unit square, counts those inside the quarter circle and writes the estimate with its statistical error.
``--events E`` counts the work in events of ``--samples-per-event`` samples (JEDI's ``${MAXEVENTS}``):
the job report then says E events, what the scouts measure per event.
Failure modes for the demo: ``--exit-code C`` fails after the work, ``--hog-mb M`` holds M MB of memory
(for the pilot's memory limit), ``--sleep S`` idles (for walltime limits and kills). ``--input FILE``
(repeatable) reads staged-in input files: each one's bytes are folded into the seed, so the result
depends on the data the job was given, and their names and sizes go into the output.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
import zlib
from pathlib import Path


def estimate_pi(seed: int, samples: int) -> tuple[float, float]:
    rng = random.Random(seed)
    inside = 0
    for _ in range(samples):
        x, y = rng.random(), rng.random()
        if x * x + y * y <= 1.0:
            inside += 1
    p = inside / samples
    return 4.0 * p, 4.0 * math.sqrt(p * (1.0 - p) / samples)


def fold_inputs(seed: int, inputs: list[str]) -> tuple[int, list[dict[str, object]]]:
    """The seed mixed with each input's adler32, and a description of the inputs read."""
    read: list[dict[str, object]] = []
    for name in inputs:
        data = Path(name).read_bytes()
        seed = zlib.adler32(data, seed & 0xFFFFFFFF)
        read.append({"file": Path(name).name, "bytes": len(data)})
    return seed, read


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=0, help="events of --samples-per-event samples each")
    parser.add_argument("--samples-per-event", type=int, default=1000)
    parser.add_argument("--output", required=True)
    parser.add_argument("--exit-code", type=int, default=0)
    parser.add_argument("--hog-mb", type=int, default=0)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--input", action="append", default=[], help="an input file to read (repeatable)")
    args = parser.parse_args(argv)
    if args.events > 0:
        args.samples = args.events * args.samples_per_event
    seed, inputs = fold_inputs(args.seed, args.input)
    hog = bytearray(args.hog_mb * 1024 * 1024)
    for i in range(0, len(hog), 4096):  # touch every page so it is resident
        hog[i] = 1
    started = time.time()
    value, error = estimate_pi(seed, args.samples)
    time.sleep(args.sleep)
    result = {
        "seed": args.seed,
        "samples": args.samples,
        "pi": value,
        "error": error,
        "seconds": round(time.time() - started, 3),
        **({"inputs": inputs} if inputs else {}),
    }
    with open(args.output, "w") as f:
        json.dump(result, f)
    # The job report beside the output, as real transforms write it: the pilot sends it as the metadata.
    nevents = args.events if args.events > 0 else args.samples
    report = {"exitCode": args.exit_code, "nevents": nevents, "output": args.output, **result}
    with open("jobReport.json", "w") as f:
        json.dump(report, f)
    print(f"seed {args.seed}: pi = {value:.5f} +- {error:.5f} from {args.samples} samples")
    if args.exit_code:
        print(f"failing on purpose with exit code {args.exit_code}", file=sys.stderr)
    return int(args.exit_code)


if __name__ == "__main__":
    sys.exit(main())
