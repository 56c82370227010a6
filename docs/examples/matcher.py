"""All six maps from one correlation; a perfect match scores 1; peaks after non-maximum suppression."""
from fractal_match import DATA_DIR, find_peaks, load_image, match_all

target = load_image(DATA_DIR / "images" / "astronaut.png")  # gray uint8
responses = match_all(target, target[52:164, 172:264])
print(responses.best("TM_CCOEFF_NORMED"))  # Match(x=172, y=52, score=1.0)
print(find_peaks(responses["TM_SQDIFF"], "TM_SQDIFF", (112, 92), k=5, max_overlap=0.3))
