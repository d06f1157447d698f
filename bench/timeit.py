"""Runs one command several times for bench/run and prints its median wall time, peak RSS and leak count."""
# Usage: timeit.py [-r REPS] [--budget SECONDS] [-e NAME=VALUE]... [--clean DIR] [--leaks KIND] [--end-mark]
#                  [--any-exit] [--baseline 'CMD ARGS'] -- CMD...
# The environment given with -e reaches the command only, never this script (LD_PRELOAD must not trace python).
# Prints one line of name=value pairs, then, on failure, the last lines the command wrote to stderr prefixed "  | ".
import argparse
import ctypes
import glob
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def stack_cache(dump_dir):
    """Returns the hit rate of leakwatch's stack cache, from the stack_cache member of its dumps, as a string."""
    hits = misses = 0
    for path in glob.glob(os.path.join(dump_dir or "", "leakwatch.*.json")):
        with open(path) as f:
            sc = json.load(f).get("stack_cache") or {}
        hits += sc.get("hits", 0)
        misses += sc.get("misses", 0)
    return "%.1f%%" % (100.0 * hits / (hits + misses)) if hits + misses else "-"


def count_leaks(kind, err_text, dump_dir):
    """Returns the leak count the tool itself reported on the last run, or None when it reported none."""
    if kind == "lsan":
        m = re.search(r"SUMMARY: LeakSanitizer: [\d,]+ byte\(s\) leaked in ([\d,]+) allocation", err_text)
        return int(m.group(1).replace(",", "")) if m else 0
    if kind == "valgrind":
        m = re.search(r"definitely lost: [\d,]+ bytes in ([\d,]+) blocks", err_text)
        return int(m.group(1).replace(",", "")) if m else None
    if kind == "heaptrack":
        m = re.search(r"leaked allocations:\s*(\d+)", err_text)
        return int(m.group(1)) if m else None
    if kind == "dump":
        dumps = glob.glob(os.path.join(dump_dir, "leakwatch.*.json"))
        if not dumps:
            return None
        total = 0
        for path in dumps:
            with open(path) as f:
                total += json.load(f)["totals"]["heap"]["count"]
        return total
    return None


