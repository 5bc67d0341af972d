"""The console in headless Chromium against the local stack: sign-in, authoring with live preview,
review errors beside their fields, activation, a real trigger followed to its final states, the
report's charts and their numbers, the executions explorer, keyboard use and a phone's width."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.browser.conftest import HOW_TO_GET, Console

expect = pytest.importorskip(
    "playwright.sync_api", reason=f"browser tests need Playwright for Python: {HOW_TO_GET}"
).expect

DELIVERED = "success@simulator.amazonses.com"


def _ok(answer: Any, status: int) -> Any:
    got, _, body = answer
    assert got == status, body
    return body


def _campaign(stack: Any, **fields: Any) -> dict[str, Any]:
    body = {
        "name": f"Browser {uuid.uuid4().hex[:6]}",
        "channel": "email",
        "sender": {"fromEmail": "orders@example.com"},
        "content": {
            "defaultLocale": "en-US",
            "locales": {
                "en-US": {"subject": "Order {{ context.orderId }}", "html": "<p>Order {{ context.orderId }}</p>"}
            },
        },
        **fields,
    }
    return _ok(stack.request("POST", "/campaigns", body), 201)


def test_sign_in_keeps_the_key_for_the_tab_only(console: Console, local_stack: Any, browser: Any) -> None:
    console.open()
    page = console.page
    page.get_by_label("API key").fill("tc_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not known")
    console.screenshot("sign-in-refused")

    console.sign_in(local_stack.api_key)
    stored = page.evaluate("() => [sessionStorage.length, localStorage.length, document.cookie]")
    assert stored == [1, 0, ""]
    # Another tab (another browsing context) starts signed out.
    other = browser.new_context().new_page()
    other.goto(f"{local_stack.base_url}/console/index.html")
    expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
    other.context.close()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()
    assert page.evaluate("() => sessionStorage.length") == 0


def test_the_list_shows_and_filters_campaigns(signed_in: Console, local_stack: Any) -> None:
    tag = f"t{uuid.uuid4().hex[:6]}"
    email = _campaign(local_stack, tags=[tag], labels=[])
    sms = _campaign(
        local_stack,
        channel="sms",
        sender=None,
        tags=[tag],
        content={"defaultLocale": "en-US", "locales": {"en-US": {"body": "Hi"}}},
    )
    page = signed_in.page
    signed_in.go(f"#/campaigns?tag={tag}")
    table = page.locator("#campaign-table")
    expect(table.get_by_role("link", name=email["name"], exact=True)).to_be_visible()
    expect(table.get_by_role("link", name=sms["name"], exact=True)).to_be_visible()
    row = table.locator("tr", has=page.get_by_role("link", name=email["name"], exact=True))
    expect(row).to_contain_text("draft")
    expect(row).to_contain_text("email · transactional")
    expect(row).to_contain_text(tag)

    page.get_by_label("Channel").select_option("sms")
    page.get_by_role("button", name="Filter").click()
    expect(table.get_by_role("link", name=sms["name"], exact=True)).to_be_visible()
    expect(table.get_by_role("link", name=email["name"], exact=True)).to_have_count(0)
    signed_in.screenshot("campaigns")


def test_authoring_with_a_live_preview(signed_in: Console) -> None:
    page = signed_in.page
    page.get_by_role("link", name="New campaign").click()
    name = f"Order shipped {uuid.uuid4().hex[:6]}"
    page.get_by_label("Name").fill(name)
    page.get_by_label("Channel").select_option("email")
    page.get_by_role("button", name="Create draft").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()

    page.get_by_label("From address").fill("orders@example.com")
    page.get_by_label("Tags").fill("orders, shipping")
    page.get_by_label("contextSchema").fill(
        '{"type": "object", "required": ["orderId"], "properties": {"orderId": {"type": "string", "examples": ["A-1042"]}}}'
    )
    page.get_by_label("Subject · en-US").fill("Order {{ context.orderId }} has shipped")
    page.get_by_label("HTML · en-US").fill(
        "<h1 style=\"color:#1f5eb8\">Hi {{ profile.firstName | default('there') }}</h1>\n<p>Order <b>{{ context.orderId }}</b> is on its way.</p>"
    )
    # The preview follows the saved draft: the sample context comes from the schema's example.
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#save-state")).to_contain_text("Saved")
    page.get_by_label("Sample context (JSON)").fill('{"orderId": "A-1042"}')
    page.get_by_label("Sample profile (JSON)").fill('{"firstName": "Ada"}')
    page.get_by_role("button", name="Refresh preview").click()
    expect(page.get_by_test_id("preview-subject")).to_have_text("Order A-1042 has shipped")
    desktop = page.frame_locator("iframe.mail-frame.desktop")
    expect(desktop.locator("h1")).to_have_text("Hi Ada")
    expect(page.frame_locator("iframe.mail-frame.phone").locator("b")).to_have_text("A-1042")
    frames = page.locator("iframe.mail-frame")
    assert frames.count() == 2
    assert all(frames.nth(i).get_attribute("sandbox") == "" for i in range(2))
    # Desktop and phone widths (the preview re-renders as one types: measured once it settles).
    page.wait_for_function(
        "() => [...document.querySelectorAll('iframe.mail-frame')].map(f => f.getBoundingClientRect().width).join() === '600,375'"
    )

    # Editing the sample context previews again as one types.
    page.get_by_label("Sample context (JSON)").fill('{"orderId": "B-7"}')
    expect(page.get_by_test_id("preview-subject")).to_have_text("Order B-7 has shipped")
    # A second locale, edited and previewed.
    page.get_by_label("New locale").fill("pt-BR")
    page.get_by_role("button", name="Add locale").click()
    page.get_by_label("Subject · pt-BR").fill("Pedido {{ context.orderId }} enviado")
    page.get_by_label("HTML · pt-BR").fill("<p>Olá</p>")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#save-state")).to_contain_text("Saved")
    page.locator("#preview-locale").select_option("pt-BR")
    expect(page.get_by_test_id("preview-subject")).to_have_text("Pedido B-7 enviado")
    signed_in.screenshot("editor-email-preview")


def test_sms_and_push_previews(signed_in: Console, local_stack: Any) -> None:
    sms = _campaign(
        local_stack,
        channel="sms",
        sender=None,
        content={"defaultLocale": "en-US", "locales": {"en-US": {"body": "Código {{ context.code }} ✓ " + "x" * 70}}},
    )
    page = signed_in.page
    signed_in.go(f"#/campaigns/{sms['id']}")
    expect(page.get_by_test_id("preview-sms")).to_contain_text("Código code-123 ✓")
    expect(page.get_by_test_id("sms-info")).to_contain_text("2 segments · UCS-2")
    page.get_by_label("Message · en-US").fill("Your code is {{ context.code }}")
    expect(page.get_by_test_id("sms-info")).to_contain_text("1 segment · GSM-7")
    signed_in.screenshot("editor-sms-preview")

    push = _campaign(
        local_stack,
        channel="push",
        sender=None,
        content={
            "defaultLocale": "en-US",
            "locales": {
                "en-US": {"title": "Your order", "body": "Order {{ context.orderId }} is out", "data": {"k": "v"}}
            },
        },
    )
    signed_in.go(f"#/campaigns/{push['id']}")
    expect(page.get_by_test_id("preview-push")).to_contain_text("Order orderId-123 is out")
    expect(page.get_by_test_id("preview-push")).to_contain_text("Your order")
    signed_in.screenshot("editor-push-preview")


def test_review_errors_appear_next_to_their_fields(signed_in: Console, local_stack: Any) -> None:
    campaign = _campaign(
        local_stack,
        sender=None,
        content={
            "defaultLocale": "en-US",
            "locales": {"en-US": {"subject": "Hi", "html": "<p>Hi</p>\n<p>{{ context.orderId }</p>"}},
        },
    )
    page = signed_in.page
    signed_in.go(f"#/campaigns/{campaign['id']}")
    expect(page.get_by_role("heading", name=campaign["name"])).to_be_visible()
    page.get_by_role("button", name="Review", exact=True).click()
    summary = page.locator("#review-summary")
    expect(summary).to_contain_text("Review found")
    sender_field = page.locator('[data-field="sender.fromEmail"]')
    expect(sender_field.locator(".issues li.error")).to_contain_text("sender")
    expect(page.get_by_label("From address")).to_have_attribute("aria-invalid", "true")
    html_field = page.locator('[data-field="content.locales.en-US.html"]')
    expect(html_field.locator(".issues li.error")).to_contain_text("line 2")
    # The summary's entry moves the focus to the field and selects the line it names.
    summary.get_by_role("button", name="content.locales.en-US.html").click()
    selected = page.evaluate(
        "() => { const t = document.activeElement; return t.value.slice(t.selectionStart, t.selectionEnd); }"
    )
    assert selected == "<p>{{ context.orderId }</p>"
    signed_in.screenshot("review-errors")

    page.get_by_role("button", name="Activate", exact=True).click()
    expect(summary).to_contain_text("Activation refused")
    expect(page.locator(".campaign-status")).to_contain_text("draft")

    # Fixed in the console, the review passes and activation goes through.
    page.get_by_label("From address").fill("orders@example.com")
    page.get_by_label("HTML · en-US").fill("<p>Hi</p>\n<p>{{ context.orderId }}</p>")
    page.get_by_role("button", name="Review", exact=True).click()
    expect(summary).to_contain_text("Review passed")
    page.get_by_role("button", name="Activate", exact=True).click()
    expect(page.locator(".campaign-status")).to_contain_text("live")


def test_a_live_campaigns_draft_is_shown_beside_it(signed_in: Console, local_stack: Any) -> None:
    campaign = _campaign(local_stack)
    _ok(local_stack.request("POST", f"/campaigns/{campaign['id']}/activate"), 200)
    page = signed_in.page
    signed_in.go(f"#/campaigns/{campaign['id']}")
    page.get_by_label("Subject · en-US").fill("Order {{ context.orderId }} — updated")
    page.get_by_role("button", name="Save", exact=True).click()
    versions = page.get_by_role("region", name="Draft beside the live version")
    expect(versions).to_contain_text("Draft v2 beside live v1")
    row = versions.locator("tr", has_text="content.locales.en-US.subject")
    expect(row).to_contain_text("Order {{ context.orderId }}")
    expect(row).to_contain_text("— updated")
    signed_in.screenshot("draft-beside-live")
    page.get_by_role("button", name="Activate the draft").click()
    expect(page.locator(".campaign-status")).to_contain_text("live v2")
    expect(versions).to_be_empty()


def test_try_it_triggers_and_follows_recipients_to_their_final_state(signed_in: Console, local_stack: Any) -> None:
    campaign = _campaign(
        local_stack,
        contextSchema={"type": "object", "required": ["orderId"], "properties": {"orderId": {"type": "string"}}},
    )
    _ok(local_stack.request("POST", f"/campaigns/{campaign['id']}/activate"), 200)
    page = signed_in.page
    signed_in.go(f"#/campaigns/{campaign['id']}/try")
    expect(page.locator("#curl")).to_contain_text(campaign["id"])
    expect(page.locator("#curl")).to_contain_text("curl")
    request_id = f"browser-{uuid.uuid4().hex[:8]}"
    body = {
        "requestId": request_id,
        "campaignId": campaign["id"],
        "recipients": [
            {
                "userId": DELIVERED,
                "namespace": "email",
                "channelData": {"emailAddress": DELIVERED},
                "context": {"orderId": "A-1"},
            },
            {"userId": "no-context@example.com", "channelData": {"emailAddress": "no-context@example.com"}},
        ],
    }
    page.get_by_label("Trigger body").fill(json.dumps(body))
    page.get_by_role("button", name="Send trigger").click()
    expect(page.locator("#trigger-answer")).to_contain_text("Accepted")
    recipients = page.locator("#recipients")
    delivered = recipients.locator(f'tr[data-user="{DELIVERED}"]')
    expect(delivered).to_have_attribute("data-status", "delivered")
    refused = recipients.locator('tr[data-user="no-context@example.com"]')
    expect(refused).to_have_attribute("data-status", "excluded")
    expect(refused).to_contain_text("invalid_context")
    expect(page.locator(".follow-state")).to_contain_text("All 2 recipients reached a final state")
    delivered.get_by_text(f"Timeline of {DELIVERED}").click()
    expect(delivered.get_by_role("list", name=f"Timeline of {DELIVERED}")).to_contain_text("queued")
    expect(delivered.get_by_role("list", name=f"Timeline of {DELIVERED}")).to_contain_text("delivered")
    signed_in.screenshot("try-it-followed")

    # The explorer finds the same execution by its campaign and requestId.
    page.get_by_role("link", name="Executions").click()
    by_request = page.get_by_role("form", name="Find by request id")
    by_request.get_by_label("Campaign id").fill(campaign["id"])
    by_request.get_by_label("Request id").fill(request_id)
    by_request.get_by_role("button", name="Find").click()
    expect(page.locator("#recipients tr[data-user]")).to_have_count(2)
    expect(page.locator("#execution")).to_contain_text(request_id)
    expect(page.get_by_text("Sent from this tab")).to_be_visible()
    signed_in.screenshot("executions")

    # And the report draws what happened.
    signed_in.go(f"#/campaigns/{campaign['id']}/report")
    funnel = page.locator('figure[data-chart="Funnel"]')
    expect(funnel.locator("canvas")).to_be_visible()
    funnel.get_by_role("button", name="Show the numbers").click()
    expect(funnel.get_by_role("button", name="Hide the numbers")).to_have_attribute("aria-expanded", "true")
    numbers = funnel.locator("table")
    expect(numbers.locator("tbody tr", has_text="targeted")).to_contain_text("2")
    expect(numbers.locator("tbody tr", has_text="delivered")).to_contain_text("1")
    reasons = page.locator('figure[data-chart="Exclusions and failures by reason"]')
    reasons.get_by_role("button", name="Show the numbers").click()
    expect(reasons.locator("table")).to_contain_text("invalid_context")
    painted = funnel.locator("canvas").evaluate(
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; "
        "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"
    )
    assert painted > 500, "the funnel chart drew nothing"
    signed_in.screenshot("report")


def test_the_report_reads_the_richer_shape_with_days(signed_in: Console, local_stack: Any) -> None:
    """The report's fields the monitoring work adds (counts, *ByReason, days): drawn when present."""
    campaign = _campaign(local_stack)
    counts = {
        "targeted": 10, "accepted": 9, "rejected": 1, "excluded": 2, "sent": 7, "delivered": 6, "bounced": 1,
        "complained": 0, "failed": 0, "opened": {"unique": 4, "total": 6, "machine": 2},
        "clicked": {"unique": 2, "total": 3, "machine": 0}, "unsubscribed": 1,
    }  # fmt: skip
    report = {
        "campaignId": campaign["id"], "generatedAt": "2026-12-03T10:00:00Z", "total": 10,
        "byStatus": {"delivered": 6}, "byReason": {"no_consent": 2, "missing_address": 1}, "byLocale": {"en-US": 7, "pt-BR": 3},
        "counts": counts, "excludedByReason": {"no_consent": 2}, "rejectedByReason": {"missing_address": 1},
        "failedByReason": {}, "days": [
            {"day": "2026-12-01", "counts": {**counts, "sent": 3, "delivered": 3}},
            {"day": "2026-12-02", "counts": {**counts, "sent": 4, "delivered": 3}},
        ],
    }  # fmt: skip
    page = signed_in.page
    page.route(re.compile(r".*/campaigns/[^/]+/report\?.*"), lambda route: route.fulfill(json=report))
    signed_in.go(f"#/campaigns/{campaign['id']}/report")
    funnel = page.locator('figure[data-chart="Funnel"]')
    funnel.get_by_role("button", name="Show the numbers").click()
    expect(funnel.locator("tbody tr", has_text="opened")).to_contain_text("4")
    expect(funnel.locator("tbody tr", has_text="clicked")).to_contain_text("20%")
    engagement = page.get_by_role("definition").filter(has_text="by machines")
    expect(engagement.first).to_have_text("4 unique · 6 in all · 2 by machines (not counted)")
    over_time = page.locator('figure[data-chart="Over time"]')
    over_time.get_by_role("button", name="Show the numbers").click()
    expect(over_time.locator("tbody tr")).to_have_count(2)
    expect(over_time.locator("tr", has_text="2026-12-02")).to_contain_text("4")
    reasons = page.locator('figure[data-chart="Exclusions and failures by reason"]')
    reasons.get_by_role("button", name="Show the numbers").click()
    expect(reasons.locator("table")).to_contain_text("no_consent (excluded)")
    expect(reasons.locator("table")).to_contain_text("missing_address (rejected)")
    expect(page.locator('figure[data-chart="By locale"] canvas')).to_be_visible()
    assert page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth"), (
        "a table overflows the page"
    )
    signed_in.screenshot("report-with-days")


