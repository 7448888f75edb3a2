#version 410 core
// One triangle covering the viewport, positions from gl_VertexID (draw 3 vertices, no attributes).
// ss_uv: screen-space texture coordinates in [0, 1] over the viewport, origin bottom-left (GL).

out vec2 ss_uv;

void main()
{
    vec2 ndc = vec2((gl_VertexID == 1) ? 3.0 : -1.0, (gl_VertexID == 2) ? 3.0 : -1.0);
    ss_uv = ndc * 0.5 + 0.5;
    gl_Position = vec4(ndc, 0.0, 1.0);
}
