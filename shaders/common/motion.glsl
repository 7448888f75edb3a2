// Motion vectors in the project's input contract: render pixels, from the current pixel to where the
// same surface point was in the previous frame (previous = current + motion), jitter removed,
// +x right, +y down (top-down image axes).
//
// GL NDC has +y up, so the y difference changes sign (the FSR2 sample's (prev - cur) * (0.5, -0.5),
// scaled to pixels; see shared/reference/renderers.md section 3).
vec2 motion_px_from_ndc(vec2 ndc_current, vec2 ndc_previous, vec2 render_size_px)
{
    return (ndc_previous - ndc_current) * vec2(0.5, -0.5) * render_size_px;
}

// cs_current / cs_previous: UNJITTERED clip-space positions of the same surface point in the current
// and previous frame (previous model matrix AND previous view-projection, so object motion is covered).
vec2 motion_px_from_clip(vec4 cs_current, vec4 cs_previous, vec2 render_size_px)
{
    return motion_px_from_ndc(cs_current.xy / cs_current.w, cs_previous.xy / cs_previous.w, render_size_px);
}

// Motion of a direction at infinity (background / sky), under camera rotation and projection change only.
// ndc_current: UNJITTERED NDC of the point the pixel samples. sky_reprojection: 3x3 homography taking
// (ndc_current, 1) to the previous frame's clip (x, y, w) of the same view direction, translation ignored
// (built on the CPU: rows/columns x, y, w of P_prev R_prev R_cur^-1 P_cur^-1 at NDC z = 0; see
// engine_bridge/raster/sky.py). A direction behind the previous camera (w <= 0, a > 90 degree turn in one
// frame: a cut) has no previous position on screen and gets motion 0.
vec2 sky_motion_px(vec2 ndc_current, mat3 sky_reprojection, vec2 render_size_px)
{
    vec3 cs_previous = sky_reprojection * vec3(ndc_current, 1.0);
    if (cs_previous.z <= 0.0)
        return vec2(0.0);
    return motion_px_from_ndc(ndc_current, cs_previous.xy / cs_previous.z, render_size_px);
}
