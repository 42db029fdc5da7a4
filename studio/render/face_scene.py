"""The rig's face as vispy scene-graph visuals: a shaded mesh with skin, eye and mouth materials, and lashes.

The same :class:`FaceScene` is drawn offscreen (:mod:`studio.render.offscreen`) and inside the Qt rig
inspector, so both show identical materials and lights.

Conventions (as the rig): positions in centimetres, +y up, +z out of the face, x towards the face's left.
Camera space (used by :class:`Camera` and the geometry maps) is OpenGL's: x right, y up, the camera looks
along −z, so a surface facing the camera has a camera-space normal near ``(0, 0, 1)``.

Shading model
-------------
Lighting is computed per fragment in a custom GLSL visual (:class:`FaceMeshVisual`), in the rig's (visual)
coordinate system, so the lights are fixed to the head like a studio light rig and stay put while a
viewer orbits the camera:

* a soft **key** light and a dimmer **fill** light, both "wrapped" Lambert terms
  ``max((n·l + w) / (1 + w), 0)`` with softness ``w`` (light bleeding past the terminator, as skin does);
* a hemispheric **ambient** term (slightly brighter from above);
* Blinn–Phong **specular** from the key light, scaled per vertex by a gloss value (dry skin, moist lips,
  wet eyes);
* lighting in linear colour, albedos given in sRGB and converted (gamma 2.2) on both ends.

Cost (Mesa's CPU rasterizer, llvmpipe, which runs every branch of a shader on every fragment): the mesh
is drawn in batches (:func:`draw_batches`) whose shaders do only what their triangles need. Skin away
from the brows and lips, the mouth interior and sockets take the ``plain`` material, whose albedo is
linearised per vertex; brows, lips and triangles whose corner colours contrast (the hairline) paint and
linearise per fragment; only eyeball triangles draw the iris. Geometry maps are separate visuals. The
specular power and the final linear → sRGB conversion use cheap approximations (within 5e-4 and 0.11 of an
8-bit level), so renders match the single-shader original to one level.

Materials are computed once from the rig's neutral (topology and group data only) as per-vertex albedo
and gloss plus a few static per-vertex coordinates from which the fragment shader paints crisp details:

* skin: warm, with low-frequency brightness variation and slight redness on cheeks and nose; short dark
  hair painted on the scalp above a hairline; eyebrows (distance to the Multi-PIE brow line, with a fine
  hair grain) and lips (signed distance to the smoothed outer lip contour) drawn per fragment;
* eyes: off-white sclera darkening towards the lids; iris (amber centre, blue-grey rim, dark limbal ring)
  and a dark pupil drawn per fragment from each eyeball vertex's offset from the eye's forward axis (the
  axis from the eyeball's centre to the centre of the iris disc), so they stay crisp and follow the
  eyeball when the gaze controls rotate it;
* mouth: off-white teeth, pink gums and tongue, a dark mouth socket, all darkening with depth behind
  the lips (a cheap static ambient occlusion);
* eyelash cards (modelled for an alpha texture) drawn as tapering dark strands cut out per fragment, in
  their own visual (:class:`EyelashVisual`) so that the main mesh never discards fragments and keeps
  early depth rejection;
* not drawn: the eye-occlusion and eye-blend helper shells (alpha-blended shadow and blend layers in the
  original asset) and the inner iris shells (fully covered by the outer eyeball shells, onto which the
  iris is painted).

Per frame, :meth:`FaceScene.set_vertices` only recomputes area-weighted vertex normals (a cross product
per triangle and a sparse incidence-matrix product, see :class:`VertexNormals`) and uploads positions
and normals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse
from vispy import scene
from vispy.gloo import IndexBuffer, VertexBuffer
from vispy.visuals import Visual
from vispy.visuals.shaders import Function

from studio.core.rig.rig import ICT_NUM_VERTICES, Rig

# ----------------------------------------------------------------------------------------------------------
# Camera and lights
# ----------------------------------------------------------------------------------------------------------


def _normalized(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


@dataclass(frozen=True)
class Camera:
    """A perspective camera orbiting a target point, in rig space (centimetres).

    The camera sits at ``target + distance_cm · d`` with ``d = (sin az · cos el, sin el, cos az · cos el)``
    and looks at ``target`` with +y up. ``azimuth_deg = elevation_deg = 0`` is a frontal view (the face
    looks along +z, at the camera).

    Attributes
    ----------
    fov_deg : float
        Vertical field of view, degrees.
    distance_cm : float
        Distance from the camera centre to ``target``, centimetres.
    target : tuple of float
        Point looked at, rig space, centimetres. The default is the middle of the face (between the eyes
        and the mouth), so the face is centred in the image.
    elevation_deg : float
        Camera elevation above the target's horizontal plane, degrees (positive: looking down on the face).
    azimuth_deg : float
        Camera azimuth about +y, degrees (positive: towards the face's left, +x).
    near_cm, far_cm : float
        Clipping distances from the camera centre, centimetres.
    """

    fov_deg: float = 30.0
    distance_cm: float = 70.0
    target: tuple[float, float, float] = (0.0, 0.5, 6.0)
    elevation_deg: float = 0.0
    azimuth_deg: float = 0.0
    near_cm: float = 20.0
    far_cm: float = 200.0

    @property
    def position(self) -> np.ndarray:
        """Camera centre in rig space, shape ``(3,)``, centimetres."""
        az, el = np.deg2rad(self.azimuth_deg), np.deg2rad(self.elevation_deg)
        direction = np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
        return np.asarray(self.target, np.float64) + self.distance_cm * direction

    def world_to_camera(self) -> np.ndarray:
        """View matrix: rig space → camera space (x right, y up, looking along −z), shape ``(4, 4)``.

        Acts on column vectors ``(x, y, z, 1)`` in centimetres; camera-space units are centimetres.
        """
        eye = self.position
        forward = _normalized(np.asarray(self.target, np.float64) - eye)
        up = np.array([0.0, 1.0, 0.0])
        if abs(forward @ up) > 0.999:  # looking straight up or down: any perpendicular up will do
            up = np.array([0.0, 0.0, -np.sign(forward[1])])
        right = _normalized(np.cross(forward, up))
        true_up = np.cross(right, forward)
        matrix = np.eye(4)
        matrix[0, :3], matrix[1, :3], matrix[2, :3] = right, true_up, -forward
        matrix[:3, 3] = -matrix[:3, :3] @ eye
        return matrix

    def projection(self, aspect: float) -> np.ndarray:
        """OpenGL perspective projection: camera space → clip space, shape ``(4, 4)``, column vectors.

        Parameters
        ----------
        aspect : float
            Image width / height.
        """
        f = 1.0 / np.tan(np.deg2rad(self.fov_deg) / 2.0)
        near, far = self.near_cm, self.far_cm
        return np.array(
            [
                [f / aspect, 0.0, 0.0, 0.0],
                [0.0, f, 0.0, 0.0],
                [0.0, 0.0, (far + near) / (near - far), 2.0 * far * near / (near - far)],
                [0.0, 0.0, -1.0, 0.0],
            ]
        )

    def world_to_pixel(self, size: tuple[int, int]) -> np.ndarray:
        """Rig space → homogeneous pixel coordinates, shape ``(4, 4)``, column vectors.

        ``(x, y, z, w) = M @ (p, 1)``; the pixel is ``(x / w, y / w)`` with the conventions of
        :meth:`project`; ``z`` is the clip-space z (OpenGL depth before the perspective divide).

        Parameters
        ----------
        size : tuple of int
            Image ``(width, height)`` in pixels.
        """
        width, height = size
        ndc_to_pixel = np.array(
            [
                [width / 2.0, 0.0, 0.0, width / 2.0],
                [0.0, -height / 2.0, 0.0, height / 2.0],
                [0.0, 0.0, 1.0, 0.0],
                [0.0, 0.0, 0.0, 1.0],
            ]
        )
        return ndc_to_pixel @ self.projection(width / height) @ self.world_to_camera()

    def project(self, points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Project rig-space points into an image of the given size.

        Parameters
        ----------
        points : np.ndarray
            Points in rig space, shape ``(N, 3)``, centimetres.
        size : tuple of int
            Image ``(width, height)`` in pixels.

        Returns
        -------
        np.ndarray
            Pixel coordinates ``(x, y)``, shape ``(N, 2)``, float64: x to the right, y down, ``(0, 0)`` the
            top-left corner of the top-left pixel (so pixel ``[row, col]`` has its centre at
            ``(col + 0.5, row + 0.5)``); MediaPipe's normalized landmarks times ``(width, height)`` use the
            same convention.
        """
        points = np.asarray(points, np.float64)
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"points must have shape (N, 3), got {points.shape}")
        homogeneous = np.c_[points, np.ones(len(points))] @ self.world_to_pixel(size).T
        return homogeneous[:, :2] / homogeneous[:, 3:4]


