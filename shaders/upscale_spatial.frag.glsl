#version 410 core
// Spatial upscaling, the GL twin of qwplugin.ops.resample.upscale (engine_bridge/passes/upscale_passes.py,
// SpatialUpscalePass): out(X, Y) = max(0, sum_ty wy(Y, ty) * sum_tx wx(X, tx) * src(iy(Y, ty), ix(X, tx))).
// The per-axis taps (source index, weight) are the non-zero entries of each row of
// qwplugin.ops.resample.resample_matrix (clamp-to-edge, rows normalised; bilinear 2, bicubic 4, Lanczos-3 6
// taps), computed once on the host and stored in two RG32F tables whose GL row k is output index k (top-down
// for the y table). The max(0) drops the negative lobes of bicubic / Lanczos, as
// qwplugin.runtime.upscalers.SpatialUpscale does.

uniform sampler2D u_source;     // unit 0: render-size linear HDR colour (GL bottom-up rows)
uniform sampler2D u_taps_x;     // unit 1: (taps, W) RG32F: r = source column, g = weight; row = display column
uniform sampler2D u_taps_y;     // unit 2: (taps, H) RG32F: r = source row (top-down), g = weight; row = display row (top-down)
uniform int u_taps;             // taps per axis
uniform int u_render_height;    // h (source rows)
uniform int u_display_height;   // H

layout(location = 0) out vec4 o_color;

void main()
{
    ivec2 fc_pixel = ivec2(gl_FragCoord.xy);
    int ds_x = fc_pixel.x;
    int ds_y = u_display_height - 1 - fc_pixel.y;  // top-down display row
    vec3 total = vec3(0.0);
    for (int ty = 0; ty < u_taps; ++ty) {
        vec2 tap_y = texelFetch(u_taps_y, ivec2(ty, ds_y), 0).rg;
        int fc_row = u_render_height - 1 - int(tap_y.r);  // the source row in GL's bottom-up order
        vec3 row = vec3(0.0);
        for (int tx = 0; tx < u_taps; ++tx) {
            vec2 tap_x = texelFetch(u_taps_x, ivec2(tx, ds_x), 0).rg;
            row += tap_x.g * texelFetch(u_source, ivec2(int(tap_x.r), fc_row), 0).rgb;
        }
        total += tap_y.g * row;
    }
    o_color = vec4(max(total, vec3(0.0)), 1.0);
}
