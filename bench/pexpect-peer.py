#!/usr/bin/env python3
"""The peer the serial bench is compared with: pexpect, the engine under pytest-embedded.

Reads the same byte stream the harness reads (bench/flood-writer.ts floods a PTY with 60-byte
telemetry lines) the way a pytest-embedded test would: `expect()` one regular expression per line
on a pexpect spawn of the port, and counts lines per second. Prints one JSON line:
{"lines": N, "seconds": S, "lines_per_s": R, "pexpect": "4.8.0"}.

    python3 bench/pexpect-peer.py --lines 200000

Needs pexpect (Debian: python3-pexpect). Started by `npm run bench:serial`, which alternates it with
the harness's own path and prints the ratio.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

try:
    import pexpect
    from pexpect import fdpexpect
except ImportError:  # the bench says so and skips the comparison
    print(json.dumps({"error": "pexpect is not installed (Debian: apt-get install python3-pexpect)"}))
    sys.exit(0)

HERE = os.path.dirname(os.path.abspath(__file__))
# What a pytest-embedded test would expect of a telemetry line: every field captured.
LINE = re.compile(rb"HIL (\d+) (\d+) (\w+) ([^\r\n]*)\r?\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=200_000)
    args = ap.parse_args()
    writer = subprocess.Popen(
        [os.environ.get("NODE", "node"), "--import=tsx", os.path.join(HERE, "flood-writer.ts")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
    )
    try:
        path = json.loads(writer.stdout.readline())["path"]
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        child = fdpexpect.fdspawn(fd, timeout=60, maxread=65536)
        writer.stdin.write(json.dumps({"go": args.lines, "markEvery": 1000}) + "\n")
        t0 = time.perf_counter()
        seen = 0
        for _ in range(args.lines):
            child.expect(LINE)
            seen += 1
        secs = time.perf_counter() - t0
        print(json.dumps({"lines": seen, "seconds": round(secs, 3), "lines_per_s": round(seen / secs), "pexpect": pexpect.__version__}))
        writer.stdout.readline()  # the writer's done
        writer.stdin.write(json.dumps({"exit": True}) + "\n")
        os.close(fd)
    finally:
        writer.stdin.close()
        try:
            writer.wait(timeout=5)
        except subprocess.TimeoutExpired:
            writer.kill()


if __name__ == "__main__":
    main()
