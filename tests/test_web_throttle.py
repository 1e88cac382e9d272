"""LoginThrottle on its own (a fake clock): per account, per network prefix, in total, and the known browser."""

from __future__ import annotations

import pytest

from camapp.web.throttle import Attempt, LoginThrottle, network_of


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def throttle(clock: Clock, notes: list[str] | None = None, global_max: int = 1000) -> LoginThrottle:
    return LoginThrottle(max_failures=3, window_s=100, lockout_s=10, global_max=global_max,
                         notify=None if notes is None else notes.append, clock=clock)


@pytest.mark.parametrize(("address", "network"), [
    ("192.168.1.77", "192.168.1.0/24"), ("127.0.0.9", "127.0.0.0/24"), ("::ffff:10.1.2.3", "10.1.2.0/24"),
    ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"), ("fe80::1%eth0", "fe80::/64"), ("junk", "junk"),
])
def test_network_prefix(address: str, network: str) -> None:
    assert network_of(address) == network


def test_backoff_doubles_up_to_the_window_and_tries_while_locked_do_not_count() -> None:
    clock, notes = Clock(), []
    lim = throttle(clock, notes)
    a = Attempt("admin", "10.0.0.1")
    waits = []
    for _ in range(8):
        assert lim.wait(a)[0] == 0
        lim.failed(a)
        waits.append(round(lim.wait(a)[0]))
        assert lim.wait(a)[0] == lim.wait(a)[0]  # asking (a refused try) does not extend it
        clock.t += lim.wait(a)[0] + 0.01
    assert waits == [0, 0, 10, 20, 40, 80, 100, 100]
    assert len(notes) == 12  # each lockout of the account and of its network, once
    assert "network '10.0.0.0/24' for 10 s" in notes[0] and "account 'admin' for 10 s" in notes[1]


def test_account_lockout_follows_the_username_across_networks() -> None:
    lim = throttle(Clock())
    for n in range(3):
        lim.failed(Attempt("admin", f"10.0.{n}.1"))  # three different /24s: no network reaches the limit
    assert lim.wait(Attempt("admin", "10.0.9.1")) > (0, "") and lim.wait(Attempt("admin", "10.0.9.1"))[1] == "account"
    assert lim.wait(Attempt("viewer", "10.0.9.1"))[0] == 0


def test_network_lockout_covers_every_username_from_the_prefix() -> None:
    lim = throttle(Clock())
    for n in range(3):
        lim.failed(Attempt(f"user{n}", f"10.0.0.{n + 2}"))  # one /24, three usernames
    assert lim.wait(Attempt("someone", "10.0.0.200"))[1] == "network"
    assert lim.wait(Attempt("someone", "10.0.1.200"))[0] == 0


def test_global_cap_and_the_known_browser_that_still_gets_in() -> None:
    clock = Clock()
    lim = throttle(clock, global_max=5)
    for n in range(5):
        lim.failed(Attempt(f"u{n}", f"10.{n}.0.1"))
    assert lim.wait(Attempt("admin", "10.99.0.1"))[1] == "all logins"
    assert lim.wait(Attempt("admin", "10.99.0.1", browser="b1"))[0] == 0
    clock.t += 101
    assert lim.wait(Attempt("admin", "10.99.0.1"))[0] == 0


def test_known_browser_counts_apart_and_success_resets_the_account_not_the_network() -> None:
    clock = Clock()
    lim = throttle(clock)
    for _ in range(3):
        lim.failed(Attempt("admin", "10.0.0.2"))
    assert lim.wait(Attempt("admin", "10.0.0.3"))[0] > 0
    owner = Attempt("admin", "10.0.0.3", browser="b1")
    assert lim.wait(owner)[0] == 0  # the owner's browser is not held up by the guesses
    for _ in range(3):
        lim.failed(owner)
    assert lim.wait(owner)[1] == "known browser"  # ... but guessing with it is throttled too
    lim.succeeded(Attempt("admin", "10.1.0.3"))
    assert lim.wait(Attempt("admin", "10.1.0.3"))[0] == 0
    assert lim.wait(Attempt("admin", "10.0.0.3"))[1] == "network"
    clock.t += 211
    assert lim.wait(Attempt("admin", "10.0.0.3"))[0] == 0 and lim.lockouts() == []
