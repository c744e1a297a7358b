"""Every call form goes through a real forward proxy (proxy.py) when told to, by the
environment or by ``proxy=``; a dead proxy fails it instead of being gone around; ``NO_PROXY``
bypasses it (httpx's trust_env rules, on the sync and the async path alike)."""

from __future__ import annotations

import pytest

from modelscope_inference import APIConnectionError
from modelscope_inference.simulator import Simulator

from .calls import FORMS, CallForm
from .conftest import ForwardProxy

pytestmark = pytest.mark.timeout(180)
CHAT_PATH = "/v1/chat/completions"


def _target(sim: Simulator) -> str:
    return f"127.0.0.1:{sim.port}{CHAT_PATH}"


@pytest.mark.parametrize("form", FORMS, ids=str)
@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_a_proxy_from_the_environment_carries_the_call(
    form: CallForm,
    variable: str,
    forward_proxy: ForwardProxy,
    plain_simulator: Simulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(variable, forward_proxy.url)
    before = forward_proxy.carried(_target(plain_simulator))
    model = form.model(plain_simulator)

    answer = form.run(lambda: model)
    model.close()

    assert answer
    assert forward_proxy.wait_carried(_target(plain_simulator), before + 1) == before + 1


@pytest.mark.parametrize("form", FORMS, ids=str)
def test_the_proxy_option_carries_the_call(
    form: CallForm, forward_proxy: ForwardProxy, plain_simulator: Simulator
) -> None:
    before = forward_proxy.carried(_target(plain_simulator))
    model = form.model(plain_simulator, proxy=forward_proxy.url)

    assert form.run(lambda: model)
    model.close()

    assert forward_proxy.wait_carried(_target(plain_simulator), before + 1) == before + 1


@pytest.mark.parametrize("form", FORMS, ids=str)
def test_https_proxy_tunnels_a_tls_call(
    form: CallForm,
    forward_proxy: ForwardProxy,
    tls_simulator: Simulator,
    test_ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", forward_proxy.url)
    monkeypatch.setenv("SSL_CERT_FILE", test_ca_file)
    tunnel = f"CONNECT 127.0.0.1:{tls_simulator.port}"
    before = forward_proxy.carried(tunnel)
    model = form.model(tls_simulator)

    assert form.run(lambda: model)
    model.close()

    assert forward_proxy.wait_carried(tunnel, before + 1) == before + 1


@pytest.mark.parametrize("form", FORMS, ids=str)
@pytest.mark.parametrize("how", ["environment", "option"])
def test_a_dead_proxy_fails_the_call_instead_of_going_around_it(
    form: CallForm,
    how: str,
    dead_proxy_url: str,
    plain_simulator: Simulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    options = {"proxy": dead_proxy_url} if how == "option" else {}
    if how == "environment":
        monkeypatch.setenv("HTTP_PROXY", dead_proxy_url)
    plain_simulator.reset()
    model = form.model(plain_simulator, **options)

    with pytest.raises(APIConnectionError):
        form.run(lambda: model)

    assert plain_simulator.requests == []


@pytest.mark.parametrize("form", FORMS, ids=str)
@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*"])
def test_no_proxy_bypasses_the_proxy(
    form: CallForm,
    no_proxy: str,
    dead_proxy_url: str,
    plain_simulator: Simulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", dead_proxy_url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    model = form.model(plain_simulator)

    assert form.run(lambda: model)
