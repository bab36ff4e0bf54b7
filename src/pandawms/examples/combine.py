"""Demo payload: combine Monte Carlo estimates of pi (the processing and merge steps of the demo's tasks).

``python -m pandawms.examples.combine --output FILE INPUT...`` reads the JSON results of mc_pi (or of an
earlier combine) and writes their sample-weighted average with its error. Inputs may be given comma-joined
(JEDI's ``${IN}``). ``--hog-on TEXT:MB`` holds MB of memory when an input's name contains TEXT — the demo's
file that fails under the task's first memory request and succeeds when the retry asks for more;
``--hog-seconds S`` holds it that long (the pilot samples memory every 10 s).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path


def combine(results: list[dict[str, float]]) -> dict[str, float]:
    """The sample-weighted mean of the estimates and its statistical error."""
    samples = sum(r["samples"] for r in results)
    if samples <= 0:
        raise ValueError("no samples in the inputs")
    pi = sum(r["pi"] * r["samples"] for r in results) / samples
    p = pi / 4.0
    return {"pi": pi, "error": 4.0 * math.sqrt(max(p * (1.0 - p), 0.0) / samples), "samples": samples}


def _inputs(values: list[str]) -> list[Path]:
    return [Path(v) for item in values for v in item.split(",") if v]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--hog-on", default="", help="TEXT:MB - hold MB of memory if an input name has TEXT")
    parser.add_argument("--hog-seconds", type=float, default=0.0, help="hold the --hog-on memory this long")
    parser.add_argument("inputs", nargs="+")
    args = parser.parse_args(argv)
    paths = _inputs(args.inputs)
    hog = bytearray(0)
    if args.hog_on:
        text, _, mb = args.hog_on.rpartition(":")
        if any(text in p.name for p in paths):
            hog = bytearray(int(mb) * 1024 * 1024)
            for i in range(0, len(hog), 4096):  # touch every page so it is resident
                hog[i] = 1
            time.sleep(args.hog_seconds)
    results = [json.loads(p.read_text()) for p in paths]
    merged = combine(results)
    Path(args.output).write_text(json.dumps({**merged, "inputs": [p.name for p in paths]}))
    report = {"exitCode": 0, "nevents": int(merged["samples"]), "output": args.output}
    Path("jobReport.json").write_text(json.dumps(report))
    held = len(hog) >> 20
    print(
        f"combined {len(paths)} input(s): pi = {merged['pi']:.5f} +- {merged['error']:.5f} (held {held} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
