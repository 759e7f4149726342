"""The public API: what ``eventbus`` exports, that it is documented, and that it is typed."""

from __future__ import annotations

import inspect
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


def test_py_typed_marker_ships_in_the_package() -> None:
    package_dir = Path(eventbus.__file__).parent

    assert (package_dir / "py.typed").is_file()
    assert resources.files("eventbus").joinpath("py.typed").is_file()
