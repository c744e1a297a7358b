"""Streamed tool-call merging and argument parsing (user-needs.md §B.16–B.17): odd deltas are
normalised, and broken arguments are reported with the raw string, never replaced by ``{}``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelscope_inference.tools import (
    ToolCallAccumulator,
    parse_arguments,
    parse_tool_calls,
    tool_call_to_openai,
)


def _delta(
    *,
    index: int | None = None,
    id: str | None = None,
    name: str | None = None,
    arguments: str | None = None,
) -> dict[str, Any]:
    delta: dict[str, Any] = {"type": "function", "function": {}}
    if index is not None:
        delta["index"] = index
    if id is not None:
        delta["id"] = id
    if name is not None:
        delta["function"]["name"] = name
    if arguments is not None:
        delta["function"]["arguments"] = arguments
    return delta


def _feed(*deltas: dict[str, Any]) -> ToolCallAccumulator:
    accumulator = ToolCallAccumulator()
    for delta in deltas:
        accumulator.add([delta])
    return accumulator


# --- accumulation ----------------------------------------------------------------------------


def test_fragments_with_index_are_joined_into_one_call() -> None:
    acc = _feed(
        _delta(index=0, id="call_1", name="get_weather", arguments='{"ci'),
        _delta(index=0, arguments='ty": "Pa'),
        _delta(index=0, arguments='ris"}'),
    )

    [call] = acc.calls()

    assert (call.id, call.name, call.args) == ("call_1", "get_weather", {"city": "Paris"})
    assert call.raw_arguments == '{"city": "Paris"}'
    assert call.valid


def test_missing_index_with_id_only_on_the_first_delta_is_one_call() -> None:
    acc = _feed(
        _delta(id="call_a", name="get_weather", arguments=""),
        _delta(arguments='{"city": '),
        _delta(arguments='"Paris"}'),
    )

    [call] = acc.calls()

    assert call.id == "call_a"
    assert call.args == {"city": "Paris"}


def test_id_repeated_on_every_delta_stays_one_call() -> None:
    acc = _feed(
        _delta(id="call_a", name="f", arguments='{"a"'),
        _delta(id="call_a", arguments=": 1}"),
    )

    [call] = acc.calls()

    assert call.args == {"a": 1}


def test_a_repeated_id_is_reported_only_on_the_first_chunk() -> None:
    acc = ToolCallAccumulator()

    chunks = acc.add([_delta(id="call_a", name="f", arguments="{")])
    chunks += acc.add([_delta(id="call_a", name="f", arguments="}")])

    # Frameworks concatenate chunk fields, so a repeated id or name would be doubled.
    assert [(c.id, c.name) for c in chunks] == [("call_a", "f"), (None, None)]


def test_two_calls_sharing_index_zero_with_different_ids_are_two_calls() -> None:
    acc = _feed(
        _delta(index=0, id="call_1", name="get_weather", arguments='{"city": "Paris"}'),
        _delta(index=0, id="call_2", name="get_time", arguments='{"tz": '),
        _delta(index=0, arguments='"CET"}'),
    )

    calls = acc.calls()

    assert [(c.id, c.name, c.args) for c in calls] == [
        ("call_1", "get_weather", {"city": "Paris"}),
        ("call_2", "get_time", {"tz": "CET"}),
    ]


def test_normalised_chunks_carry_a_stable_index_per_call() -> None:
    acc = ToolCallAccumulator()

    first = acc.add([_delta(index=0, id="call_1", name="f", arguments="{}")])
    second = acc.add([_delta(index=0, id="call_2", name="g", arguments="{")])
    third = acc.add([_delta(index=0, arguments="}")])

    assert [c.index for c in first + second + third] == [0, 1, 1]
    assert [c.id for c in first + second + third] == ["call_1", "call_2", None]
    assert [c.name for c in first + second + third] == ["f", "g", None]


def test_parallel_calls_with_distinct_indices_in_one_delta() -> None:
    acc = ToolCallAccumulator()
    acc.add(
        [
            _delta(index=0, id="a", name="f", arguments='{"x": 1}'),
            _delta(index=1, id="b", name="g", arguments='{"y": 2}'),
        ]
    )

    assert [(c.id, c.args) for c in acc.calls()] == [("a", {"x": 1}), ("b", {"y": 2})]


def test_id_never_given_is_synthesised_and_stable() -> None:
    acc = _feed(
        _delta(index=0, name="f", arguments='{"a": 1}'),
        _delta(index=1, name="g", arguments="{}"),
    )

    first_read = [c.id for c in acc.calls()]
    second_read = [c.id for c in acc.calls()]

    assert all(i.startswith("call_") and len(i) > len("call_") for i in first_read)
    assert len(set(first_read)) == 2
    assert first_read == second_read
    assert [f["id"] for f in acc.fragments()] == first_read


def test_a_call_without_a_function_name_is_invalid() -> None:
    [call] = _feed(_delta(index=0, id="x", arguments='{"a": 1}')).calls()

    assert not call.valid
    assert call.error is not None
    assert call.raw_arguments == '{"a": 1}'


def test_already_decoded_arguments_are_kept_as_their_json() -> None:
    acc = ToolCallAccumulator()
    acc.add([{"index": 0, "id": "c", "function": {"name": "f", "arguments": {"a": [1, 2]}}}])

    [call] = acc.calls()

    assert call.args == {"a": [1, 2]}
    assert json.loads(call.raw_arguments) == {"a": [1, 2]}


def test_non_mapping_entries_are_skipped() -> None:
    acc = ToolCallAccumulator()

    assert acc.add([None, "junk", 3]) == []
    assert not acc


def test_fragments_report_what_arrived() -> None:
    acc = _feed(_delta(index=0, id="c1", name="f", arguments='{"city": "Pa'))

    assert acc.fragments() == [{"index": 0, "id": "c1", "name": "f", "arguments": '{"city": "Pa'}]


# --- parse_arguments -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ['{"city": "Par', '"just a string"', '{"a":1}}', "[1,2]", "42", "null", "true", '"[1, 2]"'],
)
def test_broken_arguments_are_invalid_never_empty(raw: str) -> None:
    args, error = parse_arguments(raw)

    assert args is None
    assert error


@pytest.mark.parametrize(
    "raw", ['{"city": "Par', '"just a string"', '{"a":1}}', "[1,2]"], ids=lambda r: r
)
def test_broken_arguments_keep_the_raw_string(raw: str) -> None:
    [call] = parse_tool_calls([{"id": "c1", "function": {"name": "f", "arguments": raw}}])

    assert not call.valid
    assert call.args is None
    assert call.raw_arguments == raw
    assert call.error


def test_doubly_encoded_json_string_is_repaired() -> None:
    raw = json.dumps(json.dumps({"city": "Paris", "days": 3}))

    assert parse_arguments(raw) == ({"city": "Paris", "days": 3}, None)


@pytest.mark.parametrize("raw", ["", "   ", "\n"])
def test_empty_arguments_mean_no_parameters(raw: str) -> None:
    assert parse_arguments(raw) == ({}, None)


def test_valid_object_is_parsed() -> None:
    assert parse_arguments('{"a": {"b": [1, 2]}}') == ({"a": {"b": [1, 2]}}, None)


# --- non-streamed tool calls -----------------------------------------------------------------


def test_message_tool_calls_are_parsed_with_the_same_rules() -> None:
    calls = parse_tool_calls(
        [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
            {"id": "c2", "type": "function", "function": {"name": "g", "arguments": '{"b'}},
        ]
    )

    assert [(c.id, c.name, c.valid) for c in calls] == [("c1", "f", True), ("c2", "g", False)]


def test_message_tool_calls_without_ids_get_distinct_ids() -> None:
    calls = parse_tool_calls(
        [
            {"function": {"name": "f", "arguments": "{}"}},
            {"function": {"name": "f", "arguments": "{}"}},
        ]
    )

    assert len({c.id for c in calls}) == 2


@pytest.mark.parametrize("value", [None, {}, "calls"])
def test_missing_message_tool_calls_give_no_calls(value: object) -> None:
    assert parse_tool_calls(value) == []


def test_tool_call_wire_form() -> None:
    assert tool_call_to_openai("c1", "f", '{"a": 1}') == {
        "id": "c1",
        "type": "function",
        "function": {"name": "f", "arguments": '{"a": 1}'},
    }
