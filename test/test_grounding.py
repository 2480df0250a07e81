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
Open-vocabulary queries: semantic features, masks, 3D points, validation, ``predict --query``.

How the real world differs from these constructions: trained MaskCLIP features are noisy
and never exactly a text embedding, so real masks are coarse blobs that spill over object
edges (tested: a mask over a depth edge keeps the object's depth), and a query that is
absent still gets some probability (tested: it stays below the threshold -> not found).
Random weights only show the plumbing.
"""

import os

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from depthclip_ros.core.config import DepthClipConfig, MAX_QUERIES
from depthclip_ros.core.engine import DepthClipEngine
from depthclip_ros.core.geometry import Intrinsics
from depthclip_ros.core.grounding import (check_distinct, draw_overlay, grounding_probabilities,
                                          GroundingText, locate_queries, query_masks,
                                          unsupported_reason)
from depthclip_ros.core.model import DenseFeatures
from depthclip_ros.core.sample import load_sample_rgb, sample_frames
from depthclip_ros.tools.cli import main


@pytest.fixture(scope='module')
def engine(small_overrides):
    return DepthClipEngine(DepthClipConfig.from_flat(small_overrides))


def _images(engine, count=2):
    return engine.preprocess([load_sample_rgb(i) for i in range(count)])


# ------------------------------------------------------------------------------ (a) features
def test_semantic_features_equal_explicit_attention_pool_products(engine):
    model = engine.loaded.model
    visual = model.visual
    batch = _images(engine)
    with torch.inference_mode():
        paper, semantic = DenseFeatures(model, 'paper').features_and_semantics(batch)
        projected = DenseFeatures(model, 'projected')(batch)
        # Independent: open_clip's own layers, then explicit products with the attention
        # pool's value and output projection weights, in float64.
        trunk = visual.layer4(visual.layer3(visual.layer2(visual.layer1(visual.stem(batch)))))
        x = trunk.double().permute(0, 2, 3, 1)
        pool = visual.attnpool
        v = x @ pool.v_proj.weight.double().T + pool.v_proj.bias.double()
        c = v @ pool.c_proj.weight.double().T + pool.c_proj.bias.double()
        expected = (c / c.norm(dim=-1, keepdim=True)).permute(0, 3, 1, 2)
    assert semantic.shape == (2, 1024, 128 // 32, 160 // 32)
    assert (semantic.double() - expected).abs().max().item() <= 1e-5
    assert (projected.double() - expected).abs().max().item() <= 1e-5
    # The depth features of the same pass are paper mode's, bit for bit.
    with torch.inference_mode():
        assert torch.equal(paper, DenseFeatures(model, 'paper')(batch))
        _, first = DenseFeatures(model, 'paper').features_and_semantics(batch, 1)
    assert torch.equal(first, semantic[:1])


def test_queries_leave_the_depth_bit_for_bit_and_off_means_no_grounding(engine):
    images = [load_sample_rgb(0)]
    before = engine.predict(images)[0]
    assert before.grounding is None and engine.state.grounding is None
    state = engine.prepare({'grounding.queries': ['door', 'chair']})
    after = engine.predict(images, state=state)[0]
    assert np.array_equal(before.depth, after.depth)
    assert np.array_equal(before.confidence, after.confidence)
    masks = after.grounding
    assert masks.queries == ('door', 'chair') and masks.labels.shape == before.depth.shape
    assert masks.labels.dtype == np.uint8 and masks.labels.max() <= 2
    assert all(0.0 <= s <= 1.0 for s in masks.scores)
    # Only the threshold changes: the embeddings are kept, not encoded again.
    engine.commit(state)
    lower = engine.prepare({'grounding.threshold': 0.0})
    assert lower.grounding.embeddings is state.grounding.embeddings
    engine.update({'grounding.queries': []})
    assert engine.state.grounding is None
    found = engine.predict(images, state=lower)[0].grounding
    # threshold 0: every pixel a query wins is labelled (argmax), none other
    probs = F.interpolate(_grounding_probs(engine, lower, images), size=before.depth.shape,
                          mode='bilinear', align_corners=True)[0]
    top = probs.topk(2, dim=0).values
    clear = (top[0] - top[1] > 1e-4).numpy()  # away from ties at the masks' borders
    winner = probs.argmax(dim=0).numpy()
    expected = np.where(winner < 2, winner + 1, 0)
    assert clear.mean() > 0.9 and np.array_equal(found.labels[clear], expected[clear])


def _grounding_probs(engine, state, images):
    cfg = state.config
    batch = engine.preprocess(images)
    with torch.inference_mode():
        features = DenseFeatures(engine.loaded.model, cfg.feature_mode)
        features.use_channels_last()
        _, semantic = features.features_and_semantics(batch)
        return grounding_probabilities(semantic, state.grounding.embeddings)


# --------------------------------------------------------------------- (b) designed features
H_LOW, W_LOW, C = 6, 8, 8
HEIGHT, WIDTH = 56, 78          # (H - 1) = 11 (h - 1), (W - 1) = 11 (w - 1): no ties at 0.5
DOOR_ROWS, DOOR_COLS = (1, 2), (2, 4)


def _designed():
    basis = torch.eye(C)
    text = GroundingText(queries=('door', 'chair'), background=('floor', 'wall'),
                         embeddings=basis[:4], threshold=0.5)
    semantic = basis[2].reshape(1, C, 1, 1).repeat(1, 1, H_LOW, W_LOW)  # floor everywhere
    semantic[0, :, DOOR_ROWS[0]:DOOR_ROWS[1] + 1, DOOR_COLS[0]:DOOR_COLS[1] + 1] = \
        basis[0].reshape(C, 1, 1)                                        # the door
    return text, semantic


def _expected_door_mask(threshold=0.5):
    """Bilinear (corners aligned) interpolation of the door's cells, computed separably."""
    rows = np.zeros(H_LOW)
    rows[DOOR_ROWS[0]:DOOR_ROWS[1] + 1] = 1
    cols = np.zeros(W_LOW)
    cols[DOOR_COLS[0]:DOOR_COLS[1] + 1] = 1
    ry = np.interp(np.arange(HEIGHT) * (H_LOW - 1) / (HEIGHT - 1), np.arange(H_LOW), rows)
    rx = np.interp(np.arange(WIDTH) * (W_LOW - 1) / (WIDTH - 1), np.arange(W_LOW), cols)
    return np.outer(ry, rx) >= threshold


def _median_point(mask, depth, intr):
    v, u = np.nonzero(mask)
    z = depth[v, u].astype(np.float64)
    x = (u - intr.cx) * z / intr.fx
    y = (v - intr.cy) * z / intr.fy
    return np.array([np.median(x), np.median(y), np.median(z)])


def test_designed_region_gives_the_right_mask_point_and_distance():
    text, semantic = _designed()
    probabilities = grounding_probabilities(semantic, text.embeddings)
    masks = query_masks(probabilities[0], (HEIGHT, WIDTH), text)
    expected = _expected_door_mask()
    assert np.array_equal(masks.labels == 1, expected) and not (masks.labels == 2).any()
    assert masks.scores[0] > 0.99 and masks.scores[1] < 1e-6
    intr = Intrinsics.from_fov(WIDTH * 4, HEIGHT * 4, 70.0)  # scaled to the depth's size
    u = np.arange(WIDTH)[np.newaxis, :].repeat(HEIGHT, axis=0)
    depth = (2.0 + 0.02 * u).astype(np.float32)  # a wall turned away from the camera
    grounding = locate_queries(masks, depth, intr)
    door, chair = grounding.results
    small = intr.scaled(WIDTH, HEIGHT)
    point = _median_point(expected, depth, small)
    assert door.found and door.pixels == expected.sum()
    assert np.allclose(door.point, point, atol=1e-5)
    assert door.distance == pytest.approx(float(np.linalg.norm(point)), abs=1e-5)
    # independent of the medians: the door's centre column and its depth there
    centre = (DOOR_COLS[0] + DOOR_COLS[1]) / 2 * (WIDTH - 1) / (W_LOW - 1)
    assert door.point[2] == pytest.approx(2.0 + 0.02 * centre, abs=0.02)
    assert door.point[0] == pytest.approx((centre - small.cx) * door.point[2] / small.fx,
                                          abs=0.01)
    # the absent chair: not found, no point anywhere, not in the labels
    assert not chair.found and chair.point is None and chair.distance is None
    assert 'threshold' in chair.reason and 'not found' in chair.describe()
    assert np.array_equal(grounding.labels, masks.labels)
    assert 'door: ' in door.describe() and ' m at (' in door.describe()
    # above 0.5 only the queries are upsampled (the largest is implied): the same rule
    high = GroundingText(text.queries, text.background, text.embeddings, threshold=0.6)
    ry_rx = _expected_door_mask(0.6)
    assert np.array_equal(query_masks(probabilities[0], (HEIGHT, WIDTH), high).labels == 1,
                          ry_rx)


def test_a_coarse_mask_over_a_depth_edge_keeps_the_objects_depth():
    text, semantic = _designed()
    masks = query_masks(grounding_probabilities(semantic, text.embeddings)[0],
                        (HEIGHT, WIDTH), text)
    # The door's own pixels: the cells' footprint, a little smaller than the mask that
    # bleeds over its edge (as MaskCLIP's coarse masks do); the wall behind is at 6 m.
    step_y, step_x = (HEIGHT - 1) / (H_LOW - 1), (WIDTH - 1) / (W_LOW - 1)
    v, u = np.mgrid[:HEIGHT, :WIDTH]
    inside = ((v >= (DOOR_ROWS[0] - 0.3) * step_y) & (v <= (DOOR_ROWS[1] + 0.3) * step_y)
              & (u >= (DOOR_COLS[0] - 0.3) * step_x) & (u <= (DOOR_COLS[1] + 0.3) * step_x))
    depth = np.where(inside, 2.0, 6.0).astype(np.float32)
    assert ((masks.labels == 1) & ~inside).any()  # the mask does spill onto the wall
    door = locate_queries(masks, depth, Intrinsics.from_fov(WIDTH, HEIGHT, 60.0)).results[0]
    assert door.found and door.point[2] == 2.0


def test_too_few_pixels_or_no_depth_is_not_found_and_leaves_the_labels():
    text, _ = _designed()
    probabilities = torch.zeros(4, H_LOW, W_LOW)
    probabilities[2] = 1.0                      # floor everywhere ...
    probabilities[:, 3, 3] = torch.tensor([0.6, 0.0, 0.4, 0.0])  # ... a faint door at one cell
    faint = GroundingText(text.queries, text.background, text.embeddings, threshold=0.55)
    masks = query_masks(probabilities, (HEIGHT, WIDTH), faint)
    assert 0 < (masks.labels == 1).sum() < masks.min_pixels
    grounding = locate_queries(masks, np.full((HEIGHT, WIDTH), 3.0, np.float32),
                               Intrinsics.from_fov(WIDTH, HEIGHT, 60.0))
    door = grounding.results[0]
    assert not door.found and door.point is None and 'half a patch' in door.reason
    assert not grounding.labels.any()
    # a real mask over pixels without depth (NaN): not found, never a point elsewhere
    text, semantic = _designed()
    masks = query_masks(grounding_probabilities(semantic, text.embeddings)[0],
                        (HEIGHT, WIDTH), text)
    depth = np.where(masks.labels == 1, np.nan, 2.0).astype(np.float32)
    door = locate_queries(masks, depth, Intrinsics.from_fov(WIDTH, HEIGHT, 60.0)).results[0]
    assert not door.found and door.point is None and 'no valid depth' in door.reason


def test_overlay_outlines_found_queries_only():
    text, semantic = _designed()
    masks = query_masks(grounding_probabilities(semantic, text.embeddings)[0],
                        (HEIGHT, WIDTH), text)
    grounding = locate_queries(masks, np.full((HEIGHT, WIDTH), 2.0, np.float32),
                               Intrinsics.from_fov(WIDTH, HEIGHT, 60.0))
    rgb = np.full((HEIGHT * 4, WIDTH * 4, 3), 128, np.uint8)
    bgr = draw_overlay(rgb, grounding)
    assert bgr.shape == rgb.shape and bgr.dtype == np.uint8
    assert (bgr != 128).any(axis=2).sum() > 0


# ---------------------------------------------------------------------------- (c) refusals
@pytest.mark.parametrize('values, words', [
    ({'grounding.queries': ['door', '']}, 'empty strings'),
    ({'grounding.queries': ['door', 'Door ']}, 'door listed more than once'),
    ({'grounding.queries': ['floor']}, 'is also in grounding.background'),
    ({'grounding.queries': [f'thing{i}' for i in range(MAX_QUERIES + 1)]}, 'at most 16'),
    ({'grounding.queries': ['x' * 201]}, 'longer than 200'),
    ({'grounding.background': []}, 'at least one entry'),
    ({'grounding.templates': []}, 'at least one template'),
    ({'grounding.templates': ['a {} on a {}']}, 'exactly 1 empty'),
    ({'grounding.templates': ['a photo']}, 'exactly 1 empty'),
    ({'grounding.threshold': 1.5}, 'grounding.threshold must be in [0, 1]'),
    ({'grounding.queries': 'door'}, 'must be a list'),
])
def test_bad_grounding_settings_are_refused_with_a_reason(values, words):
    with pytest.raises(ValueError) as error:
        DepthClipConfig.from_flat(values)
    assert words in str(error.value)


def test_encoder_refusals_keep_the_old_settings(engine):
    before = engine.state
    for values, words in (({'grounding.queries': ['x,' * 90]}, 'does not fit the context'),):
        with pytest.raises(ValueError) as error:
            engine.update(values)
        assert words in str(error.value) and 'grounding' in str(error.value)
        assert engine.state is before
    same = torch.eye(3)[[0, 1, 1]]
    with pytest.raises(ValueError, match="'chair' and 'stool' give"):
        check_distinct(same, ['door', 'chair', 'stool'])
    assert unsupported_reason('torch', 'paper') == ''
    assert unsupported_reason('onnxruntime', 'projected') == ''
    assert 'feature_mode projected' in unsupported_reason('onnxruntime', 'paper')


# ------------------------------------------------------------------ predict --query, for real
def test_predict_query_end_to_end_on_the_sample(tmp_path, rn50_checkpoint, capsys):
    frame = sample_frames()[0]
    out = tmp_path / 'out'
    rc = main(['predict', frame, '--output', str(out), '--query', 'door', '--query', 'chair',
               '--set', f'model.pretrained={rn50_checkpoint}', '--set', 'model.device=cpu',
               '--set', 'model.precision=fp32', '--set', 'grounding.threshold=0',
               '--set', 'model.backend=torch',
               '--set', 'input.height=128', '--set', 'input.width=160'])
    assert rc == 0
    lines = capsys.readouterr().out.splitlines()
    for query in ('door', 'chair'):
        line = [x for x in lines if x.startswith(f'{frame}: {query}: ')]
        assert len(line) == 1 and ('not found' in line[0] or ' m at (' in line[0]), lines
    stem = os.path.splitext(os.path.basename(frame))[0]
    overlay = cv2.imread(str(out / f'{stem}_grounding.png'))
    assert overlay.shape == (480, 640, 3)
    rc = main(['predict', frame, '--output', str(out), '--query', 'floor',
               '--set', 'model.pretrained=', '--set', 'model.device=cpu'])
    err = capsys.readouterr().err
    assert rc == 2 and 'is also in grounding.background' in err and 'Traceback' not in err


def test_bench_grounding_rows_time_1_4_and_16_queries(engine):
    from depthclip_ros.tools.bench import format_report, grounding_rows
    before = engine.state
    rows = grounding_rows(engine, load_sample_rgb(0), 1000.0, 1, lambda: None)
    assert [row['queries'] for row in rows] == [1, 4, 16] and engine.state is before
    for row in rows:
        assert row['extra_ms'] > 0 and row['predict_ms'] > 0 and row['encode_text_ms'] > 0
        assert row['percent'] == pytest.approx(row['extra_ms'] / 10.0)
    report = format_report({'device': 'cpu', 'precision': 'fp32', 'torch_threads': 1,
                            'weights': 'w', 'feature_mode': 'paper', 'precision_reason': 'r',
                            'size': '480x640', 'input': '128x160', 'batch': 1,
                            'flip_tta': True, 'repeats': 1, 'encoder_images_per_pass': 2,
                            'encoder_ms': 1.0, 'predict_ms': 1.0, 'predict_over_encoder': 1.0,
                            'notes': [], 'grounding': rows})
    assert 'grounding, 16 queries: +' in report


@pytest.mark.parametrize('with_file', [True, False])
def test_the_node_declares_grounding_queries_as_a_string_array(context, with_file):
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    from depthclip_ros.ros.parameters import NodeParameters
    params = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          'config', 'depthclip.yaml')  # has grounding.queries: []
    args = ['--ros-args', '--params-file', params] if with_file else None
    node = Node('grounding_params', context=context, cli_args=args)
    try:
        NodeParameters(node).declare()
        assert node.get_parameter('grounding.queries').value == []
        result = node.set_parameters([Parameter('grounding.queries', value=['door', 'chair'])])
        assert result[0].successful, result[0].reason
        assert list(node.get_parameter('grounding.queries').value) == ['door', 'chair']
    finally:
        node.destroy_node()


