"""Image generation (issue 17) against the simulator, on a fake clock: no test waits."""

from __future__ import annotations

import asyncio
import itertools
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from modelscope_inference import (
    ImageParameterError,
    ImageRequest,
    ImageTaskFailedError,
    ImageTaskNotFoundError,
    ImageTaskTimeoutError,
    ModelScopeClient,
    QuotaExhaustedError,
    RetryPolicy,
    catalog,
)
from modelscope_inference.chat import ChatRequest
from modelscope_inference.images import PollSchedule, RatioSchedule, check_request
from modelscope_inference.quota import QuotaTracker, tracker_for
from modelscope_inference.simulator import Fault, Simulator
from modelscope_inference.simulator.images import NOT_FOUND
from modelscope_inference.simulator.models import IMAGE_MODELS, ModelKind, build_catalog


@dataclass
class FakeTime:
    """One clock for the client and the simulator's tasks; sleeping advances it."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.fixture(scope="module")
def server() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def sim(server: Simulator, fake: FakeTime) -> Iterator[Simulator]:
    tracker = tracker_for(server.token, server.base_url)
    server.reset()
    tracker.reset()
    server.images.clock = fake.clock
    server.images.duration = 10.0
    yield server
    server.reset()
    tracker.reset()


@pytest.fixture
def client(sim: Simulator, fake: FakeTime) -> ModelScopeClient:
    policy = RetryPolicy(max_retries=2, sleep=fake.sleep, async_sleep=fake.async_sleep)
    made = ModelScopeClient.create(api_key=sim.token, base_url=sim.base_url, policy=policy)
    made.images.clock, made.images.sleep = fake.clock, fake.sleep
    made.images.async_sleep = fake.async_sleep
    return made


def _requests(sim: Simulator, method: str) -> list[str]:
    return [r.path for r in sim.requests if r.method == method]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# --- the happy path -------------------------------------------------------------------------


def test_generate_returns_the_url_of_a_png_of_the_requested_size(
    client: ModelScopeClient, sim: Simulator
) -> None:
    result = client.images.generate(ImageRequest(prompt="a golden cat", size="96x64", seed=7))
    assert result.status == "SUCCEED" and result.task_id
    assert result.url.startswith(sim.url)
    assert _png_size(client.images.download(result.url)) == (96, 64)
    submit = next(r for r in sim.requests if r.method == "POST")
    assert submit.headers["x-modelscope-async-mode"] == "true"
    poll = next(r for r in sim.requests if r.path.startswith("/v1/tasks/"))
    assert poll.headers["x-modelscope-task-type"] == "image_generation"


def test_the_same_prompt_and_seed_give_the_same_png(client: ModelScopeClient) -> None:
    request = ImageRequest(prompt="a golden cat", size="64x64", seed=1)
    first, second = (client.images.generate(request) for _ in range(2))
    other = client.images.generate(ImageRequest(prompt="a golden cat", size="64x64", seed=2))
    data = [client.images.download(r.url) for r in (first, second, other)]
    assert data[0] == data[1] != data[2]


async def test_agenerate_and_asave_write_the_png(client: ModelScopeClient, tmp_path) -> None:
    result = await client.images.agenerate(ImageRequest(prompt="a red fox", size="80x72"))
    path = await client.images.asave(result, tmp_path / "fox.png")
    assert _png_size(path.read_bytes()) == (80, 72)


def test_an_edit_model_takes_a_list_of_data_urls(client: ModelScopeClient, sim: Simulator) -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    request = ImageRequest(
        prompt="make it blue", model="Qwen/Qwen-Image-Edit-2509", image_url=[image, image]
    )
    assert client.images.generate(request).images
    body = next(r.body for r in sim.requests if r.method == "POST")
    assert body["image_url"] == [image, image]


# --- the poll schedule ----------------------------------------------------------------------


def test_the_schedule_starts_near_one_second_and_backs_off_to_five() -> None:
    delays = list(itertools.islice(PollSchedule().delays(), 20))
    assert delays[0] == 1.0
    assert delays == sorted(delays)
    assert delays[-1] == 5.0


def test_the_default_schedule_waits_a_fraction_of_the_elapsed_time_within_floor_and_cap() -> None:
    schedule = RatioSchedule()
    assert [schedule.delay(0, t) for t in (0.0, 6.0, 10.0, 20.0, 40.0)] == [1.0, 1.0, 1.5, 3.0, 5.0]


# the polls bench/polling.py measures for the default schedule (log-like growth, 5 s cap)
@pytest.mark.parametrize(("duration", "max_polls"), [(2, 3), (10, 10), (30, 18), (60, 24)])
def test_a_task_is_polled_sparingly(
    client: ModelScopeClient, sim: Simulator, fake: FakeTime, duration: float, max_polls: int
) -> None:
    sim.images.duration = duration
    result = client.images.generate(ImageRequest(prompt="a cat", size="64x64"))
    assert result.polls <= max_polls
    assert len(_requests(sim, "GET")) == result.polls


@pytest.mark.parametrize("duration", [0.5, 2.0, 6.9, 7.31, 10.0, 10.01, 29.2, 30.0, 47.5])
def test_a_done_task_is_seen_within_15_percent_of_its_duration_or_one_second(
    client: ModelScopeClient, sim: Simulator, fake: FakeTime, duration: float
) -> None:
    sim.images.duration = duration
    result = client.images.generate(ImageRequest(prompt="a cat", size="64x64"))
    done = sim.images.done_at(result.task_id)
    assert done is not None
    assert 0 <= fake.now - done <= max(0.15 * duration, 1.0) + 1e-9


def test_the_geometric_schedule_can_be_chosen_for_fewer_polls(
    client: ModelScopeClient, sim: Simulator
) -> None:
    sim.images.duration = 30
    client.images.schedule = PollSchedule()
    assert client.images.generate(ImageRequest(prompt="a cat", size="64x64")).polls == 11


def test_every_intermediate_status_is_tolerated(
    client: ModelScopeClient, sim: Simulator, fake: FakeTime
) -> None:
    seen: list[str] = []
    client.images.generate(
        ImageRequest(prompt="a cat", size="64x64"),
        on_progress=lambda task, elapsed: seen.append(task.status),
    )
    assert {"PENDING", "RUNNING"} <= set(seen)


# --- parameters: refused before a request, with the limit in the message -----------------

_BOUNDS = [
    ({"prompt": "x" * 2000}, "fewer than 2000 characters"),
    ({"prompt": "  "}, "fewer than 2000 characters"),
    ({"negative_prompt": "x" * 2000}, "fewer than 2000 characters"),
    ({"size": "1700x1024"}, "64x64 to 1664x1664"),
    ({"size": "1024"}, "WIDTHxHEIGHT"),
    ({"model": "Tongyi-MAI/Z-Image-Turbo", "size": "256x256"}, "512x512 to 2048x2048"),
    ({"model": "MAILAND/majicflus_v1", "size": "1152x1152"}, "64x64 to 1024x1024"),
    ({"model": "AI-ModelScope/stable-diffusion-xl-base-1.0", "size": "2112x64"}, "2048x2048"),
    ({"seed": -1}, "[0, 2147483647]"),
    ({"seed": 2**31}, "[0, 2147483647]"),
    ({"steps": 0}, "[1, 100]"),
    ({"steps": 101}, "[1, 100]"),
    ({"guidance": 1.4}, "[1.5, 20]"),
    ({"guidance": 20.5}, "[1.5, 20]"),
    ({"image_url": "https://example.com/a.png"}, "edit models"),
    ({"model": "Qwen/Qwen-Image-Edit-2509"}, "edit models"),
    ({"model": "Qwen/Qwen-Image-Edit-2509", "image_url": "ftp://x/a.png"}, "data:image"),
    ({"loras": "not a repo id"}, "1 to 6"),
    ({"loras": {f"org/lora-{i}": 1 / 7 for i in range(7)}}, "1 to 6"),
    ({"loras": {"org/a": 0.5, "org/b": 0.4}}, "summing to 1.0"),
    ({"model": "Qwen/Qwen3-32B"}, "an image model"),
]


@pytest.mark.parametrize(("options", "limit"), _BOUNDS)
def test_a_parameter_out_of_range_is_refused_before_any_request(
    client: ModelScopeClient, sim: Simulator, options: dict[str, object], limit: str
) -> None:
    request = ImageRequest(**{"prompt": "a cat", **options})  # type: ignore[arg-type]
    with pytest.raises(ImageParameterError) as caught:
        client.images.generate(request)
    assert limit in str(caught.value)
    assert limit in caught.value.limit
    assert sim.requests == []


def test_parameters_at_their_limits_are_accepted() -> None:
    check_request(
        ImageRequest(
            prompt="x" * 1999,
            negative_prompt="y" * 1999,
            size="1664x64",
            seed=2**31 - 1,
            steps=100,
            guidance=1.5,
            loras={f"org/lora-{i}": 1 / 6 for i in range(6)},
        )
    )


# --- outcomes -------------------------------------------------------------------------------


def test_a_failed_task_raises_with_its_task_id(client: ModelScopeClient, sim: Simulator) -> None:
    sim.images.fail_next(message="content moderation")
    with pytest.raises(ImageTaskFailedError) as caught:
        client.images.generate(ImageRequest(prompt="a cat", size="64x64"))
    assert caught.value.task_id and caught.value.status == "FAILED"
    assert caught.value.reason == "content moderation"
    assert caught.value.task_id in str(caught.value)


def test_a_stuck_task_times_out_with_its_task_id_and_wait_completes_it(
    client: ModelScopeClient, sim: Simulator, fake: FakeTime
) -> None:
    sim.images.duration = 100
    started = fake.now
    with pytest.raises(ImageTaskTimeoutError) as caught:
        client.images.generate(ImageRequest(prompt="a cat", size="64x64"), timeout=30)
    error = caught.value
    assert error.status == "RUNNING" and error.task_id
    assert fake.now - started == pytest.approx(30)
    assert "wait(" in str(error)
    result = client.images.wait(error.task_id, timeout=120)
    assert result.task_id == error.task_id and result.images
    assert fake.now - started >= 100


def test_an_unknown_task_is_not_found(client: ModelScopeClient) -> None:
    with pytest.raises(ImageTaskNotFoundError) as caught:
        client.images.wait("no-such-task")
    assert caught.value.task_id == "no-such-task"
    assert "X-ModelScope-Task-Type" in str(caught.value)


def test_the_simulator_answers_task_not_found_without_the_task_type_header(
    client: ModelScopeClient, sim: Simulator
) -> None:
    task_id = client.images.submit(ImageRequest(prompt="a cat", size="64x64"))
    headers = {"Authorization": f"Bearer {sim.token}"}
    answer = httpx.get(f"{sim.base_url}/tasks/{task_id}", headers=headers)
    assert answer.status_code == 200 and answer.json() == NOT_FOUND


# --- 429s and quota -------------------------------------------------------------------------


def test_a_429_during_submit_is_retried(
    client: ModelScopeClient, sim: Simulator, fake: FakeTime
) -> None:
    sim.inject(Fault.rate_limit(retry_after=2), times=1)
    result = client.images.generate(ImageRequest(prompt="a cat", size="64x64"))
    assert result.images
    assert _requests(sim, "POST") == ["/v1/images/generations"] * 2
    assert 2.0 in fake.sleeps  # the advised wait, on the fake clock


def test_a_429_during_polling_is_retried(
    client: ModelScopeClient, sim: Simulator, fake: FakeTime
) -> None:
    task_id = client.images.submit(ImageRequest(prompt="a cat", size="64x64"))
    sim.inject(Fault.rate_limit(retry_after=3), times=2)
    fake.now += 10
    result = client.images.wait(task_id)
    assert result.images
    assert _requests(sim, "GET") == [f"/v1/tasks/{task_id}"] * 3
    assert fake.sleeps.count(3.0) == 2


async def test_a_429_during_async_polling_is_retried(
    client: ModelScopeClient, sim: Simulator, fake: FakeTime
) -> None:
    task_id = await client.images.asubmit(ImageRequest(prompt="a cat", size="64x64"))
    sim.inject(Fault.rate_limit(retry_after=1), times=1)
    fake.now += 10
    assert (await client.images.await_task(task_id)).images
    assert len(_requests(sim, "GET")) == 2


def test_the_aigc_quota_is_its_own_scope(client: ModelScopeClient, sim: Simulator) -> None:
    sim.images.quota.configure(account_limit=1)
    client.images.generate(ImageRequest(prompt="a cat", size="64x64"))
    with pytest.raises(QuotaExhaustedError) as caught:
        client.images.submit(ImageRequest(prompt="a dog", size="64x64"))
    assert caught.value.scope == "account"
    posts = len(_requests(sim, "POST"))
    with pytest.raises(QuotaExhaustedError):  # refused locally: no request
        client.images.submit(ImageRequest(prompt="a bird", size="64x64"))
    assert len(_requests(sim, "POST")) == posts
    chat = ChatRequest("Qwen/Qwen2.5-7B-Instruct", [{"role": "user", "content": "hi"}])
    assert client.chat.complete(chat).content  # chat's budget is not AIGC's


def test_the_tracker_keeps_aigc_figures_apart_from_chat() -> None:
    tracker = QuotaTracker()
    tracker.record("Qwen/Qwen-Image", {"modelscope-ratelimit-requests-remaining": "0"})
    assert tracker.spent_scope("Qwen/Qwen-Image") == "account"
    assert tracker.spent_scope("Tongyi-MAI/Z-Image-Turbo") == "account"
    assert tracker.spent_scope("Qwen/Qwen3-32B") is None
    assert tracker.status("Qwen/Qwen3-32B").account_remaining is None


# --- cancellation ---------------------------------------------------------------------------


def test_a_keyboard_interrupt_stops_a_sync_wait_and_leaves_nothing_running(
    client: ModelScopeClient, sim: Simulator, fake: FakeTime
) -> None:
    threads = threading.active_count()

    def interrupted(seconds: float) -> None:
        fake.sleep(seconds)
        if len(fake.sleeps) == 3:
            raise KeyboardInterrupt

    client.images.sleep = interrupted
    with pytest.raises(KeyboardInterrupt):
        client.images.generate(ImageRequest(prompt="a cat", size="64x64"))
    polls = len(_requests(sim, "GET"))
    assert polls == 2
    fake.now += 100
    assert threading.active_count() == threads
    assert len(_requests(sim, "GET")) == polls


async def test_cancelling_an_async_wait_stops_polling(
    client: ModelScopeClient, sim: Simulator, fake: FakeTime
) -> None:
    parked = asyncio.Event()

    async def park(seconds: float) -> None:
        fake.sleep(seconds)
        parked.set()
        await asyncio.Event().wait()  # until cancelled

    client.images.async_sleep = park
    task_id = await client.images.asubmit(ImageRequest(prompt="a cat", size="64x64"))
    waiting = asyncio.create_task(client.images.await_task(task_id))
    await parked.wait()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert len(_requests(sim, "GET")) == 1


# --- the model list -------------------------------------------------------------------------


def test_the_model_list_includes_every_image_model_as_an_image_kind(sim: Simulator) -> None:
    listed = {m["id"] for m in httpx.get(f"{sim.base_url}/models").json()["data"]}
    assert set(IMAGE_MODELS) <= listed
    assert {build_catalog()[m].kind for m in IMAGE_MODELS} == {ModelKind.IMAGE}


def test_the_simulator_and_the_catalog_agree_on_image_sizes() -> None:
    for model, sides in IMAGE_MODELS.items():
        assert catalog.lookup(model).kind == "image"
        assert catalog.lookup(model).image_sides == sides, model


def test_chat_with_an_image_model_is_refused_with_the_route_to_use(sim: Simulator) -> None:
    reply = httpx.post(
        f"{sim.base_url}/chat/completions",
        json={"model": "Qwen/Qwen-Image", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {sim.token}"},
    )
    assert reply.status_code == 400
    assert "/v1/images/generations" in reply.text
