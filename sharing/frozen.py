"""Read-only scenario models, so that a loaded scenario cannot change under the engine's feet.

The pydantic models are frozen (no attribute can be set), but a frozen model holding a plain
``dict`` still lets ``sc.agreements[0].rule.shares["a"] = 0.9`` through, unvalidated. Inside
the models every mapping is a :class:`FrozenDict` and every list a tuple; the documented way
to change a scenario is ``Scenario.replace``, which validates the result.

:class:`Frozen`, the base of every scenario and rule model, also remembers whether an object
came out of validation: one that did not (``model_construct``, or ``model_copy`` with an
update) is validated again when a model is built from it, so that nothing unvalidated can
reach the engine, while validated parts are not checked twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, NoReturn, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, PrivateAttr, model_validator

from sharing.i18n import define, message

K = TypeVar("K")
V = TypeVar("V")

define({
    "frozen.read_only": ("情景对象只读，不能就地修改；请用 sc.replace({{'键.路径': 新值}}) 得到新的"
                         "情景（已校验）",
                         "a scenario is read-only and cannot be changed in place; use "
                         "sc.replace({{'key.path': value}}) for a new, validated scenario"),
})


class FrozenDict(dict):
    """A ``dict`` that refuses every change (``TypeError``). Still a ``dict`` for reading,
    ``isinstance`` checks, ``json`` and pydantic's serialiser, and picklable."""

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(message("frozen.read_only"))

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self):
        return (type(self), (dict(self),))

    def __hash__(self) -> int:  # the models are frozen, hence hashable: so is their data
        return hash(frozenset(self.items()))

    def __repr__(self) -> str:
        return dict.__repr__(self)


def freeze(value: Any) -> Any:
    """``value`` with every dict, list and tuple inside made read-only (FrozenDict, tuple)."""
    if isinstance(value, dict):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


FrozenMap = Annotated[dict[K, V], AfterValidator(FrozenDict)]
"""A mapping field: validated as ``dict[K, V]`` (the JSON Schema is an object), stored as a
:class:`FrozenDict`."""


class Frozen(BaseModel):
    """A frozen pydantic model that knows whether it was validated (``checked``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False,
                              revalidate_instances="always")
    _checked: bool = PrivateAttr(False)

    @model_validator(mode="wrap")
    @classmethod
    def _validate_once(cls, data: Any, handler):
        if type(data) is cls and (data.__pydantic_private__ or {}).get("_checked"):
            # Validated already, and immutable: nothing to check again (read the flag from
            # pydantic's private dict: attribute access costs more for 100,000 firms).
            return data
        model = handler(data)
        model._checked = True
        return model

    @property
    def checked(self) -> bool:
        """True when this object came out of validation (not ``model_construct``, not a
        ``model_copy`` with an update)."""
        return self._checked

    def model_copy(self, *, update: Mapping[str, Any] | None = None,
                   deep: bool = False) -> Frozen:
        """pydantic's copy; with ``update`` the copy is unchecked, so it is validated when a
        scenario is built from it (or, for a Scenario, at once)."""
        copy = super().model_copy(update=update, deep=deep)
        if update:
            copy._checked = False
        return copy
