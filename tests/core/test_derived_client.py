"""The rules of an object whose core client is derived from its fields (``derived_client``), on
a small pydantic model standing in for the adapters' classes."""

from __future__ import annotations

import copy
import pickle
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict, PrivateAttr, SecretStr

from modelscope_inference.derived_client import (
    DerivedClient,
    assign_then_rebuild,
    connection_update,
    environment_token,
    secret_token,
    shared_in_copies,
)


class Handle:
    """Stands for an HTTP client: something a deep copy must share, not copy."""


class Connection(DerivedClient, BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    secret_type: ClassVar[type[SecretStr]] = SecretStr
    handle_fields: ClassVar[tuple[str, ...]] = ("http_client",)

    api_key: SecretStr | None = None
    base_url: str = "https://api-inference.modelscope.cn/v1"
    http_client: Handle | None = None
    label: str = "not a connection field"

    _client: tuple[str, str] | None = PrivateAttr(default=None)
    closed: ClassVar[list[str]] = []

    def _connect(self) -> None:
        if not self.base_url.startswith("https://"):
            raise ValueError(f"not an https URL: {self.base_url}")
        self._client = (self.base_url, self.api_key.get_secret_value() if self.api_key else "")

    def close(self) -> None:
        self.closed.append("close")

    async def aclose(self) -> None:
        self.closed.append("aclose")


Connection.connection_fields = frozenset({"api_key", "base_url", "http_client"})


def _connection(**values: Any) -> Connection:
    conn = Connection(**values)
    conn._connect()
    return conn


def test_assigning_a_connection_field_rebuilds_the_client() -> None:
    conn = _connection(api_key="ms-a")
    conn.base_url = "https://api-inference.modelscope.ai/v1"
    assert conn._client == ("https://api-inference.modelscope.ai/v1", "ms-a")


def test_a_failed_rebuild_keeps_the_old_value_and_raises() -> None:
    conn = _connection()
    with pytest.raises(ValueError, match="not an https URL"):
        conn.base_url = "http://plain"
    assert conn.base_url == "https://api-inference.modelscope.cn/v1"


def test_an_assigned_plain_token_is_kept_wrapped() -> None:
    conn = _connection()
    conn.api_key = "ms-b"  # type: ignore[assignment]
    assert isinstance(conn.api_key, SecretStr)
    assert "ms-b" not in repr(conn)
    assert conn._client is not None and conn._client[1] == "ms-b"


def test_assigning_another_field_does_not_rebuild() -> None:
    conn = _connection()
    client = conn._client
    conn.label = "x"
    assert conn._client is client


def test_a_copy_changing_the_url_gets_its_own_client() -> None:
    conn = _connection()
    other = conn.model_copy(update={"base_url": "https://example.test/v1", "api_key": "ms-c"})
    assert other._client == ("https://example.test/v1", "ms-c")
    assert conn._client == ("https://api-inference.modelscope.cn/v1", "")


def test_a_copy_changing_other_fields_keeps_the_client() -> None:
    conn = _connection()
    assert conn.model_copy(update={"label": "y"})._client is conn._client


def test_a_deep_copy_shares_the_client_and_the_handles() -> None:
    conn = _connection(http_client=Handle())
    copied = copy.deepcopy(conn)
    assert copied._client is conn._client
    assert copied.http_client is conn.http_client


def test_a_pickle_has_no_token_no_handle_and_no_client() -> None:
    conn = _connection(api_key="ms-secret", http_client=None)
    data = pickle.dumps(conn)
    assert b"ms-secret" not in data
    restored = pickle.loads(data)
    assert restored.api_key is None and restored._client is None
    assert restored.base_url == conn.base_url


async def test_with_and_async_with_close_on_exit() -> None:
    Connection.closed.clear()
    with _connection() as conn:
        assert isinstance(conn, Connection)
    async with _connection():
        pass
    assert Connection.closed == ["close", "aclose"]


def test_assign_then_rebuild_restores_on_any_failure() -> None:
    values: dict[str, Any] = {"base_url": "old"}

    def fail() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        assign_then_rebuild(values, "base_url", "new", values.__setitem__, fail)
    assert values == {"base_url": "old"}


def test_shared_in_copies_skips_missing_handles_and_keeps_the_memo() -> None:
    handle, memo = Handle(), {1: "kept"}
    assert shared_in_copies(memo, [None, handle]) == {1: "kept", id(handle): handle}


def test_connection_update_is_none_when_no_connection_field_changes() -> None:
    fields = frozenset({"api_key", "base_url"})
    assert connection_update(None, fields, SecretStr) is None
    assert connection_update({"label": 1}, fields, SecretStr) is None
    changed = connection_update({"api_key": "ms-d", "label": 1}, fields, SecretStr)
    assert changed is not None and isinstance(changed["api_key"], SecretStr)


def test_secret_token_wraps_only_plain_strings() -> None:
    wrapped = SecretStr("ms-e")
    assert secret_token(wrapped, SecretStr) is wrapped
    assert secret_token(None, SecretStr) is None


def test_environment_token_reads_the_core_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    assert environment_token(SecretStr) is None
    monkeypatch.setenv("MODELSCOPE_SDK_TOKEN", "ms-env")
    token = environment_token(SecretStr)
    assert token is not None and token.get_secret_value() == "ms-env"
