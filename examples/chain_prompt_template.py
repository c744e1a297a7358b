"""A LangChain chain: prompt template | ChatModelScope | output parser; invoke, batch, stream.

Run it with ``python examples/chain_prompt_template.py``. Without ``MODELSCOPE_API_KEY`` a local
simulator answers (with canned text); with it, the real service does.
"""

from __future__ import annotations

from _common import modelscope_service
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from langchain_modelscope import ChatModelScope

MODEL = "Qwen/Qwen3-32B"  # a hybrid thinking model: invoke() turns thinking off for you


def main() -> None:
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "You are a concise technical writer. Answer in at most two sentences."),
            ("human", "Explain {topic} to a {audience}."),
        ]
    )
    llm = ChatModelScope(model=MODEL, temperature=0.3, max_tokens=200)
    chain = prompt | llm | StrOutputParser()

    print("invoke:", chain.invoke({"topic": "vector embeddings", "audience": "product manager"}))

    # The free tier aims to guarantee one concurrent request, so batch one at a time.
    inputs = [
        {"topic": "HTTP 429", "audience": "new developer"},
        {"topic": "a daily API quota", "audience": "student"},
    ]
    for answer in chain.batch(inputs, config={"max_concurrency": 1}):
        print("batch: ", answer)

    print("stream:", end=" ")
    for piece in chain.stream({"topic": "streaming responses", "audience": "designer"}):
        print(piece, end="", flush=True)
    print()


if __name__ == "__main__":
    with modelscope_service():
        main()
