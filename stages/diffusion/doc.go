// Package diffusion holds the stage kinds that run a noise-predicting
// diffusion model: one-step and iterative denoising (denoise.onestep,
// denoise.iterative), sampling with or without classifier-free guidance
// (sample), SDEdit, also text-conditional (sdedit), inpainting, visual
// anagrams, hybrid images and upscaling (upscale, which also runs a
// super-resolution model such as DeepFloyd IF stage II); model.load, which
// reads a model directory made elsewhere (DeepFloyd IF); and check.classify,
// which scores generated images with an independent classifier.
//
// # Overview
//
// Every kind takes its model from a "model" input (a model directory with a
// model.json, or a training output; parameter epoch picks the epoch, 0 = the
// last) and runs it through ONNX Runtime (package modelfile). The numeric
// work is package ddpm: these kinds only translate parameters and artifacts
// into its calls. One reverse step makes one batched model call: the
// conditional and unconditional halves of classifier-free guidance and all
// views of an anagram share it.
//
// Timesteps: parameter stride (default 30) gives the strided list 990, 960,
// ..., 0 of a 1000-step model, and i_start indexes it (i_start 10 is
// t = 690). Kind sample also takes steps: n > 0 timesteps k * (T / n),
// k = n-1 .. 0 (20 steps: 950, 900, ..., 0), overriding stride.
//
// Prompts are looked up in the model's prompt table (onehot models, such as
// train.ddpm's) or its embeddings file (DeepFloyd IF); "" is the
// unconditional prompt. Stages that generate images write "samples" (in the
// model's value range, clamped to it) and "labels": the class of each
// image's prompt in the model's prompt table, -1 for "" and for models
// without a class table.
//
// # Invariants
//
//   - Input images in another value range than the model's are mapped
//     linearly into it; their size must equal the model's (a
//     super-resolution model's low_res for upscale).
//   - Only upscale runs a super-resolution model (low_res in model.json);
//     the other kinds refuse it.
//   - The same parameters and seed give the same outputs: all noise comes
//     from seeded generators (ddpm.NewRand).
//   - Sampling never clips intermediate values (ddpm.Sample) unless
//     parameter x0 asks for clipping or dynamic thresholding of each step's
//     x0 estimate (DeepFloyd IF's own sampler thresholds); the final images
//     are clamped to the value range.
package diffusion
