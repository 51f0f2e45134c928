"""One process, many connections: opening a store again never drops the locks SQLite holds on it.

The web app opens the gallery, the events and the accounts for each
request while the pipeline has them open in the same process (the outbox
has one writer a process, and readers that only ask SQLite). Closing any
descriptor of a database file drops every POSIX lock the process holds on
it (SQLite's "separate close()" corruption), which showed as "disk I/O
error" from the web app beside a running daemon.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from camera.events.store import EVENTS_DB, EventStore
from camera.gallery.store import Gallery
from camera.web.accounts import ACCOUNTS_DB, Accounts


def own_locks(path: Path) -> list[str]:
    """This process's POSIX locks on ``path`` (``/proc/locks``)."""
    st = os.stat(path)
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino} "
    return [line for line in Path("/proc/locks").read_text().splitlines()
            if inode in line and f" {os.getpid()} " in line]


STORES: dict[str, tuple[Callable[[Path], AbstractContextManager], str]] = {
    "gallery": (Gallery, "gallery.sqlite3"),
    "events": (EventStore, EVENTS_DB),
    "accounts": (Accounts, ACCOUNTS_DB),
}


@pytest.mark.parametrize("store", sorted(STORES))
def test_opening_a_store_again_keeps_the_first_connections_locks(tmp_path: Path, store: str) -> None:
    open_store, name = STORES[store]
    with open_store(tmp_path):
        held = own_locks(tmp_path / name)
        assert held, f"SQLite holds no lock on {name} while open (WAL mode expected)"
        with open_store(tmp_path):
            pass
        assert own_locks(tmp_path / name) == held
