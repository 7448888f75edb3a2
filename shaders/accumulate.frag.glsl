#version 410 core
// Adds one rendered sample image into the float32 accumulator (the caller enables GL_ONE, GL_ONE blending).

uniform sampler2D u_sample;   // RGBA32F colour of one supersampling sample

layout(location = 0) out vec4 o_sum;

void main()
{
    o_sum = texelFetch(u_sample, ivec2(gl_FragCoord.xy), 0);
}
