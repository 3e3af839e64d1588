"""Key sources (common/keyring.py): the key file's modes and atomic writes, the variable's form."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from common.crypto import KeyRing, key_id, new_master_key
from common.keyring import EnvKeys, KeyFile, KeyRingError, key_source
from common.settings import Settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_key_file_and_its_directory_are_the_owners_alone(tmp_path: Path) -> None:
    key_file = KeyFile(tmp_path / "data" / "master.key")
    assert key_file.load() is None
    ring = key_file.create(KeyRing([new_master_key()]))
    assert _mode(key_file.path) == 0o600 and _mode(key_file.path.parent) == 0o700
    loaded = key_file.load()
    assert loaded is not None and loaded.ids == ring.ids
    assert os.listdir(key_file.path.parent) == ["master.key"]


def test_create_never_overwrites_and_returns_what_the_file_holds(tmp_path: Path) -> None:
    key_file = KeyFile(tmp_path / "master.key")
    first = key_file.create(KeyRing([new_master_key()]))
    second = key_file.create(KeyRing([new_master_key()]))
    assert second.ids == first.ids


def test_replace_swaps_the_whole_ring_and_keeps_the_mode(tmp_path: Path) -> None:
    key_file = KeyFile(tmp_path / "master.key")
    old = key_file.create(KeyRing([new_master_key()]))
    new = new_master_key()
    key_file.replace(KeyRing([new, *_keys(key_file.path)]))
    loaded = key_file.load()
    assert loaded is not None and loaded.ids == [key_id(new), *old.ids]
    assert _mode(key_file.path) == 0o600


def _keys(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and line[0] != "#"]


def test_a_file_of_one_bare_key_as_a_secrets_tool_writes_it_is_read(tmp_path: Path) -> None:
    key = new_master_key()
    (tmp_path / "master.key").write_text(key + "\n")
    loaded = KeyFile(tmp_path / "master.key").load()
    assert loaded is not None and loaded.ids == [key_id(key)]


def test_a_key_file_that_cannot_be_written_is_one_clear_error(tmp_path: Path) -> None:
    # Its directory's place is taken by a file (a read-only mount stops root no better).
    (tmp_path / "taken").write_text("")
    with pytest.raises(KeyRingError, match="cannot write the key file"):
        KeyFile(tmp_path / "taken" / "master.key").create(KeyRing([new_master_key()]))


@pytest.mark.parametrize("text", ["not-a-key", "c2hvcnQ=", "!!!"])
def test_a_malformed_variable_is_refused_without_repeating_it(text: str) -> None:
    with pytest.raises(KeyRingError) as caught:
        EnvKeys(text).load()
    assert "MODELGATE_MASTER_KEY" in caught.value.reason and text not in caught.value.reason


def test_the_variable_wins_over_the_file(tmp_path: Path) -> None:
    key = new_master_key()
    assert isinstance(key_source(Settings(data_dir=tmp_path, master_key=key)), EnvKeys)
    source = key_source(Settings(data_dir=tmp_path))
    assert isinstance(source, KeyFile) and source.path == tmp_path / "master.key"
    moved = key_source(Settings(data_dir=tmp_path, master_key_file=tmp_path / "k"))
    assert isinstance(moved, KeyFile) and moved.path == tmp_path / "k"
