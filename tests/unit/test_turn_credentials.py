"""The TURN REST credential scheme (coturn's use-auth-secret): username "<expiry>:<id>",
password base64(HMAC-SHA1(secret, username)), checked against known vectors."""

from __future__ import annotations

import pytest

from media.clock import VirtualClock
from signaling.turn import IceServers, TurnConfigError, TurnCredentials, turn_password
from silkline.config import from_env


def test_password_matches_rfc_2202_hmac_sha1_vector():
    # RFC 2202 test case 2: HMAC-SHA1("Jefe", ...) = effcdf6a…9a7c79, here base64-encoded
    assert turn_password("Jefe", "what do ya want for nothing?") == "7/zfauXrL6LSdBbV8YTfnCWafHk="


def test_minted_credential_has_expiry_and_participant_in_the_username():
    clock = VirtualClock(start=1_699_996_400.0)
    turn = TurnCredentials(["turn:turn.example:3478?transport=udp", "turns:turn.example:5349"],
                           "north-secret", ttl=3600, clock=clock)
    server = turn.mint("shopper-u1")
    assert server["username"] == "1700000000:shopper-u1"
    # `openssl dgst -sha1 -hmac north-secret -binary | base64` of that username
    assert server["credential"] == "Q8YZZrvUShMgA5hrit9Ahrw+iXg="
    assert server["urls"] == ["turn:turn.example:3478?transport=udp", "turns:turn.example:5349"]


def test_each_participant_gets_its_own_credential_and_separators_are_removed():
    turn = TurnCredentials(["turn:127.0.0.1:3478"], "s3cret", clock=VirtualClock())
    a, b = turn.mint("agent-a_1"), turn.mint("evil:1:2")
    assert a["credential"] != b["credential"]
    assert b["username"].count(":") == 1


def test_ice_servers_keep_static_entries_and_add_a_fresh_turn_entry():
    clock = VirtualClock()
    ice = IceServers([{"urls": "stun:stun.example:3478"}],
                     TurnCredentials(["turn:127.0.0.1:3478"], "s3cret", ttl=60, clock=clock))
    first = ice.for_participant("shopper-x")
    assert first[0] == {"urls": "stun:stun.example:3478"}
    assert first[1]["username"] == f"{int(clock.now() + 60)}:shopper-x"
    assert "s3cret" not in repr(first)


@pytest.mark.parametrize("urls, secret", [
    ([], "s3cret"),
    (["turn:127.0.0.1"], ""),
    (["stun:127.0.0.1"], "s3cret"),
    (["http://127.0.0.1"], "s3cret"),
])
def test_misconfiguration_is_refused(urls, secret):
    with pytest.raises(TurnConfigError):
        TurnCredentials(urls, secret)


def test_environment_variables():
    config = from_env({"SILKLINE_TURN_URLS": "turn:a:3478?transport=udp, turns:a:5349",
                       "SILKLINE_TURN_SECRET": "s3cret", "SILKLINE_TURN_TTL": "600"})
    assert config.turn_urls == ["turn:a:3478?transport=udp", "turns:a:5349"]
    assert config.turn_secret == "s3cret"
    assert config.turn_ttl == 600.0


def test_command_line_flags(monkeypatch):
    from silkline.cli import build_parser, config_from_args

    for var in ("SILKLINE_TURN_URLS", "SILKLINE_TURN_SECRET", "SILKLINE_TURN_TTL", "SILKLINE_METRICS_TOKEN",
                "SILKLINE_MAX_IMAGE_PIXELS", "SILKLINE_MAX_IMAGE_SIDE"):
        monkeypatch.delenv(var, raising=False)
    args = build_parser().parse_args([
        "serve", "--turn-url", "turn:a:3478?transport=udp", "--turn-url", "turns:a:5349",
        "--turn-secret", "s3cret", "--turn-ttl", "120", "--metrics-token", "m-token",
        "--max-image-pixels", "1000000", "--max-image-side", "2000"])
    config = config_from_args(args)
    assert config.turn_urls == ["turn:a:3478?transport=udp", "turns:a:5349"]
    assert (config.turn_secret, config.turn_ttl, config.metrics_token) == ("s3cret", 120.0, "m-token")
    assert (config.max_image_pixels, config.max_image_side) == (1_000_000, 2000)


def test_turn_urls_without_a_secret_stop_the_server_with_a_sentence(tmp_path, capsys):
    from silkline.cli import main

    code = main(["serve", "--port", "0", "--data-dir", str(tmp_path / "d"),
                 "--recordings-dir", str(tmp_path / "r"), "--turn-url", "turn:127.0.0.1:3478"])
    assert code == 2
    assert "--turn-secret" in capsys.readouterr().err
