// TAA building blocks: YCoCg, Catmull-Rom weights, AABB clipping towards the centre.
// Mirrors qwplugin/taa.py (rgb_to_ycocg, catmull_rom_weights, clip_towards_centre) operation for operation.

// Added to the AABB half-extent before dividing, so a flat neighbourhood (sigma = 0) clips onto the mean
// (Playdead INSIDE uses FLT_EPS for the same purpose). Same value as qwplugin.taa.CLIP_EPS.
const float TAA_CLIP_EPS = 1e-6;

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

// Catmull-Rom (Keys 1981, a = -0.5) weights of the taps at offsets -1, 0, 1, 2 for fraction f in [0, 1).
vec4 catmull_rom_weights(float f)
{
    return vec4(f * (-0.5 + f * (1.0 - 0.5 * f)),
                1.0 + f * f * (-2.5 + 1.5 * f),
                f * (0.5 + f * (2.0 - 1.5 * f)),
                f * f * (-0.5 + 0.5 * f));
}

// Clip q onto the AABB centre +- half_extent along the segment towards the centre
// (Playdead INSIDE, TemporalReprojection.shader clip_aabb); points inside are returned unchanged.
vec3 clip_towards_centre(vec3 q, vec3 centre, vec3 half_extent)
{
    vec3 v = q - centre;
    vec3 v_unit = abs(v / (half_extent + TAA_CLIP_EPS));
    float ratio = max(v_unit.x, max(v_unit.y, v_unit.z));
    return (ratio > 1.0) ? centre + v / ratio : q;
}
