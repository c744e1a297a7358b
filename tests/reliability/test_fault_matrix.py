"""The fault matrix: every simulator fault × invoke/stream/ainvoke/astream × core, LangChain and
LlamaIndex × with and without a tool bound, each with its exact expected outcome.

The whole matrix comes from one table, :data:`TABLE`: a row names a fault (or another way the
service can misbehave) and the outcome expected for a one-shot call (invoke/ainvoke) and for a
stream (stream/astream). Adding a row adds every combination; a new ``FaultKind`` without a row
fails :func:`test_every_simulator_fault_has_a_row`.

Each case checks: the typed error, its message (names the model and, for an HTTP error, the
status) and the number of requests sent; or, for a recovery, the exact content and tool calls
of the same scripted reply without the fault, the number of requests, and the retry waits.
Streams must never repeat text: the pieces the caller saw concatenate to exactly the final
content (or, for an interrupted stream, to the error's ``text``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from modelscope_inference.errors import (
    AccountBindingError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InvalidResponseError,
    ModelNotSupportedError,
    ModelRetiredError,
    ModelScopeError,
    QuotaExhaustedError,
    RateLimitError,
    ServiceUnavailableError,
    StreamInterruptedError,
)
from modelscope_inference.simulator import Fault, Reply, ScriptedToolCall, Simulator
from modelscope_inference.simulator.faults import FaultKind

from .frameworks import FRAMEWORKS, MODES, Observed, run_call
from .support import CHAT_MODEL, COUNTS, SLEEPS

RETRIES = 1
ATTEMPTS = RETRIES + 1
SHORT_TIMEOUT = 0.3  # seconds; the slow-first-byte rows stall for longer than this
STALL = 1.5

CHUNKS = ("Hello", " there", ",", " friend", "!")
TEXT = "".join(CHUNKS)
PARTIAL = "Hello there"  # what arrives before a break after the role chunk and two pieces
CALLS = (
    ScriptedToolCall("get_weather", {"city": "Paris"}, id="call_a"),
    ScriptedToolCall("get_weather", {"city": "Rome"}, id="call_b"),
)
EXPECTED_CALLS = [(c.id, c.name, dict(c.arguments)) for c in CALLS]


# --- the table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ok:
    """The call succeeds with the full reply after ``requests`` requests; ``waits`` are the
    exact retry waits when the server dictated them (``Retry-After``)."""

    requests: int = 1
    waits: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Fails:
    """The call raises ``error`` after ``requests`` requests; its message contains ``says``;
    ``partial`` is the text that reached the caller first (an interrupted stream)."""

    error: type[ModelScopeError]
    requests: int
    says: tuple[str, ...] = ()
    partial: str = ""


Outcome = Ok | Fails
Arm = Callable[[Simulator], None]


@dataclass(frozen=True)
class FaultCase:
    id: str
    arm: Arm | None
    call: Outcome  # invoke / ainvoke
    stream: Outcome  # stream / astream
    timeout: float = 5.0
    kind: FaultKind | None = None


def fault(
    id: str,
    make: Fault,
    call: Outcome,
    stream: Outcome | None = None,
    *,
    times: int | None = 1,
    timeout: float = 5.0,
) -> FaultCase:
    """A row that injects ``make`` for the next ``times`` requests (None: all of them)."""

    def arm(sim: Simulator) -> None:
        sim.inject(make, times=times)

    return FaultCase(id, arm, call, call if stream is None else stream, timeout, make.kind)


def quota_spent(scope: str) -> Arm:
    def arm(sim: Simulator) -> None:
        if scope == "account":
            sim.set_quota(account_limit=0)
        else:
            sim.set_quota(model_limits={CHAT_MODEL: 0})

    return arm


RECOVERS = Ok(requests=2)
TIMES_OUT = Fails(APITimeoutError, ATTEMPTS, ("did not answer in time",))

TABLE: list[FaultCase] = [
    FaultCase("no-fault", None, Ok(), Ok()),
    fault("429", Fault.rate_limit(), RECOVERS),
    fault("429-retry-after", Fault.rate_limit(retry_after=2), Ok(2, waits=(2.0,))),
    fault(
        "429-persistent",
        Fault.rate_limit(retry_after=1),
        Fails(RateLimitError, ATTEMPTS, ("HTTP 429", "transient")),
        times=None,
    ),
    fault("500", Fault.server_error(500), RECOVERS),
    fault("502", Fault.server_error(502), RECOVERS),
    fault("503", Fault.server_error(503), RECOVERS),
    fault(
        "503-persistent",
        Fault.server_error(503),
        Fails(ServiceUnavailableError, ATTEMPTS, ("HTTP 503", "Internal server error")),
        times=None,
    ),
    fault("empty-400", Fault.empty_4xx(400), Fails(BadRequestError, 1, ("HTTP 400", "no body"))),
    fault(
        "empty-401",
        Fault.empty_4xx(401),
        Fails(AuthenticationError, 1, ("HTTP 401", "MODELSCOPE_API_KEY")),
    ),
    fault("empty-403", Fault.empty_4xx(403), Fails(AccountBindingError, 1, ("HTTP 403",))),
    fault("empty-404", Fault.empty_4xx(404), Fails(ModelNotSupportedError, 1, ("HTTP 404",))),
    fault("empty-429", Fault.empty_4xx(429), RECOVERS),  # no body, no headers: transient
    FaultCase(
        "model-quota-spent",
        quota_spent("model"),
        Fails(QuotaExhaustedError, 1, ("HTTP 429", "model daily quota", "resets at")),
        Fails(QuotaExhaustedError, 1, ("HTTP 429", "model daily quota", "resets at")),
    ),
    FaultCase(
        "account-quota-spent",
        quota_spent("account"),
        Fails(QuotaExhaustedError, 1, ("HTTP 429", "account daily quota", "resets at")),
        Fails(QuotaExhaustedError, 1, ("HTTP 429", "account daily quota", "resets at")),
    ),
    # reference: modelscope-api.md §8.1, real answers (all of them: test_real_answers.py)
    fault(
        "real-model-retired",
        Fault.model_retired(),
        Fails(ModelRetiredError, 1, ("HTTP 429", "retired", "fallback_models")),
    ),
    fault(
        "real-model-not-served",
        Fault.model_not_served(),
        Fails(ModelNotSupportedError, 1, ("HTTP 400", "has no provider supported")),
    ),
    fault("real-upstream-limit", Fault.upstream_limit(), RECOVERS),  # calls left: transient
    fault(
        "real-request-limit-persistent",
        Fault.request_limit(),
        Fails(QuotaExhaustedError, 2, ("HTTP 429", "Request limit exceeded.", "fallback_models")),
        times=None,
    ),
    fault("latency", Fault.latency(0.05), Ok()),
    fault("slow-first-byte", Fault.slow_first_byte(0.05), Ok()),
    fault(
        "slow-first-byte-past-timeout-once",
        Fault.slow_first_byte(STALL),
        RECOVERS,
        timeout=SHORT_TIMEOUT,
    ),
    fault(
        "slow-first-byte-past-timeout",
        Fault.slow_first_byte(STALL),
        TIMES_OUT,
        times=None,
        timeout=SHORT_TIMEOUT,
    ),
    fault("drop-before-first-byte", Fault.drop_after(0), RECOVERS),
    fault("drop-after-role-chunk", Fault.drop_after(1), RECOVERS),  # no output yet: retried
    fault(
        "drop-mid-stream",
        Fault.drop_after(3),
        RECOVERS,  # a one-shot call: half a body, nothing reached the caller, retried
        Fails(StreamInterruptedError, 1, ("broke after output began",), partial=PARTIAL),
    ),
    fault(
        "malformed-first-chunk",
        Fault.malformed_chunk(at=1),
        Ok(),  # stream-shaping faults leave one-shot calls alone
        Fails(InvalidResponseError, 1, ("not JSON",)),
    ),
    fault(
        "malformed-mid-stream",
        Fault.malformed_chunk(at=3),
        Ok(),
        Fails(StreamInterruptedError, 1, ("not JSON",), partial=PARTIAL),
    ),
    fault("null-choices", Fault.null_choices(count=2), Ok()),
    fault("tool-delta-no-index", Fault.tool_delta_no_index(), Ok()),
    fault("tool-delta-id-first-only", Fault.tool_delta_id_first_only(), Ok()),
    fault("tool-shared-index-0", Fault.shared_index_zero(), Ok()),
]

CASES = [
    pytest.param(row, mode, framework, tools, id=f"{row.id}-{mode}-{framework}-{tag}")
    for row in TABLE
    for mode in MODES
    for framework in FRAMEWORKS
    for tools, tag in ((False, "text"), (True, "tools"))
]


# --- the tests ----------------------------------------------------------------------------------


def test_every_simulator_fault_has_a_row() -> None:
    assert {row.kind for row in TABLE if row.kind is not None} == set(FaultKind)


@pytest.mark.parametrize(("row", "mode", "framework", "tools"), CASES)
def test_fault_outcome(
    sim: Simulator, row: FaultCase, mode: str, framework: str, tools: bool
) -> None:
    COUNTS["fault matrix cases"] += 1
    sim.script(Reply(chunks=CHUNKS, tool_calls=CALLS if tools else ()), times=None)
    if row.arm is not None:
        row.arm(sim)
    observed = run_call(
        framework,
        mode,
        tools=tools,
        base_url=sim.base_url,
        timeout=row.timeout,
        max_retries=RETRIES,
    )
    expected = row.stream if "stream" in mode else row.call
    requests = [r for r in sim.requests if r.path == "/v1/chat/completions"]
    if isinstance(expected, Ok):
        _check_recovery(observed, expected, tools)
    else:
        _check_failure(observed, expected)
    assert len(requests) == expected.requests, f"{len(requests)} requests sent"
    assert len(SLEEPS) == expected.requests - 1, f"retry waits {SLEEPS}"
    if "stream" in mode:
        assert all(r.stream for r in requests)


def _check_recovery(observed: Observed, expected: Ok, tools: bool) -> None:
    if observed.error is not None:
        raise AssertionError(f"expected success, got {observed.error!r}") from observed.error
    # The same scripted reply as without the fault: nothing lost, nothing repeated.
    assert observed.content == TEXT
    assert observed.tool_calls == (EXPECTED_CALLS if tools else [])
    assert observed.invalid_tool_calls == []
    if observed.pieces:
        assert "".join(observed.pieces) == TEXT
    if expected.waits is not None:
        assert tuple(SLEEPS) == expected.waits


def _check_failure(observed: Observed, expected: Fails) -> None:
    error = observed.error
    assert type(error) is expected.error, f"expected {expected.error.__name__}, got {error!r}"
    message = str(error)
    assert CHAT_MODEL in message
    for phrase in expected.says:
        assert phrase in message
    assert "".join(observed.pieces) == expected.partial  # what reached the caller, once
    if isinstance(error, StreamInterruptedError):
        assert error.text == expected.partial
