"""GPU reservations as pure functions: the model and its status, the creation rules with
their exact messages, the scheduling effect, and the parsers for `--start`, `--duration`,
`--range`. Their display (`gctl reserve get|list|list --timeline`) is in
`gflow.cli.render.reservations`.

Times are Unix seconds; `now` is always an argument. A zone argument of None means the
system's local zone (what `TZ` / /etc/localtime say), otherwise a `zoneinfo.ZoneInfo`.
"""
from __future__ import annotations

import enum
import math
import re
from datetime import datetime, timezone, tzinfo
from typing import Iterable, Mapping, Optional, Sequence

import msgspec

from .display import compact

SLOT = 1800  # reservations start on :00 / :30 and last whole half hours
DEFAULT_WINDOW = 12 * 3600  # timeline: now-12h .. now+12h


class ReservationError(ValueError):
    """A refused reservation or an unparsable value; str() is the message for the user."""


class Status(str, enum.Enum):
    PENDING = "Pending"
    ACTIVE = "Active"
    COMPLETED = "Completed"
    CANCELLED = "Cancelled"

    @classmethod
    def parse(cls, text: str) -> "Status":
        """Case-insensitive, as `gctl reserve list --status`."""
        for status in cls:
            if status.value.lower() == text.strip().lower():
                return status
        raise ReservationError(f"Invalid status: {text}")


class Reservation(msgspec.Struct, kw_only=True):
    """GPUs set aside for one user during [start, start + duration).

    Exactly one of `gpu_count` / `gpu_indices` is set. `status` is derived from the time
    and `cancelled_at` whenever the daemon answers (`at`); the stored value is not trusted.
    Every field is always encoded: omitting defaults dropped `status` of Pending ones
    from `--json`. `waiting_gpus` is filled in answers only: how many of an Active
    reservation's GPUs others' running jobs still hold.
    """

    id: int
    user: str
    start: float
    duration: int  # seconds
    gpu_count: Optional[int] = None
    gpu_indices: Optional[list[int]] = None
    created_at: float = 0.0
    cancelled_at: Optional[float] = None
    status: Status = Status.PENDING
    waiting_gpus: Optional[int] = None

    @property
    def end(self) -> float:
        return self.start + self.duration

    def status_text(self) -> str:
        if self.status is Status.ACTIVE and self.waiting_gpus:
            n = self.waiting_gpus
            return f"Active (waiting for {n} GPU{'s' if n != 1 else ''})"
        return self.status.value

    @property
    def count(self) -> int:
        return len(self.gpu_indices) if self.gpu_indices is not None else (self.gpu_count or 0)

    def status_at(self, now: float) -> Status:
        if self.cancelled_at is not None:
            return Status.CANCELLED
        if now < self.start:
            return Status.PENDING
        if now < self.end:
            return Status.ACTIVE
        return Status.COMPLETED

    def at(self, now: float) -> "Reservation":
        return msgspec.structs.replace(self, status=self.status_at(now))

    def overlaps(self, start: float, end: float) -> bool:
        return self.start < end and start < self.end


