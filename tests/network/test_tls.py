"""Certificates against a real TLS endpoint (uvicorn's TLS, a trustme test CA): a CA named by
``SSL_CERT_FILE`` or by the user's own clients is trusted on every call form; a certificate
from an unknown CA is refused with APIConnectionError."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

from modelscope_inference import APIConnectionError
from modelscope_inference.simulator import Simulator

from .calls import FORMS, CallForm

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("form", FORMS, ids=str)
def test_a_ca_given_by_ssl_cert_file_is_trusted(
    form: CallForm, tls_simulator: Simulator, test_ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", test_ca_file)

    assert form.run(lambda: form.model(tls_simulator))


@pytest.mark.parametrize("form", FORMS, ids=str)
def test_a_ca_given_by_the_users_own_client_is_trusted(
    form: CallForm, tls_simulator: Simulator, test_ca_file: str
) -> None:
    def build() -> Any:
        # Each path takes its own client; the async one is built in the loop that uses it.
        if form.is_async:
            return form.model(
                tls_simulator,
                http_async_client=httpx.AsyncClient(
                    verify=ssl.create_default_context(cafile=test_ca_file)
                ),
            )
        return form.model(
            tls_simulator,
            http_client=httpx.Client(verify=ssl.create_default_context(cafile=test_ca_file)),
        )

    assert form.run(build)


@pytest.mark.parametrize("form", FORMS, ids=str)
def test_a_certificate_from_an_unknown_ca_is_refused(
    form: CallForm, tls_simulator: Simulator
) -> None:
    tls_simulator.reset()

    with pytest.raises(APIConnectionError) as caught:
        form.run(lambda: form.model(tls_simulator))

    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value) or "certificate" in str(caught.value)
    assert tls_simulator.requests == []
