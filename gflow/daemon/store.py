"""SQLite persistence. Every mutation is one committed transaction before the daemon replies.

Jobs are stored as msgpack blobs of `protocol.Job` plus a few indexed columns for queries;
the submitter's environment lives in its own table because only the launcher needs it.
Active jobs are mirrored in the daemon's memory; finished ones are read from here on demand.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import time
from types import MappingProxyType
from typing import Iterable, Mapping, Optional, Sequence

import msgspec

from ..protocol import ACTIVE_STATES, TERMINAL_STATES, ErrorCode, GflowError, Job, JobState

SCHEMA_VERSION = 1
_TERMINAL_VALUES = frozenset(s.value for s in TERMINAL_STATES)

_MIGRATIONS = {
    1: """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        state TEXT NOT NULL,
        owner_uid INTEGER NOT NULL,
        user TEXT NOT NULL,
        submitted_at REAL NOT NULL,
        group_id TEXT,
        data BLOB NOT NULL
    );
    CREATE INDEX jobs_group ON jobs(group_id) WHERE group_id IS NOT NULL;
    CREATE INDEX jobs_state ON jobs(state);
    CREATE INDEX jobs_owner ON jobs(owner_uid, id);
    CREATE TABLE job_env (id INTEGER PRIMARY KEY, env BLOB NOT NULL);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
    """,
}


_SET_META = "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value"


MAX_PURGED_ID_KEY = "max_purged_id"
# environments kept decoded: the jobs of one submission share a row, and a stream of their
# launches reads it once rather than once per job
_ENV_CACHE = 16


class StoreError(Exception):
    pass


class DiskFull(GflowError):
    """A write found the state filesystem full. SQLite rolled the transaction back, so the
    stored state is what it was; callers undo their in-memory change or retry later."""

    def __init__(self, path: str, detail: str):
        super().__init__(
            ErrorCode.DISK_FULL,
            f"state disk full: cannot save to {path} ({detail}); nothing was changed, "
            "retry once space is freed on that filesystem",
        )


# SQLite's primary result codes (sqlite3.h): its message texts are not a stable interface
_SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 11, 13, 26


def _is_full(e: sqlite3.Error) -> bool:
    code = getattr(e, "sqlite_errorcode", None)  # Python >= 3.11
    if code is not None:
        return code & 0xFF == _SQLITE_FULL
    return "disk is full" in str(e)


def is_corruption(e: sqlite3.Error) -> bool:
    code = getattr(e, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(e)
    return "malformed" in text or "not a database" in text


class _EnvFrom(msgspec.Struct):
    """Only the field a purge needs of a stored job (decoding the rest would be waste)."""

    env_from: Optional[int] = None


# a store that lives and dies with its object: unit tests of the daemon's parts and handlers
MEMORY = ":memory:"


class JobStore:
    def __init__(self, path: str):
        self.path = path
        on_disk = path != MEMORY
        if on_disk:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode_job = msgspec.msgpack.Decoder(Job).decode
        self._decode_env = msgspec.msgpack.Decoder(dict[str, str]).decode
        self._decode_env_from = msgspec.msgpack.Decoder(_EnvFrom).decode
        self._deferred: dict[int, tuple[str, bytes, int]] = {}  # id -> row, see `defer`
        self._deferred_since: Optional[float] = None  # monotonic, when the oldest of them came
        self._envs: dict[int, Mapping[str, str]] = {}  # row id -> environment, latest used last
        if on_disk:
            _create_private(path)
        try:
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            # FULL, deliberately. An acknowledged job must survive kill -9 of the daemon, which
            # NORMAL in WAL mode would also give (the WAL is in the page cache); FULL adds power
            # loss and kernel crashes. Cost measured on the 2-core dev VM: ~0.33 ms per commit
            # against ~0.02 ms, at most three commits per job, which no target depends on.
            # NORMAL would also break an ordering the executor relies on: the shepherd's
            # status file is removed once its outcome is committed, so after a power cut an
            # un-synced commit could leave a finished job recorded Running with no status left.
            self.db.execute("PRAGMA synchronous=FULL")
            if on_disk:
                _make_private(path)
            self._migrate()
        except sqlite3.DatabaseError as e:
            if is_corruption(e):
                raise self.corruption_error(e) from None
            if _is_full(e):
                raise StoreError(DiskFull(path, str(e)).message) from None
            raise StoreError(f"cannot open the job database {path}: {e}") from None

    def corruption_error(self, error: sqlite3.Error) -> StoreError:
        """The one-line start-up error for a database SQLite cannot read: what
        `PRAGMA integrity_check` says, and where a copy of the damaged files was kept."""
        verdict = _integrity_verdict(self.path)
        backup = f"{self.path}.corrupt.{int(time.time())}"
        kept = []
        try:
            for suffix in ("", "-wal"):
                if os.path.exists(self.path + suffix):
                    shutil.copy2(self.path + suffix, backup + suffix)
                    os.chmod(backup + suffix, 0o600)
                    kept.append(backup + suffix)
            where = f"a copy was kept at {' and '.join(kept)}" if kept else "no file to copy"
        except OSError as e:
            where = f"no copy could be kept ({e.strerror})"
        return StoreError(
            f"cannot open the job database {self.path}: {error}; integrity_check: {verdict}; "
            f"{where}; the original was left untouched"
        )

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the job database {self.path} has schema {version}, newer than this gflow "
                f"({SCHEMA_VERSION}); upgrade gflow instead of downgrading the data"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            if version > 0 and self.path != MEMORY and os.path.getsize(self.path) > 0:
                shutil.copy2(self.path, f"{self.path}.backup.v{version}")
                os.chmod(f"{self.path}.backup.v{version}", 0o600)
            # one script so the schema change and its version bump commit together
            self.db.executescript(
                f"BEGIN IMMEDIATE; {_MIGRATIONS[target]} PRAGMA user_version={target}; COMMIT;"
            )

    # ----------------------------------------------------------------- transactions
    def transaction(self):
        return _Transaction(self.db, self.path)

    def close(self) -> None:
        try:
            self.write()  # what was deferred
        except (DiskFull, sqlite3.Error):
            pass  # a crash would have lost it too: the next start-up recovers it
        self.db.close()

    def defer(self, jobs: Iterable[Job]) -> None:
        """Save these jobs with the next write (or `flush`), not in a commit of their own:
        facts a crash may lose because the next start-up finds them again (a shepherd's
        pid). Read back by `get` meanwhile. The caller arranges a flush (`deferred_since`
        says how long the oldest has waited)."""
        if not self._deferred:
            self._deferred_since = time.monotonic()
        encode = self._encode
        for j in jobs:
            self._deferred[j.id] = (j.state.value, encode(j), j.id)

    @property
    def deferred_since(self) -> Optional[float]:
        """When (time.monotonic) the oldest fact still waiting for a write was deferred;
        None when every deferred fact is saved."""
        return self._deferred_since

    def flush(self) -> None:
        """Commit what was deferred (DiskFull keeps it waiting)."""
        self.write()

    # ----------------------------------------------------------------- writes
    def write(
        self,
        new: Sequence[Job] = (),
        changed: Iterable[Job] = (),
        envs: Optional[dict[int, dict[str, str]]] = None,
        meta: Optional[dict[str, object]] = None,
    ) -> None:
        """Insert `new` jobs (and the environments stored under their ids) and save `changed`
        ones in ONE transaction: a crash never keeps half of a related change (a failure
        without its retry, an array without its last tasks). Environment rows are never
        deleted: retries and redos share their source's row through `Job.env_from`. `meta`
        entries (e.g. usage charged for these jobs) commit with them."""
        encode = self._encode
        updates = [(j.state.value, encode(j), j.id) for j in changed]
        if self._deferred:
            # older: first, and only those not written again here (a short job's launch
            # facts usually commit with its end)
            rewritten = {row[2] for row in updates}
            updates[:0] = [row for job_id, row in self._deferred.items() if job_id not in rewritten]
        if not new and not updates and not meta:
            return
        with self.transaction():
            if new:
                self.db.executemany(
                    "INSERT INTO jobs(id, state, owner_uid, user, submitted_at, group_id, data) VALUES (?,?,?,?,?,?,?)",
                    [(j.id, j.state.value, j.owner_uid, j.user, j.submitted_at, j.group_id, encode(j)) for j in new],
                )
            if envs:
                self.db.executemany(
                    "INSERT INTO job_env(id, env) VALUES (?, ?)",
                    [(i, encode(env)) for i, env in envs.items()],
                )
            if updates:
                self.db.executemany("UPDATE jobs SET state=?, data=? WHERE id=?", updates)
            if meta:
                self.db.executemany(_SET_META, [(k, encode(v)) for k, v in meta.items()])
        self._deferred.clear()
        self._deferred_since = None

    def set_meta(self, key: str, value) -> None:
        with self.transaction():
            self.db.execute(_SET_META, (key, self._encode(value)))

    # ----------------------------------------------------------------- reads
    def get_meta(self, key: str, default=None):
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return default if row is None else msgspec.msgpack.decode(row[0])

    def max_id(self) -> int:
        """The highest id ever used: purged jobs' ids are remembered, never reused."""
        highest = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM jobs").fetchone()[0]
        return max(highest, int(self.get_meta(MAX_PURGED_ID_KEY, 0)))

    def finished_before(self, before: float, users: Optional[list[str]] = None) -> list[Job]:
        """Terminal jobs that ended before `before` (submitted before it, to use the index
        of neither: a purge is rare), oldest first."""
        states = sorted(_TERMINAL_VALUES)
        sql = f"SELECT data FROM jobs WHERE state IN ({','.join('?' * len(states))}) AND submitted_at < ?"
        args: list = [*states, before]
        if users is not None:
            sql += f" AND user IN ({','.join('?' * len(users))})"
            args += users
        out = []
        for (blob,) in self.db.execute(sql + " ORDER BY id", args):
            job = self._decode_job(blob)
            ended = job.finished_at if job.finished_at is not None else job.submitted_at
            if ended < before:
                out.append(job)
        return out

    def purge(self, ids: Sequence[int], meta: dict[str, object]) -> None:
        """Delete these jobs, the environments nobody else shares, and save `meta` (the
        purged jobs' kept totals, the highest id) in one transaction."""
        if not ids:
            return
        gone = set(ids)
        # retries and redos share their source's environment row (Job.env_from)
        shared = set()
        for job_id, blob in self.db.execute("SELECT id, data FROM jobs"):
            if job_id not in gone:
                shared.add(self._decode_env_from(blob).env_from)
        with self.transaction():
            self.db.executemany("DELETE FROM jobs WHERE id=?", [(i,) for i in ids])
            self.db.executemany(
                "DELETE FROM job_env WHERE id=?", [(i,) for i in ids if i not in shared]
            )
            self._envs.clear()
            self.db.executemany(_SET_META, [(k, self._encode(v)) for k, v in meta.items()])

    def load_active(self) -> list[Job]:
        states = tuple(s.value for s in ACTIVE_STATES)
        rows = self.db.execute(
            f"SELECT data FROM jobs WHERE state IN ({','.join('?' * len(states))}) ORDER BY id", states
        )
        return [self._decode_job(r[0]) for r in rows]

    def get(self, job_id: int) -> Optional[Job]:
        deferred = self._deferred.get(job_id)
        if deferred is not None:
            return self._decode_job(deferred[1])
        row = self.db.execute("SELECT data FROM jobs WHERE id=?", (job_id,)).fetchone()
        return None if row is None else self._decode_job(row[0])

    def state_of(self, job_id: int) -> Optional[JobState]:
        row = self.db.execute("SELECT state FROM jobs WHERE id=?", (job_id,)).fetchone()
        return None if row is None else JobState(row[0])

    def group_jobs(self, group_id: str) -> list[Job]:
        rows = self.db.execute("SELECT data FROM jobs WHERE group_id=? ORDER BY id", (group_id,))
        return [self._decode_job(r[0]) for r in rows]

    def get_env(self, job_id: int) -> Mapping[str, str]:
        """The environment stored under `job_id`'s row (read-only: copy it to change it).
        Rows are written once and row ids never reused, so a decoded row stays true until a
        purge deletes it."""
        envs = self._envs
        env = envs.pop(job_id, None)
        if env is None:
            row = self.db.execute("SELECT env FROM job_env WHERE id=?", (job_id,)).fetchone()
            if row is None:
                return MappingProxyType({})
            env = MappingProxyType(self._decode_env(row[0]))
            if len(envs) >= _ENV_CACHE:
                del envs[next(iter(envs))]
        envs[job_id] = env
        return env

    def recent_ids_of(self, owner_uid: int, count: int) -> list[int]:
        """The owner's most recent job ids, newest first (for `@` / `@~N`)."""
        rows = self.db.execute(
            "SELECT id FROM jobs WHERE owner_uid=? ORDER BY id DESC LIMIT ?", (owner_uid, count)
        )
        return [r[0] for r in rows]

    def query_rows(
        self,
        states: Optional[Iterable[JobState]] = None,
        users: Optional[list[str]] = None,
        ids: Optional[list[int]] = None,
        since: Optional[float] = None,
        after_id: Optional[int] = None,
        limit: Optional[int] = None,
    ) -> list[tuple[int, bytes]]:
        """(id, encoded job) for every job matching every given filter, ascending id; the
        blobs are passed to clients undecoded, the ids spare the caller a decode to merge.
        `after_id`/`limit` read one page (ids above `after_id`, at most `limit` rows)."""
        where, args = [], []
        if after_id is not None:
            where.append("id > ?")
            args.append(after_id)
        if states is not None:
            values = sorted({s.value for s in states})
            # Asking for every terminal state (`gqueue -a`) matches nearly the whole table:
            # a scan in id order beats the state index plus a sort of the result.
            column = "+state" if set(values) >= _TERMINAL_VALUES else "state"
            where.append(f"{column} IN ({','.join('?' * len(values))})")
            args += values
        if users is not None:
            where.append(f"user IN ({','.join('?' * len(users))})")
            args += users
        if ids is not None:
            where.append(f"id IN ({','.join('?' * len(ids))})")
            args += ids
        if since is not None:
            where.append("submitted_at >= ?")
            args.append(since)
        sql = "SELECT id, data FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return self.db.execute(sql, args).fetchall()


