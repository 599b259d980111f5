"""Encrypted cases: `rpa init --encrypt`; the key from env RPA_KEY or a prompt, never stored."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analyzer.db import connect
from tests.conftest import ROOT
from tests.helpers import rpa

KEY = "correct horse battery staple"
SAMPLE = ROOT / "sample_data"


def case_files(case: Path) -> bytes:
    """Every byte rpa keeps in the case folder except rpa.toml (which holds no data)."""
    return b"".join(p.read_bytes() for p in sorted(case.rglob("*")) if p.is_file() and p.name != "rpa.toml")


def roster_names() -> list[str]:
    """Names and account ids of the sample roster: what must never be readable on disk."""
    import csv

    with open(SAMPLE / "people.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    values = [r["name"] for r in rows] + [a for r in rows for a in r["accounts"].split(";")]
    return [v for v in values if len(v.encode("utf-8")) >= 4]


def load_sample(case: Path, env: dict) -> None:
    data = case.parent / "data"
    if not data.exists():
        shutil.copytree(SAMPLE, data)
    assert rpa("roster", data / "people.csv", "--relations", data / "relations.csv", "--case", case, env=env).exit_code == 0
    assert rpa("ingest", data, "--case", case, env=env).exit_code in (0, 1)
    shutil.copy(data / "rpa.toml", case / "rpa.toml")
    assert rpa("scan", "--case", case, env=env).exit_code == 0


@pytest.fixture(scope="module")
def encrypted_case(tmp_path_factory) -> Path:
    case = tmp_path_factory.mktemp("enc") / "case"
    env = {"RPA_KEY": KEY}
    made = rpa("init", "--encrypt", case, env=env)
    assert made.exit_code == 0, made.stderr
    assert "created encrypted case" in made.stdout
    load_sample(case, env)
    return case


def test_an_encrypted_case_holds_no_readable_name_or_account(encrypted_case, tmp_path):
    names = roster_names()
    assert len(names) >= 10
    on_disk = case_files(encrypted_case)
    # Only patterns of 6 bytes or more: ciphertext is random, and megabytes of it hold
    # a given 4-byte string by chance about once in a thousand (a two-character name in
    # GB18030 is 4 bytes; with 160 of them the test failed now and then).
    patterns = [e for n in names for e in (n.encode("utf-8"), n.encode("gb18030")) if len(e) >= 6]
    assert len(patterns) >= 200
    leaked = [p.decode("utf-8", errors="replace") for p in patterns if p in on_disk]
    assert leaked == []
    # The same data in a plain case is readable on disk: the check above can fail.
    plain = tmp_path / "case"
    rpa("init", plain)
    load_sample(plain, {})
    plain_bytes = case_files(plain)
    assert [n for n in names if n.encode("utf-8") in plain_bytes]


def test_every_command_works_on_an_encrypted_case_with_its_key(encrypted_case):
    env = {"RPA_KEY": KEY}
    status = rpa("status", "--case", encrypted_case, env=env)
    assert status.exit_code == 0 and "sources" in status.stdout
    plain_case = encrypted_case.parent / "plain"
    rpa("init", plain_case)
    load_sample(plain_case, {})
    for args in (["findings", "--format", "json"], ["people"], ["rejects"], ["log", "--format", "json"]):
        enc = rpa(*args, "--case", encrypted_case, env=env)
        plain = rpa(*args, "--case", plain_case)
        assert enc.exit_code == plain.exit_code == 0, enc.stderr
        if args[0] == "findings":
            assert enc.stdout == plain.stdout  # same data, same findings, same ids
    assert rpa("verify", "--case", encrypted_case, env=env).exit_code == 0


def test_without_the_key_one_line_says_how_to_give_it(encrypted_case):
    result = rpa("status", "--case", encrypted_case, env={"RPA_KEY": ""})
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"rpa: the case {encrypted_case} is encrypted: give its key in env RPA_KEY"]


def test_a_wrong_key_is_one_clear_error(encrypted_case):
    result = rpa("findings", "--case", encrypted_case, env={"RPA_KEY": "not the key at all"})
    assert result.exit_code == 2
    assert result.stderr.strip() == f"rpa: wrong key for the encrypted case {encrypted_case} (RPA_KEY)"


def test_a_short_key_and_an_existing_case_are_refused(tmp_path):
    short = rpa("init", "--encrypt", tmp_path / "a", env={"RPA_KEY": "short"})
    assert short.exit_code == 2 and "too short" in short.stderr
    assert not (tmp_path / "a" / "rpa.duckdb").exists()
    rpa("init", tmp_path / "b")
    again = rpa("init", "--encrypt", tmp_path / "b", env={"RPA_KEY": KEY})
    assert again.exit_code == 2 and "already holds an unencrypted case" in again.stderr


def test_the_key_is_stored_nowhere_in_the_case(encrypted_case):
    assert KEY.encode() not in case_files(encrypted_case)
    assert KEY.encode() not in (encrypted_case / "rpa.toml").read_bytes()


def test_the_connection_reads_the_case_like_a_plain_one(encrypted_case, monkeypatch):
    monkeypatch.setenv("RPA_KEY", KEY)
    con = connect(encrypted_case / "rpa.duckdb", read_only=True)
    try:
        (n,) = con.execute("SELECT count(*) FROM main.transactions").fetchone()
        assert n > 0
        assert con.execute("SELECT count(*) FROM movements").fetchone() == (n,)
    finally:
        con.close()


def _talk(argv: list[str], answers: list[str], env: dict, timeout: float = 60) -> tuple[int, str]:
    """Run argv on a pseudo-terminal, answering each prompt that asks for a key."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: its terminal is the pty
        os.execvpe(argv[0], argv, env)
    output, pending, answered = b"", list(answers), 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            # A prompt is new output that ends in ": " (not a newline after an answer).
            if pending and output[answered:].endswith(b": "):
                os.write(fd, (pending.pop(0) + "\n").encode())
                answered = len(output)
    else:  # out of time: the child waits for something; end it and fail with what it showed
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise AssertionError(f"{argv[2:]} did not finish; it showed {output!r}")
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode("utf-8", "replace")


@pytest.mark.slow
def test_in_a_terminal_the_key_is_asked_for_and_not_echoed(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "RPA_KEY"}
    case = tmp_path / "case"
    code, shown = _talk([sys.executable, "-m", "analyzer", "init", "--encrypt", str(case)], [KEY, KEY], env)
    assert code == 0, shown
    assert "key for the case" in shown and "the same key again" in shown and KEY not in shown
    code, shown = _talk([sys.executable, "-m", "analyzer", "status", "--case", str(case)], [KEY], env)
    assert code == 0 and "0 sources" in shown, shown
    code, shown = _talk([sys.executable, "-m", "analyzer", "status", "--case", str(case)], ["wrong key here"], env)
    assert code == 2 and "wrong key" in shown, shown
    made = subprocess.run([sys.executable, "-m", "analyzer", "init", "--encrypt", str(tmp_path / "no-terminal")],
                          env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert made.returncode == 2 and "give the key of the new case" in made.stderr
