#version 410 core
// TAA pass entry point (engine_bridge/passes/taa_pass.py): binds the inputs, provides the accessors that
// common/taa_resolve.glsl reads through, writes the resolved colour (also the next frame's history).

// Texture units: named binding slots (set by TAAPass).
uniform sampler2D u_color;     // unit TAA_UNIT_COLOR = 0: current colour, linear HDR (RGBA16F)
uniform sampler2D u_motion;    // unit TAA_UNIT_MOTION = 1: motion_px (RG16F), contract convention
uniform sampler2D u_history;   // unit TAA_UNIT_HISTORY = 2: previous output (RGBA16F or RGBA32F)

uniform vec2 u_size_px;        // render size (W, H) in pixels
uniform vec2 u_jitter_px;      // this frame's jitter, contract convention (+y down)
uniform bool u_reset;          // no valid history: output the current frame
uniform float u_alpha;         // current-frame feedback weight
uniform float u_gamma;         // variance-clip box half-size in standard deviations
uniform bool u_unjitter;       // re-sample the current frame at centre - jitter

layout(location = 0) out vec4 o_color;

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

#include "common/taa_resolve.glsl"

void main()
{
    ivec2 fc_pixel = ivec2(gl_FragCoord.xy);
    ivec2 ss_texel = ivec2(fc_pixel.x, int(u_size_px.y) - 1 - fc_pixel.y);
    o_color = vec4(taa_resolve(ss_texel, u_size_px, u_jitter_px, u_reset, u_alpha, u_gamma, u_unjitter), 1.0);
}