class _Transaction:
    def __init__(self, db: sqlite3.Connection, path: str):
        self.db = db
        self.path = path

    def __enter__(self):
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            if _is_full(e):
                raise DiskFull(self.path, str(e)) from None
            raise
        return self.db

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                self.db.execute("COMMIT")
                return False
            except sqlite3.Error as e:
                exc = e
        if self.db.in_transaction:  # SQLite ends some failed transactions by itself
            self.db.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error) and _is_full(exc):
            raise DiskFull(self.path, str(exc)) from None
        if exc_type is None:
            raise exc
        return False


def _create_private(path: str) -> None:
    """Create the database file 0600 before SQLite does: its WAL and shared-memory files take
    the database's mode, and every job's environment is in them."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        pass


def _make_private(path: str) -> None:
    """Files from before the 0600 rule (or made under a loose umask) are fixed on open."""
    for suffix in ("", "-wal", "-shm"):
        try:
            if os.stat(path + suffix).st_mode & 0o077:
                os.chmod(path + suffix, 0o600)
        except FileNotFoundError:
            pass


def _integrity_verdict(path: str, lines: int = 3) -> str:
    """`PRAGMA integrity_check`'s first lines on one line (read only, from a fresh handle)."""
    try:
        from urllib.parse import quote

        db = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True)
        try:
            rows = db.execute(f"PRAGMA integrity_check({lines})").fetchall()
        finally:
            db.close()
    except sqlite3.Error as e:
        return str(e)
    return "; ".join(str(r[0]).replace("\n", "; ") for r in rows) or "ok"
