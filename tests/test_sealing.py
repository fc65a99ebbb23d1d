"""Sealing identifiers: AES-GCM values that open only with their key, keyed look-up hashes, and
the keys themselves (made at init, 0600, never overwritten, required once values are sealed)."""
from __future__ import annotations

import os
import stat

import pytest

from service import create_app
from service.storage import keys, sealing
from service.storage.db import db
from service.storage.models import AuditEvent

from .conftest import make_app


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app


def test_a_sealed_value_is_ascii_names_its_key_and_opens_to_exactly_what_was_sealed(ctx):
    for plain in ("张三", "110101199003077514", "", "3号楼 2单元 ☎ 138-0013-8000", "a\nb"):
        sealed = sealing.seal(plain)
        assert sealed.isascii() and sealing.is_sealed(sealed)
        assert sealed.startswith(f"~s1:{sealing.current_key_id()}:")
        assert plain not in sealed or plain == ""
        assert sealing.unseal(sealed) == plain
    # a random nonce: the same name twice is two different ciphertexts
    assert sealing.seal("张三") != sealing.seal("张三")


def test_nothing_and_plain_values_pass_through(ctx):
    assert sealing.seal(None) is None and sealing.unseal(None) is None
    assert sealing.unseal("written before encryption") == "written before encryption"
    assert sealing.unseal(42) == 42
    assert not sealing.is_sealed("~s1:k0000:short") and not sealing.is_sealed(None)
    with pytest.raises(TypeError):
        sealing.seal(42)


def test_a_value_typed_to_look_sealed_is_sealed_again(ctx):
    lookalike = sealing.seal("张三")
    twice = sealing.seal(lookalike)
    assert twice != lookalike and sealing.unseal(twice) == lookalike


def test_a_value_under_an_unknown_key_or_altered_is_a_clear_error(tmp_path, ctx):
    other = make_app(tmp_path / "other")
    with other.app_context():
        foreign, foreign_key = sealing.seal("张三"), sealing.current_key_id()
    with ctx.app_context():
        with pytest.raises(sealing.SealingError, match=f"field key {foreign_key}"):
            sealing.unseal(foreign)
        mine = sealing.seal("张三")
        altered = mine[:-2] + ("A" if mine[-2] != "A" else "B") + mine[-1]
        with pytest.raises(sealing.SealingError, match="altered"):
            sealing.unseal(altered)


def test_lookup_hashes_match_what_the_office_means_by_the_same(ctx):
    h = sealing.lookup_hash
    assert h("id_number", "11010119900307751x") == h("id_number", " １１０１０１１９９００３０７７５１Ｘ ")
    assert h("phone", "138-0013 8000") == h("phone", "13800138000") == h("phone", "+13800138000"[1:])
    assert h("address", "3号楼 2单元") == h("address", "3号楼2单元。")      # the ledger's own rule
    assert h("phone", "13800138000") != h("id_number", "13800138000")        # kinds never meet
    assert h("phone", "13800138000") != h("phone", "13800138001")
    assert len(h("phone", "13800138000")) == 32 and "13800138000" not in h("phone", "13800138000")
    assert h("phone", sealing.seal("13800138000")) == h("phone", "13800138000")
    assert h("phone", None) is None and h("phone", "--") is None
    with pytest.raises(KeyError):
        h("shoe_size", "42")


def test_the_lookup_key_is_the_instances_own(tmp_path, ctx):
    mine = sealing.lookup_hash("phone", "13800138000")
    other = make_app(tmp_path / "other")
    with other.app_context():
        assert sealing.lookup_hash("phone", "13800138000") != mine


def test_key_files_are_made_private_and_never_overwritten(tmp_path):
    config = {"KEYS_DIR": str(tmp_path / "instance")}
    made = keys.create_missing(config)
    assert sorted(p.name for p in made) == ["field.key", "lookup.key"]
    for path in made:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    before = [p.read_bytes() for p in made]
    assert keys.create_missing(config) == []
    assert [p.read_bytes() for p in made] == before
    # a key given in the environment is not written to a file
    env_only = {"KEYS_DIR": str(tmp_path / "other"), "FIELD_KEY": keys.new_key(),
                "LOOKUP_KEY": keys.new_key()}
    assert keys.create_missing(env_only) == [] and not (tmp_path / "other").exists()


