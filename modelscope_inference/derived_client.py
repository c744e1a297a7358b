"""The rules of an object whose core client is derived from its fields (the adapters' chat
models, LLMs and embeddings): a changed field rebuilds the client or rolls back, a deep copy
shares the client and your HTTP clients, a pickle carries neither them nor the token, and a
token is always held wrapped in the caller's secret type.

:class:`DerivedClient` holds those rules once; each adapter mixes it into its pydantic model
and says what differs (its secret type, its connection and handle fields, how it builds the
client). Framework-free: no pydantic, LangChain or LlamaIndex import, only pydantic's protocol
(``__dict__``, ``__getstate__``, ``model_copy``).

Example:
    >>> class Connection(DerivedClient, BaseModel):  # fields, _client, _connect, close
    ...     secret_type = SecretStr
    >>> Connection.connection_fields = frozenset(Connection.model_fields)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from modelscope_inference.settings import token_from_environment

__all__ = [
    "DerivedClient",
    "assign_then_rebuild",
    "connection_update",
    "environment_token",
    "picklable_state",
    "secret_token",
    "shared_in_copies",
]

SecretT = TypeVar("SecretT")
DerivedT = TypeVar("DerivedT", bound="DerivedClient")
TOKEN_FIELD = "api_key"


def secret_token(value: object, secret: Callable[[str], SecretT]) -> SecretT | object:
    """A plain-string token wrapped in ``secret``; anything else (a wrapped token, None) as is.

    ``model_copy(update=...)`` and plain assignment skip pydantic's validation, and a ``str``
    token would show in ``repr``.

    Example:
        >>> secret_token("ms-abc", SecretStr)
        SecretStr('**********')
    """
    return secret(value) if isinstance(value, str) else value


def environment_token(secret: Callable[[str], SecretT]) -> SecretT | None:
    """The environment's token wrapped in ``secret``, read with the core's rules
    (``MODELSCOPE_API_KEY``, then ``MODELSCOPE_SDK_TOKEN``, ...); None when none is set.

    Example:
        >>> environment_token(SecretStr)  # with MODELSCOPE_API_KEY=ms-abc
        SecretStr('**********')
    """
    token = token_from_environment()
    return None if token is None else secret(token)


def connection_update(
    update: Mapping[str, Any] | None,
    fields: frozenset[str],
    secret: Callable[[str], object],
) -> dict[str, Any] | None:
    """``model_copy``'s ``update`` with its token wrapped, or None when it changes none of the
    connection ``fields`` (then the copy keeps the original's client: nothing to rebuild).

    Example:
        >>> connection_update({"temperature": 0.1}, frozenset({"api_key"}), SecretStr)
        >>> connection_update({"api_key": "ms-x"}, frozenset({"api_key"}), SecretStr)
        {'api_key': SecretStr('**********')}
    """
    if not update or fields.isdisjoint(update):
        return None
    changed = dict(update)
    if TOKEN_FIELD in changed:
        changed[TOKEN_FIELD] = secret_token(changed[TOKEN_FIELD], secret)
    return changed


def assign_then_rebuild(
    values: MutableMapping[str, Any],
    name: str,
    value: Any,
    assign: Callable[[str, Any], None],
    rebuild: Callable[[], None],
) -> None:
    """Assign a connection field, then rebuild the client with the same checks as at
    construction; if the rebuild fails, the field keeps its old value and the error is raised.

    ``values`` is the object's ``__dict__``, ``assign`` its base class's ``__setattr__``.

    Example:
        >>> assign_then_rebuild(llm.__dict__, "base_url", url, super().__setattr__, llm._connect)
    """
    old = values.get(name)
    assign(name, value)
    try:
        rebuild()
    except BaseException:
        values[name] = old
        raise


def shared_in_copies(
    memo: dict[int, Any] | None, handles: Iterable[object | None]
) -> dict[int, Any]:
    """A ``deepcopy`` memo in which each handle stands for itself, so a deep copy shares it.

    The handles are the pooled core client and your own HTTP clients: they hold locks and
    sockets, which cannot be copied.

    Example:
        >>> super().__deepcopy__(shared_in_copies(memo, [self._client, self.http_client]))
    """
    memo = {} if memo is None else memo
    for handle in handles:
        if handle is not None:
            memo.setdefault(id(handle), handle)
    return memo


def picklable_state(state: dict[Any, Any], fields: Iterable[str]) -> dict[Any, Any]:
    """A pydantic ``__getstate__`` dict with ``fields`` (token, HTTP clients) set to None and
    the core client dropped: a pickle must not carry the token (user-needs.md §D.27), and locks
    and sockets cannot be pickled. The unpickled object reads the token from the environment.

    Example:
        >>> picklable_state(super().__getstate__(), ["api_key", "http_client"])
    """
    values = dict(state["__dict__"])
    for name in fields:
        values[name] = None
    private = dict(state.get("__pydantic_private__") or {})
    private["_client"] = None
    return {**state, "__dict__": values, "__pydantic_private__": private}


class DerivedClient:
    """Mixed in before a pydantic model (and any framework base) whose core client ``_client``
    is derived from its connection fields by ``_connect``.

    - assigning a connection field rebuilds the client, with the same checks as at
      construction; if they fail, the field keeps its old value;
    - ``model_copy`` that changes one gives the copy a client of its own;
    - a deep copy shares the client and the ``handle_fields`` (your HTTP clients);
    - a pickle carries neither them nor the token;
    - ``with`` / ``async with`` close the connections on exit.

    The adapter sets ``secret_type`` and ``handle_fields`` in its class, and
    ``connection_fields`` once the class exists (``frozenset(Cls.model_fields)``).

    Example:
        >>> llm.base_url = "https://api-inference.modelscope.ai/v1"  # rebuilt, or unchanged
        >>> with ChatModelScope(model="Qwen/Qwen3-32B") as llm: ...
    """

    connection_fields: ClassVar[frozenset[str]] = frozenset()
    """The fields the core client is built from: changing one rebuilds it."""
    handle_fields: ClassVar[tuple[str, ...]] = ()
    """Fields holding your own HTTP clients: shared by deep copies, left out of pickles."""
    secret_type: ClassVar[type[Any]]
    """What a plain-string token is wrapped in (pydantic's ``SecretStr``)."""

    if TYPE_CHECKING:
        _client: Any

    def _connect(self) -> None:
        """Build the client from the current fields (the adapter's)."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the connections (the adapter's)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Close the connections, async (the adapter's)."""
        raise NotImplementedError

    def __enter__(self: DerivedT) -> DerivedT:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self: DerivedT) -> DerivedT:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def model_copy(
        self: DerivedT, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> DerivedT:
        """A copy; changed connection fields (token, URL, retries, ...) get a client of their
        own, after the same checks as at construction.

        Example:
            >>> llm.model_copy(update={"api_key": "ms-other", "max_retries": 0})
        """
        base = cast(Any, super())
        changed = connection_update(update, self.connection_fields, type(self).secret_type)
        if changed is None:
            return cast(DerivedT, base.model_copy(update=update, deep=deep))
        copied = cast(DerivedT, base.model_copy(update=changed, deep=deep))
        copied._connect()
        return copied

    def __deepcopy__(self: DerivedT, memo: dict[int, Any] | None = None) -> DerivedT:
        """A deep copy shares the pooled core client and your HTTP clients (handles, with
        locks and sockets, that cannot be copied) and copies everything else."""
        handles = [self._client, *(getattr(self, name) for name in self.handle_fields)]
        return cast(DerivedT, cast(Any, super()).__deepcopy__(shared_in_copies(memo, handles)))

    def __getstate__(self) -> dict[Any, Any]:
        """A pickle carries no token and no HTTP client: unpickling reads the environment."""
        state = cast(Any, super()).__getstate__()
        return picklable_state(state, (TOKEN_FIELD, *self.handle_fields))

    if not TYPE_CHECKING:  # type checkers keep pydantic's typed __setattr__

        def __setattr__(self, name: str, value: Any) -> None:
            """Assigning a connection field rebuilds the client with the same checks as at
            construction; if they fail, the field keeps its old value."""
            if name not in self.connection_fields:
                super().__setattr__(name, value)
                return
            if name == TOKEN_FIELD:
                value = secret_token(value, type(self).secret_type)
            assign_then_rebuild(self.__dict__, name, value, super().__setattr__, self._connect)
