"""Rate limits per client and spending limits of the whole service, counted in PostgreSQL: the app
scales out, and counters in process memory would give every instance an allowance of its own.

Each limit is a fixed window (a minute, an hour, a UTC day) of one counter row per client, or one row
for the whole service (`RateCounter`). `Limits.reserve` counts what a request is about to do against
every limit it falls under in ONE statement (insert or add, returning the new counts), all or nothing:
when any limit would be exceeded the transaction is rolled back, nothing is counted, and
`RateLimitedError` (429 `rate_limited`) says in Retry-After when that window ends. Callers reserve
before the work, so that a refused request does nothing; what was reserved is not given back when the
work fails or turns out smaller.

A client is its address as the platform reports it (`client_key`), never stored or logged raw.
"""

import hashlib
import ipaddress
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from services.common.database import Transaction
from services.common.errors import RateLimitedError
from services.common.settings import Settings, get_settings

if TYPE_CHECKING:
    from fastapi import Request
    from sqlalchemy.ext.asyncio import AsyncSession

logger = logging.getLogger(__name__)

FORWARDED_FOR = "X-Forwarded-For"
UNKNOWN_CLIENT = "unknown"
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


@dataclass(frozen=True)
class Rule:
    setting: str  # the app setting holding the limit (0: unlimited); also the name of its counters
    counts: str  # what it counts: an argument of `Limits.reserve`
    period: timedelta
    per_client: bool
    what: str  # for the message


RULES = (
    Rule("rate_limit_sessions_per_hour", "sessions", HOUR, True, "new sessions"),
    Rule("rate_limit_videos_per_hour", "videos", HOUR, True, "videos added"),
    Rule("rate_limit_questions_per_minute", "questions", MINUTE, True, "questions and searches"),
    Rule("rate_limit_questions_per_hour", "questions", HOUR, True, "questions and searches"),
    Rule("embedding_tokens_per_hour", "embedding_tokens", HOUR, False, "embedding tokens"),
    Rule("embedding_tokens_per_day", "embedding_tokens", DAY, False, "embedding tokens"),
    Rule("chat_calls_per_hour", "chat_calls", HOUR, False, "chat model calls"),
    Rule("chat_calls_per_day", "chat_calls", DAY, False, "chat model calls"),
)

# --- who the client is ---------------------------------------------------------------------------


def client_key(req: "Request") -> str:
    """The client of a request, as the hash its rate limits are counted under."""
    address = client_address(req.headers.get(FORWARDED_FOR), get_settings().trusted_proxy_count)
    return hashlib.sha256(f"client:{address}".encode()).hexdigest()[:32]


def client_address(forwarded_for: str | None, trusted_proxies: int) -> str:
    """The client's address (an IPv6 client's /64 network) from X-Forwarded-For.

    The Functions host gets requests from Azure's front end, which appends the address it was
    connected from to X-Forwarded-For (with a port at times: `203.0.113.7:51234`), after whatever
    the client sent; the Python worker sees no socket address. So only the `trusted_proxies`
    right-most entries were written by someone we trust: the entry that many from the right is the
    client, and the entries a client writes itself, left of it, are ignored. With fewer entries than
    that, the left-most (still written by a trusted proxy). Without the header (local hosts without
    a front end), every request is the same client."""
    entries = [entry.strip() for entry in (forwarded_for or "").split(",") if entry.strip()]
    if not entries:
        return UNKNOWN_CLIENT
    return _normalized(entries[-trusted_proxies] if len(entries) >= trusted_proxies else entries[0])


def _normalized(entry: str) -> str:
    """`1.2.3.4:5678` -> `1.2.3.4`; `[2001:db8::1]:80` and `2001:db8::1` -> `2001:db8::/64`;
    IPv4-mapped IPv6 -> the IPv4 address; anything else as written (lower case)."""
    host = entry
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return entry.lower()[:200]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        # One subscriber usually gets a whole /64: counting its addresses one by one would let it
        # change address to get a new allowance.
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)


# --- counting ------------------------------------------------------------------------------------


