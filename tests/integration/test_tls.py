"""``silkline serve --tls-cert/--tls-key``: a real process serves HTTPS and WSS itself."""

from __future__ import annotations

import ssl
import subprocess
import sys

import aiohttp
import pytest

from client import SignalingClient, demo_token
from silkline.config import from_env
from tests.support.browser import REPO_ROOT, start_server
from tests.support.certs import self_signed


async def test_https_and_wss_with_the_certificate_as_ca(tmp_path):
    cert, key = self_signed(tmp_path)
    server = start_server(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        assert server.url.startswith("https://127.0.0.1:"), server.log_tail()
        trust = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trust)) as http:
            async with http.get(server.url + "/healthz") as response:
                assert response.status == 200
            token = await demo_token(http, server.url, "shopper")
            ws = SignalingClient(http, server.url)
            assert ws.ws_url.startswith("wss://")
            await ws.connect()
            try:
                await ws.send("join", token=token["token"], context={"title": "Ring"})
                joined = await ws.expect("joined", timeout=10)
                assert joined["call_id"] == token["call_id"]
            finally:
                await ws.close()
        # plain HTTP on the TLS port is not served, and an unknown CA is refused
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await http.get(server.url + "/healthz")
            with pytest.raises(aiohttp.ClientError):
                await http.get(server.url.replace("https://", "http://") + "/healthz")
    finally:
        server.stop()


def test_tls_options_from_the_environment(tmp_path):
    config = from_env({"SILKLINE_TLS_CERT": "/etc/c.pem", "SILKLINE_TLS_KEY": "/etc/k.pem"})
    assert str(config.tls_cert) == "/etc/c.pem" and str(config.tls_key) == "/etc/k.pem"


def test_a_certificate_without_its_key_stops_serve_with_words(tmp_path):
    cert, _ = self_signed(tmp_path)
    result = subprocess.run([sys.executable, "-m", "silkline", "serve", "--port", "0", "--tls-cert", str(cert),
                             "--data-dir", str(tmp_path / "d"), "--recordings-dir", str(tmp_path / "r")],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "--tls-cert and --tls-key go together" in result.stderr