def test_schedules_can_be_found_and_cancelled(signed_in: Console, local_stack: Any) -> None:
    person = f"b-{uuid.uuid4().hex[:8]}"
    _ok(
        local_stack.request(
            "PUT", f"/profiles/crm/{person}", {"email": f"{person}@example.com", "consents": {"email": "in"}}
        ),
        200,
    )
    audience = _ok(
        local_stack.request("POST", "/audiences", {"name": "B", "members": [{"namespace": "crm", "id": person}]}), 201
    )
    campaign = _campaign(local_stack, type="marketing", audience={"namespace": "crm", "audienceId": audience["id"]})
    _ok(local_stack.request("POST", f"/campaigns/{campaign['id']}/activate"), 200)
    page = signed_in.page
    signed_in.go("#/executions")
    page.get_by_label("Campaign id (marketing, live)").fill(campaign["id"])
    page.get_by_label("Audience id").fill(audience["id"])
    page.get_by_label("Execute at").fill((datetime.now(UTC) + timedelta(days=30)).isoformat())
    page.get_by_label("Dry run").uncheck()
    page.get_by_role("button", name="Start").click()
    schedule = page.locator("#schedule")
    expect(schedule).to_contain_text("scheduled")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel the schedule").click()
    expect(schedule).to_contain_text("cancelled")
    signed_in.screenshot("schedule-cancelled")


