// Package ddpm is the numeric core of DDPM sampling with a noise-predicting
// (epsilon) model: the forward process, the one-step clean-image estimate,
// the strided reverse update with its variance, and the noise-estimate
// wrappers built on them (classifier-free guidance, visual anagrams, hybrid
// images, inpainting). Everything here is a pure function of its arguments;
// models are reached only through an Estimator callback, so the package knows
// nothing about ONNX, stages or files.
//
// # Overview
//
// A Schedule holds abar_t (alphas_cumprod) for t = 0..T-1. Images are flat
// float32 slices in N x C x H x W order, described by a Shape.
//
//	forward:   x_t  = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
//	estimate:  x0   = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)
//	update:    x_t' = sqrt(abar_t') beta_t / (1 - abar_t) x0
//	                + sqrt(alpha_t) (1 - abar_t') / (1 - abar_t) x_t + v_sigma
//	           alpha_t = abar_t / abar_t', beta_t = 1 - alpha_t, no clipping of x0
//	variance:  beta_tilde = (1 - abar_t') / (1 - abar_t) beta_t (posterior), or
//	           learned range: frac = (v + 1) / 2,
//	           log var = frac log beta_t + (1 - frac) log beta_tilde
//	           v_sigma = sqrt(var) z, z ~ N(0, I)
//	CFG:       eps = eps_u + gamma (eps_c - eps_u); the variance is the conditional one
//	anagram:   eps = (eps(x, p1) + view^-1(eps(view(x), p2))) / 2
//	hybrid:    eps = lowpass(eps1) + (eps2 - lowpass(eps2))
//	inpaint:   after every step x_t' <- m x_t' + (1 - m) forward(x_orig, t')
//
// Timesteps: StridedTimesteps(1000, 30) is 990, 960, ..., 0 (34 entries);
// an i_start indexes into such a list (i_start 10 is t = 690).
// TimestepsForSteps(1000, n) is n timesteps k * (1000 / n), k = n-1 .. 0
// ("leading" spacing: 20 steps give 950, 900, ..., 0).
//
// # Invariants
//
//   - Forward followed by X0Estimate with the same eps returns x0 (up to
//     float32 rounding).
//   - Sample with an oracle estimator (the exact eps of a single known x0)
//     ends at x0: for a point-mass data distribution the x0 estimate is exact
//     at every step, and the last update (to t' = 0) lands within
//     sqrt(1 - abar_0) of it.
//   - Every View's Inverse undoes Apply exactly (they are permutations or
//     sign changes).
//   - Lowpass plus highpass of the same signal is the signal.
//   - With Inpaint, the unmasked region after each step is exactly the
//     forward-noised original at the new timestep.
//
// Programmer mistakes (mismatched lengths, timesteps out of range) panic
// with a "ddpm:" prefix; estimator errors are returned.
package ddpm
