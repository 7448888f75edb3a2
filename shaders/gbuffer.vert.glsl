#version 410 core
// G-buffer vertex stage: jittered rasterisation position plus unjittered current/previous clip positions
// for the motion vectors, world-space position/normal for shading, linear view depth.

layout(location = 0) in vec3 os_position;
layout(location = 1) in vec3 os_normal;
layout(location = 2) in vec2 a_uv;

uniform mat4 u_model;             // object -> world, current frame
uniform mat4 u_prev_model;        // object -> world, previous frame
uniform mat4 u_view;              // world -> view, current frame
uniform mat4 u_view_proj;         // world -> clip, current frame, UNJITTERED
uniform mat4 u_prev_view_proj;    // world -> clip, previous frame, UNJITTERED
uniform mat3 u_normal_matrix;     // inverse-transpose of u_model's 3x3
uniform vec2 u_jitter_ndc;        // NDC offset added to the rasterised position (see docs/engine.md)

out vec3 ws_position;
out vec3 ws_normal;
out vec2 v_uv;
out vec4 cs_current;
out vec4 cs_previous;
out float vs_depth;

void main()
{
    vec4 ws = u_model * vec4(os_position, 1.0);
    ws_position = ws.xyz;
    ws_normal = u_normal_matrix * os_normal;
    v_uv = a_uv;
    cs_current = u_view_proj * ws;
    cs_previous = u_prev_view_proj * (u_prev_model * vec4(os_position, 1.0));
    vs_depth = -(u_view * ws).z;
    // Jitter = a translation of the image in NDC: P' = T(jitter_ndc) * P, i.e. clip.xy += jitter_ndc * clip.w.
    gl_Position = cs_current + vec4(u_jitter_ndc * cs_current.w, 0.0, 0.0);
}
