"""Issue 15, findings 4, 5, 6 and 9 on LangChain: truncated streamed tool arguments, broken
structured output, unsendable input and the smaller lies. Every bad input raises a typed error
before any request (the simulator's log stays empty)."""

from __future__ import annotations

import datetime
import math
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessageChunk
from lc_helpers import HYBRID, PLAIN, chat_bodies
from pydantic import BaseModel

from langchain_modelscope import ChatModelScope
from modelscope_inference import ModelNotSupportedError, QuotaExhaustedError
from modelscope_inference.errors import RequestValidationError
from modelscope_inference.simulator import Reply, Simulator

Chat = Callable[..., ChatModelScope]
TRUNCATED = '{"city": "Hang'


def weather(city: str, unit: str = "celsius") -> str:
    """The weather in a city."""
    return f"sunny in {city}"


class City(BaseModel):
    """A city."""

    name: str
    country: str


def _sum(chunks: Any) -> AIMessageChunk:
    full: AIMessageChunk | None = None
    for chunk in chunks:
        full = chunk if full is None else full + chunk
    assert full is not None
    return full


async def _asum(chunks: Any) -> AIMessageChunk:
    full: AIMessageChunk | None = None
    async for chunk in chunks:
        full = chunk if full is None else full + chunk
    assert full is not None
    return full


def _assert_invalid(message: Any, raw: str) -> None:
    assert message.tool_calls == []
    [invalid] = message.invalid_tool_calls
    assert invalid["name"] == "weather" and invalid["args"] == raw and invalid["error"]


# --- 4: truncated streamed tool arguments ---------------------------------------------------


def test_finding_4_truncated_streamed_arguments_are_invalid_in_the_sum_of_chunks(
    chat: Chat, sim: Simulator
) -> None:
    sim.script(Reply.tool_call("weather", TRUNCATED))

    _assert_invalid(_sum(chat(PLAIN).bind_tools([weather]).stream("Weather?")), TRUNCATED)


async def test_finding_4_truncated_arguments_are_invalid_in_the_sum_of_async_chunks(
    chat: Chat, sim: Simulator
) -> None:
    sim.script(Reply.tool_call("weather", TRUNCATED))

    _assert_invalid(await _asum(chat(PLAIN).bind_tools([weather]).astream("Weather?")), TRUNCATED)


def test_finding_4_a_sum_started_from_an_empty_chunk_is_settled_too(
    chat: Chat, sim: Simulator
) -> None:
    sim.script(Reply.tool_call("weather", TRUNCATED))

    full = AIMessageChunk(content="")
    for chunk in chat(PLAIN).bind_tools([weather]).stream("Weather?"):
        full = full + chunk

    _assert_invalid(full, TRUNCATED)


def test_finding_4_streaming_invoke_reports_truncated_arguments_as_invalid(
    chat: Chat, sim: Simulator
) -> None:
    sim.script(Reply.tool_call("weather", TRUNCATED))

    message = chat(PLAIN, streaming=True).bind_tools([weather]).invoke("Weather?")

    _assert_invalid(message, TRUNCATED)


async def test_finding_4_streaming_ainvoke_reports_truncated_arguments_as_invalid(
    chat: Chat, sim: Simulator
) -> None:
    sim.script(Reply.tool_call("weather", TRUNCATED))

    message = await chat(PLAIN, streaming=True).bind_tools([weather]).ainvoke("Weather?")

    _assert_invalid(message, TRUNCATED)


