"""The JSON scene format: parse a file into a :class:`~engine_bridge.scene.model.Scene`.

Every field, type, unit and default is documented in ``docs/scene_format.md``. Parsing is strict:
unknown fields, wrong types, out-of-range values, missing files and JSON syntax errors raise
:class:`~engine_bridge.scene.errors.SceneError` naming the file and the field path.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from engine_bridge.scene import fields as F
from engine_bridge.scene import meshes, textures, trimesh_import
from engine_bridge.scene.errors import SceneError
from engine_bridge.scene.model import (
    Camera,
    CameraKey,
    DirectionalLight,
    Material,
    Scene,
    SceneObject,
    Texture,
    TransformKey,
)
from qwplugin.errors import InvalidArgument

FORMAT_VERSION = 1
_DEFAULT_DURATION_S = 2.0


class _Reader:
    """State of one file being read: where it is (for relative paths) and what it already loaded."""

    def __init__(self, path: Path, display: str):
        self.where = F.Where(display)
        self.base_dir = path.parent
        self.mesh_cache: dict[Path, list[trimesh_import.ImportedPart]] = {}
        self.texture_cache: dict[tuple, Texture] = {}
        self.named_materials: dict[str, Material] = {}

    def error(self, field: str, message: str, **kw) -> SceneError:
        return self.where.error(field, message, **kw)

    def resolve(self, field: str, value, what: str) -> Path:
        """A path relative to the scene file (or absolute) that must name an existing file."""
        rel = F.string(self.where, field, value)
        path = (self.base_dir / rel).resolve()
        if not path.is_file():
            raise self.error(
                field, f"{what} file not found: {rel!r}", expected="an existing file", actual=str(path)
            )
        return path

    # --- procedural generators: parameters checked against the generator's own signature ---------

    def call_generator(self, f: F.Fields, generators: dict, kind: str):
        """Call ``generators[type]`` with the object's other keys as keyword arguments, each checked
        against the type of the parameter's default (int, float, bool, or a vector of that length)."""
        type_name = f.get("type", F.string, choices=tuple(sorted(generators)))
        func = generators[type_name]
        kwargs = {}
        for name, param in inspect.signature(func).parameters.items():
            if not f.has(name):
                f.raw(name, None)  # mark known for the unknown-field hint
                continue
            default = param.default
            field = f.path(name)
            if isinstance(default, bool):
                kwargs[name] = f.get(name, F.boolean)
            elif isinstance(default, int):
                kwargs[name] = f.get(name, F.integer)
            elif isinstance(default, float):
                kwargs[name] = f.get(name, F.number)
            elif isinstance(default, tuple):
                elem_int = all(isinstance(x, int) for x in default)
                vec = f.get(name, F.vector, n=len(default), allow_scalar=True)
                if elem_int:
                    vec = tuple(F.integer(self.where, F.join(field, i), v) for i, v in enumerate(vec))
                kwargs[name] = vec
            else:  # pragma: no cover - generators only use the kinds above
                raise AssertionError(f"{kind} {type_name}: unsupported parameter {name}")
        f.finish()
        try:
            return func(**kwargs)
        except InvalidArgument as exc:  # range checks inside the generator
            field = f.path(exc.field) if exc.field else f.field
            raise self.error(field, str(exc)) from exc

    # --- textures -------------------------------------------------------------------------------

    def texture(self, field: str, value) -> Texture:
        """A texture: a path string, ``{"path", "srgb", "wrap"}``, or ``{"type": ..., params}``."""
        path_field = (
            field if isinstance(value, str) else F.join(field, "path")
        )  # bare string: the field itself
        if isinstance(value, str):
            value = {"path": value}
        f = F.Fields(self.where, field, value)
        if f.has("type"):
            if f.has("path"):
                raise self.error(f.path("path"), "give either 'path' or 'type', not both")
            key = ("procedural", json.dumps(value, sort_keys=True))
            if key not in self.texture_cache:
                self.texture_cache[key] = self.call_generator(f, textures.PROCEDURAL_TEXTURES, "texture")
            return self.texture_cache[key]
        path = self.resolve(path_field, f.raw("path"), "texture")
        srgb = f.get("srgb", F.boolean, True)
        wrap = f.get("wrap", F.string, "repeat", choices=("repeat", "clamp"))
        f.finish()
        key = (path, srgb, wrap)
        if key not in self.texture_cache:
            try:
                self.texture_cache[key] = textures.load_image(path, srgb=srgb, wrap=wrap)
            except InvalidArgument as exc:
                raise self.error(path_field, str(exc)) from exc
        return self.texture_cache[key]

    # --- materials ------------------------------------------------------------------------------

    def material(self, field: str, value) -> Material:
        """A material object, or the name of an entry of the top-level ``materials``."""
        if isinstance(value, str):
            if value not in self.named_materials:
                raise self.error(
                    field,
                    f"unknown material name {value!r}",
                    expected="one of " + (", ".join(sorted(self.named_materials)) or "(none defined)"),
                    actual=repr(value),
                )
            return self.named_materials[value]
        f = F.Fields(self.where, field, value)
        d = Material()
        tex = f.raw("texture", None)
        cutoff = f.raw("alpha_cutoff", None)
        m = Material(
            base_color=f.get("base_color", F.vector, d.base_color, n=3, lo=0.0),
            base_color_texture=None if tex is None else self.texture(f.path("texture"), tex),
            specular=f.get("specular", F.number, d.specular, lo=0.0, hi=1.0),
            roughness=f.get("roughness", F.number, d.roughness, lo=0.0, hi=1.0, lo_open=True),
            emissive=f.get("emissive", F.vector, d.emissive, n=3, lo=0.0),
            alpha_cutoff=None
            if cutoff is None
            else F.number(self.where, f.path("alpha_cutoff"), cutoff, lo=0.0, hi=1.0),
            uv_scale=f.get("uv_scale", F.vector, d.uv_scale, n=2, lo=0.0, lo_open=True, allow_scalar=True),
            double_sided=f.get("double_sided", F.boolean, d.double_sided),
        )
        f.finish()
        return m

    # --- keys -----------------------------------------------------------------------------------

    def key_times(self, field: str, keys: list, times: list[float]) -> None:
        for i in range(1, len(times)):
            if times[i] <= times[i - 1]:
                raise self.error(
                    F.join(F.join(field, i), "time_s"),
                    "keys must have increasing time_s",
                    expected=f"> {times[i - 1]:g}",
                    actual=f"{times[i]:g}",
                )

    def camera_key(self, field: str, value) -> CameraKey:
        f = F.Fields(self.where, field, value)
        key = CameraKey(
            time_s=f.get("time_s", F.number, 0.0),
            position=f.get("position", F.vector, n=3),
            target=f.get("target", F.vector, n=3),
            fov_y_deg=f.get("fov_y_deg", F.number, 60.0, lo=0.0, hi=180.0, lo_open=True, hi_open=True),
            cut=f.get("cut", F.boolean, False),
        )
        f.finish()
        if key.position == key.target:
            raise self.error(
                f.path("target"),
                "camera target equals its position",
                expected="a point other than position",
                actual=repr(key.target),
            )
        return key

    def camera(self, field: str, value) -> Camera:
        f = F.Fields(self.where, field, value)
        near = f.get("near", F.number, 0.1, lo=0.0, lo_open=True)
        far = f.get("far", F.number, 100.0, lo=near, lo_open=True)
        up = f.get("up", F.vector, (0.0, 1.0, 0.0), n=3)
        if up == (0.0, 0.0, 0.0):
            raise self.error(
                f.path("up"), "camera up vector is zero", expected="a non-zero vector", actual="[0, 0, 0]"
            )
        raw = f.get("keys", F.array, min_len=1)
        keys = [self.camera_key(F.join(f.path("keys"), i), k) for i, k in enumerate(raw)]
        self.key_times(f.path("keys"), raw, [k.time_s for k in keys])
        f.finish()
        return Camera(keys=keys, near=near, far=far, up=up)

    def transform_key(self, field: str, value, static: bool = False) -> TransformKey:
        f = F.Fields(self.where, field, value)
        key = TransformKey(
            time_s=0.0 if static else f.get("time_s", F.number, 0.0),
            translation=f.get("translation", F.vector, (0.0, 0.0, 0.0), n=3),
            rotation_deg=f.get("rotation_deg", F.vector, (0.0, 0.0, 0.0), n=3),
            scale=f.get("scale", F.vector, (1.0, 1.0, 1.0), n=3, allow_scalar=True),
            cut=False if static else f.get("cut", F.boolean, False),
        )
        f.finish()
        if any(s == 0.0 for s in key.scale):
            raise self.error(
                f.path("scale"),
                "scale has a zero component",
                expected="non-zero scales",
                actual=repr(key.scale),
            )
        return key

    # --- objects --------------------------------------------------------------------------------

    def mesh_parts(self, field: str, value) -> list[trimesh_import.ImportedPart]:
        """``{"path": file}`` (every part of the file, with its materials) or ``{"type": ..., params}``."""
        f = F.Fields(self.where, field, value)
        if f.has("path") == f.has("type"):
            raise self.error(
                field,
                "a mesh needs exactly one of 'path' (a file) or 'type' (procedural)",
                expected="'path' or 'type'",
                actual=", ".join(sorted(value)) or "{}",
            )
        if f.has("type"):
            mesh = self.call_generator(f, meshes.PROCEDURAL_MESHES, "mesh")
            return [trimesh_import.ImportedPart(mesh=mesh, material=Material(), name=mesh.name)]
        path = self.resolve(f.path("path"), f.raw("path"), "mesh")
        f.finish()
        if path not in self.mesh_cache:
            try:
                self.mesh_cache[path] = trimesh_import.load_mesh_file(path)
            except InvalidArgument as exc:
                raise self.error(f.path("path"), str(exc)) from exc
        return self.mesh_cache[path]

    def objects(self, field: str, value) -> list[SceneObject]:
        """One JSON object gives one SceneObject per part of its mesh (files may hold several)."""
        out = []
        for i, item in enumerate(F.array(self.where, field, value, min_len=1)):
            path = F.join(field, i)
            f = F.Fields(self.where, path, item)
            name = f.get("name", F.string, f"object{i}")
            parts = self.mesh_parts(f.path("mesh"), f.raw("mesh"))
            material = None if not f.has("material") else self.material(f.path("material"), f.raw("material"))
            if f.has("keys") and f.has("transform"):
                raise self.error(f.path("transform"), "give either 'keys' (animated) or 'transform' (static)")
            if f.has("keys"):
                raw = f.get("keys", F.array, min_len=1)
                keys = [self.transform_key(F.join(f.path("keys"), k), v) for k, v in enumerate(raw)]
                self.key_times(f.path("keys"), raw, [k.time_s for k in keys])
            else:
                keys = [self.transform_key(f.path("transform"), f.raw("transform", {}), static=True)]
            f.finish()
            for part in parts:
                part_name = name if len(parts) == 1 else f"{name}/{part.name}"
                out.append(
                    SceneObject(
                        mesh=part.mesh, material=material or part.material, keys=list(keys), name=part_name
                    )
                )
        return out

    def scene(self, value, default_name: str) -> Scene:
        f = F.Fields(self.where, "", value)
        version = f.get("version", F.integer, FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise self.error(
                "version",
                "unsupported scene format version",
                expected=str(FORMAT_VERSION),
                actual=str(version),
            )
        name = f.get("name", F.string, default_name)
        d_light = DirectionalLight()
        light = F.Fields(self.where, "light", f.raw("light", {}))
        direction = light.get("direction", F.vector, d_light.direction, n=3)
        if direction == (0.0, 0.0, 0.0):
            raise self.error(
                "light.direction", "light direction is zero", expected="a non-zero vector", actual="[0, 0, 0]"
            )
        light_obj = DirectionalLight(
            direction=direction,
            color=light.get("color", F.vector, d_light.color, n=3, lo=0.0),
            intensity=light.get("intensity", F.number, d_light.intensity, lo=0.0),
        )
        light.finish()
        d_scene = Scene(name="", objects=[], camera=Camera([CameraKey(0.0, (0, 0, 1), (0, 0, 0))]))
        ambient = f.get("ambient", F.vector, d_scene.ambient, n=3, lo=0.0)
        background = f.get("background", F.vector, d_scene.background, n=3, lo=0.0)
        named = F.Fields(self.where, "materials", f.raw("materials", {}))
        for key in list(named.data):
            if key in F.COMMENT_KEYS:
                continue
            self.named_materials[key] = self.material(named.path(key), named.raw(key))
        camera = self.camera("camera", f.raw("camera"))
        objects = self.objects("objects", f.raw("objects"))
        last_key = max([k.time_s for k in camera.keys] + [k.time_s for o in objects for k in o.keys])
        duration = f.get(
            "duration_s", F.number, last_key if last_key > 0 else _DEFAULT_DURATION_S, lo=0.0, lo_open=True
        )
        f.finish()
        return Scene(
            name=name,
            objects=objects,
            camera=camera,
            light=light_obj,
            ambient=ambient,
            background=background,
            duration_s=duration,
        )


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_scene_file(path: str | Path) -> Scene:
    """Read and validate one JSON scene file (see ``docs/scene_format.md``).

    Raises:
        SceneError: missing or unreadable file, JSON syntax error (with line and column), duplicate or
            unknown field, wrong type, value out of range, missing mesh or texture file; the message
            and the ``file``/``field`` attributes name the file and the field path.
    """
    display = str(path)
    path = Path(path)
    if not path.is_file():
        raise SceneError(
            "scene file not found", file=display, expected="an existing JSON file", actual=str(path.resolve())
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SceneError(f"cannot read scene file: {exc}", file=display) from exc

    def no_duplicates(pairs):
        seen = {}
        for k, v in pairs:
            if k in seen:
                raise SceneError(f"duplicate field {k!r}", file=display, field=k)
            seen[k] = v
        return seen

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise SceneError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            file=display,
            line=exc.lineno,
            column=exc.colno,
        ) from exc
    except SceneError:
        raise
    except ValueError as exc:  # NaN / Infinity
        raise SceneError(f"invalid JSON: {exc}", file=display) from exc
    return _Reader(path.resolve(), display).scene(data, default_name=path.stem)
