"""When a daily quota runs out: ``fallback_models``, ``.with_fallbacks``, and the error itself.

ModelScope limits calls per model and per account each day and answers HTTP 429 once a limit is
spent. The library reads the ``modelscope-ratelimit-*`` headers, raises ``QuotaExhaustedError``
at once (retrying a spent quota cannot help) and, for a model-scoped limit, moves on to the next
of ``fallback_models``.

On a simulator (the embedded one when no ``MODELSCOPE_API_KEY`` is set, or one you started with
``modelscope-inference simulate`` and named in ``MODELSCOPE_BASE_URL``), ``sim.set_quota``
spends the primary model's quota first, so the fallback visibly happens. Against the real
service the same code runs, and falls back only if a quota really is spent. Run it with
``python examples/quota_fallback.py``.
"""

from __future__ import annotations

import logging

from _common import SimulatorHandle, modelscope_service

from langchain_modelscope import ChatModelScope
from modelscope_inference import QuotaExhaustedError

PRIMARY = "Qwen/Qwen3-32B"
FALLBACKS = ["Qwen/Qwen3-8B", "deepseek-ai/DeepSeek-V3.1"]


def main(sim: SimulatorHandle | None) -> None:
    if sim is not None:
        sim.set_quota(model_limits={PRIMARY: 0})  # PRIMARY's daily quota is spent
        print(f"[simulator] {PRIMARY} has no calls left today.\n")

    # 1. fallback_models: the same request moves to the next model on a model-scoped 429.
    llm = ChatModelScope(model=PRIMARY, fallback_models=FALLBACKS)
    reply = llm.invoke("Say hello in Chinese.")
    print("1. fallback_models -> answered by", reply.response_metadata["model_name"])

    # 2. LangChain's own .with_fallbacks: it fires at once, because the error is not retried.
    primary_only = ChatModelScope(model=PRIMARY)
    chain = primary_only.with_fallbacks(
        [ChatModelScope(model="Qwen/Qwen2.5-7B-Instruct")],
        exceptions_to_handle=(QuotaExhaustedError,),
    )
    reply = chain.invoke("Say hello in French.")
    print("2. with_fallbacks  -> answered by", reply.response_metadata["model_name"])

    # 3. Without a fallback, the error says which quota is spent and when it resets.
    try:
        primary_only.invoke("Say hello in German.")
        print("3. no error: the primary model still has quota")
    except QuotaExhaustedError as exc:
        print(
            f"3. QuotaExhaustedError: scope={exc.scope} model={exc.model} resets_at={exc.resets_at}"
        )

    status = llm.quota_status
    print(f"\nAccount: {status.account_remaining} of {status.account_limit} calls left today.")

    if sim is not None:
        # 4. An account-wide limit: no other model can help, so there is no fallback.
        sim.set_quota(account_limit=0)
        try:
            ChatModelScope(model=FALLBACKS[1], fallback_models=FALLBACKS[:1]).invoke("Hi")
        except QuotaExhaustedError as exc:
            print(f"4. account quota spent: scope={exc.scope}; retry after {exc.resets_at}")
        sim.reset()  # leave the simulator as we found it: it may be shared with other runs


if __name__ == "__main__":
    # The library logs each fallback (logger "modelscope_inference", WARNING).
    logging.basicConfig(level=logging.WARNING, format="   [log] %(message)s")
    with modelscope_service() as simulator:
        main(simulator)
