// Package all links every stage kind into a binary. Each family of kinds adds
// one file here with a blank import of its package.
package all
