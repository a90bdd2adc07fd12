#!/usr/bin/env python3
"""Sigil's offline toolkit beside its peers, measured in the same run.

  AES-256-GCM seal at 16 KiB   sigil-core (criterion)       vs  openssl speed -evp aes-256-gcm
  age encryption of a file     sigil encrypt                vs  the Debian age binary
                               (wall time, peak RSS)
  Argon2id, OWASP parameters   sigil-core (criterion)       vs  argon2-cffi (reference C)

Prints a Markdown table with the ratios the project tracks. Nothing here asserts a timing.

Usage: bench/offline.py [--size-mib 1024] [--runs 3] [--workdir DIR] [--skip-build]
Needs: cargo, openssl, age and age-keygen (apt-get install age), and argon2-cffi importable by
the Python in .test-env/venv (scripts/test.sh creates it) or by this interpreter.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRITERION = ROOT / "target" / "criterion"


def sh(*args, **kw):
    return subprocess.run(args, check=True, text=True, capture_output=True, **kw)


def criterion_median_ns(bench, filt, group, function):
    """Runs one criterion bench filter and returns the median time per iteration in ns."""
    subprocess.run(
        ["cargo", "bench", "-q", "-p", "sigil-core", "--bench", bench, "--", filt],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    est = CRITERION / group / function / "new" / "estimates.json"
    return json.loads(est.read_text())["median"]["point_estimate"]


def aes_gcm(runs):
    ns = criterion_median_ns("symmetric", "aead/aes256gcm_seal/16384", "aead", "aes256gcm_seal_16384")
    ours = 16384 / ns  # bytes per ns = GB/s
    theirs = []
    for _ in range(runs):
        out = sh("openssl", "speed", "-mr", "-seconds", "3", "-bytes", "16384", "-evp", "aes-256-gcm").stdout
        line = [l for l in out.splitlines() if l.startswith("+F:")][-1]
        theirs.append(float(line.split(":")[-1]) / 1e9)
    theirs = statistics.median(theirs)
    return ("AES-256-GCM seal, 16 KiB (GB/s, single core)", ours, theirs, ours / theirs, "≥ 0.95")


def timed(cmd):
    """Wall seconds and peak RSS (KiB) of one run, via GNU time."""
    r = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", *cmd], capture_output=True, text=True, check=True
    )
    wall, rss = r.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss)


def age_encrypt(size_mib, runs, workdir, sigil):
    work = Path(workdir)
    data = work / f"plain-{size_mib}MiB.bin"
    if not data.exists() or data.stat().st_size != size_mib << 20:
        with open(data, "wb") as f:
            for _ in range(size_mib):
                f.write(os.urandom(1 << 20))
    key = work / "bench.agekey"
    if not key.exists():
        sh("age-keygen", "-o", str(key))
    recipient = sh("age-keygen", "-y", str(key)).stdout.strip()
    out = work / "out.age"
    # Warm the page cache so both read the file from memory.
    subprocess.run(["cat", str(data)], stdout=subprocess.DEVNULL, check=True)
    ours, theirs = [], []
    for i in range(runs):
        order = [("sigil", ours), ("age", theirs)] if i % 2 == 0 else [("age", theirs), ("sigil", ours)]
        for name, acc in order:
            cmd = (
                [sigil, "encrypt", "-r", recipient, "-o", str(out), str(data)]
                if name == "sigil"
                else ["age", "-r", recipient, "-o", str(out), str(data)]
            )
            acc.append(timed(cmd))
            out.unlink()
    o_wall = statistics.median(w for w, _ in ours)
    t_wall = statistics.median(w for w, _ in theirs)
    o_rss = max(r for _, r in ours) / 1024
    t_rss = max(r for _, r in theirs) / 1024
    return [
        (f"age encrypt {size_mib} MiB: wall time (s)", o_wall, t_wall, t_wall / o_wall, "≥ 1 (goal 1.5)"),
        (f"age encrypt {size_mib} MiB: peak RSS (MiB)", o_rss, t_rss, o_rss / t_rss, "ours < 32 MiB"),
    ]


def argon2(runs):
    ns = criterion_median_ns("password", "argon2id_m19456_t2_p1/hash", "argon2id_m19456_t2_p1", "hash")
    ours = ns / 1e6
    venv = ROOT / ".test-env" / "venv" / "bin" / "python"
    python = str(venv) if venv.exists() else sys.executable
    code = (
        "import timeit,argon2;h=argon2.PasswordHasher(time_cost=2,memory_cost=19456,parallelism=1,"
        "hash_len=32,salt_len=16);h.hash('warm');"
        f"print(min(timeit.repeat(lambda:h.hash('correct horse'),number=5,repeat={max(runs, 3)}))/5)"
    )
    theirs = float(sh(python, "-c", code).stdout.strip()) * 1000
    return ("Argon2id m=19456 t=2 p=1 hash (ms)", ours, theirs, ours / theirs, "≤ 1.3")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir")
    ap.add_argument("--skip-build", action="store_true")
    a = ap.parse_args()
    if not 1 <= a.runs <= 20 or not 1 <= a.size_mib <= 8192:
        sys.exit("runs must be 1..20 and size 1..8192 MiB")
    if not a.skip_build:
        subprocess.run(["cargo", "build", "-q", "--release", "-p", "sigil"], cwd=ROOT, check=True)
    sigil = str(ROOT / "target" / "release" / "sigil")
    rows = [aes_gcm(a.runs)]
    with tempfile.TemporaryDirectory(dir=a.workdir) as work:
        rows += age_encrypt(a.size_mib, a.runs, a.workdir or work, sigil)
    rows.append(argon2(a.runs))
    print(f"\nSigil offline benchmarks, {time.strftime('%Y-%m-%d %H:%M')} ({os.cpu_count()} CPUs)\n")
    print("| measure | Sigil | peer | ratio | goal |")
    print("|---|---:|---:|---:|---|")
    for name, ours, theirs, ratio, goal in rows:
        print(f"| {name} | {ours:.2f} | {theirs:.2f} | {ratio:.2f} | {goal} |")
    print("\nPeers: openssl speed (OpenSSL %s), Debian age %s, argon2-cffi." % (
        sh("openssl", "version").stdout.split()[1],
        sh("age", "--version").stdout.strip(),
    ))


if __name__ == "__main__":
    main()