def test_keyboard_only_and_a_phones_width(browser: Any, local_stack: Any) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    console = Console(page, local_stack.base_url)
    console.open()
    # The key field has the focus on arrival; Enter signs in, and the focus moves to the page's heading.
    assert page.evaluate("() => document.activeElement.name") == "apiKey"
    page.keyboard.type(local_stack.api_key)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Campaigns", exact=True)).to_be_focused()

    # Focus order: back from the heading, the navigation then the skip link; forward, the page's controls.
    def focus_names(key: str, times: int) -> list[str]:
        names = []
        for _ in range(times):
            page.keyboard.press(key)
            names.append(
                page.evaluate(
                    "() => { const e = document.activeElement; "
                    "return e.labels?.[0]?.textContent || e.getAttribute('aria-label') || e.textContent.trim(); }"
                )
            )
        return names

    assert focus_names("Shift+Tab", 5) == [
        "Sign out",
        "Executions",
        "Campaigns",
        "Campaigns console",
        "Skip to content",
    ]
    page.get_by_role("heading", name="Campaigns", exact=True).focus()
    assert focus_names("Tab", 6) == ["New campaign", "Status", "Channel", "Tag", "Name contains", "Filter"]
    assert page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth"), (
        "the page scrolls sideways on a phone"
    )
    console.screenshot("phone-campaigns")
    campaign = _campaign(local_stack)
    console.go(f"#/campaigns/{campaign['id']}")
    expect(page.get_by_test_id("preview-subject")).to_have_text("Order orderId-123")
    assert page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth"), (
        "the editor scrolls sideways on a phone"
    )
    console.screenshot("phone-editor")
    context.close()
    assert not console.problems, console.problems


