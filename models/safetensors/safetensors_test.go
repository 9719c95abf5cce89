package safetensors

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"difflab/models/tensor"
)

func TestEncodeExactBytes(t *testing.T) {
	b, err := Encode(map[string]*tensor.Tensor{"a": {Shape: []int{2}, Data: []float32{1, -2}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	header := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	header += strings.Repeat(" ", (8-len(header)%8)%8)
	want := make([]byte, 8)
	binary.LittleEndian.PutUint64(want, uint64(len(header)))
	want = append(want, header...)
	want = append(want, 0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0) // 1.0 and -2.0 little-endian
	if !bytes.Equal(b, want) {
		t.Fatalf("got\n%q\nwant\n%q", b, want)
	}
}

func TestRoundTrip(t *testing.T) {
	in := map[string]*tensor.Tensor{
		"c0.0.0.weight": {Shape: []int{2, 1, 1, 2}, Data: []float32{1, 2, 3, 4}},
		"out.bias":      {Shape: []int{1}, Data: []float32{0.5}},
		"scalar":        {Shape: []int{}, Data: []float32{7}},
	}
	b, err := Encode(in, map[string]string{"epoch": "3"})
	if err != nil {
		t.Fatal(err)
	}
	out, meta, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if meta["epoch"] != "3" {
		t.Errorf("metadata %v", meta)
	}
	if len(out) != len(in) {
		t.Fatalf("%d tensors, want %d", len(out), len(in))
	}
	for n, w := range in {
		g := out[n]
		if g == nil || len(g.Shape) != len(w.Shape) || len(g.Data) != len(w.Data) {
			t.Fatalf("%s: got %+v want %+v", n, g, w)
		}
		for i := range w.Data {
			if g.Data[i] != w.Data[i] {
				t.Fatalf("%s[%d] = %v want %v", n, i, g.Data[i], w.Data[i])
			}
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	good, _ := Encode(map[string]*tensor.Tensor{"a": {Shape: []int{2}, Data: []float32{1, 2}}}, nil)
	cases := map[string][]byte{
		"truncated":   good[:4],
		"short data":  good[:len(good)-1],
		"huge header": append([]byte{0xff, 0xff, 0, 0, 0, 0, 0, 0}, good[8:]...),
		"dtype":       []byte(string(good[:8]) + strings.Replace(string(good[8:]), "F32", "F16", 1)),
	}
	for name, b := range cases {
		if _, _, err := Decode(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
