"""The bundled data: images, textures, faces, annotations and experiment configs.

It lives in the repository's top-level ``data/`` folder and ships inside the wheel as the package
``fractal_match.data`` (pyproject maps the folder there), so every install finds it the same way,
through :mod:`importlib.resources`, from any working folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ._errors import ConfigError


def _data_dir() -> Path:
    # A wheel and an editable install both keep the files on disk, so the folder is a real path
    # that OpenCV and pillow can open.
    return Path(str(resources.files("fractal_match.data")))


#: The bundled data folder.
DATA_DIR: Path = _data_dir()


def shipped_configs() -> list[str]:
    """Names of the experiment configs that ship with the tool (usable as `run quick`)."""
    return sorted(path.stem for path in (DATA_DIR / "experiments").glob("*.toml"))


def config_path(name) -> Path:
    """A config file: `name` itself when it is a file, else the shipped config of that bare name
    (a folder named like a shipped config, e.g. a run folder `quick`, does not hide it)."""
    path = Path(name)
    if path.is_file() or path.suffix or len(path.parts) > 1:
        return path
    shipped = DATA_DIR / "experiments" / f"{path.name}.toml"
    if shipped.is_file():
        return shipped
    if path.exists():
        return path  # a folder: the config loader says what it is
    raise ConfigError(f"{name}: no such file, and no shipped config of that name "
                      f"(shipped: {', '.join(shipped_configs())})")
