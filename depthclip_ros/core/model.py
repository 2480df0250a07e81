# Copyright 2026 The depthclip_ros Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
DepthCLIP model code: dense CLIP image features, class text embeddings and the depth head.

Nothing here loads weights (see :mod:`depthclip_ros.core.loading`) or keeps state between frames
(see :mod:`depthclip_ros.core.engine`).

Feature modes:

``paper``
    The DepthCLIP reference: the output of the last residual stage (``layer4``) of CLIP's
    modified ResNet, before the attention pool. Each 2048-wide feature vector is
    L2-normalized and then every second channel is kept (0, 2, 4, ...), which is what the
    reference's nearest interpolation by 0.5 along the channel axis does. Only backbones
    whose ``layer4`` is exactly twice as wide as the text embedding (RN50) can be served.
``projected``
    MaskCLIP (Zhou et al., ECCV 2022): every dense feature goes through the attention
    pool's value and output projections (ResNets), or every patch token of the last
    transformer block goes through that block's value path, ``ln_post`` and ``proj``
    (ViTs; the positional embedding is interpolated to the input's token grid). Features
    are then L2-normalized. Works for every open_clip ResNet and ViT.
"""

import math
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from torch import nn
import torch.nn.functional as F

from depthclip_ros.core.config import MAX_CLASS_COSINE
from depthclip_ros.core.stats import most_similar_rows

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: CLIP's own statistics (open_clip.constants.OPENAI_DATASET_MEAN / STD).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

#: Logit scale of the DepthCLIP head (CLIP's trained scale, rounded as in the reference).
LOGIT_SCALE = 100.0


class UnsupportedBackboneError(ValueError):
    """The backbone cannot be used in the requested feature mode."""


def normalization_stats(normalization: str) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    """Return (mean, std) for ``imagenet`` (the paper) or ``clip``."""
    if normalization == 'imagenet':
        return IMAGENET_MEAN, IMAGENET_STD
    if normalization == 'clip':
        return CLIP_MEAN, CLIP_STD
    raise ValueError(f'input.normalization must be imagenet or clip, got {normalization!r}')


def _is_modified_resnet(visual: nn.Module) -> bool:
    return all(hasattr(visual, name) for name in ('stem', 'layer4', 'attnpool'))


def _is_vit(visual: nn.Module) -> bool:
    return all(hasattr(visual, name) for name in ('conv1', 'transformer', 'ln_post', 'proj',
                                                  'class_embedding', 'positional_embedding'))


def text_width(model: nn.Module) -> int:
    """Return the width of the joint image-text embedding space."""
    if getattr(model, 'text_projection', None) is not None:
        projection = model.text_projection
        return int(projection.shape[1] if isinstance(projection, torch.Tensor)
                   else projection.out_features)
    return int(model.visual.output_dim)


class DenseFeatures(nn.Module):
    """
    Dense, text-aligned CLIP image features from one forward pass of the image encoder.

    Input: a normalized image batch ``(B, 3, H, W)`` with H and W multiples of 32.
    Output: ``(B, C, H/s, W/s)`` float32 features in the text embedding space (s = 32 for
    ResNets, the patch size for ViTs), L2-normalized per position (in paper mode normalized
    over the 2048 channels before every second one is kept, as in the reference).
    """

    def __init__(self, clip_model: nn.Module, feature_mode: str):
        """
        Wrap ``clip_model.visual`` for ``feature_mode`` (``paper`` or ``projected``).

        :raises UnsupportedBackboneError: the backbone cannot serve that mode
        """
        super().__init__()
        self.visual = clip_model.visual
        self.feature_mode = feature_mode
        self.out_dim = text_width(clip_model)
        name = type(self.visual).__name__
        if _is_modified_resnet(self.visual):
            self.kind = 'resnet'
            layer4_width = self.visual.attnpool.v_proj.in_features
            if feature_mode == 'paper' and layer4_width != 2 * self.out_dim:
                raise UnsupportedBackboneError(
                    f'feature_mode paper needs a ResNet whose layer4 ({layer4_width} channels) '
                    f'is twice the text width ({self.out_dim}), i.e. RN50; use '
                    'feature_mode: projected for this backbone')
        elif _is_vit(self.visual):
            self.kind = 'vit'
            if feature_mode == 'paper':
                raise UnsupportedBackboneError(
                    f'feature_mode paper needs CLIP RN50; {name} is a ViT: use '
                    'feature_mode: projected')
        else:
            raise UnsupportedBackboneError(
                f'{name} is neither a CLIP ModifiedResNet nor a VisionTransformer; dense '
                'features are not supported for it')
        if feature_mode not in ('paper', 'projected'):
            raise UnsupportedBackboneError(f'unknown feature_mode {feature_mode!r}')

    @property
    def stride(self) -> int:
        """Return the output stride in pixels."""
        if self.kind == 'resnet':
            return 32
        patch = self.visual.conv1.kernel_size
        return int(patch[0])

    @property
    def dtype(self) -> torch.dtype:
        """Return the dtype of the encoder's weights."""
        return self.visual.conv1.weight.dtype

    def use_channels_last(self) -> None:
        """Store the ResNet's weights NHWC: faster convolutions with oneDNN and cuDNN."""
        if self.kind == 'resnet':
            self.visual.to(memory_format=torch.channels_last)
            self.channels_last = True

    channels_last = False

    def _input(self, images: torch.Tensor) -> torch.Tensor:
        """Return ``images`` in the trunk's dtype and memory format."""
        images = images.to(self.dtype)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Return dense normalized features for a normalized image batch."""
        images = self._input(images)
        if self.kind == 'resnet':
            trunk = self.resnet_trunk(images)
            if self.feature_mode == 'paper':
                return paper_features(trunk)
            return F.normalize(self.resnet_projection(trunk).float(), dim=1)
        return F.normalize(self.vit_tokens(images).float(), dim=1)

    def features_and_semantics(self, images: torch.Tensor, count: Optional[int] = None
                               ) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Return the feature mode's features and the MaskCLIP semantic features of one pass.

        The semantic features are the ``projected`` mode's (L2-normalized, in the text
        embedding space). In ``projected`` mode both are the same tensor; in ``paper`` mode
        the ``layer4`` output the depth features come from also goes through the attention
        pool's value and output projections. The first tensor equals :meth:`forward`'s.

        :param count: semantic features of the first ``count`` images only (e.g. not the
            mirrored half of a flip-TTA batch); None: of all
        """
        images = self._input(images)
        if self.kind == 'resnet':
            trunk = self.resnet_trunk(images)
            if self.feature_mode == 'paper':
                semantic = F.normalize(self.fused_projection(trunk[:count]).float(), dim=1)
                return paper_features(trunk), semantic
            features = F.normalize(self.resnet_projection(trunk).float(), dim=1)
            return features, features[:count]
        features = F.normalize(self.vit_tokens(images).float(), dim=1)
        return features, features[:count]

    def resnet_trunk(self, images: torch.Tensor) -> torch.Tensor:
        """Stem and the four residual stages: ``(B, width*32, H/32, W/32)``."""
        v = self.visual
        return v.layer4(v.layer3(v.layer2(v.layer1(v.stem(images)))))

    def resnet_projection(self, trunk: torch.Tensor) -> torch.Tensor:
        """Map layer4 features through the attention pool's value and output projections."""
        pool = self.visual.attnpool
        x = trunk.permute(0, 2, 3, 1)  # B, h, w, C
        x = F.linear(x, pool.v_proj.weight, pool.v_proj.bias)
        x = F.linear(x, pool.c_proj.weight, pool.c_proj.bias)
        return x.permute(0, 3, 1, 2)

    def fused_projection(self, trunk: torch.Tensor) -> torch.Tensor:
        """
        Return :meth:`resnet_projection` computed as one matrix product.

        ``c_proj(v_proj(x)) = (W_c W_v) x + W_c b_v + b_c``.

        A third of the products (RN50: 2048 -> 1024 instead of 2048 -> 2048 -> 1024); equal
        to :meth:`resnet_projection` up to float rounding. The fused weights are computed
        once per weight tensor, dtype and device.
        """
        pool = self.visual.attnpool
        key = (pool.v_proj.weight.data_ptr(), pool.c_proj.weight.data_ptr(),
               pool.v_proj.weight.dtype, pool.v_proj.weight.device)
        if self._fused is None or self._fused[0] != key:
            with torch.no_grad():
                w_v, w_c = pool.v_proj.weight.float(), pool.c_proj.weight.float()
                b_v = pool.v_proj.bias.float() if pool.v_proj.bias is not None else \
                    torch.zeros(w_v.shape[0], device=w_v.device)
                b_c = pool.c_proj.bias.float() if pool.c_proj.bias is not None else \
                    torch.zeros(w_c.shape[0], device=w_c.device)
                dtype = pool.v_proj.weight.dtype
                self._fused = (key, (w_c @ w_v).to(dtype), (w_c @ b_v + b_c).to(dtype))
        _, weight, bias = self._fused
        x = F.linear(trunk.permute(0, 2, 3, 1), weight, bias)
        return x.permute(0, 3, 1, 2)

    _fused = None

    def vit_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Patch tokens through the last block's value path, ln_post and proj."""
        v = self.visual
        x = v.conv1(images)
        batch, width, gh, gw = x.shape
        x = x.reshape(batch, width, gh * gw).permute(0, 2, 1)
        cls = v.class_embedding.to(x.dtype).reshape(1, 1, width).expand(batch, 1, width)
        x = torch.cat([cls, x], dim=1)
        x = x + interpolate_positional_embedding(v.positional_embedding, gh, gw).to(x.dtype)
        x = v.ln_pre(x)
        transformer = v.transformer
        batch_first = getattr(transformer, 'batch_first', True)
        blocks = list(transformer.resblocks)
        if not batch_first:
            x = x.transpose(0, 1)
        for block in blocks[:-1]:
            x = block(x)
        if not batch_first:
            x = x.transpose(0, 1)
        last = blocks[-1]
        attn = last.attn
        if not isinstance(attn, nn.MultiheadAttention):
            raise UnsupportedBackboneError(
                f'projected mode needs nn.MultiheadAttention blocks, got {type(attn).__name__}')
        y = last.ln_1(x)
        d = attn.embed_dim
        w_v = attn.in_proj_weight[2 * d:]
        b_v = attn.in_proj_bias[2 * d:] if attn.in_proj_bias is not None else None
        y = F.linear(y, w_v, b_v)
        y = attn.out_proj(y)
        if hasattr(last, 'ls_1'):
            y = last.ls_1(y)
        y = v.ln_post(y[:, 1:])
        y = y @ v.proj
        return y.permute(0, 2, 1).reshape(batch, -1, gh, gw)


def paper_features(trunk: torch.Tensor) -> torch.Tensor:
    """
    Compute the DepthCLIP reference features from RN50 ``layer4`` output ``(B, 2048, h, w)``.

    Normalize each 2048-wide vector, then keep channels 0, 2, 4, ... (``(B, 1024, h, w)``).
    """
    trunk = trunk.float()
    return F.normalize(trunk, dim=1)[:, ::2]


def interpolate_positional_embedding(pos: torch.Tensor, gh: int, gw: int) -> torch.Tensor:
    """Resize a ViT positional embedding ``(1 + n*n, C)`` to a ``gh x gw`` token grid."""
    n = int(round(math.sqrt(pos.shape[0] - 1)))
    if n * n != pos.shape[0] - 1:
        raise UnsupportedBackboneError('positional embedding is not a square grid')
    if (gh, gw) == (n, n):
        return pos
    cls, grid = pos[:1], pos[1:]
    grid = grid.reshape(1, n, n, -1).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=(gh, gw), mode='bicubic', align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(gh * gw, -1).to(pos.dtype)
    return torch.cat([cls, grid], dim=0)


def build_prompts(templates: Sequence[str], objects: Sequence[str],
                  depth_classes: Sequence[str]) -> List[str]:
    """
    Fill every template with every object and depth class (object first).

    Order: depth class, then object, then template (the embedding code relies on it).
    """
    return [template.format(obj, depth)
            for depth in depth_classes for obj in objects for template in templates]


#: Prompts encoded per text-encoder call; a prompt change can be cancelled between chunks.
TEXT_CHUNK = 16


class CancelledError(RuntimeError):
    """The computation was cancelled (the node is shutting down)."""


def prompt_tokens(tokenizer, prompts: Sequence[str]) -> torch.Tensor:
    """
    Tokenize ``prompts``; refuse any that does not fit the text encoder's context.

    A prompt fits when its tokenized row ends in padding (0): a row whose last token is not
    padding filled the whole context and may have been cut off, so the depth word may be
    lost and every class may read the same.

    :raises ValueError: naming the first prompt that does not fit
    """
    tokens = tokenizer(list(prompts))
    full = (tokens[:, -1] != 0).nonzero()
    if len(full):
        prompt = prompts[int(full[0])]
        shown = prompt if len(prompt) <= 80 else prompt[:77] + '...'
        raise ValueError(f'prompts: {shown!r} does not fit the context of the text encoder '
                         f'({tokens.shape[1]} tokens; the depth word would be cut off): shorten '
                         'prompts.templates / prompts.objects / prompts.depth_classes')
    return tokens


def check_distinct_classes(text: torch.Tensor, depth_classes: Sequence[str],
                           max_cosine: float = MAX_CLASS_COSINE) -> None:
    """
    Refuse class embeddings of which two are (nearly) identical.

    Two classes with the same embedding get the same probability everywhere, so their bins
    are averaged and the depth loses its meaning silently.

    :param text: ``(K, C)`` unit-norm class embeddings
    :raises ValueError: naming the two depth classes and their cosine similarity
    """
    i, j, value = most_similar_rows(text.detach().float().cpu().numpy())
    if value > max_cosine:
        raise ValueError(
            f'prompts.depth_classes: the prompts of {depth_classes[i]!r} and '
            f'{depth_classes[j]!r} give (nearly) identical text embeddings (cosine '
            f'{value:.5f} > {max_cosine}); every depth class needs prompts of its own')


@torch.inference_mode()
def class_embeddings(clip_model: nn.Module, tokenizer, templates: Sequence[str],
                     objects: Sequence[str], depth_classes: Sequence[str],
                     device: torch.device,
                     should_stop: Optional[Callable[[], bool]] = None) -> torch.Tensor:
    """
    Return one unit-norm text embedding per depth class, ``(K, C)`` float32.

    Each prompt embedding is L2-normalized, averaged over templates and normalized again
    (the reference's zero-shot classifier); with several objects, the per-object
    embeddings of a depth class are averaged and normalized once more. Prompts are encoded
    :data:`TEXT_CHUNK` at a time; ``should_stop`` is asked between chunks.

    :raises ValueError: a prompt does not fit the context, or two classes read the same
    :raises CancelledError: ``should_stop`` returned true
    """
    prompts = build_prompts(templates, objects, depth_classes)
    tokens = prompt_tokens(tokenizer, prompts).to(device)
    chunks = []
    for start in range(0, len(prompts), TEXT_CHUNK):
        if should_stop is not None and should_stop():
            raise CancelledError('class embeddings: cancelled')
        chunks.append(clip_model.encode_text(tokens[start:start + TEXT_CHUNK]).float())
    embeddings = F.normalize(torch.cat(chunks), dim=-1)
    k, o, t = len(depth_classes), len(objects), len(templates)
    per_object = F.normalize(embeddings.reshape(k, o, t, -1).mean(dim=2), dim=-1)
    if o == 1:
        text = per_object[:, 0].contiguous()
    else:
        text = F.normalize(per_object.mean(dim=1), dim=-1)
    check_distinct_classes(text, depth_classes)
    return text


def class_probabilities(features: torch.Tensor, text: torch.Tensor,
                        temperature: float) -> torch.Tensor:
    """
    Softmax over depth classes of ``100 * <feature, class embedding> / temperature``.

    :param features: ``(B, C, h, w)`` float32 (normalized as the feature mode defines)
    :param text: ``(K, C)`` float32 unit-norm class embeddings
    :return: ``(B, K, h, w)`` probabilities
    """
    logits = torch.einsum('bchw,kc->bkhw', features, text.to(features.dtype))
    logits = logits * (LOGIT_SCALE / temperature)
    return torch.softmax(logits, dim=1)


def average_mirrored(probabilities: torch.Tensor, mirrored: torch.Tensor) -> torch.Tensor:
    """
    Average class probabilities with those of the mirrored image, flipped back (flip TTA).

    :param probabilities: ``(B, K, h, w)`` of the images
    :param mirrored: ``(B, K, h, w)`` of the same images mirrored left-right
    """
    return 0.5 * (probabilities + torch.flip(mirrored, dims=[3]))


def expected_depth(probabilities: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Return ``sum_k p_k * bin_k``: ``(B, 1, h, w)`` metres."""
    return torch.einsum('bkhw,k->bhw', probabilities, bins.to(probabilities.dtype)).unsqueeze(1)


def confidence(probabilities: torch.Tensor) -> torch.Tensor:
    """
    Per-pixel confidence ``1 - H(p) / log K`` in [0, 1], ``(B, 1, h, w)``.

    1 when all probability is on one depth class, 0 when it is spread evenly over all K.
    """
    k = probabilities.shape[1]
    p = probabilities.clamp_min(1e-12)
    entropy = -(p * p.log()).sum(dim=1, keepdim=True)
    return (1.0 - entropy / math.log(k)).clamp(0.0, 1.0)
