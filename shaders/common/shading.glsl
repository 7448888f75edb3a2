// Blinn-Phong shading with a directional light plus ambient, linear HDR (values above 1 allowed).
//
// Specular lobe: energy-normalised Blinn-Phong, (shininess + 8) / (8 pi) * (n.h)^shininess * (n.l)
// (the normalisation factor of Akenine-Moeller, Haines, Hoffman, "Real-Time Rendering", normalized
// Blinn-Phong); the 1/pi of the BRDF cancels against the pi of a light given as irradiance, as for the
// Lambert term, so diffuse = albedo * light * (n.l).
// Shininess from roughness as in the scene model: shininess = 2 / roughness^4 - 2 (Walter's
// Beckmann-to-Phong mapping), clamped to [1, MAX_SHININESS].

const float MAX_SHININESS = 4096.0;

float shininess_from_roughness(float roughness)
{
    float r = max(roughness, 1e-3);
    return clamp(2.0 / (r * r * r * r) - 2.0, 1.0, MAX_SHININESS);
}

vec3 shade_blinn_phong(vec3 ws_normal, vec3 ws_to_light, vec3 ws_to_eye, vec3 albedo, float specular,
                       float roughness, vec3 light_radiance, vec3 ambient)
{
    float n_dot_l = max(dot(ws_normal, ws_to_light), 0.0);
    vec3 diffuse = albedo * (ambient + light_radiance * n_dot_l);
    vec3 ws_half = normalize(ws_to_light + ws_to_eye);
    float shininess = shininess_from_roughness(roughness);
    float n_dot_h = max(dot(ws_normal, ws_half), 0.0);
    float lobe = (shininess + 8.0) / 8.0 * pow(n_dot_h, shininess) * n_dot_l;
    return diffuse + specular * lobe * light_radiance;
}