# --------------------------------------------------------------------------- creation rules
def validate_new(
    *,
    gpu_count: Optional[int],
    gpu_indices: Optional[Sequence[int]],
    start: float,
    duration: int,
    now: float,
    total_gpus: int,
    existing: Iterable[Reservation],
    allowed: Optional[Iterable[int]] = None,
) -> None:
    """Raise ReservationError with upstream's message when the reservation may not be made.

    Unlike upstream, a start inside the current half-hour slot (at most 30 minutes ago) is
    accepted, so an admin can reserve "from now" without waiting for the next :00/:30.
    Counts are checked against `allowed` (the `gctl set-gpus` set, None = every GPU):
    a reservation of GPUs the daemon will not hand out would protect nothing.
    """
    if (gpu_count is None) == (gpu_indices is None):
        raise ReservationError("Must specify either --gpus or --gpu-spec")
    n = len(set(gpu_indices)) if gpu_indices is not None else gpu_count
    if n <= 0:
        raise ReservationError("GPU count must be greater than 0")
    usable = set(range(total_gpus)) if allowed is None else set(allowed) & set(range(total_gpus))
    if n > len(usable):
        raise ReservationError(f"Requested {n} GPUs but only {len(usable)} GPUs available")
    for i in sorted(set(gpu_indices or ())):
        if i < 0 or i >= total_gpus:
            raise ReservationError(f"GPU index {i} is out of range (available: 0-{total_gpus - 1})")
        if i not in usable:
            raise ReservationError(f"GPU index {i} is not in the allowed set (see gctl set-gpus)")
    if duration <= 0:
        raise ReservationError("Duration must be greater than 0")
    if duration % SLOT:
        raise ReservationError(
            "Reservation duration must be a multiple of 30 minutes (e.g., 30m, 1h, 1h30m, 2h). "
            f"Got: {compact(duration)}"
        )
    if start != int(start) or int(start) % 60:
        raise ReservationError("Reservation time must not include seconds. Got: " + _utc(start))
    if start <= now - SLOT:
        raise ReservationError("Start time cannot be in the past")
    end = start + duration
    reserved: set[int] = set()
    counted = 0
    for r in existing:
        if r.cancelled_at is not None or r.end <= now or not r.overlaps(start, end):
            continue
        if r.gpu_indices is not None:
            reserved.update(r.gpu_indices)
        else:
            counted += r.gpu_count or 0
    if gpu_indices is not None:
        for i in sorted(set(gpu_indices)):
            if i in reserved:
                raise ReservationError(f"GPU index {i} is already reserved during this time period")
        left = max(0, len(usable - reserved) - len(set(gpu_indices)))
        if counted > left:
            raise ReservationError(
                f"Cannot reserve GPU indices: would leave insufficient GPUs ({left}) "
                f"for existing count-based reservations ({counted})"
            )
    else:
        available = len(usable - reserved)
        if counted + n > available:
            raise ReservationError(
                f"Reservation conflicts: {len(reserved)} GPUs explicitly reserved, {counted} GPUs "
                f"reserved by count, cannot reserve {n} more (available: {available})"
            )


def cancel_problem(r: Reservation, now: float) -> Optional[str]:
    status = r.status_at(now)
    if status is Status.COMPLETED:
        return "Cannot cancel completed reservation"
    if status is Status.CANCELLED:
        return "Reservation already cancelled"
    return None


