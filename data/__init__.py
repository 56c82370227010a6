"""The bundled data (images, textures, faces, annotations, experiment configs), shipped as package data."""
