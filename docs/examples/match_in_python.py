"""The same match from Python: a fractal of the kernel against the photo with all six methods."""
from fractal_match import METHODS, fractalize, load_image, match_all

target = load_image("photo.png")  # gray uint8, 0-255
kernel = load_image("eye.png")
template = fractalize(kernel, "orbit-trap", size=70)  # a Template: float32 on 0-1
responses = match_all(target, template)  # put on the photo's scale (0-255) before matching
plain = match_all(target, kernel)
for method in METHODS:
    print(f"{method:17} kernel {plain.best(method)}   orbit trap {responses.best(method)}")
