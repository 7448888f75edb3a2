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

__all__ = [
    "Camera", "CameraKey", "DirectionalLight", "Material", "Mesh", "Scene", "SceneObject", "SceneState",
    "Texture", "TransformKey",
]
