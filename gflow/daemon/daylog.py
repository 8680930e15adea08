"""The daemon's structured log: `logs/daemon.<YYYY-MM-DD>.log`, one JSON object a
line, a new file each local day, the newest seven kept. Plain text still goes to stderr."""
from __future__ import annotations

import errno
import logging
import os
import time
from datetime import datetime

import msgspec

KEEP = 7


class DailyJsonHandler(logging.Handler):
    def __init__(self, directory: str, keep: int = KEEP):
        super().__init__()
        self.directory = directory
        self.keep = keep
        self._day = ""
        self._file = None
        self._encode = msgspec.json.Encoder().encode

    def emit(self, record: logging.LogRecord) -> None:
        try:
            day = time.strftime("%Y-%m-%d", time.localtime(record.created))
            if day != self._day:
                self._open(day)
            fields = {"message": record.getMessage()}
            audit = getattr(record, "audit", None)
            if audit is not None:
                fields.update(audit)  # the audit trail's structured entry (daemon/audit.py)
            line = self._encode({
                "timestamp": datetime.fromtimestamp(record.created).astimezone().isoformat(),
                "level": record.levelname,
                "fields": fields,
                "target": record.name,
            })
            self._file.write(line + b"\n")
            self._file.flush()
        except OSError as e:
            if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                self.handleError(record)
            # a full disk: the line is lost, and a traceback per line on stderr would not help
        except Exception:  # noqa: BLE001 - logging must never take the daemon down
            self.handleError(record)

    def _open(self, day: str) -> None:
        if self._file is not None:
            self._file.close()
        path = os.path.join(self.directory, f"daemon.{day}.log")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        self._file = os.fdopen(fd, "ab")
        self._day = day
        self._prune()

    def _prune(self) -> None:
        days = sorted(
            name for name in os.listdir(self.directory)
            if name.startswith("daemon.") and name.endswith(".log") and len(name) == len("daemon.YYYY-MM-DD.log")
            and name[7:17].replace("-", "").isdigit()
        )
        for name in days[:-self.keep]:
            try:
                os.unlink(os.path.join(self.directory, name))
            except OSError:
                pass

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        super().close()
