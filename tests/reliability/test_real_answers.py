"""Every error answer of reference §8.1, as the simulator replays it, through both adapters.

For each row of ``tests/real_answers.py`` the simulator is armed with ``Fault.real_answer`` for
every request; ``ChatModelScope.invoke`` and ``ModelScopeLLM.chat`` must raise the expected
type, with the request id the simulator put in the body, the quota figures of the headers
(when the answer had them), after exactly the expected number of requests (retried or not).
The first test proves the simulator's answer is the captured one, byte for byte but the id.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from real_answers import MODEL, REAL_ANSWERS, RealAnswer

from modelscope_inference.errors import APIStatusError
from modelscope_inference.simulator import Fault, Simulator

from .support import TOKEN

RETRIES = 2  # the default max_retries


def _invoke_langchain(base_url: str) -> None:
    from langchain_modelscope import ChatModelScope

    llm = ChatModelScope(model=MODEL, api_key=TOKEN, base_url=base_url, max_retries=RETRIES)
    llm.invoke("hi")


def _chat_llama_index(base_url: str) -> None:
    from llama_index.core.llms import ChatMessage

    from llama_index_modelscope import ModelScopeLLM

    llm = ModelScopeLLM(model=MODEL, api_key=TOKEN, api_base=base_url, max_retries=RETRIES)
    llm.chat([ChatMessage(role="user", content="hi")])


ADAPTERS = {"langchain-invoke": _invoke_langchain, "llamaindex-chat": _chat_llama_index}


@pytest.mark.parametrize("answer", REAL_ANSWERS, ids=lambda a: a.name)
def test_the_simulator_sends_the_captured_answer_verbatim(
    sim: Simulator, answer: RealAnswer
) -> None:
    sim.inject(Fault.real_answer(answer.name))

    response = httpx.post(
        f"{sim.base_url}/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

    rid = sim.requests[-1].request_id
    assert response.status_code == answer.status
    assert response.content == answer.body.replace(answer.request_id.encode(), rid.encode())
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert "x-request-id" not in response.headers
    quota_headers = {k: v for k, v in response.headers.items() if k.startswith("modelscope-")}
    assert bool(quota_headers) == bool(answer.headers)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("answer", REAL_ANSWERS, ids=lambda a: a.name)
def test_each_real_answer_through_the_adapters(
    sim: Simulator, answer: RealAnswer, adapter: str
) -> None:
    sim.inject(Fault.real_answer(answer.name), times=None)

    with pytest.raises(APIStatusError) as caught:
        ADAPTERS[adapter](sim.base_url)

    error: Any = caught.value
    sent = [r for r in sim.requests if r.path == "/v1/chat/completions"]
    assert type(error).__name__ == answer.error
    assert len(sent) == answer.attempts, "retried" if len(sent) > 1 else "not retried"
    assert error.request_id == sent[-1].request_id
    assert error.status_code == answer.status
    for phrase in (MODEL, *answer.says):
        assert phrase in str(error)
    if answer.headers:
        assert error.quota is not None
        assert error.quota.account_remaining == error.quota.account_limit == 2000
        assert error.quota.model_remaining == error.quota.model_limit == 500
    else:
        assert error.quota is None
