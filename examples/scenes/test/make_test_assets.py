"""Regenerate ``examples/scenes/test/assets/`` (the third-party assets of the *test* scene set).

Nothing in that folder is made by the project's generators: models come from the Panda3D wheel, textures
from the Panda3D wheel and from scikit-image's sample images (CC0). Provenance and licences of every file
are in ``assets/SOURCES.md``. The converted files are committed, so the scenes load without these packages;
this script exists so that anyone can check or redo the conversion.

What to fetch (the wheels are read as zip files; nothing is installed or imported from them, so any
Python version works)::

    pip download --no-deps panda3d==1.10.16 scikit-image==0.26.0 -d /tmp/wheels
    python examples/scenes/test/make_test_assets.py --wheels /tmp/wheels            # rewrite assets/
    python examples/scenes/test/make_test_assets.py --wheels /tmp/wheels --check    # compare only

Conversion (deterministic: same wheels, same bytes):

* Panda3D ``.egg.pz`` models (zlib-compressed egg text) are parsed here (:func:`parse_egg`), their
  polygons fan-triangulated, Z-up turned into Y-up (``(x, y, z) -> (x, z, -y)``, a rotation, so the
  counter-clockwise winding is kept), v of the texture coordinates flipped for glTF (glTF puts v = 0 at the
  top of the image), and written as glTF 2.0 (``.gltf`` JSON + ``.bin``) with one mesh per
  (texture, colour) material. Textures with transparent texels become ``alphaMode: MASK`` (cutoff 0.5),
  ``doubleSided`` (cut-out cards are seen from both sides). Metallic 0, roughness 1 (diffuse), except
  where a scene file gives its own material.
* Texture images are copied byte for byte (PNG and JPEG as shipped), so each can be checked against the
  wheel's ``RECORD`` hash.
* ``ground_quad.obj`` is the one file written here rather than taken from a package: a 1 x 1 quad with
  UVs (0..1), used as ground and walls with the third-party textures above (see SOURCES.md).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ASSETS = Path(__file__).resolve().parent / "assets"

PANDA3D_WHEEL = "panda3d-1.10.16-*.whl"
SKIMAGE_WHEEL = "scikit_image-0.26.0-*.whl"

#: Panda3D models converted, as (path inside the wheel, output stem).
PANDA3D_MODELS = (
    ("panda3d/models/environment.egg.pz", "environment"),
    ("panda3d/models/panda-model.egg.pz", "panda"),
    ("panda3d/models/teapot.egg.pz", "teapot"),
    ("panda3d/models/jack.egg.pz", "jack"),
)

#: scikit-image sample textures copied (all CC0 per their docstrings in ``skimage/data/_fetchers.py``).
SKIMAGE_TEXTURES = ("skimage/data/brick.png", "skimage/data/grass.png", "skimage/data/gravel.png")

_GL_REPEAT, _GL_CLAMP_TO_EDGE = 10497, 33071
_GL_LINEAR, _GL_LINEAR_MIPMAP_LINEAR = 9729, 9987
_GL_FLOAT, _GL_UNSIGNED_INT = 5126, 5125
_GL_ARRAY_BUFFER, _GL_ELEMENT_ARRAY_BUFFER = 34962, 34963


# --- egg text format ------------------------------------------------------------------------------

@dataclass
class EggNode:
    """One ``<Tag> name { ... }`` entry: ``values`` are the bare tokens of its body, in order."""

    tag: str
    name: str
    values: list[str] = field(default_factory=list)
    children: list["EggNode"] = field(default_factory=list)

    def child(self, tag: str) -> "EggNode | None":
        """The first direct child with ``tag`` (case-insensitive), or None."""
        return next((c for c in self.children if c.tag.lower() == tag.lower()), None)


_TOKEN = re.compile(r'\s*(?://[^\n]*|/\*.*?\*/|"((?:[^"\\]|\\.)*)"|(<[^>]*>)|(\{)|(\})|([^\s{}<"]+))', re.S)


def _tokens(text: str):
    pos = 0
    while True:
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            rest = text[pos:].strip()
            if rest:
                raise ValueError(f"egg: cannot tokenize at offset {pos}: {rest[:40]!r}")
            return
        pos = m.end()
        quoted, tag, open_, close, bare = m.groups()
        if quoted is not None:
            yield ("value", quoted)
        elif tag is not None:
            yield ("tag", tag[1:-1].strip())
        elif open_ is not None:
            yield ("{", "{")
        elif close is not None:
            yield ("}", "}")
        elif bare is not None:
            yield ("value", bare)


def parse_egg(text: str) -> EggNode:
    """Parse Panda3D egg text into a tree of :class:`EggNode` under a root with tag ``""``.

    Args:
        text: the egg file's text (an ``.egg.pz`` file is zlib-compressed egg text).

    Returns:
        the root node; its children are the file's top-level entries.

    Raises:
        ValueError: unbalanced braces, a tag without a body, or text that is not egg syntax.
    """
    toks = list(_tokens(text))
    root = EggNode("", "")
    stack = [root]
    i = 0
    while i < len(toks):
        kind, val = toks[i]
        if kind == "tag":
            name = ""
            j = i + 1
            if j < len(toks) and toks[j][0] == "value":
                name, j = toks[j][1], j + 1
            if j >= len(toks) or toks[j][0] != "{":
                raise ValueError(f"egg: <{val}> {name} has no {{ body }}")
            node = EggNode(val, name)
            stack[-1].children.append(node)
            stack.append(node)
            i = j + 1
        elif kind == "}":
            if len(stack) == 1:
                raise ValueError("egg: unbalanced '}'")
            stack.pop()
            i += 1
        elif kind == "{":
            raise ValueError("egg: '{' without a tag")
        else:
            stack[-1].values.append(val)
            i += 1
    if len(stack) != 1:
        raise ValueError(f"egg: {len(stack) - 1} unclosed '{{'")
    return root


def _walk(node: EggNode):
    yield node
    for c in node.children:
        yield from _walk(c)


def _floats(node: EggNode | None) -> list[float] | None:
    return None if node is None else [float(v) for v in node.values]


@dataclass
class EggTexture:
    """An egg ``<Texture>``: image path relative to the model folder and its wrap modes."""

    path: str
    wrap_u: str = "repeat"
    wrap_v: str = "repeat"


@dataclass
class EggMesh:
    """Triangles of one material of an egg file, Y-up, glTF UV convention (v = 0 at the image top).

    ``positions``/``normals`` (N, 3) float32, ``uvs`` (N, 2) float32, ``indices`` (M, 3) uint32 counter-
    clockwise; ``texture`` is None for untextured polygons; ``rgba`` the polygon colour.
    """

    name: str
    positions: np.ndarray
    normals: np.ndarray
    uvs: np.ndarray
    indices: np.ndarray
    texture: EggTexture | None
    rgba: tuple[float, float, float, float]
    double_sided: bool


def _to_y_up(v: np.ndarray, z_up: bool) -> np.ndarray:
    return np.stack([v[:, 0], v[:, 2], -v[:, 1]], axis=1) if z_up else v


def egg_meshes(root: EggNode) -> list[EggMesh]:
    """Collect every ``<Polygon>`` of a parsed egg file into one triangle mesh per (texture, colour).

    Vertex positions in egg files are global (a ``<Transform>`` only tells Panda3D where to put the node),
    so none is applied; joint memberships (``<VertexRef>`` inside ``<Joint>``) are ignored: the model is
    taken in its bind pose. A vertex without ``<Normal>`` takes its polygon's normal (given or computed),
    which makes that polygon flat-shaded. Meshes are ordered by first appearance in the file.

    Raises:
        ValueError: a polygon refers to an unknown vertex pool, vertex or texture.
    """
    cs = root.child("CoordinateSystem")
    z_up = cs is None or "z-up" in " ".join(cs.values).lower()  # egg's default is Z-up
    textures: dict[str, EggTexture] = {}
    pools: dict[str, dict[int, EggNode]] = {}
    for node in _walk(root):
        tag = node.tag.lower()
        if tag == "texture":
            tex = EggTexture(node.values[0])
            for s in node.children:
                if s.tag.lower() == "scalar" and s.name.lower() in ("wrapu", "wrapv", "wrap") and s.values:
                    mode = s.values[0].lower()
                    if s.name.lower() in ("wrapu", "wrap"):
                        tex.wrap_u = mode
                    if s.name.lower() in ("wrapv", "wrap"):
                        tex.wrap_v = mode
            textures[node.name] = tex
        elif tag == "vertexpool":
            pools[node.name] = {int(v.name): v for v in node.children if v.tag.lower() == "vertex"}

    groups: dict[tuple, dict] = {}
    polygons = [n for n in _walk(root) if n.tag.lower() == "polygon"]
    for poly_index, node in enumerate(polygons):
        ref = node.child("VertexRef")
        pool_ref = ref.child("Ref") if ref is not None else None
        if ref is None or pool_ref is None or pool_ref.values[0] not in pools:
            raise ValueError(f"egg: polygon with a missing vertex pool reference ({pool_ref})")
        pool = pools[pool_ref.values[0]]
        ids = [int(v) for v in ref.values]
        if len(ids) < 3:
            continue
        if any(i not in pool for i in ids):
            raise ValueError(f"egg: polygon refers to a vertex missing from pool {pool_ref.values[0]!r}")
        tref = node.child("TRef")
        tex_name = tref.values[0] if tref is not None else None
        if tex_name is not None and tex_name not in textures:
            raise ValueError(f"egg: polygon refers to unknown texture {tex_name!r}")
        rgba = tuple(_floats(node.child("RGBA")) or (1.0, 1.0, 1.0, 1.0))
        bface = node.child("BFace")
        double = bface is not None and bface.values[:1] == ["1"]
        key = (tex_name, rgba, double)
        g = groups.setdefault(key, {"verts": {}, "pos": [], "nrm": [], "uv": [], "tri": []})
        xyz = np.array([[float(x) for x in pool[i].values[:3]] for i in ids])
        poly_n = _floats(node.child("Normal"))
        if poly_n is None:
            poly_n = np.cross(xyz[1] - xyz[0], xyz[2] - xyz[0])
        local = []
        for i, p in zip(ids, xyz):
            vnode = pool[i]
            vn = _floats(vnode.child("Normal"))
            vkey = (pool_ref.values[0], i) if vn is not None else (pool_ref.values[0], i, poly_index)
            if vkey not in g["verts"]:
                uv = _floats(vnode.child("UV")) or [0.0, 0.0]
                g["verts"][vkey] = len(g["pos"])
                g["pos"].append(p)
                g["nrm"].append(vn if vn is not None else poly_n)
                g["uv"].append([uv[0], 1.0 - uv[1]])
            local.append(g["verts"][vkey])
        g["tri"] += [(local[0], local[k], local[k + 1]) for k in range(1, len(local) - 1)]

    meshes = []
    for (tex_name, rgba, double), g in groups.items():
        nrm = _to_y_up(np.asarray(g["nrm"], np.float64), z_up)
        nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
        tex = textures.get(tex_name) if tex_name else None
        name = Path(tex.path).name.split(".")[0] if tex else "untextured"
        meshes.append(EggMesh(
            name=name,
            positions=_to_y_up(np.asarray(g["pos"], np.float64), z_up).astype(np.float32),
            normals=nrm.astype(np.float32),
            uvs=np.asarray(g["uv"], np.float32),
            indices=np.asarray(g["tri"], np.uint32),
            texture=tex,
            rgba=rgba,
            double_sided=double,
        ))
    seen: dict[str, int] = {}
    for m in meshes:  # one texture with two colours or face modes: number the later ones
        seen[m.name] = seen.get(m.name, 0) + 1
        if seen[m.name] > 1:
            m.name = f"{m.name}_{seen[m.name] - 1}"
    return meshes


# --- glTF writer ----------------------------------------------------------------------------------

def has_transparent_texels(image_bytes: bytes) -> bool:
    """True when the image has an alpha channel with at least one texel below 255."""
    from PIL import Image

    with Image.open(io.BytesIO(image_bytes)) as im:
        if "A" not in im.getbands():
            return False
        return int(np.asarray(im.getchannel("A")).min()) < 255


def write_gltf(meshes: list[EggMesh], stem: str, out_dir: Path, texture_uris: dict[str, str],
               cutout: dict[str, bool]) -> list[Path]:
    """Write ``meshes`` as ``out_dir/<stem>.gltf`` + ``<stem>.bin`` (one node and mesh per EggMesh).

    Args:
        texture_uris: egg texture path -> image URI relative to ``out_dir``.
        cutout: egg texture path -> whether the image has transparent texels (alpha-tested material).

    Returns:
        the two paths written.
    """
    blob = bytearray()
    views, accessors, gl_meshes, nodes, materials = [], [], [], [], []
    images, gl_textures, samplers = [], [], []
    image_index: dict[str, int] = {}

    def add_view(arr: np.ndarray, target: int) -> int:
        while len(blob) % 4:
            blob.append(0)
        views.append({"buffer": 0, "byteOffset": len(blob), "byteLength": arr.nbytes, "target": target})
        blob.extend(arr.tobytes())
        return len(views) - 1

    def add_accessor(arr: np.ndarray, kind: str, ctype: int, target: int, bounds: bool = False) -> int:
        acc = {"bufferView": add_view(arr, target), "componentType": ctype, "count": int(len(arr)),
               "type": kind}
        if bounds:
            acc["min"] = [float(x) for x in arr.min(axis=0)]
            acc["max"] = [float(x) for x in arr.max(axis=0)]
        accessors.append(acc)
        return len(accessors) - 1

    for m in meshes:
        mat = {"name": m.name, "pbrMetallicRoughness": {
            "baseColorFactor": [float(c) for c in m.rgba], "metallicFactor": 0.0, "roughnessFactor": 1.0}}
        if m.texture is not None:
            uri = texture_uris[m.texture.path]
            if uri not in image_index:
                wrap = {"clamp": _GL_CLAMP_TO_EDGE}
                samplers.append({"magFilter": _GL_LINEAR, "minFilter": _GL_LINEAR_MIPMAP_LINEAR,
                                 "wrapS": wrap.get(m.texture.wrap_u, _GL_REPEAT),
                                 "wrapT": wrap.get(m.texture.wrap_v, _GL_REPEAT)})
                images.append({"uri": uri})
                gl_textures.append({"source": len(images) - 1, "sampler": len(samplers) - 1})
                image_index[uri] = len(gl_textures) - 1
            mat["pbrMetallicRoughness"]["baseColorTexture"] = {"index": image_index[uri]}
            if cutout[m.texture.path]:
                mat.update(alphaMode="MASK", alphaCutoff=0.5, doubleSided=True)
        if m.double_sided:
            mat["doubleSided"] = True
        materials.append(mat)
        attributes = {
            "POSITION": add_accessor(m.positions, "VEC3", _GL_FLOAT, _GL_ARRAY_BUFFER, bounds=True),
            "NORMAL": add_accessor(m.normals, "VEC3", _GL_FLOAT, _GL_ARRAY_BUFFER),
        }
        if m.texture is not None:
            attributes["TEXCOORD_0"] = add_accessor(m.uvs, "VEC2", _GL_FLOAT, _GL_ARRAY_BUFFER)
        indices = add_accessor(m.indices.reshape(-1), "SCALAR", _GL_UNSIGNED_INT, _GL_ELEMENT_ARRAY_BUFFER)
        gl_meshes.append({"name": m.name, "primitives": [
            {"attributes": attributes, "indices": indices, "material": len(materials) - 1}]})
        nodes.append({"name": m.name, "mesh": len(gl_meshes) - 1})
    while len(blob) % 4:
        blob.append(0)
    doc = {
        "asset": {"version": "2.0", "generator": "qwplugin examples/scenes/test/make_test_assets.py"},
        "scene": 0, "scenes": [{"nodes": list(range(len(nodes)))}], "nodes": nodes, "meshes": gl_meshes,
        "materials": materials, "accessors": accessors, "bufferViews": views,
        "buffers": [{"uri": f"{stem}.bin", "byteLength": len(blob)}],
    }
    if images:
        doc.update(images=images, textures=gl_textures, samplers=samplers)
    gltf_path, bin_path = out_dir / f"{stem}.gltf", out_dir / f"{stem}.bin"
    gltf_path.write_text(json.dumps(doc, indent=1) + "\n")
    bin_path.write_bytes(bytes(blob))
    return [gltf_path, bin_path]


GROUND_QUAD_OBJ = """\
# A 1 x 1 quad in the XZ plane at y = 0, facing +y, centred; UV (0,0) at (-x, +z).
# Written by examples/scenes/test/make_test_assets.py (not from a package): the ground and walls of the
# test scenes, textured only with third-party images (see SOURCES.md).
o ground_quad
v -0.5 0 0.5
v 0.5 0 0.5
v 0.5 0 -0.5
v -0.5 0 -0.5
vt 0 0
vt 1 0
vt 1 1
vt 0 1
vn 0 1 0
f 1/1/1 2/2/1 3/3/1
f 1/1/1 3/3/1 4/4/1
"""


# --- sources and main -----------------------------------------------------------------------------

def find_wheel(wheels: Path, pattern: str) -> Path:
    """The single wheel in ``wheels`` matching ``pattern``.

    Raises:
        FileNotFoundError: none matches (the message says what to download).
    """
    found = sorted(wheels.glob(pattern))
    if not found:
        raise FileNotFoundError(f"no {pattern} in {wheels}: run "
                                f"`pip download --no-deps panda3d==1.10.16 scikit-image==0.26.0 -d {wheels}`")
    return found[-1]


def build(wheels: Path, out: Path) -> list[Path]:
    """Write every asset into ``out`` from the wheels in ``wheels``; returns the files written (sorted)."""
    written = []
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(find_wheel(wheels, PANDA3D_WHEEL)) as p3d:
        (out / "panda3d" / "maps").mkdir(parents=True, exist_ok=True)
        for member, stem in PANDA3D_MODELS:
            root = parse_egg(zlib.decompress(p3d.read(member)).decode("latin-1"))
            meshes = egg_meshes(root)
            uris, cutout = {}, {}
            for m in meshes:
                if m.texture is None or m.texture.path in uris:
                    continue
                data = p3d.read(f"panda3d/models/{m.texture.path}")
                target = out / "panda3d" / m.texture.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                written.append(target)
                uris[m.texture.path] = m.texture.path
                cutout[m.texture.path] = has_transparent_texels(data)
            written += write_gltf(meshes, stem, out / "panda3d", uris, cutout)
    with zipfile.ZipFile(find_wheel(wheels, SKIMAGE_WHEEL)) as sk:
        (out / "skimage").mkdir(parents=True, exist_ok=True)
        for member in SKIMAGE_TEXTURES:
            target = out / "skimage" / Path(member).name
            target.write_bytes(sk.read(member))
            written.append(target)
    quad = out / "ground_quad.obj"
    quad.write_text(GROUND_QUAD_OBJ)
    written.append(quad)
    return sorted(set(written))


def main(argv: list[str] | None = None) -> int:
    """CLI: rebuild ``assets/`` (with ``--check``: compare a fresh build with it). Returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheels", type=Path, required=True, help="folder holding the downloaded wheels")
    parser.add_argument("--out", type=Path, default=ASSETS, help=f"output folder (default {ASSETS})")
    parser.add_argument("--check", action="store_true", help="build into a temporary folder and compare")
    args = parser.parse_args(argv)
    if not args.check:
        for path in build(args.wheels, args.out):
            print(f"{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}  {path.relative_to(args.out)}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = build(args.wheels, Path(tmp))
        bad = [p.relative_to(tmp) for p in fresh
               if not (args.out / p.relative_to(tmp)).is_file()
               or (args.out / p.relative_to(tmp)).read_bytes() != p.read_bytes()]
    for rel in bad:
        print(f"differs or missing: {rel}")
    print("assets match the packages" if not bad else f"{len(bad)} file(s) differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
