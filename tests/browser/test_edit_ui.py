"""Editing on the map in real headless Chromium: our drawing control (atlas-draw.js), the page with
no accounts, and the whole round of issue 9's acceptance point 5.

Two kinds of test live here:

* The first ones need nothing beyond today's server: the drawing control shows a polygon's 亩 while
  it is drawn, undo takes the last vertex back, vertices are moved, added and removed, a polygon
  whose boundary crosses itself is refused with the crossing marked (and a place the server refuses
  is marked the same way), and a server without ``/api/session`` serves a page with no error and no
  edit control.
* The END-TO-END tests below the line ``-- end to end`` run against the real server (session, CSRF,
  feature writes with If-Match, history, as_of, restore; users made by ``flask users add``). They
  log in, edit attributes, draw a polygon and see its 亩, save with a reason, see it in the history,
  view the atlas as of before the edit, restore; a viewer sees no edit control and a forged request
  (no or a wrong CSRF token, a viewer's PATCH) is refused by the server; hostile text in an edited
  field is shown as text. The refusals they provoke are declared (``watch.expect``), so no other
  error in the page passes unnoticed.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import datetime

import pytest
from pyproj import Geod

from tests.browser.conftest import PASSWORD, atlas_server

VIEW = "?center=37.4675,122.1075&zoom=12"
GEOD = Geod(ellps="GRS80")
#: Corners of a quadrilateral clear of the controls at VIEW (lat, lng), counter-clockwise.
QUAD = [(37.430, 122.120), (37.430, 122.160), (37.452, 122.165), (37.455, 122.118)]
HOSTILE = "<img src=x onerror=alert(1)>"


def click_at(page, lat, lng, button="left"):
    x, y = page.screen_point(lat, lng)
    page.page.mouse.move(x, y, steps=2)
    page.page.mouse.click(x, y, button=button)
    page.page.wait_for_timeout(120)  # not a double-click


def draw_state(page):
    return page.js("() => Atlas.draw.state()")


def draw_text(page):
    return page.page.locator(".atlas-draw-box .atlas-draw-value").inner_text()


def geod_area(latlngs):
    area, _ = GEOD.polygon_area_perimeter([p[1] for p in latlngs], [p[0] for p in latlngs])
    return abs(area)


def ring_of(state):
    coords = state["geometry"]["coordinates"][0][:-1]
    return [(lat, lng) for lng, lat in coords]


# -- the drawing control, no server routes needed --------------------------------------------------
def test_a_polygon_drawn_shows_its_mu_live_and_undo_takes_the_last_vertex_back(open_map):
    page = open_map(VIEW)
    page.js("() => { Atlas.draw.start({kind: 'polygon', type: 'Polygon'}); }")
    assert page.page.locator(".atlas-draw-box").is_visible()
    for lat, lng in QUAD[:3]:
        click_at(page, lat, lng)
    three = draw_state(page)
    assert three["vertices"] == 3 and three["drawing"]
    text = draw_text(page)
    assert "亩" in text and "公顷" in text and "m²" in text
    clicked = [tuple(ll) for ll in page.js("() => Atlas.draw.editor().parts[0].pts.map(p => [p.lat, p.lng])")]
    assert three["area_m2"] == pytest.approx(geod_area(clicked), rel=1e-3)
    mu = three["area_m2"] / (10000 / 15)
    assert page.js("n => Atlas.number(n, 1)", mu) in text
    # live: the pointer's place counts while drawing, before any click
    x, y = page.screen_point(*QUAD[3])
    page.page.mouse.move(x, y, steps=3)
    page.page.wait_for_timeout(80)
    assert draw_text(page) != text
    click_at(page, *QUAD[3])
    assert draw_state(page)["vertices"] == 4
    page.page.locator(".atlas-draw-undo").click()
    back = draw_state(page)
    assert back["vertices"] == 3 and back["area_m2"] == pytest.approx(three["area_m2"], rel=1e-9)
    click_at(page, *QUAD[3])
    page.page.locator(".atlas-draw-finish").click()
    done = draw_state(page)
    assert done["complete"] and done["valid"] and not done["drawing"] and done["problem"] is None
    assert done["geometry"]["type"] == "Polygon" and len(done["geometry"]["coordinates"][0]) == 5
    assert done["area_m2"] == pytest.approx(geod_area(ring_of(done)), rel=1e-3)
    assert not page.js("() => document.querySelector('.leaflet-popup')")  # clicks drew, opened nothing
    page.page.locator(".atlas-draw-cancel").click()
    assert draw_state(page) is None and not page.page.locator(".atlas-draw-box").is_visible()


def test_vertices_are_moved_added_and_removed_and_each_step_undone(open_map):
    page = open_map(VIEW)
    square = {"type": "Polygon", "coordinates": [[[122.12, 37.43], [122.16, 37.43], [122.16, 37.45],
                                                   [122.12, 37.45], [122.12, 37.43]]]}
    page.js("g => { Atlas.draw.start({kind: 'polygon', type: 'Polygon', geometry: g}); }", square)
    start = draw_state(page)
    assert start["vertices"] == 4 and not start["drawing"] and start["valid"]
    assert page.page.locator(".atlas-draw-mid").count() == 4
    assert page.page.locator(".atlas-draw-vertex").count() == 4
    # a middle mark adds a vertex there
    mid = page.page.locator(".atlas-draw-mid").first.bounding_box()
    page.page.mouse.click(mid["x"] + mid["width"] / 2, mid["y"] + mid["height"] / 2)
    assert draw_state(page)["vertices"] == 5
    # a right-click removes one
    vx = page.page.locator(".atlas-draw-vertex").nth(1).bounding_box()
    page.page.mouse.click(vx["x"] + 7, vx["y"] + 7, button="right")
    assert draw_state(page)["vertices"] == 4
    # dragging moves one: the area follows
    before = draw_state(page)["area_m2"]
    x, y = page.screen_point(37.45, 122.16)
    page.page.mouse.move(x, y)
    page.page.mouse.down()
    page.page.mouse.move(x + 30, y - 30, steps=5)
    page.page.mouse.up()
    moved = draw_state(page)
    assert moved["area_m2"] > before and moved["valid"]
    # the delete button removes the chosen vertex; each step is undone in turn
    page.page.locator(".atlas-draw-vertex.atlas-selected").wait_for()
    page.page.locator(".atlas-draw-delete").click()
    assert draw_state(page)["vertices"] == 3
    for _ in range(4):
        page.page.locator(".atlas-draw-undo").click()
    assert draw_state(page)["geometry"] == square
    assert page.page.locator(".atlas-draw-undo").is_disabled()


def test_a_self_intersecting_polygon_is_refused_with_the_crossing_marked(open_map):
    page = open_map(VIEW)
    page.js("() => { Atlas.draw.start({kind: 'polygon', type: 'Polygon'}); }")
    # a bow tie: its two sides cross in the middle
    bowtie = [(37.43, 122.12), (37.43, 122.16), (37.45, 122.12), (37.45, 122.16)]
    for lat, lng in bowtie:
        click_at(page, lat, lng)
    page.page.locator(".atlas-draw-finish").click()
    state = draw_state(page)
    assert state["complete"] and not state["valid"]
    assert state["problem"] == [pytest.approx(37.44, abs=2e-4), pytest.approx(122.14, abs=2e-4)]
    problem = page.page.locator(".atlas-draw-problem")
    assert problem.is_visible() and "自相交" in problem.inner_text()
    cross = page.page.locator(".atlas-draw-cross").bounding_box()
    x, y = page.screen_point(37.44, 122.14)
    assert abs(cross["x"] + cross["width"] / 2 - x) < 3 and abs(cross["y"] + cross["height"] / 2 - y) < 3
    # put right (undo the last corner, close it elsewhere): no crossing, nothing marked
    page.page.locator(".atlas-draw-undo").click()
    page.page.locator(".atlas-draw-undo").click()
    click_at(page, 37.45, 122.12)
    page.page.locator(".atlas-draw-finish").click()
    fixed = draw_state(page)
    assert fixed["valid"] and fixed["problem"] is None and page.page.locator(".atlas-draw-cross").count() == 0
    # a place the server refuses (its ``location``) is marked too, its detail shown as text
    page.js("d => Atlas.draw.editor().markProblem([122.13, 37.435], d)", "Self-intersection " + HOSTILE)
    assert draw_state(page)["problem"] == [pytest.approx(37.435), pytest.approx(122.13)]
    assert HOSTILE in problem.inner_text()
    assert page.js("() => document.querySelectorAll('.atlas-draw-box img').length") == 0


def test_without_a_session_endpoint_the_page_is_read_only_and_error_free(open_map, live_server):
    page = open_map(VIEW)
    session = page.js("() => Atlas.config.session")
    with urllib.request.urlopen(live_server.url + "/api/layers") as resp:
        has_accounts = resp.status == 200 and session is not None
    if not has_accounts:  # today's server: nothing asked about accounts, no login, no history tools
        assert not [u for u in page.watch.api if "/api/session" in u]
        assert page.page.locator(".atlas-tool-account").count() == 0
        assert not page.page.locator(".atlas-tool-history").is_visible()
    assert page.js("() => Atlas.user") is None
    assert not page.page.locator(".atlas-tool-new").is_visible()
    x, y = page.screen_point(37.4437, 122.0631)  # 华夏城
    page.page.mouse.click(x, y)
    page.page.wait_for_selector(".leaflet-popup .atlas-popup")
    assert page.page.locator(".leaflet-popup .atlas-popup-edit").count() == 0
    assert page.js("() => Atlas.canEdit('parks')") is False


# -- end to end (acceptance point 5) --------------------------------------------------------------


@pytest.fixture(scope="module")
def edit_server(tmp_path_factory):
    server = atlas_server(tmp_path_factory.mktemp("atlas-edit"), [("规划师", "editor", ["zones", "projects"]),
                                                                 ("viewer1", "viewer"), ("管理员", "admin")])
    yield server
    server.stop()


def login(page, name, password=PASSWORD):
    if not page.page.locator(".atlas-account").is_visible():
        page.page.locator(".atlas-tool-account").click()
    page.page.fill(".atlas-account input[name=name]", name)
    page.page.fill(".atlas-account input[name=password]", password)
    page.page.locator(".atlas-account-login").click()
    if password == PASSWORD:
        page.page.wait_for_function("n => Atlas.user && Atlas.user.name === n", arg=name)


def logout(page):
    page.page.locator(".atlas-tool-account").click()
    page.page.locator(".atlas-account-logout").click()
    # logged out, the session read again and the box closed (it closes after that read: a login
    # typed into it before would be lost when it closes)
    page.page.wait_for_function("() => Atlas.session && !Atlas.user && !document.querySelector('.atlas-account-logout')"
                                " && document.querySelector('.atlas-account').hidden")


def open_popup(page, lat, lng, fid):
    page.page.keyboard.press("Escape")
    x, y = page.screen_point(lat, lng)
    page.page.mouse.click(x, y)
    page.page.wait_for_selector(f".leaflet-popup .atlas-popup[data-feature-id='{fid}']")


def api(server, path):
    with urllib.request.urlopen(server.url + path) as resp:
        return json.loads(resp.read())


def save_with_reason(page, reason):
    page.page.fill(".atlas-edit input[name=message]", reason)
    page.page.locator(".atlas-edit-save").click()
    page.page.wait_for_selector(".atlas-edit", state="detached")
    page.wait_idle()


def outer_ring(geometry):
    return geometry["coordinates"][0][0] if geometry["type"] == "MultiPolygon" else geometry["coordinates"][0]


LIKOU = (37.475, 122.055)  # the middle of 里口山 (zones-likoushan, a polygon; planned -> ...)


def test_an_editor_edits_draws_saves_sees_history_as_of_and_restores(open_map, edit_server):
    page = open_map(VIEW, server=edit_server)
    assert not page.page.locator(".atlas-tool-new").is_visible()
    login(page, "规划师")
    assert page.page.locator(".atlas-tool-new").is_visible()
    # 1. edit attributes: status and a hostile name, with a reason
    open_popup(page, *LIKOU, "zones-likoushan")
    page.page.locator(".atlas-popup-edit-button").click()
    page.page.wait_for_selector(".atlas-edit select[name=status]")
    page.page.select_option(".atlas-edit select[name=status]", "completed")
    page.page.fill(".atlas-edit input[name=name_zh]", HOSTILE)
    page.page.fill(".atlas-edit input[name=year]", "2025.5")  # not a whole number: refused, nothing sent
    page.page.locator(".atlas-edit-save").click()
    assert "整数" in page.page.locator(".atlas-edit input[name=year] ~ .atlas-field-problem").inner_text()
    page.page.fill(".atlas-edit input[name=year]", "2025")
    before_edit = datetime.now().astimezone()
    time.sleep(1.1)
    save_with_reason(page, "项目竣工")
    stored = api(edit_server, "/api/features/zones-likoushan")
    assert stored["properties"]["status"] == "completed" and stored["properties"]["name_zh"] == HOSTILE
    assert stored["properties"]["year"] == 2025
    # the hostile name is text in the popup, never an element
    open_popup(page, *LIKOU, "zones-likoushan")
    assert page.page.locator(".leaflet-popup .atlas-popup-title").inner_text() == HOSTILE
    assert page.js("() => document.querySelectorAll('.leaflet-popup img').length") == 0
    # 2. the shape: a vertex added, its 亩 shown, saved with a reason
    page.page.locator(".atlas-popup-edit-button").click()
    page.page.locator(".atlas-edit-shape-button").click()
    page.page.locator(".atlas-draw-mid").first.click()
    assert "亩" in draw_text(page) and draw_state(page)["vertices"] == 5
    save_with_reason(page, "边界修正")
    assert len(outer_ring(api(edit_server, "/api/features/zones-likoushan")["geometry"])) == 6  # 5 corners, closed
    # 3. a new polygon drawn: its 亩 while drawing, saved with a reason
    page.page.locator(".atlas-tool-new").click()
    page.page.select_option(".atlas-edit select[name=layer]", "zones")
    for lat, lng in QUAD:
        click_at(page, lat, lng)
    assert "亩" in draw_text(page)
    page.page.locator(".atlas-draw-finish").click()
    page.page.fill(".atlas-edit input[name=name_zh]", "新片区")
    page.page.select_option(".atlas-edit select[name=category]", index=1)
    page.page.locator(".atlas-edit-save").click()  # no district yet: marked as needed, nothing sent
    assert "必填" in page.page.locator(".atlas-edit select[name=district] ~ .atlas-field-problem").inner_text()
    page.page.select_option(".atlas-edit select[name=district]", index=1)
    save_with_reason(page, "新增片区")
    assert "新片区" in [f["properties"]["name_zh"] for f in api(edit_server, "/api/layers/zones")["features"]]
    # 4. the history in the popup: who, why, what changed
    open_popup(page, *LIKOU, "zones-likoushan")
    page.page.locator(".leaflet-popup .atlas-history summary").click()
    page.page.wait_for_selector(".atlas-revision")
    items = page.page.locator(".leaflet-popup .atlas-revision")
    texts = [items.nth(i).inner_text() for i in range(items.count())]
    assert "边界修正" in texts[0] and "项目竣工" in texts[1] and "规划师" in texts[1]
    assert "已建成" in texts[1] and HOSTILE in texts[1]
    items.nth(1).click()  # the shape it had then, dashed
    assert page.js("() => !!document.querySelector('.atlas-old-shape')")
    # 5. the atlas as of before the edit: the old status, a banner, the time in the URL
    page.page.locator(".atlas-tool-history").click()
    page.page.fill(".atlas-log input[name=as_of]", before_edit.strftime("%Y-%m-%dT%H:%M:%S"))
    page.page.locator(".atlas-asof-show").click()
    page.wait_idle()
    banner = page.page.locator(".atlas-asof-banner")
    assert banner.is_visible() and "显示" in banner.inner_text()
    page.page.wait_for_function("() => location.search.includes('as_of=')")  # a link to this view keeps the time
    old = page.js("() => Atlas.layers.zones.findFeature('zones-likoushan').feature.properties")
    assert old["status"] == "under_construction" and old["name_zh"] != HOSTILE
    assert not page.page.locator(".atlas-tool-new").is_visible()  # the past is not edited
    banner.locator("button").click()
    page.wait_idle()
    assert page.js("() => Atlas.layers.zones.findFeature('zones-likoushan').feature.properties.status") == "completed"
    # 6. restore the revision of "项目竣工" (the name and status it gave, the shape before 边界修正)
    page.page.locator(".atlas-log .atlas-card-close").click()
    open_popup(page, *LIKOU, "zones-likoushan")
    page.page.locator(".leaflet-popup .atlas-history summary").click()
    page.page.locator(".leaflet-popup .atlas-revision").nth(1).locator(".atlas-restore").click()
    page.page.fill(".leaflet-popup .atlas-restore-box input[name=message]", "撤回边界修正")
    page.page.locator(".leaflet-popup .atlas-restore-yes").click()
    page.page.wait_for_function("() => document.querySelector('.leaflet-popup .atlas-revision-msg')"
                                "&& document.querySelector('.leaflet-popup .atlas-revision-msg').textContent === '撤回边界修正'")
    restored = api(edit_server, "/api/features/zones-likoushan")
    assert restored["properties"]["status"] == "completed" and restored["properties"]["name_zh"] == HOSTILE
    assert len(outer_ring(restored["geometry"])) == 5  # the shape before 边界修正
    history = api(edit_server, "/api/features/zones-likoushan/history")["revisions"]
    assert history[0]["message"] == "撤回边界修正" and history[0]["actor"] == "规划师"


def test_a_viewer_sees_no_edit_control_and_a_forged_request_is_refused(open_map, edit_server):
    page = open_map(VIEW, server=edit_server)
    page.watch.expect(401, "/api/session")  # a wrong password: said in words, no user
    login(page, "viewer1", "not-the-password-1")
    wrong = page.page.locator(".atlas-account .atlas-error")
    wrong.wait_for()
    assert "用户名或密码错误" in wrong.inner_text() and page.js("() => Atlas.user") is None
    login(page, "viewer1")
    assert page.js("() => Atlas.user.role") == "viewer"
    assert not page.page.locator(".atlas-tool-new").is_visible()
    open_popup(page, *LIKOU, "zones-likoushan")
    assert page.page.locator(".leaflet-popup .atlas-popup-edit").count() == 0
    assert page.page.locator(".leaflet-popup .atlas-history").count() == 1  # reading history is allowed
    page.page.locator(".leaflet-popup .atlas-history summary").click()
    # its revisions (the editor's, when that test ran first) or "no changes recorded": never a restore
    page.page.wait_for_selector(".leaflet-popup .atlas-history-body :is(.atlas-revision, .atlas-muted)")
    assert page.page.locator(".leaflet-popup .atlas-restore").count() == 0
    # forged: the viewer's own cookie, no CSRF token / a viewer's token -> refused, nothing written
    before = api(edit_server, "/api/features/zones-likoushan")
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    for headers in ({}, {"X-CSRFToken": page.js("() => Atlas.session.csrf_token")}):
        req = urllib.request.Request(
            edit_server.url + "/api/layers/zones/features/zones-likoushan", method="PATCH",
            data=json.dumps({"properties": {"name_zh": "伪造"}, "message": "forged"}).encode(),
            headers={"Content-Type": "application/json", "Cookie": cookies,
                     "If-Match": f'"{before["version"]}"', **headers})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req)
        refused.value.close()
        assert refused.value.code in (400, 403)
    # and from the page itself, with the right CSRF token: the viewer's PATCH is refused (403)
    page.watch.expect(403, "/api/layers/zones/features/zones-likoushan")
    refused = page.js("""v => Atlas.send('PATCH', Atlas.apiUrl('layers/zones/features/zones-likoushan'),
                                     {properties: {name_zh: '伪造'}, message: 'forged'}, {'If-Match': '"' + v + '"'})
                          .then(() => null, err => [err.status, err.body.error, err.body.role])""", before["version"])
    assert refused == [403, "forbidden", "editor"]
    assert api(edit_server, "/api/features/zones-likoushan")["properties"] == before["properties"]


YUANYAO = (37.535, 122.185)  # projects-yuanyao, a point (operating)


def test_an_edit_from_a_stale_version_is_not_saved_and_the_current_one_is_shown(open_map, edit_server):
    book = edit_server.app.extensions["atlas_accounts"]
    token = book.create_token("规划师", "stale-test", "editor")["token"]
    page = open_map(VIEW, server=edit_server)
    login(page, "规划师")
    open_popup(page, *YUANYAO, "projects-yuanyao")
    page.page.locator(".atlas-popup-edit-button").click()
    page.page.wait_for_selector(".atlas-edit select[name=status]")
    # meanwhile someone else saves the feature (a script with a token: no cookie, no CSRF)
    started = api(edit_server, "/api/features/projects-yuanyao")["version"]
    req = urllib.request.Request(
        edit_server.url + "/api/layers/projects/features/projects-yuanyao", method="PATCH",
        data=json.dumps({"properties": {"name_en": "Yuanyao bay (renamed)"}, "message": "script"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}", "If-Match": f'"{started}"'})
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 200
    page.watch.expect(412, "/api/layers/projects/features/projects-yuanyao")
    page.page.select_option(".atlas-edit select[name=status]", "completed")
    page.page.locator(".atlas-edit-save").click()
    stale = page.page.locator(".atlas-edit .atlas-message.atlas-error")
    stale.wait_for()
    assert "他人修改" in stale.inner_text() and "Yuanyao bay (renamed)" in stale.inner_text()
    assert api(edit_server, "/api/features/projects-yuanyao")["properties"]["status"] == "operating"
    page.page.locator(".atlas-edit-reload").click()  # the current version in the form; saved from it
    assert page.page.locator(".atlas-edit input[name=name_en]").input_value() == "Yuanyao bay (renamed)"
    page.page.select_option(".atlas-edit select[name=status]", "completed")
    save_with_reason(page, "按最新版本修改")
    now = api(edit_server, "/api/features/projects-yuanyao")["properties"]
    assert now["status"] == "completed" and now["name_en"] == "Yuanyao bay (renamed)"


# -- the admin's panel ------------------------------------------------------------------------------
WEIQIAO = (37.40, 122.03)  # projects-weiqiao, a point (under construction)


def bearer_get(server, path, token):
    req = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_an_admin_adds_an_editor_with_a_grant_who_then_edits_only_that_layer(open_map, edit_server):
    book = edit_server.app.extensions["atlas_accounts"]
    page = open_map(VIEW, server=edit_server)
    assert not page.page.locator(".atlas-tool-admin").is_visible()
    login(page, "管理员")
    page.page.locator(".atlas-tool-admin").click()
    panel = page.page.locator(".atlas-admin")
    panel.locator(".atlas-admin-user[data-user='规划师']").wait_for()
    assert "重点项目" in panel.locator(".atlas-admin-user[data-user='规划师'] .atlas-admin-grants summary").inner_text()
    # 1. add an editor granted one layer: a weak password refused in words first (the server's 400)
    page.watch.expect(400, "/api/users")
    panel.locator(".atlas-admin-add summary").click()
    add = panel.locator(".atlas-admin-add")
    add.locator("input[name=name]").fill("编辑员")
    add.locator("select[name=role]").select_option("editor")
    add.locator("input[name=password]").fill("short")
    add.locator("input[name=grant][value=projects]").check()
    add.locator(".atlas-admin-add-button").click()
    add.locator(".atlas-admin-msg.atlas-field-problem").wait_for()
    assert "10" in add.locator(".atlas-admin-msg").inner_text() and not [u for u in book.users() if u["name"] == "编辑员"]
    add.locator("input[name=password]").fill(PASSWORD)
    add.locator(".atlas-admin-add-button").click()
    row = panel.locator(".atlas-admin-user[data-user='编辑员']")
    row.wait_for()
    assert "重点项目" in row.locator(".atlas-admin-grants summary").inner_text()
    assert book.user("编辑员")["role"] == "editor" and book.user("编辑员")["grants"] == ["projects"]
    # 2. a role changed and back, a user disabled and enabled again
    viewer = panel.locator(".atlas-admin-user[data-user='viewer1']")
    viewer.locator("select[name=role]").select_option("editor")
    page.page.wait_for_function("() => document.querySelector(\".atlas-admin-user[data-user='viewer1'] .atlas-admin-msg\")"
                                ".textContent !== ''")
    assert book.user("viewer1")["role"] == "editor"
    viewer.locator("select[name=role]").select_option("viewer")
    viewer.locator(".atlas-admin-disable").click()
    viewer.locator(".atlas-admin-state").wait_for()
    assert book.user("viewer1")["disabled"] and book.user("viewer1")["role"] == "viewer"
    viewer.locator(".atlas-admin-disable").click()
    viewer.locator(".atlas-admin-state").wait_for(state="detached")
    assert not book.user("viewer1")["disabled"]
    # 3. a token (a hostile name: shown as text), shown once, works as a bearer token until revoked
    tokens = panel.locator(".atlas-admin-tokens")
    tokens.locator("input[name=token_name]").fill(HOSTILE)
    tokens.locator(".atlas-admin-token-create").click()
    secret = tokens.locator(".atlas-admin-token-new .atlas-admin-secret")
    secret.wait_for()
    token = secret.input_value()
    assert token.startswith("atl_")
    status, body = bearer_get(edit_server, "/api/session", token)
    assert status == 200 and body["user"]["name"] == "管理员" and body["user"]["role"] == "viewer"
    made = tokens.locator(".atlas-admin-token", has_text=HOSTILE)
    assert made.locator(".atlas-admin-token-name").inner_text() == HOSTILE
    assert page.js("() => document.querySelectorAll('.atlas-admin img').length") == 0
    made.locator(".atlas-admin-revoke").click()
    made.locator(".atlas-admin-state").wait_for()
    assert bearer_get(edit_server, "/api/session", token)[0] == 401
    # 4. a layer hidden from visitors, then shown again
    parks = panel.locator(".atlas-admin-layer[data-layer=parks] input[name=hidden]")
    assert not parks.is_checked()
    parks.check()
    page.page.wait_for_function("() => !document.querySelector('.atlas-admin-layer[data-layer=parks] input').disabled")
    assert "parks" not in [lay["id"] for lay in api(edit_server, "/api/layers")["layers"]]
    page.page.locator(".atlas-tool-admin").click()  # closed and opened again: the state read back
    page.page.locator(".atlas-tool-admin").click()
    parks.wait_for()
    assert parks.is_checked()
    parks.uncheck()
    page.page.wait_for_function("() => !document.querySelector('.atlas-admin-layer[data-layer=parks] input').disabled")
    assert "parks" in [lay["id"] for lay in api(edit_server, "/api/layers")["layers"]]
    # 5. the new editor: edit controls on their layer only; the server refuses the others
    logout(page)
    assert not page.page.locator(".atlas-tool-admin").is_visible() and page.page.locator(".atlas-admin-user").count() == 0
    login(page, "编辑员")
    assert not page.page.locator(".atlas-tool-admin").is_visible()
    assert page.js("() => [Atlas.canEdit('projects'), Atlas.canEdit('zones'), Atlas.canEdit('parks')]") == [True, False, False]
    open_popup(page, *LIKOU, "zones-likoushan")
    assert page.page.locator(".leaflet-popup .atlas-popup-edit").count() == 0
    page.page.locator(".atlas-tool-new").click()
    assert page.page.locator(".atlas-edit select[name=layer] option").all_inner_texts() == ["重点项目"]
    page.page.locator(".atlas-edit-cancel").click()
    open_popup(page, *WEIQIAO, "projects-weiqiao")
    page.page.locator(".atlas-popup-edit-button").click()
    page.page.select_option(".atlas-edit select[name=status]", "completed")
    save_with_reason(page, "项目投产")
    assert api(edit_server, "/api/features/projects-weiqiao")["properties"]["status"] == "completed"
    history = api(edit_server, "/api/features/projects-weiqiao/history")["revisions"]
    assert history[0]["actor"] == "编辑员" and history[0]["message"] == "项目投产"
    page.watch.expect(403, "/api/layers/zones/features/zones-likoushan")
    version = api(edit_server, "/api/features/zones-likoushan")["version"]
    refused = page.js("""v => Atlas.send('PATCH', Atlas.apiUrl('layers/zones/features/zones-likoushan'),
                                     {properties: {status: 'planned'}, message: 'not mine'}, {'If-Match': '"' + v + '"'})
                          .then(() => null, err => err.status)""", version)
    assert refused == 403 and api(edit_server, "/api/features/zones-likoushan")["version"] == version
