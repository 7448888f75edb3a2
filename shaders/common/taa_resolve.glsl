// Temporal anti-aliasing resolve: motion dilation, reprojection, depth disocclusion, jitter-aware current
// estimate, Catmull-Rom history, (perceptual) YCoCg variance clipping, adaptive luminance-weighted blend.
// The same algorithm, operation for operation, as qwplugin/taa.py (taa_resolve); see docs/taa.md.
//
// Works in the input contract's TOP-DOWN pixel space: texel (x, y) has row 0 at the top and its centre at
// (x + 0.5, y + 0.5). The including file provides the accessors, which own the GL row flip and
// clamp-to-edge addressing:
//   vec3 load_color(ivec2 ss_texel);          // current frame, linear HDR, clamped at 0
//   vec2 load_motion(ivec2 ss_texel);         // motion_px: previous = current + motion, +x right, +y down
//   vec3 load_history(ivec2 ss_texel);        // previous output, linear HDR
//   float load_depth(ivec2 ss_texel);         // current linear view depth (only read when a depth option is on)
//   float load_history_depth(ivec2 ss_texel); // previous frame's linear view depth (depth rejection only)

#include "common/taa_filters.glsl"

const int TAA_FILTER_NONE = 0;
const int TAA_FILTER_GAUSSIAN = 1;

struct TAAParams {
    float alpha;             // floor of the current-frame weight
    float gamma;             // variance-clip box half-size in standard deviations
    bool unjitter;           // bilinear re-sample of the current frame at centre - jitter
    int filter_mode;         // TAA_FILTER_NONE or TAA_FILTER_GAUSSIAN
    float recon_weights[9];  // Gaussian weights of the 3x3 samples (host-computed: reconstruction_weights)
    bool dilate_motion;      // closest-depth motion of the 3x3
    bool depth_rejection;    // reject the history on depth disocclusion (needs a history depth)
    float depth_keep;        // 1 - depth_tolerance, computed on the host in float32
    bool perceptual_clip;    // clip in the luma-tonemapped YCoCg
    float motion_feedback;   // current-weight increase per pixel of motion
    float clip_feedback;     // current-weight increase per unit of clip fraction
    float feedback_max;      // cap of the adaptive current weight
};

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

// Farthest previous-frame depth of the 2x2 bilinear footprint of ss_pos.
float history_depth_far(vec2 ss_pos)
{
    ivec2 b = ivec2(floor(ss_pos - 0.5));
    return max(max(load_history_depth(b), load_history_depth(b + ivec2(1, 0))),
               max(load_history_depth(b + ivec2(0, 1)), load_history_depth(b + ivec2(1, 1))));
}

// The box domain: YCoCg, or the YCoCg of the luma tonemap c / (1 + Y(c)).
vec3 to_box(vec3 ycocg, bool perceptual) { return perceptual ? tonemap_ycocg(ycocg) : ycocg; }
vec3 from_box(vec3 q, bool perceptual) { return perceptual ? untonemap_ycocg(q) : q; }

// The current-frame estimate at the pixel centre.
vec3 taa_current(ivec2 ss_texel, vec2 jitter_px, TAAParams p)
{
    if (p.filter_mode == TAA_FILTER_GAUSSIAN) {
        vec3 total = vec3(0.0);
        int k = 0;
        for (int dy = -1; dy <= 1; ++dy) {
            for (int dx = -1; dx <= 1; ++dx) {
                vec3 term = p.recon_weights[k] * load_color(ss_texel + ivec2(dx, dy));
                total = (k == 0) ? term : total + term;
                ++k;
            }
        }
        return total;
    }
    if (p.unjitter) {
        return sample_color_bilinear(vec2(ss_texel) + 0.5 - jitter_px);
    }
    return load_color(ss_texel);
}

// One output pixel (the new history). size_px: render size (W, H).
vec3 taa_resolve(ivec2 ss_texel, vec2 size_px, vec2 jitter_px, bool reset, bool has_history_depth,
                 TAAParams p)
{
    vec2 ss_centre = vec2(ss_texel) + 0.5;
    vec3 current = taa_current(ss_texel, jitter_px, p);
    if (reset) {
        return current;
    }
    // Motion dilation: the motion (and depth) of the closest-depth pixel of the 3x3, first on ties.
    vec2 motion = load_motion(ss_texel);
    float depth_cur = 0.0;
    if (p.dilate_motion) {
        float best = load_depth(ss_texel + ivec2(-1, -1));
        motion = load_motion(ss_texel + ivec2(-1, -1));
        for (int dy = -1; dy <= 1; ++dy) {
            for (int dx = -1; dx <= 1; ++dx) {
                float d = load_depth(ss_texel + ivec2(dx, dy));
                if (d < best) {
                    best = d;
                    motion = load_motion(ss_texel + ivec2(dx, dy));
                }
            }
        }
        depth_cur = best;
    } else if (p.depth_rejection) {
        depth_cur = load_depth(ss_texel);
    }
    // Reprojection: where this pixel was in the previous frame (previous = current + motion).
    vec2 ss_prev = ss_centre + motion;
    bool valid = ss_prev.x >= 0.0 && ss_prev.x <= size_px.x && ss_prev.y >= 0.0 && ss_prev.y <= size_px.y;
    if (p.depth_rejection && has_history_depth) {
        valid = valid && !(history_depth_far(ss_prev) < depth_cur * p.depth_keep);
    }
    vec3 history = max(sample_history_catmull_rom(ss_prev), 0.0);

    // 3x3 neighbourhood moments in the box domain (Karis 2014; variance clipping, Salvi 2016), accumulated
    // relative to the centre pixel (shifted-data variance: a flat neighbourhood has exactly zero variance).
    vec3 box_centre = to_box(rgb_to_ycocg(load_color(ss_texel)), p.perceptual_clip);
    vec3 m1 = vec3(0.0);
    vec3 m2 = vec3(0.0);
    for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
            vec3 s = to_box(rgb_to_ycocg(load_color(ss_texel + ivec2(dx, dy))), p.perceptual_clip) - box_centre;
            m1 = m1 + s;
            m2 = m2 + s * s;
        }
    }
    vec3 mean_offset = m1 / 9.0;
    vec3 mean = box_centre + mean_offset;
    vec3 sigma = sqrt(max(m2 / 9.0 - mean_offset * mean_offset, 0.0));
    vec3 hist_box = to_box(rgb_to_ycocg(history), p.perceptual_clip);
    float ratio = clip_ratio(hist_box, mean, p.gamma * sigma);
    history = ycocg_to_rgb(from_box(clip_by_ratio(hist_box, mean, ratio), p.perceptual_clip));

    // Adaptive feedback, then the luminance-weighted blend (Karis 2014, after Lottes).
    float alpha = p.alpha;
    if (p.motion_feedback > 0.0) {
        alpha = alpha + p.motion_feedback * sqrt(motion.x * motion.x + motion.y * motion.y);
    }
    if (p.clip_feedback > 0.0) {
        alpha = alpha + p.clip_feedback * (1.0 - 1.0 / max(ratio, 1.0));
    }
    alpha = min(alpha, p.feedback_max);
    float w_current = alpha / (1.0 + rgb_to_ycocg(current).x);
    float w_history = (1.0 - alpha) / (1.0 + rgb_to_ycocg(history).x);
    vec3 blended = max((w_current * current + w_history * history) / (w_current + w_history), 0.0);
    return valid ? blended : current;
}
