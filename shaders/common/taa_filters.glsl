// TAA building blocks: YCoCg, the luma tonemap, Catmull-Rom weights, AABB clipping towards the centre.
// Mirrors qwplugin/taa.py (rgb_to_ycocg, tonemap_ycocg, catmull_rom_weights, clip_ratio, ...) operation
// for operation.

// Added to the AABB half-extent before dividing, so a flat neighbourhood (sigma = 0) clips onto the mean
// (Playdead INSIDE uses FLT_EPS for the same purpose). Same value as qwplugin.taa.CLIP_EPS.
const float TAA_CLIP_EPS = 1e-6;
// Floor of 1 - Y when inverting the luma tonemap. Same value as qwplugin.taa.TONEMAP_EPS.
const float TAA_TONEMAP_EPS = 1e-3;

// YCoCg (Malvar & Sullivan 2003), used for the neighbourhood box as in Karis 2014.
vec3 rgb_to_ycocg(vec3 rgb)
{
    return vec3(0.25 * rgb.r + 0.5 * rgb.g + 0.25 * rgb.b,
                0.5 * rgb.r - 0.5 * rgb.b,
                -0.25 * rgb.r + 0.5 * rgb.g - 0.25 * rgb.b);
}

vec3 ycocg_to_rgb(vec3 ycocg)
{
    return vec3(ycocg.x + ycocg.y - ycocg.z, ycocg.x + ycocg.z, ycocg.x - ycocg.y - ycocg.z);
}

// Luma tonemap in YCoCg, q = p / (1 + p.Y), and its inverse p = q / max(1 - q.Y, eps).
vec3 tonemap_ycocg(vec3 p) { return p / (1.0 + p.x); }
vec3 untonemap_ycocg(vec3 q) { return q / max(1.0 - q.x, TAA_TONEMAP_EPS); }

// The same in RGB: c / (1 + Y(c)) and its inverse (used by the output sharpening).
vec3 luma_tonemap_rgb(vec3 c) { return c / (1.0 + rgb_to_ycocg(c).x); }
vec3 luma_untonemap_rgb(vec3 t) { return t / max(1.0 - rgb_to_ycocg(t).x, TAA_TONEMAP_EPS); }

// Catmull-Rom (Keys 1981, a = -0.5) weights of the taps at offsets -1, 0, 1, 2 for fraction f in [0, 1).
vec4 catmull_rom_weights(float f)
{
    return vec4(f * (-0.5 + f * (1.0 - 0.5 * f)),
                1.0 + f * f * (-2.5 + 1.5 * f),
                f * (0.5 + f * (2.0 - 1.5 * f)),
                f * f * (-0.5 + 0.5 * f));
}

// How far q lies outside the AABB centre +- half_extent: the largest per-axis ratio (> 1 = outside).
float clip_ratio(vec3 q, vec3 centre, vec3 half_extent)
{
    vec3 v_unit = abs((q - centre) / (half_extent + TAA_CLIP_EPS));
    return max(v_unit.x, max(v_unit.y, v_unit.z));
}

// Clip q onto the box along the segment towards the centre (Playdead INSIDE clip_aabb), given its ratio.
vec3 clip_by_ratio(vec3 q, vec3 centre, float ratio)
{
    return (ratio > 1.0) ? centre + (q - centre) / ratio : q;
}

vec3 clip_towards_centre(vec3 q, vec3 centre, vec3 half_extent)
{
    return clip_by_ratio(q, centre, clip_ratio(q, centre, half_extent));
}
