"""What the benchmark and the crash test share: a database made for the run (a SQLite file, or a
schema of its own in a PostgreSQL database), Doorstep, the baseline or the peer under gunicorn with
the project's gunicorn.conf.py, and a valid household submission in the wire format."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_URL = (os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
          or "postgresql://127.0.0.1:5432/test")
FORM = "household"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def database(kind: str, home: Path):
    """A DATABASE_URL for a fresh database of `kind` ("sqlite" or "postgresql"), removed after."""
    if kind == "sqlite":
        yield f"sqlite:///{home / 'doorstep.db'}"
        return
    import psycopg2
    schema = f"doorstep_bench_{secrets.token_hex(4)}"
    admin = psycopg2.connect(PG_URL)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE SCHEMA "{schema}"')
    parts = urlsplit(PG_URL)
    query = dict(parse_qsl(parts.query)) | {"options": f"-csearch_path={schema}",
                                             "application_name": schema}
    try:
        yield urlunsplit(parts._replace(query=urlencode(query)))
    finally:
        admin.cursor().execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE application_name = %s", (schema,))
        admin.cursor().execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


def environment(url: str, home: Path, **extra) -> dict:
    return {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench-" + secrets.token_hex(16),
            "INSTANCE_PATH": str(home / "instance"), "FORMS_DIR": str(ROOT / "forms"),
            "ACCESS_LOG": str(home / "access.log"), **extra}


def init(env: dict) -> None:
    done = subprocess.run([str(BIN / "doorstep"), "init"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"doorstep init failed:\n{done.stderr}")


class Server:
    """gunicorn -c gunicorn.conf.py <app>, on a free port, its output in `log`.

    `bin_` and `cwd` serve another project (the benchmark's peer) with its own virtualenv's
    gunicorn, from its own folder, under the same gunicorn.conf.py."""

    def __init__(self, app: str, env: dict, log: Path, bin_: Path = BIN, cwd: Path = ROOT):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [str(bin_ / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--bind",
                 f"127.0.0.1:{self.port}", app], cwd=cwd, env=env,
                stdout=out, stderr=subprocess.STDOUT)

    def wait(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + path, timeout=5) as answer:
                    if answer.status == 200:
                        return
            time.sleep(0.2)
        raise SystemExit(f"gunicorn did not answer on {self.url}{path}")

    def workers(self) -> list[int]:
        """The worker processes' ids (children of the gunicorn master)."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.process.pid:
                    pids.append(int(stat.parent.name))
        return pids

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the master and its workers have used so far."""
        total = 0
        for pid in [self.process.pid, *self.workers()]:
            with contextlib.suppress(OSError, IndexError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])     # utime, stime (clock ticks)
        return total / os.sysconf("SC_CLK_TCK")

    def kill_everything(self) -> int:
        """kill -9 the master and every worker at once, as a power cut would; how many died."""
        pids = [self.process.pid, *self.workers()]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()
        return len(pids)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def household_answers(seed: int = 7) -> list[tuple[str, str]]:
    """A valid household submission (two members, both consents) as form fields, without the
    csrf_token and submission_uuid that each post adds."""
    sys.path.insert(0, str(ROOT))
    from bench.synthetic import answers_for
    from service import formspec
    spec = formspec.load_dir(ROOT / "forms")[FORM]
    rng = random.Random(seed)
    while True:
        answers = answers_for(spec, rng, today=dt.date.today())
        if len(answers.get("members", [])) == 2:
            break
    fields = [("consent", "y")] + ([("sensitive_consent", "y")] if spec.sensitive_consent else [])
    for name, value in answers.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for i, item in enumerate(value):
                fields += [(f"{name}-{i}-{child}", v) for child, child_value in item.items()
                           for v in _values(child_value)]
        else:
            fields += [(name, v) for v in _values(value)]
    return fields


def _values(value) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [v.isoformat() if isinstance(v, dt.date) else str(v) for v in values]


def encode(fields) -> str:
    return urlencode(fields)


def scratch(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


# --- measuring a child process's memory, and a streamed download -------------------------------

def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024      # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_mb() -> float:
    """Resident memory now."""
    return _status_mb("VmRSS")


def peak_mb() -> float:
    """This process's peak resident memory.

    Not ru_maxrss: Linux carries the parent's high-water mark across fork+exec into the child's
    ru_maxrss (the benchmark's parent holds ~150 MB), so a child could never report less. VmHWM
    is the peak of the child's own address space since exec.
    """
    return _status_mb("VmHWM")


def download(client, path: str, out) -> dict:
    """GET `path` through a Flask test client without buffering and write it to `out`, as the
    office's browser would save it: {seconds, cpu, bytes}."""
    import time
    started, cpu = time.perf_counter(), time.process_time()
    written = 0
    response = client.get(path, buffered=False)
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code}")
    with open(out, "wb") as fh:
        for chunk in response.response:
            fh.write(chunk)
            written += len(chunk)
    response.close()
    return {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu,
            "bytes": written}


def cpu_model() -> str:
    """The processor's model name, for a benchmark's report."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def commit() -> str:
    """The checked-out commit, short, for a benchmark's report."""
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()


def machine_line(loads: list[float]) -> str:
    """A report's line saying when, on what and under what load it was measured."""
    return (f"{dt.date.today()} · commit {commit()} · {cpu_model()}, {os.cpu_count()} cores · "
            f"Python {platform.python_version()} · 1-minute load average during the run "
            f"{min(loads):.1f}–{max(loads):.1f} (the machine is shared)")
