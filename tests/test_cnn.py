"""The MTCNN networks: weights read safely from the wheel format, networks that behave like the
trained detector (faces vs non-faces, faces found in photos), and feature visualizations that do
what the recipe says."""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fractal_match.templates.cnn.weights import MEMBER_SHA256, WeightsError, load_weights, read_legacy_state_dict

jax = pytest.importorskip("jax", reason="the cnn extra (jax) is part of the test extra")

from fractal_match.templates.cnn import analysis, nets  # noqa: E402
from fractal_match.templates.cnn.visualize import visualize  # noqa: E402


# --- the legacy torch format, written by hand (no torch here either) ---------------------------

def _unicode(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(value: int) -> bytes:
    if -2**31 <= value < 2**31:
        return b"J" + struct.pack("<i", value)
    data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)  # LONG1: any size
    return b"\x8a" + bytes([len(data)]) + data


def _tuple(values) -> bytes:
    return b"(" + b"".join(_int(v) for v in values) + b"t"


def legacy_file(tensors: dict, state_global: bytes = b"ccollections\nOrderedDict\n") -> bytes:
    """The bytes torch's legacy serialization writes for a state dict of float32 arrays."""
    dump = lambda value: pickle.dumps(value, protocol=2)  # noqa: E731
    head = dump(0x1950A86A20F9469CFC6C) + dump(1001) + dump(
        {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}})
    body = b"\x80\x02" + state_global + b")R("
    for key, (name, array) in enumerate(tensors.items()):
        array = np.ascontiguousarray(array, dtype=np.float32)
        strides = [s // 4 for s in array.strides]
        body += _unicode(name) + b"ctorch._utils\n_rebuild_tensor_v2\n("
        body += b"(" + _unicode("storage") + b"ctorch\nFloatStorage\n" + _unicode(str(key)) + _unicode("cpu")
        body += _int(array.size) + b"NtQ"
        body += _int(0) + _tuple(array.shape) + _tuple(strides) + b"\x89ccollections\nOrderedDict\n)Rt"
        body += b"R"
    body += b"u."
    keys = dump([str(k) for k in range(len(tensors))])
    data = b"".join(struct.pack("<q", a.size) + np.asarray(a, dtype="<f4").tobytes() for a in tensors.values())
    return head + body + keys + data


def test_a_hand_written_legacy_file_reads_back_exactly():
    rng = np.random.default_rng(0)
    tensors = {"conv1.weight": rng.normal(size=(4, 3, 3, 3)), "conv1.bias": rng.normal(size=4),
               "scalar_like": rng.normal(size=(1,))}
    read = read_legacy_state_dict(legacy_file(tensors), "tiny.pt")
    assert list(read) == list(tensors)
    for name, array in tensors.items():
        assert read[name].dtype == np.float32 and read[name].shape == array.shape
        np.testing.assert_array_equal(read[name], array.astype(np.float32))


def test_a_file_naming_any_other_global_is_refused_before_anything_runs(tmp_path):
    marker = tmp_path / "ran"
    evil = b"cos\nsystem\n" + _unicode(f"touch {marker}") + b"\x85R"
    payload = legacy_file({"w": np.zeros(2)}, state_global=evil + b"0ccollections\nOrderedDict\n")
    with pytest.raises(WeightsError, match=r"refuses to load the global os\.system \(allowed: collections\.OrderedDict"):
        read_legacy_state_dict(payload, "evil.pt")
    assert not marker.exists()


def _view_file(offset: int, shape, stride, count: int = 4) -> bytes:
    """A one-entry legacy file whose tensor is the given view of a storage of `count` elements."""
    body = legacy_file({"w": np.arange(count, dtype=np.float32)})
    old = _int(0) + _tuple((count,)) + _tuple((1,))
    assert body.count(old) == 1
    return body.replace(old, _int(offset) + _tuple(shape) + _tuple(stride))


@pytest.mark.parametrize("offset, shape, stride", [
    (0, (4,), (-1,)),            # walks backwards out of the storage
    (-4, (4,), (1,)),            # starts before it
    (0, (100000, 100000), (0, 0)),  # 10^10 elements from 4: refused before any allocation
    (2, (4,), (1,)),             # runs past its end
    (0, (-1,), (1,)),
    # element counts that wrap around in int64: 2^64 -> 0, 2^63 + 2 -> negative, 2^64 + 2 -> 2
    (0, (2**32, 2**32), (0, 0)),
    (0, (2**62, 2, 1), (0, 0, 0)),
    (0, (2**32, 2**32 + 2), (0, 0)),
    (0, (2**70,), (0,)),          # a side beyond int64
    (0, (0, 2**40), (1, 1)),      # no element, and a side that no storage of 4 has
    (0, (2,), (2**63,)),          # a stride past int64
    (2**70, (1,), (1,)),          # an offset past int64
    (0, (1, 2), (2**63, 1)),      # a side of 1 whose stride is past int64
    (0, (1,) * 70, (1,) * 70),    # more dimensions than numpy has
])
def test_a_view_outside_its_storage_is_refused(offset, shape, stride):
    with pytest.raises(WeightsError, match=r"^view\.pt: entry 'w' (has an impossible view|reaches past its storage)"):
        read_legacy_state_dict(_view_file(offset, shape, stride), "view.pt")


def test_an_empty_view_reads_as_an_empty_array():
    read = read_legacy_state_dict(_view_file(0, (0, 3), (3, 1)), "view.pt")
    assert read["w"].shape == (0, 3) and read["w"].dtype == np.float32


def test_a_legal_strided_view_reads_the_right_elements():
    read = read_legacy_state_dict(_view_file(1, (2, 2), (1, 2), count=6), "view.pt")
    np.testing.assert_array_equal(read["w"], [[1, 3], [2, 4]])


def test_a_file_that_rewrites_the_readers_objects_is_refused():
    # BUILD on the storage stand-in: the pickle tries to change its element count
    payload = legacy_file({"w": np.zeros(2)}).replace(b"NtQ", b"NtQ}" + _unicode("count") + _int(10**9) + b"sb", 1)
    with pytest.raises(WeightsError, match=r"^build\.pt: the file tries to change an object it did not make"):
        read_legacy_state_dict(payload, "build.pt")


def test_a_persistent_id_that_is_not_a_float_storage_is_refused():
    payload = legacy_file({"w": np.zeros(2)}).replace(_unicode("storage"), _unicode("module"), 1)
    with pytest.raises(WeightsError, match="unexpected persistent id"):
        read_legacy_state_dict(payload, "pid.pt")


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-3], "ends inside storage"),
    (lambda b: b + b"x", "unexpected bytes after the last storage"),
    (lambda b: pickle.dumps(7, protocol=2) + b[15:], "wrong magic number"),
])
def test_a_damaged_file_is_one_clear_error(damage, message):
    with pytest.raises(WeightsError, match=message):
        read_legacy_state_dict(damage(legacy_file({"w": np.ones((2, 2))})), "damaged.pt")