def test_duplicate_stop_and_archive_from_the_editor(signed_in: Console, local_stack: Any) -> None:
    hostile = "<p>Hi</p><script>window.top.document.title = 'taken'; document.body.textContent = 'ran';</script>"
    campaign = _campaign(local_stack, content={"locales": {"en-US": {"subject": "S", "html": hostile}}})
    _ok(local_stack.request("POST", f"/campaigns/{campaign['id']}/activate"), 200)
    page = signed_in.page
    page.on("dialog", lambda dialog: dialog.accept())
    signed_in.go(f"#/campaigns/{campaign['id']}")
    # The email's own script never runs in the sandboxed frame, nor reaches the console.
    expect(page.frame_locator("iframe.mail-frame.desktop").locator("p")).to_have_text("Hi")
    assert page.title() != "taken"

    page.get_by_role("button", name="Duplicate").click()
    expect(page.get_by_role("heading", name=f"{campaign['name']} (copy)")).to_be_visible()
    expect(page.locator(".campaign-status")).to_contain_text("draft")
    expect(page.get_by_role("button", name="Delete")).to_be_enabled()

    signed_in.go(f"#/campaigns/{campaign['id']}")
    expect(page.get_by_role("button", name="Delete")).to_be_disabled()
    page.get_by_role("button", name="Stop").click()
    expect(page.locator(".campaign-status")).to_contain_text("stopped")
    page.get_by_role("button", name="Archive").click()
    expect(page.locator(".campaign-status")).to_contain_text("archived")
    expect(page.get_by_role("button", name="Archive")).to_be_disabled()
    signed_in.screenshot("archived")
    # Chromium said why the email's script did not run; that is the only thing it complained about.
    blocked = "Blocked script execution in 'about:srcdoc' because the document's frame is sandboxed"
    assert any(blocked in problem for problem in signed_in.problems)
    signed_in.problems[:] = [problem for problem in signed_in.problems if blocked not in problem]


