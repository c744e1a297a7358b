"""Issue 15, findings 4, 5, 6 and 9 on LlamaIndex, with the same inputs as LangChain's
``test_lc_nothing_lies.py``: the same typed errors, before any request."""

from __future__ import annotations

import datetime
import math
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from pydantic import BaseModel

from llama_index_modelscope import ModelScopeLLM, ToolArgumentsError
from modelscope_inference import ModelNotSupportedError, QuotaExhaustedError
from modelscope_inference.errors import RequestValidationError
from modelscope_inference.simulator import Reply, Simulator

MakeLLM = Callable[..., ModelScopeLLM]
PLAIN = "Qwen/Qwen2.5-7B-Instruct"
HYBRID = "Qwen/Qwen3-32B"
TRUNCATED = '{"city": "Hang'


def weather(city: str, unit: str = "celsius") -> str:
    """The weather in a city."""
    return f"sunny in {city}"


class City(BaseModel):
    """A city."""

    name: str
    country: str


TOOL = FunctionTool.from_defaults(fn=weather)


def _user(text: str = "hi") -> list[ChatMessage]:
    return [ChatMessage(role="user", content=text)]


# --- 4: truncated streamed tool arguments ---------------------------------------------------


def test_finding_4_truncated_streamed_arguments_raise_tool_arguments_error(
    make_llm: MakeLLM, sim: Simulator
) -> None:
    sim.script(Reply.tool_call("weather", TRUNCATED))
    llm = make_llm(PLAIN)

    *_, last = llm.stream_chat_with_tools([TOOL], user_msg="Weather?")

    with pytest.raises(ToolArgumentsError) as caught:
        llm.get_tool_calls_from_response(last)
    assert caught.value.raw_arguments == TRUNCATED


async def test_finding_4_truncated_async_streamed_arguments_raise_tool_arguments_error(
    make_llm: MakeLLM, sim: Simulator
) -> None:
    sim.script(Reply.tool_call("weather", TRUNCATED))
    llm = make_llm(PLAIN)

    responses = [r async for r in await llm.astream_chat_with_tools([TOOL], user_msg="Weather?")]
    last = responses[-1]

    with pytest.raises(ToolArgumentsError):
        llm.get_tool_calls_from_response(last)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_finding_9_nan_arguments_are_invalid_streamed_or_not(
    make_llm: MakeLLM, sim: Simulator, constant: str
) -> None:
    raw = f'{{"city": "Hangzhou", "unit": {constant}}}'
    sim.script(Reply.tool_call("weather", raw), times=2)
    llm = make_llm(PLAIN)

    with pytest.raises(ToolArgumentsError, match=constant.lstrip("-")):
        llm.get_tool_calls_from_response(llm.chat_with_tools([TOOL], user_msg="Weather?"))
    *_, last = llm.stream_chat_with_tools([TOOL], user_msg="Weather?")
    with pytest.raises(ToolArgumentsError):
        llm.get_tool_calls_from_response(last)


# --- 5: structured output never returns None for a broken answer ----------------------------


def test_finding_5_structured_predict_with_broken_arguments_raises(
    make_llm: MakeLLM, sim: Simulator
) -> None:
    sim.script(Reply.tool_call("City", '{"name": "Hang'))

    with pytest.raises(ToolArgumentsError):
        make_llm(PLAIN).structured_predict(City, PromptTemplate("A city"))


# --- 6 and 9: bad input, refused before any request -----------------------------------------

BAD_CALLS: dict[str, tuple[dict[str, Any], str]] = {
    "lone_surrogate": ({"text": "hi \ud800"}, "lone surrogate"),
    "object_keyword": ({"foo": object()}, "foo is a object"),
    "datetime_keyword": ({"when": datetime.datetime(2026, 1, 1)}, "when is a datetime"),
    "nan_keyword": ({"temperature": math.nan}, "NaN or Infinity"),
    "max_tokens_negative": ({"max_tokens": -1}, "max_tokens must be a positive"),
    "max_tokens_zero": ({"max_tokens": 0}, "max_tokens must be a positive"),
}


