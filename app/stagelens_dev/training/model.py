"""The demo vision-language model in PyTorch, computing exactly what llama.cpp computes.

Vision (clip.cpp's LLaVA graph, projector ``mlp``): patch conv + learned positions (no class
token) -> pre LayerNorm -> ViT blocks (LayerNorm, biased MHA, LayerNorm, GELU MLP) -> post
LayerNorm -> Linear -> GELU -> Linear into the text model's embedding space. The mmproj names
its last block as the feature layer (``clip.vision.feature_layer``), so clip.cpp runs every
block, as this model does (without it, clip.cpp stops one block early, LLaVA's penultimate-layer
features). GELU is the tanh approximation (``ggml_gelu``, selected by ``clip.use_gelu``).

Text (llama.cpp's ``llama`` arch): RMSNorm, grouped-query attention with RoPE in llama.cpp's
NORM mode (adjacent pairs x[2i], x[2i+1] rotate together, so q/k need no permutation on
export), SwiGLU MLP, untied output head.

``PatchProbe`` is a training-only head on the image tokens (never exported): it predicts, for
every patch, which shape has its centre there and which shape covers most of it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.5, 0.5, 0.5)
VISION_EPS = 1e-5
TEXT_EPS = 1e-5


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    image_size: int = 64
    patch_size: int = 8
    v_embd: int = 128
    v_layers: int = 3
    v_heads: int = 4
    v_ff: int = 384
    n_embd: int = 192
    n_layers: int = 5
    n_heads: int = 6
    n_kv_heads: int = 3
    n_ff: int = 512
    rope_base: float = 10000.0
    n_ctx: int = 1024

    @property
    def n_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    def to_json(self) -> dict:
        return asdict(self)


def gelu(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


class VisionBlock(nn.Module):
    def __init__(self, d: int, n_heads: int, n_ff: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.ln1 = nn.LayerNorm(d, eps=VISION_EPS)
        self.q, self.k, self.v, self.out = (nn.Linear(d, d) for _ in range(4))
        self.ln2 = nn.LayerNorm(d, eps=VISION_EPS)
        self.up = nn.Linear(d, n_ff)
        self.down = nn.Linear(n_ff, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        h = self.ln1(x)
        q, k, v = (proj(h).view(b, n, self.n_heads, -1).transpose(1, 2) for proj in (self.q, self.k, self.v))
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        x = x + self.out(a)
        return x + self.down(gelu(self.up(self.ln2(x))))


class VisionTower(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.v_embd
        self.patch = nn.Conv2d(3, d, cfg.patch_size, stride=cfg.patch_size)
        self.pos = nn.Parameter(torch.randn(cfg.n_patches, d) * 0.02)
        self.pre_ln = nn.LayerNorm(d, eps=VISION_EPS)
        self.blocks: nn.ModuleList = nn.ModuleList(VisionBlock(d, cfg.v_heads, cfg.v_ff) for _ in range(cfg.v_layers))
        self.post_ln = nn.LayerNorm(d, eps=VISION_EPS)
        self.mm0 = nn.Linear(d, cfg.n_embd)
        self.mm2 = nn.Linear(cfg.n_embd, cfg.n_embd)
        mean = torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGE_STD).view(1, 3, 1, 1)
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels: (B, 3, H, W) floats in [0, 1] -> (B, n_patches, n_embd) image token embeddings."""
        x = self.patch((pixels - self.mean) / self.std).flatten(2).transpose(1, 2)
        x = self.pre_ln(x + self.pos)
        for block in self.blocks:
            x = block(x)
        return self.mm2(gelu(self.mm0(self.post_ln(x))))


class RMSNorm(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + TEXT_EPS) * self.weight