def test_a_webhook_is_set_and_its_secret_shown_once(signed_in: Console, local_stack: Any) -> None:
    campaign = _campaign(local_stack)
    page = signed_in.page
    page.on("dialog", lambda dialog: dialog.accept())
    signed_in.go(f"#/campaigns/{campaign['id']}")
    expect(page.get_by_role("heading", name=campaign["name"])).to_be_visible()
    page.get_by_label("Save and preview as I type").uncheck()

    page.get_by_label("URL", exact=True).fill("http://hooks.example.org/events")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator('[data-field="webhook.url"] .issues li.error')).to_contain_text("https://")

    page.get_by_label("URL", exact=True).fill(f"{local_stack.base_url}/_local/webhooks/console")
    page.get_by_label("Events", exact=True).fill("delivered, bounced")
    page.get_by_role("button", name="Save", exact=True).click()
    secret = page.locator("#webhook-secret code")
    expect(secret).not_to_be_empty()
    first = secret.text_content()
    stored = _ok(local_stack.request("GET", f"/campaigns/{campaign['id']}"), 200)
    assert stored["webhook"]["events"] == ["delivered", "bounced"]
    assert first not in str(stored), "the secret is shown once, never read back"

    page.get_by_role("button", name="New signing secret").click()
    expect(secret).not_to_have_text(first or "")
    signed_in.screenshot("webhook-secret")