# ------------------------------------------------------------- what the ROS outputs carry
def _located():
    text, semantic = _designed()
    masks = query_masks(grounding_probabilities(semantic, text.embeddings)[0],
                        (HEIGHT, WIDTH), text)
    intr = Intrinsics.from_fov(WIDTH, HEIGHT, 60.0)
    return locate_queries(masks, np.full((HEIGHT, WIDTH), 2.0, np.float32), intr), intr


def test_markers_and_diagnostics_of_a_found_and_an_absent_query():
    from depthclip_ros.core.grounding import grounding_values, marker_specs
    grounding, _ = _located()
    door, chair = grounding.results
    specs = marker_specs(grounding)
    assert [(s.kind, s.marker_id) for s in specs] == [('sphere', 0), ('text', 1)]
    sphere, text = specs
    assert sphere.position == door.point and text.text == f'door {door.distance:.1f} m'
    assert text.position[1] < sphere.position[1] and text.position[0] == sphere.position[0]
    assert all(0.0 <= c <= 1.0 for c in sphere.rgba) and sphere.scale[0] > 0
    values = dict(grounding_values(grounding, ('door', 'chair')))
    assert values['grounding queries'] == 'door, chair'
    assert values['query door: found'] == 'yes'
    assert float(values['query door: distance (m)']) == pytest.approx(door.distance, abs=1e-3)
    assert int(values['query door: pixels']) == door.pixels
    assert values['query chair: found'] == f'no: {chair.reason}'
    assert values['query chair: point (m)'] == '-'
    # other queries in force than the frame's: say so, never the old answers
    stale = dict(grounding_values(grounding, ('cup',)))
    assert 'query door: found' not in stale and 'no frame' in stale['grounding']


