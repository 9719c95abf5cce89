package ops

// SetPureGo makes a native build run its pure-Go kernels (true) or its
// native ones (false); tests of other packages compare the two with it.
func SetPureGo(b bool) { pureGo = b }
