#version 410 core
// Spatial upscaling, the GL twin of qwplugin.ops.resample.upscale (engine_bridge/passes/upscale_passes.py,
// SpatialUpscalePass): out(X, Y) = max(0, sum_ty wy(Y, ty) * sum_tx wx(X, tx) * src(iy(Y, ty), ix(X, tx))).
// The per-axis taps (source index, weight) are the non-zero entries of each row of
// qwplugin.ops.resample.resample_matrix (clamp-to-edge, rows normalised; bilinear 2, bicubic 4, Lanczos-3 6
// taps), computed once on the host and stored in two RG32F tables whose GL row k is output index k (top-down
// for the y table). Deringing, as qwplugin.ops.resample.upscale(dering=True) and
// qwplugin.runtime.upscalers.SpatialUpscale: the result is clamped per channel to the min / max of the 2x2
// source texels around the sample position u = (X + 0.5) * w / W - 0.5 (floor(u) and floor(u) + 1 per axis,
// clamp-to-edge): the anti-ringing clamp of FSR 1's EASU, no halos from bicubic / Lanczos lobes.

uniform sampler2D u_source;     // unit 0: render-size linear HDR colour (GL bottom-up rows)
uniform sampler2D u_taps_x;     // unit 1: (taps, W) RG32F: r = source column, g = weight; row = display column
uniform sampler2D u_taps_y;     // unit 2: (taps, H) RG32F: r = source row (top-down), g = weight; row = display row (top-down)
uniform int u_taps;             // taps per axis
uniform int u_render_height;    // h (source rows)
uniform int u_display_height;   // H
uniform int u_render_width;     // w (source columns)
uniform int u_display_width;    // W

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
    // the deringing footprint: floor(u) and floor(u) + 1 per axis (top-down rows), clamp-to-edge
    float ux = (float(ds_x) + 0.5) * float(u_render_width) / float(u_display_width) - 0.5;
    float uy = (float(ds_y) + 0.5) * float(u_render_height) / float(u_display_height) - 0.5;
    int x0 = clamp(int(floor(ux)), 0, u_render_width - 1), x1 = clamp(int(floor(ux)) + 1, 0, u_render_width - 1);
    int y0 = clamp(int(floor(uy)), 0, u_render_height - 1), y1 = clamp(int(floor(uy)) + 1, 0, u_render_height - 1);
    int r0 = u_render_height - 1 - y0, r1 = u_render_height - 1 - y1;  // GL bottom-up rows
    vec3 a = texelFetch(u_source, ivec2(x0, r0), 0).rgb, b = texelFetch(u_source, ivec2(x1, r0), 0).rgb;
    vec3 c = texelFetch(u_source, ivec2(x0, r1), 0).rgb, d = texelFetch(u_source, ivec2(x1, r1), 0).rgb;
    vec3 lo = min(min(a, b), min(c, d)), hi = max(max(a, b), max(c, d));
    o_color = vec4(clamp(total, lo, hi), 1.0);
}
