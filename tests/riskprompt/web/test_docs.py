"""``/docs`` works on an intranet with no internet: every asset comes from the app itself."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

#: ``src="…"``, ``href="…"`` and ``url: '…'`` (Swagger UI's spec and redirect URLs).
_ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']""")
_SCRIPT_URL = re.compile(r"""(?:url|oauth2RedirectUrl)['"]?\s*:\s*['"]([^'"]+)['"]""")


def test_docs_names_no_url_outside_the_app(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    outside = re.findall(r"(?:https?:)?//[^\s\"'<>)]+", page.text)
    assert outside == [], f"/docs loads from outside the app: {outside}"
    assert '"validatorUrl": null' in page.text  # no call to the online validator


def test_every_asset_docs_references_is_served_by_the_app(client: TestClient) -> None:
    page = client.get("/docs").text
    assets = _ASSET.findall(page)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for url in [*assets, *_SCRIPT_URL.findall(page)]:
        assert url.startswith("/"), url
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert answer.content, url
    js = next(a for a in assets if a.endswith(".js"))
    assert "javascript" in client.get(js).headers["content-type"]
    assert client.get("/openapi.json").json()["info"]["title"] == "riskprompt"


def test_docs_behind_a_proxy_prefix_keeps_the_prefix(client: TestClient) -> None:
    page = client.get("/docs").text
    prefixed = TestClient(client.app, root_path="/riskprompt").get("/docs").text
    assert page != prefixed
    assert "/riskprompt/docs/assets/swagger-ui-bundle.js" in prefixed
    assert "/riskprompt/openapi.json" in prefixed


def test_redoc_is_not_served(client: TestClient) -> None:
    assert client.get("/redoc").status_code == 404
