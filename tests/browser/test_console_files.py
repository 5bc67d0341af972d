"""The console's files as the API serves them (no browser needed): public, a strict policy, the
right types, revalidated or cached for a year, and nothing but the files shipped."""

from __future__ import annotations

from typing import Any


def test_the_console_is_served_with_a_strict_policy_and_caching(local_stack: Any) -> None:
    status, headers, _ = local_stack.request("GET", "/console", key=None)
    assert status == 308
    assert headers["location"] == "console/index.html"
    status, headers, body = local_stack.request("GET", "/console/index.html", key=None)
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    policy = headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-eval" not in policy
    assert "http" not in policy.replace("https:", "")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-cache"
    assert "<script>" not in body
    assert "cdn" not in body.lower()
    status, again, _ = local_stack.request(
        "GET", "/console/index.html", headers={"If-None-Match": headers["etag"]}, key=None
    )
    assert status == 304
    assert again["etag"] == headers["etag"]
    status, headers, _ = local_stack.request("GET", "/console/vendor/chart.js-4.6.1/chart.umd.min.js", key=None)
    assert status == 200
    assert headers["content-type"] == "text/javascript; charset=utf-8"
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert local_stack.request("GET", "/console/js/app.js", key=None)[1]["content-type"].startswith("text/javascript")
    assert local_stack.request("GET", "/console/console.css", key=None)[1]["content-type"] == "text/css; charset=utf-8"
    for missing in ("/console/nothing.js", "/console/../template.yaml", "/console/js/.hidden.js"):
        assert local_stack.request("GET", missing, key=None)[0] == 404, missing
    # The static files are public; the data is not.
    assert local_stack.request("GET", "/campaigns", key=None)[0] == 401
