"""Desktop Slicer cannot run here, so the scripted modules are checked statically: they compile,
every widget the code uses exists in the module's .ui file, every parameter-node binding in the
.ui names a parameter of the module's parameter node, and the build files ship what the modules
load at run time."""

from __future__ import annotations

import ast
import py_compile
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
MODULES = ("SynthPathology", "SynthPathologyTuringTest")


def module_source(name: str) -> ast.Module:
    return ast.parse((ROOT / "SynthPathology" / f"{name}.py").read_text(encoding="utf-8"))


def ui_tree(name: str) -> ElementTree.Element:
    return ElementTree.parse(ROOT / "Resources" / "UI" / f"{name}.ui").getroot()


def ui_widget_names(name: str) -> set[str]:
    return {w.get("name") for w in ui_tree(name).iter("widget")}


def ui_bindings(name: str) -> dict[str, str]:
    """Widget name -> SlicerParameterName for every bound widget."""
    bound = {}
    for widget in ui_tree(name).iter("widget"):
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound[widget.get("name")] = prop.find("string").text
    return bound


def used_ui_names(tree: ast.Module) -> set[str]:
    """Names accessed as ``self.ui.<name>``."""
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "ui"
        and isinstance(node.value.value, ast.Name)
        and node.value.value.id == "self"
    }


def parameters(tree: ast.Module) -> set[str]:
    """Fields of the module's @parameterNodeWrapper class."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(getattr(d, "id", None) == "parameterNodeWrapper" for d in node.decorator_list):
            return {item.target.id for item in node.body if isinstance(item, ast.AnnAssign)}
    raise AssertionError("no @parameterNodeWrapper class")


@pytest.mark.parametrize("name", MODULES)
def test_module_compiles(name, tmp_path):
    py_compile.compile(str(ROOT / "SynthPathology" / f"{name}.py"), cfile=str(tmp_path / "m.pyc"), doraise=True)


@pytest.mark.parametrize("name", MODULES)
def test_every_widget_the_module_uses_is_in_its_ui_file(name):
    missing = used_ui_names(module_source(name)) - ui_widget_names(name)
    assert not missing, f"{name}.py uses widgets missing from {name}.ui: {sorted(missing)}"


@pytest.mark.parametrize("name", MODULES)
def test_ui_bindings_name_parameters_of_the_parameter_node(name):
    unknown = {w: p for w, p in ui_bindings(name).items() if p not in parameters(module_source(name))}
    assert not unknown, f"{name}.ui binds widgets to unknown parameters: {unknown}"


def test_lesion_module_binds_every_input_and_setting():
    bound = set(ui_bindings("SynthPathology").values())
    assert {"t1", "t1c", "t2", "flair", "seed", "diameterMm", "randomSeed", "variants", "device", "opacity",
            "massEffectMm", "libraryLesion"} <= bound


@pytest.mark.parametrize("name", MODULES)
def test_ui_custom_widgets_are_declared(name):
    tree = ui_tree(name)
    declared = {c.find("class").text for c in tree.iter("customwidget")}
    used = {w.get("class") for w in tree.iter("widget")}
    custom = {c for c in used if re.match(r"^(ctk|qMRML|qSlicer)", c)}
    assert custom <= declared, f"{name}.ui uses undeclared custom widgets: {sorted(custom - declared)}"


def cmake_set(text: str, variable: str) -> list[str]:
    """The entries of ``set(<variable> ...)`` in a CMakeLists text."""
    match = re.search(rf"set\({variable}\s(.*?)\)", text, re.S)
    assert match, f"no set({variable} ...)"
    return match.group(1).split()


def shipped_tree() -> tuple[set[str], set[str]]:
    """The library's .py files and the resource files, relative to the project root."""
    scripts = {p.relative_to(ROOT).as_posix() for p in (ROOT / "SynthPathologyLib").rglob("*.py")}
    resources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "Resources").rglob("*")
                 if p.is_file() and not p.name.startswith(".")}
    return scripts, resources


def test_build_files_ship_the_modules_and_register_their_self_tests():
    module_cmake = (ROOT / "SynthPathology" / "CMakeLists.txt").read_text(encoding="utf-8")
    testing = re.search(r"if\(BUILD_TESTING\)(.*?)endif\(\)", module_cmake, re.S)
    assert testing, "no if(BUILD_TESTING) block"
    for name in MODULES:
        assert re.search(rf"NAME {name}\s+SCRIPTS {name}\.py\s+WITH_GENERIC_TESTS", module_cmake)
        assert f"slicer_add_python_unittest(SCRIPT {name}.py)" in testing.group(1)
    top = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "add_subdirectory(SynthPathology)" in top and re.search(r"EXTENSION_DEPENDS PyTorch", top)
    for name in MODULES:
        assert (ROOT / "Resources" / "Icons" / f"{name}.png").is_file()


def test_build_files_list_every_library_script_and_resource():
    """Listed file by file (no GLOB): a new file missing from the list, or a listed file that is
    gone, fails here rather than in an extension build."""
    module_cmake = (ROOT / "SynthPathology" / "CMakeLists.txt").read_text(encoding="utf-8")
    assert "GLOB" not in module_cmake
    scripts, resources = shipped_tree()
    for variable, files in (("SynthPathologyLib_SCRIPTS", scripts), ("SynthPathology_RESOURCES", resources)):
        listed = cmake_set(module_cmake, variable)
        assert len(listed) == len(set(listed)), f"{variable} lists a file twice"
        assert not files - set(listed), f"{variable} misses {sorted(files - set(listed))}"
        assert not set(listed) - files, f"{variable} lists files that do not exist: {sorted(set(listed) - files)}"