def test_the_label_field_of_the_cloud_follows_stride_and_the_unorganized_cloud():
    from depthclip_ros.core.geometry import cloud_fields, depth_to_points
    grounding, intr = _located()
    depth = np.full((HEIGHT, WIDTH), 2.0, np.float32)
    depth[0, :] = np.nan
    organized = depth_to_points(depth, intr, stride=3, labels=grounding.labels)
    assert np.array_equal(organized['label'], grounding.labels[::3, ::3])
    assert [f[0] for f in cloud_fields(organized)] == ['x', 'y', 'z', 'label']
    assert cloud_fields(organized)[-1] == ('label', 12, 6, 1)  # UINT32 after x, y, z
    flat = depth_to_points(depth, intr, organized=False, labels=grounding.labels,
                           rgb=np.zeros((HEIGHT, WIDTH, 3), np.uint8))
    assert len(flat) == (HEIGHT - 1) * WIDTH and flat.dtype.itemsize == 20
    assert np.array_equal(flat['label'], grounding.labels[1:].ravel())
    with pytest.raises(ValueError, match='labels must be'):
        depth_to_points(depth, intr, labels=np.zeros((2, 2), np.uint8))


def test_answers_again_from_the_published_labels_are_the_same():
    from depthclip_ros.core.grounding import grounding_from_labels
    grounding, intr = _located()
    again = grounding_from_labels(('door', 'chair'), grounding.labels,
                                  np.full((HEIGHT, WIDTH), 2.0, np.float32), intr)
    assert again.results[0].point == grounding.results[0].point
    assert again.results[0].pixels == grounding.results[0].pixels
    assert not again.results[1].found and np.array_equal(again.labels, grounding.labels)
