"""Stand-ins for your own files: a photo (photo.png) and a kernel cut from it (eye.png)."""
from fractal_match import DATA_DIR, load_image, save_image

photo = load_image(DATA_DIR / "images" / "chelsea.png", "color")  # any photo of yours
save_image("photo.png", photo)
save_image("eye.png", photo[82:146, 135:205])  # the cat's left eye: x 135, y 82, 70 x 64 px
print(photo.shape, "->", photo[82:146, 135:205].shape)
save_image("coins.png", load_image(DATA_DIR / "images" / "coins.png", "gray"))  # 24 coins, boxed in coins.json
