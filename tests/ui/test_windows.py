"""Every main window gets the studio's one Session and Tools menus; tools opened from a window close with it."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.qt


def _menu(window, title: str) -> list[str]:
    for action in window.menuBar().actions():
        if action.text().replace("&", "") == title:
            return [a.text() for a in action.menu().actions() if a.text()]
    raise AssertionError(f"no {title} menu in {[a.text() for a in window.menuBar().actions()]}")


def _trigger(window, title: str, item: str) -> None:
    for action in window.menuBar().actions():
        if action.text().replace("&", "") == title:
            next(a for a in action.menu().actions() if a.text() == item).trigger()
            return


def test_the_session_window_and_the_inspector_share_the_menus(qtbot, tmp_path, monkeypatch, assets_dir):
    from studio.core.session.library import create_session
    from studio.ui.tools.inspector import RigInspectorWindow
    from studio.ui.windows import open_session_window, open_windows

    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    session = create_session(tmp_path / "s", "Ada", "ict_full", expression_names=["jaw_open"])
    window = open_session_window(session.folder)
    qtbot.addWidget(window)
    assert _menu(window, "Session") == ["New session…", "Open session…", "Open recent", "Open demo session",
                                        "Save a copy as…", "Close"]
    assert _menu(window, "Tools") == ["Rig inspector", "Live tracking…"]
    assert open_session_window(session.folder) is window  # one window per session

    _trigger(window, "Tools", "Rig inspector")
    inspector = next(w for w in open_windows() if isinstance(w, RigInspectorWindow))
    assert _menu(inspector, "Session") == ["New session…", "Open session…", "Open recent", "Open demo session",
                                           "Close"]  # no session of its own to save a copy of
    assert _menu(inspector, "Tools") == ["Live tracking…"]  # it does not offer itself
    window.close()
    qtbot.waitUntil(lambda: inspector not in open_windows() and window not in open_windows(), timeout=10_000)
