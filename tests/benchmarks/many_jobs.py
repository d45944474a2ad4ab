"""Costs that grow with the number of pipeline files: validating them, and keeping them scheduled.

    python tests/benchmarks/many_jobs.py validate [--jobs 100]
    python tests/benchmarks/many_jobs.py serve-idle [--jobs 100] [--seconds 60]

Both make ``--jobs`` copies of the project's own pipeline files, each copy with a job name of
its own (a name used twice is a validation error), in a temporary folder.

``validate`` times ``commerce-sync validate FOLDER`` as a user runs it (a process, start-up
included) and, in the same run, the validation alone (``runner.project.load_project``
in-process, the second of three calls), and prints both with the files per second.

``serve-idle`` schedules every copy with a cron that will not come due during the measurement,
starts ``commerce-sync serve`` on a fresh state file, waits for it to settle, and reads the
process's CPU time (``/proc/PID/stat``) over ``--seconds``: the cost of a scheduler with nothing
to do but watch its clock and its files. Prints the CPU share of one core.

Figures only; nothing passes or fails.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXE = str(Path(sys.executable).with_name("commerce-sync"))
IDLE_CRON = 'cron: "0 3 29 2 *"'  # 03:00 on 29 February: never during a measurement


def _renamer(field: str, group: int) -> Callable[[re.Match[str]], str]:
    def rename(match: re.Match[str]) -> str:
        names = ", ".join(f"{n.strip()}-{group:03d}" for n in match.group(1).split(","))
        return f"{field}: [{names}]"

    return rename


def make_copies(folder: Path, jobs: int, *, idle_cron: bool) -> list[Path]:
    """``jobs`` pipeline files, cycling through ``pipelines/*.yaml``, each renamed."""
    # project.yaml (shared connections and defaults) is no job: one copy serves every set.
    sources = sorted(p for p in (ROOT / "pipelines").glob("*.yaml") if p.name != "project.yaml")
    shutil.copyfile(ROOT / "pipelines" / "project.yaml", folder / "project.yaml")
    if jobs % len(sources):
        raise SystemExit(f"--jobs must be a multiple of {len(sources)} (one set of the "
                         "project's pipeline files each, so a composite job has its members)")
    made = []
    for i in range(jobs):
        # Copies come in sets, one of each file, so a composite job's members are in its set.
        group = i // len(sources)
        text = sources[i % len(sources)].read_text(encoding="utf-8")
        name = re.search(r"^name: (\S+)$", text, re.M)
        assert name is not None, sources[i % len(sources)]
        new = f"{name.group(1)}-{group:03d}"
        text = text.replace(f"name: {name.group(1)}\n", f"name: {new}\n", 1)
        # depends_on and composite jobs name the originals: point them at this copy's set.
        for field in ("depends_on", "jobs"):
            text = re.sub(rf"^{field}: \[(.*)\]$", _renamer(field, group), text, flags=re.M)
        if idle_cron:
            if "cron:" in text:
                text = re.sub(r'cron: "[^"]*"', IDLE_CRON, text)
            elif "\nschedule:\n" in text:
                text = text.replace("\nschedule:\n", f"\nschedule:\n  {IDLE_CRON}\n", 1)
            else:
                text = text.replace(f"name: {new}\n",
                                    f"name: {new}\nschedule: {{{IDLE_CRON}}}\n", 1)
        path = folder / f"job-{i:03d}.yaml"
        path.write_text(text, encoding="utf-8")
        made.append(path)
    return made


def bench_validate(jobs: int) -> None:
    from runner.project import load_project

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_copies(folder, jobs, idle_cron=False)
        started = time.perf_counter()
        proc = subprocess.run([EXE, "validate", str(folder)], capture_output=True, text=True)
        cli = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"validate failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            project = load_project([folder])
            timings.append(time.perf_counter() - started)
            if project.errors or len(project.jobs) != jobs:
                raise SystemExit(f"load_project: {len(project.jobs)} jobs, {project.errors[:3]}")
        inproc = sorted(timings)[1]
    print(f"validate {jobs} files: CLI {cli:.2f} s wall (process start-up included), "
          f"{jobs / cli:.0f} files/s; in-process {inproc:.3f} s, {jobs / inproc:.0f} files/s "
          f"(median of 3)")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def bench_serve_idle(jobs: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "pipelines"
        folder.mkdir()
        make_copies(folder, jobs, idle_cron=True)
        check = subprocess.run([EXE, "validate", str(folder)], capture_output=True, text=True)
        if check.returncode != 0:
            raise SystemExit(f"the copies do not validate:\n{check.stdout}{check.stderr}")
        env = dict(os.environ, COMMERCE_SYNC_STATE=str(Path(tmp) / "state.db"))
        log = Path(tmp) / "serve.log"
        with open(log, "w") as err:
            proc = subprocess.Popen([EXE, "serve", str(folder)], env=env, cwd=tmp,
                                    stdout=subprocess.DEVNULL, stderr=err)
        try:
            time.sleep(5)  # start-up: imports, loading and validating the files, state
            if proc.poll() is not None:
                raise SystemExit(f"serve exited ({proc.returncode}): {log.read_text()}")
            if "serve.started owner=" not in log.read_text() or f"jobs={jobs}" not in \
                    log.read_text():
                raise SystemExit(f"serve did not start with {jobs} jobs: {log.read_text()}")
            before, started = _cpu_seconds(proc.pid), time.monotonic()
            time.sleep(seconds)
            used, elapsed = _cpu_seconds(proc.pid) - before, time.monotonic() - started
            runs = log.read_text().count("job.started")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        if runs:
            raise SystemExit(f"{runs} runs started during the measurement; it is not idle")
    print(f"serve with {jobs} scheduled jobs, idle: {used:.2f} s CPU in {elapsed:.0f} s = "
          f"{100 * used / elapsed:.2f}% of one core")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("validate", "serve-idle"))
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    if args.what == "validate":
        bench_validate(args.jobs)
    else:
        bench_serve_idle(args.jobs, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
