"""Token and base URL resolution (modelscope-api.md §2, §7), and the checks that keep the
token safe."""

from __future__ import annotations

import httpx
import pytest

from modelscope_inference import (
    DEFAULT_BASE_URL,
    ChatRequest,
    ConfigurationError,
    ModelScopeClient,
    Settings,
)
from modelscope_inference.errors import TOKEN_PAGE
from modelscope_inference.settings import resolve_api_key, resolve_base_url

from .fakes import FakeServer, chat_completion, reply

# --- token -----------------------------------------------------------------------------------


def test_explicit_token_wins_over_every_variable() -> None:
    env = {
        "MODELSCOPE_API_KEY": "ms-env-key",
        "MODELSCOPE_SDK_TOKEN": "ms-sdk",
        "MODELSCOPE_API_TOKEN": "ms-api-token",
    }

    assert resolve_api_key("ms-explicit", env) == "ms-explicit"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {
                "MODELSCOPE_API_KEY": "ms-a",
                "MODELSCOPE_SDK_TOKEN": "ms-b",
                "MODELSCOPE_API_TOKEN": "ms-c",
            },
            "ms-a",
        ),
        ({"MODELSCOPE_SDK_TOKEN": "ms-b", "MODELSCOPE_API_TOKEN": "ms-c"}, "ms-b"),
        ({"MODELSCOPE_API_TOKEN": "ms-c"}, "ms-c"),
        ({"MODELSCOPE_API_KEY": "  ", "MODELSCOPE_SDK_TOKEN": "ms-b"}, "ms-b"),
        ({"MODELSCOPE_API_KEY": " ms-a\n"}, "ms-a"),
    ],
    ids=["api-key-first", "sdk-token-second", "api-token-third", "blank-skipped", "stripped"],
)
def test_token_resolution_order(env: dict[str, str], expected: str) -> None:
    assert resolve_api_key(None, env) == expected


def test_token_is_read_from_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSCOPE_SDK_TOKEN", "ms-from-process-env")

    assert Settings.resolve().api_key == "ms-from-process-env"


def test_only_openai_key_set_fails_naming_modelscope_api_key_and_token_page() -> None:
    env = {"OPENAI_API_KEY": "sk-openai", "OPENAI_BASE_URL": "https://api.openai.com/v1"}

    with pytest.raises(ConfigurationError) as caught:
        Settings.resolve(environ=env)

    message = str(caught.value)
    assert "MODELSCOPE_API_KEY" in message
    assert TOKEN_PAGE in message
    assert TOKEN_PAGE == "https://modelscope.cn/my/myaccesstoken"
    assert "sk-openai" not in message


def test_configuration_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        Settings.resolve(environ={})


def test_bare_uuid_token_without_ms_prefix_is_accepted() -> None:
    bare = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"

    settings = Settings.resolve(api_key=bare, environ={})

    assert settings.api_key == bare
    assert bare not in repr(settings)


def test_openai_variables_are_ignored() -> None:
    env = {
        "OPENAI_API_KEY": "sk-openai",
        "OPENAI_BASE_URL": "https://api.openai.com/v1",
        "MODELSCOPE_API_KEY": "ms-x",
    }

    settings = Settings.resolve(environ=env)

    assert settings.api_key == "ms-x"
    assert settings.base_url == DEFAULT_BASE_URL


def test_request_goes_to_modelscope_with_the_modelscope_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.openai.com/v1")
    monkeypatch.setenv("MODELSCOPE_API_KEY", "ms-x-from-env")
    server = FakeServer(reply(200, chat_completion()))
    http_client = httpx.Client(transport=httpx.MockTransport(server))
    client = ModelScopeClient.create(http_client=http_client)

    client.chat.complete(
        ChatRequest(model="Qwen/Qwen2.5-7B-Instruct", messages=[{"role": "user", "content": "x"}])
    )

    sent = server.requests[-1]
    assert sent.url.host == "api-inference.modelscope.cn"
    assert sent.headers["authorization"] == "Bearer ms-x-from-env"


# --- base URL --------------------------------------------------------------------------------


