"""Writes tests/data/mtcnn_reference.npz: outputs of facenet-pytorch's own MTCNN networks (torch)
for seeded random inputs, against which tests/test_cnn.py checks the jax networks.

Needs torch (any CPU build) and the facenet-pytorch 2.6.0 wheel; not run by the tests or CI:

    python tests/data/make_mtcnn_reference.py facenet_pytorch-2.6.0-py3-none-any.whl

The wheel's own model module (facenet_pytorch/models/mtcnn.py) is loaded from the wheel, and its
weights with torch.load(weights_only=True).
"""

import importlib.util
import io
import sys
import tempfile
import types
import zipfile
from pathlib import Path

import numpy as np
import torch

wheel = Path(sys.argv[1])
folder = Path(tempfile.mkdtemp())
zipfile.ZipFile(wheel).extractall(folder)
# Only the network classes are wanted: the package's __init__ (which imports requests and
# torchvision for other models) is not run, and the detection helpers are empty stand-ins.
for name in ("facenet_pytorch", "facenet_pytorch.models", "facenet_pytorch.models.utils",
             "facenet_pytorch.models.utils.detect_face"):
    stub = types.ModuleType(name)
    stub.__path__ = []
    stub.detect_face = stub.extract_face = None
    sys.modules[name] = stub
spec = importlib.util.spec_from_file_location("facenet_pytorch.models.mtcnn",
                                              folder / "facenet_pytorch" / "models" / "mtcnn.py")
mtcnn = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mtcnn)

rng = np.random.default_rng(20261129)
out = {}
# inputs already scaled as the networks expect, (N, 3, H, W); PNet also on a non-square image
shapes = {"pnet": (2, 3, 37, 52), "rnet": (3, 3, 24, 24), "onet": (3, 3, 48, 48)}
for net, cls in (("pnet", mtcnn.PNet), ("rnet", mtcnn.RNet), ("onet", mtcnn.ONet)):
    model = cls(pretrained=False)
    raw = zipfile.ZipFile(wheel).read(f"facenet_pytorch/data/{net}.pt")
    model.load_state_dict(torch.load(io.BytesIO(raw), weights_only=True))
    model.eval()
    x = rng.uniform(-1.0, 1.0, size=shapes[net]).astype(np.float32)
    with torch.no_grad():
        outputs = model(torch.from_numpy(x))
    box, probability = outputs[0], outputs[-1]
    out[f"{net}/input"] = x
    out[f"{net}/box"] = box.numpy()
    out[f"{net}/probability"] = probability.numpy()[:, 1]
np.savez_compressed(Path(__file__).with_name("mtcnn_reference.npz"), **out)
print({k: v.shape for k, v in out.items()})
