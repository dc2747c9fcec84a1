"""The pure parts of ``python -m load_tests janus-compare``: Janus's generated configuration,
the test network's names, and the figures (per call, per packet, per extra call, packet rate)."""

from __future__ import annotations

from pathlib import Path

import pytest

from load_tests import janus, janus_compare
from load_tests.cli import build_parser
from load_tests.netns import PREFIX, TestNetwork


def test_config_loads_only_videoroom_and_http_bound_to_the_test_address(tmp_path: Path) -> None:
    files = janus.config_files(tmp_path, interface="slj42s", address="10.250.0.2", port=8188)
    assert set(files) == {"janus.jcfg", "janus.transport.http.jcfg", "janus.plugin.videoroom.jcfg"}
    core, http = files["janus.jcfg"], files["janus.transport.http.jcfg"]
    # plugins and transports come from folders of the run's own (holding only the two wanted)
    assert f'plugins_folder = "{tmp_path / "plugins"}"' in core
    assert f'transports_folder = "{tmp_path / "transports"}"' in core
    # ICE gathers on the test interface only, and the SDP carries the test address
    assert 'ice_enforce_list = "slj42s"' in core and 'interface = "10.250.0.2"' in core
    assert "ipv6 = false" in core and "admin_secret" not in core
    # the HTTP API listens on the test address only, no HTTPS, no admin API
    assert 'ip = "10.250.0.2"' in http and "port = 8188" in http
    assert "https = false" in http and "admin_http = false" in http


def test_render_writes_libconfig_and_refuses_what_it_cannot_quote() -> None:
    text = janus.render({"general": {"a": True, "b": 3, "c": "x"}, "empty": {}})
    assert text == 'general: {\n\ta = true\n\tb = 3\n\tc = "x"\n}\nempty: {\n}\n'
    with pytest.raises(ValueError):
        janus.render({"general": {"a": 'say "hi"'}})
    with pytest.raises(TypeError):
        janus.render({"general": {"a": 1.5}})


def test_test_network_names_fit_interface_limits() -> None:
    net = TestNetwork()
    assert net.name.startswith(PREFIX) and net.client_name == net.name + "-clients"
    assert len(net.client_interface) <= 15 and len(net.server_interface) <= 15
    assert net.client_interface != net.server_interface
    assert net.client_address != net.server_address


def test_cpu_per_call_and_per_packet_subtract_the_idle_server() -> None:
    assert janus_compare.per_call(21.0, 1.0, 8) == 2.5
    assert janus_compare.per_call(None, 1.0, 8) is None
    assert janus_compare.per_call(5.0, 1.0, 0) is None
    # 10 % of a core above idle = 100 ms of CPU per second, over 2,000 packets/s = 50 µs each
    assert janus_compare.per_packet_us(11.0, 1.0, 2000.0) == 50.0
    assert janus_compare.per_packet_us(11.0, 1.0, None) is None


def test_per_extra_call_is_the_least_squares_slope() -> None:
    assert janus_compare.slope([(2, 5.0), (8, 17.0)]) == 2.0
    assert janus_compare.slope([(2, 5.0), (2, 7.0), (8, 17.0), (8, 19.0)]) == 2.0
    assert janus_compare.slope([(4, 5.0)]) is None
    assert janus_compare.ratio(6.0, 2.0) == 3.0 and janus_compare.ratio(6.0, None) is None


def _call(index: int, ok: bool, accepted_ms: float, first_ms: float, packets: int) -> dict:
    rtp = {k: {"packets_received": packets // 2, "rtx_packets_received": 0} for k in ("video", "audio")}
    side = {"first_frame_ms": first_ms, "rtp": rtp}
    return {"index": index, "ok": ok, "marks_ms": {"accepted": accepted_ms},
            "sides": {"agent": side, "shopper": side}}


def test_packet_rate_counts_each_side_from_its_first_frame_to_the_hang_up() -> None:
    # call 0 starts at t0, its first frame 1 s later; call 1 starts 2 s later, first frame at 3.5 s;
    # hang-up at 11 s: 1,000 packets in 10 s and 750 in 7.5 s per side → 100 packets/s each
    workers = [{"calls": [_call(0, True, 500, 500, 1000), _call(1, True, 1000, 500, 750),
                          _call(2, False, 500, 500, 99_999)]}]
    configs = [{"indices": [0, 1, 2], "offsets": [0.0, 2.0, 4.0]}]
    assert janus_compare.packet_rate(workers, configs, end_s=11.0) == 400.0
    assert janus_compare.packet_rate([{"calls": []}], configs, end_s=11.0) is None


def test_a_run_that_lost_media_is_not_comparable() -> None:
    assert janus_compare.comparable(8, 8, 0.1)
    assert not janus_compare.comparable(8, 8, 61.0)  # it did less work than asked
    assert not janus_compare.comparable(8, 7, 0.0)
    assert not janus_compare.comparable(8, 8, None)


def _run(server: str, calls: int, cpu: float, us: float, comparable: bool = True) -> dict:
    return {"server": server, "calls": calls, "server_cpu_pct": cpu, "cpu_pct_per_call": cpu / calls,
            "cpu_us_per_packet": us, "packets_per_s": 1.0, "loss_pct": 0.0, "join_p95_ms": 100.0,
            "calls_ok": calls, "other_cpu_pct": 0.0, "comparable": comparable}


def test_summary_pairs_the_servers_per_load_and_leaves_out_what_is_not_comparable() -> None:
    runs = [_run("silkline", 2, 12.0, 150.0), _run("janus", 2, 4.0, 50.0),
            _run("silkline", 8, 10.0, 250.0, comparable=False), _run("janus", 8, 16.0, 50.0)]
    two, eight = janus_compare.summarise(runs, [2, 8], ("silkline", "janus"))
    assert two["ratio_per_call"] == 3.0 and two["ratio_per_packet"] == 3.0
    assert two["janus"]["cpu_pct_per_call"] == 2.0 and two["silkline"]["comparable"]
    assert not eight["silkline"]["comparable"] and "ratio_per_call" not in eight


def test_cli_takes_loads_as_a_comma_list() -> None:
    args = build_parser().parse_args(["janus-compare", "--calls", "2,8", "--duration", "20", "--out", "x"])
    assert args.calls == [2, 8] and args.servers == ("silkline", "janus") and args.spawn_server
    args = build_parser().parse_args(["janus-compare", "--servers", "janus", "--out", "x"])
    assert args.servers == ("janus",) and args.calls == [2, 4, 8, 16]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["janus-compare", "--calls", "2,x", "--out", "x"])
