"""`doorstep keys rotate`: every sealed value moves to a new field key, in batches, while the
service runs; stopped half-way it finishes when run again; the old key leaves the ring at the end."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from peewee import Value

from service.storage import keys, sealing
from service.storage.db import db
from service.storage.models import AuditEvent

NAMES = [f"居民{i}号 1380013{i:04d}" for i in range(10)]


@pytest.fixture
def places(monkeypatch):
    """Two places of the two shapes rotation meets: a column that is one sealed value, and a JSON
    document with sealed values among plain ones (what D2's registered places hold)."""
    monkeypatch.setattr(sealing, "SEALED_PLACES", [AuditEvent.target, AuditEvent.detail])


@pytest.fixture
def doorstep(app, tmp_path, cli):
    env = {"DATABASE_URL": app.config["DATABASE_URL"], "FORMS_DIR": app.config["FORMS_DIR"],
           "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path / "instance"),
           "KEYS_CHECK_SECONDS": "0"}
    return lambda *args, **extra: cli(*args, env=env | extra)


def _seed(app) -> dict[int, tuple[str, str]]:
    """Rows holding values sealed under the app's key (written raw, as the stored bytes), and a
    value from before encryption; returns the raw (target, detail) of each row by id."""
    with app.app_context(), db.connection_context():
        for name in NAMES:
            doc = json.dumps({"name": sealing.seal(name), "phone": sealing.seal(name[-11:]),
                              "size": 3, "note": "不是身份信息"}, ensure_ascii=False)
            db.execute(AuditEvent.insert(action="seeded", detail=Value(doc, converter=False),
                                         target=Value(sealing.seal(name), converter=False)))
        db.execute(AuditEvent.insert(action="seeded", target=Value("plain, from before", converter=False),
                                     detail=Value("{}", converter=False)))
        return _raw()


def _raw() -> dict[int, tuple[str, str]]:
    query = (AuditEvent.select(AuditEvent.id, AuditEvent.target, AuditEvent.detail)
             .where(AuditEvent.action == "seeded").order_by(AuditEvent.id))
    return {row[0]: row[1:] for row in db.execute(query).fetchall()}


def _key_ids(raw: dict) -> set[str]:
    return {m.group(1) for target, detail in raw.values()
            for m in sealing.SEALED.finditer(target + detail)}


def _opened(raw: dict) -> list:
    return [(sealing.unseal(target), {k: sealing.unseal(v) for k, v in json.loads(detail).items()})
            for target, detail in raw.values()]


def test_a_rotation_stopped_half_way_finishes_when_run_again(app, places, doorstep):
    before = _seed(app)
    with app.app_context():
        old = sealing.current_key_id()
        plain_before = _opened(before)
    assert _key_ids(before) == {old}

    stopped = doorstep("keys", "rotate", "--batch-size", "3", "--stop-after", "2")
    assert stopped.exit_code == 0, stopped.output
    assert "stopped after 2 batch(es), 6 value(s) re-sealed" in stopped.output
    ring = keys.read_ring_file(keys.field_file(app.config["KEYS_DIR"]))
    new = ring.current
    assert ring.older == [old] and new != old
    with app.app_context(), db.connection_context():
        half = _raw()
        assert _key_ids(half) == {old, new}            # both keys in use: the ring keeps both
        assert _opened(half) == plain_before            # and every value still opens

        again = doorstep("keys", "rotate", "--batch-size", "3", "--settle", "0")
        assert again.exit_code == 0, again.output
        assert f"carrying on the rotation to field key {new}" in again.output
        assert f"no value left under {old}: removed from" in again.output
        after = _raw()
        assert _key_ids(after) == {new}
        # the running app meets the new key and re-reads the ring: everything reads the same
        assert _opened(after) == plain_before
        assert sealing.current_key_id() == new
        # only the sealed values changed: the plain row and the documents' other fields did not
        plain_id = max(before)
        assert after[plain_id] == before[plain_id] == ("plain, from before", "{}")
        assert all(json.loads(after[i][1])["note"] == "不是身份信息" for i in after if i != plain_id)

        [event] = AuditEvent.select().where(AuditEvent.action == "field_keys_rotated")
        assert event.target == f"key:{new}" and json.loads(event.detail)["retired"] == [old]
        assert AuditEvent.select().where(AuditEvent.action == sealing.KEY_IN_USE,
                                         AuditEvent.target == f"key:{new}").exists()
    ring = keys.read_ring_file(keys.field_file(app.config["KEYS_DIR"]))
    assert list(ring.keys) == [new]


def test_status_tells_what_an_unfinished_rotation_has_left(app, places, doorstep):
    _seed(app)
    doorstep("keys", "rotate", "--batch-size", "4", "--stop-after", "1")
    with app.app_context():
        ring = keys.read_ring_file(keys.field_file(app.config["KEYS_DIR"]))
    status = doorstep("keys", "status")
    assert f"current: {ring.current}" in status.output
    # the first batch moved 4 rows of audit_event.target; 6 of them and every document remain
    assert f"older:   {ring.older[0]}, 16 row(s) still under it" in status.output
    assert "audit_event.target: 6" in status.output and "audit_event.detail: 10" in status.output
    doorstep("keys", "rotate", "--settle", "0")
    assert "older" not in doorstep("keys", "status").output


def test_a_second_rotation_makes_another_key(app, places, doorstep):
    _seed(app)
    assert doorstep("keys", "rotate", "--settle", "0").exit_code == 0
    with app.app_context():
        first = keys.read_ring_file(keys.field_file(app.config["KEYS_DIR"])).current
    assert doorstep("keys", "rotate", "--settle", "0").exit_code == 0
    with app.app_context(), db.connection_context():
        raw = _raw()
        second = keys.read_ring_file(keys.field_file(app.config["KEYS_DIR"])).current
        assert second != first and _key_ids(raw) == {second}
        assert [name for name, _doc in _opened(raw)][:-1] == NAMES


def test_keys_from_the_environment_rotate_once_the_new_one_is_put_first(app, places, doorstep):
    _seed(app)
    old = (keys.field_file(app.config["KEYS_DIR"])).read_text()
    old = [line for line in old.splitlines() if not line.startswith("#")][0]
    lookup = keys.field_file(app.config["KEYS_DIR"]).with_name("lookup.key").read_text().strip()
    alone = doorstep("keys", "rotate", DOORSTEP_FIELD_KEY=old, DOORSTEP_LOOKUP_KEY=lookup)
    assert alone.exit_code == 1 and "DOORSTEP_FIELD_KEY holds one key" in alone.output

    new = keys.new_key()
    done = doorstep("keys", "rotate", "--settle", "0", DOORSTEP_FIELD_KEY=f"{new},{old}",
                    DOORSTEP_LOOKUP_KEY=lookup)
    assert done.exit_code == 0, done.output
    assert "remove it from DOORSTEP_FIELD_KEY" in done.output
    with app.app_context(), db.connection_context():
        assert _key_ids(_raw()) == {keys.KeyRing.parse(new, "test").current}


def test_a_sealed_column_nobody_registered_is_re_sealed_before_its_key_goes(app, places, doorstep):
    _seed(app)
    with app.app_context(), db.connection_context():
        db.execute(AuditEvent.insert(action="stray", detail=Value("{}", converter=False),
                                     username=Value(sealing.seal("张"), converter=False)))
    done = doorstep("keys", "rotate", "--settle", "0")
    assert done.exit_code == 0, done.output
    assert "note: audit_event.username holds sealed values but is not in" in done.output
    with app.app_context(), db.connection_context():
        query = AuditEvent.select(AuditEvent.username).where(AuditEvent.action == "stray")
        [(stray,)] = db.execute(query).fetchall()
        assert stray.split(":")[1] == keys.read_ring_file(
            keys.field_file(app.config["KEYS_DIR"])).current
        assert sealing.unseal(stray) == "张"


ROTATION = """
import sys
from service.storage import sealing
from service.storage.models import AuditEvent
sealing.SEALED_PLACES[:] = [AuditEvent.target]
from service.cli import main
main(["keys", "rotate", "--batch-size", "1", "--settle", sys.argv[1]])
"""


def _rotation(app, tmp_path, settle: str) -> subprocess.Popen:
    """`doorstep keys rotate` in a process of its own, one row a batch, over audit_event.target."""
    env = os.environ | {"DATABASE_URL": app.config["DATABASE_URL"], "SECRET_KEY": "x",
                        "FORMS_DIR": app.config["FORMS_DIR"], "PYTHONUNBUFFERED": "1",
                        "INSTANCE_PATH": str(tmp_path / "instance"), "KEYS_CHECK_SECONDS": "0"}
    return subprocess.Popen([sys.executable, "-c", ROTATION, settle], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _residents(app, names) -> None:
    with app.app_context(), db.connection_context():
        rows = [{"action": "seeded", "detail": Value("{}", converter=False),
                 "target": Value(sealing.seal(name), converter=False)} for name in names]
        db.execute(AuditEvent.insert_many(rows))


def test_a_rotation_killed_mid_way_loses_nothing_and_finishes_when_run_again(app, tmp_path,
                                                                            places, doorstep):
    names = [f"居民{i}" for i in range(400)]
    _residents(app, names)
    with app.app_context():
        old = sealing.current_key_id()
    with _rotation(app, tmp_path, "0") as worker:
        lines = [worker.stdout.readline() for _ in range(30)]     # the new key, then batches
        os.kill(worker.pid, signal.SIGKILL)
    assert "re-sealed" in lines[-1], lines
    with app.app_context(), db.connection_context():
        half = _raw()
        new = keys.read_ring_file(keys.field_file(app.config["KEYS_DIR"])).current
        assert {old, new} == _key_ids(half) and new != old
        assert sorted(sealing.unseal(t) for t, _d in half.values()) == sorted(names)
        again = doorstep("keys", "rotate", "--settle", "0")
        assert again.exit_code == 0, again.output
        done = _raw()
        assert _key_ids(done) == {new}
        assert sorted(sealing.unseal(t) for t, _d in done.values()) == sorted(names)


def test_values_written_while_the_rotation_runs_end_under_the_new_key(app, tmp_path, places):
    """The service keeps sealing while a rotation runs, for a while under the old key (it looks at
    the key file every 3 s); every value is under the new key at the end, and opens."""
    first = [f"居民{i}" for i in range(200)]
    _residents(app, first)
    with app.app_context():
        old = sealing.current_key_id()
    app.extensions["doorstep.sealing"].check_seconds = 3
    written, under_old = [], 0
    with _rotation(app, tmp_path, "4") as worker:
        while worker.poll() is None:
            written.append(f"新住户{len(written)}")
            _residents(app, written[-1:])
            with app.app_context():
                under_old += sealing.current_key_id() == old
            time.sleep(0.01)      # a busy office, not a flood
        output = worker.stdout.read()
    assert worker.returncode == 0, output
    with app.app_context(), db.connection_context():
        new = keys.read_ring_file(keys.field_file(app.config["KEYS_DIR"])).current
        done = _raw()
        assert _key_ids(done) == {new} and under_old > 10 and len(written) > under_old
        assert sorted(sealing.unseal(t) for t, _d in done.values()) == sorted(first + written)
