"""Benchmark: validate 10,000 job definitions with this project and with the reference.

The definitions are drawn (seeded) from the conformance cases in the shared vectors. The
reference is `validateJobDefinition` of `@nosana/types` 2.1.6, installed with npm into a
fresh temporary folder and run by node in the same script, on the same 10,000 values.
Both sides validate already-parsed values; each side also reports its verdicts, which
must agree one for one.

    .venv/bin/python benchmarks/validate.py [--count 10000] [--seed 1] [--repeat 3]

Prints both throughputs and the ratio (reference / ours, so < 2 meets the goal).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CASES_FILE = ROOT.parent / "shared" / "vectors" / "job-definition-cases.json"
REFERENCE_PACKAGE = "@nosana/types@2.1.6"

NODE_DRIVER = """
import { readFileSync } from 'node:fs';
import { validateJobDefinition } from '@nosana/types';

const defs = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const repeat = Number(process.argv[3]);
let verdicts = [];
for (let i = 0; i < Math.min(defs.length, 2000); i++) validateJobDefinition(defs[i]);  // warm-up
let wall = Infinity, cpu = Infinity;
for (let r = 0; r < repeat; r++) {
  const out = new Array(defs.length);
  const cpuStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let i = 0; i < defs.length; i++) out[i] = validateJobDefinition(defs[i]).success;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpuStart);
  wall = Math.min(wall, seconds);
  cpu = Math.min(cpu, (used.user + used.system) / 1e6);
  verdicts = out;
}
process.stdout.write(JSON.stringify({ wall, cpu, verdicts }));
"""


def draw(count: int, seed: int) -> list[Any]:
    cases = json.loads(CASES_FILE.read_text())["cases"]
    rng = random.Random(seed)
    return [rng.choice(cases)["definition"] for _ in range(count)]


def install_reference(folder: Path) -> None:
    (folder / "package.json").write_text(json.dumps({"name": "validate-bench", "private": True, "type": "module"}))
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", REFERENCE_PACKAGE],
        cwd=folder,
        check=True,
        timeout=300,
    )
    (folder / "driver.mjs").write_text(NODE_DRIVER)


def run_reference(folder: Path, defs: list[Any], repeat: int) -> tuple[float, float, list[bool]]:
    data = folder / "definitions.json"
    data.write_text(json.dumps(defs))
    done = subprocess.run(
        ["node", str(folder / "driver.mjs"), str(data), str(repeat)],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result = json.loads(done.stdout)
    return float(result["wall"]), float(result["cpu"]), [bool(v) for v in result["verdicts"]]


def run_ours(defs: list[Any], repeat: int) -> tuple[float, float, list[bool]]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nosana_dash.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from jobs.definition import validate

    for value in defs[:2000]:  # warm-up, like the reference side
        validate(value)
    wall = cpu = float("inf")
    verdicts: list[bool] = []
    for _ in range(repeat):
        cpu_start = time.process_time()
        start = time.perf_counter()
        out = [validate(value).valid for value in defs]
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - cpu_start)
        verdicts = out
    return wall, cpu, verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds per side; the best is kept")
    args = parser.parse_args()
    if not shutil.which("node") or not shutil.which("npm"):
        print("node and npm are needed for the reference side", file=sys.stderr)
        return 2

    defs = draw(args.count, args.seed)
    folder = Path(tempfile.mkdtemp(prefix="nosana-validate-bench-"))
    try:
        install_reference(folder)
        ref_wall, ref_cpu, ref_verdicts = run_reference(folder, defs, args.repeat)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    our_wall, our_cpu, our_verdicts = run_ours(defs, args.repeat)

    disagreements = sum(1 for a, b in zip(ref_verdicts, our_verdicts, strict=True) if a != b)
    n = args.count
    print(f"definitions:        {n:,} drawn from the conformance cases (seed {args.seed}), best of {args.repeat}")
    print(f"valid / invalid:    {sum(our_verdicts):,} / {n - sum(our_verdicts):,}")
    print(f"verdict mismatches: {disagreements}")
    print(f"{'':34} {'wall defs/s':>12} {'cpu defs/s':>12}")
    print(f"{'reference (node, ' + REFERENCE_PACKAGE + ')':34} {n / ref_wall:>12,.0f} {n / ref_cpu:>12,.0f}")
    print(f"{'nosana-dash (python validate)':34} {n / our_wall:>12,.0f} {n / our_cpu:>12,.0f}")
    print(f"ratio, our time / reference time:  wall {our_wall / ref_wall:.2f}x   cpu {our_cpu / ref_cpu:.2f}x   (goal <= 2x)")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