@dataclass(frozen=True)
class Lighting:
    """A soft key + fill light rig fixed to the head, with hemispheric ambient light.

    Directions point from the face towards the light, in rig space (+z out of the face, +y up, x to the
    face's left); they need not be unit length. Intensities multiply the light colours (linear).

    Attributes
    ----------
    key_direction, key_color, key_intensity
        The main light: by default above and to the face's left, slightly warm.
    fill_direction, fill_color, fill_intensity
        The fill light opposite the key, cooler and dimmer, softening the shadow side.
    ambient_color, ambient_intensity
        Uniform light from all around (a bit brighter from above, darker from below).
    softness : float
        Wrap ``w`` of the diffuse terms, 0 (hard Lambert) to 1 (very soft).
    specular : float
        Strength of the key light's highlights, multiplied by the per-vertex gloss.
    """

    key_direction: tuple[float, float, float] = (0.5, 0.55, 1.0)
    key_color: tuple[float, float, float] = (1.0, 0.96, 0.9)
    key_intensity: float = 0.95
    fill_direction: tuple[float, float, float] = (-0.8, 0.0, 0.7)
    fill_color: tuple[float, float, float] = (0.88, 0.93, 1.0)
    fill_intensity: float = 0.4
    ambient_color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    ambient_intensity: float = 0.22
    softness: float = 0.4
    specular: float = 0.35


# ----------------------------------------------------------------------------------------------------------
# The mesh visual
# ----------------------------------------------------------------------------------------------------------

# Every draw batch of the face gets shaders specialised to its material (``_MATERIALS``) and to what it
# writes (shaded colour or geometry maps): llvmpipe, Mesa's CPU rasterizer, runs every branch of a fragment
# shader on every fragment (both sides of an ``if``, even on a uniform), so a single shader with
# ``if (maps) … else if (skin) … else if (eye) …`` paid for the maps, the brow hash and the iris on every
# skin fragment (about 40 % of the inspector's draw time).

_COLOUR_VERTEX_SHADER = """
// attributes: $a_position (vec3, cm), $a_normal (vec3), $a_albedo (sRGB albedo, gloss),
// $a_eye (per-material coordinates, see MeshBuffers)
varying vec3 v_normal;
varying vec4 v_albedo;
varying vec4 v_eye;
varying vec3 v_half;

vec3 to_linear(vec3 c) { return pow(max(c, 0.0), vec3(2.2)); }

void main() {
    gl_Position = $visual_to_render(vec4($a_position, 1.0));
    v_normal = $a_normal;
    v_albedo = @VERTEX_ALBEDO@;
    v_eye = $a_eye;
    // Blinn-Phong halfway vector of the key light and the viewing ray through this vertex, in visual
    // coordinates (works for any camera in the chain); interpolated, it is renormalised per fragment
    vec2 ndc = gl_Position.xy / gl_Position.w;
    vec4 front = $render_to_visual(vec4(ndc, -0.5, 1.0));
    vec4 back = $render_to_visual(vec4(ndc, 0.5, 1.0));
    vec3 to_eye = normalize(front.xyz / front.w - back.xyz / back.w);
    v_half = normalize($key_direction + to_eye);
}
"""

_COLOUR_FRAGMENT_SHADER = """
varying vec3 v_normal;
varying vec4 v_albedo;
varying vec4 v_eye;
varying vec3 v_half;

vec3 to_linear(vec3 c) { return pow(max(c, 0.0), vec3(2.2)); }

// c ^ (1 / 2.2) for c in [0, 1] from two square roots (minimax fit in c^(1/4), c^(1/2), c, c^(3/4)):
// within 0.11 of an 8-bit level, at a third of the cost of pow
vec3 to_srgb(vec3 c) {
    vec3 s = sqrt(c);
    vec3 q = sqrt(s);
    return q * (0.03343667 - 0.41543393 * s) + s * 1.24115123 + c * 0.1412718;
}
@FUNCTIONS@
void main() {
    $cutout(v_eye);
    vec3 normal = normalize(v_normal);
    if (!gl_FrontFacing) normal = -normal;

    vec3 albedo = @ALBEDO@;  // linear
    float gloss = v_albedo.a;

    // key and fill directions are unit vectors; wrapped Lambert (n.l + w) / (1 + w) = n.l * scale + offset
    float key_dot = dot(normal, $key_direction);
    float key_diffuse = max(key_dot * $wrap_scale + $wrap_offset, 0.0);
    float fill_diffuse = max(dot(normal, $fill_direction) * $wrap_scale + $wrap_offset, 0.0);
    vec3 ambient = $ambient * (0.8 + 0.2 * normal.y);
    vec3 light = ambient + $key_light * key_diffuse + $fill_light * fill_diffuse;

    // Blinn-Phong n.h ^ shininess as exp(shininess * ln(n.h)), ln from its series about 1 (t = n.h - 1):
    // one exp instead of pow's log and exp, off by < 5e-4 (shininess >= 12)
    float shininess = mix(12.0, 120.0, gloss * gloss);
    float t = max(dot(normal, normalize(v_half)), 0.0) - 1.0;
    float specular = key_dot > 0.0 ? $specular * gloss * exp(shininess * t * (1.0 + t * (t / 3.0 - 0.5))) : 0.0;
    vec3 color = albedo * light + $key_light * specular;
    gl_FragColor = vec4(to_srgb(clamp(color, 0.0, 1.0)), 1.0);
}
"""

# geometry maps: camera-space unit normal in rgb, z-depth in cm in alpha (for a float framebuffer)
_MAPS_VERTEX_SHADER = """
varying vec3 v_normal;
varying vec4 v_eye;
varying float v_depth;

void main() {
    gl_Position = $visual_to_render(vec4($a_position, 1.0));
    v_normal = $a_normal;
    v_eye = $a_eye;
    v_depth = -($world_to_camera * vec4($a_position, 1.0)).z;  // affine in the position: exact per fragment
}
"""

_MAPS_FRAGMENT_SHADER = """
varying vec3 v_normal;
varying vec4 v_eye;
varying float v_depth;

void main() {
    $cutout(v_eye);
    vec3 normal = normalize(v_normal);
    if (!gl_FrontFacing) normal = -normal;
    gl_FragColor = vec4(normalize(mat3($world_to_camera) * normal), v_depth);
}
"""

# procedural iris and pupil from the eye-frame coordinates (cm from the eye's forward axis)
_EYE_ALBEDO = """
vec3 eye_albedo(vec3 sclera, vec2 uv) {
    float r = length(uv);
    float angle = atan(uv.y, uv.x);
    float fibres = 0.82 + 0.18 * sin(angle * 37.0) * sin(angle * 11.0 + r * 40.0);
    float inner = smoothstep(0.22, 0.45, r);
    vec3 iris = mix($iris_inner, $iris_outer, inner) * fibres;
    iris *= mix(1.0, 0.45, smoothstep(0.48, 0.59, r));             // dark limbal ring
    vec3 color = mix(iris, sclera, smoothstep(0.58, 0.63, r));
    return mix($pupil, color, smoothstep($pupil_radius - 0.02, $pupil_radius + 0.02, r));
}
"""