def live_blocks(dump_dir):
    """Returns the heap blocks live at exit in leakwatch's dumps (leaked and still reachable), or None."""
    dumps = glob.glob(os.path.join(dump_dir or "", "leakwatch.*.json"))
    if not dumps:
        return None
    total = 0
    for path in dumps:
        with open(path) as f:
            totals = json.load(f)["totals"]
        total += totals["heap"]["count"] + (totals.get("reachable") or {}).get("count", 0)
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-r", "--reps", type=int, default=5)
    ap.add_argument("--budget", type=float, default=0,
                    help="stop repeating once the runs so far took this many seconds (at least one run)")
    ap.add_argument("-e", "--env", action="append", default=[])
    ap.add_argument("--clean", help="a scratch directory (dumps, heaptrack output) emptied before each run")
    ap.add_argument("--leaks", choices=["none", "lsan", "valgrind", "heaptrack", "dump"], default="none")
    ap.add_argument("--end-mark", action="store_true",
                    help="the command prints main_end_ns=N; report the time from then to its exit")
    ap.add_argument("--any-exit", action="store_true", help="any exit status counts as success; a signal does not")
    ap.add_argument("--baseline", help="a command line (no extra environment) run before each run of CMD; its "
                    "median is printed as base_median")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    env = dict(os.environ)
    for kv in a.env:
        name, _, value = kv.partition("=")
        env[name] = value

    # PR_SET_CHILD_SUBREAPER: descendants orphaned by the command become our children, so we can wait for them.
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    base_cmd = shlex.split(a.baseline) if a.baseline else None
    walls, rss, tails, base_walls, end_rss, base_rss = [], [], [], [], [], []
    last_rc = 0
    err_text = ""
    with tempfile.TemporaryDirectory(prefix="lw-bench-") as tmp:
        out_path, err_path = os.path.join(tmp, "out"), os.path.join(tmp, "err")

        def run_once(argv, run_env):
            """Runs argv once; returns (wall seconds, peak RSS in KB, exit code, wall-clock ns at exit)."""
            with open(out_path, "wb") as out, open(err_path, "wb") as err:
                t0 = time.perf_counter()
                p = subprocess.Popen(argv, env=run_env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
                _, status, usage = os.wait4(p.pid, 0)
                # Peak RSS of the command and the children it waited for, not of helpers it left behind (LSan's
                # llvm-symbolizer, say): those were handed to us as orphans, and the run ends when the last of them
                # does, or they would slow down the next run instead.
                maxrss = usage.ru_maxrss
                while True:
                    try:
                        os.wait4(-1, 0)
                    except ChildProcessError:
                        break
                t1 = time.perf_counter()
                end_ns = time.time_ns()
                p.returncode = os.waitstatus_to_exitcode(status)
            return t1 - t0, maxrss, p.returncode, end_ns

        def failed(rc, what):
            with open(err_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            how = ("signal %d" % -rc) if rc < 0 else ("exit %d" % rc)
            print("status=fail rc=%d how=%s%s" % (rc, what, how.replace(" ", "_")))
            for line in text.strip().splitlines()[-6:]:
                print("  | " + line[:200])
            return 1

        for _ in range(a.reps):
            if base_cmd:
                # Interleaved with the tool's runs, so that a change in the machine's load hits both alike.
                wall, maxrss, rc, _ = run_once(base_cmd, dict(os.environ))
                if rc != 0:
                    return failed(rc, "baseline_")
                base_walls.append(wall)
                base_rss.append(maxrss)
            if a.clean:
                for name in os.listdir(a.clean):
                    path = os.path.join(a.clean, name)
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path)
                    else:
                        os.unlink(path)
            wall, maxrss, rc, end_ns = run_once(cmd, env)
            with open(err_path, "rb") as f:
                err_text = f.read().decode("utf-8", "replace")
            if rc < 0 or (rc != 0 and not a.any_exit):
                return failed(rc, "")
            walls.append(wall)
            rss.append(maxrss)
            last_rc = rc
            if a.end_mark:
                with open(out_path) as f:
                    out_text = f.read()
                m = re.search(r"main_end_ns=(\d+)", out_text)
                if m:
                    tails.append((end_ns - int(m.group(1))) / 1e9)
                m = re.search(r"main_end_rss_kb=(\d+)", out_text)
                if m:
                    end_rss.append(int(m.group(1)))
            if a.budget and sum(walls) + sum(base_walls) >= a.budget:
                break
        leaks = count_leaks(a.leaks, err_text, a.clean)
        cache = stack_cache(a.clean) if a.leaks == "dump" else "-"
        live = live_blocks(a.clean) if a.leaks == "dump" else None

    fields = [
        "status=ok",
        "rc=%d" % last_rc,
        "reps=%d" % len(walls),
        "median=%.4f" % statistics.median(walls),
        "min=%.4f" % min(walls),
        "max=%.4f" % max(walls),
        "rss_kb=%d" % statistics.median(rss),
        "tail=%s" % ("%.4f" % statistics.median(tails) if tails else "-"),
        "end_rss_kb=%s" % ("%d" % statistics.median(end_rss) if end_rss else "-"),
        "leaks=%s" % ("-" if leaks is None else leaks),
        "cache=%s" % cache,
        "live=%s" % ("-" if live is None else live),
        "base_median=%s" % ("%.4f" % statistics.median(base_walls) if base_walls else "-"),
        "base_rss_kb=%s" % ("%d" % statistics.median(base_rss) if base_rss else "-"),
    ]
    print(" ".join(fields))
    return 0


if __name__ == "__main__":
    sys.exit(main())