def test_keys_from_the_environment_win_and_the_first_is_current(tmp_path):
    new, old = keys.new_key(), keys.new_key()
    before = make_app(tmp_path / "before", FIELD_KEY=old, LOOKUP_KEY=keys.new_key())
    with before.app_context():
        sealed_old = sealing.seal("李四")
    app = make_app(tmp_path / "after", FIELD_KEY=f"{new}, {old}",
                   LOOKUP_KEY=before.config["LOOKUP_KEY"])
    with app.app_context():
        ring = app.extensions["doorstep.sealing"].ring()
        assert (ring.source, ring.older) == ("DOORSTEP_FIELD_KEY", [sealed_old.split(":")[1]])
        assert sealing.seal("x").split(":")[1] == ring.current != ring.older[0]
        assert sealing.unseal(sealed_old) == "李四"
    with pytest.raises(keys.KeyProblem, match="DOORSTEP_FIELD_KEY: not a base64 key of 32"):
        make_app(tmp_path / "bad", FIELD_KEY="c2hvcnQ=")


def test_a_changed_key_file_reaches_a_running_process(tmp_path):
    app = make_app(tmp_path, KEYS_CHECK_SECONDS=3600)
    path = keys.field_file(app.config["KEYS_DIR"])
    with app.app_context():
        first = sealing.current_key_id()
        old_value = sealing.seal("王五")
        keys.rewrite_ring(path, [keys.new_key(), *keys.read_ring_file(path).encoded.values()])
        # another process already seals under the new key: meeting its value re-reads the file
        writer = make_app(tmp_path)
        with writer.app_context():
            new_value = sealing.seal("赵六")
        assert sealing.unseal(new_value) == "赵六" and sealing.unseal(old_value) == "王五"
        assert sealing.current_key_id() != first
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_init_writes_the_keys_and_a_database_without_its_key_is_refused(tmp_path, cli, app):
    instance = tmp_path / "fresh"
    env = {"DATABASE_URL": app.config["DATABASE_URL"], "FORMS_DIR": app.config["FORMS_DIR"],
           "SECRET_KEY": "x", "INSTANCE_PATH": str(instance), "KEYS_DIR": str(instance)}
    result = cli("init", env=env)
    assert result.exit_code == 0, result.output
    assert "key written: " + str(instance / "field.key") in result.output
    field_key = (instance / "field.key").read_text()
    assert cli("init", env=env).exit_code == 0 and (instance / "field.key").read_text() == field_key
    kid = keys.KeyRing.parse(field_key, "file").current
    with db.connection_context():
        assert AuditEvent.get(AuditEvent.action == "field_key_in_use").target == f"key:{kid}"
    # the database restored elsewhere without its key: refused, naming the key it needs
    restored = {"DATABASE_URL": app.config["DATABASE_URL"], "SECRET_KEY": "x",
                "FORMS_DIR": app.config["FORMS_DIR"], "KEYS_DIR": str(tmp_path / "empty")}
    with pytest.raises(sealing.SealingError, match=f"sealed under field key {kid}.*no field key"):
        create_app(restored)
    # nor with the field key alone: its lookup hashes need the lookup key they were made with
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "field.key").write_text(field_key)
    with pytest.raises(sealing.SealingError, match="no lookup key"):
        create_app(restored)
    (tmp_path / "empty" / "lookup.key").write_text((instance / "lookup.key").read_text())
    assert create_app(restored).extensions["doorstep.sealing"].ring().current == kid


def test_places_register_once_each(monkeypatch):
    monkeypatch.setattr(sealing, "SEALED_PLACES", [])
    sealing.register(AuditEvent.detail, AuditEvent.target, AuditEvent.detail)
    assert [f.name for f in sealing.SEALED_PLACES] == ["detail", "target"]
    assert sealing.is_registered(AuditEvent.target) and not sealing.is_registered(AuditEvent.ip)
