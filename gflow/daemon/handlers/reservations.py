"""Reservation methods: list and get (anyone), create (admins), cancel (admins, or the
reservation's own user). `gctl reserve`."""
from __future__ import annotations

import pwd
from typing import Optional

from ...core.reservations import Reservation, ReservationError, Status
from ...protocol import CreateReservationParams, ErrorCode, GflowError, ListReservationsParams, ReservationRef
from . import rpc

@rpc("reservations.list")
def list_reservations(ctx, caller, params: ListReservationsParams) -> list[Reservation]:
    status = None
    if params.status is not None:
        try:
            status = Status.parse(params.status)
        except ReservationError as e:
            raise GflowError(ErrorCode.BAD_REQUEST, str(e)) from None
    return ctx.policy.list_reservations(params.user, status, params.active)


@rpc("reservations.get")
def get_reservation(ctx, caller, params: ReservationRef) -> Optional[Reservation]:
    return ctx.policy.get_reservation(params.id)


@rpc("reservations.create")
def create_reservation(ctx, caller, params: CreateReservationParams) -> Reservation:
    user = params.user.strip()
    if not _known_user(user):
        raise GflowError(ErrorCode.BAD_REQUEST, f"no such user '{params.user}' on this machine")
    return ctx.policy.create_reservation(
        user, params.gpu_count, params.gpu_indices, params.start, params.duration
    )


@rpc("reservations.cancel")
def cancel_reservation(ctx, caller, params: ReservationRef) -> Reservation:
    # not admin-only at registration: a user may cancel a reservation made for them
    return ctx.policy.cancel_reservation(caller, params.id)


def _known_user(name: str) -> bool:
    """A passwd account, or a bare uid (accounts without a passwd entry are named by uid)."""
    if name.isdigit():
        return True
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