def test_the_wheel_import_checks_the_hash(tmp_path):
    fake = tmp_path / "facenet_pytorch-2.6.0-py3-none-any.whl"
    fake.write_bytes(b"not the wheel")
    result = subprocess.run([sys.executable, "-m", "fractal_match", "import-mtcnn", str(fake), "--out",
                             str(tmp_path / "w.npz")], capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "is not that of facenet_pytorch-2.6.0" in result.stderr
    assert not (tmp_path / "w.npz").exists()


WHEEL = os.environ.get("FRACTAL_MATCH_MTCNN_WHEEL")


@pytest.mark.skipif(not WHEEL, reason="set FRACTAL_MATCH_MTCNN_WHEEL to the downloaded wheel (.ci/run does)")
def test_the_committed_weights_are_what_the_wheel_holds(tmp_path):
    from fractal_match.templates.cnn.weights import import_wheel

    fresh = load_weights(import_wheel(WHEEL, tmp_path / "mtcnn.npz"))
    committed = load_weights()
    assert list(fresh) == list(committed) and len(committed) == 50
    for key in committed:
        np.testing.assert_array_equal(fresh[key], committed[key])


def test_the_committed_weights_have_every_layer_in_its_shape():
    weights = load_weights()
    assert len(weights) == 50 and set(MEMBER_SHA256) == {"pnet", "rnet", "onet"}
    assert weights["pnet/conv1.weight"].shape == (10, 3, 3, 3)
    assert weights["rnet/dense4.weight"].shape == (128, 576)
    assert weights["onet/dense5.weight"].shape == (256, 1152)
    assert all(w.dtype == np.float32 for w in weights.values())


# --- the networks behave like the trained detector --------------------------------------------

@pytest.mark.parametrize("net", ["pnet", "rnet", "onet"])
def test_the_networks_give_what_facenet_pytorch_gives(net):
    """Outputs of the wheel's own torch networks for seeded random inputs (non-square for PNet;
    written by tests/data/make_mtcnn_reference.py): pooling, flatten order and heads must agree.
    The largest difference measured was 3.9e-7 with XLA code for each of SSE4.2, AVX, AVX2 and
    AVX-512 (benchmarks/isa_spread.py): the tolerances leave 50x of that."""
    reference = np.load(Path(__file__).parent / "data" / "mtcnn_reference.npz")
    out = nets.forward(nets.params(net), net, reference[f"{net}/input"])
    np.testing.assert_allclose(np.asarray(out["box"]), reference[f"{net}/box"], atol=2e-5, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(out["probability"]), reference[f"{net}/probability"], atol=2e-5, rtol=1e-4)
    assert np.ptp(reference[f"{net}/box"]) > 0.1  # the boxes vary: a wrong flatten order would show


def _auc(positive: np.ndarray, negative: np.ndarray) -> float:
    greater = (positive[:, None] > negative[None, :]).sum() + 0.5 * (positive[:, None] == negative[None, :]).sum()
    return float(greater) / (len(positive) * len(negative))


@pytest.mark.parametrize("net", ["onet", "rnet"])
def test_the_face_probability_separates_lfw_faces_from_non_faces(net):
    faces, non_faces = analysis.lfw_crops()
    auc = _auc(nets.face_probability(faces, net), nets.face_probability(non_faces, net))
    assert auc >= 0.95, auc


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


@pytest.mark.parametrize("name", ["astronaut/face", "camera/face"])
def test_pnet_over_a_pyramid_puts_its_best_box_on_the_face(name):
    from fractal_match.datasets import find_annotation
    from fractal_match.images import load_image

    annotation = find_annotation(name)
    boxes = nets.pnet_pyramid(load_image(annotation.image, "color"))
    assert _iou(boxes[0, :4], annotation.box) >= 0.5, (boxes[0], annotation.box)


# --- feature visualization ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def onet_face():
    return visualize("onet/face", steps=512, seed=0)


def test_onet_calls_its_face_unit_visualization_a_face(onet_face):
    assert onet_face.picture.shape == (48, 48, 3) and onet_face.picture.dtype == np.uint8
    assert nets.face_probability(onet_face.picture[None], "onet")[0] >= 0.99
    assert onet_face.history[-1] > onet_face.history[0] + 10  # the ascent went up


@pytest.mark.parametrize("unit", ["onet/conv3:41", "onet/conv4:115", "pnet/conv3:5"])
def test_a_channel_visualization_excites_its_channel_ten_times_its_mean_on_faces(unit):
    net, layer, channel = unit.split("/")[0], unit.split("/")[1].split(":")[0], int(unit.split(":")[1])
    faces, _ = analysis.lfw_crops()
    mean_on_faces = float(analysis.layer_values(net, faces)[layer][:, channel].mean())
    result = visualize(unit, steps=512, seed=0)
    assert mean_on_faces > 0 and result.value >= 10 * mean_on_faces, (result.value, mean_on_faces)


def test_the_same_seed_gives_the_same_picture_and_other_seeds_score_alike(onet_face):
    """On one machine a picture is exactly reproducible (across machines: test_cnn_kernels.py)."""
    again = visualize("onet/face", steps=512, seed=0)
    np.testing.assert_array_equal(again.picture, onet_face.picture)
    np.testing.assert_array_equal(again.history, onet_face.history)
    assert again.value == onet_face.value
    other = visualize("onet/face", steps=512, seed=1)
    assert np.abs(other.picture.astype(float) - onet_face.picture).mean() > 20  # another picture
    assert nets.face_probability(other.picture[None], "onet")[0] >= 0.99
    assert 0.5 < other.value / onet_face.value < 2.0


def test_a_picture_resizes_to_any_kernel_size():
    result = visualize("rnet/face", size=100, steps=64, seed=0)
    assert result.picture.shape == (100, 100, 3) and result.size == 100