def window_end(now: datetime, period: timedelta) -> datetime:
    """The end of the fixed window (aligned on the Unix epoch, so days end at midnight UTC) holding `now`."""
    seconds = int(period.total_seconds())
    return datetime.fromtimestamp((int(now.timestamp()) // seconds + 1) * seconds, UTC)


def estimate_tokens(texts: list[str]) -> int:
    """Tokens of texts sent to an embedding model, estimated as a quarter of their characters (no
    tokenizer: tiktoken would download its vocabulary)."""
    return sum(math.ceil(len(text) / 4) for text in texts)


_ADD = """
INSERT INTO rate_counter (bucket, window_end, count)
SELECT * FROM unnest(CAST(:buckets AS text[]), CAST(:ends AS timestamptz[]), CAST(:amounts AS bigint[]))
ON CONFLICT (bucket) DO UPDATE SET
    count = CASE WHEN excluded.window_end > rate_counter.window_end THEN excluded.count
                 ELSE rate_counter.count + excluded.count END,
    window_end = GREATEST(rate_counter.window_end, excluded.window_end)
RETURNING bucket, count, window_end
"""


def _bucket(rule: Rule, client: str | None) -> str:
    """The name of a counter: its limit's setting, and the client's key for a per-client limit."""
    return f"{rule.setting}:{client}" if rule.per_client else rule.setting


@dataclass(frozen=True)
class _Count:
    rule: Rule
    bucket: str
    window_end: datetime
    amount: int


def utcnow() -> datetime:
    return datetime.now(UTC)


class Limits:
    def __init__(
        self, transaction: Transaction, settings: Settings, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._transaction = transaction
        self._settings = settings
        self._clock = clock or utcnow

    async def reserve(
        self,
        client: str | None = None,
        *,
        sessions: int | None = None,
        videos: int | None = None,
        questions: int | None = None,
        embedding_tokens: int | None = None,
        chat_calls: int | None = None,
    ) -> None:
        """Counts these amounts against every limit they fall under (per client: the `client` from
        `client_key`; None counts none of them), all or nothing, or raises RateLimitedError and counts
        nothing. An amount of 0 counts nothing but is refused when its limit is already reached (a
        request that will need an amount not known yet); None: not involved."""
        amounts = {
            "sessions": sessions,
            "videos": videos,
            "questions": questions,
            "embedding_tokens": embedding_tokens,
            "chat_calls": chat_calls,
        }
        now = self._clock()
        counts = [
            _Count(rule, _bucket(rule, client), window_end(now, rule.period), n)
            for rule in RULES
            if (n := amounts[rule.counts]) is not None and self._limit(rule) and (client or not rule.per_client)
        ]
        if not counts:
            return
        async with self._transaction() as db:
            totals = await self._add(db, counts)
            over = [c for c in counts if totals[c.bucket][0] - c.amount + max(c.amount, 1) > self._limit(c.rule)]
            if over:  # raised inside the transaction: it is rolled back, nothing is counted
                raise self._refusal(over, totals, now)

    async def delete_ended(self) -> int:
        """Deletes the counters of windows that have ended (set-based); returns how many."""
        from sqlalchemy import delete

        from services.common.models import RateCounter

        async with self._transaction() as db:
            result = await db.execute(delete(RateCounter).where(RateCounter.window_end <= self._clock()))
        return int(result.rowcount)  # type: ignore[attr-defined]

    def _limit(self, rule: Rule) -> int:
        return int(getattr(self._settings, rule.setting))

    @staticmethod
    async def _add(db: "AsyncSession", counts: list[_Count]) -> dict[str, tuple[int, datetime]]:
        """One statement: each counter plus its amount (a counter whose window has ended starts the new
        window with it), locked until the transaction ends; the new totals and window ends by bucket.
        Rows go in bucket order, so that two requests lock shared counters in the same order. (Arrays
        rather than a VALUES list: one statement text, prepared once, whatever the number of counters.)"""
        from sqlalchemy import text

        counts = sorted(counts, key=lambda c: c.bucket)
        rows = await db.execute(
            text(_ADD),
            {
                "buckets": [c.bucket for c in counts],
                "ends": [c.window_end for c in counts],
                "amounts": [c.amount for c in counts],
            },
        )
        return {bucket: (count, end) for bucket, count, end in rows.all()}

    def _refusal(self, over: list[_Count], totals: dict[str, tuple[int, datetime]], now: datetime) -> RateLimitedError:
        """The error for the limits reached, named by the one whose window ends last: retry then."""
        last = max(over, key=lambda c: totals[c.bucket][1])
        retry_after = max(1, math.ceil((totals[last.bucket][1] - now).total_seconds()))
        rule, limit = last.rule, self._limit(last.rule)
        period = {MINUTE: "minute", HOUR: "hour", DAY: "day"}[rule.period]
        if rule.per_client:
            logger.info("rate limited: %s", rule.setting.upper())
            message = f"Too many requests from this client: at most {limit} {rule.what} per {period}"
        else:
            logger.warning("spending limit reached: %s", rule.setting.upper())
            message = f"This service has spent its {rule.what} for this {period} ({limit})"
        return RateLimitedError(
            f"{message}, {rule.setting.upper()}. Retry in {retry_after} s.", retry_after_seconds=retry_after
        )


def get_limits() -> Limits:
    """The limits of the app's settings, counted in its database."""
    from services.common import database

    return Limits(database.transaction, get_settings())