def rope_tables(head_dim: int, n_pos: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    inv = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.arange(n_pos, dtype=torch.float64)[:, None] * inv[None, :]
    return angles.cos().float(), angles.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: (B, H, T, D); rotates (x[2i], x[2i+1]) pairs, as llama.cpp's NORM rope mode."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d, hd = cfg.n_embd, cfg.n_embd // cfg.n_heads
        self.n_heads, self.n_kv, self.head_dim = cfg.n_heads, cfg.n_kv_heads, hd
        self.attn_norm = RMSNorm(d)
        self.q = nn.Linear(d, cfg.n_heads * hd, bias=False)
        self.k = nn.Linear(d, cfg.n_kv_heads * hd, bias=False)
        self.v = nn.Linear(d, cfg.n_kv_heads * hd, bias=False)
        self.o = nn.Linear(cfg.n_heads * hd, d, bias=False)
        self.ffn_norm = RMSNorm(d)
        self.gate = nn.Linear(d, cfg.n_ff, bias=False)
        self.up = nn.Linear(d, cfg.n_ff, bias=False)
        self.down = nn.Linear(cfg.n_ff, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        h = self.attn_norm(x)
        q = apply_rope(self.q(h).view(b, t, self.n_heads, self.head_dim).transpose(1, 2), cos, sin)
        k = apply_rope(self.k(h).view(b, t, self.n_kv, self.head_dim).transpose(1, 2), cos, sin)
        v = self.v(h).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        rep = self.n_heads // self.n_kv
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, -1)
        x = x + self.o(a)
        h = self.ffn_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class DemoModel(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.vision = VisionTower(cfg)
        self.embed = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.n_embd)
        self.output = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        cos, sin = rope_tables(cfg.n_embd // cfg.n_heads, cfg.n_ctx, cfg.rope_base)
        self.cos: torch.Tensor
        self.sin: torch.Tensor
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.apply(_init)

    def forward(self, prefix: torch.Tensor, pixels: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, vocab) for [prefix tokens, image tokens, rest tokens] (token ids, (B, n) each)."""
        return self.logits(prefix, self.vision(pixels), rest)

    def logits(self, prefix: torch.Tensor, image_tokens: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
        """As ``forward``, with the image tokens (B, n_patches, n_embd) already computed."""
        return self.decode(self.embed_sequence(prefix, image_tokens, rest))

    def decoder_layers(self) -> list[DecoderLayer]:
        return [layer for layer in self.layers if isinstance(layer, DecoderLayer)]

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.hidden_states(x))

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """The normed last hidden states (B, T, n_embd) for input embeddings x; ``output`` gives logits."""
        t = x.shape[1]
        cos, sin = self.cos[:t], self.sin[:t]
        for layer in self.decoder_layers():
            x = layer(x, cos, sin)
        return self.norm(x)

    def embed_sequence(self, prefix: torch.Tensor, image_tokens: torch.Tensor, rest: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.embed(prefix), image_tokens, self.embed(rest)), dim=1)


def _init(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def scaled_residual_init(model: DemoModel) -> None:
    """GPT-2 style: output projections of residual branches scaled by 1/sqrt(2 * layers)."""
    scale = 1 / math.sqrt(2 * model.cfg.n_layers)
    with torch.no_grad():
        for layer in model.decoder_layers():
            layer.o.weight.mul_(scale)
            layer.down.weight.mul_(scale)


class PatchProbe(nn.Module):
    """Training-only: per image token, logits for the shape centred in its patch (none, or size x colour
    x kind), the shape covering most of its pixels (none, or colour x kind), and the patch's own column
    and row (so the decoder can address image tokens by the cell a caption names)."""

    def __init__(self, d: int, n_centre: int, n_cover: int, side: int) -> None:
        super().__init__()
        self.centre = nn.Linear(d, n_centre)
        self.cover = nn.Linear(d, n_cover)
        self.column = nn.Linear(d, side)
        self.row = nn.Linear(d, side)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.centre(tokens), self.cover(tokens), self.column(tokens), self.row(tokens)


class VerdictProbe(nn.Module):
    """Training-only: on the text model's last hidden state at each token of a judge candidate, whether the
    candidate is still right up to that token (process supervision for the judge's final choice)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.head = nn.Linear(d, 2)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head(hidden)
