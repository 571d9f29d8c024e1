"""Decode 100,000 job accounts: this project vs anchorpy's AccountsCoder with the same IDL.

    .venv/bin/python benchmarks/decode.py [--count 100000] [--anchorpy-python PATH]

anchorpy pins other solana/solders versions than the project, so it runs in a
temporary venv created here (pip install anchorpy==0.21.0) unless
--anchorpy-python names an interpreter that has it. Both sides decode the same
bytes (written to a temp file); the ratio printed is measured in this run, and a
sample of decoded fields is compared so neither side can skip work.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from solders.pubkey import Pubkey  # noqa: E402

from nosana_dash.network.codec.accounts import JobAccount, decode_job, encode_job  # noqa: E402

IDL_FILE = ROOT.parent / "shared" / "vectors" / "instructions.json"

CHILD = r"""
import json, sys, time
from anchorpy import Idl
from anchorpy.coder.accounts import AccountsCoder
idl = Idl.from_json(open(sys.argv[1]).read())
coder = AccountsCoder(idl)
raw = open(sys.argv[2], 'rb').read()
size = int(sys.argv[3])
datas = [raw[i:i + size] for i in range(0, len(raw), size)]
best = float('inf')
for _ in range(int(sys.argv[4])):
    t = time.perf_counter()
    out = [coder.decode(d) for d in datas]
    best = min(best, time.perf_counter() - t)
sample = [[str(o.market), str(o.project), o.price, o.timeout, o.state] for o in out[:: max(1, len(out) // 50)]]
print(json.dumps({"seconds": best, "sample": sample}))
"""


def idl_json() -> str:
    """The jobs IDL (Anchor 0.28 JSON shape) for the account types, from the vectors' IDL."""
    jobs = json.loads(IDL_FILE.read_text())["nosana_jobs"]
    accounts = []
    for account in jobs["accounts"]:
        name = account["name"][0].upper() + account["name"][1:]
        accounts.append({"name": name, "type": {"kind": "struct", "fields": account["fields"]}})
    return json.dumps({"version": "0.1.0", "name": "nosana_jobs", "instructions": [], "accounts": accounts})


def make_accounts(count: int) -> list[bytes]:
    rng = random.Random(1)
    keys = [str(Pubkey(bytes(rng.getrandbits(8) for _ in range(32)))) for _ in range(2000)]
    out = []
    for _ in range(count):
        out.append(encode_job(JobAccount(
            rng.randbytes(32), rng.randbytes(32), rng.choice(keys), rng.choice(keys), rng.choice(keys),
            rng.randrange(1, 10_000), rng.choice(keys), rng.choice((0, 2, 3)), rng.randrange(2**31),
            rng.randrange(2**31), rng.randrange(60, 86_400),
        )))
    return out


def anchorpy_python(given: str | None, tmp: str) -> str:
    if given:
        return given
    env = Path(tmp) / "venv"
    venv.create(env, with_pip=True)
    python = str(env / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "anchorpy==0.21.0"], check=True, timeout=900)
    return python


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--anchorpy-python", default=os.environ.get("ANCHORPY_PYTHON"))
    args = parser.parse_args()
    datas = make_accounts(args.count)
    best = float("inf")
    decoded: list[JobAccount] = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        decoded = [decode_job(d) for d in datas]
        best = min(best, time.perf_counter() - start)
    print(f"ours     : {args.count} job accounts in {best:.3f} s ({args.count / best:,.0f}/s)")
    with tempfile.TemporaryDirectory(prefix="decode-bench-") as tmp:
        try:
            python = anchorpy_python(args.anchorpy_python, tmp)
        except (subprocess.SubprocessError, OSError) as exc:
            print(f"anchorpy could not be installed ({exc}); no ratio measured")
            return
        idl_path, data_path, child = Path(tmp) / "idl.json", Path(tmp) / "jobs.bin", Path(tmp) / "child.py"
        idl_path.write_text(idl_json())
        data_path.write_bytes(b"".join(datas))
        child.write_text(CHILD)
        out = subprocess.run([python, str(child), str(idl_path), str(data_path), str(len(datas[0])), str(args.repeat)],
                             check=True, capture_output=True, text=True, timeout=1800)
        result = json.loads(out.stdout.strip().splitlines()[-1])
    theirs = float(result["seconds"])
    step = max(1, len(decoded) // 50)
    ours_sample = [[j.market, j.project, j.price, j.timeout, j.state] for j in decoded[::step]]
    print(f"anchorpy : {args.count} job accounts in {theirs:.3f} s ({args.count / theirs:,.0f}/s)")
    print(f"same decoded values (sampled): {ours_sample == result['sample']}")
    print(f"ratio ours/anchorpy throughput: {theirs / best:.1f}x (goal >= 20x)")


if __name__ == "__main__":
    main()
