"""The portal's live suggestion in a real browser: a low-voltage customer is shown no transformer, a high-voltage
one is (docs/decisions.md, the capacity entry; tests/test_domain_fixes_handlers.py checks the JSON)."""

from __future__ import annotations

from tests.browser import PHONE, SQLITE_ONLY, Pages

pytestmark = SQLITE_ONLY

VOLTAGE_SHOWN = "() => document.querySelector('[data-key=supply_voltage]').textContent.trim() === %r"


def test_no_transformer_is_suggested_to_a_low_voltage_customer(pages: Pages) -> None:
    page = pages.page(viewport=PHONE)
    page.goto("/portal/apply")
    page.check('input[name=category][value="residential"]')
    page.fill('[name="declared_capacity_kw"]', "9")
    page.locator('[name="declared_capacity_kw"]').blur()
    page.wait_for_function(VOLTAGE_SHOWN % "220 伏（单相）")
    assert page.locator("#assessment").inner_text().count("kVA") == 0
    assert not page.locator('dt[data-row="transformer_kva"]').is_visible()
    assert "报装容量" in page.inner_text("#assessment")
    pages.shot(page, "lv-no-transformer")
    page.check('input[name=category][value="other"]')
    page.fill('[name="declared_capacity_kw"]', "800")
    page.locator('[name="declared_capacity_kw"]').blur()
    page.wait_for_function(VOLTAGE_SHOWN % "10 千伏")
    assert page.locator('dt[data-row="transformer_kva"]').is_visible()
    assert page.inner_text('dd[data-key="transformer_kva"]').endswith("kVA")
    pages.shot(page, "hv-transformer")
