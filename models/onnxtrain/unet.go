package onnxtrain

import "difflab/models/unet"

// stepBuilder writes the training-mode forward pass of a UNet onto a tape,
// mirroring package unet's graph layer by layer.
type stepBuilder struct {
	tp    *tape
	cfg   unet.Config
	batch int
	// stats holds each BatchNorm's batch statistics by the name of the
	// running statistic they update, momentum the factor of the update's
	// new term (the unbiased variance's m/(m-1) included).
	stats    map[string]string
	momentum map[string]float64
}

// bnGELU adds BatchNorm prefix followed by GELU.
func (b *stepBuilder) bnGELU(prefix, x string) string {
	y, s := b.tp.batchNormGELU(x, prefix+".weight", prefix+".bias")
	b.stats[prefix+".running_mean"], b.momentum[prefix+".running_mean"] = s.mean, bnMomentum
	b.stats[prefix+".running_var"], b.momentum[prefix+".running_var"] = s.variance, bnMomentum*float64(s.m)/float64(s.m-1)
	return y
}

// conv adds Conv2d(3, stride, 1) + BatchNorm + GELU under prefix.
func (b *stepBuilder) conv(prefix, x string, stride int) string {
	return b.bnGELU(prefix+".1", b.tp.conv(x, prefix+".0.weight", prefix+".0.bias", stride, 1))
}

// convT adds ConvTranspose2d + BatchNorm + GELU under prefix.
func (b *stepBuilder) convT(prefix, x string, stride, pad int) string {
	return b.bnGELU(prefix+".1", b.tp.convT(x, prefix+".0.weight", prefix+".0.bias", stride, pad))
}

func (b *stepBuilder) convBlock(prefix, x string) string {
	return b.conv(prefix+".1", b.conv(prefix+".0", x, 1), 1)
}

func (b *stepBuilder) downBlock(prefix, x string) string {
	return b.convBlock(prefix+".1", b.conv(prefix+".0", x, 2))
}

func (b *stepBuilder) upBlock(prefix, x string) string {
	return b.convBlock(prefix+".1", b.convT(prefix+".0", x, 2, 1))
}

// fc adds an FCBlock (Linear, GELU, Linear) on x (batch, in) and returns
// its output as (batch, out, 1, 1) for broadcasting over maps.
func (b *stepBuilder) fc(prefix, x string) string {
	y := b.tp.linear(x, prefix+".0.weight", prefix+".0.bias")
	y = b.tp.linear(b.tp.gelu(y), prefix+".2.weight", prefix+".2.bias")
	return b.tp.reshape(y, b.batch, b.tp.shapes[y][1], 1, 1)
}

// modulate applies the write-up's conditioning: x*c + t (class), x*t (time
// only), or nothing.
func (b *stepBuilder) modulate(x, t, c string) string {
	switch {
	case c != "":
		return b.tp.add(b.tp.mul(x, c), t)
	case t != "":
		return b.tp.mul(x, t)
	}
	return x
}

// unet adds the forward pass on inputs x, t and c (t and c empty where the
// variant lacks them) and returns the prediction.
func (b *stepBuilder) unet(x, t, c string) string {
	S := b.cfg.Size
	e1 := b.convBlock("c0", x)
	e2 := b.downBlock("d1", e1)
	e3 := b.downBlock("d2", e2)
	f := b.tp.gelu(b.tp.globalAvgPool(e3))
	u := b.convT("un", f, S/4, 0)
	var t1, t2, c1, c2 string
	if t != "" {
		t1, t2 = b.fc("fc1_t", t), b.fc("fc2_t", t)
	}
	if c != "" {
		c1, c2 = b.fc("fc1_c", c), b.fc("fc2_c", c)
	}
	u = b.modulate(u, t1, c1)
	u = b.upBlock("u1", b.tp.concat(e3, u))
	u = b.modulate(u, t2, c2)
	u = b.upBlock("u2", b.tp.concat(e2, u))
	u = b.convBlock("c1", b.tp.concat(e1, u))
	return b.tp.conv(u, "out.weight", "out.bias", 1, 1)
}
