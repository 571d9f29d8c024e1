"""CIDv0 of 100 MB: this project vs hashlib sha256 of the same bytes (the limit) vs ipfs-only-hash in node.

    .venv/bin/python benchmarks/cid.py [--mb 100] [--node-dir DIR]

ipfs-only-hash (the package the vectors were checked against) is installed with
npm into a temporary folder unless --node-dir points at one that has it. Every
ratio printed is measured in this run; the CIDs of all three must agree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nosana_dash.network.codec.cid import cid_v0  # noqa: E402

NODE_SCRIPT = r"""
const fs = require('fs');
const Hash = require('ipfs-only-hash');
(async () => {
  const data = fs.readFileSync(process.argv[2]);
  let best = Infinity, cid = '';
  for (let i = 0; i < 3; i++) {
    const t = process.hrtime.bigint();
    cid = await Hash.of(data);
    const s = Number(process.hrtime.bigint() - t) / 1e9;
    if (s < best) best = s;
  }
  console.log(JSON.stringify({cid, seconds: best}));
})();
"""


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def node_hash(path: Path, node_dir: Path | None) -> dict[str, object] | None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        print("node/npm not found: skipping ipfs-only-hash")
        return None
    with tempfile.TemporaryDirectory(prefix="cid-bench-") as tmp:
        folder = node_dir or Path(tmp)
        if not (folder / "node_modules" / "ipfs-only-hash").exists():
            subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "ipfs-only-hash@4.0.0"],
                           cwd=folder, check=True, timeout=600)
        script = folder / "bench.js"
        script.write_text(NODE_SCRIPT)
        out = subprocess.run(["node", str(script), str(path)], cwd=folder, check=True, capture_output=True, text=True, timeout=900)
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--node-dir", type=Path, default=None)
    args = parser.parse_args()
    size = args.mb * 1_000_000
    data = os.urandom(size)
    sha_s, _ = best_of(lambda: hashlib.sha256(data).digest())
    ours_s, ours_cid = best_of(lambda: cid_v0(data))
    print(f"input: {size} random bytes")
    print(f"hashlib sha256 : {sha_s:.3f} s  ({size / sha_s / 1e6:.0f} MB/s)")
    print(f"cid_v0 (ours)  : {ours_s:.3f} s  ({size / ours_s / 1e6:.0f} MB/s)  {ours_cid}")
    print(f"ratio ours/sha256 throughput: {sha_s / ours_s:.3f}x (goal >= 0.8x)")
    with tempfile.NamedTemporaryFile(suffix=".bin") as file:
        file.write(data)
        file.flush()
        node = node_hash(Path(file.name), args.node_dir)
    if node is not None:
        node_s = float(node["seconds"])  # type: ignore[arg-type]
        print(f"ipfs-only-hash : {node_s:.3f} s  ({size / node_s / 1e6:.0f} MB/s)  {node['cid']}")
        print(f"same CID as ipfs-only-hash: {node['cid'] == ours_cid}")
        print(f"ratio ours/ipfs-only-hash throughput: {node_s / ours_s:.2f}x")


if __name__ == "__main__":
    main()