def test_default_base_url() -> None:
    assert resolve_base_url(None, {}) == "https://api-inference.modelscope.cn/v1"


@pytest.mark.parametrize(
    ("explicit", "env", "expected"),
    [
        (
            "https://api-inference.modelscope.ai/v1",
            {"MODELSCOPE_BASE_URL": "https://b.example/v1", "MODELSCOPE_API_BASE": "https://c/v1"},
            "https://api-inference.modelscope.ai/v1",
        ),
        (
            None,
            {"MODELSCOPE_BASE_URL": "https://b.example/v1", "MODELSCOPE_API_BASE": "https://c/v1"},
            "https://b.example/v1",
        ),
        (None, {"MODELSCOPE_API_BASE": "https://c.example/v1"}, "https://c.example/v1"),
        (None, {"MODELSCOPE_BASE_URL": ""}, DEFAULT_BASE_URL),
    ],
    ids=["explicit", "base-url-var", "api-base-var", "empty-var-ignored"],
)
def test_base_url_resolution_order(
    explicit: str | None, env: dict[str, str], expected: str
) -> None:
    assert resolve_base_url(explicit, env) == expected


@pytest.mark.parametrize("url", ["https://api-inference.modelscope.cn/v1/", " https://x.cn/v1// "])
def test_trailing_slashes_are_removed(url: str) -> None:
    assert not resolve_base_url(url, {}).endswith("/")


@pytest.mark.parametrize(
    "url",
    [
        "https://api-inference.modelscope.cn/v1/chat/completions",
        "https://api-inference.modelscope.cn/v1/chat/completions/",
    ],
)
def test_chat_completions_url_is_refused_with_what_to_pass(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.resolve(api_key="ms-x", base_url=url)

    message = str(caught.value)
    assert "/chat/completions" in message
    assert "'https://api-inference.modelscope.cn/v1'" in message


def test_embeddings_url_is_refused_too() -> None:
    with pytest.raises(ConfigurationError, match="/embeddings"):
        Settings.resolve(
            api_key="ms-x", base_url="https://api-inference.modelscope.cn/v1/embeddings"
        )


@pytest.mark.parametrize("url", ["api-inference.modelscope.cn/v1", "ftp://x.cn/v1", "https://"])
def test_malformed_base_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        Settings.resolve(api_key="ms-x", base_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "http://api-inference.modelscope.cn/v1",
        "http://192.168.1.10:8000/v1",
        "http://localhost.evil.example/v1",
        "http://0.0.0.0:8000/v1",
    ],
)
def test_plain_http_to_a_non_loopback_host_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="plain http"):
        Settings.resolve(api_key="ms-x", base_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://127.0.0.2:9/v1",
        "http://localhost:8000/v1",
        "http://[::1]:8000/v1",
    ],
)
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    assert Settings.resolve(api_key="ms-x", base_url=url).base_url == url


def test_http_base_url_from_the_environment_is_checked_too() -> None:
    env = {"MODELSCOPE_API_KEY": "ms-x", "MODELSCOPE_BASE_URL": "http://evil.example/v1"}

    with pytest.raises(ConfigurationError):
        Settings.resolve(environ=env)


# --- other options ---------------------------------------------------------------------------


def test_defaults_and_overrides() -> None:
    default = Settings.resolve(api_key="ms-x", environ={})
    custom = Settings.resolve(api_key="ms-x", timeout=5, max_retries=0, environ={})

    assert default.timeout == 60.0
    assert default.max_retries == 2
    assert (custom.timeout, custom.max_retries) == (5.0, 0)


@pytest.mark.parametrize("options", [{"timeout": 0}, {"timeout": -1}, {"max_retries": -1}])
def test_invalid_numbers_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        Settings.resolve(api_key="ms-x", environ={}, **options)  # type: ignore[arg-type]


def test_settings_repr_masks_the_token() -> None:
    secret = "ms-SECRET-0f1e2d3c"

    settings = Settings.resolve(api_key=secret, environ={})

    assert secret not in repr(settings)
    assert secret not in str(settings)
    assert "ms-SE***" in repr(settings)
