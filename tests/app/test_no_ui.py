"""``app`` never names ``ui``: the desktop application plugs in through entry points (pyproject.toml), so the
application layer, its CLI and its reports work without the UI package and never import it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from devkit.imports import iter_modules, references_to

ROOT = Path(__file__).resolve().parents[2]


def test_no_module_under_app_imports_or_names_ui() -> None:
    modules = list(iter_modules("app", ROOT))
    assert len(modules) > 50  # the scan really walked app/
    found = [f"{path.relative_to(ROOT)}:{line}: {what}" for _, path in modules
             for line, what in references_to("ui", path, ROOT)]
    assert not found, "app names ui:\n" + "\n".join(found)


def test_the_scan_sees_imports_and_strings_that_name_ui(tmp_path: Path) -> None:
    pkg = tmp_path / "app"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "bad.py").write_text(
        "import ui.workers\n"
        "from ui import report_pdf\n"
        "def f():\n"
        "    from ui.command import run\n"
        "WRITER = 'ui.report_pdf:write_pdf'\n"
        "NAME = f\"{'x'} ui.command\"\n"
        "OK = 'the UI. build_ui.x gui.y'\n"
    )
    found = references_to("ui", pkg / "bad.py", tmp_path)
    assert [line for line, _ in found] == [1, 2, 4, 5, 6]


IMPORT_ALL = """
import importlib, json, pkgutil, sys
import app
names = [m.name for m in pkgutil.walk_packages(app.__path__, "app.")
         if not m.name.startswith("app.store.migrations")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"imported": names, "loaded": sorted(sys.modules)}))
"""


def test_importing_every_app_module_loads_no_ui_module() -> None:
    result = subprocess.run([sys.executable, "-c", IMPORT_ALL], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert "app.runtime.core" in out["imported"] and "app.report.html" in out["imported"]
    ui_loaded = [m for m in out["loaded"] if m == "ui" or m.startswith("ui.")]
    assert not ui_loaded, f"importing app loaded {ui_loaded}"
