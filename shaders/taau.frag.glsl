#version 410 core
// TAAU pass entry point (engine_bridge/passes/taau_pass.py): render-size inputs, display-size history and
// output. Provides the accessors common/taau_resolve.glsl reads through (each owns the GL row flip and the
// clamp-to-edge addressing of its own texture size) and writes the resolved colour (the next history).

// Texture units: named binding slots (set by TAAUPass).
uniform sampler2D u_color;          // unit TAAU_UNIT_COLOR = 0: current colour, render size, linear HDR
uniform sampler2D u_motion;         // unit TAAU_UNIT_MOTION = 1: motion_px, render size, render pixels
uniform sampler2D u_history;        // unit TAAU_UNIT_HISTORY = 2: previous output, display size
uniform sampler2D u_depth;          // unit TAAU_UNIT_DEPTH = 3: linear view depth, render size
uniform sampler2D u_history_depth;  // unit TAAU_UNIT_HISTORY_DEPTH = 4: previous frame's depth, render size

uniform vec2 u_render_size_px;      // (w, h)
uniform vec2 u_display_size_px;     // (W, H)
uniform vec2 u_inv_two_display;     // float32 (1 / (2W), 1 / (2H)), host-computed
uniform vec2 u_scale;               // float32 (W / w, H / h), host-computed
uniform vec2 u_jitter_px;           // this frame's jitter, render pixels, contract convention (+y down)
uniform bool u_reset;
uniform bool u_has_history_depth;
uniform float u_alpha;
uniform float u_gamma;
uniform float u_inv_two_sigma_sq;
uniform bool u_dilate_motion;
uniform bool u_depth_rejection;
uniform float u_depth_keep;
uniform bool u_perceptual_clip;
uniform float u_motion_feedback;
uniform float u_clip_feedback;
uniform float u_feedback_max;

layout(location = 0) out vec4 o_color;

// Top-down texel (clamped to the edge of a texture of `size`) -> GL texel (row 0 = bottom).
ivec2 to_gl_texel(ivec2 ss_texel, ivec2 size)
{
    ivec2 c = clamp(ss_texel, ivec2(0), size - 1);
    return ivec2(c.x, size.y - 1 - c.y);
}

ivec2 rs_size() { return ivec2(u_render_size_px); }
ivec2 ds_size() { return ivec2(u_display_size_px); }

vec3 load_color(ivec2 rs) { return max(texelFetch(u_color, to_gl_texel(rs, rs_size()), 0).rgb, 0.0); }
vec2 load_motion(ivec2 rs) { return texelFetch(u_motion, to_gl_texel(rs, rs_size()), 0).xy; }
float load_depth(ivec2 rs) { return texelFetch(u_depth, to_gl_texel(rs, rs_size()), 0).r; }
float load_history_depth(ivec2 rs) { return texelFetch(u_history_depth, to_gl_texel(rs, rs_size()), 0).r; }
vec3 load_history(ivec2 ds) { return texelFetch(u_history, to_gl_texel(ds, ds_size()), 0).rgb; }

#include "common/taau_resolve.glsl"

void main()
{
    ivec2 fc_pixel = ivec2(gl_FragCoord.xy);
    ivec2 ds_texel = ivec2(fc_pixel.x, ds_size().y - 1 - fc_pixel.y);
    TAAUParams p;
    p.alpha = u_alpha;
    p.gamma = u_gamma;
    p.inv_two_sigma_sq = u_inv_two_sigma_sq;
    p.dilate_motion = u_dilate_motion;
    p.depth_rejection = u_depth_rejection;
    p.depth_keep = u_depth_keep;
    p.perceptual_clip = u_perceptual_clip;
    p.motion_feedback = u_motion_feedback;
    p.clip_feedback = u_clip_feedback;
    p.feedback_max = u_feedback_max;
    vec3 resolved = taau_resolve(ds_texel, rs_size(), ds_size(), u_inv_two_display, u_scale, u_jitter_px, u_reset,
                                 u_has_history_depth, p);
    o_color = vec4(resolved, 1.0);
}
