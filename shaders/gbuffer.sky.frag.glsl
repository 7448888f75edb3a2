#version 410 core
// G-buffer background pass (drawn with fullscreen.vert.glsl after the clear, before the scene, with
// depth test off and only the motion attachment (location 1) writable): every pixel gets the motion of
// the view direction through its sample point, at infinity (camera rotation / projection change only,
// translation ignored). Geometry drawn afterwards overwrites it, so only background pixels keep it.

#include "common/motion.glsl"

uniform mat3 u_sky_reprojection;   // (ndc_current, 1) -> previous clip (x, y, w), see common/motion.glsl
uniform vec2 u_jitter_ndc;         // this frame's jitter as an NDC translation (as in gbuffer.vert.glsl)
uniform vec2 u_render_size_px;

layout(location = 0) out vec4 o_color;      // masked off by the caller
layout(location = 1) out vec2 o_motion_px;
layout(location = 2) out float o_depth_view; // masked off by the caller

void main()
{
    // gl_FragCoord.xy is the pixel centre in window coordinates (origin bottom-left): the jittered NDC of
    // the sample. The rasterised image is the unjittered one translated by u_jitter_ndc, so the direction
    // seen there has unjittered NDC = window NDC - u_jitter_ndc (the same point geometry's motion uses).
    vec2 ndc_current = gl_FragCoord.xy / u_render_size_px * 2.0 - 1.0 - u_jitter_ndc;
    o_color = vec4(0.0);
    o_motion_px = sky_motion_px(ndc_current, u_sky_reprojection, u_render_size_px);
    o_depth_view = 0.0;
}
