"""The OpenAPI document against the running server: schemathesis generates requests for every
documented operation (as an admin, as a shopper and with no token, and as an admin with
requests the document calls wrong) and checks that the server
never answers 500, answers only documented statuses, and that bodies and content types match.
Also: the document covers every HTTP route the app serves, and /api/docs is a static,
CSP-friendly page. The server runs on 127.0.0.1 in a thread of its own (schemathesis calls are
blocking); the run is bounded (examples per operation, deadline) to well under a minute."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from signaling.api.openapi import document
from signaling.auth import Role, TokenService
from silkline.app import create_app
from tests.conftest import SECRET, make_config

BUDGET_S = 60.0
# (who, generation mode, examples per operation): every identity with valid requests, and the
# admin (who gets furthest into each handler) with requests the document says are wrong
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class ThreadedServer:
    """The real app on a loopback port, served by an event loop in its own thread."""

    def __init__(self, tmp_path: Path) -> None:
        self.app = create_app(make_config(tmp_path, webhook_attempts=1))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def _start(self) -> None:
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    def __enter__(self) -> Self:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.runner is not None
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[ThreadedServer]:
    with ThreadedServer(tmp_path) as server:
        yield server


def test_the_document_names_every_http_route_the_app_serves(tmp_path):
    app = create_app(make_config(tmp_path))
    served = {(r.method.lower(), r.resource.canonical) for r in app.router.routes()
              if r.method not in ("HEAD", "*") and r.resource is not None}
    pages = {"/", "/demo/shop", "/agent", "/supervisor", "/qa", "/static", "/ws"}  # not REST
    served = {(m, p.replace("{path:.+}", "{path}")) for m, p in served if p not in pages}
    documented = {(m, p) for p, item in document()["paths"].items() for m in item}
    assert served == documented


def exercise(operation: schemathesis.APIOperation, base_url: str, http: requests.Session,
             headers: dict[str, str], mode: GenerationMode, examples: int) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        # a generated Authorization header would stand in for the role being tried
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        response = case.call(base_url=base_url, session=http, headers=headers, timeout=10)
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        pass  # nothing in this operation can be made wrong (no parameters, no body)


def test_the_server_keeps_to_its_document(live):
    schema = schemathesis.openapi.from_dict(document())
    tokens = TokenService(SECRET)
    admin = {"Authorization": "Bearer " + tokens.issue(Role.ADMIN, "root")}
    shopper = {"Authorization": "Bearer " + tokens.issue(Role.SHOPPER, "s1", call_id="c_nope")}
    runs = [("admin", admin, GenerationMode.POSITIVE, 5), ("shopper", shopper, GenerationMode.POSITIVE, 2),
            ("nobody", {}, GenerationMode.POSITIVE, 2), ("admin, wrong input", admin, GenerationMode.NEGATIVE, 3)]
    http = requests.Session()
    failures: list[str] = []
    began = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(item) for item in document()["paths"].values())
    for operation in operations:
        for name, headers, mode, examples in runs:
            try:
                exercise(operation, live.url, http, headers, mode, examples)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 — collected: one run reports all
                failures.append(f"{operation.label} as {name}: {str(exc)[:1500]}")
    elapsed = time.monotonic() - began
    assert failures == [], "\n\n".join(failures)
    assert elapsed < BUDGET_S, f"the run took {elapsed:.0f} s"


def test_the_docs_page_is_ours_and_csp_friendly(live):
    page = requests.get(live.url + "/api/docs", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    html = page.text
    assert '<script type="module" src="/api/docs/docs.js"></script>' in html
    assert "<script>" not in html and "style=" not in html and "http://" not in html and "https://" not in html
    script = requests.get(live.url + "/api/docs/docs.js", timeout=10)
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")
    assert ".innerHTML" not in script.text and "/api/openapi.json" in script.text
    assert requests.get(live.url + "/api/docs/../openapi.py", timeout=10).status_code == 404
    served = requests.get(live.url + "/api/openapi.json", timeout=10).json()
    assert served["openapi"].startswith("3.") and "/api/login" in served["paths"]
