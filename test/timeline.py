#!/usr/bin/env python3
"""timeline.py times the hops of a served no-op job, from the job's own records.

    test/timeline.py [--self] BIN [RUNS]

BIN is a deployer binary (make build's bin/deployer). The script serves a
state directory of its own with "BIN up" (with --self, it stops the
detached server before each run instead, so that each run starts its
own, as a first run in a while does), times RUNS (default 40) runs of
"BIN run -- bench noop" from the outside, then reads, for each job, the
times its stream events carry and its task's claim and end (local_tasks'
started_ms and stopped_ms), and prints the median and 90th percentile of
each hop:

    the run starts -> its job id (a ULID, to the millisecond) -> accepted -> queued -> starting -> claimed -> ended
    -> finished -> the run has exited

Times written by different processes are compared, so this is for one
machine. Linux or macOS; Python 3's standard library, and test/benchdir.sh
for the fixture.
"""

import datetime
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HOPS = ["job id", "accepted", "queued", "starting", "claimed", "ended", "finished", "exited"]


def seconds(stamp):
    """An RFC 3339 time of a job event, in seconds since the epoch."""
    stamp = stamp.replace("Z", "")
    if "." in stamp:
        whole, frac = stamp.split(".")
        stamp = whole + "." + (frac + "000000")[:6]
    return datetime.datetime.fromisoformat(stamp).replace(tzinfo=datetime.timezone.utc).timestamp()


def ulid_seconds(ulid):
    """The time a ULID was made, in seconds since the epoch (to the ms)."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    ms = 0
    for ch in ulid[:10].upper():
        ms = ms * 32 + alphabet.index(ch)
    return ms / 1000


def stop_servers(state):
    """Stops the detached servers of a state directory and waits until they are gone."""
    if not os.path.isdir(state):
        return
    for name in os.listdir(state):
        if not (name.startswith("up-") and name.endswith(".lock")):
            continue
        pid = int(name[len("up-"):-len(".lock")])
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.005)


def main():
    args = sys.argv[1:]
    self_served = "--self" in args
    if self_served:
        args.remove("--self")
    if len(args) not in (1, 2):
        sys.exit("usage: timeline.py [--self] BIN [RUNS]")
    binary, runs = os.path.abspath(args[0]), int(args[1]) if len(args) == 2 else 40
    with tempfile.TemporaryDirectory() as tmp:
        state, config = os.path.join(tmp, "state"), os.path.join(tmp, "deployer.yaml")
        subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "benchdir.sh"), tmp], check=True)
        base = [binary, "--state-dir", state, "--config", config]
        log = open(os.path.join(tmp, "up.log"), "w+")
        up = None
        if not self_served:
            up = subprocess.Popen(base + ["up"], stderr=log)
        try:
            deadline = time.monotonic() + 30
            while up and "serving" not in open(log.name).read():
                if up.poll() is not None or time.monotonic() > deadline:
                    sys.exit("up did not serve:\n" + open(log.name).read())
                time.sleep(0.05)
            jobs = []
            for i in range(runs + 1):
                if self_served:
                    stop_servers(state)
                start = time.time()
                out = subprocess.run(base + ["run", "--no-color", "--", "bench", "noop"], capture_output=True, text=True)
                end = time.time()
                if out.returncode != 0:
                    sys.exit("run: exit %d\n%s" % (out.returncode, out.stderr))
                if i > 0:  # the first warms up
                    jobs.append((out.stderr.split("job ", 1)[1].split()[0], start, end))
                time.sleep(0.05)
        finally:
            if up:
                up.send_signal(signal.SIGINT)
                up.wait()
            else:
                stop_servers(state)
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(state, "deployer.db"), uri=True)
        hops = {h: [] for h in HOPS}
        totals = []
        for job, start, end in jobs:
            at = {"exited": end, "job id": ulid_seconds(job)}
            for (raw,) in db.execute("SELECT event FROM stream_events WHERE job_id = ? ORDER BY id", (job,)):
                ev = json.loads(raw)
                at.setdefault(ev["type"], seconds(ev["time"]))
            claimed, ended = db.execute("SELECT started_ms, stopped_ms FROM local_tasks WHERE job_id = ?", (job,)).fetchone()
            at["claimed"], at["ended"] = claimed / 1000, ended / 1000
            prev = start
            for h in HOPS:
                hops[h].append((at[h] - prev) * 1000)
                prev = at[h]
            totals.append((end - start) * 1000)
    for h in HOPS:
        v = sorted(hops[h])
        print("-> %-9s median %5.1f ms  p90 %5.1f ms" % (h, statistics.median(v), v[int(len(v) * 0.9)]))
    print("whole run: median %.1f ms over %d runs" % (statistics.median(totals), len(totals)))


if __name__ == "__main__":
    main()
