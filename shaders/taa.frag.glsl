#version 410 core
// TAA pass entry point (engine_bridge/passes/taa_pass.py): binds the inputs, provides the accessors that
// common/taa_resolve.glsl reads through, writes the resolved colour (the next frame's history) and a copy of
// this frame's depth (the next frame's history depth).

// Texture units: named binding slots (set by TAAPass).
uniform sampler2D u_color;          // unit TAA_UNIT_COLOR = 0: current colour, linear HDR (RGBA16F)
uniform sampler2D u_motion;         // unit TAA_UNIT_MOTION = 1: motion_px (RG16F), contract convention
uniform sampler2D u_history;        // unit TAA_UNIT_HISTORY = 2: previous output (RGBA16F or RGBA32F)
uniform sampler2D u_depth;          // unit TAA_UNIT_DEPTH = 3: linear view depth (R32F), depth options only
uniform sampler2D u_history_depth;  // unit TAA_UNIT_HISTORY_DEPTH = 4: previous frame's depth (R32F)

uniform vec2 u_size_px;             // render size (W, H) in pixels
uniform vec2 u_jitter_px;           // this frame's jitter, contract convention (+y down)
uniform bool u_reset;               // no valid history: output the current estimate
uniform bool u_has_history_depth;   // the history depth texture holds the previous frame's depth
uniform bool u_write_depth;         // the depth input is bound: copy it to output 1
uniform float u_alpha;
uniform float u_gamma;
uniform bool u_unjitter;
uniform int u_filter_mode;
uniform float u_recon_weights[9];
uniform bool u_dilate_motion;
uniform bool u_depth_rejection;
uniform float u_depth_keep;
uniform bool u_perceptual_clip;
uniform float u_motion_feedback;
uniform float u_clip_feedback;
uniform float u_feedback_max;

layout(location = 0) out vec4 o_color;
layout(location = 1) out vec4 o_depth;

// Top-down texel (row 0 = top, clamped to the edge) -> GL texel (row 0 = bottom).
ivec2 to_gl_texel(ivec2 ss_texel)
{
    ivec2 size = ivec2(u_size_px);
    ivec2 c = clamp(ss_texel, ivec2(0), size - 1);
    return ivec2(c.x, size.y - 1 - c.y);
}

vec3 load_color(ivec2 ss_texel) { return max(texelFetch(u_color, to_gl_texel(ss_texel), 0).rgb, 0.0); }
vec2 load_motion(ivec2 ss_texel) { return texelFetch(u_motion, to_gl_texel(ss_texel), 0).xy; }
vec3 load_history(ivec2 ss_texel) { return texelFetch(u_history, to_gl_texel(ss_texel), 0).rgb; }
float load_depth(ivec2 ss_texel) { return texelFetch(u_depth, to_gl_texel(ss_texel), 0).r; }
float load_history_depth(ivec2 ss_texel) { return texelFetch(u_history_depth, to_gl_texel(ss_texel), 0).r; }

#include "common/taa_resolve.glsl"

void main()
{
    ivec2 fc_pixel = ivec2(gl_FragCoord.xy);
    ivec2 ss_texel = ivec2(fc_pixel.x, int(u_size_px.y) - 1 - fc_pixel.y);
    TAAParams p;
    p.alpha = u_alpha;
    p.gamma = u_gamma;
    p.unjitter = u_unjitter;
    p.filter_mode = u_filter_mode;
    for (int k = 0; k < 9; ++k) {
        p.recon_weights[k] = u_recon_weights[k];
    }
    p.dilate_motion = u_dilate_motion;
    p.depth_rejection = u_depth_rejection;
    p.depth_keep = u_depth_keep;
    p.perceptual_clip = u_perceptual_clip;
    p.motion_feedback = u_motion_feedback;
    p.clip_feedback = u_clip_feedback;
    p.feedback_max = u_feedback_max;
    o_color = vec4(taa_resolve(ss_texel, u_size_px, u_jitter_px, u_reset, u_has_history_depth, p), 1.0);
    o_depth = vec4(u_write_depth ? load_depth(ss_texel) : 0.0, 0.0, 0.0, 1.0);
}
