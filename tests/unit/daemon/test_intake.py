import asyncio

from gflow.daemon.intake import SMALL_REQUEST, ConnectionCount, RequestBudget


def test_connections_are_capped_per_user_but_not_for_admins():
    count = ConnectionCount(per_user=2)
    assert count.admit(1000, exempt=False) and count.admit(1000, exempt=False)
    assert not count.admit(1000, exempt=False)
    assert count.admit(1001, exempt=False)  # another account is not affected
    assert all(count.admit(0, exempt=True) for _ in range(10))
    count.leave(1000)
    assert count.admit(1000, exempt=False)


def test_a_big_request_waits_for_room_and_small_ones_never_do():
    async def scenario():
        budget = RequestBudget(total=3 * SMALL_REQUEST * 4, per_user=SMALL_REQUEST * 4)
        big = SMALL_REQUEST * 4
        held = await budget.reserve(1000, False, big)
        assert held == big
        assert await budget.reserve(1000, False, SMALL_REQUEST) == 0
        second = asyncio.ensure_future(budget.reserve(1000, False, big))  # over her share
        other = await budget.reserve(1001, False, big)  # another account still fits
        await asyncio.sleep(0)
        assert not second.done()
        budget.release(1000, held)
        assert await second == big
        budget.release(1000, big)
        budget.release(1001, other)
        assert budget.used == 0

    asyncio.run(scenario())
