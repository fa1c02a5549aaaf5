"""The operators' console over HTTP, on both backends (issue 16): accounts, sessions,
CSRF, lockout, registry actions recorded as the API's events, live data, agency-admins
confined to their agency."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import BACKENDS, backend_hub
from tests.e2e.console_helpers import PASSWORD, console_user, csrf_of, logged_in, polled, send_one
from tests.e2e.exchange import agency_with_app, next_code
from tests.e2e.hubs import RunningHub

DOMAIN = "truc.local"


@pytest.fixture(scope="module", params=BACKENDS)
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[RunningHub]:
    with backend_hub(request, tmp_path_factory, "console",
                     console_lockout_failures="3") as running:
        yield running


@pytest.fixture(scope="module")
def operator(hub: RunningHub) -> httpx.Client:
    console_user(hub, f"ttcntt@{DOMAIN}", "admin")
    return logged_in(hub, f"ttcntt@{DOMAIN}")


def test_pages_need_a_session(hub: RunningHub) -> None:
    for path in ("/console", "/console/agencies", "/console/registry", "/console/audit"):
        answer = httpx.get(f"{hub.url}{path}", timeout=30)
        assert answer.status_code == 303 and answer.headers["location"] == "/console/login"


def test_console_is_not_in_the_openapi_document(hub: RunningHub) -> None:
    paths = httpx.get(f"{hub.url}/openapi.json", timeout=30).json()["paths"]
    assert not [p for p in paths if p.startswith(("/console", "/metrics"))]


def test_the_login_page_is_vietnamese_first_and_switches_to_english(hub: RunningHub) -> None:
    browser = httpx.Client(base_url=hub.url, timeout=30)
    assert "Đăng nhập" in browser.get("/console/login").text
    browser.get("/console/lang/en")
    assert "Log in" in browser.get("/console/login").text


def test_a_wrong_password_is_refused_and_repeated_failures_lock(hub: RunningHub) -> None:
    console_user(hub, f"khoa@{DOMAIN}", "auditor")
    browser = httpx.Client(base_url=hub.url, timeout=30)
    token = csrf_of(browser.get("/console/login").text)
    for _ in range(3):
        wrong = browser.post("/console/login", data={"csrf": token, "login": f"khoa@{DOMAIN}",
                                                     "password": "not-the-password"})
        assert wrong.status_code == 401
    locked = browser.post("/console/login", data={"csrf": token, "login": f"khoa@{DOMAIN}",
                                                  "password": PASSWORD})
    assert locked.status_code == 429, "locked even with the right password"


def test_a_login_without_the_csrf_cookie_is_refused(hub: RunningHub) -> None:
    answer = httpx.post(f"{hub.url}/console/login", timeout=30,
                        data={"csrf": "x", "login": f"ttcntt@{DOMAIN}", "password": PASSWORD})
    assert answer.status_code == 403


def test_console_accounts_are_name_at_domain(hub: RunningHub) -> None:
    code = agency_with_app(hub)["code"]
    bad = hub.truc("admin", "console-user", "add", f"someone@{DOMAIN}", "--role",
                   "agency-admin", "--agency", code, "--password-stdin", check=False)
    assert bad.returncode != 0 and "invalid_login" in bad.stderr


def test_registry_actions_record_the_apis_events(hub: RunningHub,
                                                 operator: httpx.Client) -> None:
    code = next_code()
    token = csrf_of(operator.get("/console/registry").text)
    added = operator.post("/console/registry/agencies",
                          data={"csrf": token, "code": code, "name": "Sở Nội vụ"})
    assert added.status_code == 200 and code in added.text
    page = operator.post("/console/registry/apps",
                         data={"csrf": token, "agency_code": code, "name": "QLVB-console"})
    app_id = next(a["app_id"] for a in hub.ops("GET", "/v1/ops/apps")
                  if a["agency_code"] == code)
    assert app_id in page.text
    approved = operator.post(f"/console/registry/apps/{app_id}/approve", data={"csrf": token})
    secret = re.search(r'id="secret-key">([^<]+)<', approved.text)
    access = re.search(r'id="access-key">([^<]+)<', approved.text)
    assert secret and access
    listed = next(a for a in hub.ops("GET", "/v1/ops/apps") if a["app_id"] == app_id)
    assert listed["state"] == "approved"
    audit = operator.get("/console/audit").text
    assert "AppApproved" in audit and f"ttcntt@{DOMAIN}" in audit
    forged = operator.post(f"/console/registry/apps/{app_id}/revoke", data={"csrf": "forged"})
    assert forged.status_code == 403
    still = next(a for a in hub.ops("GET", "/v1/ops/apps") if a["app_id"] == app_id)
    assert still["state"] == "approved", "a forged form changes nothing"


def test_a_package_shows_on_the_dashboard_and_in_its_timeline(
        hub: RunningHub, operator: httpx.Client, tmp_path: Path) -> None:
    source, destination = agency_with_app(hub), agency_with_app(hub)
    before = _card(operator.get("/console").text, "sent-today")
    package_id = asyncio.run(send_one(hub, source, destination, tmp_path, status="03"))
    found = operator.get("/console/packages", params={"q": "bao cao thang"}).text
    assert package_id in found
    polled(lambda: _card(operator.get("/console").text, "sent-today") == before + 1)
    assert _card(operator.get("/console").text, "waiting") >= 1
    page = operator.get(f"/console/packages/{package_id}").text
    assert destination["code"] in page and "PackageSealed" in page and "<b>03</b>" in page


def test_an_agency_report_downloads_as_csv(hub: RunningHub, operator: httpx.Client) -> None:
    code = agency_with_app(hub)["code"]
    answer = operator.get(f"/console/agencies/{code}/statistics.csv")
    assert answer.status_code == 200 and "attachment" in answer.headers["content-disposition"]
    assert answer.text.lstrip("\ufeff").startswith("agency,name,date,sent")


def test_agencies_search_ignores_accents(hub: RunningHub, operator: httpx.Client) -> None:
    code = next_code()
    hub.ops("POST", "/v1/ops/agencies", {"code": code, "name": "Sở Giáo dục và Đào tạo"})
    assert code in operator.get("/console/agencies", params={"q": "giao duc dao tao"}).text
    assert code not in operator.get("/console/agencies", params={"q": "y te"}).text


def test_an_agency_admin_sees_only_its_agency(hub: RunningHub, tmp_path: Path) -> None:
    mine, other = agency_with_app(hub), agency_with_app(hub)
    console_user(hub, f"{mine['code']}@{DOMAIN}", "agency-admin", mine["code"])
    admin = logged_in(hub, f"{mine['code']}@{DOMAIN}")
    theirs = asyncio.run(send_one(hub, other, agency_with_app(hub), tmp_path))
    listing = admin.get("/console/agencies").text
    assert mine["code"] in listing and other["code"] not in listing
    assert admin.get(f"/console/agencies/{other['code']}").status_code == 404
    assert admin.get(f"/console/agencies/{other['code']}/statistics.csv").status_code == 404
    assert admin.get(f"/console/packages/{theirs}").status_code == 404
    token = csrf_of(admin.get("/console/registry").text)
    refused = admin.post("/console/registry/agencies",
                         data={"csrf": token, "code": next_code(), "name": "X"})
    assert refused.status_code == 403, "registry changes are for admins"


def _card(html: str, name: str) -> int:
    found = re.search(rf'id="{name}">(\d+)<', html)
    assert found is not None, name
    return int(found.group(1))




def test_packages_are_found_by_sender_recipient_and_date(
        hub: RunningHub, operator: httpx.Client, tmp_path: Path) -> None:
    a, b, c = agency_with_app(hub), agency_with_app(hub), agency_with_app(hub)
    a_to_b = asyncio.run(send_one(hub, a, b, tmp_path))
    c_to_b = asyncio.run(send_one(hub, c, b, tmp_path))
    a_to_c = asyncio.run(send_one(hub, a, c, tmp_path))

    def found(**params: str) -> set[str]:
        page = operator.get("/console/packages", params=params)
        assert page.status_code == 200, page.text
        return {p for p in (a_to_b, c_to_b, a_to_c) if p in page.text}

    polled(lambda: found(recipient=b["code"]) == {a_to_b, c_to_b})
    assert found(sender=a["code"]) == {a_to_b, a_to_c}
    assert found(sender=a["code"], recipient=b["code"]) == {a_to_b}
    assert found(sender=c["code"], q="bao cao thang") == {c_to_b}
    assert found(sender=c["code"], q="khong co") == set()
    assert found(sender=a["code"], since="2000-01-01", until="2000-01-31") == set()
    bad = operator.get("/console/packages", params={"since": "hôm qua"})
    assert bad.status_code == 400


def test_an_admin_creates_console_accounts_from_the_registry_page(
        hub: RunningHub, operator: httpx.Client) -> None:
    code = agency_with_app(hub)["code"]
    token = csrf_of(operator.get("/console/registry").text)
    login = f"{code}@{DOMAIN}".lower()
    made = operator.post("/console/registry/accounts", data={
        "csrf": token, "login": login, "role": "agency-admin", "agency_code": code,
        "password": PASSWORD, "password2": PASSWORD})
    assert made.status_code == 200 and 'class="done"' in made.text
    assert re.search(rf"<td>{re.escape(login)}</td><td>agency-admin</td><td>{code}</td>",
                     made.text), "the account is listed with its role and agency"
    listed = [o for o in hub.ops("GET", "/v1/ops/operators") if o["name"] == login]
    assert [(o["role"], o["agency_code"]) for o in listed] == [("agency-admin", code)]
    assert "OperatorRegistered" in operator.get("/console/audit").text
    admin = logged_in(hub, login)
    assert code in admin.get("/console/agencies").text
    refused = admin.post("/console/registry/accounts", data={
        "csrf": csrf_of(admin.get("/console/registry").text), "login": f"x1@{DOMAIN}",
        "role": "admin", "password": PASSWORD, "password2": PASSWORD})
    assert refused.status_code == 403, "accounts are made by admins only"
    assert 'id="add-account"' not in admin.get("/console/registry").text


def test_accounts_made_on_the_command_line_are_listed_by_login(
        hub: RunningHub, operator: httpx.Client) -> None:
    console_user(hub, f"kiemtoan@{DOMAIN}", "auditor", name="Nguyễn Văn Kiểm")
    page = operator.get("/console/registry").text
    assert f"<td>kiemtoan@{DOMAIN}</td><td>auditor</td>" in page, "found by its id, not name"
    assert f"<td>ttcntt@{DOMAIN}</td><td>admin</td>" in page


@pytest.mark.parametrize(("password", "again", "code"), [
    ("court", "court", "weak_password"),
    (PASSWORD, PASSWORD + "x", "password_mismatch"),
])
def test_a_bad_console_password_is_refused_and_records_nothing(
        hub: RunningHub, operator: httpx.Client, password: str, again: str,
        code: str) -> None:
    login = f"{code.replace('_', '-')}@{DOMAIN}"
    before = len(hub.ops("GET", "/v1/ops/operators"))
    answer = operator.post("/console/registry/accounts", data={
        "csrf": csrf_of(operator.get("/console/registry").text), "login": login,
        "role": "auditor", "password": password, "password2": again})
    assert answer.status_code == 400 and code in answer.text and 'role="alert"' in answer.text
    assert len(hub.ops("GET", "/v1/ops/operators")) == before
    assert login not in operator.get("/console/registry").text