# --------------------------------------------------------------------------- scheduling effect
class ReservationGate:
    """The aggregate reservation rule for one scheduling pass.

    Upstream judged each job alone against "total - others' reservations", so jobs already
    running were never counted and a count reservation protected no GPU. Here the GPUs
    are pooled: `allowed` (the GPUs the daemon may hand out now: `set-gpus`, minus those
    held by unmanaged processes) splits into index-reserved GPUs, each kept for its
    holder, and the shared pool. Of the pool's idle GPUs, every count holder's outstanding
    claim (its count minus the pool GPUs its jobs already hold) is kept back from everyone
    else. A holder may use its own claim plus whatever idle GPUs nobody has a claim on.
    Running jobs are never preempted: a claim that finds its GPUs busy is honoured as they
    free up, because nobody else may take them meanwhile.

    `use` maps each user to the GPU indices their running jobs hold. The pass reports each
    admission with `take`, so later candidates see it. Pure: no clock, no IO.
    """

    def __init__(self, active: Iterable[Reservation], allowed: Iterable[int],
                 use: Mapping[str, Iterable[int]]):
        self.allowed = set(allowed)
        self.index_owner: dict[int, Reservation] = {}
        self.counts: dict[str, list[Reservation]] = {}
        for r in sorted(active, key=lambda r: r.id):
            if r.gpu_indices is not None:
                for i in r.gpu_indices:
                    self.index_owner.setdefault(i, r)
            elif (r.gpu_count or 0) > 0:
                self.counts.setdefault(r.user, []).append(r)
        self.pool = self.allowed - set(self.index_owner)
        self.busy: set[int] = set()
        self.held: dict[str, set[int]] = {}
        for user, indices in use.items():
            self.take(user, indices)

    def take(self, user: str, indices: Iterable[int]) -> None:
        indices = set(indices)
        self.busy |= indices
        self.held.setdefault(user, set()).update(indices)
        self._owed = None

    # every blocked candidate of a pass asks again; the answers change only with `take`
    _owed: Optional[dict[str, int]] = None
    _idle: int = 0

    def _tally(self) -> dict[str, int]:
        if self._owed is None:
            self._owed = {}
            for user, claims in self.counts.items():
                count = sum(r.gpu_count or 0 for r in claims)
                self._owed[user] = max(0, count - len(self.held.get(user, set()) & self.pool))
            self._idle = len(self.pool - self.busy)
        return self._owed

    def outstanding(self, user: str) -> int:
        """GPUs of the pool still owed to `user`'s count reservations."""
        return self._tally().get(user, 0)

    def idle_pool(self) -> int:
        self._tally()
        return self._idle

    def _owed_by_others(self, user: str) -> int:
        owed = self._tally()
        return sum(owed.values()) - owed.get(user, 0)

    def budget(self, user: str) -> int:
        """Idle pool GPUs `user` may claim now: all of them less others' outstanding claims."""
        return max(0, self.idle_pool() - self._owed_by_others(user))

    def permit(self, user: str, need: int, candidates: Sequence[int]) -> tuple[Optional[list[int]], Optional[int]]:
        """Of `candidates` (GPUs the job could use were there no reservations, in the
        allocator's order), those it may use: `(indices, None)` when at least `need` of
        them remain, else `(None, id)` with the reservation that stops it, or `(None, None)`
        when the GPUs are simply not there. Any `need` of the returned indices are safe."""
        own: list[int] = []
        shared_busy: list[int] = []  # pool GPUs already in use (shared packing): free to join
        idle: list[int] = []
        blockers: set[int] = set()
        for i in candidates:
            owner = self.index_owner.get(i)
            if owner is not None:
                if owner.user == user:
                    own.append(i)
                else:
                    blockers.add(owner.id)
            elif i in self.pool:
                (shared_busy if i in self.busy else idle).append(i)
        allowed_idle = min(self.budget(user), need, len(idle))
        if len(own) + len(shared_busy) + allowed_idle >= need:
            return own + shared_busy + idle[:allowed_idle], None
        # Waiting either way: name a claim that would take the next freed GPU before this
        # job, so `gqueue` says why a freed GPU did not go to it.
        claim = self._first_claim(user)
        if len(candidates) < need:
            return None, claim
        if allowed_idle < len(idle) and claim is not None:
            blockers.add(claim)
        return None, min(blockers) if blockers else None

    def _first_claim(self, user: str) -> Optional[int]:
        owed = self._tally()
        ids = [self.counts[u][0].id for u, n in owed.items() if n and u != user]
        return min(ids) if ids else None

    def shortfalls(self) -> dict[int, int]:
        """Reservation id -> GPUs its holder cannot have now because others' jobs hold them
        (`gctl reserve list`: `Active (waiting for N GPUs)`). Idle pool GPUs go to count
        claims in reservation-id order; a count holder's pool GPUs fill its claims first."""
        out: dict[int, int] = {}
        for i, r in self.index_owner.items():
            if i not in self.allowed or (i in self.busy and i not in self.held.get(r.user, ())):
                out[r.id] = out.get(r.id, 0) + 1
        idle = self.idle_pool()
        claims = sorted((r for rs in self.counts.values() for r in rs), key=lambda r: r.id)
        used = {u: len(self.held.get(u, set()) & self.pool) for u in self.counts}
        for r in claims:
            want = r.gpu_count or 0
            mine = min(want, used[r.user])
            used[r.user] -= mine
            given = min(want - mine, idle)
            idle -= given
            if want - mine - given:
                out[r.id] = want - mine - given
        return out


def next_edge(reservations: Iterable[Reservation], now: float, retention: float) -> Optional[float]:
    """The earliest future instant where a status changes or a finished reservation is pruned."""
    edges = []
    for r in reservations:
        for t in (r.start, r.end, r.end + retention):
            if t > now:
                edges.append(t)
    return min(edges, default=None)


def prune(reservations: Iterable[Reservation], now: float, retention: float) -> list[Reservation]:
    """Keep reservations until `retention` seconds after their (planned) end; a cancelled
    one is kept that long too, so a second cancel still says it was cancelled."""
    return [r for r in reservations if r.end + retention > now]


# --------------------------------------------------------------------------- zones and parsing
def resolve_zone(name: Optional[str]) -> Optional[tzinfo]:
    """`--timezone` / config `timezone` → ZoneInfo; None → the system's local zone."""
    if name is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ReservationError(f"Invalid timezone: {name}") from None


def to_zone(ts: float, zone: Optional[tzinfo]) -> datetime:
    if zone is None:
        return datetime.fromtimestamp(ts).astimezone()  # local, with its abbreviation
    return datetime.fromtimestamp(ts, zone)


def _localize(naive: datetime, zone: Optional[tzinfo], text: str) -> float:
    if zone is None:
        stamps = {naive.replace(fold=fold).timestamp() for fold in (0, 1)}
    else:
        stamps = {naive.replace(tzinfo=zone, fold=fold).timestamp() for fold in (0, 1)}
    if len(stamps) != 1:
        name = getattr(zone, "key", None) or "local time"
        raise ReservationError(f"Ambiguous or invalid time in timezone {name}: {text}")
    return stamps.pop()


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})"
)
_LOCAL = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")


