#version 410 core
// G-buffer fragment stage: linear HDR colour (location 0), motion vectors in render pixels (location 1),
// linear view depth (location 2).

#include "common/motion.glsl"
#include "common/shading.glsl"

in vec3 ws_position;
in vec3 ws_normal;
in vec2 v_uv;
in vec4 cs_current;
in vec4 cs_previous;
in float vs_depth;

uniform vec3 u_base_color;        // linear
uniform bool u_has_texture;
uniform sampler2D u_base_color_tex;   // sRGB-decoded by the texture format (GL_SRGB8_ALPHA8)
uniform vec2 u_uv_scale;
uniform float u_mip_bias;         // added to the hardware LOD (negative = sharper)
uniform float u_specular;
uniform float u_roughness;
uniform vec3 u_emissive;          // linear HDR, unlit
uniform float u_alpha_cutoff;     // < 0: no alpha test
uniform bool u_double_sided;
uniform vec3 u_light_direction;   // world space, direction the light travels, unit length
uniform vec3 u_light_radiance;    // color * intensity
uniform vec3 u_ambient;
uniform vec3 u_camera_position;   // world space
uniform vec2 u_render_size_px;

layout(location = 0) out vec4 o_color;
layout(location = 1) out vec2 o_motion_px;
layout(location = 2) out float o_depth_view;

void main()
{
    vec4 albedo = vec4(u_base_color, 1.0);
    if (u_has_texture)
        albedo *= texture(u_base_color_tex, v_uv * u_uv_scale, u_mip_bias);
    if (u_alpha_cutoff >= 0.0 && albedo.a < u_alpha_cutoff)
        discard;

    vec3 n = normalize(ws_normal);
    if (u_double_sided && !gl_FrontFacing)
        n = -n;
    vec3 to_eye = normalize(u_camera_position - ws_position);
    vec3 color = shade_blinn_phong(n, -u_light_direction, to_eye, albedo.rgb, u_specular, u_roughness,
                                   u_light_radiance, u_ambient) + u_emissive;

    o_color = vec4(color, 1.0);
    o_motion_px = motion_px_from_clip(cs_current, cs_previous, u_render_size_px);
    o_depth_view = vs_depth;
}
