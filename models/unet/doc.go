// Package unet builds the write-up's UNets (unconditional, time-conditioned,
// time- and class-conditioned) as Gorgonia graphs for training.
package unet
