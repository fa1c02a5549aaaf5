"""The console in a real browser (issue 16): an operator logs in, registers an agency and
an app and approves it, sees a package sent by the client on the dashboard and in its
timeline, downloads a report; an agency-admin cannot see another agency."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import backend_hub
from tests.e2e.console_helpers import PASSWORD, console_user, send_one
from tests.e2e.exchange import agency_with_app, next_code
from tests.e2e.hubs import RunningHub

DOMAIN = "truc.local"


@pytest.fixture(scope="module", params=["embedded"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[RunningHub]:
    with backend_hub(request, tmp_path_factory, "browser") as running:
        console_user(running, f"ttcntt@{DOMAIN}", "admin")
        yield running


@pytest.fixture(scope="module")
def world(hub: RunningHub) -> dict[str, Any]:
    """What the tests share: the agency registered in the browser, its app's key."""
    return {}


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True, locale="vi-VN",
                                  viewport={"width": 1280, "height": 860})
    opened = context.new_page()
    opened.on("dialog", lambda dialog: dialog.accept())  # the confirmations: yes
    yield opened
    context.close()


def apart(work: Coroutine[Any, Any, str]) -> str:
    """Runs ``work`` on a thread of its own: Playwright's sync API holds this one's loop."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, work).result()


def log_in(page: Page, hub: RunningHub, login: str) -> None:
    page.goto(f"{hub.url}/console")
    expect(page.locator("h1")).to_have_text("Đăng nhập")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.box button[type=submit]")
    expect(page.locator("h1")).to_have_text("Tổng quan")


def test_log_in_register_an_agency_and_an_app_and_approve_it(
        page: Page, hub: RunningHub, world: dict[str, Any], shots: Path) -> None:
    page.goto(f"{hub.url}/console/login")
    page.screenshot(path=shots / "login.png")
    log_in(page, hub, f"ttcntt@{DOMAIN}")
    page.click("text=Đăng ký")
    code = next_code()
    page.fill("#add-agency input[name=code]", code)
    page.fill("#add-agency input[name=name]", "Sở Tài nguyên và Môi trường")
    page.click("#add-agency button")
    expect(page.locator(".done")).to_contain_text(code)
    page.select_option("#add-app select[name=agency_code]", code)
    page.fill("#add-app input[name=name]", "QLVB Tài nguyên")
    page.click("#add-app button")
    row = page.locator("#apps tr", has_text="QLVB Tài nguyên")
    expect(row.locator(".state")).to_have_text("registered")
    row.locator("button.approve").click()
    expect(page.locator("#secret-key")).to_be_visible()
    page.screenshot(path=shots / "registry.png", full_page=True)
    world.update(code=code, access_key=page.inner_text("#access-key"),
                 secret_key=page.inner_text("#secret-key"))
    expect(page.locator("#apps tr", has_text="QLVB Tài nguyên").locator(".state")
           ).to_have_text("approved")
    page.click("text=Nhật ký")
    expect(page.locator("#audit")).to_contain_text("AppApproved")
    page.screenshot(path=shots / "audit.png", full_page=True)


def test_a_package_sent_by_the_client_shows_on_the_dashboard_and_its_timeline(
        page: Page, hub: RunningHub, world: dict[str, Any], shots: Path,
        tmp_path: Path) -> None:
    source = {"code": world["code"], "access_key": world["access_key"],
              "secret_key": world["secret_key"]}
    destination = agency_with_app(hub)
    package_id = apart(send_one(hub, source, destination, tmp_path, status="03"))
    world["package_id"] = package_id
    log_in(page, hub, f"ttcntt@{DOMAIN}")
    for _ in range(100):  # the statistics fold runs behind the send: reload until it shows
        if page.inner_text("#sent-today") != "0":
            break
        page.wait_for_timeout(300)
        page.reload()
    expect(page.locator("#sent-today")).to_have_text("1")
    expect(page.locator("#waiting")).to_have_text("1")
    page.screenshot(path=shots / "dashboard.png", full_page=True)
    page.click("text=Gói tin")
    page.fill("input[name=q]", "bao cao thang")
    page.click("#search button")
    page.click(f"a[href='/console/packages/{package_id}']")
    delivery = page.locator(f"section.delivery[data-code='{destination['code']}']")
    expect(delivery).to_contain_text("PackageSealed")
    expect(delivery).to_contain_text("03")
    page.screenshot(path=shots / "package.png", full_page=True)


def test_an_agency_report_downloads(page: Page, hub: RunningHub, world: dict[str, Any],
                                    shots: Path, tmp_path: Path) -> None:
    log_in(page, hub, f"ttcntt@{DOMAIN}")
    page.click("text=Đơn vị")
    page.fill("input[name=q]", "tai nguyen moi truong")
    page.click("#search button")
    page.screenshot(path=shots / "agencies.png", full_page=True)
    page.click(f"a[href='/console/agencies/{world['code']}']")
    page.screenshot(path=shots / "agency.png", full_page=True)
    with page.expect_download() as download:
        page.click("#csv")
    saved = tmp_path / "report.csv"
    download.value.save_as(saved)
    lines = saved.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("agency,name,date,sent")
    assert lines[-1].startswith(f"{world['code']},Sở Tài nguyên và Môi trường,")
    assert lines[-1].split(",")[3] == "1", "the package sent today is counted"


def test_the_alerts_page_shows_an_agencys_contacts(
        page: Page, hub: RunningHub, world: dict[str, Any], shots: Path) -> None:
    log_in(page, hub, f"ttcntt@{DOMAIN}")
    page.click("text=Cảnh báo")
    page.select_option("#set-alerts select[name=agency_code]", world["code"])
    page.fill("#set-alerts input[name=emails]", "vanthu@stnmt.gov.vn")
    page.fill("#set-alerts input[name=unfetched_hours]", "4")
    page.fill("#set-alerts input[name=offline_hours]", "24")
    page.click("#set-alerts button")
    row = page.locator("#alert-policies tr", has_text=world["code"])
    expect(row).to_contain_text("vanthu@stnmt.gov.vn")
    page.screenshot(path=shots / "alerts.png", full_page=True)


def test_the_console_switches_to_english(page: Page, hub: RunningHub) -> None:
    log_in(page, hub, f"ttcntt@{DOMAIN}")
    page.click("text=EN")
    expect(page.locator("h1")).to_have_text("Dashboard")
    page.click("text=VI")
    expect(page.locator("h1")).to_have_text("Tổng quan")


def test_an_agency_admin_cannot_see_another_agency(
        page: Page, hub: RunningHub, world: dict[str, Any], shots: Path) -> None:
    mine = agency_with_app(hub)
    log_in(page, hub, f"ttcntt@{DOMAIN}")  # an admin makes its account on the registry page
    page.click("text=Đăng ký")
    page.fill("#add-account input[name=login]", f"{mine['code']}@{DOMAIN}")
    page.select_option("#add-account select[name=role]", "agency-admin")
    page.select_option("#add-account select[name=agency_code]", mine["code"])
    page.fill("#add-account input[name=password]", PASSWORD)
    page.fill("#add-account input[name=password2]", PASSWORD)
    page.click("#add-account button")
    expect(page.locator("#accounts")).to_contain_text(f"{mine['code']}@{DOMAIN}".lower())
    page.locator("#add-account").scroll_into_view_if_needed()
    page.screenshot(path=shots / "accounts.png")
    page.context.clear_cookies()
    log_in(page, hub, f"{mine['code']}@{DOMAIN}")
    page.click("text=Đơn vị")
    expect(page.locator("#agencies")).to_contain_text(mine["code"])
    expect(page.locator("#agencies")).not_to_contain_text(world["code"])
    answer = page.goto(f"{hub.url}/console/agencies/{world['code']}")
    assert answer is not None and answer.status == 404
    answer = page.goto(f"{hub.url}/console/packages/{world['package_id']}")
    assert answer is not None and answer.status == 404
    expect(page.locator(".error")).to_be_visible()
