"""The leader lease and the fence it puts on outbox claims: one leader at a time, a new epoch at
every takeover, and a stale leader whose claims and marks change nothing."""

from __future__ import annotations

from jobs.leader import Leadership
from storage import leases, outbox
from storage.leases import LEADER

T0 = 1_800_000_000.0
TTL = 30.0


def test_one_holder_at_a_time_and_a_new_epoch_at_every_takeover(db):
    a = leases.acquire(db, LEADER, "a", T0, TTL)
    assert a is not None and a.epoch == 1
    assert leases.acquire(db, LEADER, "b", T0 + 10, TTL) is None, "held by a"
    renewed = leases.renew(db, a, T0 + 10, TTL)
    assert renewed is not None and renewed.epoch == 1 and renewed.expires_at == T0 + 10 + TTL
    assert leases.acquire(db, LEADER, "a", T0 + 20, TTL).epoch == 1, "taking one's own live lease is a renewal"
    b = leases.acquire(db, LEADER, "b", T0 + 20 + TTL, TTL)
    assert b is not None and b.epoch == 2, "expired: b takes over in a new term"
    assert leases.renew(db, a, T0 + 20 + TTL + 1, TTL) is None, "a can no longer renew"
    leases.release(db, b)
    c = leases.acquire(db, LEADER, "c", T0 + 20 + TTL + 2, TTL)
    assert c is not None and c.epoch == 3, "a released lease is free at once"


def test_holder_other_than(db):
    leases.acquire(db, LEADER, "a", T0, TTL)
    assert leases.holder_other_than(db, LEADER, "b", T0 + 1) == "a"
    assert leases.holder_other_than(db, LEADER, "a", T0 + 1) is None
    assert leases.holder_other_than(db, LEADER, "b", T0 + TTL) is None, "expired"


def _row(db):
    outbox.enqueue(db, "alert:x", "alert", {"n": 1}, int(T0), destination="slack")
    return outbox.get(db, "alert:x")


def test_a_stale_leaders_claim_and_marks_change_nothing(db):
    item = _row(db)
    old = leases.acquire(db, LEADER, "old", T0, TTL)
    assert outbox.claim(db, item, T0 + 1, 5, holder="old", lease=old)
    assert item.claim == "old@1#1"
    new = leases.acquire(db, LEADER, "new", T0 + TTL + 1, TTL)
    stale = outbox.get(db, "alert:x")
    assert stale.outcome_unknown, "the new leader will look before posting"
    assert outbox.claim(db, stale, T0 + TTL + 2, 5, holder="new", lease=new), "the old claim has settled"
    assert stale.claim == "new@2#2"
    assert not outbox.mark_sent(db, item, "ts-old", T0 + TTL + 3), "the old leader's claim was taken over"
    assert not outbox.mark_retry(db, item, "boom", T0 + TTL + 60)
    assert outbox.get(db, "alert:x").claim == stale.claim
    assert outbox.mark_sent(db, stale, "ts-new", T0 + TTL + 4)
    assert outbox.get(db, "alert:x").response_ts == "ts-new"


def test_a_leader_that_lost_its_lease_cannot_claim(db):
    item = _row(db)
    old = leases.acquire(db, LEADER, "old", T0, TTL)
    leases.acquire(db, LEADER, "new", T0 + TTL, TTL)
    assert not outbox.claim(db, item, T0 + TTL + 1, 5, holder="old", lease=old)
    assert outbox.get(db, "alert:x").attempts == 0


def test_a_one_shot_deliverer_claims_only_while_nobody_leads(db):
    item = _row(db)
    leases.acquire(db, LEADER, "run", T0, TTL)
    assert not outbox.claim(db, item, T0 + 1, 5, holder="cli")
    assert outbox.claim(db, item, T0 + TTL, 5, holder="cli"), "the leader is gone"


def test_a_claim_is_not_taken_over_before_it_settles(db):
    item = _row(db)
    assert outbox.claim(db, item, T0, 8, holder="a")
    assert outbox.due(db, T0 + 7.9, {"slack"}) == []
    (again,) = outbox.due(db, T0 + 8, {"slack"})
    assert again.outcome_unknown, "whoever takes it over must look before posting"


def test_leadership_moves_on_loss_and_release(db):
    clock = [T0]
    events: list[str] = []
    a = Leadership(lambda: db, ttl=TTL, holder="a", clock=lambda: clock[0],
                   on_gain=lambda lease: events.append(f"a+{lease.epoch}"), on_loss=lambda: events.append("a-"))
    b = Leadership(lambda: db, ttl=TTL, holder="b", clock=lambda: clock[0],
                   on_gain=lambda lease: events.append(f"b+{lease.epoch}"), on_loss=lambda: events.append("b-"))
    a.tick(), b.tick()
    assert (a.role, b.role) == ("leader", "standby") and events == ["a+1"]
    clock[0] += TTL  # a stalls past its TTL: b takes over, and a notices at its next tick
    b.tick()
    assert b.role == "leader" and a.role == "standby", "a stops leading on its own clock"
    a.tick()
    assert events == ["a+1", "b+2", "a-"] and a.role == "standby"
    b.stop()
    a.tick()
    assert a.role == "leader" and events[-2:] == ["b-", "a+3"]
