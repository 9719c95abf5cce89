// Package train trains the write-up's UNets (package unet) with Gorgonia
// or through ONNX Runtime.
//
// # Overview
//
// Train runs mini-batch gradient descent on an in-memory Dataset. Each step
// takes a batch of clean images, lets a Task turn them into model inputs and
// a regression target (a denoiser's noisy image and clean target, flow
// matching's interpolant and velocity, DDPM's noised image and noise), and
// minimises the mean squared error between the UNet's output and the target
// with Adam (PyTorch's defaults: betas 0.9 and 0.999, eps 1e-8). The
// learning rate is constant or decays exponentially per epoch
// (gamma = 0.1^(1/epochs), as torch.optim.lr_scheduler.ExponentialLR);
// optionally the gradients are clipped to a global norm first.
//
// # Engines
//
// Options.Engine picks what computes the steps. Gorgonia (the default)
// builds the UNet as a Gorgonia graph with difflab's ops and runs on the
// CPU; it is the reference. ONNXRuntime runs each step as one ONNX graph
// (package onnxtrain: forward, loss, backward, clipping and Adam) through
// ONNX Runtime on Options.Device, the CPU or a GPU through the WebGPU
// provider, carrying weights, running statistics and Adam moments from one
// step's outputs to the next step's inputs. Both engines draw the same
// batches (the Task fills them in Go) and write the same Checkpoint, so a
// run stopped with one engine resumes with the other. They agree to float
// rounding, not bit for bit: losses within 1e-5 relative and weights
// within 1e-4 after several steps, except the biases of the convolutions
// that BatchNorm follows, whose gradient is zero and whose Adam steps are
// driven by rounding noise in any engine (they leave the loss unchanged).
//
// # Invariants
//
//   - Batches are drawn without replacement from a per-epoch permutation;
//     an incomplete last batch is dropped (a fresh permutation each epoch
//     uses those images later).
//   - Every random number of epoch e comes from a generator seeded by
//     (Options.Seed, e), so training is deterministic for a seed, engine
//     and device on one machine, and resuming from the Checkpoint of epoch e gives the same
//     weights, optimiser state and losses as a run that never stopped.
//   - After every epoch the Hooks.Epoch callback receives a Checkpoint that
//     holds everything needed to resume (weights with BatchNorm running
//     statistics, Adam moments and step count, the losses so far).
package train
