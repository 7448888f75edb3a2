"""Scenes: the in-memory data model, the JSON scene format, and the built-in stress scenes."""

from engine_bridge.scene.model import (
    Camera,
    CameraKey,
    DirectionalLight,
    Material,
    Mesh,
    Scene,
    SceneObject,
    SceneState,
    Texture,
    TransformKey,
)
from engine_bridge.scene.errors import SceneError
from engine_bridge.scene.loader import load_scene, load_scene_file

__all__ = [
    "Camera", "CameraKey", "DirectionalLight", "Material", "Mesh", "Scene", "SceneObject", "SceneState",
    "Texture", "TransformKey", "SceneError", "load_scene", "load_scene_file",
]
