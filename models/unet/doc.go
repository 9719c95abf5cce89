// Package unet builds the write-up's UNets (unconditional, time-conditioned,
// time- and class-conditioned) as Gorgonia graphs for training, and runs
// them in inference mode.
//
// # Overview
//
// A Config picks the variant and its width D. Specs lists the variant's
// tensors under the PyTorch reference module's state_dict names
// (../shared/reference/torch_unet.py: "c0.0.0.weight", "un.1.running_var",
// "fc1_c.2.bias", ...), Init draws PyTorch's default initialisation from a
// seed, and Weights are saved and loaded as safetensors. Build returns a Net:
// the graph for a fixed batch size in training or inference mode, whose
// parameters an optimiser updates in place through Net.Param. Forward runs
// one inference-mode batch and is what other packages call to compare
// against exported models.
//
// # Architecture
//
// Conv = Conv2d(3, 1, 1) + BatchNorm + GELU; DownConv = Conv2d(3, 2, 1) +
// BN + GELU; UpConv = ConvTranspose2d(4, 2, 1) + BN + GELU; Flatten =
// AvgPool(Size/4) + GELU; Unflatten = ConvTranspose2d(Size/4, Size/4, 0) +
// BN + GELU; FCBlock = Linear + GELU + Linear. e1 = ConvBlock(C -> D),
// e2 = DownBlock(D -> D), e3 = DownBlock(D -> 2D), u = Unflatten(Flatten(e3)),
// then UpBlock(4D -> D) on cat(e3, u), UpBlock(2D -> D) on cat(e2, u),
// ConvBlock(2D -> D) on cat(e1, u) and Conv2d(3, 1, 1) D -> C. The
// time-conditioned UNet multiplies the unflattened map by fc1_t(t) and the
// first up block's output by fc2_t(t); the class-conditioned one computes
// fc1_c(c) * u + fc1_t(t) and fc2_c(c) * up1 + fc2_t(t).
//
// # Invariants
//
//   - Weights passed to Build or Forward hold exactly the tensors Specs
//     lists, with their shapes (Check says what differs).
//   - A Net in training mode normalises with batch statistics and updates
//     the running statistics every time its graph runs (momentum 0.1,
//     unbiased variance); in inference mode it uses the running statistics,
//     so each image's output depends on that image alone.
//   - Graphs of this package must not run concurrently with each other.
package unet