def parse_time(text: str, zone: Optional[tzinfo], now: Optional[float] = None) -> float:
    """`--start`, `--from`, `--to`: RFC 3339 with an offset, or `YYYY-MM-DD HH:MM` in `zone`;
    on :00 or :30 of `zone`, without seconds. `now` (when the caller passes the
    clock) means the start of the current half-hour slot of `zone`, which creation accepts."""
    value = text.strip()
    stamp: Optional[float] = None
    if now is not None and value.lower() == "now":
        local = to_zone(math.floor(now), zone)
        slot = local.replace(minute=local.minute - local.minute % 30, second=0, microsecond=0)
        return slot.timestamp()
    if _RFC3339.fullmatch(value):
        iso = value[:10] + "T" + value[11:]
        if iso[-1] in "Zz":
            iso = iso[:-1] + "+00:00"
        try:
            stamp = datetime.fromisoformat(iso).timestamp()
        except ValueError:
            stamp = None
    elif _LOCAL.fullmatch(value):
        try:
            naive = datetime.strptime(value, "%Y-%m-%d %H:%M")
        except ValueError:
            naive = None
        if naive is not None:
            stamp = _localize(naive, zone, value)
    if stamp is None:
        raise ReservationError(
            f"Invalid time format: {text}. Use ISO8601 (e.g., '2026-01-28T14:00:00Z') or 'YYYY-MM-DD HH:MM'"
        )
    local = to_zone(math.floor(stamp), zone)
    if local.minute not in (0, 30):
        raise ReservationError(
            f"Reservation time must be on the hour (:00) or half-hour (:30). Got: {text}"
        )
    if local.second != 0 or stamp != math.floor(stamp):
        raise ReservationError(f"Reservation time must not include seconds. Got: {text}")
    return stamp


def _length(text: str) -> int:
    """Seconds in the one duration grammar (`1h`, `90m`, `7d`, `1w2d`, `0-02:00`; a bare
    number counts minutes), more than none."""
    from .times import parse_duration as duration

    try:
        total = duration(text, bare_unit=60)
    except ValueError as e:
        raise ReservationError(f"Invalid duration '{text.strip()}': {e}") from None
    if total == 0:
        raise ReservationError("Duration must be greater than 0")
    return total


def parse_duration(text: str) -> int:
    """A reservation length: seconds, a positive multiple of 30 minutes."""
    total = _length(text)
    if total % 60:
        raise ReservationError(
            "Seconds are not allowed in reservation duration. Use hours (h) or minutes (m) only."
        )
    if total % SLOT:
        raise ReservationError(
            "Reservation duration must be a multiple of 30 minutes (e.g., 30m, 1h, 1h30m, 2h). "
            f"Got: {text}"
        )
    return total


def _signed_duration(text: str) -> int:
    value = text.strip()
    if not value:
        raise ReservationError("Invalid duration: empty string")
    sign = 1
    if value[0] in "+-":
        sign = -1 if value[0] == "-" else 1
        value = value[1:].strip()
        if not value:
            raise ReservationError(f"Invalid duration: {text.strip()}")
    return sign * _length(value)  # a window need not be slot-aligned


def parse_range(text: str, now: float) -> tuple[float, float]:
    """Timeline `--range`: `DUR` (now..now+DUR), `-DUR` (now-DUR..now), `A:B` (now+A..now+B)."""
    value = text.strip()
    if ":" in value:
        first, second = value.split(":", 1)
        start, end = now + _signed_duration(first), now + _signed_duration(second)
    else:
        offset = _signed_duration(value)
        start, end = (now, now + offset) if offset >= 0 else (now + offset, now)
    check_window(start, end)
    return start, end


def check_window(start: float, end: float) -> None:
    if end <= start:
        raise ReservationError("Invalid time range: end time must be after start time")


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def default_window(now: float) -> tuple[float, float]:
    return now - DEFAULT_WINDOW, now + DEFAULT_WINDOW


def window_from(now: float, zone: Optional[tzinfo], range_spec: Optional[str],
                start_text: Optional[str], end_text: Optional[str]) -> tuple[float, float]:
    """The timeline window from `--range` or `--from/--to` (default now±12h)."""
    if range_spec is not None:
        return parse_range(range_spec, now)
    if start_text is not None and end_text is not None:
        start, end = parse_time(start_text, zone), parse_time(end_text, zone)
        check_window(start, end)
        return start, end
    return default_window(now)

