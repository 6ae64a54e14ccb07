"""The admin's layers and security log in real headless Chromium (static/atlas-admin-layers.js), against
the real server: an admin drops a layer and brings it back (drawn again, as many features), restores
a layer to a time before an edit (the edit gone, the restore a new revision in the change log), and
reads the security log, filtered, with a hostile user name shown as text. Users are made by the
command line (``flask users add --password-stdin``); the refusals provoked are declared."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta

import pytest

from tests.browser.conftest import PASSWORD, atlas_server
from tests.browser.test_edit_ui import HOSTILE, VIEW, api, login

ADMIN = "管理员"


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory):
    server = atlas_server(tmp_path_factory.mktemp("atlas-admin-layers"), [(ADMIN, "admin")])
    yield server
    server.stop()


def status_of(server, path):
    try:
        with urllib.request.urlopen(server.url + path) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def open_admin(page):
    page.page.locator(".atlas-tool-admin").click()
    panel = page.page.locator(".atlas-admin")
    panel.locator(".atlas-admin-layer[data-layer=projects]").wait_for()
    return panel


def overlay_names(page):
    return page.page.locator(".leaflet-control-layers-overlays label").all_inner_texts()


def test_an_admin_drops_a_layer_and_brings_it_back_drawn_again(open_map, admin_server):
    page = open_map(VIEW, server=admin_server)
    drawn = page.drawn_ids("parks")
    assert len(drawn) == 2
    names = overlay_names(page)
    login(page, ADMIN)
    panel = open_admin(page)
    row = panel.locator(".atlas-admin-layer[data-layer=parks]")
    # drop: a confirmation naming the layer first, with a reason
    row.locator(".atlas-admin-drop").click()
    confirm = row.locator(".atlas-admin-confirm-text")
    assert "公园与景区" in confirm.inner_text()
    assert status_of(admin_server, "/api/layers/parks") == 200  # nothing done before the confirmation
    row.locator("input[name=message]").fill("规划调整，暂时删除")
    row.locator(".atlas-admin-drop-yes").click()
    dropped = panel.locator(".atlas-admin-dropped[data-layer=parks]")
    dropped.wait_for()
    assert "公园与景区" in dropped.locator(".atlas-admin-dropped-name").inner_text()
    assert panel.locator(".atlas-admin-layer[data-layer=parks]").count() == 0
    panel.locator(".atlas-admin-layers .atlas-admin-msg", has_text="已删除").wait_for()
    assert status_of(admin_server, "/api/layers/parks") == 404
    assert "parks" not in [lay["id"] for lay in api(admin_server, "/api/layers")["layers"]]
    # out of the page: the map, the layer control, the URL
    assert page.js("() => !Atlas.layers.parks && !Atlas.layerConfig('parks')")
    assert len(overlay_names(page)) == len(names) - 1
    page.page.wait_for_function("() => !new URLSearchParams(location.search).get('layers').split(',').includes('parks')")
    # brought back: in the page again, drawn from the server, as many features as before
    dropped.locator("input[name=message]").fill("恢复公园图层")
    dropped.locator(".atlas-admin-undelete").click()
    panel.locator(".atlas-admin-layer[data-layer=parks]").wait_for()
    page.page.wait_for_function("() => Atlas.layers.parks && Atlas.map.hasLayer(Atlas.layers.parks)")
    page.wait_idle()
    assert page.drawn_ids("parks") == drawn
    assert sorted(overlay_names(page)) == sorted(names)
    assert panel.locator(".atlas-admin-dropped").count() == 0
    panel.locator(".atlas-admin-layers .atlas-admin-msg", has_text="已恢复").wait_for()
    assert len(api(admin_server, "/api/layers/parks")["features"]) == 2
    page.page.wait_for_function("() => new URLSearchParams(location.search).get('layers').split(',').includes('parks')")
    # the history was kept: the drop and the return are revisions, with their reasons
    log = api(admin_server, "/api/revisions?limit=2")["revisions"]
    assert [r["message"] for r in log] == ["恢复公园图层", "规划调整，暂时删除"]
    assert {r["actor"] for r in log} == {ADMIN}
    assert api(admin_server, "/api/features/parks-huaxiacheng/history")["revisions"][0]["message"] == "恢复公园图层"


def test_an_admin_restores_a_layer_to_a_time_before_an_edit(open_map, admin_server):
    book = admin_server.app.extensions["atlas_accounts"]
    token = book.create_token(ADMIN, "restore-test", "admin")["token"]
    time.sleep(1.1)
    before_edit = datetime.now().astimezone()  # the browser's local time, as the input takes it
    time.sleep(1.1)
    version = api(admin_server, "/api/features/projects-yuanyao")["version"]
    req = urllib.request.Request(
        admin_server.url + "/api/layers/projects/features/projects-yuanyao", method="PATCH",
        data=json.dumps({"properties": {"status": "completed", "name_zh": "改名后的湾区"}, "message": "竣工"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}", "If-Match": f'"{version}"'})
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 200
    edit_revision = api(admin_server, "/api/revisions?limit=1")["revisions"][0]["id"]
    page = open_map(VIEW, server=admin_server)
    props = "() => Atlas.layers.projects.findFeature('projects-yuanyao').feature.properties"
    assert page.js(props)["status"] == "completed"
    login(page, ADMIN)
    panel = open_admin(page)
    row = panel.locator(".atlas-admin-layer[data-layer=projects]")
    row.locator(".atlas-admin-restore-layer").click()
    row.locator(".atlas-admin-restore-go").click()  # no time yet: said, nothing sent
    assert "请选择时间" in row.locator(".atlas-admin-ask").inner_text()
    row.locator("input[name=restore_as_of]").fill(before_edit.strftime("%Y-%m-%dT%H:%M:%S"))
    row.locator("input[name=message]").fill("撤销竣工标记")
    row.locator(".atlas-admin-restore-go").click()
    question = row.locator(".atlas-admin-confirm-text").inner_text()
    assert "重点项目" in question and before_edit.strftime("%H:%M") in question
    assert api(admin_server, "/api/features/projects-yuanyao")["properties"]["status"] == "completed"
    row.locator(".atlas-admin-restore-yes").click()
    page.page.wait_for_function("() => { const f = Atlas.layers.projects.findFeature('projects-yuanyao');"
                                " return !!f && f.feature.properties.status === 'operating'; }")
    page.wait_idle()
    now = api(admin_server, "/api/features/projects-yuanyao")["properties"]
    assert now["status"] == "operating" and now["name_zh"] == "远遥浅海科技湾区"
    assert page.js(props)["name_zh"] == "远遥浅海科技湾区"
    panel.locator(".atlas-admin-layers .atlas-admin-msg", has_text="已恢复").wait_for()
    # a new revision, in the change log with its reason and actor (the edit's stays below it)
    page.page.locator(".atlas-tool-history").click()
    first = page.page.locator(".atlas-log .atlas-revision").first
    first.wait_for()
    assert "撤销竣工标记" in first.inner_text() and ADMIN in first.inner_text()
    newest = api(admin_server, "/api/revisions?limit=2")["revisions"]
    assert newest[0]["message"] == "撤销竣工标记" and newest[0]["id"] > edit_revision
    assert newest[1]["id"] == edit_revision and newest[1]["message"] == "竣工"
    assert int(first.get_attribute("data-revision")) == newest[0]["id"]


def test_the_security_log_shows_logins_and_a_hostile_name_as_text(open_map, admin_server):
    page = open_map(VIEW, server=admin_server)
    page.watch.expect(401, "/api/session")  # the hostile name's failed login
    login(page, HOSTILE, "not-the-password-1")
    page.page.locator(".atlas-account .atlas-error").wait_for()
    login(page, ADMIN, PASSWORD)
    open_admin(page)
    audit = page.page.locator(".atlas-admin-audit")
    audit.locator(".atlas-audit-event").first.wait_for()
    rows = audit.locator(".atlas-audit-event")
    times = [rows.nth(i).locator(".atlas-audit-time").get_attribute("title") for i in range(rows.count())]
    assert times == sorted(times, reverse=True)  # newest first
    first = audit.locator(".atlas-audit-event[data-action=login]").first
    assert first.locator(".atlas-audit-user").inner_text() == ADMIN
    assert first.locator(".atlas-audit-address").inner_text() == "127.0.0.1"
    failed = audit.locator(".atlas-audit-event[data-action=login_failed]").first
    assert failed.locator(".atlas-audit-user").inner_text() == HOSTILE  # the name as text, not an element
    assert failed.locator(".atlas-audit-action").inner_text() == "登录失败"
    assert "unknown_user" in failed.locator(".atlas-audit-outcome").inner_text()
    assert page.js("() => document.querySelectorAll('.atlas-admin img').length") == 0
    # filters: an action, a user, a date range
    audit.locator("select[name=audit_action]").select_option("login_failed")
    audit.locator(".atlas-audit-show").click()
    page.page.wait_for_function("() => [...document.querySelectorAll('.atlas-audit-event')]"
                                ".every(r => r.dataset.action === 'login_failed')")
    assert rows.count() >= 1
    audit.locator("select[name=audit_action]").select_option("")
    audit.locator("input[name=audit_user]").fill(HOSTILE)
    audit.locator(".atlas-audit-show").click()
    page.page.wait_for_function("n => [...document.querySelectorAll('.atlas-audit-user')].every(c => c.textContent === n)",
                                arg=HOSTILE)
    assert rows.count() == 1
    audit.locator("input[name=audit_user]").fill(ADMIN)
    today = datetime.now().astimezone()
    audit.locator("input[name=audit_since]").fill(today.strftime("%Y-%m-%d"))
    audit.locator("input[name=audit_until]").fill(today.strftime("%Y-%m-%d"))
    audit.locator(".atlas-audit-show").click()
    page.page.wait_for_function("n => document.querySelector('.atlas-audit-event') && [...document.querySelectorAll("
                                "'.atlas-audit-user')].every(c => c.textContent === n)", arg=ADMIN)
    assert audit.locator(".atlas-audit-event[data-action=login]").count() >= 1
    tomorrow = (today + timedelta(days=1)).strftime("%Y-%m-%d")
    audit.locator("input[name=audit_since]").fill(tomorrow)
    audit.locator("input[name=audit_until]").fill(tomorrow)
    audit.locator(".atlas-audit-show").click()
    audit.locator(".atlas-audit-out", has_text="没有符合条件的记录").wait_for()
    assert rows.count() == 0
    assert page.js("() => document.querySelectorAll('.atlas-admin img').length") == 0
