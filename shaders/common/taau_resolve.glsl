// Temporal anti-aliasing upscaling (TAAU) resolve: the strong TAA of common/taa_resolve.glsl in its
// upscaling form. The same algorithm, operation for operation, as qwplugin/taau.py (taau_resolve); see
// docs/upscaling.md. Two pixel spaces, both TOP-DOWN (row 0 at the top, texel centres at +0.5):
//   rs_ render pixels: colour, motion, depth (render size), motion and jitter in render pixels;
//   ds_ display pixels: the output and the history (display size).
// The including file provides, besides the accessors common/taa_resolve.glsl needs (load_color, load_motion,
// load_depth, load_history_depth at the render size, clamped; load_history at the display size, clamped),
// nothing else: every size and scale comes in as an argument.

#include "common/taa_resolve.glsl"

struct TAAUParams {
    float alpha;             // current-frame weight of a display pixel a sample landed on exactly
    float gamma;             // variance-clip box half-size in standard deviations
    float inv_two_sigma_sq;  // 1 / (2 sigma^2), sigma = filter_sigma_px in display pixels (host float32)
    bool dilate_motion;      // closest-depth motion of the render 3x3
    bool depth_rejection;    // reject the history on depth disocclusion (needs a history depth)
    float depth_keep;        // 1 - depth_tolerance (host float32)
    bool perceptual_clip;    // clip in the luma-tonemapped YCoCg
    float motion_feedback;   // current-weight increase per display pixel of motion
    float clip_feedback;     // current-weight increase per unit of clip fraction
    float feedback_max;      // cap of the adaptive current weight
};

// The render texel a display pixel's centre lies in: floor((X + 0.5) * w / W), exactly, in integers.
ivec2 taau_render_texel(ivec2 ds_texel, ivec2 rs_size, ivec2 ds_size)
{
    return ((2 * ds_texel + 1) * rs_size) / (2 * ds_size);
}

// The display centre's position inside that render texel, in [0, 1): integer numerator times the host's
// float32 1 / (2W) (one rounding, as in PyTorch).
vec2 taau_texel_fraction(ivec2 ds_texel, ivec2 rs_texel, ivec2 rs_size, ivec2 ds_size, vec2 inv_two_ds_size)
{
    ivec2 num = (2 * ds_texel + 1) * rs_size - 2 * ds_size * rs_texel;
    return vec2(num) * inv_two_ds_size;
}

// Current estimate: the 3x3 render samples around rs_texel at their true positions (texel centre + jitter),
// Gaussian weights of their display-pixel distance to the display centre, relative to the closest one
// (Karis 2014's jitter-aware filter; UE4 TAAU). confidence = the closest sample's absolute weight.
vec3 taau_current(ivec2 rs_texel, vec2 frac_px, vec2 jitter_px, vec2 scale, ivec2 rs_size, float inv_two_sigma_sq,
                  out float confidence)
{
    float d2[9];
    float d2_min = 0.0;
    int k = 0;
    for (int oy = -1; oy <= 1; ++oy) {
        int ky = clamp(rs_texel.y + oy, 0, rs_size.y - 1);
        precise float dy = (((float(ky - rs_texel.y) + 0.5) + jitter_px.y) - frac_px.y) * scale.y;
        for (int ox = -1; ox <= 1; ++ox) {
            int kx = clamp(rs_texel.x + ox, 0, rs_size.x - 1);
            precise float dx = (((float(kx - rs_texel.x) + 0.5) + jitter_px.x) - frac_px.x) * scale.x;
            precise float d2_k = dx * dx + dy * dy;
            d2[k] = d2_k;
            d2_min = (k == 0) ? d2_k : min(d2_min, d2_k);
            ++k;
        }
    }
    vec3 total = vec3(0.0);
    float weight_sum = 0.0;
    k = 0;
    for (int oy = -1; oy <= 1; ++oy) {
        for (int ox = -1; ox <= 1; ++ox) {
            float w = exp(-((d2[k] - d2_min) * inv_two_sigma_sq));
            vec3 term = w * load_color(rs_texel + ivec2(ox, oy));  // load_color clamps like the kx/ky above
            total = (k == 0) ? term : total + term;
            weight_sum = (k == 0) ? w : weight_sum + w;
            ++k;
        }
    }
    confidence = exp(-(d2_min * inv_two_sigma_sq));
    return total / weight_sum;
}

// One display pixel (the new history).
vec3 taau_resolve(ivec2 ds_texel, ivec2 rs_size, ivec2 ds_size, vec2 inv_two_ds_size, vec2 scale, vec2 jitter_px,
                  bool reset, bool has_history_depth, TAAUParams p)
{
    ivec2 rs_texel = taau_render_texel(ds_texel, rs_size, ds_size);
    vec2 frac_px = taau_texel_fraction(ds_texel, rs_texel, rs_size, ds_size, inv_two_ds_size);
    float confidence;
    vec3 current = taau_current(rs_texel, frac_px, jitter_px, scale, rs_size, p.inv_two_sigma_sq, confidence);
    if (reset) {
        return current;
    }
    // Motion dilation and the depth test at render resolution, for texel rs_texel (as the TAA).
    vec2 motion = load_motion(rs_texel);
    float depth_cur = 0.0;
    if (p.dilate_motion) {
        float best = load_depth(rs_texel + ivec2(-1, -1));
        motion = load_motion(rs_texel + ivec2(-1, -1));
        for (int dy = -1; dy <= 1; ++dy) {
            for (int dx = -1; dx <= 1; ++dx) {
                float d = load_depth(rs_texel + ivec2(dx, dy));
                if (d < best) {
                    best = d;
                    motion = load_motion(rs_texel + ivec2(dx, dy));
                }
            }
        }
        depth_cur = best;
    } else if (p.depth_rejection) {
        depth_cur = load_depth(rs_texel);
    }
    bool valid = true;
    if (p.depth_rejection && has_history_depth) {
        precise vec2 rs_prev = (vec2(rs_texel) + 0.5) + motion;
        valid = !(history_depth_far(rs_prev) < depth_cur * p.depth_keep);
    }
    // Reprojection at display resolution: motion in display pixels.
    precise vec2 motion_ds = motion * scale;
    precise vec2 ds_prev = (vec2(ds_texel) + 0.5) + motion_ds;
    valid = valid && ds_prev.x >= 0.0 && ds_prev.x <= float(ds_size.x) && ds_prev.y >= 0.0
            && ds_prev.y <= float(ds_size.y);
    vec3 history = max(sample_history_catmull_rom(ds_prev), 0.0);

    // Rectification from the render-resolution 3x3 of rs_texel: the TAA's shifted-data moments.
    vec3 box_centre = to_box(rgb_to_ycocg(load_color(rs_texel)), p.perceptual_clip);
    vec3 m1 = vec3(0.0);
    vec3 m2 = vec3(0.0);
    for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
            vec3 s = to_box(rgb_to_ycocg(load_color(rs_texel + ivec2(dx, dy))), p.perceptual_clip) - box_centre;
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

    // Adaptive feedback: the confidence scales the current weight; motion and stale history raise it.
    float alpha = p.alpha * confidence;
    if (p.motion_feedback > 0.0) {
        alpha = alpha + p.motion_feedback * sqrt(motion_ds.x * motion_ds.x + motion_ds.y * motion_ds.y);
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
