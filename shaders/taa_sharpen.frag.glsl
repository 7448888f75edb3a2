#version 410 core
// Output-only sharpening after the TAA resolve (engine_bridge/passes/taa_pass.py): an unsharp mask with the
// 4-neighbour cross in the luma-tonemapped domain, clamped to the cross's min and max (no ringing). The same
// operations as qwplugin.taa.taa_sharpen. Reads the resolved history; never writes it.

uniform sampler2D u_resolved;   // unit 0: the TAA history just written (linear HDR)
uniform vec2 u_size_px;         // render size (W, H)
uniform float u_strength;       // > 0

layout(location = 0) out vec4 o_color;

#include "common/taa_filters.glsl"

vec3 load_t(ivec2 ss_texel)
{
    ivec2 size = ivec2(u_size_px);
    ivec2 c = clamp(ss_texel, ivec2(0), size - 1);
    return luma_tonemap_rgb(texelFetch(u_resolved, ivec2(c.x, size.y - 1 - c.y), 0).rgb);
}

void main()
{
    ivec2 fc_pixel = ivec2(gl_FragCoord.xy);
    ivec2 ss = ivec2(fc_pixel.x, int(u_size_px.y) - 1 - fc_pixel.y);
    vec3 t = load_t(ss);
    vec3 up = load_t(ss + ivec2(0, -1));
    vec3 down = load_t(ss + ivec2(0, 1));
    vec3 left = load_t(ss + ivec2(-1, 0));
    vec3 right = load_t(ss + ivec2(1, 0));
    vec3 cross_mean = (((up + down) + left) + right) * 0.25;
    vec3 lo = min(min(min(up, down), min(left, right)), t);
    vec3 hi = max(max(max(up, down), max(left, right)), t);
    vec3 sharpened = min(max(t + u_strength * (t - cross_mean), lo), hi);
    o_color = vec4(max(luma_untonemap_rgb(sharpened), 0.0), 1.0);
}
