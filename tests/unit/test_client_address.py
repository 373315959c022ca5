"""Who a client is, for the rate limits: the X-Forwarded-For entry written by the outermost trusted
proxy, without its port, an IPv6 client by its /64; and the fixed windows the limits count in."""

import ipaddress
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.limits import DAY, HOUR, MINUTE, UNKNOWN_CLIENT, client_address, estimate_tokens, window_end


@pytest.mark.parametrize(
    ("forwarded_for", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.7:51234", "203.0.113.7"),  # Azure's front end writes a port at times
        ("[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("[2001:db8:1:2::9]", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # IPv4-mapped: the IPv4 client
        ("  203.0.113.7 , ", "203.0.113.7"),
        ("Not-An-Address", "not-an-address"),  # what a trusted proxy wrote, as written
        (None, UNKNOWN_CLIENT),
        ("", UNKNOWN_CLIENT),
        (" , ", UNKNOWN_CLIENT),
    ],
)
def test_the_client_address_is_normalized(forwarded_for: str | None, expected: str) -> None:
    assert client_address(forwarded_for, 1) == expected


def test_the_addresses_of_one_ipv6_subscriber_are_one_client_and_its_neighbours_another() -> None:
    assert client_address("2001:db8:0:1::1", 1) == client_address("2001:db8:0:1:ffff::2", 1)
    assert client_address("2001:db8:0:1::1", 1) != client_address("2001:db8:0:2::1", 1)


def test_entries_a_client_writes_left_of_the_trusted_ones_are_ignored() -> None:
    # The client sent "X-Forwarded-For: 198.51.100.1, 10.0.0.1"; Azure's front end appended its address.
    assert client_address("198.51.100.1, 10.0.0.1, 203.0.113.7:50000", 1) == "203.0.113.7"
    # Behind Front Door (it appends the client's address, then Azure's front end appends Front Door's).
    assert client_address("198.51.100.1, 203.0.113.7, 147.243.2.10:40000", 2) == "203.0.113.7"


def test_with_fewer_entries_than_trusted_proxies_the_leftmost_counts() -> None:
    assert client_address("203.0.113.7:50000", 2) == "203.0.113.7"


entry = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]:80"),
    st.text(alphabet="abc0123456789.:[] ", max_size=20),
)


@given(spoofed=st.lists(entry, max_size=5), trusted=st.lists(st.ip_addresses().map(str), min_size=1, max_size=3))
def test_no_spoofed_entries_change_the_client(spoofed: list[str], trusted: list[str]) -> None:
    """Whatever a client sends itself, the client is the entry the outermost trusted proxy wrote."""
    header = ", ".join([*spoofed, *trusted])

    client = client_address(header, len(trusted))

    assert client == client_address(trusted[0], 1)
    address = ipaddress.ip_address(trusted[0])
    if address.version == 4:
        assert client == str(address)


def test_windows_are_fixed_minutes_hours_and_utc_days() -> None:
    now = datetime(2026, 11, 22, 13, 45, 30, 500_000, tzinfo=UTC)

    assert window_end(now, MINUTE) == datetime(2026, 11, 22, 13, 46, tzinfo=UTC)
    assert window_end(now, HOUR) == datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
    assert window_end(now, DAY) == datetime(2026, 11, 23, tzinfo=UTC)
    assert window_end(now.replace(minute=59, second=59), HOUR) == window_end(now, HOUR)
    assert window_end(datetime(2026, 11, 22, 14, tzinfo=UTC), HOUR) == datetime(2026, 11, 22, 15, tzinfo=UTC)
    assert window_end(now.astimezone(ZoneInfo("Europe/Berlin")), DAY) == window_end(now, DAY)
    assert window_end(now, HOUR) - now < timedelta(hours=1)


def test_tokens_are_estimated_as_a_quarter_of_the_characters() -> None:
    assert estimate_tokens([]) == 0
    assert estimate_tokens(["abcd", "abcde", ""]) == 1 + 2 + 0