def test_finding_4_complete_streamed_arguments_stay_valid(chat: Chat, sim: Simulator) -> None:
    sim.script(Reply.tool_call("weather", {"city": "Hangzhou"}))

    full = _sum(chat(PLAIN).bind_tools([weather]).stream("Weather?"))

    assert [call["args"] for call in full.tool_calls] == [{"city": "Hangzhou"}]
    assert full.invalid_tool_calls == []


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_finding_9_nan_arguments_are_invalid_streamed_or_not(
    chat: Chat, sim: Simulator, constant: str
) -> None:
    raw = f'{{"city": "Hangzhou", "unit": {constant}}}'
    sim.script(Reply.tool_call("weather", raw), times=2)
    llm = chat(PLAIN).bind_tools([weather])

    _assert_invalid(llm.invoke("Weather?"), raw)
    _assert_invalid(_sum(llm.stream("Weather?")), raw)


# --- 5: structured output never returns None for a broken answer ----------------------------


def test_finding_5_structured_output_with_broken_arguments_raises(
    chat: Chat, sim: Simulator
) -> None:
    sim.script(Reply.tool_call("City", '{"name": "Hang'))

    with pytest.raises(OutputParserException, match="not a JSON object"):
        chat(PLAIN).with_structured_output(City).invoke("A city")


def test_finding_5_include_raw_sets_parsing_error(chat: Chat, sim: Simulator) -> None:
    sim.script(Reply.tool_call("City", '{"name": "Hang'))

    result = chat(PLAIN).with_structured_output(City, include_raw=True).invoke("A city")

    assert result["parsed"] is None
    assert isinstance(result["parsing_error"], OutputParserException)


def test_finding_5_dict_schema_with_broken_arguments_raises(chat: Chat, sim: Simulator) -> None:
    sim.script(Reply.tool_call("City", '{"name": "Hang'))
    schema = City.model_json_schema()

    with pytest.raises(OutputParserException):
        chat(PLAIN).with_structured_output(schema).invoke("A city")


def test_finding_5_structured_stream_with_broken_arguments_raises(
    chat: Chat, sim: Simulator
) -> None:
    sim.script(Reply.tool_call("City", '{"name": "Hang'))

    with pytest.raises(OutputParserException):
        list(chat(PLAIN).with_structured_output(City).stream("A city"))


def test_finding_5_structured_output_without_a_tool_call_raises(chat: Chat, sim: Simulator) -> None:
    sim.script(Reply(content="I would rather not."))

    with pytest.raises(OutputParserException, match="without calling 'City'"):
        chat(PLAIN).with_structured_output(City).invoke("A city")


# --- 6 and 9: bad input, refused before any request -----------------------------------------

BAD_CALLS: dict[str, tuple[dict[str, Any], str]] = {
    "lone_surrogate": ({"text": "hi \ud800"}, "lone surrogate"),
    "object_keyword": ({"foo": object()}, "foo is a object"),
    "datetime_keyword": ({"when": datetime.datetime(2026, 1, 1)}, "when is a datetime"),
    "nan_keyword": ({"temperature": math.nan}, "NaN or Infinity"),
    "max_tokens_negative": ({"max_tokens": -1}, "max_tokens must be a positive"),
    "max_tokens_zero": ({"max_tokens": 0}, "max_tokens must be a positive"),
    "fallback_empty": ({"fallback_models": [""]}, "fallback_models"),
}


@pytest.mark.filterwarnings("ignore:Sending unknown keyword")
@pytest.mark.parametrize("case", sorted(BAD_CALLS))
@pytest.mark.parametrize("streamed", [False, True])
def test_finding_6_and_9_bad_call_input_raises_typed_before_any_request(
    chat: Chat, sim: Simulator, case: str, streamed: bool
) -> None:
    options, message = BAD_CALLS[case]
    options = dict(options)
    text = options.pop("text", "hi")
    llm = chat(PLAIN)

    with pytest.raises(RequestValidationError, match=message):
        if streamed:
            list(llm.stream(text, **options))
        else:
            llm.invoke(text, **options)

    assert sim.requests == []


def test_finding_6_a_datetime_in_model_kwargs_raises_typed_before_any_request(
    chat: Chat, sim: Simulator
) -> None:
    llm = chat(PLAIN, model_kwargs={"when": datetime.datetime(2026, 1, 1)})

    with pytest.raises(RequestValidationError, match="when is a datetime"):
        llm.invoke("hi")

    assert sim.requests == []