#: Largest eyebrow half width (cm) and outer edge of the lip colour (cm outside the lip contour) of the
#: painting in ``_SKIN_ALBEDO``: skin triangles farther from both are left unpainted (:func:`draw_batches`).
_BROW_HALF_WIDTH_MAX = 0.5
_LIP_EDGE_OUTSIDE = 0.06
#: Largest sRGB albedo difference between the corners of a triangle drawn with the ``plain`` material,
#: which interpolates linear albedo (off from interpolating sRGB by about 0.3 · range², under half a level).
_SMOOTH_ALBEDO_RANGE = 0.05

# painted lips and eyebrows: x = cm from the brow line, y = 0 at the brow's inner end to 1 at its tail,
# z = signed distance to the outer lip contour in the front view (cm, negative inside)
_SKIN_ALBEDO = """
vec3 skin_albedo(vec3 skin, vec3 frame) {
    skin = mix(skin, $lip_color, 1.0 - smoothstep(-0.12, 0.06, frame.z));
    float d = frame.x;
    float t = frame.y;
    float half_width = mix(0.5, 0.22, t);
    vec2 cell = floor(vec2(t * 260.0 + d * 9.0, d * 14.0));  // fine cells slanted towards the tail
    float hair = 0.6 + 0.4 * fract(sin(dot(cell, vec2(12.9898, 78.233))) * 43758.5453);
    float amount = (1.0 - smoothstep(0.45 * half_width, half_width, d)) * hair;
    amount *= smoothstep(-0.05, 0.12, t) * 0.9;  // soft inner end
    return mix(skin, $brow_color, clamp(amount, 0.0, 1.0));
}
"""

#: Materials of the colour batches: (vertex albedo, fragment functions, fragment linear albedo).
#: ``plain`` linearises the per-vertex albedo in the vertex shader (no painted detail), which differs from
#: interpolating sRGB only where the albedo changes fast; ``skin`` interpolates the sRGB albedo, paints
#: brows and lips, ``eye`` the iris and pupil; ``any`` picks per fragment as the eye-frame tag says
#: (3 skin, 1 eye, else plain), for triangles that mix materials.
_MATERIALS = {
    "plain": ("vec4(to_linear($a_albedo.rgb), $a_albedo.a)", "", "v_albedo.rgb"),
    "skin": ("$a_albedo", _SKIN_ALBEDO, "to_linear(skin_albedo(v_albedo.rgb, v_eye.xyz))"),
    "eye": ("$a_albedo", _EYE_ALBEDO, "to_linear(eye_albedo(v_albedo.rgb, v_eye.xy))"),
    "any": (
        "$a_albedo",
        _SKIN_ALBEDO + _EYE_ALBEDO,
        "to_linear(v_eye.w > 2.5 ? skin_albedo(v_albedo.rgb, v_eye.xyz)"
        " : v_eye.w > 0.5 ? eye_albedo(v_albedo.rgb, v_eye.xy) : v_albedo.rgb)",
    ),
}


def _colour_shaders(material: str) -> tuple[str, str]:
    """Vertex and fragment shader code of a material (a key of ``_MATERIALS``)."""
    vertex_albedo, functions, albedo = _MATERIALS[material]
    vertex = _COLOUR_VERTEX_SHADER.replace("@VERTEX_ALBEDO@", vertex_albedo)
    fragment = _COLOUR_FRAGMENT_SHADER.replace("@FUNCTIONS@", functions).replace("@ALBEDO@", albedo)
    return vertex, fragment


_NO_CUTOUT = "void no_cutout(vec4 eye) {}"

# eyelash cards (modelled for an alpha texture): keep tapering strands near the root, where
# eye.x = t is 0 at the lid and 1 at the card's tip and eye.y runs along the lid (cm)
_LASH_CUTOUT = """
void lash_cutout(vec4 eye) {
    float t = eye.x / $length;
    float strand = abs(fract(eye.y * $density) - 0.5) * 2.0;
    if (t > 1.0 || strand > mix(1.2, 0.25, t)) discard;
}
"""


class MeshBuffers:
    """GPU vertex buffers shared by the visuals of one face: positions and normals (per frame),
    albedo/gloss and eye attributes (static).

    Parameters
    ----------
    albedo : np.ndarray
        Per-vertex sRGB albedo and gloss (0 dry … 1 wet), shape ``(V, 4)``, float32.
    eye_frame : np.ndarray
        Per-vertex eye attributes, shape ``(V, 4)``, float32: ``(u, v, 0, 1)`` on eyeball vertices, with
        ``(u, v)`` the offset from the eye's forward axis in centimetres; ``(t, s, 0, 2)`` on eyelash cards,
        with ``t`` 0 at the lid to 1 at the card's tip and ``s`` the position along the lid (cm);
        ``(d, t, l, 3)`` on every other vertex, with ``d`` the distance to the nearest eyebrow line (cm),
        ``t`` 0 at its inner end to 1 at its tail and ``l`` the signed distance to the outer lip contour seen
        from the front (cm, negative on the lips); ``d = l = 10`` away from the skin's painted features.
    """

    def __init__(self, albedo: np.ndarray, eye_frame: np.ndarray) -> None:
        num_vertices = albedo.shape[0]
        self.positions_cm = np.zeros((num_vertices, 3), np.float32)
        self.position = VertexBuffer(self.positions_cm)
        self.normal = VertexBuffer(np.zeros((num_vertices, 3), np.float32))
        self.albedo = VertexBuffer(np.ascontiguousarray(albedo, np.float32))
        self.eye = VertexBuffer(np.ascontiguousarray(eye_frame, np.float32))

    def set_geometry(self, positions: np.ndarray, normals: np.ndarray) -> None:
        """Upload positions (cm) and unit normals, both shape ``(V, 3)``, float32."""
        self.positions_cm = positions
        self.position.set_data(positions)
        self.normal.set_data(normals)


