"""A real trained CNN's units as kernels: MTCNN's three face-detection networks.

* :mod:`.weights` reads the networks' weights from the facenet-pytorch wheel without torch and
  without running pickle code, and loads the committed ``data/cnn/mtcnn.npz``;
* :mod:`.units` names units (``onet/face``, ``onet/conv3:17``);
* :mod:`.nets` runs the networks in jax (the ``cnn`` extra), and PNet as a sliding detector;
* :mod:`.visualize` makes a unit's feature visualization (Distill's recipe);
* :mod:`.pictures` serves those pictures as ``cnn:`` kernels (shipped, cached, or made).

Only :mod:`.nets` and :mod:`.visualize` import jax.
"""
