"""LlamaIndex RAG: index a few documents with ModelScope embeddings, answer with a ModelScope LLM.

``ModelScopeEmbedding`` sends raw text (no tiktoken) and ``ModelScopeLLM`` knows the model's
real context window, so nothing needs tuning. Run it with ``python examples/llamaindex_rag.py``
(no token: a local simulator answers by quoting the best-matching context sentence).

Whether the shared API-Inference endpoint serves embeddings, and for which models, is not
documented by ModelScope; if the real service answers 404 for the embedding model, use a
dedicated deployment's base URL for ``ModelScopeEmbedding(api_base=...)``.
"""

from __future__ import annotations

from _common import modelscope_service
from llama_index.core import Document, Settings, VectorStoreIndex

from llama_index_modelscope import ModelScopeEmbedding, ModelScopeLLM

NOTES = {
    "tokens": "API-Inference calls need a ModelScope access token, created on the access "
    "token page, and an account bound to Alibaba Cloud.",
    "quota": "The free tier has a daily number of calls per account and a lower number per "
    "model. ModelScope usually resets daily counts at 00:00 UTC+8.",
    "errors": "When a daily quota is spent the service answers HTTP 429; switch to another "
    "model or wait for the reset.",
    "thinking": "Thinking-only models such as QwQ must be streamed; hybrid Qwen3 models need "
    "enable_thinking=false for non-streaming calls.",
}


def main() -> None:
    Settings.embed_model = ModelScopeEmbedding(model_name="Qwen/Qwen3-Embedding-0.6B")
    Settings.llm = ModelScopeLLM(model="Qwen/Qwen3-32B", temperature=0.2)

    documents = [Document(text=text, metadata={"topic": topic}) for topic, text in NOTES.items()]
    index = VectorStoreIndex.from_documents(documents)
    query_engine = index.as_query_engine(similarity_top_k=2)

    for question in ("When does the quota reset?", "What does HTTP 429 mean here?"):
        response = query_engine.query(question)
        topics = [node.metadata["topic"] for node in response.source_nodes]
        print(f"Q: {question}\nA: {response}\n   (from: {', '.join(topics)})\n")

    print("Context window LlamaIndex sees:", Settings.llm.metadata.context_window)


if __name__ == "__main__":
    with modelscope_service():
        main()
