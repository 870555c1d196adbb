"""events.jsonl: what `keyprov watch` told and did, so that a restart never tells or does it again.

One JSON object per line in the workshop folder (mode 0600), appended and fsynced before the
alert leaves or the limit is sent. A watch that starts reads it back: which alerts fired in
which window, which digests are still to be delivered, which top-ups were made (the ceilings
count them) and which were begun and not confirmed. Never a key; participants by identity.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keyprov.errors import StateWriteError
from keyprov.files import cut_torn_tail, open_private_append
from keyprov.redaction import redact

EVENTS_FILE_NAME = "events.jsonl"


@dataclass
class Remembered:
    """What events.jsonl says, folded: the watch's memory across restarts."""

    fired: set[tuple[str, int, str]] = field(default_factory=set)
    """(key hash, threshold %, window id) of every alert that fired."""
    warned: set[str] = field(default_factory=set)
    """Credit warnings in force (told once until the condition clears)."""
    given: dict[str, float] = field(default_factory=dict)
    """USD the top-up rule gave each participant (begun top-ups count: never past a ceiling)."""
    disarmed: set[str] = field(default_factory=set)
    """Key hashes topped up (or stopped by a ceiling) since they last had more left than the
    rule's threshold: one top-up per crossing."""
    open_top_ups: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Top-ups begun (by id) whose outcome was not journaled: a watch killed mid-way."""
    undelivered: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Digests (by id) not yet delivered, each with the channels still to go."""

    @property
    def given_total(self) -> float:
        return sum(self.given.values())

    def take(self, record: dict[str, Any]) -> None:
        """Fold one journal record in."""
        event = record.get("event")
        if event == "alert":
            self.fired.add((record["hash"], int(record["threshold"]), record["window"]))
        elif event == "credits_warning":
            self.warned.add(record["kind"])
        elif event == "credits_cleared":
            self.warned.discard(record["kind"])
        elif event == "top_up_begun":
            self.open_top_ups[record["id"]] = record
            who = record["participant"]
            self.given[who] = self.given.get(who, 0.0) + float(record["add"])
            self.disarmed.add(record["hash"])
        elif event in ("top_up_done", "top_up_failed", "top_up_superseded"):
            begun = self.open_top_ups.pop(record["id"], None)
            if event != "top_up_done" and begun is not None:
                # Not given after all: the ceilings do not count it, the key may be tried again.
                who = begun["participant"]
                self.given[who] = self.given.get(who, 0.0) - float(begun["add"])
                if event == "top_up_failed":
                    self.disarmed.discard(begun["hash"])
        elif event == "top_up_stopped":
            self.disarmed.add(record["hash"])
        elif event == "top_up_armed":
            self.disarmed.discard(record["hash"])
        elif event == "digest" and record.get("channels"):
            self.undelivered[record["id"]] = {**record, "pending": list(record["channels"])}
        elif event == "delivery_given_up":
            self.undelivered.pop(record["id"], None)
        elif event == "delivered":
            pending = self.undelivered.get(record["id"])
            if pending is not None:
                with contextlib.suppress(ValueError):
                    pending["pending"].remove(record["channel"])
                if not pending["pending"]:
                    del self.undelivered[record["id"]]


class EventJournal:
    """Appends to events.jsonl (fsynced), and folds what it holds into `Remembered`."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / EVENTS_FILE_NAME
        self._lock = threading.Lock()
        if self.path.exists():
            cut_torn_tail(self.path)  # a line torn by a kill -9 is dropped, never glued on
        self.remembered = Remembered()
        for record in self.records():
            self.remembered.take(record)
        self._fd = open_private_append(self.path)

    def records(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    if isinstance(record, dict):
                        yield record

    def write(self, event: str, *, at: datetime | None = None, **fields: Any) -> dict[str, Any]:
        """Append one record and fsync it; fold it into `remembered`. Returns the record."""
        return self.write_many([(event, fields)], at=at)[0]

    def write_many(
        self, events: list[tuple[str, dict[str, Any]]], *, at: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Append records with one write and one fsync (a poll's alerts: all or none)."""
        stamp = (at or datetime.now(UTC)).isoformat(timespec="seconds")
        records = [{"ts": stamp, "event": event, **fields} for event, fields in events]
        text = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)
        data = redact(text).encode()
        with self._lock:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
                os.fsync(self._fd)
            except OSError as error:
                raise StateWriteError(
                    f"{self.path}: the watch's journal could not be written ({error}); "
                    "without it an alert could be sent twice, so the watch stops. Free disk "
                    "space or fix the disk, then start it again."
                ) from error
            for record in records:
                self.remembered.take(record)
        return records

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> EventJournal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