@pytest.mark.parametrize("model", ["", "   "])
def test_finding_9_an_empty_model_id_is_refused_at_construction(
    chat: Chat, sim: Simulator, model: str
) -> None:
    with pytest.raises(ValueError, match="model must be a ModelScope model id"):
        chat(model)


def test_finding_9_an_empty_model_id_per_call_is_refused_before_any_request(
    chat: Chat, sim: Simulator
) -> None:
    with pytest.raises(RequestValidationError, match="model must be a ModelScope model id"):
        chat(PLAIN).invoke("hi", model=" ")

    assert sim.requests == []


def test_finding_9_non_positive_max_tokens_is_refused_at_construction(chat: Chat) -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        chat(PLAIN, max_tokens=-1)


def test_finding_9_n_above_one_with_streaming_is_a_typed_error(chat: Chat, sim: Simulator) -> None:
    with pytest.raises(RequestValidationError, match="n=3 cannot be streamed"):
        list(chat(PLAIN).stream("hi", n=3))

    assert sim.requests == []


def test_finding_9_bind_tools_refuses_an_unknown_tool_choice_at_bind_time(chat: Chat) -> None:
    with pytest.raises(RequestValidationError, match="'bogus' is not a bound tool"):
        chat(PLAIN).bind_tools([weather], tool_choice="bogus")


def test_finding_9_unknown_call_keywords_are_sent_with_one_warning_naming_them(
    chat: Chat, sim: Simulator
) -> None:
    llm = chat(PLAIN)

    with pytest.warns(UserWarning, match="'frobnicate_lc'"):
        llm.invoke("hi", frobnicate_lc=1)
    with warnings.catch_warnings(record=True) as later:
        warnings.simplefilter("always")
        llm.invoke("hi", frobnicate_lc=2, extra_body={"top_k": 3})

    assert not [w for w in later if "unknown keyword" in str(w.message)]
    assert [body.get("frobnicate_lc") for body in chat_bodies(sim)] == [1, 2]


def test_finding_9_known_body_fields_as_call_keywords_do_not_warn(
    chat: Chat, sim: Simulator, recwarn: pytest.WarningsRecorder
) -> None:
    chat(PLAIN).invoke("hi", top_k=5, seed=1, response_format={"type": "text"})

    assert not [w for w in recwarn if "unknown keyword" in str(w.message)]


# --- 9: fallbacks and base URLs -------------------------------------------------------------


def test_finding_9_all_fallbacks_spent_names_every_model_tried(chat: Chat, sim: Simulator) -> None:
    sim.set_quota(model_limits={HYBRID: 0, PLAIN: 0})
    llm = chat(HYBRID, fallback_models=[PLAIN])

    with pytest.raises(QuotaExhaustedError) as caught:
        llm.invoke("hi")

    text = str(caught.value)
    assert PLAIN in text and f"{HYBRID!r}: model quota exhausted" in text


def test_finding_9_all_fallbacks_spent_on_a_stream_names_every_model_tried(
    chat: Chat, sim: Simulator
) -> None:
    sim.set_quota(model_limits={HYBRID: 0, PLAIN: 0})

    with pytest.raises(QuotaExhaustedError, match=f"{HYBRID!r}: model quota exhausted"):
        list(chat(HYBRID, fallback_models=[PLAIN]).stream("hi"))


def test_finding_9_a_404_from_a_base_url_without_v1_advises_adding_v1(sim: Simulator) -> None:
    base = sim.base_url.removesuffix("/v1")
    llm = ChatModelScope(model=PLAIN, api_key=sim.token, base_url=base)

    with pytest.raises(ModelNotSupportedError, match="add /v1 to base_url"):
        llm.invoke("hi")
