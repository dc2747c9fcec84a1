"""The one limiter type (signaling/api/limits.py) on the VirtualClock: buckets refill with
time, say how long to wait, stay bounded in number; specs parse or fail in words."""

from __future__ import annotations

import pytest

from media.clock import VirtualClock
from signaling.api.client_address import ClientAddress, ClientAddresses
from signaling.api.limits import DEFAULT_LIMITS, Action, RateLimit, RateLimiter, RateLimits, TokenBucket
from signaling.errors import ErrorCode, SignalingError
from silkline.config import from_env


async def test_a_bucket_spends_its_burst_then_refills_with_time():
    clock = VirtualClock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after() == pytest.approx(0.5)
    await clock.advance(0.25)
    assert not bucket.take()
    assert bucket.retry_after() == pytest.approx(0.25)
    await clock.advance(0.25)
    assert bucket.take()
    await clock.advance(60)
    assert bucket.full() and bucket.tokens == 3  # never above its burst


@pytest.mark.parametrize("spec, rate, burst", [
    ("30/min", 0.5, 30), ("20/s:60", 20.0, 60), ("3600/h", 1.0, 3600), (" 5 / s ", 5.0, 5),
    ("off", 0.0, 0.0), ("0", 0.0, 0.0),
])
def test_specs_parse(spec, rate, burst):
    limit = RateLimit.parse(spec)
    assert (limit.rate, limit.burst) == (pytest.approx(rate), burst)


@pytest.mark.parametrize("spec", ["fast", "10/week", "10", "-1/s", "10/s:0", "10/s:x"])
def test_bad_specs_are_refused_in_words(spec):
    with pytest.raises(ValueError, match="rate limit"):
        RateLimit.parse(spec)


def test_unknown_budget_names_are_refused():
    with pytest.raises(ValueError, match="unknown rate limit calls.everyone"):
        RateLimits({"calls.everyone": "1/s"}, VirtualClock(), ClientAddresses())


async def test_a_limiter_keeps_one_bucket_per_key_and_a_bounded_table():
    clock = VirtualClock()
    limiter = RateLimiter(RateLimit.parse("2/min"), clock, max_keys=100)
    assert limiter.take("a") is None and limiter.take("a") is None
    wait = limiter.take("a")
    assert wait == pytest.approx(30.0)
    assert limiter.take("b") is None  # another key, its own budget
    await clock.advance(30)
    assert limiter.take("a") is None  # one back after 30 s
    assert limiter.take("a") == pytest.approx(30.0)
    for n in range(1000):  # a flood of new keys: the table stays bounded
        limiter.take(f"k{n}")
    assert len(limiter.buckets) <= 100


async def test_per_address_and_per_token_budgets_are_separate_and_exempt_addresses_skip_one():
    clock = VirtualClock()
    limits = RateLimits({"calls.ip": "2/min", "calls.token": "3/min"}, clock, ClientAddresses())
    shopper = ClientAddress("203.0.113.7")
    limits.check_ip(Action.CALLS, shopper)
    limits.check_ip(Action.CALLS, shopper)
    with pytest.raises(SignalingError) as refused:
        limits.check_ip(Action.CALLS, shopper)
    assert refused.value.code is ErrorCode.RATE_LIMITED
    assert refused.value.retry_after == pytest.approx(30.0)
    assert "try again in 30 s" in refused.value.message
    limits.check_ip(Action.CALLS, ClientAddress("203.0.113.8"))  # a neighbour is not punished
    for _ in range(100):
        limits.check_ip(Action.CALLS, ClientAddress("127.0.0.1", exempt=True))
    for _ in range(3):
        limits.check_token(Action.CALLS, "customer:c1")
    with pytest.raises(SignalingError):
        limits.check_token(Action.CALLS, "customer:c1")
    await clock.advance(20)  # 3/min: one token back every 20 s
    limits.check_token(Action.CALLS, "customer:c1")


def test_off_means_no_limit():
    limits = RateLimits({"joins.ip": "off"}, VirtualClock(), ClientAddresses())
    for _ in range(10_000):
        limits.check_ip(Action.JOINS, ClientAddress("198.51.100.1"))


def test_every_action_has_both_budgets_by_default():
    assert set(DEFAULT_LIMITS) == {f"{a.value}.{k}" for a in Action for k in ("ip", "token")}


def test_limits_come_from_the_environment():
    config = from_env({"SILKLINE_RATE_LIMITS": "calls.ip=10/min, joins.token=off",
                       "SILKLINE_TRUSTED_PROXIES": "127.0.0.1,10.0.0.0/8",
                       "SILKLINE_RATE_LIMIT_EXEMPT": "none", "SILKLINE_MAX_SOCKETS_PER_IP": "7",
                       "SILKLINE_MAX_WAITING_PER_IP": "3", "SILKLINE_MAX_WAITING_PER_CUSTOMER": "1",
                       "SILKLINE_JOIN_DEADLINE": "4.5", "SILKLINE_HTTP_IDLE_TIMEOUT": "12"})
    assert config.rate_limits == {"calls.ip": "10/min", "joins.token": "off"}
    assert config.trusted_proxies == ["127.0.0.1", "10.0.0.0/8"]
    assert config.rate_limit_exempt == []
    assert (config.max_sockets_per_ip, config.max_waiting_per_ip, config.max_waiting_per_customer) == (7, 3, 1)
    assert (config.join_deadline, config.http_idle_timeout) == (4.5, 12.0)


def test_limits_come_from_flags():
    from silkline.cli import build_parser, config_from_args

    args = build_parser().parse_args([
        "serve", "--rate-limit", "calls.ip=10/min", "--rate-limit", "uploads.token=1/min,mint.ip=off",
        "--trusted-proxies", "127.0.0.1", "--rate-limit-exempt", "none", "--max-sockets-per-ip", "9",
        "--max-waiting-per-ip", "2", "--max-waiting-per-customer", "1", "--join-deadline", "3",
        "--http-idle-timeout", "8"])
    config = config_from_args(args)
    assert config.rate_limits == {"calls.ip": "10/min", "uploads.token": "1/min", "mint.ip": "off"}
    assert config.trusted_proxies == ["127.0.0.1"] and config.rate_limit_exempt == []
    assert (config.max_sockets_per_ip, config.max_waiting_per_ip, config.max_waiting_per_customer) == (9, 2, 1)
    assert (config.join_deadline, config.http_idle_timeout) == (3.0, 8.0)


def test_bad_proxy_addresses_are_refused_in_words():
    with pytest.raises(ValueError, match="--trusted-proxies: 'proxy.local'"):
        ClientAddresses(["proxy.local"])