@pytest.mark.filterwarnings("ignore:Sending unknown keyword")
@pytest.mark.parametrize("case", sorted(BAD_CALLS))
@pytest.mark.parametrize("streamed", [False, True])
def test_finding_6_and_9_bad_call_input_raises_typed_before_any_request(
    make_llm: MakeLLM, sim: Simulator, case: str, streamed: bool
) -> None:
    options, message = BAD_CALLS[case]
    options = dict(options)
    messages = _user(options.pop("text", "hi"))
    llm = make_llm(PLAIN)

    with pytest.raises(RequestValidationError, match=message):
        if streamed:
            list(llm.stream_chat(messages, **options))
        else:
            llm.chat(messages, **options)

    assert sim.requests == []


def test_finding_6_a_datetime_in_additional_kwargs_raises_typed_before_any_request(
    make_llm: MakeLLM, sim: Simulator
) -> None:
    llm = make_llm(PLAIN, additional_kwargs={"when": datetime.datetime(2026, 1, 1)})

    with pytest.raises(RequestValidationError, match="when is a datetime"):
        llm.chat(_user())

    assert sim.requests == []


@pytest.mark.parametrize("model", ["", "   "])
def test_finding_9_an_empty_model_id_is_refused_at_construction(
    make_llm: MakeLLM, model: str
) -> None:
    with pytest.raises(ValueError, match="model must be a ModelScope model id"):
        make_llm(model)


def test_finding_9_an_empty_fallback_model_is_refused_before_any_request(
    make_llm: MakeLLM, sim: Simulator
) -> None:
    with pytest.raises(RequestValidationError, match="fallback_models"):
        make_llm(PLAIN, fallback_models=[""]).chat(_user())

    assert sim.requests == []


def test_finding_9_non_positive_max_tokens_is_refused_at_construction(make_llm: MakeLLM) -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        make_llm(PLAIN, max_tokens=-1)


def test_finding_9_n_above_one_with_streaming_is_a_typed_error(
    make_llm: MakeLLM, sim: Simulator
) -> None:
    with pytest.raises(RequestValidationError, match="n=3 cannot be streamed"):
        list(make_llm(PLAIN).stream_chat(_user(), n=3))

    assert sim.requests == []


def test_finding_9_an_unknown_tool_choice_is_refused_before_any_request(
    make_llm: MakeLLM, sim: Simulator
) -> None:
    with pytest.raises(RequestValidationError, match="'bogus' is not a bound tool"):
        make_llm(PLAIN).chat_with_tools([TOOL], user_msg="hi", tool_choice="bogus")

    assert sim.requests == []


def test_finding_9_unknown_call_keywords_are_sent_with_one_warning_naming_them(
    make_llm: MakeLLM, sim: Simulator, chat_bodies: Callable[[], list[dict[str, Any]]]
) -> None:
    llm = make_llm(PLAIN)

    with pytest.warns(UserWarning, match="'frobnicate_li'"):
        llm.chat(_user(), frobnicate_li=1)
    with warnings.catch_warnings(record=True) as later:
        warnings.simplefilter("always")
        llm.chat(_user(), frobnicate_li=2, extra_body={"top_k": 3})

    assert not [w for w in later if "unknown keyword" in str(w.message)]
    assert [body.get("frobnicate_li") for body in chat_bodies()] == [1, 2]
    assert chat_bodies()[1]["top_k"] == 3 and "extra_body" not in chat_bodies()[1]


# --- 9: fallbacks and base URLs -------------------------------------------------------------


def test_finding_9_all_fallbacks_spent_names_every_model_tried(
    make_llm: MakeLLM, sim: Simulator
) -> None:
    sim.set_quota(model_limits={HYBRID: 0, PLAIN: 0})

    with pytest.raises(QuotaExhaustedError, match=f"{HYBRID!r}: model quota exhausted"):
        make_llm(HYBRID, fallback_models=[PLAIN]).chat(_user())


def test_finding_9_a_404_from_a_base_url_without_v1_advises_adding_v1(sim: Simulator) -> None:
    base = sim.base_url.removesuffix("/v1")
    llm = ModelScopeLLM(model=PLAIN, api_key=sim.token, api_base=base)

    with pytest.raises(ModelNotSupportedError, match="add /v1 to base_url"):
        llm.chat(_user())
