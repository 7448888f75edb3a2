// Motion vectors in the project's input contract: render pixels, from the current pixel to where the
// same surface point was in the previous frame (previous = current + motion), jitter removed,
// +x right, +y down (top-down image axes).
//
// cs_current / cs_previous: UNJITTERED clip-space positions of the same surface point in the current
// and previous frame (previous model matrix AND previous view-projection, so object motion is covered).
// GL NDC has +y up, so the y difference changes sign (the FSR2 sample's (prev - cur) * (0.5, -0.5),
// scaled to pixels; see shared/reference/renderers.md section 3).
vec2 motion_px_from_clip(vec4 cs_current, vec4 cs_previous, vec2 render_size_px)
{
    vec2 ndc_current = cs_current.xy / cs_current.w;
    vec2 ndc_previous = cs_previous.xy / cs_previous.w;
    return (ndc_previous - ndc_current) * vec2(0.5, -0.5) * render_size_px;
}
