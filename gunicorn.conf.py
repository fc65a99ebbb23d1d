"""gunicorn settings for Doorstep: `doorstep serve`, the container and the benchmarks all use this
file. Every setting can be changed from the environment."""
import math
import os


def cpu_count() -> int:
    """The CPUs this process may use: a container's CPU quota (cgroup v2 `cpu.max`) when it has
    one, else the CPUs it may run on. (multiprocessing.cpu_count() sees the whole host.)"""
    cpus = len(os.sched_getaffinity(0))
    try:
        with open("/sys/fs/cgroup/cpu.max") as limit:
            quota, period = limit.read().split()
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


bind = os.environ.get("BIND", "127.0.0.1:8000")
# Sync workers: requests are short and CPU-bound; two per CPU (+1) keep the CPUs busy while some
# workers wait on the database's commit.
workers = int(os.environ.get("WEB_CONCURRENCY") or cpu_count() * 2 + 1)
# A sync worker busy longer than this is killed, and a streamed download counts as busy: a ZIP of
# a million households takes about a minute, an XLSX of 100,000 (the largest the office may ask
# for) about 50 s. A front proxy's read timeout must allow as much.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 120))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 20))
keepalive = 5
accesslog = os.environ.get("ACCESS_LOG", "-")
# ... %(M)s: the request's duration in milliseconds, so slow requests stand out in the log. The
# path is logged without its query string and without the referring page: a search typed on the
# visit list (/visit?q=a phone or ID number) or an office filter must not land in a plain log.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(M)sms'
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Workers' heartbeat files on tmpfs: on a container's overlay filesystem they can stall workers.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"
# No control socket (gunicorn >= 25.1, for `gunicornc`): every instance on a host would share
# $HOME/.gunicorn/gunicorn.ctl, and in the container the home directory is not writable.
control_socket_disable = True