class FaceMeshVisual(Visual):
    """Triangles of a face mesh: shaded colour (per-vertex albedo/gloss, painted detail, key + fill
    lighting) or geometry maps.

    Parameters
    ----------
    buffers : MeshBuffers
        The face's vertex buffers (shared with its other visuals).
    triangles : np.ndarray
        Vertex ids of the triangles this visual draws, shape ``(F, 3)``, integer.
    material : str
        Colour output: ``"plain"`` (per-vertex albedo only), ``"skin"`` (painted brows and lips), ``"eye"``
        (painted iris and pupil) or ``"any"`` (chosen per fragment from the eye-frame tag; the slowest).
    maps : bool
        Write geometry maps instead of colour: camera-space unit normal (rgb) and z-depth in cm (alpha),
        for a float framebuffer; see :meth:`set_world_to_camera`. ``material`` is then unused.

    Notes
    -----
    The fragment shader never discards, so a GPU can reject hidden fragments before shading them;
    cut-out geometry is drawn by :class:`EyelashVisual`.
    """

    _cutout = _NO_CUTOUT

    def __init__(
        self, buffers: MeshBuffers, triangles: np.ndarray, material: str = "any", maps: bool = False
    ) -> None:
        if maps:
            vertex_code, fragment_code = _MAPS_VERTEX_SHADER, _MAPS_FRAGMENT_SHADER
        else:
            vertex_code, fragment_code = _colour_shaders(material)
        self._buffers = buffers
        self.material = material
        self.maps = maps
        Visual.__init__(self, vcode=vertex_code, fcode=fragment_code)
        program = self.shared_program
        program.vert["a_position"] = buffers.position
        program.vert["a_normal"] = buffers.normal
        program.vert["a_eye"] = buffers.eye
        program.frag["cutout"] = Function(self._cutout)
        if maps:
            self.set_world_to_camera(np.eye(4))
        else:
            program.vert["a_albedo"] = buffers.albedo
            if material in ("eye", "any"):
                program.frag["iris_inner"] = (0.42, 0.36, 0.18)
                program.frag["iris_outer"] = (0.22, 0.36, 0.46)
                program.frag["pupil"] = (0.02, 0.02, 0.02)
                program.frag["pupil_radius"] = 0.2
            if material in ("skin", "any"):
                program.frag["brow_color"] = tuple(_BROW)
                program.frag["lip_color"] = tuple(_LIPS)
            self.set_lighting(Lighting())
        self._index_buffer = IndexBuffer(np.ascontiguousarray(triangles, np.uint32))
        self._draw_mode = "triangles"
        self.set_gl_state("opaque", depth_test=True, cull_face="back")
        self.freeze()

    def set_lighting(self, lighting: Lighting) -> None:
        """Set the key, fill and ambient lights (see :class:`Lighting`); no effect on geometry maps."""
        if self.maps:
            return
        program = self.shared_program
        key = tuple(float(x) for x in _normalized(lighting.key_direction))
        program.vert["key_direction"] = key
        frag = program.frag
        frag["key_direction"] = key
        frag["fill_direction"] = tuple(float(x) for x in _normalized(lighting.fill_direction))
        frag["key_light"] = tuple(float(c) * lighting.key_intensity for c in lighting.key_color)
        frag["fill_light"] = tuple(float(c) * lighting.fill_intensity for c in lighting.fill_color)
        frag["ambient"] = tuple(float(c) * lighting.ambient_intensity for c in lighting.ambient_color)
        frag["wrap_scale"] = 1.0 / (1.0 + float(lighting.softness))
        frag["wrap_offset"] = float(lighting.softness) / (1.0 + float(lighting.softness))
        frag["specular"] = float(lighting.specular)
        self.update()

    def set_world_to_camera(self, world_to_camera: np.ndarray) -> None:
        """View matrix of the geometry maps: rig space → camera space, shape ``(4, 4)``, column vectors, cm."""
        if not self.maps:
            raise ValueError("set_world_to_camera applies to geometry-map visuals (maps=True)")
        # vispy uploads matrices as given and GLSL reads them column-major: pass the transpose
        matrix = np.ascontiguousarray(np.asarray(world_to_camera, np.float32).T)
        self.shared_program.vert["world_to_camera"] = matrix
        self.shared_program.frag["world_to_camera"] = matrix
        self.update()

    def geometry_changed(self) -> None:
        """Tell the visual that the shared positions changed (bounds, redraw)."""
        self._bounds_changed()
        self.update()

    def _prepare_transforms(self, view: Visual) -> None:
        view.view_program.vert["visual_to_render"] = view.get_transform("visual", "render")
        if not self.maps:
            view.view_program.vert["render_to_visual"] = view.get_transform("render", "visual")

    def _prepare_draw(self, view: Visual) -> bool:
        return True

    def _compute_bounds(self, axis: int, view: Visual) -> tuple[float, float] | None:
        positions = self._buffers.positions_cm
        if not len(positions):
            return None
        return float(positions[:, axis].min()), float(positions[:, axis].max())


class EyelashVisual(FaceMeshVisual):
    """Eyelash cards drawn as thin tapering strands (fragments between strands are discarded).

    Parameters
    ----------
    buffers : MeshBuffers
        The face's vertex buffers.
    triangles : np.ndarray
        The eyelash triangles, shape ``(F, 3)``.
    length : float
        Fraction of each card (from the lid) that carries strands, in (0, 1].
    density : float
        Strands per centimetre along the lid.
    maps : bool
        Write geometry maps instead of colour (see :class:`FaceMeshVisual`).
    """

    _cutout = _LASH_CUTOUT

    def __init__(
        self,
        buffers: MeshBuffers,
        triangles: np.ndarray,
        length: float = 0.55,
        density: float = 22.0,
        maps: bool = False,
    ) -> None:
        FaceMeshVisual.__init__(self, buffers, triangles, material="plain", maps=maps)
        self.unfreeze()
        cutout = self.shared_program.frag["cutout"]
        cutout["length"] = float(length)
        cutout["density"] = float(density)
        self.freeze()


FaceMesh = scene.visuals.create_visual_node(FaceMeshVisual)
"""Scene-graph node wrapping :class:`FaceMeshVisual` (``FaceMesh(buffers, triangles, parent=node)``)."""
Eyelashes = scene.visuals.create_visual_node(EyelashVisual)
"""Scene-graph node wrapping :class:`EyelashVisual`."""


# ----------------------------------------------------------------------------------------------------------
# Materials (computed once from the rig's neutral and topology)
# ----------------------------------------------------------------------------------------------------------

#: Groups that are not drawn: alpha-blended helper shells in the original asset.
HIDDEN_GROUPS = ("eye_blend_left", "eye_blend_right", "eye_occlusion_left", "eye_occlusion_right")

_SKIN = np.array([0.80, 0.62, 0.53])
_SKIN_RED = np.array([0.78, 0.46, 0.42])
_LIPS = np.array([0.70, 0.42, 0.40])
_BROW = np.array([0.20, 0.14, 0.10])
_HAIR = np.array([0.17, 0.12, 0.09])
_SCLERA = np.array([0.93, 0.90, 0.86])
_TEETH = np.array([0.86, 0.81, 0.70]) * 0.75  # teeth sit in the mouth's shadow
_GUMS = np.array([0.68, 0.33, 0.34])
_MOUTH = np.array([0.15, 0.06, 0.06])
_SOCKET = np.array([0.50, 0.30, 0.28])
_LACRIMAL = np.array([0.82, 0.55, 0.52])
_LASHES = np.array([0.06, 0.05, 0.04])

# Multi-PIE 68 landmark numbers (0-based) used to place painted features
_MP68_BROW_RIGHT = (17, 18, 19, 20, 21)
_MP68_BROW_LEFT = (22, 23, 24, 25, 26)
_MP68_OUTER_LIP = tuple(range(48, 60))
_MP68_NOSE_TIP = 30


# hairline of the painted short hair: (azimuth about +y from the front, elevation above the skull
# centre), degrees, for the ICT head (skull centre _SKULL_CENTRE in cm)
_SKULL_CENTRE = np.array([0.0, 3.0, 0.5])
_HAIRLINE_DEG = np.array(
    [
        (0, 44),
        (25, 42),
        (45, 38),
        (62, 30),
        (72, 12),
        (80, -6),
        (86, -6),
        (92, 18),
        (110, 18),
        (130, -5),
        (180, -35),
    ],
    dtype=np.float64,
)


