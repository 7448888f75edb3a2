// Temporal anti-aliasing resolve: reprojection, Catmull-Rom history, YCoCg variance clipping,
// luminance-weighted blend. The same algorithm as qwplugin/taa.py (taa_resolve); see docs/taa.md.
//
// Works in the input contract's TOP-DOWN pixel space: texel (x, y) has row 0 at the top and its centre at
// (x + 0.5, y + 0.5). The including file provides the accessors, which own the GL row flip and
// clamp-to-edge addressing:
//   vec3 load_color(ivec2 ss_texel);    // current frame, linear HDR, clamped at 0
//   vec2 load_motion(ivec2 ss_texel);   // motion_px: previous = current + motion, +x right, +y down
//   vec3 load_history(ivec2 ss_texel);  // previous output, linear HDR

#include "common/taa_filters.glsl"

// 16-tap Catmull-Rom over the 4x4 footprint with point fetches (not the 5/9-tap bilinear-optimised form:
// hardware bilinear weights are rounded to a few bits, which would break agreement with PyTorch).
vec3 sample_history_catmull_rom(vec2 ss_pos)
{
    vec2 t = ss_pos - 0.5;
    vec2 base = floor(t);
    vec2 frac_px = t - base;
    ivec2 ss_base = ivec2(base);
    vec4 wx = catmull_rom_weights(frac_px.x);
    vec4 wy = catmull_rom_weights(frac_px.y);
    vec3 total = vec3(0.0);
    for (int dy = 0; dy < 4; ++dy) {
        vec3 row = vec3(0.0);
        for (int dx = 0; dx < 4; ++dx) {
            row = row + wx[dx] * load_history(ss_base + ivec2(dx - 1, dy - 1));
        }
        total = total + wy[dy] * row;
    }
    return total;
}

// Bilinear sample of the current frame at ss_pos (used to unjitter, as Playdead's uv - jitter).
vec3 sample_color_bilinear(vec2 ss_pos)
{
    vec2 t = ss_pos - 0.5;
    vec2 base = floor(t);
    vec2 f = t - base;
    ivec2 ss_base = ivec2(base);
    vec3 top = (1.0 - f.x) * load_color(ss_base) + f.x * load_color(ss_base + ivec2(1, 0));
    vec3 bottom = (1.0 - f.x) * load_color(ss_base + ivec2(0, 1)) + f.x * load_color(ss_base + ivec2(1, 1));
    return (1.0 - f.y) * top + f.y * bottom;
}

// One output pixel. size_px: render size (W, H); alpha: current-frame feedback weight;
// gamma: variance-clip box half-size in standard deviations (Salvi 2016).
vec3 taa_resolve(ivec2 ss_texel, vec2 size_px, vec2 jitter_px, bool reset, float alpha, float gamma,
                 bool unjitter)
{
    vec2 ss_centre = vec2(ss_texel) + 0.5;
    vec3 current = unjitter ? sample_color_bilinear(ss_centre - jitter_px) : load_color(ss_texel);
    if (reset) {
        return current;
    }
    // Reprojection: where this pixel was in the previous frame (previous = current + motion).
    vec2 ss_prev = ss_centre + load_motion(ss_texel);
    bool valid = ss_prev.x >= 0.0 && ss_prev.x <= size_px.x && ss_prev.y >= 0.0 && ss_prev.y <= size_px.y;
    vec3 history = max(sample_history_catmull_rom(ss_prev), 0.0);

    // 3x3 neighbourhood moments in YCoCg (Karis 2014; variance clipping, Salvi 2016), accumulated relative
    // to the centre pixel (shifted-data variance: a flat neighbourhood has exactly zero variance, no
    // catastrophic cancellation on bright pixels).
    vec3 ycocg_centre = rgb_to_ycocg(load_color(ss_texel));
    vec3 m1 = vec3(0.0);
    vec3 m2 = vec3(0.0);
    for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
            vec3 s = rgb_to_ycocg(load_color(ss_texel + ivec2(dx, dy))) - ycocg_centre;
            m1 = m1 + s;
            m2 = m2 + s * s;
        }
    }
    vec3 mean_offset = m1 / 9.0;
    vec3 mean = ycocg_centre + mean_offset;
    vec3 sigma = sqrt(max(m2 / 9.0 - mean_offset * mean_offset, 0.0));
    history = ycocg_to_rgb(clip_towards_centre(rgb_to_ycocg(history), mean, gamma * sigma));

    // Luminance-weighted exponential blend (Karis 2014, after Lottes): weights 1 / (1 + luma).
    float w_current = alpha / (1.0 + rgb_to_ycocg(current).x);
    float w_history = (1.0 - alpha) / (1.0 + rgb_to_ycocg(history).x);
    vec3 blended = max((w_current * current + w_history * history) / (w_current + w_history), 0.0);
    return valid ? blended : current;
}
