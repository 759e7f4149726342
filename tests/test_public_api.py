"""The public API: what ``eventbus`` and its public modules export, that it is documented, and
that it is typed."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from importlib import resources
from pathlib import Path
from types import ModuleType

import pytest

import eventbus


def public_attributes() -> set[str]:
    """Names of the package's attributes that are neither private nor submodules."""
    return {
        name
        for name, value in vars(eventbus).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }


@pytest.mark.parametrize("name", eventbus.__all__)
def test_every_name_in_all_exists(name: str) -> None:
    assert hasattr(eventbus, name)


def isort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then functions."""
    if name.isupper():
        return (0, name)
    return (1 if name[:1].isupper() else 2, name)


def test_all_is_sorted_without_duplicates() -> None:
    assert eventbus.__all__ == sorted(set(eventbus.__all__), key=isort_key)


def test_all_lists_every_public_attribute() -> None:
    assert public_attributes() <= set(eventbus.__all__)


def test_all_exports_the_documented_api() -> None:
    expected = {
        "AFTER_COMMIT",
        "AsyncSendError",
        "DuplicateReceiverWarning",
        "EventbusError",
        "ReceiverInfo",
        "Signal",
        "receiver",
    }
    assert expected <= set(eventbus.__all__)


@pytest.mark.parametrize("name", eventbus.__all__)
def test_every_public_name_has_a_docstring(name: str) -> None:
    value = getattr(eventbus, name)
    doc = value.__doc__ if inspect.isclass(value) else inspect.getdoc(value)

    assert doc is not None
    assert doc.strip()
    assert not doc.startswith(f"{name}(")  # not the signature a dataclass makes up


@pytest.mark.parametrize(
    "name", [name for name in eventbus.__all__ if inspect.isclass(getattr(eventbus, name, None))]
)
def test_every_public_member_a_class_defines_has_a_docstring(name: str) -> None:
    """Members eventbus defines itself, not the ones inherited from Django or builtins."""
    cls = getattr(eventbus, name)
    undocumented = [
        member
        for member, value in vars(cls).items()
        if not member.startswith("_")
        and (callable(value) or isinstance(value, (property, classmethod, staticmethod)))
        and not (inspect.getdoc(value) or "").strip()
    ]

    assert undocumented == []


# -- the public modules -------------------------------------------------------------------

#: The modules users import directly (``from eventbus.testing import capture``).
PUBLIC_MODULES = [
    "eventbus.apps",
    "eventbus.bulk",
    "eventbus.checks",
    "eventbus.conf",
    "eventbus.pytest_plugin",
    "eventbus.remote",
    "eventbus.signals",
    "eventbus.testing",
    "eventbus.tracing",
]

#: Names a public module defines but does not export, and why.
NOT_EXPORTED = {
    # Read by the checks and the app's start-up, not by users.
    "eventbus.conf": {"model_label", "problems"},
    # The type variable of its decorators' signatures.
    "eventbus.testing": {"F"},
    # Called by the app from EVENTBUS["TRACING"] at start-up.
    "eventbus.tracing": {"configure"},
}


def test_every_public_module_is_listed() -> None:
    """A new module without a leading underscore is public: list it above (packages,
    such as ``management`` and ``contrib``, are not walked)."""
    modules = {
        f"eventbus.{info.name}"
        for info in pkgutil.iter_modules(eventbus.__path__)
        if not info.name.startswith("_") and not info.ispkg
    }
    assert modules == set(PUBLIC_MODULES)


def defined_in(module: ModuleType) -> set[str]:
    """The public names of classes, functions and type variables ``module`` defines itself."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType)
        and getattr(value, "__module__", None) == module.__name__
    }


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_a_public_modules_all_is_sorted_complete_and_importable(name: str) -> None:
    module = importlib.import_module(name)
    exported: list[str] = module.__all__

    assert exported == sorted(set(exported), key=isort_key)
    assert [each for each in exported if not hasattr(module, each)] == []
    assert defined_in(module) - NOT_EXPORTED.get(name, set()) <= set(exported)


def test_py_typed_marker_ships_in_the_package() -> None:
    package_dir = Path(eventbus.__file__).parent

    assert (package_dir / "py.typed").is_file()
    assert resources.files("eventbus").joinpath("py.typed").is_file()