def _hair_amount(positions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """How much of each vertex is covered by short hair, shape ``(V,)`` in [0, 1] (ICT head geometry)."""
    offset = positions - _SKULL_CENTRE
    azimuth = np.degrees(np.abs(np.arctan2(offset[:, 0], offset[:, 2])))
    elevation = np.degrees(np.arctan2(offset[:, 1], np.hypot(offset[:, 0], offset[:, 2])))
    hairline = np.interp(azimuth, _HAIRLINE_DEG[:, 0], _HAIRLINE_DEG[:, 1])
    jitter = 1.5 * rng.standard_normal(len(positions))  # an irregular hairline
    return _smoothstep(-2.0, 3.0, elevation - hairline + jitter)


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _chaikin_closed(polygon: np.ndarray, iterations: int) -> np.ndarray:
    """Chaikin corner cutting of a closed polygon ``(P, D)`` → ``(P · 2^iterations, D)`` (a smoother outline)."""
    for _ in range(iterations):
        following = np.roll(polygon, -1, axis=0)
        polygon = np.stack([0.75 * polygon + 0.25 * following, 0.25 * polygon + 0.75 * following], axis=1)
        polygon = polygon.reshape(-1, polygon.shape[-1])
    return polygon


def _point_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd test of 2-D points ``(N, 2)`` against a closed polygon ``(P, 2)`` → ``(N,)`` bool."""
    inside = np.zeros(len(points), bool)
    x, y = points[:, 0], points[:, 1]
    for (x0, y0), (x1, y1) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        crosses = (y0 > y) != (y1 > y)
        x_cross = x0 + (y - y0) * (x1 - x0) / np.where(y1 != y0, y1 - y0, 1e-12)
        inside ^= crosses & (x < x_cross)
    return inside


def _distance_to_polyline(points: np.ndarray, polyline: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of points ``(N, 3)`` to a polyline ``(P, 3)`` and the arc-length parameter in [0, 1]."""
    best = np.full(len(points), np.inf)
    param = np.zeros(len(points))
    lengths = np.linalg.norm(np.diff(polyline, axis=0), axis=1)
    starts = np.r_[0.0, np.cumsum(lengths)] / max(lengths.sum(), 1e-12)
    for i, (a, b) in enumerate(zip(polyline[:-1], polyline[1:], strict=True)):
        ab = b - a
        t = np.clip((points - a) @ ab / max(ab @ ab, 1e-12), 0.0, 1.0)
        distance = np.linalg.norm(points - (a + t[:, None] * ab), axis=1)
        closer = distance < best
        best[closer] = distance[closer]
        param[closer] = starts[i] + t[closer] * (starts[i + 1] - starts[i])
    return best, param


def _eye_frames(rig: Rig, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eye-frame coordinates of eyeball vertices, and the ids of each eye's inner (iris) shell.

    Each eyeball group holds an outer shell (sclera + cornea, the first half of the group's vertex range)
    and an inner shell whose front is the iris ("iris" range in the ICT README). The eye's centre is a
    sphere fit of the outer shell; its forward axis points from there to the centroid of the iris disc.

    Returns
    -------
    eye_frame : np.ndarray
        Shape ``(V, 4)``: ``(u, v, 0, 1)`` on eyeball vertices, ``(u, v)`` the offset from the forward axis
        in cm (front hemisphere; back hemisphere vertices get a large radius), zeros elsewhere.
    inner_shell : np.ndarray
        Vertex ids of the inner shells of both eyes, shape ``(n,)``.
    """
    eye_frame = np.zeros((len(positions), 4), np.float32)
    inner_shells = []
    for side in ("left", "right"):
        group = f"eyeball_{side}"
        if group not in rig.group_names:
            continue
        ids = rig.group_vertices(group)
        outer, inner = ids[: len(ids) * 770 // 1570], ids[len(ids) * 770 // 1570 :]
        inner_shells.append(inner)
        points = positions[outer].astype(np.float64)
        design = np.c_[2.0 * points, np.ones(len(points))]
        solution = np.linalg.lstsq(design, (points**2).sum(axis=1), rcond=None)[0]
        centre = solution[:3]
        axis = _normalized(positions[inner].mean(axis=0) - centre)
        for _ in range(2):  # refine: centroid of the iris disc (front of the inner shell)
            offsets = positions[inner] - centre
            front = offsets @ axis > 0.8 * np.linalg.norm(offsets, axis=1).mean()
            axis = _normalized(offsets[front].mean(axis=0))
        e1 = _normalized(np.cross([0.0, 1.0, 0.0], axis))
        e2 = np.cross(axis, e1)
        offsets = positions[ids] - centre
        uv = np.c_[offsets @ e1, offsets @ e2]
        uv[offsets @ axis < 0] = 10.0  # back of the eye: far outside the iris
        eye_frame[ids, :2] = uv
        eye_frame[ids, 3] = 1.0
    inner = np.concatenate(inner_shells) if inner_shells else np.zeros(0, np.int64)
    return eye_frame, inner


def _connected_components(triangles: np.ndarray, num_vertices: int) -> np.ndarray:
    """Component label (smallest vertex id) of every vertex, shape ``(V,)``; unused vertices label themselves."""
    labels = np.arange(num_vertices)
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    while True:
        smaller = np.minimum(labels[edges[:, 0]], labels[edges[:, 1]])
        new = labels.copy()
        np.minimum.at(new, edges[:, 0], smaller)
        np.minimum.at(new, edges[:, 1], smaller)
        new = new[new]  # pointer jumping
        if np.array_equal(new, labels):
            return labels
        labels = new


def _lash_frames(
    triangles: np.ndarray, positions: np.ndarray, lash_ids: np.ndarray, skin_ids: np.ndarray
) -> np.ndarray:
    """Eyelash-card attributes ``(t, s, 0, 2)`` for ``lash_ids``, shape ``(n, 4)``.

    ``t`` is the distance to the nearest skin vertex divided by the largest such distance on the same card
    (0 at the lid, 1 at the tip); ``s`` is the x coordinate (cm), which runs along the lid.
    """
    frames = np.zeros((len(lash_ids), 4), np.float32)
    if not len(lash_ids) or not len(skin_ids):
        return frames
    skin = positions[skin_ids]
    distance = np.empty(len(lash_ids))
    for start in range(0, len(lash_ids), 256):
        chunk = positions[lash_ids[start : start + 256]]
        distance[start : start + 256] = np.sqrt(((chunk[:, None, :] - skin[None]) ** 2).sum(-1).min(axis=1))
    in_lashes = np.isin(triangles, lash_ids).all(axis=1)
    labels = _connected_components(triangles[in_lashes], len(positions))[lash_ids]
    longest = np.zeros(len(positions))
    np.maximum.at(longest, labels, distance)
    frames[:, 0] = distance / np.maximum(longest[labels], 1e-6)
    frames[:, 1] = positions[lash_ids, 0]
    frames[:, 3] = 2.0
    return frames


def face_materials(rig: Rig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-vertex albedo/gloss, eye frames and the drawn triangles for a rig in the ICT layout.

    Parameters
    ----------
    rig : Rig
        The rig; its ``neutral`` (cm), groups and ``landmarks_multipie68`` are used when present.

    Returns
    -------
    albedo : np.ndarray
        Shape ``(V, 4)``, float32: sRGB albedo in [0, 1] and gloss in [0, 1].
    eye_frame : np.ndarray
        Shape ``(V, 4)``, float32, see :class:`FaceMeshVisual`.
    triangles : np.ndarray
        Drawn triangles, shape ``(F', 3)``, int32 (hidden helper shells and inner iris shells removed).
    """
    positions = rig.neutral.astype(np.float64)
    num_vertices = len(positions)
    groups = np.asarray(rig.vertex_group)
    names = list(rig.group_names)
    rgb = np.tile(_SKIN, (num_vertices, 1))
    gloss = np.full(num_vertices, 0.3)

    def in_group(*prefixes: str) -> np.ndarray:
        ids = [i for i, n in enumerate(names) if n.startswith(prefixes)]
        return np.isin(groups, ids)

    skin = in_group("face", "head_neck")
    landmarks = _multipie68(rig)
    brow_frame = np.zeros((num_vertices, 4))
    brow_frame[:, 0] = 10.0  # cm from the nearest brow line: far
    brow_frame[:, 2] = 10.0  # cm outside the lip contour: far
    # every non-eye vertex, so that triangles shared by the skin and the mouth or eye sockets blend safely
    brow_frame[:, 3] = 3.0

    # -- skin: low-frequency brightness variation, redness on cheeks, nose and ears ----------------------
    rng = np.random.default_rng(7)
    variation = np.zeros(num_vertices)
    for _ in range(6):
        frequency = rng.normal(size=3) * 0.6
        variation += np.sin(positions @ frequency + rng.uniform(0, 2 * np.pi))
    rgb *= (1.0 + 0.025 * variation)[:, None]
    redness = np.zeros(num_vertices)
    if landmarks is not None:
        nose = positions[landmarks[_MP68_NOSE_TIP]]
        eye_y = positions[landmarks[36:48], 1].mean()
        mouth_y = positions[landmarks[48:60], 1].mean()
        cheek_y = 0.5 * (eye_y + mouth_y)
        for sign in (-1.0, 1.0):
            centre_xy = np.array([sign * 4.2, cheek_y])
            redness += 0.3 * np.exp(-((positions[:, :2] - centre_xy) ** 2).sum(axis=1) / (2 * 1.6**2))
        redness += 0.3 * np.exp(-((positions - nose) ** 2).sum(axis=1) / (2 * 1.0**2))
    redness *= skin & (positions[:, 2] > 2.0)
    rgb = rgb + np.clip(redness, 0, 1)[:, None] * (_SKIN_RED - _SKIN)

    # -- short hair on the scalp, above a hairline given by elevation per azimuth about the skull ----------
    if rig.num_vertices == ICT_NUM_VERTICES:
        hair = _hair_amount(positions, rng) * skin
        rgb += hair[:, None] * (_HAIR * (1.0 + 0.15 * rng.standard_normal((num_vertices, 1))) - rgb)
        gloss += hair * (0.15 - gloss)

    if landmarks is not None:
        # -- lips: signed distance to the outer lip contour seen from the front (drawn per fragment) --------
        lip_points = positions[landmarks[list(_MP68_OUTER_LIP)]]
        front = skin & (positions[:, 2] > lip_points[:, 2].min() - 1.5)
        contour = np.c_[_chaikin_closed(lip_points[:, :2], 2), np.zeros(4 * len(lip_points))]
        flat = np.c_[positions[front, :2], np.zeros(int(front.sum()))]
        distance, _ = _distance_to_polyline(flat, np.concatenate([contour, contour[:1]]))
        inside = _point_in_polygon(flat[:, :2], contour[:, :2])
        brow_frame[front, 2] = np.where(inside, -distance, distance)
        gloss += 0.25 * (1.0 - _smoothstep(-0.1, 0.1, brow_frame[:, 2])) * front

        # -- eyebrows: drawn per fragment from each skin vertex's distance to the brow line --------------
        for brow, inner_first in ((_MP68_BROW_RIGHT, False), (_MP68_BROW_LEFT, True)):
            polyline = positions[landmarks[list(brow)]] + np.array([0.0, -0.12, 0.0])
            distance, param = _distance_to_polyline(positions, polyline)
            towards_tail = param if inner_first else 1.0 - param
            closer = skin & (distance < brow_frame[:, 0])
            brow_frame[closer, 0] = distance[closer]
            brow_frame[closer, 1] = towards_tail[closer]

    # -- eyes -----------------------------------------------------------------------------------------
    eye_frame, inner_shell = _eye_frames(rig, positions)
    not_eye = eye_frame[:, 3] != 1.0
    eye_frame[not_eye] = brow_frame[not_eye]
    eyeball = eye_frame[:, 3] == 1.0
    radius = np.linalg.norm(eye_frame[:, :2], axis=1)
    sclera_shade = 1.0 - 0.3 * _smoothstep(0.7, 1.5, radius)  # darker towards the lids and corners
    rgb[eyeball] = _SCLERA * sclera_shade[eyeball, None]
    gloss[eyeball] = 0.95

    # -- mouth: darker with depth behind the lips ------------------------------------------------------
    mouth_parts = in_group("teeth", "gums_tongue", "mouth_socket")
    if mouth_parts.any():
        front_z = positions[mouth_parts, 2].max()
        depth = front_z - positions[:, 2]  # cm behind the front teeth
        cavity = 1.0 - 0.85 * _smoothstep(0.0, 3.5, depth)
        for prefix, color, wet in (
            ("teeth", _TEETH, 0.3),
            ("gums_tongue", _GUMS, 0.6),
            ("mouth_socket", _MOUTH, 0.5),
        ):
            mask = in_group(prefix)
            rgb[mask] = color * cavity[mask, None]
            gloss[mask] = wet
    socket = in_group("eye_socket")
    rgb[socket], gloss[socket] = _SOCKET, 0.6
    lacrimal = in_group("lacrimal")
    rgb[lacrimal], gloss[lacrimal] = _LACRIMAL, 0.9
    lashes = in_group("eyelashes")
    rgb[lashes], gloss[lashes] = _LASHES, 0.0
    eye_frame[lashes] = _lash_frames(rig.triangles, positions, np.flatnonzero(lashes), np.flatnonzero(skin))

    # -- what is drawn ---------------------------------------------------------------------------------
    hidden = np.isin(groups, [names.index(n) for n in HIDDEN_GROUPS if n in names])
    hidden[inner_shell] = True
    triangles = rig.triangles[~hidden[rig.triangles].any(axis=1)].astype(np.int32)

    albedo = np.c_[np.clip(rgb, 0.0, 1.0), np.clip(gloss, 0.0, 1.0)].astype(np.float32)
    return albedo, eye_frame, triangles


def _multipie68(rig: Rig) -> np.ndarray | None:
    """The rig's 68 Multi-PIE landmark vertex ids, or ``None`` when it has none (no painted features)."""
    ids = np.asarray(rig.landmarks_multipie68)
    return ids if ids.shape == (68,) else None


def draw_batches(
    rig: Rig, albedo: np.ndarray, eye_frame: np.ndarray, triangles: np.ndarray, vertex_group: np.ndarray | None = None
) -> list[tuple[str, str, np.ndarray]]:
    """Split the drawn triangles into batches by material, in drawing order.

    Only the batches that need it paint detail (brows and lips, iris and pupil) per fragment; the outer
    skin is drawn first so that a GPU's depth test rejects most hidden fragments (mouth interior, eyeballs
    behind the lids) before shading them.

    Parameters
    ----------
    rig : Rig
        The rig (its vertex groups tell the outer skin from the interior).
    albedo : np.ndarray
        Per-vertex sRGB albedo and gloss from :func:`face_materials`, shape ``(V, 4)``.
    eye_frame : np.ndarray
        Per-vertex eye attributes from :func:`face_materials`, shape ``(V, 4)``.
    triangles : np.ndarray
        Drawn triangles from :func:`face_materials`, shape ``(F, 3)``.
    vertex_group : np.ndarray, optional
        Group index (into ``rig.group_names``) of each vertex the arrays describe, shape ``(V,)``; by default
        the rig's own (another for a decimated mesh, :class:`DecimatedSkin`).

    Returns
    -------
    list of (str, str, np.ndarray)
        Non-empty batches ``(name, material, triangles)`` in drawing order, materials being keys of
        ``_MATERIALS``: ``skin`` (no painted detail: outer skin, then the mouth and eye sockets),
        ``painted_skin`` (brows, lips and triangles with contrasting corner colours), ``eyes``, ``mixed``
        (triangles of several materials) and ``eyelashes``. Each triangle is in one batch, which draws
        what the per-fragment ``any`` material would, except that ``plain`` interpolates linear instead
        of sRGB albedo (on triangles whose corners differ by at most ``_SMOOTH_ALBEDO_RANGE``).
    """
    tags = eye_frame[triangles, 3]
    skin = (tags == 3.0).all(axis=1)
    eyes = (tags == 1.0).all(axis=1)
    lashes = (tags == 2.0).all(axis=1)
    mixed = ~(skin | eyes | lashes)
    # skin farther than the widest brow from every brow line and outside the lip colour's edge: unpainted
    frames = eye_frame[triangles]
    painted = skin & (
        (frames[..., 0].min(axis=1) < _BROW_HALF_WIDTH_MAX) | (frames[..., 2].min(axis=1) < _LIP_EDGE_OUTSIDE)
    )
    names = list(rig.group_names)
    outer_ids = [i for i, n in enumerate(names) if n.startswith(("face", "head_neck"))]
    groups = np.asarray(rig.vertex_group if vertex_group is None else vertex_group)
    outer = np.isin(groups[triangles], outer_ids).all(axis=1)
    # where vertex colours contrast, interpolating linear albedo would visibly differ from sRGB: those
    # triangles go with the painted skin, whose shader linearises per fragment (the painting is a no-op there)
    colours = albedo[triangles, :3]
    contrast = (colours.max(axis=1) - colours.min(axis=1)).max(axis=1) > _SMOOTH_ALBEDO_RANGE
    plain = skin & ~painted & ~contrast
    # outer skin first in the plain batch: on a GPU, depth testing then rejects hidden interior fragments
    plain_ids = np.r_[np.flatnonzero(plain & outer), np.flatnonzero(plain & ~outer)]
    batches = [
        ("skin", "plain", plain_ids),
        ("painted_skin", "skin", np.flatnonzero(skin & (painted | contrast))),
        ("eyes", "eye", np.flatnonzero(eyes)),
        ("mixed", "any", np.flatnonzero(mixed)),
        ("eyelashes", "plain", np.flatnonzero(lashes)),
    ]
    return [(name, material, triangles[ids]) for name, material, ids in batches if len(ids)]


# ----------------------------------------------------------------------------------------------------------
# A lighter mesh for small views
# ----------------------------------------------------------------------------------------------------------

#: Fraction of the skin's triangles :func:`decimate_skin` removes for the live view's rig.
LIVE_SKIN_REDUCTION = 0.75
#: Groups :func:`decimate_skin` keeps as they are: the teeth are many small separate pieces, which
#: decimation welds into spikes across the open mouth.
EXACT_GROUPS = ("teeth",)


@dataclass(frozen=True)
class DecimatedSkin:
    """The face with its skin (everything but eyeballs, eyelashes and teeth) decimated, driven by the full mesh.

    Most of the cost of drawing the ICT head on a CPU rasterizer is per triangle, not per pixel: in a
    400×480 view most of its 48,000 triangles cover less than a pixel. This mesh has the skin's surface
    quadric-decimated (``fast_simplification``) and the eyeballs and eyelash cards as they are; each of its
    vertices is a fixed barycentric blend of one triangle of the full mesh (the closest point of the skin
    at the neutral), so any posed full mesh poses it: ``positions = driver @ vertices``.

    Attributes
    ----------
    driver : scipy.sparse.csr_matrix
        ``(V', V)``, float32: each row the barycentric weights (three, or one for a kept vertex).
    triangles : np.ndarray
        ``(F', 3)``, int32, indices into the ``V'`` vertices.
    albedo, eye_frame : np.ndarray
        ``(V', 4)``, float32: the materials of :func:`face_materials` blended by the same weights (tags of
        ``eye_frame[:, 3]`` stay exact: a skin vertex blends only skin).
    vertex_group : np.ndarray
        ``(V',)``, int: the group of each vertex's nearest full-mesh corner.
    max_offset_cm : float
        Largest distance of a decimated vertex from the full skin it is laid on, at the neutral, cm.
    """

    driver: scipy.sparse.csr_matrix
    triangles: np.ndarray
    albedo: np.ndarray
    eye_frame: np.ndarray
    vertex_group: np.ndarray
    max_offset_cm: float

    @property
    def num_vertices(self) -> int:
        """``V'``."""
        return int(self.driver.shape[0])

    def positions(self, vertices: np.ndarray) -> np.ndarray:
        """The decimated mesh posed like the full one: ``(V, 3)`` cm → ``(V', 3)`` float32, cm."""
        return np.asarray(self.driver @ np.asarray(vertices, np.float32), np.float32)


def _clamped_barycentric(corners: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Barycentric weights ``(M, 3)`` of points ``(M, 3)`` projected onto triangles ``(M, 3, 3)``, negative
    weights clamped to 0 and the rest renormalised: the blend lies on the triangle, at the projection when it
    falls inside (the decimated skin's points lie within a millimetre of the surface, so nearly always)."""
    origin = corners[:, 0]
    edge_a, edge_b, offset = corners[:, 1] - origin, corners[:, 2] - origin, points - origin
    aa, ab, bb = (edge_a * edge_a).sum(1), (edge_a * edge_b).sum(1), (edge_b * edge_b).sum(1)
    oa, ob = (offset * edge_a).sum(1), (offset * edge_b).sum(1)
    determinant = np.maximum(aa * bb - ab * ab, 1e-30)
    v, w = (bb * oa - ab * ob) / determinant, (aa * ob - ab * oa) / determinant
    weights = np.clip(np.stack([1.0 - v - w, v, w], axis=1), 0.0, None)
    return weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-30)


def decimate_skin(rig: Rig, reduction: float = LIVE_SKIN_REDUCTION) -> DecimatedSkin:
    """Build the :class:`DecimatedSkin` of a rig (about 0.6 s for ICT, most of it :func:`face_materials`).

    Parameters
    ----------
    rig : Rig
        The rig (ICT layout, as :func:`face_materials`); decimated at its neutral.
    reduction : float
        Fraction of the skin's triangles to remove, in ``[0, 1)``.
    """
    import fast_simplification
    from scipy.spatial import cKDTree

    if not 0.0 <= reduction < 1.0:
        raise ValueError(f"reduction must be in [0, 1), got {reduction}")
    albedo, eye_frame, triangles = face_materials(rig)
    points = rig.neutral.astype(np.float64)
    names = list(rig.group_names)
    exact = np.isin(np.asarray(rig.vertex_group), [names.index(g) for g in EXACT_GROUPS if g in names])
    on_skin = (eye_frame[triangles, 3] == 3.0).all(axis=1) & ~exact[triangles].any(axis=1)
    skin, others = triangles[on_skin], triangles[~on_skin]
    new_points, new_triangles = fast_simplification.simplify(
        points.astype(np.float32), skin.astype(np.int32), target_reduction=float(reduction)
    )
    new_points = np.asarray(new_points, np.float64)
    # lay each new point on the closest skin triangle among those around its 4 nearest skin vertices
    skin_ids = np.unique(skin)
    _, nearest = cKDTree(points[skin_ids]).query(new_points, k=4)
    incidence = scipy.sparse.csr_matrix(
        (np.ones(skin.size), (skin.ravel(), np.repeat(np.arange(len(skin)), 3))), shape=(len(points), len(skin))
    )
    candidates = incidence[skin_ids[nearest].ravel()].tocoo()
    point_of, triangle_of = candidates.row // nearest.shape[1], candidates.col
    candidate_weights = _clamped_barycentric(points[skin[triangle_of]], new_points[point_of])
    laid = np.einsum("mk,mkx->mx", candidate_weights, points[skin[triangle_of]])
    distance = np.linalg.norm(laid - new_points[point_of], axis=1)
    order = np.lexsort((distance, point_of))
    best = order[np.r_[True, point_of[order][1:] != point_of[order][:-1]]]  # the nearest per point
    corners = skin[triangle_of[best]]
    weights = candidate_weights[best]
    kept = np.unique(others)  # eyeballs and eyelash cards as they are
    count = len(new_points)
    driver = scipy.sparse.csr_matrix(
        (
            np.r_[weights.ravel(), np.ones(len(kept))].astype(np.float32),
            (np.r_[np.repeat(np.arange(count), 3), count + np.arange(len(kept))], np.r_[corners.ravel(), kept]),
        ),
        shape=(count + len(kept), len(points)),
    )
    remap = np.full(len(points), -1)
    remap[kept] = count + np.arange(len(kept))
    groups = np.asarray(rig.vertex_group)
    blended_eye_frame = np.asarray(driver @ eye_frame, np.float32)
    blended_eye_frame[:count, 3] = 3.0  # the skin tag, exactly (a blend of 3s may round)
    return DecimatedSkin(
        driver=driver,
        triangles=np.ascontiguousarray(np.r_[np.asarray(new_triangles), remap[others]], np.int32),
        albedo=np.asarray(driver @ albedo, np.float32),
        eye_frame=blended_eye_frame,
        vertex_group=np.r_[groups[corners[np.arange(count), weights.argmax(axis=1)]], groups[kept]],
        max_offset_cm=float(distance[best].max()),
    )


# ----------------------------------------------------------------------------------------------------------
# Vertex normals
# ----------------------------------------------------------------------------------------------------------


class VertexNormals:
    """Area-weighted vertex normals of a fixed triangulation; index work is done once.

    Per call: nine gathers of corner coordinates, a cross product per triangle and one sparse
    (vertex × triangle incidence) product summing face normals onto vertices, all in float32 (about 1 ms
    for the ICT head, a third of gathering ``(F, 3, 3)`` corner arrays and ``np.bincount``).

    Parameters
    ----------
    triangles : np.ndarray
        Shape ``(F, 3)``, integer vertex ids.
    num_vertices : int
        ``V``.
    """

    def __init__(self, triangles: np.ndarray, num_vertices: int) -> None:
        triangles = np.asarray(triangles, np.intp).reshape(-1, 3)
        self._corners = tuple(np.ascontiguousarray(triangles[:, k]) for k in range(3))
        self._num_vertices = num_vertices
        num_triangles = len(triangles)
        incidence = scipy.sparse.csr_matrix(
            (
                np.ones(3 * num_triangles, np.float32),
                (triangles.T.ravel(), np.tile(np.arange(num_triangles), 3)),
            ),
            shape=(num_vertices, num_triangles),
        )
        incidence.sum_duplicates()
        self._incidence = incidence

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        """Unit normals for positions ``(V, 3)`` (cm) → ``(V, 3)`` float32; zero for unused vertices."""
        x, y, z = np.asarray(positions, np.float32).T.copy()  # contiguous coordinate rows
        i0, i1, i2 = self._corners
        x0, y0, z0 = x.take(i0), y.take(i0), z.take(i0)
        ax, ay, az = x.take(i1) - x0, y.take(i1) - y0, z.take(i1) - z0
        bx, by, bz = x.take(i2) - x0, y.take(i2) - y0, z.take(i2) - z0
        # face normal = edge1 × edge2, of length 2 × area (area weighting), summed onto its corners
        incidence = self._incidence
        nx = incidence @ (ay * bz - az * by)
        ny = incidence @ (az * bx - ax * bz)
        nz = incidence @ (ax * by - ay * bx)
        inverse_length = 1.0 / np.maximum(np.sqrt(nx * nx + ny * ny + nz * nz), 1e-12)
        normals = np.empty((self._num_vertices, 3), np.float32)
        normals[:, 0] = nx * inverse_length
        normals[:, 1] = ny * inverse_length
        normals[:, 2] = nz * inverse_length
        return normals


# ----------------------------------------------------------------------------------------------------------
# The scene
# ----------------------------------------------------------------------------------------------------------


class FaceScene:
    """The rig's face as vispy visuals under a parent scene node, with materials and lights.

    Parameters
    ----------
    rig : Rig
        The rig (ICT-FaceKit layout: vertex groups, Multi-PIE landmarks for painted features).
    parent : vispy.scene.Node
        Node the mesh is added under (``view.scene`` of a ``SceneCanvas`` view, or any node).
    skin : DecimatedSkin, optional
        Draw this lighter mesh (:func:`decimate_skin`) instead of the full one; positions given to
        :meth:`set_vertices` are still the full rig's.

    Attributes
    ----------
    batches : dict of str to FaceMeshVisual
        The colour visuals, one per draw batch of :func:`draw_batches`, drawn in that order.

    Notes
    -----
    The mesh starts at the rig's neutral. ``set_vertices`` is the per-frame call: it computes vertex
    normals and uploads positions and normals; materials and index buffers never change. The geometry-map
    visuals (:meth:`set_geometry_output`) are made on first use.
    """

    def __init__(self, rig: Rig, parent: scene.Node, skin: DecimatedSkin | None = None) -> None:
        self.rig = rig
        self.skin = skin
        if skin is None:
            albedo, eye_frame, triangles = face_materials(rig)
            vertex_group = None
        else:
            albedo, eye_frame, triangles = skin.albedo, skin.eye_frame, skin.triangles
            vertex_group = skin.vertex_group
        self.triangles = triangles
        self._parent = parent
        self._normals = VertexNormals(triangles, len(albedo))
        self._buffers = MeshBuffers(albedo, eye_frame)
        self._albedo = np.ascontiguousarray(albedo, np.float32)
        self._on_lashes = (eye_frame[triangles, 3] == 2.0).all(axis=1)  # eyelash cards (see MeshBuffers)
        self.batches: dict[str, FaceMeshVisual] = {}
        batches = draw_batches(rig, albedo, eye_frame, triangles, vertex_group)
        for order, (name, material, batch) in enumerate(batches):
            if name == "eyelashes":
                node = Eyelashes(self._buffers, batch, parent=parent)
            else:
                node = FaceMesh(self._buffers, batch, material, parent=parent)
            node.order = order
            self.batches[name] = node
        self._map_visuals: tuple[FaceMeshVisual, ...] = ()
        self._vertices = np.zeros((rig.num_vertices, 3), np.float32)
        self.lighting = Lighting()
        self.set_vertices(rig.neutral)

    @property
    def _visuals(self) -> tuple[FaceMeshVisual, ...]:
        return (*self.batches.values(), *self._map_visuals)

    @property
    def vertices(self) -> np.ndarray:
        """The displayed positions, shape ``(V, 3)``, float32, centimetres (do not modify)."""
        return self._vertices

    def set_vertices(self, vertices: np.ndarray) -> None:
        """Show new positions.

        Parameters
        ----------
        vertices : np.ndarray
            Shape ``(V, 3)``, centimetres, in the coordinates of the parent node.
        """
        self.set_geometry(vertices, *self.geometry(vertices))

    def geometry(self, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What :meth:`set_vertices` uploads for full-mesh positions ``(V, 3)`` (cm): the drawn mesh's positions
        and unit normals, each ``(V', 3)`` float32 (``V' = V`` unless decimated). Touches no GL state and no
        state of the scene: another thread may call it (the live view poses the mesh off the GUI thread).
        """
        vertices = np.ascontiguousarray(vertices, dtype=np.float32)
        if vertices.shape != (self.rig.num_vertices, 3):
            raise ValueError(f"vertices must have shape ({self.rig.num_vertices}, 3), got {vertices.shape}")
        positions = vertices if self.skin is None else self.skin.positions(vertices)
        return positions, self._normals(positions)

    def set_geometry(self, vertices: np.ndarray, positions: np.ndarray, normals: np.ndarray) -> None:
        """Upload what :meth:`geometry` made of ``vertices`` (``(V, 3)``, cm, kept as :attr:`vertices`)."""
        self._vertices = np.asarray(vertices, np.float32)
        self._buffers.set_geometry(positions, normals)
        for visual in self._visuals:
            visual.geometry_changed()

    def set_vertex_colours(self, colours: np.ndarray | None) -> None:
        """Paint the skin with per-vertex colours (a heatmap), or ``None`` for the rig's own materials.

        Parameters
        ----------
        colours : np.ndarray or None
            sRGB in [0, 1], shape ``(V, 3)``; gloss is kept. The painted brows and lips of the skin material
            still show on top.
        """
        albedo = self._albedo
        if colours is not None:
            colours = np.asarray(colours, np.float32)
            if colours.shape != (self.rig.num_vertices, 3):
                raise ValueError(f"colours must have shape ({self.rig.num_vertices}, 3), got {colours.shape}")
            albedo = albedo.copy()
            albedo[:, :3] = colours if self.skin is None else self.skin.driver @ colours
        self._buffers.albedo.set_data(np.ascontiguousarray(albedo))
        for visual in self._visuals:
            visual.geometry_changed()

    def set_lighting(self, lighting: Lighting) -> None:
        """Use another light rig (see :class:`Lighting`)."""
        self.lighting = lighting
        for visual in self.batches.values():
            visual.set_lighting(lighting)

    def set_geometry_output(self, world_to_camera: np.ndarray | None) -> None:
        """Draw geometry maps instead of shaded colour, or (``None``) go back to shading.

        With a view matrix (rig space → camera space, shape ``(4, 4)``, column vectors, cm) each fragment
        writes its camera-space unit normal to rgb and its z-depth (cm along the viewing axis) to alpha.
        Meant for a float framebuffer (:class:`studio.render.offscreen.OffscreenRenderer`).
        """
        maps = world_to_camera is not None
        if maps and not self._map_visuals:
            buffers, triangles = self._buffers, self.triangles
            surface = FaceMesh(buffers, triangles[~self._on_lashes], maps=True, parent=self._parent)
            lashes = Eyelashes(buffers, triangles[self._on_lashes], maps=True, parent=self._parent)
            surface.order, lashes.order = len(self.batches), len(self.batches) + 1
            self._map_visuals = (surface, lashes)
        for visual in self._map_visuals:
            if maps:
                visual.set_world_to_camera(world_to_camera)
            visual.visible = maps
        for visual in self.batches.values():
            visual.visible = not maps
