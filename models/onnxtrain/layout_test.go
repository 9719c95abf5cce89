package onnxtrain

import (
	"slices"
	"strings"
	"testing"

	"difflab/models/unet"
)

// TestLayoutPacksAndUnpacks packs every tensor of a UNet into the two flat
// vectors and back, and refuses a tensor of the wrong size.
func TestLayoutPacksAndUnpacks(t *testing.T) {
	specs, err := unet.Specs(unet.Config{Cond: unet.TimeClass, Hidden: 4, Channels: 1, Classes: 10, Size: 28})
	if err != nil {
		t.Fatal(err)
	}
	l := NewLayout(specs)
	values := map[string][]float32{}
	next := float32(0)
	learned, buffers := 0, 0
	for _, s := range specs {
		v := make([]float32, count(s.Shape))
		for i := range v {
			next++
			v[i] = next
		}
		values[s.Name] = v
		if s.Role.Learned() {
			learned += len(v)
		} else {
			buffers += len(v)
		}
	}
	if l.Params != learned || l.Buffers != buffers {
		t.Fatalf("layout lengths %d and %d, want %d and %d", l.Params, l.Buffers, learned, buffers)
	}
	get := func(name string) []float32 { return values[name] }
	for _, isLearned := range []bool{true, false} {
		flat, err := l.Pack(isLearned, get)
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		l.Unpack(isLearned, flat, func(name string, v []float32) {
			seen++
			if !slices.Equal(v, values[name]) {
				t.Errorf("%s: unpacked %v..., packed %v...", name, v[:1], values[name][:1])
			}
		})
		want := 0
		for _, s := range specs {
			if s.Role.Learned() == isLearned {
				want++
			}
		}
		if seen != want {
			t.Errorf("learned=%v: unpacked %d tensors, want %d", isLearned, seen, want)
		}
	}
	short := specs[0].Name
	values[short] = values[short][1:]
	if _, err := l.Pack(true, get); err == nil || !strings.Contains(err.Error(), short) {
		t.Fatalf("packing a tensor one value short: got %v, want an error naming %s", err, short)
	}
}
